"""What the management API stores must be something its answers can carry back, and hold
together: a NaN, an infinity, a lone surrogate or a NUL in metadata, a pipeline step or an
attachment's title is a 400 (stored, it made every listing a 500); a dataset id is never a
uid; a period ends after it starts (an older reversed one blocks no other edit); a version is
a JSON integer; no list is null."""

from __future__ import annotations

import io

import pytest

from portail.catalog import services
from tests.ingest.management_uploads import MGMT, client, upload  # noqa: F401 - client: the operator's, as a fixture


@pytest.mark.parametrize("body, said", [
    ('{"extra_metas": {"a": NaN}}', "extra_metas.a: nan is not a number JSON can carry"),
    ('{"extra_metas": {"a": [1e999]}}', "extra_metas.a: inf is not a number JSON can carry"),
    ('{"title": "\\ud800"}', "title: a lone surrogate"),
    ('{"description": "a\\u0000b"}', "description: a NUL character"),
])
def test_what_no_json_answer_could_carry_back_is_refused(instance, client, body, said):
    """Stored, a NaN made every listing of the management API a 500."""
    client.post(f"{MGMT}/datasets", json={"dataset_id": "t1", "title": "T"})
    refused = client.patch(f"{MGMT}/datasets/t1", content=body, headers={"Content-Type": "application/json"})
    assert refused.status_code == 400 and said in refused.text, refused.text
    assert client.get(f"{MGMT}/datasets").status_code == 200 and client.get(f"{MGMT}/datasets/t1").json()["title"] == "T"


def test_a_dataset_id_cannot_be_a_uid(instance, client):
    """A dataset is found by its uid under the same name: "da_…" as an id hid the new dataset
    behind the one whose uid it was, or took that one's address by a rename."""
    first = client.post(f"{MGMT}/datasets", json={"dataset_id": "t1", "title": "T"}).json()
    for request in (lambda: client.post(f"{MGMT}/datasets", json={"dataset_id": first["dataset_uid"], "title": "impostor"}),
                    lambda: client.patch(f"{MGMT}/datasets/t1", json={"dataset_id": "da_0000000a"})):
        refused = request()
        assert refused.status_code == 400 and "'da_' starts the datasets' uids" in refused.text, refused.text
    assert client.get(f"{MGMT}/datasets/{first['dataset_uid']}").json()["title"] == "T"
    emptied = client.patch(f"{MGMT}/datasets/t1", json={"dataset_id": ""})  # was ignored, the call answering 200
    assert emptied.status_code == 400 and "Invalid dataset_id ''" in emptied.text, emptied.text


def test_metadata_a_period_ends_after_it_starts_and_no_list_is_null(instance, client):
    client.post(f"{MGMT}/datasets", json={"dataset_id": "t1", "title": "T", "temporal_start": "2020-01-01"})
    refused = client.patch(f"{MGMT}/datasets/t1", json={"temporal_end": "2019-12-31"})
    assert refused.status_code == 400 and "temporal_end (2019-12-31) is before temporal_start (2020-01-01)" in refused.text
    assert client.patch(f"{MGMT}/datasets/t1", json={"temporal_end": "2020-01-01"}).status_code == 200
    emptied = client.patch(f"{MGMT}/datasets/t1", json={"themes": None, "keywords": None}).json()
    assert (emptied["themes"], emptied["keywords"]) == ([], [])


def test_a_version_is_a_json_integer(instance, client):
    """``true`` and ``"1"`` were taken for version 1."""
    client.post(f"{MGMT}/datasets", json={"dataset_id": "t1", "title": "T"})
    assert upload(client, "t1", "a.csv", b"a;b\n1;2\n").status_code == 200
    for body in ({"version": True}, {"version": "1"}, {"version": 1.5}):
        assert client.post(f"{MGMT}/datasets/t1/publish", json=body).status_code == 400, body
    assert client.post(f"{MGMT}/datasets/t1/publish", json={"version": 1}).status_code == 200


def test_a_pipeline_or_a_title_no_json_answer_could_carry_is_refused(instance, client):
    """The pipeline's steps and an attachment's title came in without a body model: a NaN in a
    step was stored, and every listing of the management API answered 500 after it."""
    client.post(f"{MGMT}/datasets", json={"dataset_id": "p1", "title": "P"})
    assert upload(client, "p1", "a.csv", b"a;b\n1;2\n").status_code == 200
    body = '[{"processor": "add_field", "output": "n", "expression": "1", "label": NaN}]'
    refused = client.put(f"{MGMT}/datasets/p1/pipeline", content=body, headers={"Content-Type": "application/json"})
    assert refused.status_code == 400 and "pipeline.label: nan is not a number JSON can carry" in refused.text, refused.text
    attached = client.post(f"{MGMT}/datasets/p1/attachments", params={"title": "a\x00b"},
                           files={"file": ("n.pdf", io.BytesIO(b"%PDF-1.4"), "application/pdf")})
    assert attached.status_code == 400 and "title: a NUL character" in attached.text, attached.text
    listed = client.get(f"{MGMT}/datasets")
    assert listed.status_code == 200 and listed.json()["results"][0]["pipeline"] == []
    surrogate = client.patch(f"{MGMT}/datasets/p1", content='{"title": "\\ud800"}', headers={"Content-Type": "application/json"})
    assert surrogate.status_code == 400 and "title" in surrogate.json()["message"].split(":")[0], surrogate.text  # named


def test_an_older_reversed_period_blocks_no_other_edit(instance, client):
    from datetime import date

    client.post(f"{MGMT}/datasets", json={"dataset_id": "old", "title": "Old"})
    with instance.session() as s:  # stored before periods were checked
        dataset = services.get_dataset(s, "old")
        dataset.temporal_start, dataset.temporal_end = date(2021, 1, 1), date(2020, 1, 1)
    assert client.patch(f"{MGMT}/datasets/old", json={"title": "Renamed"}).status_code == 200
    assert client.patch(f"{MGMT}/datasets/old", json={"temporal_end": "2020-06-01"}).status_code == 400
