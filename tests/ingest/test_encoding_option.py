"""A forced encoding must be a text encoding, checked before a load starts a version
(``detect.encoding_misfit``, through ``check_options``) on every path: ``hex``, ``base64``,
``rot13`` or ``undefined`` are codecs Python knows, and the CSV reader met them after the version
had started, with a traceback (a 500 from the management API) and a failed version left. The
command line (``--encoding``) says the same words through the same check."""

from __future__ import annotations

import io

import pytest
from typer.testing import CliRunner

from portail.catalog import services
from portail.cli import app
from portail.ingest.detect import open_source
from portail.ingest.errors import IngestError
from portail.ingest.types import ReadOptions
from tests.conftest import make_instance, operator_client

MGMT = "/api/management/v1"
CODECS = ["hex", "base64", "rot13", "undefined", "latin-9x"]
CSV = "code_insee;nom\n01001;L'Abergement-Clémenciat\n".encode()


@pytest.fixture
def home(tmp_path):
    instance = make_instance(tmp_path / "home")
    yield instance
    instance.store.close()


def upload(client, slug: str, **params):
    return client.post(f"{MGMT}/datasets/{slug}/data", params={"publish_now": True, **params},
                       files={"file": ("communes.csv", io.BytesIO(CSV), "text/csv")})


def statuses(client, slug: str) -> list[str]:
    return [v["status"] for v in client.get(f"{MGMT}/datasets/{slug}/versions").json()]


def served(instance, slug: str) -> list[dict]:
    with instance.session() as session:
        location = services.get_dataset(session, slug).current.location
    return instance.store.query(location, "SELECT * FROM records").to_pylist()


@pytest.mark.parametrize("codec", CODECS)
def test_the_management_api_refuses_a_codec_that_is_no_text_encoding_before_a_version(home, codec):
    client = operator_client(home)
    assert client.post(f"{MGMT}/datasets", json={"dataset_id": "communes", "title": "Communes"}).status_code < 300
    assert upload(client, "communes").status_code == 200
    refused = upload(client, "communes", encoding=codec)
    assert refused.status_code == 400, refused.text
    body = refused.json()
    assert body["error_code"] == "IngestError" and f"unknown encoding {codec!r}" in body["message"]
    assert body["message"].startswith("communes.csv: ")
    assert statuses(client, "communes") == ["ready"]  # no failed version left in the history
    assert served(home, "communes") == [{"code_insee": "01001", "nom": "L'Abergement-Clémenciat"}]
    assert upload(client, "communes", encoding="UTF-8").status_code == 200  # a text encoding still passes


def test_a_reload_refuses_a_stored_codec_that_is_no_text_encoding_before_a_version(home):
    """The options a reload reads again come from the catalogue (the served version's), not from
    this release's checks: one written there by another release or by hand is checked too."""
    client = operator_client(home)
    client.post(f"{MGMT}/datasets", json={"dataset_id": "communes", "title": "Communes"})
    assert upload(client, "communes").status_code == 200
    with home.session() as session:
        services.get_dataset(session, "communes").current.read_options = {"encoding": "hex"}
    refused = client.post(f"{MGMT}/datasets/communes/reload")
    assert refused.status_code == 400 and "unknown encoding 'hex'" in refused.json()["message"], refused.text
    assert statuses(client, "communes") == ["ready"]


def test_the_reader_alone_refuses_it_with_an_ingest_error(tmp_path):
    """A file read without a load (``open_source``): an ``IngestError`` naming the file, not a
    ``LookupError`` out of the codec machinery."""
    path = tmp_path / "communes.csv"
    path.write_bytes(CSV)
    for codec in CODECS:
        with pytest.raises(IngestError, match=f"^communes.csv: unknown encoding '{codec}'"):
            open_source(path, ReadOptions(encoding=codec))


def test_the_command_line_says_what_the_api_says(home, tmp_path):
    """One check: the usage error of ``--encoding hex`` is the API's message."""
    client = operator_client(home)
    client.post(f"{MGMT}/datasets", json={"dataset_id": "communes", "title": "Communes"})
    said = upload(client, "communes", encoding="hex").json()["detail"]["message"]
    source = tmp_path / "communes.csv"
    source.write_bytes(CSV)
    result = CliRunner().invoke(app, ["dataset", "create", "qa", "--title", "QA", "--from", str(source),
                                      "--encoding", "hex"], env={"PORTAIL_HOME": str(tmp_path / "cli"),
                                                                 "COLUMNS": "400"})
    assert result.exit_code == 2, result.output
    assert said in " ".join(result.output.split()), result.output
