"""select and order_by (no aggregation) compiled, run, and checked against Python."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest

from portail.odsql import ODSQLError, Query, compile_plan
from portail.schema import FieldType
from tests.odsql import oracle
from tests.odsql.conftest import FIELDS, NOW, ROWS, run

PARIS = (2.3522, 48.8566)


def by_id(rows):
    return {r["id"]: r for r in rows}


def test_default_select_is_every_field_in_schema_order(con):
    rows = run(con, order_by="id")
    assert list(rows[0]) == [f.name for f in FIELDS]
    assert [r["id"] for r in rows] == [r.id for r in ROWS]
    first = rows[0]
    assert first["geo"] == {"lon": 4.3872, "lat": 45.4397}
    assert json.loads(first["shape"])["type"] == "Polygon"
    assert json.loads(first["payload"]) == {"k": 1}
    assert first["d"] == date(2020, 1, 15)


def test_plan_columns_describe_the_output():
    plan = compile_plan(Query(select="name, pop * 2 as double_pop, geo, geo as here, length(name), d"), FIELDS)
    assert [(c.name, c.type) for c in plan.columns] == [
        ("name", FieldType.TEXT), ("double_pop", FieldType.INT), ("geo", FieldType.GEO_POINT_2D),
        ("here", FieldType.GEO_POINT_2D), ("length(name)", FieldType.INT), ("d", FieldType.DATE)]
    tags = compile_plan(Query(select="tags"), FIELDS).columns[0]
    assert tags.annotations == {"multivalued": [","]}  # the serialiser still knows to split it
    assert not plan.aggregated


def test_expressions_and_their_names(con):
    rows = by_id(run(con, select="id, 2 * pop as double_pop, pop / 2, pop / 0 as z, -score, "
                                  "length(name), lower(city), upper(city), concat(name, '-', pop) as c, "
                                  "ifnull(score, 0) as s, \"hello\" as h, true as t, null as n"))
    for r in ROWS:
        row = rows[r.id]
        assert row["double_pop"] == (2 * r.pop if r.pop is not None else None)
        assert row["pop / 2"] == (r.pop / 2 if r.pop is not None else None)
        assert row["z"] is None
        assert row["-score"] == (-r.score if r.score is not None else None)
        assert row["length(name)"] == (len(r.name) if r.name is not None else None)
        assert row["lower(city)"] == (r.city.lower() if r.city is not None else None)
        assert row["upper(city)"] == (r.city.upper() if r.city is not None else None)
        assert row["c"] == f"{r.name or ''}-{r.pop if r.pop is not None else ''}"
        assert row["s"] == (r.score if r.score is not None else 0)
        assert (row["h"], row["t"], row["n"]) == ("hello", True, None)


def test_integer_arithmetic_never_overflows(con):
    # Opendatasoft computes in floating point: past INT64 an int result is still a number, exact
    # while a HUGEINT holds it, a double past it; never null, never an engine error.
    rows = by_id(run(con, select="id, pop * 9223372036854775807 as big, -pop as neg, "
                                  "pop * 9223372036854775807 * pop as huge", where=["pop > 1"]))
    for r in ROWS:
        if r.pop is not None and r.pop > 1:
            assert rows[r.id]["big"] == r.pop * 9223372036854775807
            assert rows[r.id]["neg"] == -r.pop
            assert rows[r.id]["huge"] == pytest.approx(float(r.pop) * 9223372036854775807 * r.pop)
    assert len(rows) == len([r for r in ROWS if r.pop is not None and r.pop > 1])
    (row,) = run(con, select="count(*) * 9223372036854775807 as c, max(pop) + 9223372036854775807 as m")
    assert row == {"c": len(ROWS) * 9223372036854775807, "m": max(r.pop for r in ROWS if r.pop is not None) + 9223372036854775807}
    # Two small constants: the engine would fold them in 32 bits (found by test_properties).
    (row,) = run(con, select="5642 * 380625 as p, 2147483647 + 1 as s, -2147483647 - 2 as d, count(*) as n",
                 where=["pop != 5642 * 380625"])
    assert row == {"p": 5642 * 380625, "s": 2147483648, "d": -2147483649,
                   "n": len([r for r in ROWS if r.pop is not None and r.pop != 5642 * 380625])}
    # round(int, digits) is a double, not the engine's 32-bit INTEGER (found by test_properties).
    (row,) = run(con, select="46273 * round(46409, 1) as p, round(46409, -2) * 46273 as q, count(*) as n",
                 where=["pop != 46273 * round(46409, 1)"])
    assert row == {"p": 46273 * 46409.0, "q": 46400.0 * 46273,
                   "n": len([r for r in ROWS if r.pop is not None and r.pop != 46273 * 46409])}


@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris", "America/New_York"])
def test_date_parts_in_the_query_timezone(con, tz):
    rows = by_id(run(con, select="id, year(ts), month(ts), day(ts), hour(ts), minute(ts), second(ts), "
                                  "millisecond(ts), quarter(ts), dayofweek(ts), year(d), month(d), day(d)",
                     timezone=tz))
    for r in ROWS:
        row, moment = rows[r.id], oracle.local(r.ts, tz)
        if moment is None:
            assert row["year(ts)"] is None
            continue
        assert (row["year(ts)"], row["month(ts)"], row["day(ts)"]) == (moment.year, moment.month, moment.day)
        assert (row["hour(ts)"], row["minute(ts)"], row["second(ts)"]) == (moment.hour, moment.minute, moment.second)
        assert row["millisecond(ts)"] == moment.microsecond // 1000
        assert row["quarter(ts)"] == (moment.month - 1) // 3 + 1
        assert row["dayofweek(ts)"] == moment.isoweekday()
        if r.d is not None:
            assert (row["year(d)"], row["month(d)"], row["day(d)"]) == (r.d.year, r.d.month, r.d.day)


FR_DAYS = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]
FR_MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
             "novembre", "décembre"]


def test_date_format(con):
    rows = by_id(run(con, select="id, date_format(d, 'yyyy-MM-dd') as iso, date_format(d, \"d/M/yy\") as short, "
                                  "date_format(ts, \"EEEE d MMMM yyyy 'à' HH'h'mm\") as long, "
                                  "date_format(ts, 'E') as e, date_format(ts, \"'week' ww, DDD, ''x''\") as w",
                     lang="fr", timezone="Europe/Paris"))
    for r in ROWS:
        row = rows[r.id]
        assert row["iso"] == (r.d.isoformat() if r.d else None)
        assert row["short"] == (f"{r.d.day}/{r.d.month}/{r.d.year % 100:02d}" if r.d else None)
        moment = oracle.local(r.ts, "Europe/Paris")
        if moment is None:
            assert row["long"] is None
            continue
        assert row["long"] == (f"{FR_DAYS[moment.weekday()]} {moment.day} {FR_MONTHS[moment.month - 1]} "
                               f"{moment.year} à {moment:%H}h{moment:%M}")
        assert row["e"] == ["lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."][moment.weekday()]
        iso = moment.isocalendar()  # '' is a quote; x is the week-based year
        assert row["w"] == f"week {iso.week:02d}, {moment.timetuple().tm_yday:03d}, '{iso.year}'"


def test_date_format_in_english_and_unknown_symbols(con):
    rows = run(con, select="date_format(d, 'EEEE MMMM') as x", where=["id = 1"], lang="en")
    assert rows == [{"x": "Wednesday January"}]
    with pytest.raises(ODSQLError, match="Unsupported date_format symbol: Q"):
        run(con, select="date_format(d, 'Q')")


def test_now_is_computed_once_in_the_query_timezone(con):
    rows = run(con, select="now() as n, now(day=31, month=2) as feb, now(hour=0, minute=0, second=0, days=1) as tomorrow, "
                           "now(mondays=1) as monday, now(weekday=3) as thursday, now(year=2001, months=-1) as back",
               where=["id = 1"], timezone="Europe/Paris")
    paris = NOW.astimezone(oracle.ZoneInfo("Europe/Paris"))  # 2021-05-06 14:00, a Thursday
    row = rows[0]
    assert row["n"] == NOW
    assert row["feb"] == paris.replace(month=2, day=28)
    assert row["tomorrow"] == (paris + timedelta(days=1)).replace(hour=0, minute=0, second=0)
    assert row["monday"] == paris + timedelta(days=4)
    assert row["thursday"] == paris
    assert row["back"] == paris.replace(year=2001, month=4)


def test_a_wall_clock_time_skipped_by_dst_is_read_as_one_instant(con):
    """02:30 on 2021-03-28 does not exist in Paris (clocks go from 02:00 to 03:00): the literal
    names 01:30 UTC, and its parts, its text and comparisons all read that instant."""
    paris = oracle.ZoneInfo("Europe/Paris")
    instant = datetime(2021, 3, 28, 1, 30, tzinfo=timezone.utc)
    rows = run(con, select="date'2021-03-28T02:30' as t, hour(date'2021-03-28T02:30') as h, "
                           "date_format(date'2021-03-28T02:30', 'HH:mm') as hm, "
                           "date'2021-03-28T02:30' = date'2021-03-28T01:30:00Z' as same, "
                           "hour(now(year=2021, month=3, day=28, hour=2, minute=30)) as now_h",
               where=["id = 1"], timezone="Europe/Paris")
    local = instant.astimezone(paris)
    assert rows == [{"t": instant, "h": local.hour, "hm": f"{local:%H:%M}", "same": True, "now_h": local.hour}]
    assert local.hour == 3


def test_distance_in_metres(con):
    rows = by_id(run(con, select="id, distance(geo, geom'POINT(2.3522 48.8566)') as dist"))
    for r in ROWS:
        if r.geo is None:
            assert rows[r.id]["dist"] is None
        else:
            assert rows[r.id]["dist"] == pytest.approx(oracle.haversine(r.geo, PARIS), rel=1e-6)


def test_geo_outputs(con):
    rows = by_id(run(con, select="id, geo, shape, geom'POINT(1 2)' as p, geom'LINESTRING(0 0, 1 1)' as l"))
    assert rows[2]["geo"] == {"lon": 2.3522, "lat": 48.8566}
    assert json.loads(rows[4]["shape"])["coordinates"][0][0] == [4.7, 45.6]
    assert rows[4]["p"] == {"lon": 1.0, "lat": 2.0}
    assert json.loads(rows[4]["l"]) == {"type": "LineString", "coordinates": [[0.0, 0.0], [1.0, 1.0]]}


def test_include_and_exclude(con):
    assert list(run(con, select="include(s*)")[0]) == ["score", "shape", "secret"]
    assert list(run(con, select="id, include(s*), exclude(shape)")[0]) == ["id", "score", "secret"]
    assert list(run(con, select="exclude(geo, shape, payload)")[0]) == [
        f.name for f in FIELDS if f.name not in ("geo", "shape", "payload")]
    assert list(run(con, select="*, exclude(*), name")[0]) == ["name"]
    with pytest.raises(ODSQLError, match="takes no alias"):
        run(con, select="include(s*) as x")


def test_select_errors(con):
    for text, message in [("nope", "Unknown field: nope"), ("search(name, 'x')", "not allowed in select"),
                          ("range(pop, 10)", "not allowed in select"), ("random(1)", "not allowed in select"),
                          ("name, 1 as name", "Two select items are named name"),
                          ("pop as ``", "non-empty name"), ("sum(count(*))", "cannot be nested"),
                          ("sum(name)", "Argument 1 of sum() must be double or int, not text")]:
        with pytest.raises(ODSQLError) as error:
            run(con, select=text)
        assert error.value.clause == "select" and message in error.value.detail, (text, error.value.detail)


def _sorted(values, descending=False):
    present = sorted((v for v in values if v[0] is not None), reverse=descending)
    return present + [v for v in values if v[0] is None]


@pytest.mark.parametrize("order_by, key, descending", [
    ("score", lambda r: r.score, False),
    ("score desc", lambda r: r.score, True),
    ("score DESC", lambda r: r.score, True),
    ("-score", lambda r: r.score, True),  # the v1 habit
    ("score asc", lambda r: r.score, False),
    ("name", lambda r: r.name, False),
    ("d desc", lambda r: r.d, True),
    ("ts", lambda r: r.ts, False),
    ("length(name) desc", lambda r: len(r.name) if r.name else None, True),
    ("distance(geo, geom'POINT(2.3522 48.8566)')", lambda r: oracle.haversine(r.geo, PARIS) if r.geo else None, False),
])
def test_order_by_puts_nulls_last_both_ways(con, order_by, key, descending):
    rows = run(con, select="id", order_by=f"{order_by}, id")
    expected = _sorted([(key(r), r.id) for r in ROWS], descending)
    if descending:  # ties keep id ascending
        expected = sorted([e for e in expected if e[0] is not None], key=lambda e: (-_rank(e[0], expected), e[1])) + \
            [e for e in expected if e[0] is None]
    assert [r["id"] for r in rows] == [e[1] for e in expected]


def _rank(value, items):
    return sorted({e[0] for e in items if e[0] is not None}).index(value)


def test_order_by_an_alias_and_several_keys(con):
    rows = run(con, select="id, pop * -1 as neg", order_by="neg, id desc", where=["pop is not null"])
    expected = sorted([r for r in ROWS if r.pop is not None], key=lambda r: (-r.pop, -r.id))
    assert [r["id"] for r in rows] == [r.id for r in expected]


def test_limit_and_offset(con):
    rows = run(con, select="id", order_by="id", limit=3, offset=2)
    assert [r["id"] for r in rows] == [3, 4, 5]
    assert len(run(con, select="id", limit=-1)) == len(ROWS)


def test_random_is_a_stable_shuffle(con):
    first = [r["id"] for r in run(con, select="id", order_by="random(42)")]
    again = [r["id"] for r in run(con, select="id", order_by="random(42)")]
    other = [r["id"] for r in run(con, select="id", order_by="random(7)")]
    assert first == again and sorted(first) == [r.id for r in ROWS]
    assert first != other


def test_order_by_errors(con):
    for text, message in [("nope", "Unknown field: nope"), ("geo", "cannot be sorted"),
                          ("count(*)", "needs an aggregated select"), ("random(name)", "must be double or int")]:
        with pytest.raises(ODSQLError) as error:
            run(con, select="id", order_by=text)
        assert error.value.clause == "order_by" and message in error.value.detail, (text, error.value.detail)


def test_a_bad_timezone_is_a_value_error():
    with pytest.raises(ValueError, match="Unknown timezone"):
        compile_plan(Query(timezone="Mars/Olympus"), FIELDS)


def test_dates_compare_with_strings_in_select(con):
    rows = by_id(run(con, select="id, d < '2020-06-01' as early, ts > date'2021-01-01T00:00:00+01:00' as late"))
    for r in ROWS:
        assert rows[r.id]["early"] == (r.d < date(2020, 6, 1) if r.d else None)
        assert rows[r.id]["late"] == (r.ts > datetime(2020, 12, 31, 23, tzinfo=timezone.utc) if r.ts else None)
