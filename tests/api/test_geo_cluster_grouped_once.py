"""geo_cluster()'s merge (``odsql.clusters``) groups each record once, into its cell: the grid the
merge reads, whose rows are the answer's groups wherever a cluster is one cell. Only the records
of clusters of two cells or more are grouped again, by their cluster. The query used to group
every record a second time, by the cluster its cell joined: at fine zooms, where nearly every
point is a cluster of its own, that cost as much as the grid itself (2 M points at zoom 25: two
groupings into 2 M groups). The engine's profile counts the rows each grouping reads from the
records (timings live in bench/api.py). A query whose every output can be combined from the cells'
values (a count, sums, the centroid) groups the merged clusters' cells, not their records: each
record is grouped once whatever the zoom (tests/api/test_geo_cluster_coarse.py compares both
ways)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.api.explore_service import GROUP_WINDOW
from portail.odsql import Query, compile_plan, merge_clusters
from tests.api.cluster_grid import KEY, point
from tests.conftest import Published, current_version, published_instance, semicolon_rows

QUERY = Query(select="count(*) as n", group_by=KEY, order_by="n desc")
LONE, EACH = 40, 4  # cells of EACH points, two cells apart: none merge
PAIR = 3  # points on each side of a cell border, 0.05 cell from it: one cluster of two cells
NOWHERE = 2  # records without a point: the null group
WEIGHT = {"lone": 2, "west": 1, "east": 1, "nowhere": 3}  # one per cluster: the pair's two cells share theirs
ROWS = LONE * EACH + 2 * PAIR + NOWHERE


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("grouped-once")
    rows = [[f"lone{i}", WEIGHT["lone"], point(2 * i, 0, 0.5)] for i in range(LONE) for _ in range(EACH)]
    for side, (cx, fx) in (("west", (0, 0.95)), ("east", (1, 0.05))):
        rows += [[side, WEIGHT[side], point(cx, 10, fx)]] * PAIR
    rows += [["nowhere", WEIGHT["nowhere"], ""]] * NOWHERE
    path = semicolon_rows(folder / "points.csv", ["name", "weight", "geo_point_2d"], rows)
    instance = published_instance(folder / "home", Published("points", path))
    location, fields = current_version(instance, "points")
    yield instance, location, fields, TestClient(create_app(instance))
    instance.store.close()


def _grouped_records(instance, location: str, sql: str) -> int:
    """The rows the query's groupings read from the records table (those over the grid of cells
    or the clusters not counted): each grouping's input, when a scan of the records feeds it."""
    def reads_records(node: dict) -> bool:
        return (node.get("operator_type") == "TABLE_SCAN" and "records" in str(node.get("extra_info", {}).get("Table"))) \
            or any(reads_records(child) for child in node.get("children", []))

    def grouped(node: dict) -> int:
        own = sum(child.get("operator_cardinality", 0) for child in node.get("children", [])) \
            if node.get("operator_type", "").endswith("GROUP_BY") and reads_records(node) else 0
        return own + sum(grouped(child) for child in node.get("children", []))

    with instance.store.cursor() as cur:
        cur.execute("PRAGMA enable_profiling = 'no_output'")
        cur.execute(sql).fetchall()
        return grouped(json.loads(cur.get_profiling_information(format="json")))


def test_each_record_is_grouped_once_merged_clusters_included(served):
    instance, location, fields, client = served
    sql = instance.store.prepare(location, merge_clusters(compile_plan(QUERY, fields).select, heaviest=GROUP_WINDOW)).sql
    assert _grouped_records(instance, location, sql) == ROWS  # it was 2 * ROWS - NOWHERE (every record twice), then ROWS + 2 * PAIR
    body = client.get("/api/explore/v2.1/catalog/datasets/points/records",
                      params={"select": "count(*) as n", "group_by": KEY, "order_by": "n desc", "limit": 100}).json()
    assert body["total_count"] == LONE + 2
    assert [r["n"] for r in body["results"]] == [2 * PAIR] + [EACH] * LONE + [NOWHERE]
    assert body["results"][-1][KEY] is None  # the records without a point


@pytest.mark.parametrize("where", ["select", "order_by"])
def test_an_aggregate_known_by_name_over_a_group_key_is_computed_per_group(served, where):
    """median() and percentile() compile to functions sqlglot knows by name only: read over the
    groups' columns, median(weight) with weight a group key aggregated the groups themselves
    (a 500: the groups' weight was neither grouped nor aggregated). Each is computed per cell
    and per merged cluster, as every other aggregate."""
    client = served[3]
    aggregates = "median(weight) as m, percentile(weight, 90) as p, "
    response = client.get("/api/explore/v2.1/catalog/datasets/points/records", params={
        "select": f"weight, {aggregates if where == 'select' else ''}count(*) as n", "group_by": f"weight, {KEY}",
        "order_by": "n desc" if where == "select" else "median(weight) desc, n desc", "limit": 100})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total_count"] == LONE + 2
    pair, lone, nowhere = [(1, 2 * PAIR)], [(2, EACH)] * LONE, [(3, NOWHERE)]  # (weight, n): the pair merged
    by_count, by_median = pair + lone + nowhere, nowhere + lone + pair
    assert [(r["weight"], r["n"]) for r in body["results"]] == (by_count if where == "select" else by_median)
    if where == "select":
        assert all(r["m"] == r["p"] == r["weight"] for r in body["results"])
