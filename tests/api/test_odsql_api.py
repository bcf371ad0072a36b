"""ODSQL through the Explore API: where, select, group_by, order_by, checked against plain
Python over the same file."""

from __future__ import annotations

from collections import Counter

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import Published, logements_file, published_instance

URL = "/api/explore/v2.1/catalog/datasets/logements/records"


@pytest.fixture(scope="module")
def rows(logements_rows):
    return logements_rows


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    instance = published_instance(tmp_path_factory.mktemp("odsql") / "home", Published("logements", logements_file(refdata)))
    yield TestClient(create_app(instance))
    instance.store.close()


def test_where_counts(client, rows):
    expected = sum(1 for r in rows if int(r["annee"]) >= 2010 and r["arrdt"] == "13")
    body = client.get(URL, params=[("where", "annee >= 2010"), ("where", "arrdt = 13"), ("limit", 0)]).json()
    assert body["total_count"] == expected > 0
    both = client.get(URL, params={"where": 'annee >= 2010 and bs = "PARIS HABITAT"', "limit": 0}).json()["total_count"]
    assert both == sum(1 for r in rows if int(r["annee"]) >= 2010 and r["bs"] == "PARIS HABITAT")


def test_group_by_and_aggregates(client, rows):
    body = client.get(URL, params={"select": "annee, count(*) as n, sum(nb_logmt_total)", "group_by": "annee",
                                   "order_by": "annee", "limit": 100}).json()
    counts = Counter(int(r["annee"]) for r in rows)
    sums = Counter()
    for r in rows:
        sums[int(r["annee"])] += int(r["nb_logmt_total"])
    assert [(g["annee"], g["n"]) for g in body["results"]] == sorted(counts.items())
    assert {g["annee"]: g["sum(nb_logmt_total)"] for g in body["results"]} == dict(sums)
    assert body["total_count"] == len(counts)


def test_select_expressions_and_errors(client, rows):
    first = client.get(URL, params={"select": "id_livraison, nb_plai + nb_plus as aides", "order_by": "id_livraison",
                                    "limit": 1}).json()["results"][0]
    source = min(rows, key=lambda r: r["id_livraison"])
    assert first == {"id_livraison": source["id_livraison"], "aides": int(source["nb_plai"]) + int(source["nb_plus"])}
    bad = client.get(URL, params={"where": "nope > 3"})
    assert bad.status_code == 400 and bad.json()["error_code"] == "ODSQLError"
    assert "Unknown field: nope" in bad.json()["message"]
    assert client.get(URL, params={"where": "annee >"}).status_code == 400
    too_many = client.get(URL, params={"group_by": "annee", "select": "annee", "limit": 20001})
    assert too_many.status_code == 400 and "20000" in too_many.json()["message"]


def test_where_applies_to_exports_and_facets(client, rows):
    expected = [r for r in rows if int(r["annee"]) < 2005]
    exported = client.get("/api/explore/v2.1/catalog/datasets/logements/exports/jsonl", params={"where": "annee < 2005"})
    assert len(exported.text.strip().split("\n")) == len(expected)
    facets = client.get("/api/explore/v2.1/catalog/datasets/logements/facets",
                        params={"facet": "annee", "where": "annee < 2005"}).json()["facets"][0]["facets"]
    assert {int(f["value"]): f["count"] for f in facets} == dict(Counter(int(r["annee"]) for r in expected))


def test_aggregates_without_group_by_count_the_matching_records(client, rows):
    """Opendatasoft's total_count for aggregates over every matching record is the number of
    those records (recorded on live portals; a map reads it, with limit=0, as the number of trees
    in its view before downloading them), not 1; the row itself comes once."""
    kept = [r for r in rows if int(r["annee"]) >= 2010 and r["arrdt"] == "13"]
    params = {"select": "count(*) as n, sum(nb_logmt_total) as s", "where": "annee >= 2010 and arrdt = 13"}
    counted = client.get(URL, params={**params, "limit": 0}).json()
    assert counted == {"total_count": len(kept), "results": []}
    body = client.get(URL, params=params).json()
    assert body == {"total_count": len(kept), "results": [{"n": len(kept), "s": sum(int(r["nb_logmt_total"]) for r in kept)}]}
    everything = client.get(URL, params={"select": "count(*) as n", "limit": 0}).json()
    assert everything["total_count"] == len(rows)
    nothing = client.get(URL, params={"select": "count(*) as n", "where": "annee > 3000"}).json()
    assert nothing == {"total_count": 0, "results": [{"n": 0}]}
    grouped = client.get(URL, params={"select": "count(*) as n", "group_by": "arrdt", "limit": 0}).json()
    assert grouped["total_count"] == len({r["arrdt"] for r in rows})  # groups, as before
