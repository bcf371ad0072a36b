"""geo_cluster()'s bounds. Its zoom is Opendatasoft's 0-25 (its clustering aggregation refuses
others), on v2.1 and on v1's geocluster. And the merge of neighbouring clusters (odsql.clusters)
is bounded: a fine grid makes a cell per point, and merging millions of cells cost 30 s of CPU
per call. Only as many cells as a records call shows groups (GROUP_WINDOW), the heaviest, take
part in it; under that many, the merge is the whole one, as before."""

from __future__ import annotations

import csv

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.api.explore_service import GROUP_WINDOW
from tests.api.cluster_grid import KEY, point
from tests.conftest import Published, published_instance

RECORDS = "/api/explore/v2.1/catalog/datasets/{}/records"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """``many``: GROUP_WINDOW cells of two points each, two cells apart (none merge), and one
    point alone in the cell east of the first, 0.15 cell from its centroid: a whole merge joins
    it to that cell (3 points), the bounded one leaves it apart (it is the lightest cell).
    ``few``: the same point beside one cell of two: under the bound, it merges as before."""
    folder = tmp_path_factory.mktemp("bounds")
    many, few = folder / "many.csv", folder / "few.csv"
    columns = 2 * 200  # cells per row of the grid, every other one used
    with open(many, "w", newline="", encoding="utf-8") as out, open(few, "w", newline="", encoding="utf-8") as small:
        writers = [csv.writer(out, delimiter=";"), csv.writer(small, delimiter=";")]
        for w in writers:
            w.writerow(["name", "geo_point_2d"])
        for i in range(GROUP_WINDOW):
            cx, cy = 2 * i % columns, 2 * (2 * i // columns)
            for j, fx in enumerate((0.89, 0.91)):
                writers[0].writerow([f"c{i}-{j}", point(cx, cy, fx)])
                if i == 0:
                    writers[1].writerow([f"c{i}-{j}", point(cx, cy, fx)])
        for w in writers:
            w.writerow(["alone", point(1, 0, 0.05)])
    instance = published_instance(folder / "home", Published("many", many), Published("few", few))
    yield TestClient(create_app(instance))
    instance.store.close()


def _counts(client, slug: str, **params) -> list[int]:
    response = client.get(RECORDS.format(slug), params={"select": "count(*) as n", "group_by": KEY, "order_by": "n desc",
                                                        "limit": 3, **params})
    assert response.status_code == 200, response.text
    return [r["n"] for r in response.json()["results"]]


def test_under_the_bound_the_merge_is_whole(client):
    assert _counts(client, "few") == [3]


def test_past_the_bound_only_the_heaviest_cells_merge(client):
    body = client.get(RECORDS.format("many"), params={"select": "count(*) as n", "group_by": KEY, "order_by": "n asc",
                                                     "limit": 1}).json()
    assert body["results"][0]["n"] == 1  # the lone point stays apart: its cell is not among the heaviest
    assert _counts(client, "many") == [2, 2, 2]
    exported = client.get(f"/api/explore/v2.1/catalog/datasets/many/exports/json",
                          params={"select": "count(*) as n", "group_by": KEY, "order_by": "n asc", "limit": 1}).json()
    assert [r["n"] for r in exported] == [1]  # exports merge alike


@pytest.mark.parametrize("zoom", ["-1", "26", "30"])
def test_a_zoom_out_of_0_to_25_is_refused(client, zoom):
    response = client.get(RECORDS.format("few"), params={"select": "count(*) as n",
                                                         "group_by": f"geo_cluster(geo_point_2d, {zoom})"})
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] and "zoom" in body["message"]
    v1 = client.get("/api/records/1.0/geocluster/", params={"dataset": "few", "clusterprecision": zoom})
    assert v1.status_code == 400 and "clusterprecision" in v1.json()["message"]


def test_the_finest_zoom_is_allowed(client):
    assert _counts(client, "few", group_by="geo_cluster(geo_point_2d, 25)") == [1, 1, 1]
    v1 = client.get("/api/records/1.0/geocluster/", params={"dataset": "few", "clusterprecision": 25}).json()
    assert sorted(c["count"] for c in v1["clusters"]) == [1, 1, 1]
