"""A dataset uploaded through the management API can be reloaded, as one loaded from a file or a
URL: the store keeps each version's upload beside the version's file, goes with it when the
version is pruned, and a reload (API or CLI) reads the upload of the version being served."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from portail.catalog import services
from portail.catalog.services import CatalogError
from portail.operations import reload_source
from tests.conftest import make_instance, operator_client

MGMT = "/api/management/v1"


@pytest.fixture
def home(tmp_path):
    instance = make_instance(tmp_path / "home", keep_versions=2)
    yield instance
    instance.store.close()


def upload(client, slug: str, name: str, content: bytes):
    answer = client.post(f"{MGMT}/datasets/{slug}/data", params={"publish_now": True},
                         files={"file": (name, io.BytesIO(content), "text/csv")})
    assert answer.status_code == 200, answer.text
    return answer.json()


def served(instance, slug: str) -> list[dict]:
    with instance.session() as session:
        location = services.get_dataset(session, slug).current.location
    return instance.store.query(location, "SELECT * FROM records ORDER BY ALL").to_pylist()


def kept(instance, slug: str, number: int) -> Path | None:
    with instance.session() as session:
        uid = services.get_dataset(session, slug).uid
    return instance.store.kept_source(uid, number)


def test_a_field_changed_after_an_upload_reaches_the_records_by_a_reload(home):
    client = operator_client(home)
    client.post(f"{MGMT}/datasets", json={"dataset_id": "pop", "title": "Population"})
    upload(client, "pop", "population.csv", b"code;population\n01001;832\n01002;267\n")
    assert served(home, "pop") == [{"code": "01001", "population": 832}, {"code": "01002", "population": 267}]
    assert client.put(f"{MGMT}/datasets/pop/fields/population", json={"type": "text"}).status_code == 200

    answer = client.post(f"{MGMT}/datasets/pop/reload")

    assert answer.status_code == 200, answer.text
    assert (answer.json()["version"], answer.json()["published"]) == (2, True)
    assert served(home, "pop") == [{"code": "01001", "population": "832"}, {"code": "01002", "population": "267"}]
    versions = client.get(f"{MGMT}/datasets/pop/versions").json()
    assert [v["source"] for v in versions] == ["population.csv", "population.csv"]  # its name, never the store's path
    first, second = kept(home, "pop", 1), kept(home, "pop", 2)
    assert first.name == second.name == "population.csv"
    assert os.stat(first).st_ino == os.stat(second).st_ino  # one file on disk for both versions
    assert not [p for p in Path(home.settings.uploads_dir).iterdir()]  # the upload moved, nothing left


def test_a_reload_after_a_rollback_reads_the_upload_rolled_back_to(home):
    client = operator_client(home)
    client.post(f"{MGMT}/datasets", json={"dataset_id": "c", "title": "C"})
    upload(client, "c", "first.csv", b"code;nom\n01001;Abergement\n")
    upload(client, "c", "second.csv", b"code;nom\n01002;Ambronay\n01004;Amberieu\n")
    assert client.post(f"{MGMT}/datasets/c/rollback", json={"version": 1}).status_code == 200

    answer = client.post(f"{MGMT}/datasets/c/reload", json={"publish": True})

    assert answer.status_code == 200, answer.text
    assert served(home, "c") == [{"code": "01001", "nom": "Abergement"}]
    assert kept(home, "c", 3).read_bytes() == b"code;nom\n01001;Abergement\n"


def test_a_pruned_version_takes_its_upload_and_later_versions_still_reload(home):
    client = operator_client(home)
    client.post(f"{MGMT}/datasets", json={"dataset_id": "p", "title": "P"})
    upload(client, "p", "a.csv", b"a;b\n1;2\n")
    for _ in range(2):  # keep_versions=2: version 1 is pruned, its file and its upload with it
        assert client.post(f"{MGMT}/datasets/p/reload").status_code == 200

    assert kept(home, "p", 1) is None and kept(home, "p", 3).read_bytes() == b"a;b\n1;2\n"
    with home.session() as session:
        uid = services.get_dataset(session, "p").uid
    assert sorted(p.name for p in home.store.dataset_dir(uid).glob("v000001*")) == []
    assert client.post(f"{MGMT}/datasets/p/reload", json={"publish": False}).json()["version"] == 4


def test_a_reload_without_a_kept_upload_says_it_cannot_read_it_again(home):
    """An upload made before sources were kept (or whose folder an operator removed)."""
    client = operator_client(home)
    client.post(f"{MGMT}/datasets", json={"dataset_id": "old", "title": "Old"})
    upload(client, "old", "a.csv", b"a;b\n1;2\n")
    kept(home, "old", 1).unlink()

    with pytest.raises(CatalogError, match="'a.csv', which cannot be read again"):
        reload_source(home, "old")
    refused = client.post(f"{MGMT}/datasets/old/reload")
    assert refused.status_code == 400 and "cannot be read again" in refused.json()["message"], refused.text


def test_the_cli_reloads_a_dataset_uploaded_through_the_api(home, monkeypatch):
    from click.testing import CliRunner

    from tests.cli import COMMAND

    client = operator_client(home)
    client.post(f"{MGMT}/datasets", json={"dataset_id": "u", "title": "U"})
    upload(client, "u", "u.csv", b"code;n\n01001;1\n")
    monkeypatch.setenv("PORTAIL_HOME", str(home.settings.home))
    monkeypatch.setenv("PORTAIL_KEEP_VERSIONS", "2")

    result = CliRunner().invoke(COMMAND, ["dataset", "reload", "u"])

    assert result.exit_code == 0, result.output
    assert "u: version 2 published: 1 records" in result.output
    assert kept(home, "u", 2).read_bytes() == b"code;n\n01001;1\n"


def test_stray_and_half_kept_sources_go_with_the_sweeps(home):
    """A source kept for a version the catalogue does not count (a kill after its rename) goes at
    the next load; one killed while being kept (``.building``) goes at the next lock."""
    store = home.store
    uid = "abc"
    stray = store.source_folder(uid, 7)
    stray.mkdir(parents=True)
    (stray / "x.csv").write_bytes(b"x\n")
    half = stray.with_name(stray.name + ".building")
    half.mkdir()
    (half / "y.csv").write_bytes(b"y\n")
    other = store.dataset_dir(uid) / "notes"  # not a build's: left alone
    other.mkdir()

    assert store.sweep_versions(uid, {}) == [str(store.version_path(uid, 7))]
    with store.lock(uid):
        pass

    assert not stray.exists() and not half.exists() and other.is_dir()


def test_a_reload_that_waited_while_another_load_published_is_refused(tmp_path):
    """A reload picks the served version's upload, then waits for the dataset's lock: a load
    published meanwhile made it publish the older upload over the newer one, or (its version
    pruned) fail naming the store's own path. Now it is a 409 and the newer load stays served."""
    from portail.operations import load_file

    instance = make_instance(tmp_path / "home", keep_versions=1)
    try:
        client = operator_client(instance)
        client.post(f"{MGMT}/datasets", json={"dataset_id": "r", "title": "R"})
        upload(client, "r", "a.csv", b"code;nom\n01001;A\n")
        source, version = reload_source(instance, "r")  # what a reload picked before it waited
        upload(client, "r", "b.csv", b"code;nom\n01002;B\n")  # published while it waited: version 1 pruned

        with pytest.raises(CatalogError, match="changed while this reload waited") as refused:
            load_file(instance, "r", Path(source), publish=True, source=source, reread=True, reread_version=version)

        assert refused.value.status == 409
        assert served(instance, "r") == [{"code": "01002", "nom": "B"}]
        assert client.post(f"{MGMT}/datasets/r/reload").json()["version"] == 3  # a new reload reads b.csv
        assert served(instance, "r") == [{"code": "01002", "nom": "B"}]
    finally:
        instance.store.close()
