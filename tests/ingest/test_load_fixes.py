"""Loading new files through the management API and the CLI: each file read for what it is
(options given for another file are not reused), bad input a 400 naming the file, uploads
cleaned up whatever happens."""

from __future__ import annotations

import io

import pytest

from portail.catalog import services
from tests.test_cli_errors import cli  # noqa: F401 - the command, one line per refusal, as a fixture

MGMT = "/api/management/v1"


@pytest.fixture
def client(instance):
    from tests.conftest import operator_client

    return operator_client(instance)


def upload(client, slug: str, name: str, content: bytes, **params):
    return client.post(f"{MGMT}/datasets/{slug}/data", params={"publish_now": True, **params},
                       files={"file": (name, io.BytesIO(content), "text/csv")})


def records(instance, slug: str) -> list[dict]:
    with instance.session() as session:
        location = services.get_dataset(session, slug).current.location
    return instance.store.query(location, "SELECT * FROM records").to_pylist()


def test_an_encoding_forced_for_one_upload_is_not_used_for_the_next(client, instance):
    client.post(f"{MGMT}/datasets", json={"dataset_id": "sticky", "title": "S"})
    first = upload(client, "sticky", "cp.csv", "code;nom\n1;Été\n".encode("cp1252"), encoding="cp1252")
    assert first.status_code == 200, first.text
    assert records(instance, "sticky") == [{"code": "1", "nom": "Été"}]
    second = upload(client, "sticky", "utf8.csv", "code;nom\n2;Commune é\n".encode())
    assert second.status_code == 200, second.text
    assert records(instance, "sticky") == [{"code": "2", "nom": "Commune é"}]


def test_reload_reads_with_the_options_of_the_last_load_and_ingest_detects_again(cli, tmp_path):
    source = tmp_path / "data.csv"
    source.write_text("a,b;c\n1,2;3\n", encoding="utf-8")  # sniffed: ';' (a tie goes to ';')
    cli("dataset", "create", "opts", "--title", "O", "--from", str(source), "--delimiter", ",")
    assert "delimiter ','" in cli("dataset", "reload", "opts").output
    assert "delimiter ';'" in cli("dataset", "ingest", "opts", str(source), "--publish").output


def test_a_wrong_forced_encoding_is_a_400_naming_the_line(client, instance):
    client.post(f"{MGMT}/datasets", json={"dataset_id": "enc", "title": "E"})
    body = "code;nom\n" + "1;a\n" * 3 + "5;Orléans\n"
    refused = upload(client, "enc", "cp.csv", body.encode("cp1252"), encoding="utf-8")
    assert refused.status_code == 400, refused.text
    assert refused.json()["message"].startswith("cp.csv, line 5: the file is not utf-8 text")
    assert "looks like cp1252" in refused.json()["message"]


def test_a_wrong_forced_encoding_is_one_line_on_the_cli(cli, tmp_path):
    source = tmp_path / "cp.csv"
    source.write_bytes("code;nom\n1;Orléans\n".encode("cp1252"))
    cli("dataset", "create", "enc", "--title", "E")
    refused = cli("dataset", "ingest", "enc", str(source), "--encoding", "utf-8", ok=False).output
    assert "cp.csv, line 2: the file is not utf-8 text" in refused and "cp1252" in refused


@pytest.mark.parametrize("stem", ["x" * 300, "é" * 200])
def test_a_very_long_upload_name_is_shortened_and_nothing_is_left_behind(client, instance, stem):
    client.post(f"{MGMT}/datasets", json={"dataset_id": "long", "title": "L"})
    loaded = upload(client, "long", stem + ".csv", b"code;nom\n1;a\n")
    assert loaded.status_code == 200, loaded.text
    assert records(instance, "long") == [{"code": "1", "nom": "a"}]
    source = client.get(f"{MGMT}/datasets/long").json()["versions"][0]["source"]  # the name it was saved under
    assert source.endswith(".csv") and stem.startswith(source[:-4]) and len(source.encode()) <= 120
    refused = upload(client, "long", stem + ".csv", b"code;nom\n1;a;b\n")
    assert refused.status_code == 400 and ".csv, line 2: 3 fields" in refused.json()["message"], refused.text
    assert list(instance.settings.uploads_dir.iterdir()) == []


def test_a_title_above_the_csv_header_is_skipped_and_said(instance, client, tmp_path):
    client.post(f"{MGMT}/datasets", json={"dataset_id": "pop", "title": "P"})
    body = "Population légale 2021;;\r\n\r\ncode;nom;pop\r\n01001;A;776\r\n2A004;B;70000\r\n"
    loaded = upload(client, "pop", "pop.csv", body.encode())
    assert loaded.status_code == 200, loaded.text
    assert "header on line 3 (2 line(s) above it skipped)" in loaded.json()["report"]["notes"]
    assert records(instance, "pop") == [{"code": "01001", "nom": "A", "pop": 776}, {"code": "2A004", "nom": "B", "pop": 70000}]
    refused = upload(client, "pop", "pop.csv", "Titre;;\n\ncode;nom;pop\n01001;A;776\n2A004;B\n".encode())
    assert refused.json()["message"] == "pop.csv, line 5: 2 fields where the header has 3", refused.text


@pytest.mark.parametrize("body, fields", [
    ("nom\nA\nB\n", ["nom"]),  # a genuine one-field header
    ("code;2019;2020\nParis;Lyon;Nice\n", ["code", "2019", "2020"]),  # a header of numbers, a record of words
    ("id;;\n1;2;3\n", ["id", "field_2", "field_3"]),  # a header with unnamed columns over records of numbers
])
def test_a_header_on_the_first_line_stays_there(instance, client, body, fields):
    client.post(f"{MGMT}/datasets", json={"dataset_id": "first", "title": "F"})
    loaded = upload(client, "first", "f.csv", body.encode())
    assert loaded.status_code == 200, loaded.text
    assert [f["name"] for f in loaded.json()["report"]["fields"]][:len(fields)] == fields
    assert not any(n.startswith("header on") for n in loaded.json()["report"]["notes"])


def test_an_empty_upload_over_records_names_the_apis_own_parameter(instance, client):
    client.post(f"{MGMT}/datasets", json={"dataset_id": "empty", "title": "E"})
    assert upload(client, "empty", "a.csv", b"a;b\n1;2\n").status_code == 200
    refused = upload(client, "empty", "a.csv", b"a;b\n")
    assert refused.status_code == 400 and "allow_empty=true" in refused.json()["message"], refused.text
    assert upload(client, "empty", "a.csv", b"a;b\n", allow_empty=True).json()["published"] is True
    assert client.get(f"{MGMT}/datasets/empty").json()["current_version"] == 3
    assert upload(client, "empty", "a.csv", b"a;b\n1;2\n").status_code == 200  # version 4 served
    refused = client.post(f"{MGMT}/datasets/empty/rollback", json={"version": 3})
    assert refused.status_code == 409 and "allow_empty=true" in refused.json()["message"], refused.text
    assert client.post(f"{MGMT}/datasets/empty/rollback", json={"version": 3, "allow_empty": True}).status_code == 200


def test_a_failed_create_from_a_file_leaves_no_dataset(cli, tmp_path):
    bad, good = tmp_path / "bad.csv", tmp_path / "good.csv"
    bad.write_text("a;b\n1;2;3\n", encoding="utf-8")
    good.write_text("a;b\n1;2\n", encoding="utf-8")
    refused = cli("dataset", "create", "once", "--title", "O", "--from", str(bad), ok=False).output
    assert "bad.csv, line 2: 3 fields where the header has 2" in refused and "created" not in refused
    assert "once" not in cli("dataset", "list").output
    assert "version 1 published: 1 records" in cli("dataset", "create", "once", "--title", "O", "--from", str(good)).output


def test_an_uploads_name_is_never_a_path_a_reload_would_read(instance, client, tmp_path):
    """The name sent was kept as the version's source: "/srv/…/secret.csv" made `dataset reload`
    publish that server file."""
    from portail.operations import reload_source

    secret = tmp_path / "secret.csv"
    secret.write_text("secret\nS3CRET\n", encoding="utf-8")
    client.post(f"{MGMT}/datasets", json={"dataset_id": "t2", "title": "T"})
    response = client.post(f"{MGMT}/datasets/t2/data", params={"publish_now": True},
                           files={"file": (str(secret), io.BytesIO(b"a;b\n1;2\n"), "text/csv")})
    assert response.status_code == 200, response.text
    assert client.get(f"{MGMT}/datasets/t2").json()["versions"][-1]["source"] == "secret.csv"
    kept, _ = reload_source(instance, "t2")  # the upload the store keeps, never the path its name spelled
    assert kept != str(secret) and instance.store.holds_source(kept) and open(kept, "rb").read() == b"a;b\n1;2\n"


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
