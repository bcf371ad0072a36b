"""Exports that agree with each other and with the records: a layer's geometry type, multivalued
fields, quoting, points written so that they read back as points, v1's GeoJSON download."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import Published, published_instance

BASE = "/api/explore/v2.1/catalog/datasets"


def _feature(k: str, geometry: dict | None) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": {"k": k}}


SQUARE = {"type": "Polygon", "coordinates": [[[3, 45], [3.1, 45], [3.1, 45.1], [3, 45.1], [3, 45]]]}
MIXED = [_feature("pt", {"type": "Point", "coordinates": [2, 48]}), _feature("poly", SQUARE),
         _feature("line", {"type": "LineString", "coordinates": [[1, 44], [1.5, 44.5]]}), _feature("nogeom", None)]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("consistency")
    mixed = folder / "mixed.geojson"
    mixed.write_text(json.dumps({"type": "FeatureCollection", "features": MIXED}))
    polygons = folder / "polygons.geojson"
    squares = [_feature("a", SQUARE), _feature("b", SQUARE)]
    polygons.write_text(json.dumps({"type": "FeatureCollection", "features": squares}))
    tagged = folder / "tagged.csv"
    tagged.write_text("nom;tags;n;geo_point_2d\nun;x|y|z;1;45.0,5.0\ndeux;;;\n")
    instance = published_instance(folder / "home", Published("mixed", mixed), Published("polygons", polygons),
                                  Published("tagged", tagged, annotations={"tags": {"multivalued": ["|"]}}))
    yield TestClient(create_app(instance))
    instance.store.close()


def _shapefile(content: bytes, tmp_path: Path) -> Path:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        archive.extractall(tmp_path)
    return next(tmp_path.glob("*.shp"))


def test_shapefile_of_polygons_is_polygons_whatever_its_first_row(client, tmp_path):
    """The first row without a geometry made GDAL declare the layer PolyLine: area 0."""
    import pyogrio

    response = client.get(f"{BASE}/mixed/exports/shp", params={"where": 'k="poly" or k="nogeom"', "order_by": "k"})
    info = pyogrio.read_info(_shapefile(response.content, tmp_path))
    assert info["geometry_type"] in ("Polygon", "MultiPolygon") and info["features"] == 2


def test_empty_shapefile_of_a_polygon_dataset_is_a_polygon_layer(client, tmp_path):
    import pyogrio

    response = client.get(f"{BASE}/polygons/exports/shp", params={"where": 'k="none"'})
    info = pyogrio.read_info(_shapefile(response.content, tmp_path))
    assert info["geometry_type"] in ("Polygon", "MultiPolygon") and info["features"] == 0


def test_shapefile_of_mixed_geometries_is_refused_before_the_file(client):
    response = client.get(f"{BASE}/mixed/exports/shp")
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "InvalidRESTParameterError" and "geometry_type" in body["message"]
    # one type chosen by a where: a shapefile again
    points = client.get(f"{BASE}/mixed/exports/shp", params={"where": "geometry_type(geo_shape) = 'Point'"})
    assert points.status_code == 200


@pytest.mark.parametrize("fmt", ["fgb", "kml", "gpx", "ov2"])
def test_other_geo_formats_hold_mixed_geometries(client, fmt, tmp_path):
    import pyogrio

    response = client.get(f"{BASE}/mixed/exports/{fmt}")
    assert response.status_code == 200 and response.content
    if fmt in ("fgb", "kml"):
        path = tmp_path / f"out.{fmt}"
        path.write_bytes(response.content)
        assert len(pyogrio.read_dataframe(path)) == 4


@pytest.mark.parametrize("fmt", ["shp", "fgb", "kml"])
def test_geo_formats_join_multivalued_fields_with_the_list_separator(client, fmt, tmp_path):
    import pyogrio

    response = client.get(f"{BASE}/tagged/exports/{fmt}", params={"order_by": "nom desc"})
    path = _shapefile(response.content, tmp_path) if fmt == "shp" else tmp_path / f"out.{fmt}"
    if fmt != "shp":
        path.write_bytes(response.content)
    assert list(pyogrio.read_dataframe(path)["tags"])[0] == "x,y,z"


def test_xlsx_joins_multivalued_fields_with_the_list_separator(client):
    from python_calamine import CalamineWorkbook

    response = client.get(f"{BASE}/tagged/exports/xlsx", params={"order_by": "nom desc", "select": "tags"})
    rows = CalamineWorkbook.from_filelike(io.BytesIO(response.content)).get_sheet_by_index(0).to_python()
    assert rows[1] == ["x,y,z"]


def test_gpx_joins_multivalued_fields_with_the_list_separator(client):
    text = client.get(f"{BASE}/tagged/exports/gpx", params={"order_by": "nom desc"}).text
    assert "x,y,z" in text and "x|y|z" not in text


def test_parquet_writes_multivalued_fields_as_lists(client):
    response = client.get(f"{BASE}/tagged/exports/parquet", params={"order_by": "nom desc", "select": "tags"})
    table = pq.read_table(io.BytesIO(response.content))
    records = client.get(f"{BASE}/tagged/records", params={"order_by": "nom desc", "select": "tags"}).json()["results"]
    assert table.column("tags").to_pylist() == [r["tags"] for r in records] == [["x", "y", "z"], None]


def test_quote_all_quotes_every_value(client):
    params = {"quote_all": True, "with_bom": False, "order_by": "nom desc", "select": "nom,n"}
    text = client.get(f"{BASE}/tagged/exports/csv", params=params).text
    assert text == '"nom";"n"\r\n"un";"1"\r\n"deux";\r\n'


def test_csv_points_with_whole_coordinates_read_back_as_points(client):
    text = client.get(f"{BASE}/tagged/exports/csv", params={"with_bom": False, "order_by": "nom desc",
                                                             "select": "geo_point_2d"}).text
    assert list(csv.reader(io.StringIO(text), delimiter=";"))[1] == ["45.0,5.0"]
    comma = client.get(f"{BASE}/tagged/exports/csv", params={"with_bom": False, "order_by": "nom desc",
                                                              "select": "geo_point_2d", "delimiter": ","}).text
    assert list(csv.reader(io.StringIO(comma)))[1] == ["45.0,5.0"]  # quoted where the comma separates


def test_v1_geojson_download_writes_features_as_the_search_does(client):
    params = {"dataset": "mixed", "format": "geojson", "sort": "k"}
    searched = client.get("/api/records/1.0/search/", params={**params, "rows": 10}).json()
    downloaded = client.get("/api/records/1.0/download/", params=params).json()
    assert downloaded == searched


def test_v1_geojson_download_writes_points_as_lat_lon(client):
    params = {"dataset": "tagged", "format": "geojson", "sort": "nom"}
    searched = client.get("/api/records/1.0/search/", params={**params, "rows": 10}).json()
    downloaded = client.get("/api/records/1.0/download/", params=params).json()
    assert downloaded == searched
    assert downloaded["features"][1]["properties"]["geo_point_2d"] == [45.0, 5.0]


def test_flatgeobuf_without_order_by_keeps_its_spatial_index(client, tmp_path):
    """A choice, not an accident: without order_by the file keeps its spatial index (readers
    fetch a bounding box by range requests), which writes the features in Hilbert order, not the
    records'; an order_by keeps the order and drops the index (``ExportOptions.ordered``)."""
    import pyogrio

    for params, indexed in (({}, True), ({"order_by": "k"}, False)):
        path = tmp_path / f"{indexed}.fgb"
        path.write_bytes(client.get(f"{BASE}/polygons/exports/fgb", params=params).content)
        assert pyogrio.read_info(path)["capabilities"]["fast_spatial_filter"] is indexed
