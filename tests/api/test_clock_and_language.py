"""``timezone`` and ``lang`` read the same on every route that declares them: an unknown zone
or language is one 400 naming the parameter, and an empty ``timezone=`` (clients with an unset
option send it) is UTC. The routes come from the OpenAPI document, so a new route is covered."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import Published, published_instance

#: Values for the path and required query parameters of the public routes.
FILL = {"dataset_id": "elus", "format": "json", "dataset": "elus", "clusterprecision": "3"}


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    instance = published_instance(tmp_path_factory.mktemp("clock") / "home", Published(
        "elus", refdata / "elus" / "rne_elus-conseillers-departementaux-cd.csv", "Conseillers départementaux"))
    yield TestClient(create_app(instance))
    instance.store.close()


def _routes(client: TestClient, parameter: str) -> list[tuple[str, dict[str, str]]]:
    """The public portal's GET routes declaring ``parameter``, as (url, required query)."""
    record = client.get("/api/records/1.0/search/", params={"dataset": "elus", "rows": 1}).json()["records"][0]
    values = {**FILL, "record_id": record["recordid"]}
    routes = []
    for path, operations in client.app.openapi()["paths"].items():
        operation = operations.get("get")
        if operation is None or path.startswith("/interne/"):
            continue
        declared = operation.get("parameters", [])
        if parameter not in {p["name"] for p in declared}:
            continue
        query = {p["name"]: values[p["name"]] for p in declared if p["in"] == "query" and p.get("required")}
        routes.append((path.format(**values), query))
    return routes


def test_an_unknown_zone_or_language_is_the_same_400_everywhere(client):
    zoned = _routes(client, "timezone")
    assert len(zoned) >= 25  # v2.1, v2.0 and its alias, v1: every family is here
    for url, query in zoned:
        answer = client.get(url, params={**query, "timezone": "Mars/Olympus"})
        assert answer.status_code == 400, url
        assert answer.json()["message"] == ("Invalid value for timezone API parameter: "
                                            "Unknown timezone: Mars/Olympus"), url
    languages = _routes(client, "lang")
    assert {"/api/explore/v2.1/catalog/datasets/elus/facets", "/api/explore/v2.1/catalog/exports/json"} <= {
        url for url, _ in languages}
    for url, query in languages:
        answer = client.get(url, params={**query, "lang": "klingon"})
        assert answer.status_code == 400, url
        assert answer.json()["error_code"] == "InvalidRESTParameterError" and "lang" in answer.json()["message"], url
        regional = client.get(url, params={**query, "lang": "fr-FR"})
        assert regional.content == client.get(url, params={**query, "lang": "fr"}).content.replace(
            b"lang=fr", b"lang=fr-FR"), url


def test_an_empty_timezone_is_utc_everywhere(client):
    answered = 0
    for url, query in _routes(client, "timezone"):
        empty = client.get(url, params={**query, "timezone": ""})
        utc = client.get(url, params={**query, "timezone": "UTC"})
        assert empty.status_code == utc.status_code, url
        assert empty.content == utc.content.replace(b"timezone=UTC", b"timezone="), url
        answered += empty.status_code == 200  # the others: v1's geo routes (no geometry here), aggregates (no select)
    assert answered >= 20
