"""Fields named by an alias or a label in the exports (shp, kml, fgb, gpx, JSON-LD): each name
and its values as ``/records`` gives them, on the real social housing file (Paris), read back
by GDAL through pyogrio (``gdal_layers.read_layer``); and
``json_format()`` outside the JSON exports, on the same instance."""

from __future__ import annotations

import io
from xml.etree import ElementTree

import pyogrio
import pyogrio.raw
import pytest
import rdflib
from fastapi.testclient import TestClient
from rdflib.compare import isomorphic

from portail.api import create_app
from tests.api.gdal_layers import read_layer
from tests.conftest import Published, logements_file, published_instance

API = "/api/explore/v2.1/catalog/datasets/logements"


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    # labels a publisher writes: a GIS column's title, an ampersand, two alike but for case
    labels = {"ville": "Geometry", "bs": "Bailleur & réservataire", "code_postal": "Arrondissement",
              "arrdt": "arrondissement"}
    instance = published_instance(tmp_path_factory.mktemp("export_field_names") / "home",
                                  Published("logements", logements_file(refdata), "Logements", labels=labels))
    yield TestClient(create_app(instance))
    instance.store.close()


@pytest.mark.parametrize("fmt", ["shp", "kml", "fgb"])
@pytest.mark.parametrize("params", [{"select": "id_livraison, ville as geometry, geo_point_2d"},
                                    {"select": "id_livraison, ville, geo_point_2d", "use_labels": "true"}],
                         ids=["alias", "label"])
def test_an_attribute_named_geometry_keeps_the_layer_and_its_values(client, tmp_path, fmt, params):
    """GDAL's geometry column was named ``geometry`` whatever the attributes: an attribute of
    that name answered 500, and one named ``Geometry`` (a label) crashed GDAL, the server
    process with it, for any anonymous caller."""
    query = {**params, "order_by": "id_livraison", "limit": 5}
    response = client.get(f"{API}/exports/{fmt}", params=query)
    assert response.status_code == 200, response.text
    records = client.get(f"{API}/records", params=query).json()["results"]
    attributes, points = read_layer(response.content, fmt, tmp_path)
    named = next(values for name, values in attributes.items() if name.lower() == "geometry")
    assert named == [r.get("geometry", r.get("ville")) for r in records] == ["Paris"] * 5
    coordinates = [c for p in points for c in (p.x, p.y)]
    assert coordinates == pytest.approx([c for r in records for c in (r["geo_point_2d"]["lon"], r["geo_point_2d"]["lat"])])


def test_kml_named_by_labels_holding_xml_characters_is_xml(client):
    """GDAL writes a field's name into the KML's ``name`` attributes as it is: a label holding
    ``&`` made a file no KML reader (nor XML parser) opens, after a 200."""
    query = {"select": "id_livraison, bs, geo_point_2d", "order_by": "id_livraison", "limit": 5, "use_labels": "true"}
    response = client.get(f"{API}/exports/kml", params=query)
    assert response.status_code == 200, response.text
    kml = "{http://www.opengis.net/kml/2.2}"
    placemarks = ElementTree.fromstring(response.content).iter(f"{kml}Placemark")
    written = [{d.get("name"): d.text for d in p.iter(f"{kml}SimpleData")} for p in placemarks]
    records = client.get(f"{API}/records", params=query).json()["results"]
    assert written == [{"id_livraison": r["id_livraison"], "Bailleur & réservataire": r["bs"]} for r in records]


@pytest.mark.parametrize("fmt", ["kml", "fgb"])
def test_labels_alike_but_for_case_keep_their_own_values(client, tmp_path, fmt):
    """GDAL compares field names without case: FlatGeobuf wrote the second field's values under
    the first and left the second empty, KML kept one of the two."""
    query = {"select": "code_postal, arrdt, geo_point_2d", "order_by": "id_livraison", "limit": 5, "use_labels": "true"}
    response = client.get(f"{API}/exports/{fmt}", params=query)
    assert response.status_code == 200, response.text
    attributes, _ = read_layer(response.content, fmt, tmp_path)
    records = client.get(f"{API}/records", params=query).json()["results"]
    assert attributes["Arrondissement"] == [r["code_postal"] for r in records]
    assert [int(v) for v in attributes["arrondissement_2"]] == [r["arrdt"] for r in records]


def test_gpx_extensions_alike_once_made_xml_names_keep_each_value(tmp_path_factory, refdata, tmp_path):
    """A GPX extension is named by its field's label made an XML name: ``Surface m²`` and
    ``Surface m³`` were both ``Surface_m_``, and GDAL read the second value only."""
    labels = {"nb_plai": "Logements m²", "nb_plus": "Logements m³"}
    instance = published_instance(tmp_path_factory.mktemp("hunt7gpx") / "home",
                                  Published("logements", logements_file(refdata), "Logements", labels=labels))
    try:
        client = TestClient(create_app(instance))
        query = {"select": "nb_plai, nb_plus, geo_point_2d", "order_by": "id_livraison", "limit": 20,
                 "use_labels": "true"}
        response = client.get(f"{API}/exports/gpx", params=query)
        assert response.status_code == 200, response.text
        path = tmp_path / "export.gpx"
        path.write_bytes(response.content)
        meta, _, _, values = pyogrio.raw.read(path, layer="waypoints")
        read = {name: [int(v) for v in column] for name, column in zip(meta["fields"], values) if name.startswith("ogr_")}
        records = client.get(f"{API}/records", params=query).json()["results"]
        assert sorted(read.values()) == sorted([[r["nb_plai"] for r in records], [r["nb_plus"] for r in records]])
    finally:
        instance.store.close()


@pytest.mark.parametrize("alias", ["@id", "@type", "@graph", "@context"])
def test_jsonld_reads_as_the_turtle_whatever_the_aliases(client, alias):
    """A JSON-LD key starting with ``@`` is a keyword: an alias so named (Opendatasoft's widgets
    alias columns by their labels) replaced each record's IRI, dropped its values or failed the
    whole file, where Turtle wrote the same records whole."""
    query = {"select": f"bs as `{alias}`, annee", "order_by": "id_livraison", "limit": 3}
    graphs = []
    for fmt, syntax in (("jsonld", "json-ld"), ("turtle", "turtle")):
        response = client.get(f"{API}/exports/{fmt}", params=query)
        assert response.status_code == 200, response.text
        graphs.append(rdflib.Graph().parse(data=response.content, format=syntax))
    assert len(graphs[1]) == 3 * 3  # a type, a bailleur and a year per record
    assert isomorphic(*graphs)


def test_json_format_writes_the_text_as_it_is_outside_the_json_exports(client):
    """Reference §5.7: ``json_format()`` "returns the original text in non-JSON exports": a CSV
    cell held the text as a JSON string, quotes and all (``"Paris"``), and the JSON of a text
    that is JSON (``[1, 2]``) stays that text. The JSON export and ``/records`` give JSON."""
    import csv

    import pyarrow.parquet as pq

    query = {"select": "id_livraison, json_format(ville) as v, json_format('[1, 2]') as j, json_format(ville, null) as n",
             "order_by": "id_livraison", "limit": 3}
    exported = client.get(f"{API}/exports/csv", params={**query, "delimiter": ","})
    assert exported.status_code == 200, exported.text
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [(r["v"], r["j"], r["n"]) for r in rows] == [("Paris", "[1, 2]", "Paris")] * 3
    table = pq.read_table(io.BytesIO(client.get(f"{API}/exports/parquet", params=query).content))
    assert table.column("v").to_pylist() == ["Paris"] * 3 and table.column("n").to_pylist() == ["Paris"] * 3
    records = client.get(f"{API}/records", params=query).json()["results"]
    assert [(r["v"], r["j"], r["n"]) for r in records] == [("Paris", [1, 2], None)] * 3
    assert client.get(f"{API}/exports/json", params=query).json() == records
