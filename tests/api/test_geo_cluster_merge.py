"""geo_cluster()'s second step (the reference's §5.5): clusters whose centroids are closer than
the radius merge. Two tight groups of points astride a cell border are one cluster, counted and
centred over both; a group ten cells away stays apart; the merge is decided over the rows every
condition keeps (without the group near the border, the rest of its cell is centred too far
away to merge) and within each value of another group key."""

from __future__ import annotations

from statistics import mean

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.api.cluster_grid import KEY, RADIUS, SIZE, ZOOM
from tests.conftest import Published, published_instance, semicolon_rows

BORDER = 100 * SIZE  # a cell border (longitude)
LAT = 45.0 + SIZE / 2  # the middle of a row of cells
GROUPS = {"west": BORDER - 0.05 * SIZE, "westfar": BORDER - 0.99 * SIZE, "east": BORDER + 0.05 * SIZE,
          "far": BORDER + 10.5 * SIZE}
COUNTS = {"west": 10, "westfar": 2, "east": 10, "far": 10}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clusters")
    rows = [[f"{name}{i}", name, "a" if name != "east" else "b", 1.5 if name == "west" else 2.5,
             f"{LAT + (i - 5) * 1e-5},{lon + (i - 5) * 1e-5}"] for name, lon in GROUPS.items() for i in range(COUNTS[name])]
    rows.append(["nowhere", "none", "a", 0.5, ""])
    path = semicolon_rows(folder / "points.csv", ["name", "side", "kind", "weight", "geo_point_2d"], rows)
    instance = published_instance(folder / "home", Published("points", path))
    yield TestClient(create_app(instance))
    instance.store.close()


def clusters(client, **params):
    body = client.get("/api/explore/v2.1/catalog/datasets/points/records",
                      params={"select": "count(*) as n", "group_by": KEY, "order_by": "n desc", **params})
    assert body.status_code == 200, body.text
    return [(r["n"], r[KEY] and r[KEY]["cluster_centroid"]) for r in body.json()["results"]]


def lons(*sides):
    return mean(GROUPS[s] + (i - 5) * 1e-5 for s in sides for i in range(COUNTS[s]))


def test_neighbours_astride_a_cell_border_merge(client):
    found = clusters(client)
    assert [n for n, _ in found] == [22, 10, 1]
    assert found[0][1]["lon"] == pytest.approx(lons("west", "westfar", "east"))  # centred over the three groups
    assert found[1][1]["lon"] == pytest.approx(lons("far"))
    assert found[2][1] is None  # the record without a point


def test_the_merge_follows_every_condition(client):
    assert [n for n, _ in clusters(client, refine="side:west")] == [10]
    # A refinement on a field no index resolves: the plan of its shape takes the value as a
    # parameter, which the merge's two readings of the conditions could not share.
    assert [n for n, _ in clusters(client, exclude="weight:1.5")] == [10, 10, 2, 1]
    # Without the west group, the rest of its cell is centred 1.04 cells from the east group's.
    kept = clusters(client, exclude="side:west", where="geo_point_2d is not null")
    assert [n for n, _ in kept] == [10, 10, 2]
    assert sorted(c["lon"] for _, c in kept) == pytest.approx(sorted([lons("westfar"), lons("east"), lons("far")]))


def test_clusters_merge_within_each_value_of_another_key(client):
    body = client.get("/api/explore/v2.1/catalog/datasets/points/records",
                      params={"select": "kind, count(*) as n", "group_by": f"kind, {KEY}", "where": "geo_point_2d is not null",
                              "order_by": "kind"}).json()
    assert sorted((r["kind"], r["n"]) for r in body["results"]) == [("a", 10), ("a", 12), ("b", 10)]


def test_v1_geocluster_and_exports_merge_alike(client):
    v1 = client.get("/api/records/1.0/geocluster/", params={"dataset": "points", "clusterprecision": ZOOM,
                                                           "clusterdistance": RADIUS}).json()
    assert sorted(c["count"] for c in v1["clusters"]) == [10, 22]
    exported = client.get("/api/explore/v2.1/catalog/datasets/points/exports/json",
                          params={"select": "count(*) as n", "group_by": f"geo_cluster(geo_point_2d, {ZOOM}, {RADIUS})"})
    assert sorted(r["n"] for r in exported.json()) == [1, 10, 22]
