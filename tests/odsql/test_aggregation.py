"""Aggregates, group_by (fields, functions, range(), geo_cluster()), key naming, and the
caller's security, compiled, run, and checked against Python."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from statistics import mean
from zoneinfo import ZoneInfo

import pytest
import shapely

from portail.odsql import ODSQLError, Security, parse
from tests.odsql import oracle
from tests.odsql.conftest import ROWS, expect, ids, refusal, run


def test_aggregates_without_group_by_give_one_row(con):
    rows = run(con, select="count(*), count(name) as named, count(distinct city) as cities, sum(pop), avg(score), "
                           "min(d), max(ts), min(name), median(pop), percentile(score, 90) as p90, "
                           "sum(pop) / count(pop) as mean_pop")
    assert len(rows) == 1
    row = rows[0]
    pops, scores = oracle.non_null("pop"), oracle.non_null("score")
    assert row["count(*)"] == len(ROWS)
    assert row["named"] == len(oracle.non_null("name"))
    assert row["cities"] == len(set(oracle.non_null("city")))
    assert row["sum(pop)"] == sum(pops)
    assert row["avg(score)"] == pytest.approx(mean(scores))
    assert row["min(d)"] == min(oracle.non_null("d"))
    assert row["max(ts)"] == max(oracle.non_null("ts"))
    assert row["min(name)"] == min(oracle.non_null("name"))
    assert row["median(pop)"] == pytest.approx(oracle.quantile(pops, 0.5))
    assert row["p90"] == pytest.approx(oracle.quantile(scores, 0.9))
    assert row["mean_pop"] == pytest.approx(sum(pops) / len(pops))


def test_aggregates_respect_where(con):
    rows = run(con, select="count(*) as n, sum(pop) as s", where=['city = "Paris"'])
    paris = [r for r in ROWS if r.city == "Paris"]
    assert rows == [{"n": len(paris), "s": sum(r.pop for r in paris if r.pop is not None)}]


def test_bbox_and_envelope(con):
    row = run(con, select="bbox(geo) as b, envelope(geo) as e, bbox(shape) as s")[0]
    points = [r.geo for r in ROWS if r.geo]
    box = shapely.geometry.shape(json.loads(row["b"]))
    assert box.bounds == pytest.approx((min(p[0] for p in points), min(p[1] for p in points),
                                        max(p[0] for p in points), max(p[1] for p in points)))
    hull = shapely.geometry.shape(json.loads(row["e"]))
    assert hull.area == pytest.approx(shapely.MultiPoint(points).convex_hull.area)
    shapes = shapely.union_all([r.polygon for r in ROWS if r.shape])
    assert shapely.geometry.shape(json.loads(row["s"])).bounds == pytest.approx(shapes.bounds)


def _keys_in_order(values):
    """Groups without order_by: by key, the null group first (as live Opendatasoft portals answer)."""
    present = sorted(v for v in values if v is not None)
    return ([None] if None in values else []) + present


def test_group_by_a_field_keeps_a_null_group_sorted_first(con):
    rows = run(con, select="count(*)", group_by="city")
    counts = Counter(r.city for r in ROWS)
    assert [r["city"] for r in rows] == _keys_in_order(list(counts))
    assert {r["city"]: r["count(*)"] for r in rows} == counts
    assert list(rows[0]) == ["city", "count(*)"]


def test_group_keys_are_named_as_written(con):
    rows = run(con, select="COUNT(*) as n, sum(pop), Max( score )", group_by="RANGE(pop,*,100000,*)")
    assert list(rows[0]) == ["RANGE(pop,*,100000,*)", "n", "sum(pop)", "Max( score )"]


def test_group_by_several_keys_and_functions(con):
    rows = run(con, select="y, flag, count(*) as n", group_by="year(d) as y, flag", order_by="y, flag")
    counts = Counter((r.d.year if r.d else None, r.flag) for r in ROWS)
    assert {(r["y"], r["flag"]): r["n"] for r in rows} == counts
    keys = [(r["y"], r["flag"]) for r in rows]
    assert keys == sorted(keys, key=lambda k: (k[0] is None, k[0] or 0, k[1] is None, k[1] or False))


def test_group_by_date_field_and_expression(con):
    rows = run(con, select="count(*) as n", group_by="date_format(d, 'yyyy-MM') as month, lower(city)")
    counts = Counter((r.d.strftime("%Y-%m") if r.d else None, r.city.lower() if r.city else None) for r in ROWS)
    assert {(r["month"], r["lower(city)"]): r["n"] for r in rows} == counts


@pytest.mark.parametrize("pattern", ["''", "\"'week'\""])
def test_a_pattern_of_text_alone_groups_and_sorts_dates_and_nulls_apart(con, pattern):
    """date_format() of text alone is that text for a date, null for none: never a literal,
    which the engine refuses to group or sort by."""
    text = "" if pattern == "''" else "week"
    rows = run(con, select="count(*) as n", group_by=f"date_format(d, {pattern}) as t")
    assert {r["t"]: r["n"] for r in rows} == Counter(text if r.d else None for r in ROWS)
    ordered = run(con, select="id", order_by=f"date_format(d, {pattern}) desc, id")
    assert [r["id"] for r in ordered] == [r.id for r in sorted(ROWS, key=lambda r: (r.d is None, r.id))]


def test_select_may_repeat_a_group_expression(con):
    rows = run(con, select="year(d), count(*)", group_by="year(d)")
    assert list(rows[0]) == ["year(d)", "count(*)"]
    assert {r["year(d)"]: r["count(*)"] for r in rows} == Counter(r.d.year if r.d else None for r in ROWS)


def test_order_groups_by_aggregate_then_key(con):
    rows = run(con, select="count(*) as n", group_by="city", order_by="n desc, city")
    counts = Counter(r.city for r in ROWS)
    expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or ""))
    assert [(r["city"], r["n"]) for r in rows] == expected
    assert rows == run(con, select="count(*) as n", group_by="city", order_by="count(*) desc, city")


def test_order_by_a_range_key_sorts_by_bound_not_text(con):
    rows = run(con, select="count(*)", group_by="range(pop, 500000) as r", order_by="r desc")
    lows = [int(r["r"][1:].split(",")[0]) for r in rows]
    assert lows == sorted(lows, reverse=True)


def test_random_order_of_groups(con):
    rows = run(con, select="count(*)", group_by="city", order_by="random(3)")
    assert sorted(r["count(*)"] for r in rows) == sorted(Counter(r.city for r in ROWS).values())


def _bucket(value, bounds):
    """Index of the static range holding value (bounds include * ends), or None."""
    if value is None:
        return None
    inner = [b for b in bounds if b != "*"]
    edges = ([-math.inf] if bounds[0] == "*" else []) + inner + ([math.inf] if bounds[-1] == "*" else [])
    for i, (low, high) in enumerate(zip(edges, edges[1:])):
        if low <= value < high:
            return i
    return None


@pytest.mark.parametrize("text, field, bounds, labels", [
    ("range(pop, *, 100000, 1000000, *)", "pop", ["*", 100000, 1000000, "*"],
     ["[*, 99999]", "[100000, 999999]", "[1000000, *]"]),
    ("range(pop, 100000, 1000000)", "pop", [100000, 1000000], ["[100000, 999999]"]),
    ("range(score, *, 0, 10.5, *)", "score", ["*", 0, 10.5, "*"], ["[*, 0[", "[0, 10.5[", "[10.5, *["]),
    ("range(score, 0, 10.5, *)", "score", [0, 10.5, "*"], ["[0, 10.5[", "[10.5, *["]),
])
def test_static_ranges(con, text, field, bounds, labels):
    rows = run(con, select="count(*) as n", group_by=f"{text} as r")
    counts = Counter(_bucket(getattr(r, field), bounds) for r in ROWS)
    expected = [(labels[i], counts[i]) for i in sorted(k for k in counts if k is not None)]
    assert [(r["r"], r["n"]) for r in rows] == expected


def test_static_date_ranges(con):
    rows = run(con, select="count(*) as n", group_by="range(d, *, date'2019-01-01', date'2021-01-01', *) as r")
    edges = [date(2019, 1, 1), date(2021, 1, 1)]
    counts = Counter(None if r.d is None else sum(r.d >= e for e in edges) for r in ROWS)
    labels = ["[*, 2019-01-01T00:00:00.000Z[", "[2019-01-01T00:00:00.000Z, 2021-01-01T00:00:00.000Z[",
              "[2021-01-01T00:00:00.000Z, *["]
    assert [(r["r"], r["n"]) for r in rows] == [(labels[i], counts[i]) for i in range(3) if counts[i]]


def test_equal_width_ranges_on_numbers(con):
    rows = run(con, select="count(*) as n", group_by="range(pop, 500000) as r")
    counts = Counter(r.pop // 500000 * 500000 for r in ROWS if r.pop is not None)
    assert [(r["r"], r["n"]) for r in rows] == [(f"[{k}, {k + 499999}]", counts[k]) for k in sorted(counts)]
    rows = run(con, select="count(*) as n", group_by="range(score, 5) as r")
    counts = Counter(math.floor(r.score / 5) * 5 for r in ROWS if r.score is not None)
    assert [(r["r"], r["n"]) for r in rows] == [(f"[{k}, {k + 5}[", counts[k]) for k in sorted(counts)]
    rows = run(con, select="count(*) as n", group_by="range(score, 2.5) as r", where=["score < 5"])
    counts = Counter(math.floor(r.score / 2.5) * 2.5 for r in ROWS if r.score is not None and r.score < 5)
    as_text = lambda v: str(int(v)) if v == int(v) else str(v)  # noqa: E731
    assert [(r["r"], r["n"]) for r in rows] == [(f"[{as_text(k)}, {as_text(k + 2.5)}[", counts[k]) for k in sorted(counts)]


def test_fractional_range_keys_have_no_binary_noise(con):
    """Multiples of 0.3 or 0.1 are not exact in binary: keys read [35.7, 36[, never
    [35.699999999999996, 35.99999999999999[, with the same groups as floor(x / w)."""
    for width, places in ((0.3, 1), (0.1, 1), (0.25, 2), (0.07, 2)):
        rows = run(con, select="count(*) as n", group_by=f"range(score, {width}) as r")
        counts = Counter(math.floor(r.score / width) for r in ROWS if r.score is not None)
        as_text = lambda v: str(int(v)) if v == int(v) else str(v)  # noqa: E731
        expected = [(f"[{as_text(round(k * width, places))}, {as_text(round((k + 1) * width, places))}[", counts[k])
                    for k in sorted(counts)]
        assert [(r["r"], r["n"]) for r in rows] == expected, width
    # past 15 decimals a double has none to round to: each bucket keeps two bounds (not [0, 0[)
    rows = run(con, select="count(*) as n", group_by="range(score, 0.0000000000000001) as r",
               where=["score >= 0 and score < 1"])
    bounds = [r["r"][1:-1].split(", ") for r in rows]
    assert bounds and all(low != high for low, high in bounds), bounds


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_equal_width_ranges_on_dates(con):
    rows = run(con, select="count(*) as n", group_by="range(d, 1y) as r")
    counts = Counter(r.d.year for r in ROWS if r.d)
    assert [(r["r"], r["n"]) for r in rows] == [
        (f"[{y}-01-01T00:00:00.000Z, {y + 1}-01-01T00:00:00.000Z[", counts[y]) for y in sorted(counts)]


@pytest.mark.parametrize("tz, step", [("UTC", "1M"), ("Europe/Paris", "1M"), ("Europe/Paris", "1 month"),
                                      ("UTC", "1 months")])
def test_monthly_ranges_follow_the_timezone(con, tz, step):
    """``1 month`` with a space is how Opendatasoft's own examples (``RANGE(date, 1 day)``) and
    apps write a step."""
    rows = run(con, select="count(*) as n", group_by=f"range(ts, {step}) as r", timezone=tz)
    zone = ZoneInfo(tz)
    starts = Counter(oracle.local(r.ts, tz).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
                     for r in ROWS if r.ts)
    expected = []
    for start in sorted(starts):
        end = (start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1))
        expected.append((f"[{_iso(start)}, {_iso(end.replace(tzinfo=zone))}[", starts[start]))
    assert [(r["r"], r["n"]) for r in rows] == expected


def test_weekly_and_hourly_ranges(con):
    rows = run(con, select="count(*) as n", group_by="range(d, 1w) as r")
    mondays = Counter(r.d - timedelta(days=r.d.weekday()) for r in ROWS if r.d)
    assert [(r["r"], r["n"]) for r in rows] == [
        (f"[{m.isoformat()}T00:00:00.000Z, {(m + timedelta(days=7)).isoformat()}T00:00:00.000Z[", mondays[m])
        for m in sorted(mondays)]
    rows = run(con, select="count(*) as n", group_by="range(ts, 6h) as r")
    starts = Counter(r.ts.astimezone(timezone.utc).replace(hour=r.ts.astimezone(timezone.utc).hour // 6 * 6, minute=0,
                                                           second=0, microsecond=0) for r in ROWS if r.ts)
    assert [(r["r"], r["n"]) for r in rows] == [
        (f"[{_iso(s)}, {_iso(s + timedelta(hours=6))}[", starts[s]) for s in sorted(starts)]


@pytest.mark.parametrize("step, hours", [("1h", 1), ("30m", 0.5), ("2h", 2)])
def test_hourly_ranges_keep_the_repeated_hour_apart(step, hours):
    """When Paris's clocks go back (2024-10-27), 02:30 happens twice, at 00:30Z and at 01:30Z: a
    step of hours or less cuts moments, so each falls in the bucket whose key holds it."""
    import duckdb

    from portail.odsql import Query, compile_plan, to_sql
    from portail.schema import Field, FieldType

    moments = [datetime(2024, 10, 27, 0, 30, tzinfo=timezone.utc), datetime(2024, 10, 27, 1, 30, tzinfo=timezone.utc),
               datetime(2024, 10, 27, 5, 10, tzinfo=timezone.utc), datetime(2024, 3, 31, 1, 15, tzinfo=timezone.utc)]
    con = duckdb.connect()
    con.execute("CREATE TABLE records (ts TIMESTAMPTZ)")
    con.executemany("INSERT INTO records VALUES (?)", [[m] for m in moments])
    plan = compile_plan(Query(select="count(*) as n", group_by=f"range(ts, {step}) as r", order_by="r",
                              timezone="Europe/Paris"), [Field("ts", "Moment", FieldType.DATETIME)])
    rows = con.execute(to_sql(plan.select)).fetchall()
    assert sum(n for _, n in rows) == len(moments)
    paris = ZoneInfo("Europe/Paris")
    for key, n in rows:
        low, high = (datetime.strptime(b, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
                     for b in key.strip("[").split(", "))
        inside = [m for m in moments if low <= m < high]
        assert len(inside) == n, key  # every value in the bucket its key names
        assert high - low == timedelta(hours=hours)
        local = low.astimezone(paris)  # buckets start on the hour (or half hour) of the wall clock
        assert (local.minute, local.second) in ((0, 0), (30, 0)) and (hours != 2 or local.minute == 0)
    assert len(rows) == len(moments)
    con.close()


def test_a_date_range_step_too_long_is_an_odsql_error():
    """Was a 500: the engine's interval overflowed."""
    from portail.odsql import Query, compile_plan
    from portail.schema import Field, FieldType

    for step in ("99999999999999s", "999999999d", "99999999999h"):
        with pytest.raises(ODSQLError, match="too long"):
            compile_plan(Query(group_by=f"range(ts, {step})", select="count(*)"),
                         [Field("ts", "Moment", FieldType.DATETIME)])


def test_geo_cluster(con):
    rows = run(con, select="count(*) as n", group_by="geo_cluster(geo, 0) as c")
    points = [r.geo for r in ROWS if r.geo]
    clusters = [r for r in rows if r["c"] is not None]
    assert len(clusters) == 1  # at zoom 0 a cell spans 56°: every point of the fixture in one cluster
    centroid = json.loads(clusters[0]["c"])["cluster_centroid"]
    assert centroid == pytest.approx({"lat": mean(p[1] for p in points), "lon": mean(p[0] for p in points)})
    assert clusters[0]["n"] == len(points)
    assert sum(r["n"] for r in rows) == len(ROWS)
    finer = run(con, select="count(*) as n", group_by="geo_cluster(geo, 8, 20) as c", where=["geo is not null"])
    assert sum(r["n"] for r in finer) == len(points) and len(finer) > 1


@pytest.mark.parametrize("query, clause, message", [
    (dict(select="name, count(*)", group_by="city"), "select", "Field name must be in group_by"),
    (dict(select="name, count(*)"), "select", "Field name must be in group_by"),
    (dict(select="*, count(*)"), "select", "* cannot be selected together with aggregates"),
    (dict(select="count(*)", group_by="city", order_by="city, count(*)"), "order_by", "Aggregates must come first"),
    (dict(select="count(*)", group_by="city", order_by="name"), "order_by", "Field name must be in group_by"),
    (dict(select="count(*)", group_by="count(*)"), "group_by", "not allowed in group_by"),
    (dict(select="count(*)", group_by="search(name, 'x')"), "group_by", "not allowed in group_by"),
    (dict(select="count(*)", group_by="nope"), "group_by", "Unknown field: nope"),
    (dict(select="count(*)", group_by="range(name, 10)"), "group_by", "range() groups numbers and dates"),
    (dict(select="count(*)", group_by="range(pop, 10, 5)"), "group_by", "must increase"),
    (dict(select="count(*)", group_by="range(pop, *, *)"), "group_by", "with * only first or last"),
    (dict(select="count(*)", group_by="range(pop, *, pop, *)"), "group_by", "must be constants"),
    (dict(select="count(*)", group_by="range(d, 2M)"), "group_by", "only takes 1M"),
    (dict(select="count(*)", group_by="range(d, 1x)"), "group_by", "Unknown field: 1x"),  # not a unit: a name
    (dict(select="count(*)", group_by="range(d, 10)"), "group_by", "needs a unit"),
    (dict(select="count(*)", group_by="range(pop, 1d)"), "group_by", "applies to dates"),
    (dict(select="count(*)", group_by="range(pop, 0)"), "group_by", "positive"),
    (dict(select="count(*)", group_by="geo_cluster(name, 3)"), "group_by", "groups a geo field"),
    (dict(select="count(*)", group_by="geo_cluster(geo, 30)"), "group_by", "between 0 and 25"),
    (dict(select="percentile(pop, 120)"), "select", "between 0 and 100"),
    (dict(select="count(distinct *)"), "select", "count(distinct *) is not supported"),
    (dict(select="avg(distinct pop)"), "select", "distinct is only allowed in count"),
    (dict(select="include(na*)", group_by="city"), "select", "cannot be used with aggregates"),
    (dict(select="lower(range(pop, 10))", group_by="city"), "select", "not allowed in select"),
])
def test_aggregation_errors(con, query, clause, message):
    with pytest.raises(ODSQLError) as error:
        run(con, **query)
    assert error.value.clause == clause
    assert message in error.value.detail, error.value.detail


# ---- security ---------------------------------------------------------------------------------

HIDDEN = Security(hidden_fields=frozenset({"secret"}))


def test_hidden_fields_do_not_exist_for_the_caller(con):
    assert "secret" not in run(con, security=HIDDEN, limit=1)[0]
    for query in (dict(select="secret"), dict(where=['secret = "s1"']), dict(group_by="secret"),
                  dict(order_by="secret"), dict(where=['search(secret, "s1")'])):
        with pytest.raises(ODSQLError, match="Unknown field: secret"):
            run(con, security=HIDDEN, **query)


def test_hidden_fields_are_not_searched(con):
    assert ids(con, '"s1"') == expect(lambda r: r.secret == "s1")
    assert ids(con, '"s1"', security=HIDDEN) == []
    assert ids(con, 'search(*, "s1")', security=HIDDEN) == []
    assert list(run(con, select="include(s*)", security=HIDDEN)[0]) == ["score", "shape"]


@pytest.mark.parametrize("row_filter", [parse("where", 'secret = "s1"'), 'secret = "s1"'])
def test_row_filter_is_anded_and_may_use_hidden_fields(con, row_filter):
    security = Security(row_filter=row_filter, hidden_fields=frozenset({"secret"}))
    assert ids(con, security=security) == expect(lambda r: r.secret == "s1")
    assert ids(con, "pop > 100000", security=security) == expect(lambda r: r.secret == "s1" and r.pop > 100000)
    assert ids(con, '"paris" or true', security=security) == expect(lambda r: r.secret == "s1")
    rows = run(con, select="count(*) as n", group_by="city", security=security)
    assert {r["city"]: r["n"] for r in rows} == Counter(r.city for r in ROWS if r.secret == "s1")


def test_group_by_without_select_gives_the_keys(con):
    rows = run(con, group_by="flag")
    assert rows == [{"flag": None}, {"flag": False}, {"flag": True}]


def test_date_field_range_labels_ignore_the_timezone(con):
    utc = run(con, select="count(*) as n", group_by="range(d, *, date'2020', *) as r")
    paris = run(con, select="count(*) as n", group_by="range(d, *, date'2020', *) as r", timezone="Europe/Paris")
    assert utc == paris
    assert [r["r"] for r in utc] == ["[*, 2020-01-01T00:00:00.000Z[", "[2020-01-01T00:00:00.000Z, *["]
    # a datetime field is bucketed at midnight in the query's zone
    rows = run(con, select="count(*) as n", group_by="range(ts, *, date'2021', *) as r", timezone="Europe/Paris")
    assert [r["r"] for r in rows] == ["[*, 2020-12-31T23:00:00.000Z[", "[2020-12-31T23:00:00.000Z, *["]
    assert [r["n"] for r in rows] == [
        sum(1 for r in ROWS if r.ts and r.ts < datetime(2020, 12, 31, 23, tzinfo=timezone.utc)),
        sum(1 for r in ROWS if r.ts and r.ts >= datetime(2020, 12, 31, 23, tzinfo=timezone.utc))]


def test_geo_aggregates_per_group(con):
    rows = run(con, select="bbox(geo) as b, count(*) as n", group_by="city", where=['city = "Paris"'])
    points = [r.geo for r in ROWS if r.city == "Paris" and r.geo]
    box = shapely.geometry.shape(json.loads(rows[0]["b"]))
    assert box.bounds == pytest.approx((min(p[0] for p in points), min(p[1] for p in points),
                                        max(p[0] for p in points), max(p[1] for p in points)))


def test_aliases_named_like_fields_do_not_capture_the_fields(con):
    # DuckDB reads a bare name in ORDER BY / HAVING as an output alias first: columns are qualified
    rows = run(con, select="count(*) as n", group_by="range(ts, 1y) as ts", order_by="ts desc")
    years = Counter(r.ts.year for r in ROWS if r.ts)
    assert [(r["ts"][1:5], r["n"]) for r in rows] == [(str(y), years[y]) for y in sorted(years, reverse=True)]
    rows = run(con, select="id, pop as score", where=["score > 10"], order_by="score desc")
    kept = sorted((r for r in ROWS if r.score is not None and r.score > 10), key=lambda r: (r.pop is None, -(r.pop or 0)))
    assert [r["id"] for r in rows] == [r.id for r in kept]


# "the selected field literal must be in the group by clause" (Opendatasoft's ODSQL reference)
def test_star_beside_group_by_items_or_aggregates_is_a_400(con):
    for query in [dict(select="*, count(*)", group_by="city"), dict(select="count(*), *", group_by="city"),
                  dict(select="*, city", group_by="city"), dict(select="*, count(*)")]:
        assert "a selected field must be in group_by" in refusal(con, **query), query
    # * alone (the default select) lists the groups
    assert run(con, select="*", group_by="flag") == [{"flag": None}, {"flag": False}, {"flag": True}]
