"""A file's own words never make the server blame its disk: a refused line reading "No space left
on device", or a file named so, is the file's error (a 400 naming it), not a 507."""

from __future__ import annotations

import io

import pytest

from portail.catalog import services
from portail.ingest.errors import IngestError, StorageFull
from portail.operations import load_file
from tests.conftest import Published, operator_client, published_instance

MGMT = "/api/management/v1"


@pytest.mark.parametrize("name, body", [
    ("mesures.csv", 'a;b\n1;2\n"No space left on device;3\n'),  # an unclosed quote: the engine echoes the line
    ("No space left on device.csv.gz", "garbage"),  # the engine names the path unquoted: not a GZIP stream
])
def test_the_files_words_are_the_files_error(instance, tmp_path, name, body):
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    with instance.session() as session:
        services.create_dataset(session, "d", "d")
    with pytest.raises(IngestError) as refused:
        load_file(instance, "d", path, publish=True)
    assert not isinstance(refused.value, StorageFull)
    assert "disk is full" not in str(refused.value) and "read-only" not in str(refused.value).split(":", 1)[-1]


@pytest.fixture
def client(tmp_path):
    """The management API of an instance with one published dataset to upload new versions of."""
    source = tmp_path / "communes.csv"
    source.write_text("code,nom\n01001,Abergement\n", encoding="utf-8")
    instance = published_instance(tmp_path / "home", Published("communes", source, "Communes"))
    yield operator_client(instance)
    instance.store.close()


@pytest.mark.parametrize("name, body", [
    ("No space left on device.csv", b""),  # refused as empty, once answered by the fault handler
    ("read-only file system.csv", b""),
    ("No space left on device.csv.gz", b"garbage, not gzip"),  # refused by the engine, naming the path
    ("read-only file system.csv.gz", b"garbage, not gzip"),
])
def test_an_upload_named_as_a_fault_is_refused_as_the_files(client, name, body):
    answer = client.post(f"{MGMT}/datasets/communes/data",
                         files={"file": (name, io.BytesIO(body), "application/octet-stream")})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error_code"] == "IngestError"
    assert name in answer.json()["message"]
