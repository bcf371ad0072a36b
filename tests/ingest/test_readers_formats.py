"""Readers of every non-CSV format: real French public files from the shared reference folder,
plus small files written here (spreadsheets by hand-built XML, geographic files with pyogrio,
Parquet with pyarrow) for what the reference files do not show.

Each test stages the reader's output into DuckDB, as the loader does, and checks row counts,
column names and types, and known values (accents included)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import zipfile
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio
import pytest
import shapely

from portail.ingest.archive import safe_extract
from portail.ingest.errors import IngestError
from portail.ingest.readers import READERS, spreadsheet
from portail.ingest.readers.geo import read_geo
from portail.ingest.readers.json import read_json, read_jsonl
from portail.ingest.readers.parquet import read_parquet
from portail.ingest.readers.spreadsheet import cell_text, read_spreadsheet
from portail.ingest.types import RawTable, ReadOptions
from portail.schema import FieldType
from portail.store.engine import connect
from tests.ingest.files import write_ods, write_xlsx

# --- helpers -------------------------------------------------------------------------------


def stage(raw: RawTable, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
    con = con or duckdb.connect()
    raw.stage(con, "staged")
    return con


def column_types(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return {row[0]: row[1] for row in con.execute("DESCRIBE staged").fetchall()}


def count(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("SELECT count(*) FROM staged").fetchone()[0]


def truncated_copy(source: Path, tmp_path: Path, fraction: float = 0.5) -> Path:
    data = source.read_bytes()
    target = tmp_path / f"truncated{source.suffix}"
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def test_registry_maps_every_format_to_its_reader():
    assert {k: READERS[k] for k in ("xlsx", "xls", "xlsb", "ods")} == dict.fromkeys(("xlsx", "xls", "xlsb", "ods"), read_spreadsheet)
    assert (READERS["json"], READERS["jsonl"]) == (read_json, read_jsonl)
    assert READERS["geojson"] is READERS["shp"] is READERS["gpkg"] is read_geo
    assert READERS["parquet"] is read_parquet


# --- spreadsheets --------------------------------------------------------------------------


def test_dgcl_epcicom_xlsx_keeps_codes_as_text_and_drops_the_trailing_empty_row(refdata):
    raw = read_spreadsheet(refdata / "excel/dgcl_epcicom_2025.xlsx", ReadOptions())
    assert raw.labels == ["dept", "siren", "raison_sociale", "nature_juridique", "mode_financ", "nb_membres",
                          "total_pop_tot", "total_pop_mun", "dep_com", "insee", "siren_membre", "nom_membre",
                          "ptot_2025", "pmun_2025"]
    assert raw.declared == {}
    assert raw.notes[:2] == ["sheet 'Epcicom2025'", "header on row 1"]
    con = stage(raw)
    # The sheet's dimension says A1:N34873: the header, 34,871 communes and one empty row.
    assert count(con) == 34871
    assert set(column_types(con).values()) == {"VARCHAR"}
    first = con.execute("SELECT dept, siren, nb_membres, insee, nom_membre FROM staged LIMIT 1").fetchone()
    assert first == ("01", "200029999", "14", "01304", "Pont-d'Ain")
    assert con.execute("SELECT count(*) FROM staged WHERE insee = '2B025' AND nom_membre = 'Avapessa'").fetchone() == (1,)
    assert con.execute("SELECT count(*) FROM staged WHERE siren LIKE '%.%' OR insee IS NULL").fetchone() == (0,)


def test_legacy_xls_skips_title_rows_and_footnotes(refdata):
    raw = read_spreadsheet(refdata / "excel/insee_fe_dod_struct_pop.xls", ReadOptions())
    # a two-row header: each age band under its group label (a count, then a percentage)
    assert raw.labels[:4] == ["Année", "", "Population au 1er janvier de 0 à 19 ans",
                              "Population au 1er janvier dont 0 à 14 ans"]
    assert raw.names[:3] == ["annee", "field_2", "population_au_1er_janvier_de_0_a_19_ans"]
    assert raw.names[8] == "repartition_par_tranche_d_ages_en_de_0_a_19_ans"
    assert ("header on rows 3 and 4, each label under a group label prefixed with it (2 row(s) above it skipped)"
            in raw.notes)
    assert "3 footnote row(s) below the table dropped" in raw.notes
    con = stage(raw)
    assert count(con) == 31  # 1991..2020, 2014 twice (without and with Mayotte)
    assert con.execute("SELECT annee, population_au_1er_janvier_de_0_a_19_ans, "
                       "repartition_par_tranche_d_ages_en_de_0_a_19_ans FROM staged LIMIT 1").fetchone() == (
        "1991", "16162383", "27.7")
    assert con.execute("SELECT list(field_2 ORDER BY field_2) FILTER (field_2 IS NOT NULL) FROM staged").fetchone()[0] == [
        "(p)", "(p)", "(p)", "hors Mayotte", "inclus Mayotte"]
    assert con.execute("SELECT count(*) FROM staged WHERE NOT regexp_full_match(annee, '[0-9]{4}')").fetchone() == (0,)


def test_a_one_cell_title_above_a_two_column_table_is_no_header(tmp_path):
    """In a table of two columns a title fills half the widest row, which the fill rule took for
    a header: the columns were named after the title and the real header loaded as a record.
    A one-cell row below the header (a value left alone) still starts no title block."""
    path = write_xlsx(tmp_path / "pop.xlsx", {"Pop": [
        ["Population légale 2021"], [None], ["commune", "population"], ["Ambérieu", 14_500], ["Ambronay", None]]})
    raw = read_spreadsheet(path, ReadOptions())
    assert (raw.labels, raw.notes[1]) == (["commune", "population"], "header on row 3 (2 row(s) above it skipped)")
    assert count(stage(raw)) == 2
    alone = write_xlsx(tmp_path / "seul.xlsx", {"Seul": [["commune", None], [None], ["Ambérieu", "14500"]]})
    assert read_spreadsheet(alone, ReadOptions()).labels[0] == "commune"


def test_filosofi_picks_the_data_sheet_and_renders_numbers_as_on_screen(refdata):
    raw = read_spreadsheet(refdata / "excel/insee_filosofi_2017_disp_iris.xlsx", ReadOptions())
    assert raw.notes[0] == "sheet 'IRIS_DISP' (of 5 sheets)"
    # SOURCES.md gives openpyxl's dimension (12,346 x 99, styled empty columns included); the
    # cells hold a header, 12,345 IRIS and 32 columns.
    assert len(raw.labels) == 32
    assert raw.labels[:2] == ["IRIS", "Libellé de l'IRIS"]
    con = stage(raw)
    assert count(con) == 12345
    row = con.execute("SELECT iris, libelle_commune_ou_arm, mediane, indice_de_gini FROM staged LIMIT 1").fetchone()
    assert row == ("010040101", "Ambérieu-en-Bugey", "19250", "0.232")  # stored as 0.23200000000000004


def test_sheet_option_by_name_and_by_index(refdata):
    path = refdata / "excel/insee_filosofi_2017_disp_iris.xlsx"
    by_name = read_spreadsheet(path, ReadOptions(sheet="Variables"))
    by_index = read_spreadsheet(path, ReadOptions(sheet=1))
    assert by_name.labels == by_index.labels == ["VAR_ID", "VAR_LIB", "VAR_LIB_LONG"]
    assert "header on row 6 (5 row(s) above it skipped)" in by_name.notes
    assert count(stage(by_index)) == 32
    with pytest.raises(IngestError) as error:
        read_spreadsheet(path, ReadOptions(sheet="Absente"))
    assert error.value.source == path.name and "'IRIS_DISP'" in error.value.message


def test_xlsx_cells_become_text_a_person_would_type(tmp_path):
    rows = [
        ["Communes de l'Ain", None, None, None, None, None, None],  # title
        [None] * 7,
        ["Code", "Nom", None, "Date", "Horodatage", "Actif", "Valeur"],
        ["01001", "Abergement-Clémenciat", None, dt.date(2024, 1, 31), dt.datetime(2024, 1, 31, 12, 30, 5), True, 1001.0],
        [None] * 7,  # empty row inside the data
        [1004, "Ambérieu-en-Bugey", None, None, None, False, 0.1 + 0.2],
        [None] * 7,
        [None] * 7,
    ]
    path = write_xlsx(tmp_path / "communes.xlsx", {"Vide": [], "Données": rows})
    raw = read_spreadsheet(path, ReadOptions())
    assert raw.labels == ["Code", "Nom", "Date", "Horodatage", "Actif", "Valeur"]  # empty column C dropped
    assert raw.notes == ["sheet 'Données' (of 2 sheets)", "header on row 3 (2 row(s) above it skipped)",
                         "1 empty row(s) dropped", "1 empty column(s) dropped"]
    con = stage(raw)
    assert con.execute("SELECT * FROM staged").fetchall() == [
        ("01001", "Abergement-Clémenciat", "2024-01-31", "2024-01-31T12:30:05", "true", "1001"),
        ("1004", "Ambérieu-en-Bugey", None, None, "false", "0.3"),
    ]
    explicit = read_spreadsheet(path, ReadOptions(sheet="Données", header_row=0))
    assert explicit.labels[0] == "Communes de l'Ain"
    with pytest.raises(IngestError):
        read_spreadsheet(path, ReadOptions(sheet="Données", header_row=99))


def test_cell_rendering_rules():
    assert [cell_text(v) for v in ("", "  ", None, "  x ", True, 7, 7.0, -0.5, 1e20, 1.5e-7, float("nan"))] == [
        None, None, None, "  x ", "true", "7", "7", "-0.5", "1e+20", "1.5e-07", "NaN"]
    assert cell_text(dt.time(8, 5, 3)) == "08:05:03"
    assert cell_text(dt.timedelta(hours=26, minutes=1)) == "26:01:00"
    assert cell_text(dt.datetime(2024, 2, 29, 0, 0)) == "2024-02-29T00:00:00"


def test_ods_sheet(tmp_path):
    path = write_ods(tmp_path / "communes.ods", [
        ["Code", "Nom", "Date", "Ok", "Population"],
        ["01001", "Abergement-Clémenciat", dt.date(2024, 1, 31), True, 776.0],
        ["2A004", "Ajaccio", dt.date(2024, 2, 1), False, 0.1],
    ])
    con = stage(read_spreadsheet(path, ReadOptions()))
    assert con.execute("SELECT * FROM staged").fetchall() == [
        ("01001", "Abergement-Clémenciat", "2024-01-31", "true", "776"),
        ("2A004", "Ajaccio", "2024-02-01", "false", "0.1"),
    ]


def test_big_sheet_streams_in_several_batches(refdata, monkeypatch):
    monkeypatch.setattr(spreadsheet, "BATCH_ROWS", 5000)
    raw = read_spreadsheet(refdata / "excel/dgcl_epcicom_2025.xlsx", ReadOptions())
    con = stage(raw)
    assert count(con) == 34871
    assert con.execute("SELECT nom_membre FROM staged WHERE insee = '01004'").fetchone() == ("Ambérieu-en-Bugey",)


@pytest.mark.parametrize("name", ["dgcl_epcicom_2025.xlsx", "insee_fe_dod_struct_pop.xls"])
def test_truncated_spreadsheet_is_an_ingest_error(refdata, tmp_path, name):
    path = truncated_copy(refdata / "excel" / name, tmp_path)
    with pytest.raises(IngestError) as error:
        read_spreadsheet(path, ReadOptions())
    assert error.value.source == path.name
    assert "spreadsheet" in error.value.message or "sheet" in error.value.message


# --- JSON ----------------------------------------------------------------------------------


def test_decp_document_records_under_marches(refdata):
    raw = read_json(refdata / "decp/decp_2019_marches-publics-info.json", ReadOptions())
    assert raw.notes[0] == "records: member 'marches' (the only array of objects)"
    assert len(raw.labels) == 25 and "lieuExecution" in raw.labels and "autoriteConcedante" in raw.labels
    assert raw.declared["acheteur"] == raw.declared["titulaires"] == raw.declared["lieuexecution"] == FieldType.JSON
    assert raw.declared["montant"] == FieldType.DOUBLE and raw.declared["dureemois"] == FieldType.INT
    assert "codecpv" not in raw.declared and "datenotification" not in raw.declared  # strings: inferred later
    con = stage(raw)
    assert count(con) == 4509
    types = column_types(con)
    assert (types["acheteur"], types["montant"], types["dureemois"], types["datenotification"]) == (
        "VARCHAR", "DOUBLE", "BIGINT", "VARCHAR")
    first = con.execute("SELECT json_extract_string(acheteur, '$.nom'), codecpv, dureemois, datepublicationdonnees "
                        "FROM staged LIMIT 1").fetchone()
    assert first == ("Communauté d'Agglomération du Pays Ajaccien", "90513500", 48, "2019-01-16")
    assert con.execute("SELECT count(*) FROM staged WHERE NOT json_valid(titulaires)").fetchone() == (0,)


def test_decp_e_marchespublics(refdata):
    raw = read_json(refdata / "decp/decp_2019_e-marchespublics.json", ReadOptions(json_path="marches"))
    assert raw.notes[0] == "records: array at 'marches'"
    assert raw.declared["montant"] == FieldType.INT
    con = stage(raw)
    assert count(con) == 470
    assert con.execute("SELECT json_extract_string(acheteur, '$.nom'), montant FROM staged LIMIT 1").fetchone() == (
        "SDIS de la Vendée", 80000)


def test_json_array_types_and_union_of_keys(tmp_path):
    path = tmp_path / "communes.json"
    path.write_text(json.dumps([
        {"code": "01001", "nom": "Abergement-Clémenciat", "pop": 776, "part": 0.5, "ok": True, "date": "2024-01-31",
         "geo": {"lat": 46.15}, "tags": [1, 2], "mixte": 12},
        {"code": "2A004", "nom": "Ajaccio", "pop": None, "part": 1, "ok": False, "date": "2024-02-01",
         "geo": {"lat": 41.9, "lon": 8.7}, "tags": [], "mixte": "douze", "tardif": "x"},
    ], ensure_ascii=False), encoding="utf-8")
    raw = read_json(path, ReadOptions())
    assert raw.labels == ["code", "nom", "pop", "part", "ok", "date", "geo", "tags", "mixte", "tardif"]
    assert raw.declared == {"pop": FieldType.INT, "part": FieldType.DOUBLE, "ok": FieldType.BOOLEAN,
                            "geo": FieldType.JSON, "tags": FieldType.JSON}
    con = stage(raw)
    assert con.execute("SELECT * FROM staged ORDER BY code").fetchall() == [
        ("01001", "Abergement-Clémenciat", 776, 0.5, True, "2024-01-31", '{"lat":46.15}', "[1,2]", "12", None),
        ("2A004", "Ajaccio", None, 1.0, False, "2024-02-01", '{"lat":41.9,"lon":8.7}', "[]", "douze", "x"),
    ]


def test_json_path_to_a_nested_array(tmp_path):
    path = tmp_path / "export.json"
    path.write_text('{"meta": {"version": 2}, "data": {"items": [{"code": "01001", "n": 1}, {"code": "2A004", "n": 2}]}}')
    raw = read_json(path, ReadOptions(json_path="data.items"))
    assert (raw.names, raw.declared) == (["code", "n"], {"n": FieldType.INT})
    assert stage(raw).execute("SELECT * FROM staged").fetchall() == [("01001", 1), ("2A004", 2)]
    with pytest.raises(IngestError, match="not found"):
        read_json(path, ReadOptions(json_path="data.absent"))
    with pytest.raises(IngestError, match="set json_path") as error:
        read_json(path, ReadOptions())  # no member at the top is an array of objects
    assert error.value.source == "export.json"


def test_jsonl_with_blank_lines(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"id": 1, "lieu": "Orléans"}\n\n{"id": 2, "lieu": "Béziers", "extra": {"k": [1]}}\n   \n'
                    '{"id": 3}\n', encoding="utf-8")
    raw = read_jsonl(path, ReadOptions())
    assert raw.labels == ["id", "lieu", "extra"] and raw.declared == {"id": FieldType.INT, "extra": FieldType.JSON}
    assert stage(raw).execute("SELECT * FROM staged ORDER BY id").fetchall() == [
        (1, "Orléans", None), (2, "Béziers", '{"k":[1]}'), (3, None, None)]


def test_malformed_jsonl_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": 1}\n{"id": 2}\n{"id": 3, "x": [1, 2}\n{"id": 4}\n')
    with pytest.raises(IngestError) as error:
        read_jsonl(path, ReadOptions())
    assert (error.value.source, error.value.line) == ("bad.jsonl", 3)


@pytest.mark.parametrize("name", ["decp_2019_marches-publics-info.json", "decp_2019_e-marchespublics.json"])
def test_truncated_json_is_an_ingest_error_with_its_line(refdata, tmp_path, name):
    source = refdata / "decp" / name
    path = truncated_copy(source, tmp_path)
    with pytest.raises(IngestError) as error:
        read_json(path, ReadOptions())
    assert error.value.source == path.name
    assert error.value.line == path.read_bytes().count(b"\n") + 1  # the end of the cut file
    assert "malformed JSON" in error.value.message


def test_json_without_records_is_refused(tmp_path):
    path = tmp_path / "values.json"
    for text, reason in (("[]", "no records"), ("[1, 2, 3]", "no records"), ("nothing", "not a JSON document"),
                         ("", "empty")):
        path.write_text(text)
        with pytest.raises(IngestError, match=reason):
            read_json(path, ReadOptions())
    path = tmp_path / "values.jsonl"
    path.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(IngestError, match="must be a JSON object") as error:
        read_jsonl(path, ReadOptions())
    assert error.value.line == 2


def test_feature_collection_named_json_goes_to_the_geo_reader(refdata, tmp_path):
    path = tmp_path / "regions.json"
    path.write_bytes((refdata / "geo/regions-version-simplifiee.geojson").read_bytes())
    raw = read_json(path, ReadOptions())
    assert raw.names == ["code", "nom", "geo_shape"]
    assert count(stage(raw)) == 13


# --- geographic files ----------------------------------------------------------------------

GEOJSON_FEATURES = {
    "arrondissements-version-simplifiee.geojson": 320,
    "communes-france-comleg-2017.geojson": 35456,
    "communes-france-simplifiee-derivee.geojson": 35357,
    "communes-ile-de-france.geojson": 1276,
    "departements-version-simplifiee.geojson": 96,
    "departements.geojson": 96,
    "epci-france-2025-derivee.geojson": 1255,
    "regions-version-simplifiee.geojson": 13,
    "regions.geojson": 13,
}


def test_every_reference_geojson_is_listed(refdata):
    assert {p.name for p in (refdata / "geo").glob("*.geojson")} == set(GEOJSON_FEATURES)


@pytest.fixture(scope="module")
def reference_geojson():
    """``reference_geojson(path)``: the reader's table of a reference GeoJSON and a connection
    where it is staged, each file read once for the module (the commune contours, read by two
    tests, ~2 s each time); the tests only query them."""
    read: dict[Path, tuple[RawTable, duckdb.DuckDBPyConnection]] = {}

    def staged(path: Path) -> tuple[RawTable, duckdb.DuckDBPyConnection]:
        if path not in read:
            raw = read_geo(path, ReadOptions())
            read[path] = raw, stage(raw, connect())
        return read[path]

    yield staged
    for _, con in read.values():
        con.close()


@pytest.mark.parametrize("name", sorted(GEOJSON_FEATURES))
def test_reference_geojson(refdata, name, reference_geojson):
    raw, con = reference_geojson(refdata / "geo" / name)
    assert raw.names[-1] == "geo_shape" and raw.labels[-1] == "Geo Shape"
    assert raw.declared["geo_shape"] == FieldType.GEO_SHAPE and "geo_point_2d" not in raw.names
    assert f"{GEOJSON_FEATURES[name]} features" in raw.notes
    assert count(con) == GEOJSON_FEATURES[name]
    assert column_types(con)["geo_shape"] == "BLOB"
    # WKB in WGS84: every shape lies in France (overseas included) in longitude/latitude order.
    xmin, ymin, xmax, ymax = con.execute(
        "SELECT min(ST_XMin(g)), min(ST_YMin(g)), max(ST_XMax(g)), max(ST_YMax(g)) "
        "FROM (SELECT ST_GeomFromWKB(geo_shape) g FROM staged)").fetchone()
    assert -62 < xmin and xmax < 56 and -22 < ymin and ymax < 52
    assert con.execute("SELECT count(*) FROM staged WHERE geo_shape IS NULL").fetchone() == (0,)


def test_comleg_ignores_headers_member_and_keeps_insee_as_text(refdata, reference_geojson):
    raw, con = reference_geojson(refdata / "geo" / "communes-france-comleg-2017.geojson")
    assert raw.names == ["insee", "geo_shape"] and "insee" not in raw.declared
    assert column_types(con)["insee"] == "VARCHAR"
    assert con.execute("SELECT count(*) FROM staged WHERE insee IN ('01001', '2A004')").fetchone() == (2,)


def test_geojson_attribute_types(refdata):
    raw = read_geo(refdata / "geo/epci-france-2025-derivee.geojson", ReadOptions())
    assert raw.declared == {"nb_communes_2018": FieldType.INT, "geo_shape": FieldType.GEO_SHAPE}
    con = stage(raw)
    assert con.execute("SELECT nom, nb_communes_2018 FROM staged WHERE siren = '200000172'").fetchone() == (
        "CC Faucigny - Glières", 8)


def _lambert93_points(folder: Path, *, cpg: bool, prj: bool = True) -> Path:
    """Points in Lambert-93 with a Latin-1 DBF: the projection origin and the parvis of Notre-Dame."""
    table = pa.table({
        "nom": ["Origine Lambert-93", "Cathédrale Notre-Dame"],
        "code": ["00000", "75104"],
        "visites": pa.array([0, 12000000], pa.int64()),
        "geometry": pa.array(shapely.to_wkb(shapely.points([[700000, 6600000], [652469, 6861570]])), pa.binary()),
    })
    folder.mkdir(parents=True, exist_ok=True)
    shp = folder / "lieux.shp"
    pyogrio.write_arrow(table, shp, geometry_name="geometry", geometry_type="Point", crs="EPSG:2154",
                        encoding="ISO-8859-1")
    assert b"Cath\xe9drale" in (folder / "lieux.dbf").read_bytes()  # really Latin-1 on disk
    if not cpg:
        (folder / "lieux.cpg").unlink()
    if not prj:
        (folder / "lieux.prj").unlink()
    return shp


def _zip_folder(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for file in sorted(folder.iterdir()):
            z.write(file, f"lieux/{file.name}")
    return target


def test_zipped_lambert93_shapefile_without_cpg_is_reprojected_and_decoded(tmp_path):
    shp = _lambert93_points(tmp_path / "src", cpg=False)
    archive = _zip_folder(shp.parent, tmp_path / "lieux.zip")
    raw = read_geo(archive, ReadOptions())
    assert raw.notes[:3] == ["archive member 'lieux/lieux.shp'", "DBF encoding CP1252 (detected: no .cpg)",
                             "reprojected from EPSG:2154 to WGS84 (EPSG:4326)"]
    assert raw.names == ["nom", "code", "visites", "geo_shape", "geo_point_2d"]
    assert raw.declared == {"visites": FieldType.INT, "geo_shape": FieldType.GEO_SHAPE,
                            "geo_point_2d": FieldType.GEO_POINT_2D}
    assert len(raw.cleanup) == 1 and (raw.cleanup[0] / "lieux/lieux.shp").exists()
    try:
        con = stage(raw, connect())
    finally:
        shutil.rmtree(raw.cleanup[0])
    rows = con.execute("SELECT nom, code, visites, ST_X(ST_GeomFromWKB(geo_shape)), ST_Y(ST_GeomFromWKB(geo_shape)), "
                       "ST_AsText(ST_GeomFromWKB(geo_point_2d)) = ST_AsText(ST_GeomFromWKB(geo_shape)) "
                       "FROM staged ORDER BY visites").fetchall()
    origin, notre_dame = rows
    # Lambert-93 is defined with (700000, 6600000) at 3°E 46.5°N.
    assert origin[:3] == ("Origine Lambert-93", "00000", 0)
    assert origin[3:5] == pytest.approx((3.0, 46.5), abs=1e-9)
    assert notre_dame[0] == "Cathédrale Notre-Dame"
    assert notre_dame[3:5] == pytest.approx((2.3499, 48.8530), abs=3e-3)  # within ~200 m of the cathedral
    assert origin[5] and notre_dame[5]


def test_shapefile_with_cpg_and_siblings(tmp_path):
    shp = _lambert93_points(tmp_path / "src", cpg=True)
    raw = read_geo(shp, ReadOptions())
    assert "DBF encoding 'ISO-8859-1' (from .cpg)" in raw.notes and raw.cleanup == []
    con = stage(raw)
    assert con.execute("SELECT nom FROM staged WHERE code = '75104'").fetchone() == ("Cathédrale Notre-Dame",)


def test_shapefile_without_prj_and_projected_coordinates_is_refused(tmp_path):
    shp = _lambert93_points(tmp_path / "src", cpg=True, prj=False)
    raw = read_geo(shp, ReadOptions())
    with pytest.raises(IngestError) as error:
        stage(raw)
    assert error.value.source == "lieux.shp" and "no coordinate system" in error.value.message
    assert error.value.message.startswith("feature 1:")


def test_geojson_coordinates_outside_longitude_latitude_are_refused(tmp_path):
    """GeoJSON declares WGS84 by definition: [500, -200] is no place (it was published)."""
    path = tmp_path / "far.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"nom": "ici"}, "geometry": {"type": "Point", "coordinates": [2.35, 48.85]}},
        {"type": "Feature", "properties": {"nom": "nulle part"}, "geometry": {"type": "Point", "coordinates": [500, -200]}},
    ]}))
    with pytest.raises(IngestError) as error:
        stage(read_geo(path, ReadOptions()))
    assert error.value.message == "feature 2: coordinates outside longitude -180..180 and latitude -90..90"


def test_a_zipped_shapefile_without_its_dbf_is_refused(tmp_path):
    """GDAL reads the shapes alone: every attribute was lost without a word."""
    from portail.ingest.detect import detect_format

    shp = _lambert93_points(tmp_path / "src", cpg=True)
    shp.with_suffix(".dbf").unlink()
    with pytest.raises(IngestError, match="without its .dbf"):
        detect_format(_zip_folder(shp.parent, tmp_path / "lieux.zip"), ReadOptions())


def test_geopackage_layers_and_typed_attributes(tmp_path):
    path = tmp_path / "territoires.gpkg"
    squares = shapely.to_wkb([shapely.box(2.0, 48.0, 2.5, 48.5), shapely.box(4.8, 45.7, 4.9, 45.8)])
    communes = pa.table({
        "nom": ["Île-Saint-Denis", "Lyon"], "code": ["93039", "69123"],
        "creation": pa.array([dt.date(1790, 1, 1), None], pa.date32()),
        "maj": pa.array([dt.datetime(2024, 1, 31, 10, 0), dt.datetime(2024, 2, 1, 8, 0)], pa.timestamp("ms")),
        "part": [0.25, 1.5], "actif": [True, False],
        "geometry": pa.array(squares, pa.binary()),
    })
    pyogrio.write_arrow(communes, path, layer="communes", geometry_name="geometry", geometry_type="Polygon",
                        crs="EPSG:4326")
    stations = pa.table({"nom": ["Gare de Lyon"], "geometry": pa.array(
        shapely.to_wkb(shapely.points([[653940, 6860920]])), pa.binary())})
    pyogrio.write_arrow(stations, path, layer="gares", geometry_name="geometry", geometry_type="Point",
                        crs="EPSG:2154", append=False)

    raw = read_geo(path, ReadOptions())
    assert raw.notes[0] == "layer 'communes' (of 2: communes, gares)"
    assert raw.names == ["nom", "code", "creation", "maj", "part", "actif", "geo_shape"]
    assert raw.declared == {"creation": FieldType.DATE, "maj": FieldType.DATETIME, "part": FieldType.DOUBLE,
                            "actif": FieldType.BOOLEAN, "geo_shape": FieldType.GEO_SHAPE}
    con = stage(raw, connect())
    assert con.execute("SELECT nom, code, creation, part, actif, ST_XMin(ST_GeomFromWKB(geo_shape)) FROM staged "
                       "ORDER BY code").fetchall() == [
        ("Lyon", "69123", None, 1.5, False, 4.8), ("Île-Saint-Denis", "93039", dt.date(1790, 1, 1), 0.25, True, 2.0)]

    gares = read_geo(path, ReadOptions(layer="gares"))
    assert gares.names == ["nom", "geo_shape", "geo_point_2d"]
    lon, lat = stage(gares, connect()).execute(
        "SELECT ST_X(ST_GeomFromWKB(geo_point_2d)), ST_Y(ST_GeomFromWKB(geo_point_2d)) FROM staged").fetchone()
    assert (lon, lat) == pytest.approx((2.37, 48.84), abs=0.01)
    with pytest.raises(IngestError, match="layer 'absente' not found"):
        read_geo(path, ReadOptions(layer="absente"))


def test_a_one_layer_file_is_not_opened_again_to_list_its_layers(refdata, tmp_path, monkeypatch):
    """GDAL parses a GeoJSON whole at each opening: a GeoJSON or a Shapefile, which hold one
    layer, is read without listing its layers (a layer asked for that is not there still reads
    the one there is), where a GeoPackage's layers are listed to choose among them."""
    listed: list[str] = []
    list_layers = pyogrio.list_layers
    monkeypatch.setattr(pyogrio, "list_layers", lambda path, *a, **k: listed.append(Path(path).suffix) or
                        list_layers(path, *a, **k))
    for path, layer in ((refdata / "geo" / "regions.geojson", None), (_lambert93_points(tmp_path / "shp", cpg=True), "autre")):
        raw = read_geo(path, ReadOptions(layer=layer))
        assert not [note for note in raw.notes if note.startswith("layer ")] and count(stage(raw)) > 0
    assert listed == []
    path = tmp_path / "deux.gpkg"
    for name in ("premier", "second"):
        pyogrio.write_arrow(pa.table({"nom": [name], "geometry": pa.array(shapely.to_wkb([shapely.points(2.3, 48.8)]),
                                                                         pa.binary())}),
                            path, layer=name, geometry_name="geometry", geometry_type="Point", crs="EPSG:4326")
    assert read_geo(path, ReadOptions(layer="second")).notes[0] == "layer 'second' (of 2: premier, second)"
    assert listed == [".gpkg"]


def test_truncated_geojson_is_an_ingest_error_with_its_line(refdata, tmp_path):
    path = truncated_copy(refdata / "geo/communes-france-comleg-2017.geojson", tmp_path, 0.9)
    with pytest.raises(IngestError) as error:
        read_geo(path, ReadOptions())
    assert error.value.source == path.name and "truncated" in error.value.message
    assert error.value.line == path.read_bytes().count(b"\n") + 1


def test_truncated_geopackage_and_zip_are_ingest_errors(tmp_path):
    shp = _lambert93_points(tmp_path / "src", cpg=True)
    archive = _zip_folder(shp.parent, tmp_path / "lieux.zip")
    path = tmp_path / "layer.gpkg"
    pyogrio.write_arrow(pa.table({"n": list(range(2000)), "geometry": pa.array(
        shapely.to_wkb(shapely.points([[i / 1000, 45.0] for i in range(2000)])), pa.binary())}),
        path, geometry_name="geometry", geometry_type="Point", crs="EPSG:4326")
    for source in (archive, path):
        cut = truncated_copy(source, tmp_path, 0.4)
        with pytest.raises(IngestError) as error:
            stage(read_geo(cut, ReadOptions()))
        assert error.value.source == cut.name


def test_zip_bomb_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temp"))
    (tmp_path / "temp").mkdir()
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("lieux.shp", b"\0" * 100)
        z.writestr("lieux.dbf", b"\0" * (4 << 20))
    with pytest.raises(IngestError, match="zip bomb") as error:
        read_geo(archive, ReadOptions(max_zip_ratio=50))
    assert error.value.source == "bomb.zip" and "lieux.dbf" in error.value.message
    assert list((tmp_path / "temp").iterdir()) == []  # the extraction folder is gone, nothing was written
    with pytest.raises(IngestError, match="expands to"):
        safe_extract(archive, tmp_path, ReadOptions(max_unzipped_bytes=1 << 20, max_zip_ratio=10**6))


@pytest.mark.parametrize("member", ["../evil.shp", "/tmp/evil.shp", "a/../../evil.shp", "C:/evil.shp"])
def test_zip_path_traversal_is_refused(tmp_path, member):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(member, b"x")
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(IngestError, match="path traversal"):
        safe_extract(archive, dest, ReadOptions())
    assert list(dest.iterdir()) == [] and not (tmp_path / "evil.shp").exists()


def test_safe_extract_returns_the_files(tmp_path):
    shp = _lambert93_points(tmp_path / "src", cpg=True)
    archive = _zip_folder(shp.parent, tmp_path / "lieux.zip")
    dest = tmp_path / "out"
    dest.mkdir()
    files = safe_extract(archive, dest, ReadOptions())
    assert sorted(f.name for f in files) == ["lieux.cpg", "lieux.dbf", "lieux.prj", "lieux.shp", "lieux.shx"]
    assert all(f.parent == dest / "lieux" and f.stat().st_size > 0 for f in files)


# --- Parquet -------------------------------------------------------------------------------


def test_parquet_types_are_declared_and_codes_stay_text(tmp_path):
    path = tmp_path / "communes.parquet"
    pq.write_table(pa.table({
        "code": ["01001", "2A004"], "Libellé": ["Abergement-Clémenciat", "Ajaccio"],
        "pop": pa.array([776, 68916], pa.int32()), "part": [0.5, None],
        "montant": pa.array([Decimal("12.50"), None], pa.decimal128(10, 2)),
        "jour": [dt.date(2024, 1, 31), None], "maj": [dt.datetime(2024, 1, 31, 10, 0), None],
        "ok": [True, False], "tags": [["a"], []], "bin": [b"\x00\x01", None],
    }), path)
    raw = read_parquet(path, ReadOptions())
    assert raw.labels[1] == "Libellé" and raw.names[1] == "libelle"
    assert raw.declared == {"code": FieldType.TEXT, "libelle": FieldType.TEXT, "pop": FieldType.INT,
                            "part": FieldType.DOUBLE, "montant": FieldType.DOUBLE, "jour": FieldType.DATE,
                            "maj": FieldType.DATETIME, "ok": FieldType.BOOLEAN, "tags": FieldType.JSON,
                            "bin": FieldType.TEXT}
    con = stage(raw)
    assert column_types(con)["pop"] == "BIGINT" and column_types(con)["maj"] == "TIMESTAMP"
    assert con.execute("SELECT * FROM staged ORDER BY code").fetchall() == [
        ("01001", "Abergement-Clémenciat", 776, 0.5, 12.5, dt.date(2024, 1, 31), dt.datetime(2024, 1, 31, 10, 0),
         True, '["a"]', "AAE="),
        ("2A004", "Ajaccio", 68916, None, None, None, None, False, "[]", None),
    ]


def test_geoparquet_in_lambert93_is_reprojected(tmp_path):
    from pyproj import CRS

    path = tmp_path / "lieux.parquet"
    table = pa.table({"nom": ["Origine"], "geometry": pa.array(shapely.to_wkb(shapely.points([[700000, 6600000]])),
                                                                pa.binary())})
    geo = {"version": "1.0.0", "primary_column": "geometry",
           "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"],
                                    "crs": json.loads(CRS.from_epsg(2154).to_json())}}}
    pq.write_table(table.replace_schema_metadata({"geo": json.dumps(geo)}), path)
    raw = read_parquet(path, ReadOptions())
    assert raw.declared == {"nom": FieldType.TEXT, "geometry": FieldType.GEO_SHAPE}
    con = stage(raw, connect())
    assert con.execute("SELECT ST_X(ST_GeomFromWKB(geometry)), ST_Y(ST_GeomFromWKB(geometry)) FROM staged"
                       ).fetchone() == pytest.approx((3.0, 46.5), abs=1e-9)


def test_truncated_parquet_is_an_ingest_error(tmp_path):
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"n": list(range(10000))}), path)
    cut = truncated_copy(path, tmp_path)
    with pytest.raises(IngestError) as error:
        read_parquet(cut, ReadOptions())
    assert error.value.source == cut.name and "Parquet" in error.value.message
