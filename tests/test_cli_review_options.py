"""Review of the command line's read options (``--encoding``, ``--format``): what the loader
takes passes, what it cannot use is a usage error (exit 2) before a version starts."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from portail.cli import app


@pytest.fixture
def cli(tmp_path):
    runner = CliRunner()
    env = {"PORTAIL_HOME": str(tmp_path / "home"), "COLUMNS": "400"}

    def run(*args: str):
        return runner.invoke(app, list(args), env=env)

    return run


def _versions(cli, slug: str) -> list[str]:
    return [v["status"] for v in json.loads(cli("dataset", "show", slug, "--json").output)["versions"]]


@pytest.mark.parametrize("codec", ["hex", "base64", "rot13", "zip", "bz2", "quopri", "uu", "undefined"])
def test_a_codec_that_is_not_a_text_encoding_is_a_usage_error(cli, tmp_path, codec):
    """``codecs.lookup`` knows these, but they turn bytes into bytes (or text into text): the CSV
    reader met them after the version had started, with a traceback (``'hex' is not a text
    encoding``) and a failed version left in the history."""
    source = tmp_path / "d.csv"
    source.write_text("code_insee;nom\n01001;L'Abergement\n", encoding="utf-8")
    assert cli("dataset", "create", "qa", "--title", "QA", "--from", str(source)).exit_code == 0
    refused = cli("dataset", "ingest", "qa", str(source), "--encoding", codec)
    assert refused.exit_code == 2, refused.output
    assert f"unknown encoding {codec!r}" in refused.output and "Traceback" not in refused.output
    assert _versions(cli, "qa") == ["ready"]


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "windows-1252", "utf-8-sig", "ISO-8859-15", "UTF-8"])
def test_the_encodings_the_reader_takes_pass(cli, tmp_path, encoding):
    source = tmp_path / "d.csv"
    source.write_bytes("code_insee;nom\n01001;Ambérieu\n".encode(encoding))
    loaded = cli("dataset", "create", "qa", "--title", "QA", "--from", str(source), "--encoding", encoding)
    assert loaded.exit_code == 0, loaded.output
    assert _versions(cli, "qa") == ["ready"]


@pytest.mark.parametrize("fmt", ["csv", "tsv", "xlsx", "xls", "xlsb", "ods", "json", "jsonl", "geojson", "shp", "gpkg",
                                 "parquet", "CSV"])
def test_every_format_the_loader_reads_passes_the_check(cli, tmp_path, fmt):
    """The check is the readers' table (``READERS``): a format it refused would be one the load
    reads. A mismatched file then fails in the load, not as a usage error."""
    source = tmp_path / "d.csv"
    source.write_text("a;b\n1;2\n", encoding="utf-8")
    result = cli("dataset", "create", "qa", "--title", "QA", "--from", str(source), "--format", fmt)
    assert result.exit_code != 2, result.output


def _ipv6_loopback() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 on this machine")
def test_serve_on_every_ipv6_address_is_not_refused_for_an_ipv4_listener():
    """``serve --host ::`` with one worker listens on IPv6 only (asyncio's ``create_server`` sets
    ``IPV6_V6ONLY``), so an IPv4 server on the same port does not stop it; the pre-check bound
    a dual-stack socket and refused a server uvicorn would have started. With several workers
    uvicorn binds one dual-stack socket itself: refused, as it would fail."""
    import socket

    from portail.cli import _listen_refusal

    with socket.socket(socket.AF_INET) as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert _listen_refusal("::", port, workers=1) is None
        assert _listen_refusal("::", port, workers=2) == f"cannot listen on [::]:{port}: Address already in use"
        assert _listen_refusal("127.0.0.1", port, workers=1) == f"cannot listen on 127.0.0.1:{port}: Address already in use"
