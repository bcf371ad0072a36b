"""How a multivalued field's value splits (``kinds.multivalued_items``): one rule shared by
``"x" in f``, facets and refinements. Found by the conformance suite: facets and refine used
to treat ``"Professeur, profession scientifique"`` as one value. And group_by over such a
field: one group per value (``kinds.multivalued_values``, the list facets count too)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import duckdb
import pytest
from sqlglot import exp

from portail.odsql import Query, Security, compile_plan, multivalued_items, to_sql
from portail.schema import Field, FieldType
from tests.odsql.conftest import FIELDS, NOW, ROWS, ids, run


def split(value: str | None, annotation: list[str]) -> list[str] | None:
    f = Field("tags", "Tags", FieldType.TEXT, annotations={"multivalued": annotation})
    items = multivalued_items(f, exp.Literal.string(value) if value is not None else exp.cast(exp.Null(), "VARCHAR"))
    return duckdb.sql("SELECT " + to_sql(items)).fetchone()[0]


@pytest.mark.parametrize(("value", "annotation", "expected"), [
    ("Professeur, profession scientifique", [","], ["Professeur", "profession scientifique"]),
    (" a | b |c ", ["|"], ["a", "b", "c"]),
    ("47.11F", ["."], ["47", "11F"]),  # a regex metacharacter is a plain separator
    ("x;y", [], ["x;y"]),  # no argument: the default separator is ","
    ("x,y", [], ["x", "y"]),
    ("a+b", ["+"], ["a", "b"]),
    ("one", [","], ["one"]),
])
def test_split(value, annotation, expected):
    assert split(value, annotation) == expected


def test_null_and_single_valued():
    assert split(None, [","]) is None
    assert multivalued_items(Field("city", "City", FieldType.TEXT), exp.column("city")) is None


def test_membership_uses_the_field_separator():
    fields = [Field("codes", "Codes", FieldType.TEXT, annotations={"multivalued": ["|"]})]
    con = duckdb.connect()
    con.execute("CREATE TABLE records AS SELECT * FROM (VALUES ('a|b'), ('b | c'), ('a.b'), (NULL)) t(codes)")
    for where, expected in [('"b" in codes', 2), ('"a" in codes', 1), ('"a.b" in codes', 1), ('not "b" in codes', 2)]:
        plan = compile_plan(Query(select="count(*) as n", where=[where]), fields)
        assert con.execute(to_sql(plan.select)).fetchone()[0] == expected, where


# ---- group_by: each value is a group ---------------------------------------------------------
# On Opendatasoft a group_by over a multivalued field is a terms aggregation over an array: a
# record holding [a, b] counts in group a and in group b, a record holding none in the null
# group. The oracle below splits in Python, as the API shows the values (blanks dropped).

def values_of(text: str | None, separator: str = ",") -> list[str | None]:
    """The groups a record counts in: its distinct non-blank values, or the null group."""
    items = [] if text is None else re.split(r"\s*" + re.escape(separator) + r"\s*", text.strip(" "))
    distinct = list(dict.fromkeys(i for i in items if i))
    return distinct or [None]


def grouped(rows, key, **aggregates) -> dict:
    """``{key: {aggregate: value}}`` over ``rows``, ``key(row)`` giving every key a row counts in."""
    members: dict = defaultdict(list)
    for r in rows:
        for k in key(r):
            members[k].append(r)
    return {k: {name: f(rs) for name, f in aggregates.items()} for k, rs in members.items()}


def _sum(rows, field):
    present = [getattr(r, field) for r in rows if getattr(r, field) is not None]
    return sum(present) if present else None


def test_group_by_counts_a_record_in_each_of_its_values(con):
    rows = run(con, select="tags, count(*) as n, sum(pop) as s, count(score) as scored, max(id) as last",
               group_by="tags")
    expected = grouped(ROWS, lambda r: values_of(r.tags), n=len, s=lambda rs: _sum(rs, "pop"),
                       scored=lambda rs: sum(r.score is not None for r in rs), last=lambda rs: max(r.id for r in rs))
    assert {r["tags"]: {k: r[k] for k in ("n", "s", "scored", "last")} for r in rows} == expected
    assert [r["tags"] for r in rows] == [None] + sorted(k for k in expected if k is not None)  # the null group first
    assert {None, "a", "b", "c", "d"} == set(expected)  # "" (row 5) and null rows make the null group


def test_the_key_is_one_text_value_not_a_list():
    plan = compile_plan(Query(select="count(*) as n", group_by="tags, tags as t, lower(tags) as l"), FIELDS)
    tags, t, low, _ = plan.columns
    assert (tags.name, tags.type, tags.annotations) == ("tags", FieldType.TEXT, {})
    assert (t.name, t.annotations) == ("t", {})
    assert low.annotations == {}
    joins = plan.select.args["joins"]
    assert len(joins) == 1  # one field, one join, however many keys read it
    assert [t.name for t in plan.select.find_all(exp.Table)] == ["records"]  # the table the store re-points


def test_functions_of_the_field_group_each_value(con):
    rows = run(con, select="count(*) as n", group_by="upper(tags) as u, ifnull(tags, 'none') as v")
    expected = Counter((v.upper() if v else None, v or "none") for r in ROWS for v in values_of(r.tags))
    assert Counter({(r["u"], r["v"]): r["n"] for r in rows}) == expected


def test_a_second_key_crosses_records_with_values(con):
    rows = run(con, select="count(*) as n, sum(pop) as s", group_by="city, tags as t")
    expected = grouped(ROWS, lambda r: [(r.city, v) for v in values_of(r.tags)], n=len, s=lambda rs: _sum(rs, "pop"))
    assert {(r["city"], r["t"]): {"n": r["n"], "s": r["s"]} for r in rows} == expected


def test_where_and_the_row_filter_test_records_before_their_values(con):
    # "a" in tags keeps whole records: their other values still form groups
    rows = run(con, select="tags, count(*) as n", group_by="tags", where=['"a" in tags', "pop > 1000"])
    kept = [r for r in ROWS if "a" in values_of(r.tags) and r.pop is not None and r.pop > 1000]
    assert {r["tags"]: r["n"] for r in rows} == Counter(v for r in kept for v in values_of(r.tags))
    assert {r["tags"] for r in rows} > {"a"}
    security = Security(row_filter='secret = "s1"', hidden_fields=frozenset({"secret"}))
    rows = run(con, security, select="tags, count(*) as n", group_by="tags")
    visible = [r for r in ROWS if r.secret == "s1"]
    assert {r["tags"]: r["n"] for r in rows} == Counter(v for r in visible for v in values_of(r.tags))


def test_order_by_aggregate_and_key_with_paging_and_a_total(con):
    everything = Counter(v for r in ROWS for v in values_of(r.tags))
    ranked = sorted(everything.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or ""))
    rows = run(con, select="tags, count(*) as n", group_by="tags", order_by="n desc", limit=2, offset=1)
    assert [(r["tags"], r["n"]) for r in rows] == ranked[1:3]
    rows = run(con, select="count(*) as n", group_by="tags as t", order_by="t desc")
    assert [r["t"] for r in rows] == sorted((k for k in everything if k is not None), reverse=True) + [None]
    # the records API counts the groups with a window over the grouped query (explore_service._page_plan)
    plan = compile_plan(Query(select="tags, count(*) as n", group_by="tags", order_by="n desc", now=NOW), FIELDS)
    paged = plan.select.select(exp.alias_(exp.Window(this=exp.Count(this=exp.Star())), "total")).limit(2)
    totals = [row[-1] for row in con.execute(to_sql(paged)).fetchall()]
    assert totals == [len(everything)] * 2
    counted = exp.select("count(*) AS n").from_(plan.select.subquery("g"))
    assert con.execute(to_sql(counted)).fetchone()[0] == len(everything)


def test_membership_in_group_by_asks_about_the_whole_record(con):
    rows = run(con, select="count(*) as n", group_by='"a" in tags as has_a')
    assert {r["has_a"]: r["n"] for r in rows} == Counter(
        None if r.tags is None else "a" in values_of(r.tags) for r in ROWS)


def test_blanks_duplicates_and_two_multivalued_keys():
    fields = [Field("id", "Id", FieldType.INT),
              Field("tags", "Tags", FieldType.TEXT, annotations={"multivalued": [","]}),
              Field("codes", "Codes", FieldType.TEXT, annotations={"multivalued": ["|"]})]
    data = [(1, "a,,b", "x|y"), (2, " a , a ", "y"), (3, ",, ,", None), (4, None, "x| |z|"), (5, "b,", "z|z"),
            (6, "", "")]
    con = duckdb.connect()
    con.execute("CREATE TABLE records (id BIGINT, tags VARCHAR, codes VARCHAR)")
    con.executemany("INSERT INTO records VALUES (?, ?, ?)", data)

    def groups(group_by: str) -> dict:
        sql = to_sql(compile_plan(Query(select="count(*) as n, sum(id) as s", group_by=group_by), fields).select)
        return {tuple(row[:-2]): tuple(row[-2:]) for row in con.execute(sql).fetchall()}

    def oracle(key) -> dict:
        found = grouped(data, key, n=len, s=lambda rs: sum(r[0] for r in rs))
        return {k: (v["n"], v["s"]) for k, v in found.items()}

    assert groups("tags") == oracle(lambda r: [(v,) for v in values_of(r[1])])
    assert groups("tags") == {("a",): (2, 3), ("b",): (2, 6), (None,): (3, 13)}
    assert groups("codes") == oracle(lambda r: [(v,) for v in values_of(r[2], "|")])
    assert groups("tags, codes") == oracle(lambda r: [(t, c) for t in values_of(r[1]) for c in values_of(r[2], "|")])
    assert groups("tags, lower(tags)") == oracle(lambda r: [(t, t) for t in values_of(r[1])])


def test_startswith_tests_every_value_of_a_multivalued_field():
    """``startswith(tags, "ro")`` holds when any value starts with the text, as ``"rouge" in
    tags`` holds for any value; a single-valued field is tested whole."""
    fields = [Field("tags", "Tags", FieldType.TEXT, annotations={"multivalued": [";"]}),
              Field("name", "Name", FieldType.TEXT)]
    con = duckdb.connect()
    con.execute("CREATE TABLE records AS SELECT * FROM (VALUES ('bleu; rouge', 'x;ro'), ('rose', 'rose'), "
                "('vert;bleu', NULL), (NULL, 'ro')) t(tags, name)")
    for where, expected in [('startswith(tags, "ro")', 2), ('not startswith(tags, "ro")', 2),
                            ('startswith(tags, "bl")', 2), ('startswith(tags, "Ro")', 0),
                            ('startswith(*, "ro")', 3), ('startswith(name, "ro")', 2),
                            ('startswith(tags, name, "ro")', 3)]:
        plan = compile_plan(Query(select="count(*) as n", where=[where]), fields)
        assert con.execute(to_sql(plan.select)).fetchone()[0] == expected, where


# ---- count(f) counts records (the documented "count for not null value of this field"); a
# multivalued field sorts, and min/max it, by one of its values (the smallest ascending, the
# largest descending, as the search engine behind Opendatasoft sorts arrays), not its joined text


def _values(text: str | None) -> list[str]:
    return sorted({v for v in re.split(r"\s*,\s*", text.strip())} - {""}) if text else []


def test_count_of_a_multivalued_field_counts_records_not_values(con):
    """Already right: the documented meaning, pinned beside what counts values."""
    counted = run(con, select="count(tags) as n, count(distinct tags) as d, count(*) as all")[0]
    assert counted["n"] == len(ids(con, "tags is not null")) == sum(r.tags is not None for r in ROWS) == 9
    assert counted["d"] == len(set().union(*map(_values, (r.tags for r in ROWS)))) == 4
    assert sum(len(_values(r.tags)) for r in ROWS) == 11 != counted["n"]  # not the number of values


def _sorted_ids(descending: bool) -> list[int]:
    """Records by their smallest value ascending (largest descending), none last, ties by id."""
    held = [r for r in ROWS if _values(r.tags)]
    pick = max if descending else min
    ordered = sorted(held, key=lambda r: r.id)
    ordered.sort(key=lambda r: pick(_values(r.tags)), reverse=descending)
    return [r.id for r in ordered]


def test_a_multivalued_field_sorts_by_one_of_its_values(con):
    """The joined texts sorted "a, c" before "a,b" and the empty value first."""
    for order_by, descending in [("tags, id", False), ("tags desc, id", True), ("-tags, id", True)]:
        rows = run(con, select="id", order_by=order_by)
        assert [r["id"] for r in rows][:len(_sorted_ids(descending))] == _sorted_ids(descending), order_by
        assert {r["id"] for r in rows[len(_sorted_ids(descending)):]} == {3, 5, 10, 12}  # no value: last
    aliased = run(con, select="id, tags as t", order_by="t desc, id")
    assert [r["id"] for r in aliased][:8] == _sorted_ids(True)


def test_min_and_max_of_a_multivalued_field_are_values_of_it(con):
    every = [v for r in ROWS for v in _values(r.tags)]
    assert run(con, select="min(tags) as lo, max(tags) as hi") == [{"lo": min(every), "hi": max(every)}]
    per_flag = {g["flag"]: g["lo"] for g in run(con, select="flag, min(tags) as lo", group_by="flag")}
    assert per_flag == {flag: min((v for r in ROWS if r.flag is flag for v in _values(r.tags)), default=None)
                        for flag in (True, False, None)}
