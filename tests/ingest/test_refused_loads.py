"""Loads that used to succeed while publishing empty or damaged data: refused with the file and
the line or feature named (the served version kept), or, for a forced encoding that garbles the
text, loaded with a note that says so. Through the real loaders, and the ``portail`` command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from portail.catalog import services
from portail.ingest.errors import IngestError
from portail.ingest.types import ReadOptions
from tests.ingest.files import load
from tests.cli import cli  # noqa: F401 - the command, one line per refusal, as a fixture

RETRAITES = "retraites/drees_eacr_age_liquidation.csv"  # 17,996 rows, ';'-separated, quoted fields
DEPARTEMENTS = "geo/departements-version-simplifiee.geojson"  # 96 features


def served(instance, slug: str = "ds") -> tuple[int, int]:
    with instance.session() as session:
        dataset = services.get_dataset(session, slug)
        return dataset.current_version, dataset.current.row_count


def one_line(output: str) -> str:
    return " ".join(output.split())


# --- 1. a forced delimiter that cannot read the file ---------------------------------------

def test_a_forced_wrong_delimiter_on_quoted_fields_is_refused_on_the_cli(cli, tmp_path):
    """DuckDB read no record, and said nothing, from a header that is malformed CSV for ','."""
    path = tmp_path / "q2.csv"
    path.write_text('"a";"b"\n"x";2\n"y";3\n', encoding="utf-8")
    result = cli("dataset", "create", "t", "--title", "x", "--from", str(path), "--delimiter", ",", ok=False)
    message = one_line(result.output)
    assert result.exit_code == 1 and "q2.csv, line 1: no record could be read" in message
    assert "the file looks ';'-separated, but the delimiter was forced to ','" in message
    assert "published" not in message


def test_a_forced_wrong_delimiter_on_a_real_file_keeps_the_served_version(instance, refdata):
    path = refdata / RETRAITES
    assert load(instance, path).report.rows == 17_996
    with pytest.raises(IngestError) as caught:
        load(instance, path, options=ReadOptions(delimiter=","))
    assert caught.value.source == path.name and caught.value.line == 1
    assert "no record could be read" in caught.value.message and "looks ';'-separated" in caught.value.message
    assert served(instance) == (1, 17_996)


def test_a_malformed_header_above_well_formed_records_is_refused(instance, tmp_path):
    path = tmp_path / "h.csv"
    path.write_text('"a";"b"\nx,2\ny,3\n', encoding="utf-8")
    with pytest.raises(IngestError) as caught:
        load(instance, path, options=ReadOptions(delimiter=","))
    assert caught.value.line == 1 and caught.value.message.startswith("no record could be read: malformed CSV")


@pytest.mark.parametrize("delimiter", ["\x00", "\x1f", "\x7f"])
def test_a_control_character_is_no_delimiter(instance, tmp_path, delimiter):
    """The engine's own parser error came out (``unterminated quoted string``) for a NUL."""
    path = tmp_path / "c.csv"
    path.write_text("a;b\n1;2\n", encoding="utf-8")
    with pytest.raises(IngestError, match="invalid delimiter .*a control character"):
        load(instance, path, options=ReadOptions(delimiter=delimiter))
    assert load(instance, path, options=ReadOptions(delimiter="\t")) is not None  # a tab is one


def test_a_forced_delimiter_absent_from_the_file_reads_one_column_with_a_note(instance, tmp_path):
    """One column per line is legitimate (a one-column file): loaded, but the note says what happened."""
    path = tmp_path / "plain.csv"
    path.write_text("a;b\nx;2\ny;3\n", encoding="utf-8")
    report = load(instance, path, options=ReadOptions(delimiter="|")).report
    assert report.rows == 2 and [f.label for f in report.fields] == ["a;b"]
    assert any("the forced delimiter '|' is not in the header" in note and "looks ';'-separated" in note
               for note in report.notes)
    one = tmp_path / "one.csv"
    one.write_text("nom\nDupont, Jean\nMartin\n", encoding="utf-8")
    report = load(instance, one, "one", options=ReadOptions(delimiter=";")).report
    assert report.rows == 2 and not any("forced delimiter" in note for note in report.notes)


def test_a_header_alone_still_loads_empty(instance, tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("a,b\n\n", encoding="utf-8")
    assert load(instance, path, options=ReadOptions(delimiter=",")).report.rows == 0


# --- 2. and 3. GeoJSON geometries ----------------------------------------------------------

def with_geometry(refdata: Path, tmp_path: Path, geometry, name: str = "dep.geojson") -> Path:
    data = json.loads((refdata / DEPARTEMENTS).read_text(encoding="utf-8"))
    data["features"][41]["geometry"] = geometry
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(("geometry", "reason"), [
    ({"type": "Blob", "coordinates": [1, 2]}, 'unknown geometry type "Blob"'),
    ({"coordinates": [1, 2]}, 'the geometry has no "type"'),
    ({"type": "GeometryCollection", "geometries": [{"type": "Blob", "coordinates": [1, 2]}]},
     'unknown geometry type "Blob"'),
])
def test_an_unknown_geometry_type_is_refused_naming_the_feature_and_the_type(instance, refdata, tmp_path,
                                                                              geometry, reason):
    """GDAL gave it a null geometry with a mere warning: 96 records, one shape lost, no note."""
    shutil.copy(refdata / DEPARTEMENTS, tmp_path / "good.geojson")
    load(instance, tmp_path / "good.geojson")
    with pytest.raises(IngestError) as caught:
        load(instance, with_geometry(refdata, tmp_path, geometry))
    assert caught.value.source == "dep.geojson" and caught.value.field == "geo_shape"
    assert caught.value.message.startswith(f"feature 42: unreadable geometry ({reason}")
    assert served(instance) == (1, 96)


def test_an_unknown_type_is_named_even_after_a_feature_without_geometry(instance, refdata, tmp_path):
    data = json.loads((refdata / DEPARTEMENTS).read_text(encoding="utf-8"))
    data["features"][3]["geometry"] = None
    data["features"][41]["geometry"] = {"type": "Blob", "coordinates": [1, 2]}
    path = tmp_path / "both.geojson"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(IngestError, match='feature 42: unreadable geometry \\(unknown geometry type "Blob"'):
        load(instance, path)


def test_a_null_geometry_still_loads_with_a_null_shape(instance, refdata, tmp_path):
    report = load(instance, with_geometry(refdata, tmp_path, None)).report
    assert report.rows == 96 and not report.rejected


@pytest.mark.parametrize(("ring", "reason"), [
    ([[2, 48], [3, 48]], "a polygon ring needs at least 4 positions, this one has 2"),
    ([[2, 48], [3, 48], [3, 49], [2, 49]], "a polygon ring is not closed: its first and last positions differ"),
])
def test_an_unreadable_ring_says_why(cli, refdata, tmp_path, ring, reason):
    path = with_geometry(refdata, tmp_path, {"type": "Polygon", "coordinates": [ring]})
    result = cli("dataset", "create", "g", "--title", "x", "--from", str(path), ok=False)
    assert result.exit_code == 1 and f"dep.geojson, field 'geo_shape': feature 42: unreadable geometry ({reason})" in one_line(result.output)


def test_an_unreadable_ring_in_a_multipolygon_says_why(instance, refdata, tmp_path):
    square = [[2, 48], [3, 48], [3, 49], [2, 49], [2, 48]]
    multipolygon = {"type": "MultiPolygon", "coordinates": [[square], [square, [[2.5, 48.5]]]]}
    path = with_geometry(refdata, tmp_path, multipolygon)
    with pytest.raises(IngestError, match=r"feature 42: unreadable geometry \(a polygon ring needs at least 4 "
                                          r"positions, this one has 1\)"):
        load(instance, path)


# --- 4. a forced encoding that garbles UTF-8 text -----------------------------------------

def test_a_forced_single_byte_encoding_on_utf8_text_is_noted(cli, tmp_path):
    path = tmp_path / "utf8.csv"
    path.write_text("nom;statut\nDupont;Retraités\nMartin;Actifs\n", encoding="utf-8")
    cli("dataset", "create", "e", "--title", "x", "--from", str(path))
    for encoding in ("latin-1", "cp1252", "iso-8859-15"):
        output = one_line(cli("dataset", "ingest", "e", str(path), "--encoding", encoding).output)
        assert (f"encoding forced to {encoding}, but the file is valid UTF-8: its non-ASCII letters read wrongly, "
                "'é' as 'Ã©'") in output
    # not when the file really is Latin-1, nor for ASCII, nor when UTF-8 is forced
    latin = tmp_path / "latin.csv"
    latin.write_bytes("nom;statut\nDupont;Retraités\n".encode("latin-1"))
    ascii_ = tmp_path / "ascii.csv"
    ascii_.write_text("nom;statut\nDupont;Actifs\n", encoding="utf-8")
    for source, encoding in ((latin, "latin-1"), (ascii_, "latin-1"), (path, "utf-8")):
        assert "encoding forced" not in cli("dataset", "ingest", "e", str(source), "--encoding", encoding).output
