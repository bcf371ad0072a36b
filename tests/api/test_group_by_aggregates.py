"""Aggregates and groups of the Explore API, each checked against what Opendatasoft documents:
``count(distinct *)``, ``range()`` buckets, ``geo_cluster()`` at the deepest zooms and
``count(distinct f)`` in the groups of the multivalued ``f`` itself; and, on the same small
instance, the 2019 beta's ``search`` and ``sort`` on v2.0 and ``explore.download_count``."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import Published, annotated, published_instance

V21 = "/api/explore/v2.1/catalog/datasets"
V20 = "/api/explore/v2.0/catalog/datasets"

#: Five points a few hundred metres apart, one without a position.
LIEUX_CSV = "id;geo_point_2d\n" + "".join(f"{i};{45 + i * 0.003}, {4 + i * 0.003}\n" for i in range(5)) + "5;\n"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("group_by_aggregates")
    (folder / "lieux.csv").write_text(LIEUX_CSV, encoding="utf-8")
    instance = published_instance(folder / "home", annotated(folder), Published("lieux", folder / "lieux.csv", "Lieux"))
    yield TestClient(create_app(instance))
    instance.store.close()


def _results(client: TestClient, url: str, **params) -> list[dict]:
    answer = client.get(url, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()["results"]


def _v20_fields(client: TestClient, url: str, **params) -> list[dict]:
    answer = client.get(url, params=params)
    assert answer.status_code == 200, answer.text
    return [r["record"]["fields"] for r in answer.json()["records"]]


def test_count_distinct_star_is_refused_by_name(client):
    """Opendatasoft documents count(*) and count(distinct field) only: ``count(distinct *)`` is a
    400 ODSQLError that says why, not a syntax error pointing at the star."""
    for params in ({"select": "count(distinct *)"}, {"select": "cat, count(distinct *) as n", "group_by": "cat"}):
        answer = client.get(f"{V21}/mv/records", params=params)
        assert answer.status_code == 400
        body = answer.json()
        assert body["error_code"] == "ODSQLError"
        assert "count(distinct *) is not supported" in body["message"] and "count(*)" in body["message"]
    # the other aggregates still refuse distinct as before
    answer = client.get(f"{V21}/mv/records", params={"select": "sum(distinct *)"})
    assert answer.status_code == 400 and "only allowed in count" in answer.json()["message"]


def test_range_buckets_without_records(client):
    """Equal widths leave empty buckets out, as documented ("groups that do not contain any data
    are not returned"): n holds 1, 2, 3, 5, 7, 8 and 1, so [4, 5] is there and no [10, 11].
    Static bounds: Opendatasoft documents the groups they create but not whether an empty one
    is listed; a bucket without records is left out here too, as every other group_by key."""
    widths = {r["range(n, 2)"]: r["count(*)"] for r in _results(client, f"{V21}/mv/records", select="count(*)",
                                                                   group_by="range(n, 2)")}
    assert widths == {"[0, 1]": 2, "[2, 3]": 2, "[4, 5]": 1, "[6, 7]": 1, "[8, 9]": 1}
    static = _results(client, f"{V21}/mv/records", select="count(*) as c", group_by="range(n, 2, 4, 100, 200) as r")
    assert [(r["r"], r["c"]) for r in static] == [("[2, 3]", 2), ("[4, 99]", 3)]


def test_geo_cluster_at_the_deepest_zoom_without_a_filter(client):
    """Zoom 25 is in Opendatasoft's documented range (0-25) and it requires no bbox: answered,
    every point its own cluster (cells of ~20 cm), the record without a position in the null
    group (v2.1 groups nulls); the 20,000-group cap and the engine's memory guard bound the
    cost on a large dataset."""
    for zoom in (14, 25):
        rows = _results(client, f"{V21}/lieux/records", select="count(*) as n",
                        group_by=f"geo_cluster(geo_point_2d, {zoom}) as c")
        assert rows[0] == {"c": None, "n": 1}
        assert sum(r["n"] for r in rows[1:]) == 5 and all(r["c"]["cluster_centroid"] for r in rows[1:])
    assert [r["n"] for r in rows] == [1] * 6


def test_v20_search_and_sort_are_read(client):
    """The 2019 beta's swagger (``/api/v2``) lists ``search`` ("a prefixed text search for each
    provided terms in all visible fields") and ``sort`` ("deprecated, use order_by": field
    names, ``-`` for descending) on records, datasets, facets and exports; v2.0 clients send
    them. Ignored, they answered every record in storage order."""
    found = _v20_fields(client, f"{V20}/mv/records", search="isè", select="id")
    assert sorted(r["id"] for r in found) == [1, 7]  # "fr/ara/isere": a prefix, accents folded
    both = _v20_fields(client, f"{V20}/mv/records", search=["fr", "par"], select="id")
    assert [r["id"] for r in both] == [3]  # repeated values are ANDed
    assert _v20_fields(client, f"{V20}/mv/records", search="zzz", select="id") == []
    ordered = _v20_fields(client, f"{V20}/mv/records", sort="-n,id", select="id,n")
    assert [r["id"] for r in ordered] == [8, 7, 5, 3, 2, 1, 6, 4]  # nulls last, ties by id
    assert [r["id"] for r in _v20_fields(client, f"{V20}/mv/records", sort=["-n", "id"], select="id")][:2] == [8, 7]
    kept = _v20_fields(client, f"{V20}/mv/records", sort="-n", order_by="id", select="id")
    assert [r["id"] for r in kept] == [1, 2, 3, 4, 5, 6, 7, 8]  # order_by wins, as limit over rows
    unknown = client.get(f"{V20}/mv/records", params={"sort": "-nope"})
    assert unknown.status_code == 400 and "Unknown field: nope" in unknown.json()["message"]
    injected = client.get(f"{V20}/mv/records", params={"search": 'x") or ("'})
    assert injected.status_code == 200 and injected.json()["total_count"] == 0

    facets = client.get(f"{V20}/mv/facets", params={"search": "isere", "facet": "cat"}).json()["facets"]
    assert {v["name"]: v["count"] for v in facets[0]["facets"]} == {"A": 1, "A/B": 1}
    catalog = client.get(V20, params={"search": "annot", "select": "dataset_id"}).json()
    assert [d["dataset"]["dataset_id"] for d in catalog["datasets"]] == ["mv"]
    exported = client.get(f"{V20}/mv/exports/json", params={"search": "fr", "sort": "-id", "select": "id"})
    assert [r["id"] for r in json.loads(exported.content)] == [8, 7, 5, 4, 3, 2, 1]


def test_download_count_is_null_without_a_counter(client):
    """Opendatasoft's ``explore.download_count`` (``include_app_metas``, and an ODSQL field of
    the catalogue) counts downloads; Portail counts none yet: null, its value for a missing
    meta, never a 0 that would read as "never downloaded"."""
    body = client.get(f"{V21}/mv", params={"include_app_metas": "true"}).json()
    assert body["metas"]["explore"]["download_count"] is None
    rows = _results(client, V21, select="dataset_id, explore.download_count as d", order_by="dataset_id")
    assert rows == [{"dataset_id": "lieux", "d": None}, {"dataset_id": "mv", "d": None}]
    assert _results(client, V21, where="explore.download_count > 0") == []


def test_count_distinct_of_the_multivalued_field_grouped_by(client):
    """group_by=tags with count(distinct tags): each group counts every value its records hold,
    as Elasticsearch's cardinality under a terms bucket of the same field does (the bucket's
    documents, all of their values): group a holds records 1 [a], 2 [a, b], 6 [a, c, a] and
    8 [a, b], so 3 distinct values; the records without a value make the null group, 0."""
    rows = _results(client, f"{V21}/mv/records", select="tags, count(distinct tags) as d, count(*) as n",
                    group_by="tags")
    assert rows == [{"tags": None, "d": 0, "n": 1}, {"tags": "a", "d": 3, "n": 4}, {"tags": "b", "d": 3, "n": 3},
                    {"tags": "c", "d": 3, "n": 3}, {"tags": "x/y", "d": 1, "n": 1}]
    assert _results(client, f"{V21}/mv/records", select="count(distinct tags) as d") == [{"d": 4}]
