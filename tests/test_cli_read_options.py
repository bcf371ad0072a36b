"""The ``portail`` command's read options (``--encoding``, ``--format``, ``--delimiter``,
``--sheet``): what the loader takes passes, what it cannot use is a usage error (exit 2) before a
version starts; and what a load made before they were refused stored must not break the reload
of what is served (``detect.check_options``)."""

from __future__ import annotations

import pytest

from portail.catalog import services
from tests.cli import cli, csv_file, dataset_versions, invoke, migrated_home  # noqa: F401 - the fixtures
from tests.conftest import make_instance


#: What is checked here is how the files are read, each test from a new home (``migrated_home``).
pytestmark = pytest.mark.usefixtures("migrated_home")


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
            notes = dataset.current.report["notes"]
    finally:
        instance.store.close()
    said = " ".join(reloaded.output.split())
    for name in ("sheet", "delimiter"):  # each option dropped is named, and why, in the load's report
        if name in stored:
            why = ("it is empty, read as none given" if stored[name] == ""
                   else "a sheet applies to xlsx, xls, xlsb, ods files only, not to csv")
            note = f"read option {name}={stored[name]!r} of the former load dropped: {why}"
            assert note in notes and note in said, (notes, said)
    assert not any(note.startswith("read option encoding") for note in notes)  # a CSV's encoding is read: kept


@pytest.mark.parametrize("stored, name", [({"delimiter": ";"}, "a delimiter"), ({"encoding": "cp1252"}, "an encoding")])
def test_a_reload_reads_a_spreadsheet_whose_stored_option_is_now_refused(cli, tmp_path, refdata, stored, name):
    """An encoding stored for a spreadsheet was ignored by its load, as a delimiter: the reload
    drops it, and its report says so."""
    spreadsheet = str(refdata / "excel" / "insee_fe_dod_struct_pop.xls")
    cli("dataset", "create", "qa", "--title", "QA", "--from", spreadsheet, "--publish")
    _store_options(tmp_path / "home", "qa", stored)
    reloaded = " ".join(cli("dataset", "reload", "qa").output.split())
    assert "version 2" in reloaded
    [(option, value)] = stored.items()
    assert (f"read option {option}={value!r} of the former load dropped: {name} applies to csv, tsv files only, "
            "not to xls") in reloaded, reloaded
    assert [v["status"] for v in dataset_versions(cli, "qa")] == ["ready", "ready"]


def _shapefile(folder) -> str:
    """Two Lambert-93 points whose DBF says its encoding in a ``.cpg``, as GDAL writes one."""
    import pyarrow as pa
    import pyogrio
    import shapely

    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table({"nom": ["Ambérieu-en-Bugey", "Saint-Étienne"],
                      "geometry": pa.array(shapely.to_wkb(shapely.points([[870000, 6540000], [808000, 6485000]])))})
    pyogrio.write_arrow(table, folder / "communes.shp", geometry_name="geometry", geometry_type="Point",
                        crs="EPSG:2154", encoding="cp1252")
    return str(folder / "communes.shp")


@pytest.mark.parametrize("fmt", ["xls", "geojson", "json", "shp"])
def test_an_encoding_the_format_ignores_is_refused_before_a_version_starts(cli, tmp_path, refdata, fmt):
    """Only the CSV reader reads ``--encoding``: JSON and GeoJSON are UTF-8, a Shapefile's DBF is
    read in its ``.cpg``'s encoding, a spreadsheet says its own. Given for one of them, it was
    ignored and the load published what it read otherwise, where a delimiter or a sheet the
    format ignores was refused: refused alike, in the same words."""
    files = {"xls": lambda: str(refdata / "excel" / "insee_fe_dod_struct_pop.xls"),
             "geojson": lambda: str(refdata / "geo" / "regions-version-simplifiee.geojson"),
             "json": lambda: csv_file(tmp_path / "codes.json", '[{"code": "01001", "nom": "Ambérieu"}]'),
             "shp": lambda: _shapefile(tmp_path / "shp")}
    source = files[fmt]()
    cli("dataset", "create", "qa", "--title", "QA", "--from", csv_file(tmp_path / "one.csv", "code;nom\n01001;A\n"))
    refused = cli("dataset", "ingest", "qa", source, "--encoding", "cp1252", ok=False)
    said = " ".join(refused.output.split())
    assert refused.exit_code == 1, said
    name = source.rsplit("/", 1)[-1]
    assert f"{name}: an encoding applies to csv, tsv files only, not to {fmt}" in said, said
    assert [v["status"] for v in dataset_versions(cli, "qa")] == ["ready"]  # refused before a version started
    typed = cli("dataset", "ingest", "qa", source, "--format", fmt, "--encoding", "cp1252", ok=False)
    assert typed.exit_code == 2 and "an encoding applies to csv, tsv files only" in " ".join(typed.output.split())
    assert "version 2 ready" in cli("dataset", "ingest", "qa", source).output  # read without it


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
