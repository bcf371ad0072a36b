"""Multivalued text fields come out as JSON arrays, as on Opendatasoft, split exactly as ODSQL's
membership test and the facets split them."""

from __future__ import annotations

from fastapi.testclient import TestClient

from portail.api import create_app
from portail.catalog import services
from portail.operations import load_file

URL = "/api/explore/v2.1/catalog/datasets/tags/records"


def test_multivalued_values_are_arrays(instance, tmp_path):
    source = tmp_path / "tags.csv"
    source.write_text("nom;tags\nA;vélo, bus ,tram\nB;bus\nC;\n", encoding="utf-8")
    with instance.session() as s:
        dataset = services.create_dataset(s, "tags", "Tags")
        services.set_field_override(s, dataset, "tags", annotations={"multivalued": [","]})
    load_file(instance, "tags", source, publish=True)
    client = TestClient(create_app(instance))
    rows = {r["nom"]: r["tags"] for r in client.get(URL, params={"order_by": "nom"}).json()["results"]}
    assert rows == {"A": ["vélo", "bus", "tram"], "B": ["bus"], "C": None}
    assert client.get(URL, params={"where": '"bus" in tags', "limit": 0}).json()["total_count"] == 2
    facets = client.get("/api/explore/v2.1/catalog/datasets/tags/facets", params={"facet": "tags"}).json()["facets"]
    assert {v["name"]: v["count"] for v in facets[0]["facets"]} == {"bus": 2, "tram": 1, "vélo": 1}
    exported = client.get("/api/explore/v2.1/catalog/datasets/tags/exports/json", params={"order_by": "nom"}).json()
    assert exported[0]["tags"] == ["vélo", "bus", "tram"]
