"""v1's search and download over a JSON field and a dataset without a geo field, and ODSQL's
refusals and a multivalued sort as the API answers them (Opendatasoft-style 400s). v1's download took ``format=geojson`` on a dataset without a geo field as a 400 while
the search answered features with null geometries: the download now writes what the search
writes. ``q=acheteur:SDIS`` on a JSON field was a 400 ("cannot compare a json value"), while
``q=SDIS`` found the record: a field query there is a search of the field's text, as on a
text field."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import Published, annotated, published_instance

SEARCH = "/api/records/1.0/search/"
DOWNLOAD = "/api/records/1.0/download/"
RECORDS = "/api/explore/v2.1/catalog/datasets/{}/records"

MARCHES = [{"id": "1", "acheteur": {"nom": "SDIS de la Vendée"}, "montant": 10},
           {"id": "2", "acheteur": {"nom": "Commune de Nantes"}, "montant": 20}]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("v1_search_and_download")
    source = folder / "marches.json"
    source.write_text(json.dumps(MARCHES), encoding="utf-8")
    instance = published_instance(folder / "home", annotated(folder), Published("marches", source))
    yield TestClient(create_app(instance))
    instance.store.close()


def test_geojson_download_without_a_geo_field_writes_the_search_features(client):
    params = {"dataset": "mv", "format": "geojson", "sort": "id", "q": "a"}
    download = client.get(DOWNLOAD, params=params)
    assert download.status_code == 200, download.text
    assert download.headers["content-type"] == "application/geo+json"
    assert download.headers["content-disposition"] == 'attachment; filename="mv.geojson"'
    searched = client.get(SEARCH, params={**params, "rows": 100}).json()
    body = download.json()
    assert body["type"] == "FeatureCollection" and body == searched and len(body["features"]) > 1
    assert all(f["geometry"] is None for f in body["features"])
    padded = client.get(DOWNLOAD, params={**params, "format": "geojsonp", "callback": "cb"})
    assert padded.status_code == 200 and padded.text.startswith("/**/cb(")
    # a dataset's geo-only exports still need a geo field: the v2.1 GeoJSON export too
    assert client.get("/api/explore/v2.1/catalog/datasets/mv/exports/geojson").status_code == 400


@pytest.mark.parametrize(("q", "expected"), [("acheteur:SDIS", ["1"]), ("acheteur:vendee", ["1"]),
                                            ('acheteur:"de la"', ["1"]), ("acheteur:nantes", ["2"]),
                                            ("acheteur:paris", []), ("NOT acheteur:sdis", ["2"]),
                                            ("acheteur:SDIS AND montant>=10", ["1"])])
def test_a_field_query_on_a_json_field_searches_its_text(client, q, expected):
    answer = client.get(SEARCH, params={"dataset": "marches", "q": q})
    assert answer.status_code == 200, answer.text
    assert sorted(r["fields"]["id"] for r in answer.json()["records"]) == [int(i) for i in expected]


def test_a_comparison_on_a_json_field_stays_a_400(client):
    answer = client.get(SEARCH, params={"dataset": "marches", "q": "acheteur==SDIS"})
    assert answer.status_code == 400 and answer.json()["error_code"] == "ODSQLError"


@pytest.mark.parametrize(("params", "said"), [
    ({"where": "n in [1..*]"}, "no open bound"),
    ({"where": "n in [2..]"}, "no open bound"),
    ({"where": "n not in (1, 2)"}, "not f in"),
    ({"select": "*, count(*)", "group_by": "cat"}, "a selected field must be in group_by"),
])
def test_odsql_gaps_are_opendatasoft_400s(client, params, said):
    answer = client.get(RECORDS.format("mv"), params=params)
    assert answer.status_code == 400
    body = answer.json()
    assert body["error_code"] == "ODSQLError" and said in body["message"]


def test_records_sort_by_a_multivalued_fields_values(client):
    """``tags`` of mv (``conftest.ANNOTATED_CSV``): 7 holds "x/y", 3 "b,c", 6 "a,c,a", 2 "a,b",
    4 none: largest value first, none last; the joined texts put 6 ("a,c,a") after 2 and 8."""
    rows = client.get(RECORDS.format("mv"), params={"select": "id", "order_by": "tags desc, id"}).json()["results"]
    assert [r["id"] for r in rows] == [7, 3, 5, 6, 2, 8, 1, 4]
    v1 = client.get(SEARCH, params={"dataset": "mv", "sort": "tags", "fields": "id", "rows": 8}).json()
    ascending = [r["fields"]["id"] for r in v1["records"]]  # v1 sorts a text A to Z: the smallest value "a" first
    assert set(ascending[:4]) == {1, 2, 6, 8} and ascending[4:] == [3, 5, 7, 4]
