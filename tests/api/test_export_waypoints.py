"""The waypoint exports over HTTP: TomTom's OV2 read back by tests/api/ov2_reader.py (its layout
as TomTom's SDK documents it), GPX's name and description read back by GDAL."""

from __future__ import annotations

import json

import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import shape

from portail.api import create_app
from tests.api.ov2_reader import read_ov2
from tests.conftest import Published, logements_file, published_instance

EXPORTS = "/api/explore/v2.1/catalog/datasets/{}/exports/{}"


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    instance = published_instance(tmp_path_factory.mktemp("waypoints") / "home",
                                  Published("logements", logements_file(refdata), "Logements sociaux"),
                                  Published("regions", refdata / "geo" / "regions-version-simplifiee.geojson", "Régions"))
    yield TestClient(create_app(instance))
    instance.store.close()


def test_ov2_holds_each_point_and_its_name(client, logements_rows):
    response = client.get(EXPORTS.format("logements", "ov2"), params={"name_field": "adresse_programme"})
    assert response.status_code == 200 and response.headers["content-disposition"].endswith('logements.ov2"')
    records = read_ov2(response.content)
    located = [r for r in logements_rows if r["geo_point_2d"]]
    assert len(records) == len(located) and len(located) > 4000
    for (lon, lat, name), row in zip(records, located):  # storage order: the file's
        expected_lat, expected_lon = (float(v) for v in row["geo_point_2d"].split(","))
        assert abs(lon - expected_lon) <= 0.5e-5 and abs(lat - expected_lat) <= 0.5e-5
        assert name == row["adresse_programme"]


def test_ov2_names_by_the_first_text_field_and_writes_shapes_as_centroids(client, refdata):
    fields = client.get("/api/explore/v2.1/catalog/datasets/regions").json()["fields"]
    first_text = next(f["name"] for f in fields if f["type"] == "text")
    records = read_ov2(client.get(EXPORTS.format("regions", "ov2"), params={"order_by": "code"}).content)
    with open(refdata / "geo" / "regions-version-simplifiee.geojson", encoding="utf-8") as handle:
        features = sorted(json.load(handle)["features"], key=lambda f: f["properties"]["code"])
    assert [name for _, _, name in records] == [f["properties"][first_text] for f in features]
    named = read_ov2(client.get(EXPORTS.format("regions", "ov2"), params={"order_by": "code", "name_field": "nom"}).content)
    assert [name for _, _, name in named] == [f["properties"]["nom"] for f in features]
    assert "Île-de-France" in {name for _, _, name in named}  # written in Windows-1252, read back so
    for (lon, lat, _), feature in zip(records, features):
        centroid = shape(feature["geometry"]).centroid
        assert abs(lon - centroid.x) <= 1e-5 and abs(lat - centroid.y) <= 1e-5


def test_gpx_names_and_describes_its_waypoints(client, logements_rows, tmp_path):
    params = {"name_field": "adresse_programme", "description_field_list": "code_postal, annee", "limit": 50,
              "use_extension": "false"}
    path = tmp_path / "named.gpx"
    path.write_bytes(client.get(EXPORTS.format("logements", "gpx"), params=params).content)
    frame = pyogrio.read_dataframe(path, layer="waypoints")
    assert not [c for c in frame.columns if c.startswith("ogr_")]  # no extensions
    rows = logements_rows[:50]
    assert frame["name"].tolist() == [r["adresse_programme"] for r in rows]
    assert frame["desc"].tolist() == [f"code_postal: {r['code_postal']}\nannee: {r['annee']}" for r in rows]

    extended = tmp_path / "extended.gpx"
    extended.write_bytes(client.get(EXPORTS.format("logements", "gpx"),
                                    params={"name_field": "code_postal", "limit": 50}).content)
    frame = pyogrio.read_dataframe(extended, layer="waypoints")
    assert frame["name"].tolist() == [r["code_postal"] for r in rows]  # text: 75012, not 75012.0
    assert frame["ogr_adresse_programme"].tolist() == [r["adresse_programme"] for r in rows]  # every field besides
    assert frame["desc"].isna().all()


def test_gpx_without_extensions_describes_every_field(client, logements_rows, tmp_path):
    path = tmp_path / "described.gpx"
    path.write_bytes(client.get(EXPORTS.format("logements", "gpx"), params={
        "use_extension": "false", "limit": 3, "select": "id_livraison, ville, nb_plai, geo_point_2d"}).content)
    frame = pyogrio.read_dataframe(path, layer="waypoints")
    assert frame["desc"].tolist() == [f"id_livraison: {r['id_livraison']}\nville: {r['ville']}\nnb_plai: {r['nb_plai']}"
                                      for r in logements_rows[:3]]
    assert shapely.get_coordinates(frame.geometry.values).shape == (3, 2)


@pytest.mark.parametrize("fmt, params, parameter", [
    ("ov2", {"name_field": "adresse"}, "name_field"),
    ("gpx", {"name_field": "ville", "description_field_list": "annee,nb_logements"}, "description_field_list"),
    ("gpx", {"name_field": "adresse_programme", "select": "annee, geo_point_2d"}, "name_field"),
    ("ov2", {"name_field": "geo_shape"}, "name_field"),
])
def test_a_waypoint_field_not_exported_is_a_400(client, fmt, params, parameter):
    response = client.get(EXPORTS.format("logements", fmt), params=params)
    assert response.status_code == 400 and f"Invalid value for {parameter} API parameter" in response.json()["message"]


def test_ov2_is_listed_for_geo_datasets_and_the_legacy_link_serves_it(client, logements_rows):
    links = {link["rel"] for link in client.get("/api/explore/v2.1/catalog/datasets/logements/exports").json()["links"]}
    assert "ov2" in links
    body = client.get("/explore/dataset/logements/download/", params={"format": "ov2",
                                                                       "refine.code_postal": "75013"}).content
    assert len(read_ov2(body)) == sum(1 for r in logements_rows if r["code_postal"] == "75013" and r["geo_point_2d"])


def test_gpx_holds_every_batch_and_fields_named_like_its_elements(tmp_path):
    """GDAL's GPX driver could not append a second batch (an export past 65,536 rows broke after
    its 200) nor create a field called ``name``: each batch is written, and such a field is an
    extension like any other."""
    import pyarrow as pa

    from portail.exports import FORMATS, ExportOptions
    from portail.schema import Field, FieldType

    fields = [Field(name, name, kind) for name, kind in
              (("name", FieldType.TEXT), ("desc", FieldType.INT), ("geo", FieldType.GEO_POINT_2D))]

    def batch(first: int) -> pa.RecordBatch:
        points = shapely.points([[2 + i / 1000, 48 + i / 1000] for i in range(first, first + 3)])
        return pa.RecordBatch.from_pydict({"name": [f"n{i} <&>" for i in range(first, first + 3)],
                                           "desc": [i for i in range(first, first + 3)],
                                           "geo": shapely.to_wkb(points).tolist()})

    path = tmp_path / "batches.gpx"
    path.write_bytes(b"".join(FORMATS["gpx"].write(fields, iter([batch(0), batch(3)]), ExportOptions())))
    frame = pyogrio.read_dataframe(path, layer="waypoints")
    assert frame["ogr_name"].tolist() == [f"n{i} <&>" for i in range(6)]
    assert [int(v) for v in frame["ogr_desc"]] == list(range(6))
    assert frame["name"].isna().all()  # no name_field: the <name> element stays out
    assert shapely.get_coordinates(frame.geometry.values).ravel().tolist() == \
        pytest.approx([c for i in range(6) for c in (2 + i / 1000, 48 + i / 1000)])
