"""ODSQL text → syntax tree: every construct of the grammar, its spelling variants, the
trees it gives, the text kept for aggregation keys, and the errors."""

from __future__ import annotations

import pytest

from portail.odsql import ODSQLError, parse
from portail.odsql.ast import (And, Arithmetic, Boolean, Call, Compare, DateLiteral, Field, GeomLiteral, GroupByClause,
                               GroupItem, InList, InRange, IsBool, IsNull, Like, Member, Negate, Not, Null, Number, Or,
                               OrderByClause, OrderItem, Pattern, Quantity, SelectClause, SelectItem, SelectStar, Star,
                               Steps,
                               String, to_text)

a, b, c = Field("a"), Field("b"), Field("c")


def where(text: str):
    return parse("where", text)


# ---- literals -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, node", [
    ('"hello"', String("hello")),
    ("'hello'", String("hello")),
    (r"'Don\'t worry'", String("Don't worry")),
    (r'"say \"hi\""', String('say "hi"')),
    (r'"back\\slash"', String("back\\slash")),
    (r'"line\nbreak\ttab"', String("line\nbreak\ttab")),
    (r'"caf\u00e9"', String("café")),
    (r'"\ud83d\ude00"', String("😀")),  # JSON.stringify's surrogate pairs
    ('"multi\nline"', String("multi\nline")),
    ('""', String("")),
    ("100", Number(100)),
    ("5.8", Number(5.8)),
    ("0.0", Number(0.0)),
    ("-3", Negate(Number(3))),
    ("true", Boolean(True)),
    ("TRUE", Boolean(True)),
    ("False", Boolean(False)),
    ("null", Null()),
    ("NULL", Null()),
    ("date'2017'", DateLiteral("2017")),
    ('DATE"2017-01-02"', DateLiteral("2017-01-02")),
    ("date'1970-01-01T00:00:00.000Z'", DateLiteral("1970-01-01T00:00:00.000Z")),
    ("geom'POINT(2.35 48.85)'", GeomLiteral("POINT(2.35 48.85)")),
    ("""geom'{"type": "Point", "coordinates": [1, 2]}'""", GeomLiteral('{"type": "Point", "coordinates": [1, 2]}')),
])
def test_literals(text, node):
    assert where(text) == node


@pytest.mark.parametrize("text, node", [
    ("10km", Quantity(10, "km")),
    ("1.5mi", Quantity(1.5, "mi")),
    ("500m", Quantity(500, "m")),
    ("1d", Quantity(1, "d")),
    ("1M", Quantity(1, "M")),
    ("3months", Quantity(3, "months")),
    ("15ms", Quantity(15, "ms")),
    ("1 day", Quantity(1, "day")),  # spaced, as Opendatasoft's RANGE(date, 1 day) example
    ("12 hour", Quantity(12, "hour")),
    ("2.5  km", Quantity(2.5, "km")),
    ("1 M", Quantity(1, "M")),
])
def test_quantities_keep_their_case_sensitive_unit(text, node):
    assert where(f"f(x, {text})") == Call("f", (Field("x"), node))


# ---- names ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, name", [
    ("population", "population"),
    ("_private", "_private"),
    ("field_2", "field_2"),
    ("2020_population", "2020_population"),  # digits then letters: still a name
    ("`12`", "12"),
    ("`and`", "and"),
    ("`with space`", "with space"),
    (r"`a\`b`", "a`b"),
    (r"`back\\slash`", "back\\slash"),
    ("default.modified", "default.modified"),
    # keywords are whole words only
    ("android", "android"), ("island", "island"), ("notable", "notable"), ("order", "order"),
    ("ascii", "ascii"), ("description", "description"), ("nullable", "nullable"), ("todo", "todo"),
    ("truthy", "truthy"), ("date", "date"), ("geom", "geom"),
])
def test_names(text, name):
    assert where(f"{text} = 1") == Compare("=", Field(name), Number(1))


def test_keywords_are_reserved_only_where_they_could_be_read_as_keywords():
    # Opendatasoft asks for backquotes; the contextual lexer is more lenient, never ambiguous.
    assert where("and = 1") == Compare("=", Field("and"), Number(1))
    assert where("a = 1 and or = 2") == And((Compare("=", a, Number(1)), Compare("=", Field("or"), Number(2))))
    assert where("a = and") == Compare("=", a, Field("and"))
    with pytest.raises(ODSQLError):  # here "and" can only be the operator
        where("a and")


# ---- operators ------------------------------------------------------------------------------

def test_arithmetic_precedence():
    assert where("a + b * c") == Arithmetic("+", a, Arithmetic("*", b, c))
    assert where("(a + b) * c") == Arithmetic("*", Arithmetic("+", a, b), c)
    assert where("a - b - c") == Arithmetic("-", Arithmetic("-", a, b), c)
    assert where("a / -b") == Arithmetic("/", a, Negate(b))
    assert where("+a") == a


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">=", ":"])
def test_comparisons(op):
    assert where(f"a {op} 1") == Compare(op, a, Number(1))
    assert where(f"a{op}1") == Compare(op, a, Number(1))


def test_not_equal_spellings():
    assert where("a <> 1") == where("a != 1") == Compare("!=", a, Number(1))


def test_colon_with_backquoted_name():
    assert where('`and`: "value"') == Compare(":", Field("and"), String("value"))


def test_like():
    assert where('name like "star*"') == Like(Field("name"), String("star*"))
    assert where("name LIKE 'abc*'") == Like(Field("name"), String("abc*"))


@pytest.mark.parametrize("text, low_in, high_in", [
    ("x in [1..10]", True, True),
    ("x in ]1..10[", False, False),
    ("x in [1..10[", True, False),
    ("x in ]1..10]", False, True),
    ("x IN [1 TO 10]", True, True),
    ("x in [1 to 10]", True, True),
])
def test_ranges(text, low_in, high_in):
    assert where(text) == InRange(Field("x"), Number(1), Number(10), low_in, high_in)


def test_v20_colon_range_is_in():
    """v2.0's documentation writes ``numeric_field: [1..10]`` for ``in``."""
    assert where("x: [1..10]") == where("x in [1..10]")
    assert where("x : ]1 TO 10[") == InRange(Field("x"), Number(1), Number(10), False, False)


@pytest.mark.parametrize("text, values, low, high", [
    ("range(p, ]10, 50, 100[)", (Number(10), Number(50), Number(100)), True, True),
    ("RANGE(p, [20.5[)", (Number(20.5),), False, True),
    ("range(p, [1,2,3])", (Number(1), Number(2), Number(3)), False, False),
    ("range(d, ]date'2020-11-13', date'2021-01-01'])", (DateLiteral("2020-11-13"), DateLiteral("2021-01-01")), True, False),
])
def test_v20_bracketed_range_steps(text, values, low, high):
    """v2.0's static ranges: a bracket turned outwards opens that side."""
    (item,) = parse("group_by", text).items
    assert item.expr == Call("range", (Field(item.expr.args[0].name), Steps(values, low, high)))


def test_range_of_dates_and_decimals():
    assert where("d in [date'2017'..date'2018']") == InRange(Field("d"), DateLiteral("2017"), DateLiteral("2018"))
    assert where("x in [1.5..2.5]") == InRange(Field("x"), Number(1.5), Number(2.5))
    assert where("x in [-5..5]") == InRange(Field("x"), Negate(Number(5)), Number(5))


def test_in_list_and_membership():
    assert where('city in ("Paris", \'Nantes\')') == InList(Field("city"), (String("Paris"), String("Nantes")))
    assert where("x in ()") == InList(Field("x"), ())
    assert where('"Paris" in tags') == Member(String("Paris"), Field("tags"))
    assert where("15 IN mv_int") == Member(Number(15), Field("mv_int"))


def test_is_null_and_booleans():
    assert where("f is null") == IsNull(Field("f"))
    assert where("f IS NOT NULL") == IsNull(Field("f"), negated=True)
    assert where("flag is true") == IsBool(Field("flag"), True)
    assert where("flag is not FALSE") == IsBool(Field("flag"), False, negated=True)


def test_boolean_precedence():
    # and binds tighter than or; not tighter than and
    assert where("a or b and c") == Or((a, And((b, c))))
    assert where("not a and b") == And((Not(a), b))
    assert where("not (a and b)") == Not(And((a, b)))
    assert where("not(x = 1)") == Not(Compare("=", Field("x"), Number(1)))
    assert where("a AND b And c") == And((a, b, c))
    assert where("NOT NOT a") == Not(Not(a))


def test_bare_search_strings():
    assert where('"tree" AND NOT "dog"') == And((String("tree"), Not(String("dog"))))
    assert where('"film*"') == String("film*")


# ---- calls ----------------------------------------------------------------------------------

def test_calls():
    assert where("now()") == Call("now")
    assert where("count(*)") == Call("count", (Star(),))
    assert where("COUNT(DISTINCT city)") == Call("count", (Field("city"),), distinct=True)
    assert where('search(*, "x")') == Call("search", (Star(), String("x")))
    assert where("range(x, *, 10, 20, *)") == Call("range", (Field("x"), Star(), Number(10), Number(20), Star()))
    assert where("include(nom_*)") == Call("include", (Pattern("nom_*"),))
    assert where("f(g(x), 1 + 2)") == Call("f", (Call("g", (Field("x"),)), Arithmetic("+", Number(1), Number(2))))
    assert where("in_bbox(g, -37.8, 144.9, -37.8, 144.97)").args[1] == Negate(Number(37.8))


def test_named_arguments_are_equalities():
    assert where("now(year=2001, months=-1)") == Call("now", (
        Compare("=", Field("year"), Number(2001)), Compare("=", Field("months"), Negate(Number(1)))))


def test_geo_predicates_shapes():
    node = where("within_distance(geo, geom'POINT(2.35 48.85)', 10km)")
    assert node == Call("within_distance", (Field("geo"), GeomLiteral("POINT(2.35 48.85)"), Quantity(10, "km")))
    node = where("geometry(geo, geom'POLYGON((0 0, 1 0, 1 1, 0 0))', WITHIN)")
    assert node.args[2] == Field("WITHIN")


# ---- clauses --------------------------------------------------------------------------------

def test_select_clause():
    node = parse("select", "*, name AS n, count(*), 2 * population as double_population, include(nom_*)")
    assert node == SelectClause((
        SelectStar(),
        SelectItem(Field("name"), "n"),
        SelectItem(Call("count", (Star(),))),
        SelectItem(Arithmetic("*", Number(2), Field("population")), "double_population"),
        SelectItem(Call("include", (Pattern("nom_*"),))),
    ))


def test_items_keep_their_source_text():
    node = parse("select", "  COUNT( * ) as n ,  RANGE(capacity,15) ")
    assert [i.text for i in node.items] == ["COUNT( * )", "RANGE(capacity,15)"]
    node = parse("group_by", "GEO_CLUSTER(coordonnees_geo,10), year(d) AS y")
    assert [(i.text, i.alias) for i in node.items] == [("GEO_CLUSTER(coordonnees_geo,10)", None), ("year(d)", "y")]
    assert parse("order_by", "count(*) DESC").items[0].text == "count(*)"


def test_group_by_clause():
    assert parse("group_by", "city, year(d) as y") == GroupByClause((
        GroupItem(Field("city")), GroupItem(Call("year", (Field("d"),)), "y")))


def test_order_by_clause():
    assert parse("order_by", "a, b desc, c ASC, -d, random(3)") == OrderByClause((
        OrderItem(a), OrderItem(b, True), OrderItem(c, False), OrderItem(Negate(Field("d"))),
        OrderItem(Call("random", (Number(3),)))))


def test_alias_can_be_backquoted():
    assert parse("select", "x as `my alias`").items[0].alias == "my alias"


def test_equal_trees_ignore_spelling():
    assert parse("select", "COUNT(*)") == parse("select", "count( * )")


# ---- round trip -----------------------------------------------------------------------------

@pytest.mark.parametrize("clause, text", [
    ("where", '(a = 1 or b != "x") and not c is null'),
    ("where", r"`weird name` : 'it\'s' and `and` in [date'2017'..date'2018-01'["),
    ("where", 'search(title, "bok of secret") or suggest(*, "par") or startswith(f, "A")'),
    ("where", "within_distance(geo, geom'POINT(1 2)', 1.5km) and in_bbox(geo, -1, -2, 3.5, 4)"),
    ("where", 'x in (1, 2.5, "three", null, true) and "p" in tags and f is not true'),
    ("where", "now(days=-1, hour=0) <= d and d < now()"),
    ("select", "*, a + b * -c as s, count(distinct x), include(na*), exclude(`b`)"),
    ("group_by", "range(x, *, 10, 20.5, *) as r, range(d, 1M), geo_cluster(g, 5, 40)"),
    ("group_by", "range(x, ]10, 20.5[) as r, range(y, [1, 2]), range(d, ]date'2020', date'2021'])"),
    ("order_by", "count(*) desc, -pop, name asc, random(1)"),
])
def test_round_trip(clause, text):
    node = parse(clause, text)
    assert parse(clause, to_text(node)) == node


# ---- errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("clause, text", [
    ("where", "a ="),
    ("where", "a = 1 and"),
    ("where", '"unterminated'),
    ("where", "(a = 1"),
    ("where", "a = 1)"),
    ("where", "a $ b"),
    ("where", "x in [1..10"),
    ("where", "x in [1, 10]"),
    ("where", "a = = 1"),
    ("where", "count(distinct)"),
    ("where", "f(,)"),
    ("where", "`unclosed"),
    ("where", "a b"),
    ("select", "a,"),
    ("select", "a as"),
    ("select", "a as 1"),
    ("group_by", "a desc"),
    ("order_by", "a desc desc"),
    ("order_by", "a as b"),
])
def test_syntax_errors(clause, text):
    with pytest.raises(ODSQLError) as error:
        parse(clause, text)
    assert error.value.clause == clause
    assert error.value.message.startswith("ODSQL query is malformed: ")
    assert error.value.message.endswith(f"Clause(s) containing the error(s): {clause}.")


def test_error_message_points_at_the_problem():
    with pytest.raises(ODSQLError) as error:
        parse("where", "a = 1 and $")
    assert error.value.detail == 'Unexpected character "$" at position 11.'
    with pytest.raises(ODSQLError) as error:
        parse("where", "a = ")
    assert error.value.detail == "Unexpected end of query."
    with pytest.raises(ODSQLError) as error:
        parse("select", "a b")
    assert error.value.detail == 'Unexpected "b" at position 3.'


def test_empty_and_oversized_clauses():
    for text in ("", "   "):
        with pytest.raises(ODSQLError, match="empty"):
            parse("where", text)
    with pytest.raises(ODSQLError, match="nested"):
        parse("where", "1" + " + 1" * 150)
    with pytest.raises(ODSQLError, match="longer"):
        parse("where", "a" * 30_000)


def test_lone_surrogate_escape_is_an_error():
    with pytest.raises(ODSQLError, match="surrogate"):
        parse("where", r'"\ud800"')


def test_unknown_clause_is_a_programming_error():
    with pytest.raises(ValueError):
        parse("having", "a")
