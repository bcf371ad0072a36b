"""The ``portail`` command's read options (``--encoding``, ``--format``, ``--delimiter``,
``--sheet``): what the loader takes passes, what it cannot use is a usage error (exit 2) before a
version starts; and what a load made before they were refused stored must not break the reload
of what is served (``detect.check_options``)."""

from __future__ import annotations

import pytest

from portail.catalog import services
from tests.cli import cli, csv_file, dataset_versions, invoke  # noqa: F401 - cli: the fixture
from tests.conftest import make_instance


def _store_options(home, slug: str, options: dict) -> None:
    """The options as a load made before their refusal recorded them: ``--sheet`` on a CSV was
    ignored, and remembered for the reloads all the same (``_remember_options``)."""
    instance = make_instance(home)
    try:
        with instance.session() as session:
            dataset = services.get_dataset(session, slug)
            dataset.current.read_options = options
            dataset.read_options = options
    finally:
        instance.store.close()


@pytest.mark.parametrize("codec", ["hex", "base64", "rot13", "zip", "bz2", "quopri", "uu", "undefined"])
def test_a_codec_that_is_not_a_text_encoding_is_a_usage_error(cli, tmp_path, codec):
    """``codecs.lookup`` knows these, but they turn bytes into bytes (or text into text): the CSV
    reader met them after the version had started, with a traceback (``'hex' is not a text
    encoding``) and a failed version left in the history."""
    source = csv_file(tmp_path / "d.csv", "code_insee;nom\n01001;L'Abergement\n")
    cli("dataset", "create", "qa", "--title", "QA", "--from", source)
    refused = cli("dataset", "ingest", "qa", source, "--encoding", codec, ok=False)
    assert refused.exit_code == 2, refused.output
    assert f"unknown encoding {codec!r}" in refused.output
    assert [v["status"] for v in dataset_versions(cli, "qa")] == ["ready"]


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "windows-1252", "utf-8-sig", "ISO-8859-15", "UTF-8"])
def test_the_encodings_the_reader_takes_pass(cli, tmp_path, encoding):
    source = tmp_path / "d.csv"
    source.write_bytes("code_insee;nom\n01001;Ambérieu\n".encode(encoding))
    cli("dataset", "create", "qa", "--title", "QA", "--from", str(source), "--encoding", encoding)
    assert [v["status"] for v in dataset_versions(cli, "qa")] == ["ready"]


@pytest.mark.parametrize("fmt", ["csv", "tsv", "xlsx", "xls", "xlsb", "ods", "json", "jsonl", "geojson", "shp", "gpkg",
                                 "parquet", "CSV"])
def test_every_format_the_loader_reads_passes_the_check(tmp_path, fmt):
    """The check is the readers' table (``READERS``): a format it refused would be one the load
    reads. A mismatched file then fails in the load, not as a usage error."""
    source = csv_file(tmp_path / "d.csv", "a;b\n1;2\n")
    result = invoke(["dataset", "create", "qa", "--title", "QA", "--from", source, "--format", fmt],
                    {"PORTAIL_HOME": str(tmp_path / "home"), "COLUMNS": "400"})
    assert result.exit_code != 2, result.output


@pytest.mark.parametrize("stored", [{"sheet": "Feuil1"}, {"sheet": 2, "encoding": "utf-8"}, {"delimiter": ""},
                                    {"sheet": ""}])
def test_a_reload_reads_a_csv_whose_stored_options_are_now_refused(cli, tmp_path, stored):
    """Those options were ignored by the load that stored them: the reload reads the file as it
    did, instead of refusing, with no way to drop them, the reload of a dataset served."""
    source = csv_file(tmp_path / "one.csv", "code;nom\n01001;A\n01002;B\n")
    cli("dataset", "create", "qa", "--title", "QA", "--from", source, "--publish")
    _store_options(tmp_path / "home", "qa", stored)
    reloaded = cli("dataset", "reload", "qa")
    assert "version 2" in reloaded.output, reloaded.output
    versions = dataset_versions(cli, "qa")
    assert [v["status"] for v in versions] == ["ready", "ready"]
    instance = make_instance(tmp_path / "home")
    try:
        with instance.session() as session:
            dataset = services.get_dataset(session, "qa")
            assert dataset.current_version == 2 and dataset.current.row_count == 2
            kept = {k: v for k, v in stored.items() if k not in ("sheet", "delimiter")}
            assert dataset.current.read_options == kept  # the misfit gone, the rest kept for the next reload
    finally:
        instance.store.close()


def test_a_reload_reads_a_spreadsheet_whose_stored_delimiter_is_now_refused(cli, tmp_path, refdata):
    spreadsheet = str(refdata / "excel" / "insee_fe_dod_struct_pop.xls")
    cli("dataset", "create", "qa", "--title", "QA", "--from", spreadsheet, "--publish")
    _store_options(tmp_path / "home", "qa", {"delimiter": ";"})
    assert "version 2" in cli("dataset", "reload", "qa").output
    assert [v["status"] for v in dataset_versions(cli, "qa")] == ["ready", "ready"]


def test_options_given_now_are_still_refused(cli, tmp_path):
    """The misfits dropped are only those a reload finds stored, never those typed."""
    source = csv_file(tmp_path / "one.csv", "code;nom\n01001;A\n")
    cli("dataset", "create", "qa", "--title", "QA", "--from", source, "--publish")
    refused = cli("dataset", "ingest", "qa", source, "--sheet", "Feuil1", ok=False)
    assert "a sheet applies to" in " ".join(refused.output.split())
    assert [v["status"] for v in dataset_versions(cli, "qa")] == ["ready"]


@pytest.mark.parametrize("delimiter", ["\\t", "tab", ";;", '"', "\n"])
def test_an_invalid_delimiter_is_a_usage_error_before_a_version_starts(cli, tmp_path, delimiter):
    """``--delimiter '\\t'`` (a backslash and a t) or ``tab`` reached the CSV reader, which refused
    it once a version had started: exit 1 and a failed version in the history, for what the
    command line can tell at once, as it does an empty delimiter (exit 2, nothing started)."""
    source = csv_file(tmp_path / "one.tsv", "code\tnom\n01001\tA\n")
    cli("dataset", "create", "qa", "--title", "QA", "--from", source, "--publish")
    refused = cli("dataset", "ingest", "qa", source, "--delimiter", delimiter, ok=False)
    assert refused.exit_code == 2, refused.output
    assert "invalid delimiter" in " ".join(refused.output.split())
    assert [v["status"] for v in dataset_versions(cli, "qa")] == ["ready"]
    assert "version 2 ready" in cli("dataset", "ingest", "qa", source, "--delimiter", "\t").output  # a tab is one


@pytest.mark.parametrize("option", [("--sheet", "2"), ("--delimiter", ";"), ("--format", "csv"),
                                    ("--encoding", "cp1252")])
def test_read_options_without_a_file_to_read_are_a_usage_error(cli, option):
    """``dataset create qa --title QA --sheet 2`` created the dataset and read nothing with the
    sheet: an option silently ignored, as those the format ignores were."""
    refused = cli("dataset", "create", "qa", "--title", "QA", *option, ok=False)
    assert refused.exit_code == 2 and "--from" in " ".join(refused.output.split()), refused.output
    assert "Unknown dataset: qa" in cli("dataset", "show", "qa", ok=False).output
