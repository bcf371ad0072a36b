"""Reader gaps met in real French public files, each built here as its producer writes it and
read through the readers (or the real loader): a ``.cpg`` saying ISO-8859-1 over a
Windows-1252 DBF, GeoJSON feature ids that are numbers and property integers beyond 64 bits,
Excel error cells, two-row headers under a spanning group label."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from portail.ingest.readers.geo import read_geo
from portail.ingest.types import ReadOptions
from tests.ingest.test_hunt_dec7 import NOMS, _cp1252_shapefile


def staged(raw, query: str) -> list[tuple]:
    """``query`` over the reader's output staged as the loader stages it (table ``s``)."""
    con = duckdb.connect()
    raw.stage(con, "s")
    return con.execute(query).fetchall()


# --- Shapefile: ISO-8859-1 declared, Windows-1252 written ----------------------------------

@pytest.mark.parametrize("cpg", ["ISO-8859-1", "88591", "ISO 88591"])
def test_a_latin1_cpg_over_windows_1252_text_reads_it_as_windows_1252(tmp_path, cpg):
    """Œ, – and € (0x8C, 0x96, 0x80) came out as control characters: the .cpg was believed."""
    raw = read_geo(_cp1252_shapefile(tmp_path / "src", cpg), ReadOptions())
    assert f"DBF encoding {cpg!r} (from .cpg)" in raw.notes
    assert [row[0] for row in staged(raw, "SELECT nom FROM s")] == NOMS


def test_a_latin1_cpg_over_bytes_windows_1252_leaves_undefined_stays_latin1(tmp_path):
    """0x81 has no character in Windows-1252: such a DBF is read as the Latin-1 it declares."""
    shp = _cp1252_shapefile(tmp_path / "src", "ISO-8859-1")
    dbf = shp.with_suffix(".dbf")
    dbf.write_bytes(dbf.read_bytes().replace("Œ".encode("cp1252"), b"\x81"))
    raw = read_geo(shp, ReadOptions())
    assert "DBF encoding 'ISO-8859-1' (from .cpg)" in raw.notes
    assert staged(raw, "SELECT nom FROM s")[1] == ("\x81uvre \x96 5 \x80",)


# --- GeoJSON: what GDAL does not hand over exactly ----------------------------------------

def _geojson(path: Path, features: list[tuple[object, dict]]) -> Path:
    """A FeatureCollection of points, each (its ``id`` member or None for none, its properties);
    the ids and numbers written by the json module, as any producer writes them."""
    body = [{"type": "Feature", **({"id": fid} if fid is not None else {}), "properties": properties,
             "geometry": {"type": "Point", "coordinates": [2.35 + i / 100, 48.85]}}
            for i, (fid, properties) in enumerate(features)]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": body}))
    return path


def test_numeric_feature_ids_and_integers_beyond_64_bits_are_kept_as_written(instance, tmp_path):
    """``"id": 12`` was dropped (GDAL makes number ids its feature ids, and alters a repeated
    one), where ``"id": "x12"`` was a field ``id``; ``20000000000000000017`` was read as a double,
    ``20000000000000000000``. Integers of 19 digits or more are text, as in a CSV file."""
    from tests.ingest.test_csv import load, rows

    path = _geojson(tmp_path / "parcelles.geojson", [
        (12, {"nom": "Ambérieu", "reference": 20000000000000000017, "surface": 1.5}),
        (12, {"nom": "Ajaccio", "reference": 7, "surface": 2}),  # a repeated id, kept as written too
        (3, {"nom": "Paris", "reference": None, "surface": 3.25}),
    ])
    result = load(instance, path)
    assert {f.name: f.type for f in result.report.fields} == {
        "id": "int", "nom": "text", "reference": "text", "surface": "double", "geo_shape": "geo_shape",
        "geo_point_2d": "geo_point_2d"}
    assert [(r["id"], r["nom"], r["reference"], r["surface"]) for r in rows(instance, order="ORDER BY surface")] == [
        (12, "Ambérieu", "20000000000000000017", 1.5), (12, "Ajaccio", "7", 2.0), (3, "Paris", None, 3.25)]
    assert "integers of 19 digits or more read as written: reference" in result.report.notes

    # ids of both kinds (the first a number: GDAL dropped them all), and string ids as before
    mixed = read_geo(_geojson(tmp_path / "mixed.geojson", [(12, {"nom": "a"}), ("2A004", {"nom": "b"})]), ReadOptions())
    strings = read_geo(_geojson(tmp_path / "strings.geojson", [("x12", {"nom": "a"}), (None, {"nom": "b"})]),
                       ReadOptions())
    assert mixed.names == strings.names == ["id", "nom", "geo_shape", "geo_point_2d"]
    assert staged(mixed, "SELECT id, nom FROM s") == [("12", "a"), ("2A004", "b")]
    assert staged(strings, "SELECT id, nom FROM s") == [("x12", "a"), (None, "b")]
    # a property called id keeps the name, as it does beside string ids; without ids, no field
    own = read_geo(_geojson(tmp_path / "own.geojson", [(12, {"id": 5, "nom": "a"})]), ReadOptions())
    bare = read_geo(_geojson(tmp_path / "bare.geojson", [(None, {"nom": "a"})]), ReadOptions())
    assert staged(own, "SELECT id, nom FROM s") == [(5, "a")] and bare.names == ["nom", "geo_shape", "geo_point_2d"]


# --- spreadsheets: two-row headers --------------------------------------------------------

def test_a_group_label_over_a_second_header_row_prefixes_its_labels(tmp_path):
    """``Population`` merged over ``2019 | 2020 | 2021`` gave the columns ``population``,
    ``field_3``, ``field_4`` and a first record of years; the same years under two groups left
    blank after their label (an ods: calamine reports no merges there) gave ``2019_2``."""
    import xlsxwriter

    from portail.ingest.readers.spreadsheet import read_spreadsheet
    from tests.ingest.test_readers_formats import write_ods, write_xlsx

    merged = tmp_path / "merged.xlsx"
    book = xlsxwriter.Workbook(merged)
    sheet = book.add_worksheet("Communes")
    sheet.write("A1", "Population des communes")  # a title and a blank row above
    sheet.merge_range("A3:A4", "Commune")
    sheet.merge_range("B3:D3", "Population")
    sheet.merge_range("E3:E4", "Superficie (km²)")
    sheet.write_row("B4", [2019, 2020, 2021])  # years as numbers
    sheet.write_row("A5", ["Paris", 2_165_423, 2_145_906, 2_133_111, 105.4])
    sheet.write_row("A6", ["Lyon", 518_635, 522_250, 522_228, 47.87])
    book.close()
    raw = read_spreadsheet(merged, ReadOptions())
    assert raw.names == ["commune", "population_2019", "population_2020", "population_2021", "superficie_km2"]
    assert raw.labels[1] == "Population 2019"
    assert "header on rows 3 and 4, each label under a group label prefixed with it (2 row(s) above it skipped)" \
        in raw.notes
    assert staged(raw, "SELECT * FROM s") == [("Paris", "2165423", "2145906", "2133111", "105.4"),
                                             ("Lyon", "518635", "522250", "522228", "47.87")]

    groups = write_ods(tmp_path / "menages.ods", [
        [None, "Population", None, "Ménages", None], ["Commune", "2019", "2020", "2019", "2020"],
        ["Paris", 10, 11, 3, 4]])
    raw = read_spreadsheet(groups, ReadOptions())
    assert raw.names == ["commune", "population_2019", "population_2020", "menages_2019", "menages_2020"]
    assert staged(raw, "SELECT * FROM s") == [("Paris", "10", "11", "3", "4")]

    # one row of labels stays one: a blank label above text records, a title, a row of units,
    # a label over a single value (a record, not a sub-label)
    ordinary = {
        "adresse": [["Adresse", None, "Ville"], ["12 rue X", "Bât B", "Paris"], ["3 rue Y", "Esc 2", "Lyon"]],
        "titre": [["Population des communes"], [None], ["Commune", "2019", "2020"], ["Paris", 10, 11]],
        "unites": [["Commune", "Population", "Surface"], [None, "(hab.)", "(km²)"], ["Paris", 10, 105.4]],
        "effectifs": [["Département", "Effectifs", None], ["01", 2019, 2020], ["02", 2019, 2021]],
    }
    names = {name: read_spreadsheet(write_xlsx(tmp_path / f"{name}.xlsx", {"S": rows}), ReadOptions()).names
             for name, rows in ordinary.items()}
    assert names == {"adresse": ["adresse", "field_2", "ville"], "titre": ["commune", "2019", "2020"],
                     "unites": ["commune", "population", "surface"],
                     "effectifs": ["departement", "effectifs", "field_3"]}


# --- spreadsheets: error cells ------------------------------------------------------------

def test_excel_error_cells_are_reported_with_their_row_and_value(instance, tmp_path):
    """``#DIV/0!``, ``#N/A``, ``#REF!`` were empty cells for calamine: nulls nobody was told of.
    In a typed column they are values that became null, named with their sheet row; in a text
    column they are kept as the sheet shows them, as in a CSV written from it, where they are
    rejected values too (they were "no value" markers: nothing said a formula had failed)."""
    import xlsxwriter

    from tests.ingest.test_csv import load, rows

    path = tmp_path / "ratios.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("Ratios")
    sheet.write("A1", "Taux par commune")
    sheet.write_row("A3", ["commune", "taux", "rang", "note"])
    sheet.write_row("A4", ["Paris", 1.5, 1, "ok"])
    sheet.write_row("A5", ["Lyon", None, 2, None])
    sheet.write_formula("B5", "=1/0", None, "#DIV/0!")
    sheet.write_formula("D5", "=NA()", None, "#N/A")
    sheet.write_row("A6", ["Nice", 2.25, None, "ok"])
    sheet.write_formula("C6", "=A1+#REF!", None, "#REF!")
    book.close()
    report = {f.name: f for f in load(instance, path).report.fields}
    assert (report["taux"].type, report["taux"].rejected, report["taux"].examples, report["taux"].example_line) == \
        ("double", 1, ["#DIV/0!"], 5)
    assert (report["rang"].type, report["rang"].rejected, report["rang"].examples, report["rang"].example_line) == \
        ("int", 1, ["#REF!"], 6)
    assert (report["note"].type, report["note"].rejected) == ("text", 0)
    assert [(r["taux"], r["rang"], r["note"]) for r in rows(instance, order="ORDER BY commune")] == [
        (None, 2, "#N/A"), (2.25, None, "ok"), (1.5, 1, "ok")]

    csv = tmp_path / "ratios.csv"
    csv.write_text("commune;taux\nParis;1,5\nLyon;#DIV/0!\nNice;#N/A\n")
    taux = {f.name: f for f in load(instance, csv, slug="csv").report.fields}["taux"]
    assert (taux.type, taux.rejected, taux.examples, taux.example_line) == ("double", 2, ["#DIV/0!", "#N/A"], 3)
