"""Dataset exports over HTTP, read back with independent readers."""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from datetime import date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import Published, logements_file, published_instance

URL = "/api/explore/v2.1/catalog/datasets/logements/exports"


def geo_file(response, fmt: str, tmp_path: Path) -> Path:
    """An export written where GDAL reads it: a shapefile's zip (all its parts) unpacked."""
    if fmt != "shp":
        path = tmp_path / f"out.{fmt}"
        path.write_bytes(response.content)
        return path
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert {n.rsplit(".", 1)[1] for n in archive.namelist()} >= {"shp", "shx", "dbf", "prj"}
        archive.extractall(tmp_path)
    return next(tmp_path.glob("*.shp"))


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    path = tmp_path_factory.mktemp("src") / "f.csv"
    path.write_text("nom;valeur\n=HYPERLINK(\"http://evil\");-3\n+33 1 23;4\n@SUM(A1);5\nnormal;6\n")
    labelled = tmp_path_factory.mktemp("src") / "lab.csv"
    labelled.write_text("code;tags;note;lat\n01;=a,+b,c;texte;48.85\n02;x,y;-12;48.86\n03;;;48.87\n")
    places = tmp_path_factory.mktemp("src") / "lieux.csv"
    places.write_text("nom;geo_point_2d;ouverture;releve\nmairie;48.8566,2.3522;1900-01-01;1900-01-01T10:30:00+00:00\n"
                      "sans lieu;;2024-03-01;2024-03-01T12:00:00+00:00\ngare;48.8443,2.3744;;\n")
    instance = published_instance(tmp_path_factory.mktemp("exports") / "home",
                                  Published("logements", logements_file(refdata), "Logements sociaux"),
                                  Published("formules", path, "Formules"),
                                  Published("lieux", places, "Lieux", labels={"nom": "Nom du lieu"}),
                                  Published("regions", refdata / "geo" / "regions.geojson", "Régions"),
                                  Published("lab", labelled, "Labels", annotations={"tags": {"multivalued": [","]}},
                                            labels={"code": '=HYPERLINK("http://evil")', "note": "Note", "lat": "Note"}))
    yield TestClient(create_app(instance))
    instance.store.close()


def test_listing(client):
    links = client.get(URL).json()["links"]
    assert {link["rel"] for link in links} >= {"self", "csv", "json", "jsonl", "geojson", "parquet", "xlsx", "shp", "kml", "gpx", "fgb"}
    # no geo field: no geo format (each answers 400)
    links = client.get("/api/explore/v2.1/catalog/datasets/formules/exports").json()["links"]
    rels = {link["rel"] for link in links}
    assert {"csv", "json", "jsonl", "parquet", "xlsx"} <= rels and not rels & {"geojson", "shp", "kml", "gpx", "fgb"}


def test_csv_defaults_like_opendatasoft(client):
    response = client.get(f"{URL}/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="logements.csv"'
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text[1:]), delimiter=";"))
    assert len(rows) == 4174
    first = next(r for r in rows if r["id_livraison"] == "2000011")
    assert first["code_postal"] == "75012" and first["geo_point_2d"].startswith("48.83")
    assert json.loads(first["geo_shape"])["type"] == "Point"


def test_csv_options(client):
    text = client.get(f"{URL}/csv", params={"delimiter": ",", "with_bom": False, "quote_all": True, "use_labels": True,
                                            "select": "code_postal,annee", "limit": 2}).text
    lines = text.strip().split("\r\n")
    assert lines[0] == '"code_postal","annee"' and len(lines) == 3


def test_formula_injection_is_neutralised(client):
    text = client.get("/api/explore/v2.1/catalog/datasets/formules/exports/csv", params={"with_bom": False}).text
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert [r[0] for r in rows[1:]] == ["'=HYPERLINK(\"http://evil\")", "'+33 1 23", "'@SUM(A1)", "normal"]
    assert [r[1] for r in rows[1:]] == ["-3", "4", "5", "6"]  # numbers are numbers, not formulas


def test_json_jsonl_geojson(client):
    records = client.get(f"{URL}/json").json()
    assert isinstance(records, list) and len(records) == 4174
    assert set(records[0]["geo_point_2d"]) == {"lon", "lat"}
    lines = client.get(f"{URL}/jsonl", params={"limit": 10}).text.strip().split("\n")
    assert len(lines) == 10 and json.loads(lines[0])["ville"] == "Paris"
    collection = client.get(f"{URL}/geojson").json()
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 4174
    feature = collection["features"][0]
    assert feature["geometry"]["type"] == "Point" and "geo_shape" not in feature["properties"]


def test_parquet_and_xlsx(client):
    table = pq.read_table(io.BytesIO(client.get(f"{URL}/parquet", params={"parquet_compression": "zstd"}).content))
    assert table.num_rows == 4174 and table.schema.field("annee").type == "int64"
    assert table.schema.field("code_postal").type == "string"
    from python_calamine import CalamineWorkbook

    workbook = CalamineWorkbook.from_filelike(io.BytesIO(client.get(f"{URL}/xlsx").content))
    rows = workbook.get_sheet_by_index(0).to_python()
    assert len(rows) == 4175 and rows[0][2] == "code_postal" and rows[1][2] == "75012"


@pytest.mark.parametrize("fmt", ["shp", "kml", "gpx", "fgb"])
def test_geo_formats_read_back(client, fmt, tmp_path):
    import pyogrio

    response = client.get(f"{URL}/{fmt}", params={"select": "id_livraison,annee,geo_point_2d", "limit": 50})
    assert response.status_code == 200, response.text
    path = geo_file(response, fmt, tmp_path)
    info = pyogrio.read_info(path, layer=0 if fmt != "gpx" else "waypoints", force_feature_count=True,
                             force_total_bounds=True)
    assert info["features"] == 50
    x_min, y_min, x_max, y_max = info["total_bounds"]
    assert 2.2 < x_min < x_max < 2.5 and 48.8 < y_min < y_max < 48.95


def test_reprojected_export(client, tmp_path):
    import pyogrio

    response = client.get(f"{URL}/fgb", params={"limit": 5, "epsg": 2154})
    path = tmp_path / "l93.fgb"
    path.write_bytes(response.content)
    x_min, y_min, *_ = pyogrio.read_info(path)["total_bounds"]
    assert 640_000 < x_min < 670_000 and 6_850_000 < y_min < 6_875_000  # Lambert-93 metres around Paris
    assert client.get(f"{URL}/fgb", params={"epsg": 999999}).status_code == 400


def test_compressed_and_errors(client):
    response = client.get(f"{URL}/jsonl", params={"compressed": True, "limit": 3})
    assert response.headers["content-disposition"].endswith('.jsonl.gzip"')
    assert len(gzip.decompress(response.content).decode().strip().split("\n")) == 3
    assert client.get(f"{URL}/docx").status_code == 404
    no_geo = client.get("/api/explore/v2.1/catalog/datasets/formules/exports/geojson")
    assert no_geo.status_code == 400 and no_geo.json()["error_code"] == "InvalidRESTParameterError"
    assert client.get(f"{URL}/csv", params={"delimiter": "x"}).status_code == 400


def test_xlsx_beyond_one_sheet_goes_on_in_the_next():
    """An Excel sheet holds 1,048,576 rows: a bigger export continues in further sheets instead
    of losing records (checked with a small sheet; the default is Excel's limit)."""
    import pyarrow as pa
    from python_calamine import CalamineWorkbook

    from portail.exports import formats
    from portail.schema import Field, FieldType

    assert formats.ExportOptions().xlsx_sheet_rows == 1_048_576
    fields = [Field("n", "N", FieldType.INT)]
    batches = [pa.record_batch([pa.array(range(i, i + 4))], names=["n"]) for i in range(0, 12, 4)]
    options = formats.ExportOptions(xlsx_sheet_rows=6)  # header + 5 records per sheet
    data = b"".join(formats.write_xlsx(fields, iter(batches), options))
    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    sheets = [book.get_sheet_by_index(i).to_python() for i in range(len(book.sheet_names))]
    assert book.sheet_names == ["export", "export (2)", "export (3)"]
    assert all(sheet[0] == ["n"] for sheet in sheets)
    assert [int(v) for sheet in sheets for (v,) in sheet[1:]] == list(range(12))


SUMS = {"select": "annee,sum(nb_logmt_total) as n,sum(nb_logmt_total-1000000) as neg", "group_by": "annee",
        "order_by": "annee", "limit": 3}


def test_integer_sums_are_numbers_like_records(client):
    """A sum of integers is a HUGEINT in the engine, a Decimal in Python: written as a number,
    as /records writes it, not a string (JSON), a text cell (XLSX) or a decimal128 (Parquet)."""
    from python_calamine import CalamineWorkbook

    records = client.get(URL.replace("/exports", "/records"), params=SUMS).json()["results"]
    assert isinstance(records[0]["n"], int) and records[0]["neg"] < 0
    assert client.get(f"{URL}/json", params=SUMS).json() == records
    assert [json.loads(line) for line in client.get(f"{URL}/jsonl", params=SUMS).text.splitlines()] == records
    table = pq.read_table(io.BytesIO(client.get(f"{URL}/parquet", params=SUMS).content))
    assert str(table.schema.field("n").type) == "int64" and table.to_pylist() == records
    rows = CalamineWorkbook.from_filelike(io.BytesIO(client.get(f"{URL}/xlsx", params=SUMS).content)) \
        .get_sheet_by_index(0).to_python()
    assert rows[1] == [records[0]["annee"], records[0]["n"], records[0]["neg"]]  # numbers, no "'" before a minus


@pytest.mark.parametrize("fmt", ["shp", "kml", "gpx", "fgb"])
def test_geo_formats_take_integer_sums(client, fmt, tmp_path):
    """GDAL refuses a decimal of precision 38: such a column failed after the 200 was sent."""
    import pyogrio

    params = {"select": "annee,sum(nb_logmt_total) as n,envelope(geo_point_2d) as env", "group_by": "annee", "limit": 3}
    response = client.get(f"{URL}/{fmt}", params=params)
    assert response.status_code == 200 and response.content
    path = geo_file(response, fmt, tmp_path)
    frame = pyogrio.read_dataframe(path, layer="waypoints" if fmt == "gpx" else None)
    records = client.get(URL.replace("/exports", "/records"), params={**params, "select": "annee,sum(nb_logmt_total) as n"})
    sums = {r["annee"]: r["n"] for r in records.json()["results"]}
    written = frame["ogr_n" if fmt == "gpx" else "n"]
    assert sorted(int(v) for v in written) == sorted(sums.values())  # KML holds every attribute as text


@pytest.mark.parametrize("fmt", ["shp", "kml", "gpx", "fgb"])
def test_empty_geo_exports_are_empty_layers(client, fmt, tmp_path):
    """No batch comes for an empty result: the file was never created (KML, GPX, FGB aborted
    after the 200) or the zip held no member (SHP)."""
    import pyogrio

    response = client.get(f"{URL}/{fmt}", params={"select": "id_livraison,annee,geo_point_2d", "where": "annee = 1"})
    assert response.status_code == 200
    path = geo_file(response, fmt, tmp_path)
    info = pyogrio.read_info(path, layer="waypoints" if fmt == "gpx" else None, force_feature_count=True)
    assert info["features"] == 0
    # KML and GPX declare attributes with their placemarks and waypoints only
    assert fmt in ("kml", "gpx") or {"id_livrais", "annee"} <= {name.removeprefix("ogr_")[:10] for name in info["fields"]}


def test_empty_parquet_keeps_its_types(client):
    def schema(where: str):
        return pq.read_schema(io.BytesIO(client.get(f"{URL}/parquet", params={"where": where, "limit": 1}).content))

    empty, full = schema("annee = 1"), schema("annee > 1")
    assert empty.equals(full), (empty, full)
    assert str(empty.field("annee").type) == "int64"


def test_shapefile_names_cut_to_ten_characters_stay_distinct(client, tmp_path):
    import pyogrio

    params = {"select": "id_livraison,nb_logmt_total,nb_logmt_total*2 as nb_logmt_total_double,geo_point_2d",
              "where": "id_livraison = '2000011'"}
    zipfile.ZipFile(io.BytesIO(client.get(f"{URL}/shp", params=params).content)).extractall(tmp_path)
    frame = pyogrio.read_dataframe(next(tmp_path.glob("*.shp")))
    assert list(frame.columns) == ["id_livrais", "nb_logmt_t", "nb_logmt_2", "geometry"]
    assert (frame["nb_logmt_t"][0], frame["nb_logmt_2"][0]) == (62, 124)


def test_xlsx_leaves_cells_beyond_excel_limit_empty_with_a_comment(client):
    """Excel holds 32,767 characters a cell: each region's shape is longer, and was cut there
    into text that is no GeoJSON; it is left out, its cell saying why in a comment."""
    from python_calamine import CalamineWorkbook

    url = "/api/explore/v2.1/catalog/datasets/regions/exports/xlsx"
    data = client.get(url, params={"select": "code,nom,geo_shape", "order_by": "code"}).content
    rows = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python()
    assert rows[0] == ["code", "nom", "geo_shape"] and len(rows) == 14
    assert rows[1][:2] == ["11", "Île-de-France"] and all(row[2] == "" for row in rows[1:])
    comments = zipfile.ZipFile(io.BytesIO(data)).read("xl/comments1.xml").decode()
    assert comments.count("<comment ") == 13 and 'ref="C2"' in comments
    assert "beyond the 32,767 an Excel cell holds" in comments


LAB = "/api/explore/v2.1/catalog/datasets/lab/exports"


def test_shared_labels_stay_distinct_keys(client):
    """Two fields labelled "Note": JSON kept the last, Parquet readers refused the file."""
    records = client.get(f"{LAB}/json", params={"use_labels": True}).json()
    assert records[0]["Note (note)"] == "texte" and records[0]["Note (lat)"] == 48.85
    table = pq.read_table(io.BytesIO(client.get(f"{LAB}/parquet", params={"use_labels": True}).content))
    assert table.column("Note (note)").to_pylist()[0] == "texte"
    header = client.get(f"{LAB}/csv", params={"use_labels": True, "with_bom": False}).text.split("\r\n")[0]
    assert header.endswith(";Note (note);Note (lat)")


def test_formula_neutralisation_covers_line_feeds_spaces_and_labels(client):
    """Spreadsheets skip leading spaces before a formula; a line feed or NUL first is as risky
    as a tab; and a label is publisher text like any cell."""
    params = {"select": "concat('\n=1+1', nom) as lf, concat(' =1', nom) as sp, concat('\uff1d1', nom) as wide",
              "where": "valeur = 6", "with_bom": False}
    text = client.get("/api/explore/v2.1/catalog/datasets/formules/exports/csv", params=params).text
    assert list(csv.reader(io.StringIO(text), delimiter=";"))[1] == ["'\n=1+1normal", "' =1normal", "'\uff1d1normal"]
    header = client.get(f"{LAB}/csv", params={"use_labels": True, "with_bom": False, "select": "code"}).text
    assert header.split("\r\n")[0] == '"\'=HYPERLINK(""http://evil"")"'


def test_lone_csv_column_keeps_its_empty_rows(client):
    """A lone null was an empty line, which readers skip: the row was lost."""
    text = client.get(f"{LAB}/csv", params={"select": "note", "with_bom": False, "order_by": "code"}).text
    assert text == 'note\r\ntexte\r\n\'-12\r\n""\r\n'
    assert len(list(csv.DictReader(io.StringIO(text)))) == 3


def test_list_separator_joins_multivalued_text(client):
    text = client.get(f"{LAB}/csv", params={"select": "code,tags", "list_separator": "|", "with_bom": False,
                                            "order_by": "code"}).text
    assert [row[1] for row in csv.reader(io.StringIO(text), delimiter=";")][1:] == ["'=a|+b|c", "x|y", ""]


def test_quote_all_quotes_numbers_too(client):
    """As Python's ``csv.QUOTE_ALL``: without it, a value is quoted only where it must be, as
    Opendatasoft's default (``quote_all`` false: its exports write ``75012``, and a script
    cutting the file on ``;`` read ``"75012"``)."""
    params = {"with_bom": False, "select": "code_postal,annee", "where": "id_livraison = '2000011'"}
    quoted = client.get(f"{URL}/csv", params={**params, "quote_all": True}).text
    assert quoted == '"code_postal";"annee"\r\n"75012";"2001"\r\n'
    assert client.get(f"{URL}/csv", params=params).text == 'code_postal;annee\r\n75012;2001\r\n'


def test_gpx_stays_in_wgs84_whatever_epsg(client, tmp_path):
    """GPX holds WGS84 degrees: epsg=2154 wrote Lambert-93 metres as lat and lon."""
    import pyogrio

    path = tmp_path / "l93.gpx"
    path.write_bytes(client.get(f"{URL}/gpx", params={"limit": 5, "epsg": 2154, "select": "annee,geo_point_2d"}).content)
    x_min, y_min, x_max, y_max = pyogrio.read_info(path, layer="waypoints", force_total_bounds=True)["total_bounds"]
    assert 2.2 < x_min < x_max < 2.5 and 48.8 < y_min < y_max < 48.95


def test_flatgeobuf_keeps_order_by(client, tmp_path):
    """GDAL's spatial index writes features in its own order: it is left out when an order is asked."""
    import pyogrio

    params = {"select": "code,geo_shape", "order_by": "code desc"}
    path = tmp_path / "ordered.fgb"
    path.write_bytes(client.get("/api/explore/v2.1/catalog/datasets/regions/exports/fgb", params=params).content)
    codes = list(pyogrio.read_dataframe(path)["code"])
    assert len(codes) == 13 and codes == sorted(codes, reverse=True)


def test_lang_localises_exports_like_records(client):
    params = {"select": "date_format(date'2024-03-01', 'MMMM') as m", "limit": 1}
    assert client.get(f"{URL}/json", params={**params, "lang": "en"}).json() == [{"m": "March"}]
    assert client.get(f"{URL}/json", params=params).json() == [{"m": "mars"}]


@pytest.mark.parametrize("fmt", ["shp", "kml", "fgb"])
def test_geo_formats_write_datetimes_in_the_request_zone(client, fmt, tmp_path):
    """Datetimes were cast to text in UTC (``2024-05-01 12:30:00+00``) whatever timezone."""
    import pyogrio

    params = {"select": "date'2024-05-01T12:30:00Z' as t,geo_point_2d", "limit": 1, "timezone": "Europe/Paris"}
    response = client.get(f"{URL}/{fmt}", params=params)
    path = geo_file(response, fmt, tmp_path)
    assert list(pyogrio.read_dataframe(path)["t"]) == ["2024-05-01T14:30:00+02:00"]


def test_xlsx_keeps_formula_like_text_as_data(client):
    """XLSX string cells are never formulas: the risky ones get Excel's hidden quote prefix
    instead of a visible "'" that changed the value ("'-12")."""
    from python_calamine import CalamineWorkbook

    data = client.get("/api/explore/v2.1/catalog/datasets/formules/exports/xlsx").content
    rows = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0).to_python()
    assert [row[0] for row in rows[1:]] == ['=HYPERLINK("http://evil")', "+33 1 23", "@SUM(A1)", "normal"]
    assert 'quotePrefix="1"' in zipfile.ZipFile(io.BytesIO(data)).read("xl/styles.xml").decode()


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_offset_skips_rows_as_records_does(client, fmt):
    """Beyond the reference, as live portals answer: ``offset`` pages an export like /records
    (scripts download in chunks), with or without order_by, and on groups."""
    base = "/api/explore/v2.1/catalog/datasets/logements"
    for params in ({"select": "id_livraison", "order_by": "id_livraison"},
                   {"select": "id_livraison"},
                   {"select": "arrdt, count(*) as n", "group_by": "arrdt"}):
        records = client.get(f"{base}/records", params={**params, "limit": 4, "offset": 7}).json()["results"]
        answer = client.get(f"{URL}/{fmt}", params={**params, "limit": 4, "offset": 7})
        assert answer.status_code == 200, answer.text
        if fmt == "json":
            assert answer.json() == records
        else:
            rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig")), delimiter=";"))
            assert [row[next(iter(params["select"].split(",")))] for row in rows] == \
                [str(r[next(iter(params["select"].split(",")))]) for r in records]
        everything = client.get(f"{URL}/json", params=params).json()
        assert client.get(f"{URL}/json", params={**params, "offset": 7}).json() == everything[7:]
    error = client.get(f"{URL}/json", params={"offset": -1})
    assert error.status_code == 400 and "offset" in error.json()["message"]
    # past the engine's 64-bit LIMIT and OFFSET (the export failed after its 200): none, or every row
    assert client.get(f"{URL}/json", params={"select": "id_livraison", "offset": 2**70, "limit": 1}).json() == []
    assert len(client.get(f"{URL}/json", params={"select": "id_livraison", "limit": 2**70}).json()) == \
        len(client.get(f"{URL}/json", params={"select": "id_livraison"}).json())


def test_the_legacy_download_link_serves_the_shapefile(client, tmp_path, refdata):
    """data.gouv.fr's harvesters publish ``/explore/dataset/<id>/download?format=shp`` as the
    Shapefile of every geo dataset they copy (it was a 400): the export's zip, read by GDAL."""
    import pyogrio

    legacy = client.get("/explore/dataset/regions/download", params={"format": "shp", "timezone": "Europe/Berlin",
                                                                    "use_labels_for_header": "true"})
    assert legacy.status_code == 200, legacy.text
    export = client.get("/api/explore/v2.1/catalog/datasets/regions/exports/shp", params={"use_labels": "true"})
    ours, theirs = (geo_file(r, "shp", tmp_path / name) for r, name in ((legacy, "legacy"), (export, "export")))
    assert pyogrio.read_dataframe(ours).drop(columns="geometry").equals(pyogrio.read_dataframe(theirs).drop(columns="geometry"))
    assert len(pyogrio.read_dataframe(ours)) == len(pyogrio.read_dataframe(refdata / "geo" / "regions.geojson"))


def test_flatgeobuf_keeps_records_without_a_geometry(client, tmp_path):
    """GDAL's spatial index holds no empty geometry (the export failed mid-file): a file holding
    one goes without the index; one without any keeps it, for readers' bounding-box requests."""
    import pyogrio

    places = "/api/explore/v2.1/catalog/datasets/lieux/exports/fgb"
    whole, located = tmp_path / "whole.fgb", tmp_path / "located.fgb"
    whole.write_bytes(client.get(places).content)
    located.write_bytes(client.get(places, params={"where": "geo_point_2d is not null"}).content)
    frame = pyogrio.read_dataframe(whole)
    assert sorted(frame["nom"]) == ["gare", "mairie", "sans lieu"]
    assert list(frame[frame.geometry.isna()]["nom"]) == ["sans lieu"]
    assert sorted(pyogrio.read_dataframe(located)["nom"]) == ["gare", "mairie"]
    assert not pyogrio.read_info(whole)["capabilities"]["fast_spatial_filter"]
    assert pyogrio.read_info(located)["capabilities"]["fast_spatial_filter"]


def test_xlsx_writes_the_first_day_of_excel_as_that_day(client):
    """1900-01-01 (SIRENE's placeholder date) is Excel's serial day 1: xlsxwriter wrote a
    datetime on that day as a time alone (serial 0, "1900-01-00")."""
    from python_calamine import CalamineWorkbook

    content = client.get("/api/explore/v2.1/catalog/datasets/lieux/exports/xlsx",
                         params={"select": "nom, ouverture, releve", "order_by": "nom"}).content
    rows = CalamineWorkbook.from_filelike(io.BytesIO(content)).get_sheet_by_index(0).to_python()
    assert rows[1:] == [["gare", "", ""], ["mairie", date(1900, 1, 1), datetime(1900, 1, 1, 10, 30)],
                        ["sans lieu", date(2024, 3, 1), datetime(2024, 3, 1, 12)]]


@pytest.mark.parametrize("fmt", ["shp", "kml", "fgb", "gpx"])
def test_geo_formats_name_fields_by_label_when_asked(client, fmt, tmp_path):
    """use_labels applies to every export (the GDAL formats and GPX kept the field names)."""
    import pyogrio

    names = {}
    for use_labels in ("false", "true"):
        response = client.get(f"/api/explore/v2.1/catalog/datasets/lieux/exports/{fmt}",
                              params={"select": "nom, geo_point_2d", "use_labels": use_labels})
        (tmp_path / use_labels).mkdir()
        path = geo_file(response, fmt, tmp_path / use_labels)
        layer = "waypoints" if fmt == "gpx" else None
        names[use_labels] = set(pyogrio.read_dataframe(path, layer=layer).columns) - {"geometry"}
    expected = {"shp": ("nom", "Nom du lie"), "gpx": ("ogr_nom", "ogr_Nom_du_lieu")}.get(fmt, ("nom", "Nom du lieu"))
    assert expected[0] in names["false"] and expected[1] in names["true"] and expected[0] not in names["true"]


def test_parquet_instants_are_in_the_request_zone(client):
    """The same instants, in the zone the request asks for, as every other format writes them."""
    url = "/api/explore/v2.1/catalog/datasets/lieux/exports/parquet"
    params = {"select": "releve", "where": "releve is not null", "order_by": "releve"}
    utc = pq.read_table(io.BytesIO(client.get(url, params=params).content)).column("releve")
    paris = pq.read_table(io.BytesIO(client.get(url, params={**params, "timezone": "Europe/Paris"}).content))
    assert paris.schema.field("releve").type.tz == "Europe/Paris" and utc.type.tz in ("UTC", "Etc/UTC")
    assert [v.isoformat() for v in paris.column("releve").to_pylist()] == \
        ["1900-01-01T10:39:21+00:09:21", "2024-03-01T13:00:00+01:00"]  # Paris mean time in 1900
    assert paris.column("releve").cast(utc.type).equals(utc)


def test_kml_declares_integers_as_numbers(client, tmp_path):
    import pyogrio

    path = tmp_path / "l.kml"
    path.write_bytes(client.get(f"{URL}/kml", params={"select": "annee, geo_point_2d", "limit": 3}).content)
    assert 'name="annee" type="string"' not in path.read_text()
    frame = pyogrio.read_dataframe(path)
    assert frame["annee"].dtype.kind in "if" and frame["annee"].between(1900, 2100).all()


@pytest.mark.parametrize("dataset", ["logements", "regions"])
def test_geojson_in_another_epsg_is_projected_and_says_so(client, dataset):
    """epsg was ignored on GeoJSON (WGS84 degrees under epsg=2154, said nowhere): its points and
    shapes are now projected as shapefiles are, and the collection names its system as GeoJSON's
    2008 specification does, which GDAL and QGIS read."""
    import shapely
    from pyproj import Transformer

    base = f"/api/explore/v2.1/catalog/datasets/{dataset}/exports/geojson"
    params = {"limit": 3, "order_by": "annee" if dataset == "logements" else "code"}
    degrees = client.get(base, params=params).json()
    metres = client.get(base, params={**params, "epsg": 2154}).json()
    assert "crs" not in degrees
    assert metres["crs"] == {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}}
    to_lambert = Transformer.from_crs(4326, 2154, always_xy=True)
    for wgs84, projected in zip(degrees["features"], metres["features"], strict=True):
        assert projected["properties"] == wgs84["properties"]
        expected = shapely.transform(shapely.geometry.shape(wgs84["geometry"]),
                                     lambda xy: __import__("numpy").column_stack(to_lambert.transform(xy[:, 0], xy[:, 1])))
        got = shapely.geometry.shape(projected["geometry"])
        assert got.geom_type == expected.geom_type and shapely.equals_exact(got, expected, tolerance=1e-6)
        assert 100_000 < got.centroid.x < 1_300_000  # metres east in Lambert-93, not degrees


def test_a_geometry_the_epsg_cannot_hold_is_null_and_the_json_strict(tmp_path):
    """A pole has no Lambert-93 coordinates: the export wrote Infinity (a point) or nulls inside
    a shape, which no strict JSON reader takes. Such a geometry is null; a shape's heights are
    kept (they were dropped); a height or an earth-centred system, which holds no map
    coordinates, is refused."""
    import json

    points = tmp_path / "poles.csv"
    points.write_text("nom;geo_point_2d\npole;-90.0,0.5\nparis;48.8566,2.3522\n", encoding="utf-8")
    shapes = tmp_path / "lignes.geojson"
    shapes.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"nom": "vers le pole"},
         "geometry": {"type": "LineString", "coordinates": [[2.0, 48.0], [2.0, -90.0]]}},
        {"type": "Feature", "properties": {"nom": "paris"},
         "geometry": {"type": "LineString", "coordinates": [[2.35, 48.85, 35.0], [2.36, 48.86, 36.5]]}}]}),
                      encoding="utf-8")
    instance = published_instance(tmp_path / "home", Published("poles", points), Published("lignes", shapes))
    client = TestClient(create_app(instance))

    def strict(text: str):
        return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the export"))

    try:
        for slug in ("poles", "lignes"):
            base = f"/api/explore/v2.1/catalog/datasets/{slug}/exports"
            features = strict(client.get(f"{base}/geojson", params={"epsg": 2154, "order_by": "nom"}).text)["features"]
            assert [f["geometry"] is None for f in features] == [False, True], slug  # paris, then the pole's
            first = features[0]["geometry"]["coordinates"]
            assert 600_000 < (first[0] if slug == "poles" else first[0][0]) < 700_000  # Paris, in metres
            if slug == "lignes":  # its heights kept, as the WGS84 export keeps them
                assert [point[2] for point in first] == [35.0, 36.5]
            for epsg in (5773, 4978):
                refused = client.get(f"{base}/geojson", params={"epsg": epsg})
                assert refused.status_code == 400 and "is not a two-dimensional map system" in refused.json()["message"]
    finally:
        instance.store.close()
