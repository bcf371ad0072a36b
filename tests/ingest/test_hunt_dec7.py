"""Wrong values in the non-CSV formats as French public bodies write them, each file loaded
through the real loader and every stored cell compared with an independent reading of the file
(the json module, pyarrow, the bytes of a DBF, the cells written): a Shapefile whose ``.cpg``
says ``ANSI 1252`` (ArcGIS) or ``UTF-8`` over a Windows-1252 DBF, JSON Lines behind a byte
order mark, SIREN codes shown through a grouped format of zeros (``000 000 000``), Parquet's
naive timestamps; and bad files refused naming what is wrong: an empty JSON key (its values
were stored as nulls), a scalar among JSON records, longitudes/latitudes declared as Lambert-93."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio
import pytest
import shapely
import xlsxwriter

from portail.ingest.errors import IngestError
from tests.ingest.test_csv import load, rows, types

PARIS = ZoneInfo("Europe/Paris")


# --- Shapefile: the .cpg is a hint, the bytes decide --------------------------------------

NOMS = ["Ambérieu-en-Bugey", "Œuvre – 5 €", "Saint-Étienne"]


def _cp1252_shapefile(folder: Path, cpg: str) -> Path:
    """Three Lambert-93 points whose DBF is Windows-1252 (Œ, –, € are no Latin-1), under ``cpg``."""
    folder.mkdir(parents=True, exist_ok=True)
    shp = folder / "communes.shp"
    table = pa.table({"nom": NOMS, "population": pa.array([14204, 1, 171057], pa.int64()),
                      "geometry": pa.array(shapely.to_wkb(shapely.points(
                          [[870000, 6540000], [700000, 6600000], [808000, 6485000]])), pa.binary())})
    pyogrio.write_arrow(table, shp, geometry_name="geometry", geometry_type="Point", crs="EPSG:2154",
                        encoding="cp1252")
    (folder / "communes.cpg").write_text(cpg)
    return shp


def _dbf_texts(shp: Path) -> list[str]:
    """The ``nom`` column read from the DBF's bytes: the first field, after the deletion flag."""
    data = shp.with_suffix(".dbf").read_bytes()
    header, record = int.from_bytes(data[8:10], "little"), int.from_bytes(data[10:12], "little")
    width = data[32 + 16]  # the first field descriptor's length
    count = int.from_bytes(data[4:8], "little")
    return [data[header + i * record + 1:header + i * record + 1 + width].decode("cp1252").rstrip()
            for i in range(count)]


@pytest.mark.parametrize("cpg, note", [
    ("ANSI 1252", "DBF encoding 'ANSI 1252' (from .cpg)"),  # ArcGIS's spelling, unknown to GDAL
    ("1252", "DBF encoding '1252' (from .cpg)"),
    ("UTF-8", "DBF encoding CP1252 (detected: the .cpg's 'UTF-8' does not decode its text)"),
    ("65001", "DBF encoding CP1252 (detected: the .cpg's '65001' does not decode its text)"),
    ("LDID/87", "DBF encoding CP1252 (detected: the .cpg's 'LDID/87' is no known encoding)"),
])
def test_a_shapefile_cpg_that_gdal_cannot_use_still_gives_the_accents(instance, tmp_path, cpg, note):
    """'ANSI 1252' and a UTF-8 .cpg over a Windows-1252 DBF failed the load with the engine's
    "Invalid unicode (byte sequence mismatch) detected in segment statistics update"."""
    shp = _cp1252_shapefile(tmp_path / "src", cpg)
    result = load(instance, shp)
    assert note in result.report.notes
    assert [r["nom"] for r in rows(instance, order="ORDER BY population DESC")] == \
        [_dbf_texts(shp)[i] for i in (2, 0, 1)] == [NOMS[i] for i in (2, 0, 1)]


# --- JSON Lines behind a byte order mark --------------------------------------------------

def test_json_lines_with_a_byte_order_mark_load_as_without(instance, tmp_path):
    """Windows tools write a BOM before JSON Lines; DuckDB refuses it there ("malformed JSON ...
    byte order mark (BOM) is not supported", on line 2), where it reads one before an array."""
    records = [{"code_commune": "01001", "nom": "L'Abergement-Clémenciat", "population": 832, "taux": 0.5},
               {"code_commune": "2A004", "nom": "Ajaccio", "population": 68916, "taux": None},
               {"code_commune": "97101", "nom": "Les Abymes", "taux": 1.25}]
    path = tmp_path / "communes.jsonl"
    path.write_bytes(("\ufeff" + "\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n\n").encode())
    result = load(instance, path)
    assert "UTF-8 byte order mark skipped" in result.report.notes
    expected = [json.loads(line) for line in path.read_text(encoding="utf-8-sig").splitlines() if line]
    assert rows(instance) == [{key: r.get(key) for key in ("code_commune", "nom", "population", "taux")}
                              for r in expected]
    assert not [p.name for p in instance.settings.tmp_dir.glob("jsonl-*")]  # the copy is gone


def test_a_bad_line_behind_a_byte_order_mark_is_named(instance, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\n{"a": 2}\n{"a": 3,, }\n')
    with pytest.raises(Exception) as refused:
        load(instance, path)
    assert str(refused.value).startswith("bad.jsonl, line 3: malformed JSON")
    assert not [p.name for p in instance.settings.tmp_dir.glob("jsonl-*")]


# --- xlsx: codes shown through a grouped format of zeros ----------------------------------

def test_grouped_zero_formats_keep_the_leading_zeros_of_siren_and_nir(instance, tmp_path):
    """A SIREN stored as the number 1234567 under ``000 000 000`` shows ``001 234 567``; it was
    loaded as ``1234567``. The code is its digits, padded to the format's zeros."""
    path = tmp_path / "etablissements.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("Etablissements")
    siren, escaped = book.add_format({"num_format": "000 000 000"}), book.add_format({"num_format": r"000\ 000\ 000"})
    nir = book.add_format({"num_format": '0" "00" "00" "00" "000" "000" "00'})
    sheet.write_row(0, 0, ["siren", "siren_groupe", "nir", "effectif"])
    written = [(1234567, 5678, 123456789012345, 12), (552100554, 210100012, 269059913116514, 3)]
    for row, (a, b, c, d) in enumerate(written, start=1):
        sheet.write_number(row, 0, a, siren)
        sheet.write_number(row, 1, b, escaped)
        sheet.write_number(row, 2, c, nir)
        sheet.write_number(row, 3, d)
    book.close()
    result = load(instance, path)
    assert types(result) == {"siren": "text", "siren_groupe": "text", "nir": "text", "effectif": "int"}
    assert rows(instance) == [{"siren": f"{a:09d}", "siren_groupe": f"{b:09d}", "nir": f"{c:015d}", "effectif": d}
                              for a, b, c, d in written]


# --- Parquet: naive timestamps are wall-clock times ---------------------------------------

def test_parquet_naive_timestamps_are_read_in_the_datasets_time_zone(instance, tmp_path):
    """pandas writes naive datetimes with ``isAdjustedToUTC=false``: wall-clock times, which the
    loader reads in the dataset's zone for every other format; Parquet's are read as UTC, so a
    Paris 14:00 is served as 16:00 (15:00 in winter), unlike the same data's CSV."""
    walls = [dt.datetime(2024, 1, 15, 14, 0), dt.datetime(2024, 7, 1, 8, 30, 0, 250000), None]
    aware = [dt.datetime(2024, 1, 15, 13, 0, tzinfo=dt.timezone.utc), None, None]
    table = pa.table({"n": [1, 2, 3], "releve": pa.array(walls, pa.timestamp("ns")),
                      "releve_utc": pa.array(aware, pa.timestamp("us", tz="UTC")),
                      "jamais": pa.array([None] * 3, pa.timestamp("us"))})
    path = tmp_path / "releves.parquet"
    pq.write_table(table, path)
    result = load(instance, path)
    # declared by the file, an empty column too (staged as text, it was typed text)
    assert types(result) == {"n": "int", "releve": "datetime", "releve_utc": "datetime", "jamais": "datetime"}
    read = pq.read_table(path).to_pylist()
    assert rows(instance, order="ORDER BY n") == [
        {"n": r["n"], "releve": r["releve"] and r["releve"].replace(tzinfo=PARIS),
         "releve_utc": r["releve_utc"], "jamais": None} for r in read]


# --- JSON: an empty key -------------------------------------------------------------------

@pytest.mark.parametrize("name, body, said", [
    ("communes.json", '[{"code": "01001", "": 832}, {"code": "2A004", "": 68916}]',
     "communes.json: element 1 of the array"),
    ("communes.jsonl", '{"code": "01001"}\n\n{"code": "2A004", "": 68916}\n', "communes.jsonl, line 3"),
    ("wrapped.json", '{"data": [{"code": "01001", "": 832}]}', "wrapped.json"),
])
def test_an_empty_key_is_refused_naming_its_record(instance, tmp_path, name, body, said):
    """DuckDB names an empty key ``C<position>`` and then finds no such key: its values (832,
    68916) were stored as nulls under a field ``c1``; a wrapped document failed as "malformed
    JSON (Binder Error: Key name for struct_extract ...)"."""
    path = tmp_path / name
    path.write_text(body)
    with pytest.raises(IngestError) as refused:
        load(instance, path)
    assert str(refused.value) == f'{said}: a key of the records is empty (""): every field needs a name, give it one'


def test_a_key_spelt_as_duckdbs_name_for_an_empty_one_still_loads(instance, tmp_path):
    path = tmp_path / "c1.json"
    path.write_text('[{"code": "01001", "C1": 832, "nested": {"": 1}}, {"code": "2A004", "C1": 68916}]')
    load(instance, path)
    assert rows(instance) == [{"code": "01001", "c1": 832, "nested": '{"":1}'},
                              {"code": "2A004", "c1": 68916, "nested": None}]


# --- A declared coordinate system the coordinates are not in --------------------------------

def _points_geojson(path: Path, coordinates: list[list[float]], crs: str) -> Path:
    features = [{"type": "Feature", "properties": {"n": n}, "geometry": {"type": "Point", "coordinates": c}}
                for n, c in enumerate(coordinates, start=1)]
    path.write_text(json.dumps({"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": crs}},
                                "features": features}))
    return path


def test_longitudes_latitudes_declared_as_lambert93_are_refused(instance, tmp_path):
    """Reprojected as metres, Paris's [2.35, 48.85] landed in the Gulf of Guinea (-1.36, -5.98) and
    loaded without a word: within longitude/latitude, so no check stopped it."""
    path = _points_geojson(tmp_path / "gares.geojson", [[652469, 6862035], [2.35, 48.85]], "urn:ogc:def:crs:EPSG::2154")
    with pytest.raises(IngestError) as refused:
        load(instance, path)
    assert str(refused.value).startswith("gares.geojson, field 'geo_shape': feature 2: coordinates far outside where "
                                         "the declared coordinate system is used (EPSG:2154: France - onshore")


@pytest.mark.parametrize("crs, places", [
    ("EPSG:2154", [(6.1432, 46.2044), (4.3517, 50.8503)]),
    ("EPSG:32631", [(-5.0950, 48.4560), (7.7521, 48.5734), (9.4500, 42.0400)]),
], ids=["lambert93-geneva-brussels", "utm31n-ouessant-corsica"])
def test_projected_metres_beyond_the_systems_area_still_load(instance, tmp_path, crs, places):
    """Geneva and Brussels in Lambert-93 (outside France, within the margin), and France-wide
    data in UTM zone 31N's metres, a zone used from 0 to 6° E (Ouessant at -5.1° E, Corsica):
    the area check is for degrees written under a projected system, which refused the UTM file.
    Each loads where pyproj puts it."""
    from pyproj import Transformer

    to_crs = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    path = _points_geojson(tmp_path / "lieux.geojson", [list(to_crs.transform(*p)) for p in places],
                           f"urn:ogc:def:crs:EPSG::{crs.split(':')[1]}")
    load(instance, path)
    stored = rows(instance, order="ORDER BY n")
    assert [(r["__lon__geo_point_2d"], r["__lat__geo_point_2d"]) for r in stored] == \
        [pytest.approx(p, abs=1e-7) for p in places]


# --- JSON: a stray value among the records ------------------------------------------------

@pytest.mark.parametrize("body, said", [
    ('[{"code": "01001"}, {"code": "2A004"}, 5, {"code": "75056"}]', "element 3 of the array is a number"),
    ('["en-tête", {"code": "01001"}]', "element 1 of the array is a string"),
    ('[{"code": "01001"}, [1, 2]]', "element 2 of the array is an array"),
])
def test_a_scalar_among_the_records_is_named_not_called_no_records(instance, tmp_path, body, said):
    """DuckDB refuses a number or a string among the records as "expected records", which was
    said as "no records: ... (an empty array, or an array of plain values, has none)"."""
    path = tmp_path / "communes.json"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(IngestError) as refused:
        load(instance, path)
    assert str(refused.value) == f"communes.json: {said}: each element must be a JSON object"
