"""Review of 7 December (third pass) over the readers' and the loader's mends of that morning:

* GeoJSON values read beside GDAL (numeric feature ids, integers of 19 digits or more) were
  paired with GDAL's rows by position, counting the elements of ``features`` GDAL skips
  (``null``, ``{}``, a bare geometry): every later feature got the value of the one before it;
  the decoded features of a whole batch were held, coordinates and all (3x the memory); the
  19-digit scan read each integer's key with a regular expression over the 1,000 bytes before
  it (35 s for a 54 MB file of 300,000 such integers);
* Excel error cells were found by parsing every cell of the sheet as XML (27 s for a sheet of
  300,000 rows, when one cell held ``#DIV/0!``);
* the rejected values of all fields in one query: the engine's planning grows with the square
  of the casts in it (150 fields: 19 s, 300 fields: 290 s on 200,000 rows).
"""

from __future__ import annotations

import json
import math
import time
import tracemalloc
import zipfile
from pathlib import Path

import duckdb
import pytest

from portail.ingest.infer import Inferred, cast_expression, rejected_values
from portail.ingest.readers.geo import _long_integer_keys, read_geo
from portail.ingest.readers.xlsx_formats import error_cells
from portail.ingest.types import ReadOptions
from portail.schema import FieldType


def _staged(raw, query: str) -> list[tuple]:
    con = duckdb.connect()
    raw.stage(con, "s")
    return con.execute(query).fetchall()


def _feature(fid: object, properties: dict, geometry: dict | None = None) -> dict:
    point = {"type": "Point", "coordinates": [2.35, 48.85]}
    return {"type": "Feature", "id": fid, "properties": properties, "geometry": geometry or point}


def _collection(path: Path, features: list) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


# --- GeoJSON ---------------------------------------------------------------------------------

def test_values_read_beside_gdal_stay_on_their_feature_when_gdal_skips_elements(tmp_path):
    """GDAL reads the objects of type Feature and skips anything else in ``features``."""
    path = _collection(tmp_path / "parcelles.geojson", [
        _feature(1, {"nom": "a", "ref": 10000000000000000001}),
        None, {}, {"type": "Point", "coordinates": [1, 2]}, {"properties": {"nom": "untyped"}},
        _feature(2, {"nom": "b", "ref": 7}),
        _feature(3, {"nom": "c", "ref": 10000000000000000003}),
    ])
    raw = read_geo(path, ReadOptions())
    assert _staged(raw, "SELECT id, nom, ref FROM s") == [
        ("1", "a", "10000000000000000001"), ("2", "b", "7"), ("3", "c", "10000000000000000003")]


def test_values_read_beside_gdal_do_not_hold_the_decoded_features(tmp_path):
    """Only the values wanted are kept, not a batch of features with their coordinates."""
    ring = [[2 + math.cos(k / 40) / 100, 48 + math.sin(k / 40) / 100] for k in range(250)]
    polygon = {"type": "Polygon", "coordinates": [ring + ring[:1]]}
    path = _collection(tmp_path / "communes.geojson", [_feature(i, {"nom": f"c{i}"}, polygon) for i in range(300)])
    raw = read_geo(path, ReadOptions())
    con = duckdb.connect()
    tracemalloc.start()
    try:
        raw.stage(con, "s")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert con.execute("SELECT count(*), count(id), min(id::INT), max(id::INT) FROM s").fetchone() == (300, 300, 0, 299)
    assert peak < 11 * 2**20, peak  # 16 MB held before, 7 MB now (the reading buffer mostly)


def test_the_keys_of_long_integers_are_found_fast_and_exactly(tmp_path):
    features = [_feature(None, {"ref": 10**20 + i, 'a "quoted" \\ key': -(10**19) - i, "note": f"x: {10**25}",
                                "small": 123456789012345678})
                for i in range(20_000)]
    path = _collection(tmp_path / "long.geojson", features)
    started = time.perf_counter()
    keys = _long_integer_keys(path)
    elapsed = time.perf_counter() - started
    assert keys == {"ref", 'a "quoted" \\ key'}  # a colon inside a string value names no key
    assert elapsed < 1.5, elapsed  # 40,000 integers: ~5 s before, ~0.1 s now


# --- Excel error cells -------------------------------------------------------------------

def _xlsx_with_sheet_xml(path: Path, rows_xml: str, prefix: str = "") -> Path:
    """An xlsx whose one sheet's XML is ``rows_xml`` inside its sheetData (``prefix``: the
    namespace prefix its elements are written with, as some producers do: ``x:``)."""
    import xlsxwriter

    book = xlsxwriter.Workbook(path)
    book.add_worksheet("S").write("A1", "x")
    book.close()
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    namespace = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    declaration = f'xmlns:{prefix[:-1]}="{namespace}"' if prefix else f'xmlns="{namespace}"'
    body = f"<{prefix}sheetData>{rows_xml}</{prefix}sheetData>"
    parts["xl/worksheets/sheet1.xml"] = (f'<?xml version="1.0" encoding="UTF-8"?><{prefix}worksheet {declaration}>'
                                         f"{body}</{prefix}worksheet>").encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return path


def test_error_cells_are_found_in_the_sheet_bytes(tmp_path):
    cells = ('<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="e"/><c r="C1"><v>1</v></c></row>'
             '<row r="2"><c r="A2" t="e"><f>1/0</f><v>#DIV/0!</v></c><c r="AB2" t="e"><v>#N/A</v></c></row>'
             '<row r="7"><c r="C7" s="1" t="e" ><v> #REF! </v></c><c r="D7" t="str"><v>"e"</v></c></row>')
    expected = {(1, 0): "#DIV/0!", (1, 27): "#N/A", (6, 2): "#REF!"}
    assert error_cells(_xlsx_with_sheet_xml(tmp_path / "plain.xlsx", cells), "S") == expected
    prefixed = cells.replace("<row", "<x:row").replace("</row", "</x:row").replace("<c ", "<x:c ") \
        .replace("</c>", "</x:c>").replace("<v>", "<x:v>").replace("</v>", "</x:v>").replace("<f>", "<x:f>") \
        .replace("</f>", "</x:f>")
    assert error_cells(_xlsx_with_sheet_xml(tmp_path / "prefixed.xlsx", prefixed, "x:"), "S") == expected
    # cells without their reference follow on: placed by a parse of every cell
    unreferenced = '<row r="3"><c><v>1</v></c><c t="e"><v>#NUM!</v></c></row>'
    assert error_cells(_xlsx_with_sheet_xml(tmp_path / "bare.xlsx", unreferenced), "S") == {(2, 1): "#NUM!"}


def test_error_cells_of_a_long_sheet_are_found_fast(tmp_path):
    import xlsxwriter

    path = tmp_path / "long.xlsx"
    book = xlsxwriter.Workbook(path, {"constant_memory": True})
    sheet = book.add_worksheet("S")
    for row in range(20_000):
        sheet.write_row(row, 0, [row, row * 1.5, "t", row % 7, "x"])
    sheet.write_formula(20_000, 2, "=1/0", None, "#DIV/0!")
    book.close()
    started = time.perf_counter()
    assert error_cells(path, "S") == {(20_000, 2): "#DIV/0!"}
    assert time.perf_counter() - started < 0.6  # ~2 s before (every cell parsed), ~0.05 s now


# --- rejected values -----------------------------------------------------------------------

def test_rejected_values_of_many_fields_with_odd_names():
    names = ['a"b', "c'd", "é x", "f", "v", "r0", "select", "1"] + [f"c{i}" for i in range(142)]
    con = duckdb.connect()
    values = ", ".join(f"""CASE WHEN i = {k % 5} THEN 'x{k}' WHEN i = 9 THEN 'nd' WHEN i = 8 THEN '#N/A'
                              WHEN i = 7 THEN 'b{k}' ELSE i::VARCHAR END AS "{n.replace('"', '""')}" """
                       for k, n in enumerate(names))
    con.execute(f"CREATE TABLE s AS SELECT {values}, i::VARCHAR AS clean FROM range(12) t(i)")
    casts = {n: cast_expression(n, Inferred(FieldType.INT)) for n in [*names, "clean"]}
    started = time.perf_counter()
    found = rejected_values(con, "s", casts, limit=2)
    elapsed = time.perf_counter() - started
    # the smallest two, markers ("nd") left out, error values ("#N/A") kept
    assert found == {n: ["#N/A", f"b{k}"] for k, n in enumerate(names)}
    assert rejected_values(con, "s", {}) == {}
    assert elapsed < 3, elapsed  # 19 s in one query before (its planning), 0.7 s in passes of 16


# --- spreadsheets: two-row headers ---------------------------------------------------------

def test_records_under_a_header_with_blank_labels_are_no_second_header_row(tmp_path):
    """A header with unlabelled columns over text records: the first record's blank cell (a
    label "with nothing below") or repeated value (a label "repeated") made it a row of
    sub-labels (``nom_dupont``, ``nom_jean``) and the record was lost."""
    from portail.ingest.readers.spreadsheet import read_spreadsheet
    from tests.ingest.test_readers_formats import write_ods, write_xlsx

    sheets = {
        "sparse": [["Nom", None, "Ville"], ["Dupont", "Jean", None], ["Martin", "Paul", "Lyon"]],
        "repeated": [["Nom", None, "Statut", None], ["Dupont", "Dupont", "Actif", "Actif"],
                     ["Martin", "Paul", "Inactif", "Non"]],
    }
    for name, rows in sheets.items():
        raw = read_spreadsheet(write_xlsx(tmp_path / f"{name}.xlsx", {"S": rows}), ReadOptions())
        assert "header on row 1" in raw.notes, name
        assert len(_staged(raw, "SELECT * FROM s")) == 2, name
    # a group label over sub-labels with numbers below still prefixes them, merged or not
    grouped = write_ods(tmp_path / "menages.ods", [["Commune", "Population", None], [None, "Hommes", "Femmes"],
                                                    ["Paris", 10, 11], ["Lyon", 5, 6]])
    raw = read_spreadsheet(grouped, ReadOptions())
    assert raw.names == ["commune", "population_hommes", "population_femmes"]
    assert _staged(raw, "SELECT * FROM s") == [("Paris", "10", "11"), ("Lyon", "5", "6")]
