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
from tests.conftest import make_instance
from tests.live import free_port


class QuietHandler(SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, *args) -> None:
        QuietHandler.requests.append(self.path)


@pytest.fixture
def instance(tmp_path):
    """An instance that may fetch from the loopback mirror (``fetch_allow``)."""
    inst = make_instance(tmp_path / "home", fetch_allow=["127.0.0.1"])
    yield inst
    inst.store.close()


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
    """``--only`` on the command line and the mirror from the settings. The layer is the
    départements' (two small files): the EPCI's spreadsheet of 34,871 rows made this the file's
    longest test, and its derived table is built in tests/refdata/test_hub.py."""
    env = {"PORTAIL_HOME": str(tmp_path / "home"), "PORTAIL_REFDATA_MIRROR": mirror, "PORTAIL_FETCH_ALLOW": '["127.0.0.1"]'}
    result = CliRunner().invoke(app, ["refdata", "install", "--only", "departements"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["ref-src-cog-departements: 101 records (vintage 2026)",
                                          "ref-src-departements-contours: 96 records (vintage 2018)"]
    assert sorted(QuietHandler.requests) == sorted("/" + s.path for s in SOURCES if s.layer == "departements")


def test_a_missing_file_is_a_clear_error(instance, mirror):
    with pytest.raises(IngestError, match="download failed with HTTP 404"):
        list(install(instance, only=["regions"], mirror=mirror + "nowhere/"))


def _versions(instance, dataset_ids) -> list[int | None]:
    with instance.session() as s:
        return [services.get_dataset(s, d).current_version for d in dataset_ids]


def test_a_reinstall_keeps_unchanged_files_and_force_reloads_them(instance, mirror):
    """A file whose SHA-256 is that of the served version is not loaded again (a yearly COG
    update changes a few files of ten); ``--force`` reloads it."""
    ids = ["ref-src-cog-regions", "ref-src-regions-contours"]
    list(install(instance, only=["regions"], mirror=mirror))
    again = list(install(instance, only=["regions"], mirror=mirror))
    assert again == ["ref-src-cog-regions: unchanged, 18 records (vintage 2026)",
                     "ref-src-regions-contours: unchanged, 13 records (vintage 2018)"]
    assert _versions(instance, ids) == [1, 1]
    forced = list(install(instance, only=["regions"], mirror=mirror, force=True))
    assert forced == ["ref-src-cog-regions: 18 records (vintage 2026)", "ref-src-regions-contours: 13 records (vintage 2018)"]
    assert _versions(instance, ids) == [2, 2]


def test_a_file_that_fails_to_load_is_not_taken_for_installed(instance, refdata, tmp_path):
    """The digest is recorded once the version is published: after a failed load, the next run
    with the good file does not take it for the one served, and a run with the bad one retries."""
    folder = tmp_path / "refdata"
    for source in (s for s in SOURCES if s.layer == "regions"):
        target = folder / source.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((refdata / source.path).read_bytes())
    list(install(instance, folder, only=["regions"]))
    contours = folder / next(s.path for s in SOURCES if s.dataset_id == "ref-src-regions-contours")
    good = contours.read_bytes()
    contours.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {"type": "Point", '
                        '"coordinates": ["a", "b"]}, "properties": {}}]}', encoding="utf-8")
    for _ in range(2):
        with pytest.raises(IngestError):
            list(install(instance, folder, only=["regions"]))
    with instance.session() as s:
        served = services.get_dataset(s, "ref-src-regions-contours")
        assert served.current_version == 1 and served.extra_metas["sha256"] == hashlib.sha256(good).hexdigest()
    contours.write_bytes(good)
    assert "ref-src-regions-contours: unchanged, 13 records (vintage 2018)" in list(install(instance, folder, only=["regions"]))


def test_a_version_served_by_other_means_is_reloaded(instance, mirror, tmp_path):
    """The digest says which file the install published, not what is served since: after an
    ingest of another file, the reinstall loads the reference file again."""
    list(install(instance, only=["regions"], mirror=mirror))
    from portail.operations import load_file

    fake = tmp_path / "fake.csv"
    fake.write_text("REG,LIBELLE\n99,Nulle part\n", encoding="utf-8")
    load_file(instance, "ref-src-cog-regions", fake, publish=True)
    lines = list(install(instance, only=["regions"], mirror=mirror))
    assert lines[0] == "ref-src-cog-regions: 18 records (vintage 2026)" and "unchanged" in lines[1]
    assert _versions(instance, ["ref-src-cog-regions"]) == [3]
