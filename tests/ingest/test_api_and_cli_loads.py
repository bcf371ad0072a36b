"""Loading new files through the management API and the CLI: each file read for what it is
(options given for another file are not reused, a title above the CSV header skipped and said),
bad input a 400 naming the file and line (one line on the CLI), an empty upload over records
refused unless asked for, uploads cleaned up whatever happens and their names never a path."""

from __future__ import annotations

import io

import pytest

from portail.catalog import services
from tests.cli import cli  # noqa: F401 - the command, one line per refusal, as a fixture
from tests.ingest.management_uploads import MGMT, client, upload  # noqa: F401 - client: the operator's, as a fixture


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
