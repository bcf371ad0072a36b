"""Geo exports GDAL writes (shp, kml, fgb) of values it cannot write as they are (a NUL, XML
control characters, an empty geometry, a point the asked ``epsg`` cannot hold, an attribute
named ``OGC_FID``), which answered 500 or a 200 no reader opens: each read back by GDAL through
pyogrio."""

from __future__ import annotations

import json
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.api.gdal_layers import read_layer
from tests.conftest import Published, published_instance

API = "/api/explore/v2.1/catalog/datasets/places/exports"
TEXTS = "/api/explore/v2.1/catalog/datasets/texts/exports"
#: a text GDAL cut at its NUL, and control characters and U+FFFE, which XML 1.0 cannot hold (a
#: JSON file keeps them all; GDAL, reading a GeoJSON one, cut the NUL already)
ODD_TEXT = "a\x00b\x01c\ufffe"
PLACES = [({"type": "Point", "coordinates": [2.35, 48.85]}, 1, "paris"),
          ({"type": "Point", "coordinates": [180.0, -90.0]}, 2, "pole"),
          ({"type": "MultiPolygon", "coordinates": []}, 3, "empty"),
          ({"type": "MultiPolygon", "coordinates": [[[[2, 48], [3, 48], [3, 49], [2, 48]]]]}, 4, "square")]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export_gdal_values")
    features = [{"type": "Feature", "geometry": geometry, "properties": {"n": n, "t": text}}
                for geometry, n, text in PLACES]
    source = folder / "places.geojson"
    source.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    texts = folder / "texts.json"
    texts.write_text(json.dumps([{"n": 1, "t": ODD_TEXT, "geo_point_2d": "48.85,2.35"}]), encoding="utf-8")
    instance = published_instance(folder / "home", Published("places", source, "Places"),
                                  Published("texts", texts, "Texts"))
    yield TestClient(create_app(instance))
    instance.store.close()


@pytest.mark.parametrize("fmt", ["shp", "fgb"])
def test_a_text_holding_nul_is_written_whole(client, tmp_path, fmt):
    """GDAL ends a text at its NUL (C strings): ``a<NUL>b`` came back ``a``, silently. The NUL
    is written U+FFFD, as the XML exports write what they cannot hold."""
    response = client.get(f"{TEXTS}/{fmt}", params={"select": "n, t, geo_point_2d"})
    assert response.status_code == 200, response.text
    attributes, _ = read_layer(response.content, fmt, tmp_path)
    assert attributes["t"] == ["a\ufffdb\x01c\ufffe"]


def test_kml_of_texts_and_names_xml_cannot_hold_is_xml(client):
    """GDAL wrote control characters and U+FFFE into the KML as they are, in values and in
    names (an alias): a 200 no KML reader (nor XML parser) opened."""
    query = {"select": "n, t, t as `x\x01y`, geo_point_2d"}
    response = client.get(f"{TEXTS}/kml", params=query)
    assert response.status_code == 200, response.text
    kml = "{http://www.opengis.net/kml/2.2}"
    data = {d.get("name"): d.text for d in ElementTree.fromstring(response.content).iter(f"{kml}SimpleData")}
    assert data == {"n": "1", "t": "a\ufffdb\ufffdc\ufffd", "x\ufffdy": "a\ufffdb\ufffdc\ufffd"}


@pytest.mark.parametrize("order_by", [None, "n"], ids=["indexed", "ordered"])
def test_fgb_with_an_empty_geometry_is_written(client, tmp_path, order_by):
    """FlatGeobuf's spatial index holds no feature without a geometry, and GDAL holds an empty
    one (``MULTIPOLYGON EMPTY``) for none: the records' types named a polygon, the index was
    kept, and GDAL failed the file (500)."""
    query = {"select": "n, geo_shape", "where": "n >= 3", **({"order_by": order_by} if order_by else {})}
    response = client.get(f"{API}/fgb", params=query)
    assert response.status_code == 200, response.text
    attributes, geometries = read_layer(response.content, "fgb", tmp_path)
    written = dict(zip(attributes["n"], geometries))
    assert written[3] is None and written[4].area == pytest.approx(0.5)


@pytest.mark.parametrize("fmt", ["shp", "fgb"])
def test_a_point_the_system_cannot_hold_has_no_geometry_there(client, tmp_path, fmt):
    """The South Pole at 180° in Lambert-93 projects to infinities: GDAL refused the whole shapefile
    (500) and FlatGeobuf wrote them. It is written without a geometry, as GeoJSON writes it."""
    query = {"select": "n, geo_shape", "where": "n <= 2", "epsg": 2154, "order_by": "n"}
    response = client.get(f"{API}/{fmt}", params=query)
    assert response.status_code == 200, response.text
    attributes, geometries = read_layer(response.content, fmt, tmp_path)
    written = dict(zip(attributes["n"], geometries))
    assert written[2] is None
    assert (written[1].x, written[1].y) == pytest.approx((652301.56, 6861302.73))


@pytest.mark.parametrize("fmt", ["shp", "kml", "fgb"])
def test_a_text_attribute_named_ogc_fid_keeps_its_values(client, tmp_path, fmt):
    """GDAL takes an Arrow column named ``OGC_FID`` for the features' ids, and refused one
    holding text: an alias so named answered 500. It is written ``ogc_fid``."""
    query = {"select": "t as OGC_FID, geo_shape", "where": "n = 4"}
    response = client.get(f"{API}/{fmt}", params=query)
    assert response.status_code == 200, response.text
    attributes, _ = read_layer(response.content, fmt, tmp_path)
    assert attributes["ogc_fid"] == ["square"]
