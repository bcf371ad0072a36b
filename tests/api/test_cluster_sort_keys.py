"""geo_cluster()'s bound (``odsql.clusters``) picks the GROUP_WINDOW heaviest cells by the byte
key DuckDB's ``create_sort_key`` makes of (n desc, the other group keys asc, x desc, y desc),
not by an ORDER BY: the key must order every kind of group key as ORDER BY does (NULL last,
numbers by value, negative ones included, dates before 1970, accented text by code point) and keep exactly as many
cells as the bound, ties in weight included.

Every cell here weighs one point, and cells come in pairs whose centroids are 0.1 cell apart:
a pair kept whole merges into one group of 2. GROUP_WINDOW + 2 cells: exactly one pair, the
last in that order, is left out, and shows as two groups of 1."""

from __future__ import annotations

import csv

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.api.explore_service import GROUP_WINDOW
from tests.api.cluster_grid import KEY, point
from tests.conftest import Published, published_instance

COLUMNS = ("t_null", "t_accent", "num", "day", "flag")
ORDINARY = {"t_null": "e", "t_accent": "e", "num": "0", "day": "2024-01-01", "flag": "false"}
#: Pairs with a value of their own in one column (ordinary in the others): ``last`` sorts after
#: every other value of its column, ``before`` is one a wrong key would put last instead.
SPECIAL = {
    "null": ("t_null", ""), "nonnull": ("t_null", "zz"),  # NULL last, after "zz"
    "accent": ("t_accent", "É"), "plain": ("t_accent", "f"),  # by code point: "É" after "f"
    "ten": ("num", "10"), "nine": ("num", "9"), "negative": ("num", "-1.5"),  # as text, "9" is last; a
    # sign bit read as a high bit puts -1.5 last
    "future": ("day", "2099-12-31"), "old": ("day", "1900-02-28"),
    "yes": ("flag", "true"),
}
LAST = {"t_null": "null", "t_accent": "accent", "num": "ten", "day": "future", "flag": "yes"}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sort-keys")
    path = folder / "pairs.csv"
    names = list(SPECIAL) + [f"p{i}" for i in range(GROUP_WINDOW // 2 + 1 - len(SPECIAL))]
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(["name", "geo_point_2d", *COLUMNS])
        for i, name in enumerate(names):
            cx, cy = 3 * (i % 130), 2 * (i // 130)  # pairs two empty cells apart: none merge across
            values = dict(ORDINARY)
            if name in SPECIAL:
                column, value = SPECIAL[name]
                values[column] = value
            for j, (dx, fx) in enumerate(((0, 0.95), (1, 0.05))):
                writer.writerow([f"{name}-{j}", point(cx + dx, cy, fx), *[values[c] for c in COLUMNS]])
    instance = published_instance(folder / "home", Published("pairs", path))
    yield TestClient(create_app(instance))
    instance.store.close()


@pytest.mark.parametrize("column", COLUMNS)
def test_the_pair_left_out_is_the_last_in_the_order_of_its_group_key(client, column):
    params = {"select": "count(*) as n, min(name) as first", "group_by": f"{KEY}, {column}",
              "order_by": "n asc, first", "limit": 3}
    response = client.get("/api/explore/v2.1/catalog/datasets/pairs/records", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    last = LAST[column]
    assert [(r["n"], r["first"]) for r in body["results"]][:2] == [(1, f"{last}-0"), (1, f"{last}-1")]
    assert body["results"][2]["n"] == 2  # every other pair kept whole: no more cells than the bound
    assert body["total_count"] == GROUP_WINDOW // 2 + 1 + 1  # the pairs, one of them as two groups
    exported = client.get("/api/explore/v2.1/catalog/datasets/pairs/exports/json", params={**params, "limit": 2}).json()
    assert [(r["n"], r["first"]) for r in exported] == [(1, f"{last}-0"), (1, f"{last}-1")]  # exports alike
