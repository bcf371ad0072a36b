"""Which cells take part in geo_cluster()'s bounded merge (``odsql.clusters``, GROUP_WINDOW of
them, the heaviest). Among cells of the same weight, the greatest cell counts as the heavier, as
it does when a cell's heaviest neighbour is chosen: then a cell kept has its heavier neighbours
kept too, and is merged as in the whole merge. Keeping the smallest cells of a tie instead made
a cell the centre of a cluster whose real centre had been left out, and the clusters shown
differed from those of the whole merge."""

from __future__ import annotations

import csv

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.api.explore_service import GROUP_WINDOW
from tests.api.cluster_grid import KEY, point
from tests.conftest import Published, published_instance

RECORDS = "/api/explore/v2.1/catalog/datasets/{}/records"
#: Three cells in a row, two points each: c's and a's centroids are 0.55 cell apart, a's and b's
#: too, c's and b's 1.1 (no merge). The whole merge: b (the greatest of equals) is a centre, a
#: joins it, c has no centre near it and stays apart.
TRIO = {"c": (0, 0.95), "a": (1, 0.5), "b": (2, 0.05)}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """``tie``: GROUP_WINDOW - 2 isolated cells of three points (kept first), then the trio,
    whose cells tie for the last two places. ``trio``: the trio alone (under the bound)."""
    folder = tmp_path_factory.mktemp("parts")
    tie, trio = folder / "tie.csv", folder / "trio.csv"
    with open(tie, "w", newline="", encoding="utf-8") as out, open(trio, "w", newline="", encoding="utf-8") as small:
        writers = [csv.writer(out, delimiter=";"), csv.writer(small, delimiter=";")]
        for w in writers:
            w.writerow(["name", "geo_point_2d"])
        columns = 2 * 200
        for i in range(GROUP_WINDOW - 2):
            cx, cy = 2 * i % columns, 2 * (2 * i // columns)
            for j in range(3):
                writers[0].writerow([f"h{i}-{j}", point(cx, cy, 0.5)])
        for name, (cx, fx) in TRIO.items():
            for w in writers:
                w.writerows([[name, point(cx, -10, fx)]] * 2)
    instance = published_instance(folder / "home", Published("tie", tie), Published("trio", trio))
    yield TestClient(create_app(instance))
    instance.store.close()


def _lightest(client, slug: str) -> list[tuple[int, str]]:
    response = client.get(RECORDS.format(slug), params={"select": "count(*) as n, min(name) as first", "group_by": KEY,
                                                        "order_by": "n asc, first", "limit": 2})
    assert response.status_code == 200, response.text
    return [(r["n"], r["first"]) for r in response.json()["results"]]


def test_the_whole_merge_joins_a_to_b(client):
    assert _lightest(client, "trio") == [(2, "c"), (4, "a")]


def test_cells_tied_at_the_bound_are_kept_greatest_first_as_the_merge_weighs_them(client):
    """a and b kept (c left out): a joins b as in the whole merge. With the smallest kept (c and
    a), a became a centre and took c in: (4, "a") and b alone."""
    assert _lightest(client, "tie") == [(2, "c"), (3, "h0-0")]
    body = client.get(RECORDS.format("tie"), params={"select": "count(*) as n, min(name) as first", "group_by": KEY,
                                                    "where": "name in ('a', 'b', 'c')", "order_by": "n asc"}).json()
    assert [(r["n"], r["first"]) for r in body["results"]] == [(2, "c"), (4, "a")]  # filtered: under the bound
    exported = client.get("/api/explore/v2.1/catalog/datasets/tie/exports/json",
                          params={"select": "count(*) as n, min(name) as first", "group_by": KEY,
                                  "order_by": "n asc, first", "limit": 1}).json()
    assert [(r["n"], r["first"]) for r in exported] == [(2, "c")]  # exports keep the same cells
