"""Properties over generated input: arbitrary text and arbitrary well-formed trees never make
ODSQL raise anything but ODSQLError, trees survive a round trip through text, whatever
compiles runs on DuckDB, and hostile strings stay literals."""

from __future__ import annotations

import duckdb
import pytest
import sqlglot
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from portail.odsql import ODSQLError, Query, compile_plan, parse, to_sql
from portail.odsql import literals
from portail.odsql.ast import (And, Arithmetic, Boolean, Call, Compare, DateLiteral, Field, GeomLiteral, GroupByClause,
                               GroupItem, InList, InRange, IsBool, IsNull, Like, Member, Negate, Not, Null, Number, Or,
                               OrderByClause, OrderItem, Pattern, Quantity, SelectClause, SelectItem, SelectStar, Star,
                               String, to_text)
from portail.odsql.functions import REGISTRY
from portail.store.fulltext import split as fulltext_words
from tests.odsql.conftest import FIELDS, NOW, ROWS, assert_tree

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow])

NAMES = [f.name for f in FIELDS] + ["nope", "and", "with space", "x`y", "back\\slash", "é", "2x"]
FUNCTIONS = sorted(REGISTRY) + ["nosuch"]

texts = st.text(max_size=12)
numbers = st.one_of(st.integers(0, 10**6),
                    st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False).map(abs)).map(Number)
date_texts = st.one_of(st.sampled_from(["2017", "2017-01", "2020-02-29", "2021-13-01", "2020/01/02",
                                        "2020-01-01T10:00:00Z", "2020-06-01T10:00:00.123+02:00", "2020-01-01T25:00"]),
                       texts)
geom_texts = st.one_of(st.sampled_from(["POINT(2.35 48.85)", "POLYGON((0 0, 1 0, 1 1, 0 0))", "LINESTRING(0 0, 1 1)",
                                        '{"type": "Point", "coordinates": [1, 2]}', "POINT(1)", "POINT EMPTY",
                                        "0101000000000000000000F03F0000000000000040"]), texts)
units = sorted(set(literals.DISTANCE_UNITS) | set(literals.DURATION_UNITS))

atoms = st.one_of(
    texts.map(String), numbers, st.booleans().map(Boolean), st.just(Null()), date_texts.map(DateLiteral),
    geom_texts.map(GeomLiteral), st.builds(Quantity, st.integers(0, 100), st.sampled_from(units)),
    st.sampled_from(NAMES).map(Field),
)


def _extend(children):
    arguments = st.lists(st.one_of(children, st.just(Star())), max_size=4).map(tuple)
    return st.one_of(
        children.map(Negate),
        st.builds(Arithmetic, st.sampled_from("+-*/"), children, children),
        st.builds(Compare, st.sampled_from(["=", "!=", "<", "<=", ">", ">=", ":"]), children, children),
        st.builds(Like, children, children),
        st.builds(InRange, children, children, children, st.booleans(), st.booleans()),
        st.builds(InList, children, st.lists(children, max_size=3).map(tuple)),
        st.builds(Member, children, st.sampled_from(NAMES).map(Field)),
        st.builds(IsNull, children, st.booleans()),
        st.builds(IsBool, children, st.booleans(), st.booleans()),
        children.map(Not),
        st.lists(children, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
        st.lists(children, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
        st.builds(Call, st.sampled_from(FUNCTIONS), arguments),
        children.map(lambda x: Call("count", (x,), True)),
    )


expressions = st.recursive(atoms, _extend, max_leaves=8)
aliases = st.one_of(st.none(), st.sampled_from(NAMES + ["n", "total"]))
patterns = st.from_regex(r"[a-z_][a-z0-9_]{0,4}\*", fullmatch=True).map(Pattern)
directives = st.builds(lambda name, args, last: SelectItem(Call(name, tuple(args) + ((last,) if last else ()))),
                       st.sampled_from(["include", "exclude"]),
                       st.lists(st.sampled_from(NAMES).map(Field), max_size=2), st.one_of(st.none(), patterns))
select_clauses = st.lists(st.one_of(st.just(SelectStar()), st.builds(SelectItem, expressions, aliases), directives),
                          min_size=1, max_size=3).map(lambda xs: SelectClause(tuple(xs)))
group_clauses = st.lists(st.builds(GroupItem, expressions, aliases), min_size=1, max_size=2).map(
    lambda xs: GroupByClause(tuple(xs)))
order_clauses = st.lists(st.builds(OrderItem, expressions, st.sampled_from([None, True, False])), min_size=1,
                         max_size=2).map(lambda xs: OrderByClause(tuple(xs)))


def _execute(con: duckdb.DuckDBPyConnection, query: Query) -> list[tuple] | None:
    """Compile and run; None when ODSQL rejects the query (the only failure allowed)."""
    try:
        plan = compile_plan(query, FIELDS)
    except ODSQLError:
        return None
    assert_tree(plan.select)
    return con.execute(to_sql(plan.select)).fetchall()


def _table_intact(con: duckdb.DuckDBPyConnection) -> None:
    assert con.execute("SELECT count(*) FROM records").fetchone()[0] == len(ROWS)
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'records'").fetchone()[0] == 1


# ---- arbitrary text -------------------------------------------------------------------------

odsql_alphabet = st.lists(st.sampled_from(list("abcdnotrsil_`'\"\\()[]*,.:=<>!+-/ 0123456789") +
                                          [" and ", " or ", " not ", " in ", " is ", " null", " like ", " as ",
                                           " desc", " to ", "date'", "geom'", "count(", "range(", "pop", "name"]),
                          max_size=25).map("".join)


@SETTINGS
@given(text=st.one_of(st.text(max_size=60), odsql_alphabet), clause=st.sampled_from(["select", "where", "group_by",
                                                                                   "order_by"]))
def test_any_text_parses_or_raises_odsql_error(text, clause):
    try:
        parse(clause, text)
    except ODSQLError as error:
        assert error.clause == clause


@SETTINGS
@given(text=st.one_of(st.text(max_size=40), odsql_alphabet), clause=st.sampled_from(["select", "where", "group_by",
                                                                                   "order_by"]))
def test_any_text_compiles_and_runs_or_raises_odsql_error(con, text, clause):
    query = Query(now=NOW, **{clause: [text] if clause == "where" else text})
    _execute(con, query)


# ---- arbitrary trees ------------------------------------------------------------------------

@SETTINGS
@given(node=expressions)
def test_expressions_round_trip_through_text(node):
    assert parse("where", to_text(node)) == node


@SETTINGS
@given(select=select_clauses, group_by=group_clauses, order_by=order_clauses)
def test_clauses_round_trip_through_text(select, group_by, order_by):
    assert parse("select", to_text(select)) == select
    assert parse("group_by", to_text(group_by)) == group_by
    assert parse("order_by", to_text(order_by)) == order_by


@SETTINGS
@given(where=expressions, select=st.one_of(st.none(), select_clauses), order_by=st.one_of(st.none(), order_clauses),
       timezone=st.sampled_from(["UTC", "Europe/Paris"]))
def test_any_tree_compiles_and_runs_or_raises_odsql_error(con, where, select, order_by, timezone):
    query = Query(select=to_text(select) if select else None, where=[to_text(where)],
                  order_by=to_text(order_by) if order_by else None, timezone=timezone, now=NOW)
    _execute(con, query)


@SETTINGS
@given(select=select_clauses, group_by=group_clauses, order_by=st.one_of(st.none(), order_clauses))
def test_any_aggregation_compiles_and_runs_or_raises_odsql_error(con, select, group_by, order_by):
    query = Query(select=to_text(select), group_by=to_text(group_by), order_by=to_text(order_by) if order_by else None,
                  now=NOW)
    _execute(con, query)


# Well-typed generators, so that most generated queries compile and really run.
clean_texts = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12)
small_ints = st.integers(-1000, 10**6).map(lambda n: Number(n) if n >= 0 else Negate(Number(-n)))
numeric = st.recursive(
    st.one_of(st.sampled_from([Field("pop"), Field("score"), Field("id")]), small_ints,
              st.sampled_from([Call("length", (Field("name"),)), Call("year", (Field("d"),)),
                               Call("hour", (Field("ts"),)), Call("abs", (Field("score"),)),
                               Call("distance", (Field("geo"), GeomLiteral("POINT(2.35 48.85)")))])),
    lambda c: st.one_of(st.builds(Arithmetic, st.sampled_from("+-*/"), c, c), c.map(Negate),
                        st.builds(lambda x, y: Call("ifnull", (x, y)), c, c),
                        st.builds(lambda x: Call("round", (x, Number(1))), c)),
    max_leaves=5)
textual = st.one_of(st.sampled_from([Field("name"), Field("city"), Field("tags")]), clean_texts.map(String),
                    st.builds(lambda x: Call("lower", (x,)), st.sampled_from([Field("name"), Field("city")])),
                    st.builds(lambda x: Call("concat", (Field("name"), String(x))), clean_texts),
                    st.builds(lambda p: Call("date_format", (Field("ts"), String(p))),
                              st.sampled_from(["yyyy-MM-dd", "EEEE", "MMMM", "HH:mm", "'at' H", "", "'week'"])))
temporal = st.one_of(st.sampled_from([Field("d"), Field("ts"), Call("now"), Call("now", (
    Compare("=", Field("days"), Negate(Number(30))),))]),
    st.sampled_from(["2017", "2020-02", "2021-06-01", "2020-01-01T10:00:00Z"]).map(DateLiteral))
geometry = st.sampled_from([GeomLiteral("POINT(2.35 48.85)"), GeomLiteral("POLYGON((4 45, 5 45, 5 46, 4 46, 4 45))"),
                            GeomLiteral('{"type": "LineString", "coordinates": [[0, 40], [10, 50]]}')])
operators = st.sampled_from(["=", "!=", "<", "<=", ">", ">=", ":"])
typed_conditions = st.one_of(
    st.builds(lambda op, a, b: Compare(op, a, b), operators, numeric, numeric),
    st.builds(lambda op, a, b: Compare(op, a, b), operators, textual, textual),
    st.builds(lambda op, a, b: Compare(op, a, b), operators, temporal, temporal),
    st.builds(Like, st.sampled_from([Field("name"), Field("city")]), clean_texts.map(String)),
    st.builds(InRange, numeric, numeric, numeric, st.booleans(), st.booleans()),
    st.builds(InRange, temporal, temporal, temporal, st.booleans(), st.booleans()),
    st.builds(InList, textual, st.lists(textual, max_size=3).map(tuple)),
    st.builds(Member, clean_texts.map(String), st.sampled_from([Field("tags"), Field("city")])),
    st.builds(IsNull, st.one_of(numeric, textual, temporal), st.booleans()),
    st.builds(IsBool, st.just(Field("flag")), st.booleans(), st.booleans()),
    clean_texts.map(String),
    st.builds(lambda n, t: Call(n, (Field("name"), String(t))), st.sampled_from(["search", "suggest", "startswith"]),
              clean_texts),
    st.builds(lambda n, g: Call(n, (Field("geo"), g)), st.sampled_from(["intersects", "disjoint", "within"]), geometry),
    st.builds(lambda g, k: Call("within_distance", (Field("shape"), g, Quantity(k, "km"))), geometry,
              st.integers(0, 500)),
    st.builds(lambda a, b: Call("in_bbox", (Field("geo"), a, Number(2), b, Number(5))), small_ints, small_ints),
)
typed_where = st.recursive(typed_conditions, lambda c: st.one_of(
    c.map(Not), st.lists(c, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
    st.lists(c, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs)))), max_leaves=6)


@SETTINGS
@given(where=typed_where, timezone=st.sampled_from(["UTC", "Asia/Kolkata"]))
def test_well_typed_conditions_run(con, where, timezone):
    _execute(con, Query(select="id", where=[to_text(where)], timezone=timezone, now=NOW))


group_expressions = st.one_of(
    st.sampled_from([Field("city"), Field("flag"), Field("d"), Call("year", (Field("ts"),)), Call("lower", (Field("name"),)),
                     Call("range", (Field("pop"), Number(100000))), Call("range", (Field("score"), Number(2.5))),
                     Call("range", (Field("pop"), Star(), Number(1000), Number(10**6), Star())),
                     Call("range", (Field("ts"), Quantity(1, "M"))), Call("range", (Field("d"), Quantity(2, "d"))),
                     Call("geo_cluster", (Field("geo"), Number(4))),
                     Call("date_format", (Field("d"), String("yyyy-MM")))]),
    numeric, textual)
aggregates = st.one_of(
    st.sampled_from([Call("count", (Star(),)), Call("count", (Field("name"),), True), Call("sum", (Field("pop"),)),
                     Call("avg", (Field("score"),)), Call("min", (Field("d"),)), Call("max", (Field("ts"),)),
                     Call("median", (Field("pop"),)), Call("percentile", (Field("score"), Number(90))),
                     Call("bbox", (Field("geo"),)), Call("envelope", (Field("geo"),)), Call("bbox", (Field("shape"),))]),
    st.builds(lambda a, b: Arithmetic("/", a, b), st.just(Call("sum", (Field("pop"),))), st.just(Call("count", (Star(),)))),
    st.builds(lambda f, x: Call(f, (x,)), st.sampled_from(["sum", "avg", "min", "max"]), numeric))


@SETTINGS
@given(keys=st.lists(st.builds(GroupItem, group_expressions, aliases), min_size=0, max_size=2),
       measures=st.lists(st.builds(SelectItem, aggregates, aliases), min_size=1, max_size=3),
       order=st.lists(st.sampled_from([None, True, False]), max_size=2), where=st.one_of(st.none(), typed_where))
def test_well_typed_aggregations_run(con, keys, measures, order, where):
    order_items = [OrderItem(m.expr, d) for m, d in zip(measures, order)] + [OrderItem(k.expr) for k in keys[:1]]
    query = Query(select=to_text(SelectClause(tuple(measures))),
                  group_by=to_text(GroupByClause(tuple(keys))) if keys else None,
                  order_by=to_text(OrderByClause(tuple(order_items))) if order_items else None,
                  where=[to_text(where)] if where else [], now=NOW)
    rows = _execute(con, query)
    if rows is not None and not keys:
        assert len(rows) == 1


# ---- hostile strings stay literals ----------------------------------------------------------

PAYLOADS = [
    "'; DROP TABLE records; --",
    '"; DROP TABLE records; --',
    "x' OR '1'='1",
    "\\'; DROP TABLE records; --",
    "a\\",
    "--",
    "/* comment */",
    "'' ''",
    "records\"; DELETE FROM records; --",
    "ʼ; DROP TABLE records; --",  # U+02BC modifier apostrophe
    "＇; DROP TABLE records; --",  # U+FF07 fullwidth apostrophe
    "’ OR 1=1 --",
    "\u202e'; DROP TABLE records; --",  # right-to-left override
    "\u200b'\u200b;",
    "\\u0027; DROP TABLE records; --",
    "$$; DROP TABLE records; $$",
    "%_\\%",
    "\n; DROP TABLE records;\r\n",
]
payloads = st.one_of(st.sampled_from(PAYLOADS),
                     st.text(alphabet=st.sampled_from(list("';\"-\\/*`%_ \n") + ["ʼ", "＇", "’", "\u202e", "é"]),
                             max_size=20))


def _literal_values(sql: str) -> set[str]:
    tree = sqlglot.parse_one(sql, read="duckdb")
    return {lit.this for lit in tree.find_all(exp.Literal) if lit.is_string}


def _identifier_values(sql: str) -> set[str]:
    return {i.this for i in sqlglot.parse_one(sql, read="duckdb").find_all(exp.Identifier)}


def _quoted(payload: str, quote: str = '"') -> str:
    return quote + payload.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote


WHOLE_VALUE = {"name = {s}", "city != {s}", "startswith(name, {s})", "name in ({s}, {s})", "{s} in tags",
               "concat(name, {s}) = {s}"}


@SETTINGS
@given(payload=payloads, template=st.sampled_from([
    "name = {s}", "city != {s}", "name like {s}", "{s}", "not {s}", "search(name, {s})", "suggest(*, {s})",
    "startswith(name, {s})", "name in ({s}, {s})", "{s} in tags", "concat(name, {s}) = {s}",
]))
def test_hostile_strings_are_literals(con, payload, template):
    text = template.format(s=_quoted(payload))
    try:
        plan = compile_plan(Query(select="id, name", where=[text], now=NOW), FIELDS)
    except ODSQLError as error:
        refused = ("NUL", "not a condition", "takes * only at the end of a word")  # the last: pa*s, in any full-text form
        assert any(reason in error.detail for reason in refused), error.detail
        return
    sql = to_sql(plan.select)
    assert sqlglot.transpile(sql, read="duckdb", write="duckdb")  # one statement that sqlglot reads back
    assert len(sqlglot.parse(sql, read="duckdb")) == 1
    literals_in_sql = _literal_values(sql)
    if template in WHOLE_VALUE:
        assert payload in literals_in_sql  # the exact value, as one string literal
    else:  # full text and like compare folded words: each word is one literal (a prefix as a LIKE pattern)
        assert all(w in literals_in_sql or w + "%" in literals_in_sql for w in fulltext_words(payload))
    rows = con.execute(sql).fetchall()
    if template == "name = {s}":
        assert [r[0] for r in rows] == [r.id for r in ROWS if r.name == payload]
    _table_intact(con)


@SETTINGS
@given(payload=payloads)
def test_hostile_aliases_and_names_are_identifiers(con, payload):
    assume(payload and "\x00" not in payload)
    alias = "`" + payload.replace("\\", "\\\\").replace("`", "\\`") + "`"
    plan = compile_plan(Query(select=f"name as {alias}, count(*) as n", group_by="name", order_by=f"{alias}"), FIELDS)
    sql = to_sql(plan.select)
    assert payload in _identifier_values(sql)
    con.execute(sql).fetchall()
    with pytest.raises(ODSQLError, match="Unknown field"):
        compile_plan(Query(where=[f"{alias} = 1"]), FIELDS)
    _table_intact(con)


@SETTINGS
@given(payload=payloads, kind=st.sampled_from(["date", "geom"]))
def test_hostile_date_and_geometry_literals(con, payload, kind):
    field = "d" if kind == "date" else "geo"
    text = f"{field} < {kind}{_quoted(payload, chr(39))}" if kind == "date" else \
        f"intersects({field}, {kind}{_quoted(payload, chr(39))})"
    with pytest.raises(ODSQLError):
        compile_plan(Query(where=[text]), FIELDS)
    _table_intact(con)
