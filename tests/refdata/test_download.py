"""`portail refdata install` without --from: the files are downloaded (streamed to disk) from a
mirror laid out like the reference folder, here a real HTTP server serving ../shared/refdata."""

from __future__ import annotations

import functools
import hashlib
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from portail.catalog import services
from portail.cli import app
from portail.ingest.errors import IngestError
from portail.refdata import SOURCES, install
from tests.live import free_port


class QuietHandler(SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, *args) -> None:
        QuietHandler.requests.append(self.path)


@pytest.fixture
def mirror(refdata):
    handler = functools.partial(QuietHandler, directory=str(refdata))
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    QuietHandler.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_download_records_origin_checksum_and_size(instance, refdata, mirror):
    lines = list(install(instance, only=["regions"], mirror=mirror))
    assert lines == ["ref-src-cog-regions: 18 records (vintage 2026)", "ref-src-regions-contours: 13 records (vintage 2018)"]
    regions = [s for s in SOURCES if s.layer == "regions"]
    assert sorted(QuietHandler.requests) == sorted("/" + s.path for s in regions)  # each file fetched once, from the mirror
    for source in regions:
        content = (refdata / source.path).read_bytes()
        with instance.session() as s:
            meta = services.get_dataset(s, source.dataset_id).extra_metas
        assert meta["installed_from"] == mirror + source.path and meta["source_url"] == source.url
        assert meta["sha256"] == hashlib.sha256(content).hexdigest() and meta["size_bytes"] == len(content)
    assert not list(instance.settings.uploads_dir.glob("fetch-*"))  # downloads are removed once loaded


def test_cli_only_and_mirror_setting(tmp_path, mirror):
    env = {"PORTAIL_HOME": str(tmp_path / "home"), "PORTAIL_REFDATA_MIRROR": mirror}
    result = CliRunner().invoke(app, ["refdata", "install", "--only", "epci"], env=env)
    assert result.exit_code == 0, result.output
    assert "ref-src-epci-membres: 34,871 records" in result.output and "ref-epci: 1,255 records" in result.output
    assert "ref-src-cog-communes" not in result.output and "ref-src-cog-regions" not in result.output


def test_a_missing_file_is_a_clear_error(instance, mirror):
    with pytest.raises(IngestError, match="download failed with HTTP 404"):
        list(install(instance, only=["regions"], mirror=mirror + "nowhere/"))
