"""geo_cluster()'s merged clusters combined from their cells' rows of the grid (``odsql.clusters``,
``_combined``), checked beyond test_geo_cluster_coarse.py: the engine's types of the answers
(a count stays a BIGINT, a sum of ints a HUGEINT, an avg a DOUBLE: the API writes an integer, never
a float or a decimal), aggregates of dates, datetimes, texts with nulls and multivalued texts,
aggregates over expressions and wrapped in functions (select, order_by, HAVING), another group
key with nulls, and every API route that merges clusters (v2.1 records and exports, v2.0, v1's
geocluster and its series), the caller's row filter and hidden fields included.

Each answer is compared with the one of the records regrouped, the path a median forces (the same
query with a median added, then left out of the comparison); doubles to 1e-12, as a sum of doubles
in another order may differ in its last bits."""

from __future__ import annotations

import csv
import json
import math
import random
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from sqlglot import exp

from portail.api import create_app
from portail.api.explore_service import GROUP_WINDOW
from portail.odsql import ODSQLError, Query, Security, compile_plan, merge_clusters
from tests.api.cluster_grid import records_read, same, sort_key
from tests.conftest import Published, current_version, published_instance, semicolon_rows

TOWNS = [(2.35, 48.85), (4.83, 45.76), (5.37, 43.30), (1.44, 43.60), (-1.55, 47.22), (7.75, 48.58)]
OLD = "median(a) as __regrouped"  # does not combine: the query regroups the records
KEY = "geo_cluster(geo_point_2d, 5)"
RECORDS = "/api/explore/v2.1/catalog/datasets/points/records"


def _maybe(rng: random.Random, text: str) -> str:
    return "" if rng.random() < 0.15 else text


def _records(seed: int = 11) -> list[list[str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(1500):
        lon, lat = (c + rng.gauss(0, 0.7) for c in TOWNS[i % len(TOWNS)])
        rows.append([_maybe(rng, rng.choice(["Alpha", "beta", "Gamma", "delta", "Émile", "zed"])),
                     _maybe(rng, str(rng.randint(-50, 900))),
                     _maybe(rng, f"{rng.uniform(0, 50):.2f}"),
                     _maybe(rng, str(rng.randint(10**15, 4 * 10**15))),
                     _maybe(rng, f"20{rng.randint(10, 24)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"),
                     _maybe(rng, f"2021-03-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00+00:00"),
                     _maybe(rng, "|".join(rng.sample(["rouge", "vert", "bleu", "noir"], rng.randint(1, 3)))),
                     f"{lat},{lon}"])
    rows += [["x", "1", "1.5", "5", "2020-01-01", "2021-01-01T00:00:00+00:00", "vert", ""] for _ in range(4)]  # no position
    return rows


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("combined-review")
    path = semicolon_rows(folder / "points.csv", ["t", "a", "b", "big", "d", "dt", "tags", "geo_point_2d"], _records())
    instance = published_instance(folder / "home", Published("points", path, annotations={"tags": {"multivalued": ["|"]}}))
    location, fields = current_version(instance, "points")
    types = {f.name: f.type for f in fields}
    assert [types[n] for n in ("t", "a", "b", "big", "d", "dt")] == ["text", "int", "double", "int", "date", "datetime"]
    yield instance, location, fields, TestClient(create_app(instance))
    instance.store.close()





def _engine(served, query: Query, security: Security | None = None, having=None):
    """``query``'s column types and rows from the cells' rows, and from the records regrouped."""
    instance, location, fields, _ = served
    answers = []
    for q, reads in ((query, ["__cluster_grid"]), (replace(query, select=f"{query.select}, {OLD}"), ["", "__cluster_grid"])):
        select = compile_plan(q, fields, security).select
        if having is not None:
            select = select.having(having(select), copy=False)
        select = merge_clusters(select, heaviest=GROUP_WINDOW)
        assert sorted(records_read(select)) == reads  # the path each takes
        with instance.store.cursor() as cur:
            cur.execute(instance.store.prepare(location, select).sql)
            types, rows = [str(d[1]) for d in cur.description], cur.fetchall()
        if q is not query:
            types, rows = types[:-1], [row[:-1] for row in rows]
        answers.append((types, rows if query.order_by else sorted(rows, key=sort_key)))
    return answers


MIXES = [  # (select, other group keys, order_by)
    ("count(*) as n, count(a) as na, count(t) as nt, count(tags) as ng, count(d) as nd", "", None),
    ("sum(a) as s, sum(big) as sbig, sum(b) as sb, avg(a) as x, avg(big) as xbig, avg(b) as xb", "", None),
    ("sum(a * b) as s, avg(a * b) as x, sum(big * big) as sq, avg(big * a) as xa, sum(a) - sum(b) as diff", "", None),
    ("min(d) as lo, max(d) as hi, min(dt) as l2, max(dt) as h2, max(date_format(d, 'yyyy-MM')) as m", "", None),
    ("min(t) as lo, max(t) as hi, min(tags) as tlo, max(tags) as thi, max(lower(t)) as low, min(length(t)) as len", "", None),
    ("round(avg(a), 2) as r, sum(a) / count(*) as q, abs(min(a)) + floor(avg(b)) as mix, ifnull(sum(a), 0) as s0", "", None),
    ("avg(ifnull(a, 0)) as x, sum(ifnull(b, 1.5)) as s, count(*) as n", "", "round(avg(ifnull(a, 0)), 1) desc, n desc"),
    ("t, count(*) as n, sum(a) as s, avg(b) as x, max(dt) as m", "t", "n desc, t"),
    ("a, count(*) as n, min(d) as lo", "a", None),  # a key of many values, nulls among them
    ("year(d) as y, count(*) as n, avg(a) as x", "year(d)", None),
]


@pytest.mark.parametrize("mix", MIXES, ids=[m[0][:48] for m in MIXES])
def test_types_and_values_are_the_records_regrouped_ones(served, mix):
    select, others, order_by = mix
    query = Query(select=select, group_by=", ".join(filter(None, [others, f"{KEY} as c"])), order_by=order_by, limit=-1)
    (new_types, new), (old_types, old) = _engine(served, query)
    assert new_types == old_types  # BIGINT counts, HUGEINT sums of ints, DOUBLE averages: never a DECIMAL
    assert len(new) > 3 and same(new, old), (new[:5], old[:5])


@pytest.mark.parametrize("having", ["round(avg)", "ratio"])
def test_a_having_over_wrapped_aggregates_reads_the_merged_clusters(served, having):
    def condition(select: exp.Select) -> exp.Expression:
        a = next(c for c in select.find_all(exp.Column) if c.name == "a").copy()
        if having == "round(avg)":
            return exp.GT(this=exp.func("round", exp.func("avg", a), exp.Literal.number(2)), expression=exp.Literal.number(420))
        return exp.LT(this=exp.Div(this=exp.func("sum", a), expression=exp.Count(this=exp.Star())),
                      expression=exp.Literal.number(400))
    query = Query(select="count(*) as n, avg(a) as x", group_by=f"{KEY} as c", order_by="n desc", limit=-1)
    (_, new), (_, old) = _engine(served, query, having=condition)
    (_, every), _ = _engine(served, query)
    assert 0 < len(new) < len(every) and same(new, old)


def test_a_row_filter_and_hidden_fields_hold_on_the_combined_path(served):
    """The grid reads the records through the caller's row filter, once: the merged clusters
    count and sum only its rows. A hidden field's aggregate is still refused, wrapped or not."""
    instance, location, fields, _ = served
    security = Security(row_filter="a > 300", hidden_fields=frozenset({"b"}))
    query = Query(select="count(*) as n, sum(a) as s, min(a) as lo", group_by=f"{KEY} as c", limit=-1)
    (_, new), (_, old) = _engine(served, query, security)
    assert same(new, old) and all(lo > 300 for _, _, _, lo in new)  # (c, n, s, lo)
    rows = [r for r in _records() if r[1] and int(r[1]) > 300]
    assert sum(n for _, n, _, _ in new) == len(rows) and sum(s for _, _, s, _ in new) == sum(int(r[1]) for r in rows)
    for select in ("count(*) as n, avg(b) as x", "count(*) as n, round(max(b), 1) as x"):
        with pytest.raises(ODSQLError):
            compile_plan(Query(select=select, group_by=f"{KEY} as c"), fields, security)


def _without(body, key: str = "m"):
    """An API answer's rows without the median, sorted."""
    rows = [{k: v for k, v in row.items() if k != key} for row in body]
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))


def _same_json(new, old) -> bool:
    return same(json.loads(json.dumps(new)), json.loads(json.dumps(old)))


SELECT = "count(*) as n, sum(a) as s, avg(a) as x, sum(b) as sb, min(d) as lo, max(dt) as hi, max(t) as top"


def test_v21_records_and_json_export_write_the_same_json(served):
    *_, client = served
    params = {"select": SELECT, "group_by": f"{KEY} as c", "limit": 100}
    new = client.get(RECORDS, params=params).json()["results"]
    old = client.get(RECORDS, params={**params, "select": f"{SELECT}, median(a) as m"}).json()["results"]
    assert len(new) > 3 and _same_json(_without(new), _without(old))
    assert all(type(r["n"]) is int and type(r["s"]) in (int, type(None)) and isinstance(r["x"], (float, type(None)))
               for r in new)  # a count and a sum of ints: integers; an average: a number
    export = "/api/explore/v2.1/catalog/datasets/points/exports/json"
    new_export = client.get(export, params={"select": SELECT, "group_by": f"{KEY} as c"}).json()
    old_export = client.get(export, params={"select": f"{SELECT}, median(a) as m", "group_by": f"{KEY} as c"}).json()
    assert _same_json(_without(new_export), _without(old_export)) and _same_json(_without(new_export), _without(new))


def test_csv_export_writes_the_same_texts(served):
    *_, client = served
    export = "/api/explore/v2.1/catalog/datasets/points/exports/csv"
    texts = []  # each row's centroid read (its doubles' last bits may differ), its other cells as written
    for select in ("count(*) as n, sum(a) as s, min(d) as lo, max(dt) as hi, max(t) as top, sum(big) as sbig",
                   "count(*) as n, sum(a) as s, min(d) as lo, max(dt) as hi, max(t) as top, sum(big) as sbig, median(a) as m"):
        answer = client.get(export, params={"select": select, "group_by": f"{KEY} as c"})
        assert answer.status_code == 200, answer.text
        rows = list(csv.reader(answer.text.lstrip("\ufeff").splitlines()[1:], delimiter=";"))
        texts.append(sorted(([json.loads(row[0]) if row[0] else None, *row[1:7]] for row in rows), key=lambda r: r[1:]))
    assert len(texts[0]) > 3 and same(texts[0], texts[1])
    assert all(row[1].isdigit() and row[2].lstrip("-").isdigit() for row in texts[0] if row[2]), texts[0]  # a count, a sum of ints: integers


def test_v20_records_write_the_same_json(served):
    *_, client = served
    url = "/api/explore/v2.0/catalog/datasets/points/records"
    params = {"select": "count(*) as n, sum(a) as s, avg(b) as x", "group_by": f"{KEY} as c", "limit": 100}
    new = client.get(url, params=params)
    old = client.get(url, params={**params, "select": f"{params['select']}, median(a) as m"})
    assert new.status_code == old.status_code == 200, new.text
    new_body, old_body = new.json(), old.json()
    fresh, kept = _without(new_body["records"]), _without(old_body["records"])
    assert len(fresh) > 3 and _same_json(fresh, kept) and all(type(r["n"]) is int for r in fresh)


def test_v1_geocluster_series_are_the_same(served):
    """v1's geocluster with COUNT, SUM, AVG, MIN, MAX and STDDEV series, without shapes
    (``return_polygons=false``, the map's choice): combined from the cells. With them (the
    default), envelope() regroups the records: the same clusters, with their hulls."""
    *_, client = served
    series = {"y.n.func": "COUNT", "y.s.func": "SUM", "y.s.expr": "a", "y.x.func": "AVG", "y.x.expr": "b",
              "y.lo.func": "MIN", "y.lo.expr": "a", "y.hi.func": "MAX", "y.hi.expr": "a", "y.sd.func": "STDDEV",
              "y.sd.expr": "a", "y.sq.func": "SUMSQUARES", "y.sq.expr": "a"}
    base = {"dataset": "points", "clusterprecision": 5, **series}
    new = client.get("/api/records/1.0/geocluster/", params={**base, "return_polygons": "false"})
    old = client.get("/api/records/1.0/geocluster/", params=base)
    assert new.status_code == old.status_code == 200, new.text

    def clusters(body):
        found = [{k: v for k, v in c.items() if k != "cluster"} for c in body["clusters"]]
        return sorted(found, key=lambda c: json.dumps(c["cluster_center"]))

    new_clusters, old_clusters = clusters(new.json()), clusters(old.json())
    assert len(new_clusters) == len(old_clusters) > 3
    for fresh, kept in zip(new_clusters, old_clusters):
        sd_new, sd_old = fresh["series"].pop("sd"), kept["series"].pop("sd")
        assert math.isclose(sd_new, sd_old, rel_tol=1e-9, abs_tol=1e-6)  # a difference of two close averages
        assert _same_json(fresh, kept) and type(fresh["count"]) is int


@pytest.mark.parametrize("filters", [{"where": '"gamma"'}, {"where": 'search(t, "alp") or a > 500', "refine": "tags:vert"},
                                     {"exclude": "t:beta", "where": "d >= date'2015-01-01'"}])
def test_full_text_refine_and_exclude_are_read_by_the_grid(served, filters):
    """The API's conditions (a full-text match the store resolves, refine, exclude) are added
    before the merge; the combined path reads them once, in the grid."""
    *_, client = served
    params = {"select": "count(*) as n, sum(a) as s, avg(b) as x", "group_by": f"{KEY} as c", "limit": 100, **filters}
    new = client.get(RECORDS, params=params)
    old = client.get(RECORDS, params={**params, "select": f"{params['select']}, median(a) as m"})
    assert new.status_code == old.status_code == 200, new.text
    assert len(new.json()["results"]) > 2 and _same_json(_without(new.json()["results"]), _without(old.json()["results"]))
    assert new.json()["total_count"] == old.json()["total_count"]
    assert 0 < sum(r["n"] for r in new.json()["results"]) < len(_records())  # the conditions kept some records only
