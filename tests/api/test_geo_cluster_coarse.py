"""geo_cluster() at coarse zooms (``odsql.clusters``, step 6): when every value a query reads off
its groups combines from its cells' (counts, sums, min, max, avg, the centroid, bbox()), a
merged cluster's outputs are computed from its cells' rows of the grid, not by grouping its
records again. At a map's first view (France at zoom 5) nearly every cell joins a cluster of
several: regrouping the records grouped nearly every record twice.

The answers are checked against those of the records regrouped, the path any other aggregate
takes: the same query with a median added (which does not combine) and then left out of the
comparison. Doubles are compared to 1e-12: a sum of doubles in another order may differ in its
last bits, as it does between the engine's threads."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from sqlglot import exp

from portail.api.explore_service import GROUP_WINDOW
from portail.odsql import Query, compile_plan, merge_clusters
from tests.api.cluster_grid import records_read, same, sort_key
from tests.conftest import Published, current_version, published_instance, semicolon_rows

#: Towns of France, each a clump of points, and a scattering over the whole country.
TOWNS = [(2.35, 48.85), (4.83, 45.76), (5.37, 43.30), (1.44, 43.60), (-1.55, 47.22), (7.75, 48.58),
         (3.06, 50.63), (-0.58, 44.84), (-1.68, 48.11), (3.88, 43.61), (6.18, 48.69), (0.69, 47.39)]
NO_POP, NO_PRICE = 8, 9  # towns whose records have no pop (no price): a cluster whose sum is null
OLD = "median(pop) as __regrouped"  # does not combine: the query regroups the records


def _records(seed: int = 7) -> list[list[str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(2400):
        town = i % (len(TOWNS) + 1)
        if town < len(TOWNS):
            lon, lat = (c + rng.gauss(0, 0.6) for c in TOWNS[town])
        else:
            lon, lat = rng.uniform(-4.5, 7.5), rng.uniform(42.5, 51)
        pop = "" if town == NO_POP or rng.random() < 0.1 else str(rng.randint(-50, 900_000))
        price = "" if town == NO_PRICE or rng.random() < 0.1 else f"{rng.uniform(0, 5000):.2f}"
        kind = rng.choice(["a", "b", "c", ""])
        rows.append([kind, pop, price, f"{lat},{lon}"])
    rows += [[rng.choice("ab"), str(rng.randint(0, 9)), "1.5", ""] for _ in range(15)]  # no position: the null cell
    return rows


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("coarse")
    path = semicolon_rows(folder / "points.csv", ["kind", "pop", "price", "geo_point_2d"], _records())
    instance = published_instance(folder / "home", Published("points", path))
    location, fields = current_version(instance, "points")
    assert {f.name: f.type for f in fields}["pop"] == "int" and {f.name: f.type for f in fields}["price"] == "double"
    yield instance, location, fields
    instance.store.close()



def _run(instance, location: str, select: exp.Select) -> list[tuple]:
    with instance.store.cursor() as cur:
        return cur.execute(instance.store.prepare(location, select).sql).fetchall()





def _both(served, query: Query, heaviest: int | None = GROUP_WINDOW, having=None) -> tuple[list[tuple], list[tuple]]:
    """``query``'s groups from the cells' rows and from the records regrouped (the median left out)."""
    instance, location, fields = served
    selects = []
    for q in (query, replace(query, select=f"{query.select}, {OLD}")):
        select = compile_plan(q, fields).select
        if having is not None:
            select = select.having(having(select), copy=False)
        selects.append(merge_clusters(select, heaviest=heaviest))
    combined, regrouped = selects
    assert records_read(combined) == ["__cluster_grid"]  # the merged clusters are grouped from the grid's rows
    assert sorted(records_read(regrouped)) == ["", "__cluster_grid"]  # and there, from the records again
    new, old = _run(instance, location, combined), [row[:-1] for row in _run(instance, location, regrouped)]
    if query.order_by is None:
        new, old = sorted(new, key=sort_key), sorted(old, key=sort_key)
    return new, old


def _key(zoom: int) -> str:
    return f"geo_cluster(geo_point_2d, {zoom})"


MIXES = [  # (select, group_by's other keys, order_by)
    ("count(*) as n", "", None),  # the map's view (map.js): count and the centroid
    ("count(*) as n, bbox(geo_point_2d) as b", "", "n desc"),  # the map's fit to the records
    ("count(*) as n, count(pop) as np, sum(pop) as s, min(pop) as lo, max(pop) as hi, avg(pop) as a", "", None),
    ("count(price) as np, sum(price) as s, avg(price) as a, min(price) as lo, max(price) as hi", "", "avg(price) desc"),
    ("kind, count(*) as n, avg(pop) as a, sum(price) as s, bbox(geo_point_2d) as b", "kind", "n desc, kind"),
    ("kind, count(pop) as np, sum(pop) as s, avg(price) as a", "kind", "sum(pop) asc"),
    ("pop, count(*) as n", "pop", None),  # a key of many values, nulls among them
    ("count(*) as n, avg(pop) + avg(price) as mix, max(price) - min(price) as spread", "", "spread desc"),
]


@pytest.mark.parametrize("zoom", [4, 5, 7])
@pytest.mark.parametrize("mix", MIXES, ids=[m[0][:40] for m in MIXES])
def test_merged_clusters_from_the_cells_answer_as_the_records_regrouped(served, zoom, mix):
    select, others, order_by = mix
    query = Query(select=select, group_by=", ".join(filter(None, [others, f"{_key(zoom)} as c"])), order_by=order_by,
                  limit=-1)
    new, old = _both(served, query)
    assert len(new) > 3 and same(new, old), (new, old)


@pytest.mark.parametrize("where", ["pop > 100000", "kind = 'a'", "price < 100 or pop is null"])
def test_the_queries_conditions_are_the_same_for_both(served, where):
    query = Query(select="kind, count(*) as n, count(pop) as np, sum(pop) as s, avg(price) as a", where=[where],
                  group_by=f"kind, {_key(5)} as c", limit=-1)
    new, old = _both(served, query)
    assert len(new) > 3 and same(new, old)


def test_v20_leaves_the_null_cell_out_with_having(served):
    """v2.0 leaves records without a value out of the groups: a HAVING over the cells' keys."""
    query = Query(select="count(*) as n, sum(pop) as s", group_by=f"{_key(5)} as c", limit=-1, v20=True)
    new, old = _both(served, query)
    assert len(new) > 3 and same(new, old)


@pytest.mark.parametrize("having", ["count", "sum"])
def test_having_on_aggregates_reads_the_merged_clusters(served, having):
    """A HAVING on an aggregate is read off the merged clusters, as the query's outputs."""
    def condition(select: exp.Select) -> exp.Expression:
        value = exp.Count(this=exp.Star()) if having == "count" else \
            next(a.this.copy() for a in select.expressions if a.alias == "s")
        return exp.GT(this=value, expression=exp.Literal.number(40 if having == "count" else 5_000_000))
    query = Query(select="count(*) as n, sum(pop) as s, avg(price) as a", group_by=f"{_key(6)} as c", order_by="n desc",
                  limit=-1)
    new, old = _both(served, query, having=condition)
    everything, _ = _both(served, query)
    assert 0 < len(new) < len(everything) and same(new, old)


@pytest.mark.parametrize("heaviest", [3, 12, None])
def test_a_bounded_merge_is_the_same_for_both(served, heaviest):
    query = Query(select="kind, count(*) as n, avg(pop) as a", group_by=f"kind, {_key(6)} as c", order_by="n desc",
                  limit=-1)
    new, old = _both(served, query, heaviest=heaviest)
    assert len(new) > 3 and same(new, old)


@pytest.mark.parametrize("aggregate", ["median(pop)", "percentile(price, 90)", "count(distinct kind)",
                                       "envelope(geo_point_2d)"])
def test_an_aggregate_that_does_not_combine_regroups_the_records(served, aggregate):
    """envelope() is a convex hull of the records' list; a median, a percentile and a count of
    distinct values are not computed from their cells' either."""
    instance, location, fields = served
    select = compile_plan(Query(select=f"count(*) as n, {aggregate} as v", group_by=f"{_key(5)} as c"), fields).select
    assert sorted(records_read(merge_clusters(select, heaviest=GROUP_WINDOW))) == ["", "__cluster_grid"]


def test_the_maps_first_view_reads_the_records_once(served):
    """What map.js asks (count(*), the centroid at the map's zoom) over France at zoom 5: the
    records are read once, by the grid; the merged clusters are grouped from the grid's rows."""
    instance, location, fields = served
    select = merge_clusters(compile_plan(Query(select="count(*) as n", group_by=f"{_key(5)} as c"), fields).select,
                            heaviest=GROUP_WINDOW)
    assert records_read(select) == ["__cluster_grid"]
    groups = select.find(exp.Union)
    assert groups is not None and groups.right.args["from_"].this.name == "__cluster_grid"  # the merged clusters
    rows = _run(instance, location, select)
    assert sum(n for _, n in rows) == 2415 and len(rows) < 60  # every record (c, n), in clusters of many cells
