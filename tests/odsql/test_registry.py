"""The function registry against the reference catalogue (docs §5.4–5.7): every function is
there, in the clauses the reference allows, with the right role; and the compiler enforces it."""

from __future__ import annotations

import math

import pytest

from portail.odsql import ODSQLError, Query, compile_query
from portail.odsql.functions import FUNCTIONS, REGISTRY, WHERE_FORMS, Role
from tests.odsql.conftest import FIELDS, run

S, W, G, O = "select", "where", "group_by", "order_by"

CATALOGUE = {
    # name: (clauses, role) as the reference documents them
    "length": ({S, W, O}, Role.SCALAR),
    "now": ({S, W, O}, Role.SCALAR),
    **{part: ({S, W, G, O}, Role.SCALAR) for part in ("year", "month", "day", "hour", "minute", "second")},
    "date_format": ({S, W, G, O}, Role.SCALAR),
    "json_format": ({S}, Role.SCALAR),
    "ifnull": ({S, W, G, O}, Role.SCALAR),
    "lower": ({S, W, G, O}, Role.SCALAR),
    "include": ({S}, Role.PSEUDO),
    "exclude": ({S}, Role.PSEUDO),
    "random": ({O}, Role.ORDERING),
    "distance": ({S, W, O}, Role.SCALAR),
    "vector_similarity": ({O}, Role.CATALOG),
    "vector_similarity_threshold": ({W}, Role.CATALOG),
    "search": ({W}, Role.PREDICATE),
    "suggest": ({W}, Role.PREDICATE),
    "within_distance": ({W}, Role.PREDICATE),
    "in_bbox": ({W}, Role.PREDICATE),
    "intersects": ({W}, Role.PREDICATE),
    "disjoint": ({W}, Role.PREDICATE),
    "within": ({W}, Role.PREDICATE),
    "geometry": ({W}, Role.PREDICATE),
    "range": ({G}, Role.GROUPING),
    "geo_cluster": ({G}, Role.GROUPING),
    **{agg: ({S, O}, Role.AGGREGATE) for agg in ("count", "sum", "avg", "min", "max", "median", "percentile")},
    "envelope": ({S}, Role.AGGREGATE),
    "bbox": ({S}, Role.AGGREGATE),
}


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_catalogue_function_is_registered(name):
    clauses, role = CATALOGUE[name]
    row = REGISTRY[name]
    assert row.role is role
    assert clauses <= row.clauses


def test_the_registry_is_one_table_of_unique_names():
    assert len(REGISTRY) == len(FUNCTIONS)
    for row in FUNCTIONS:
        assert row.name == row.name.lower()
        assert row.min_args <= (row.max_args if row.max_args is not None else row.min_args)
        assert row.params and row.returns


def test_where_forms_are_filters_named_like_a_function_of_select():
    """v2.0's ``bbox(geo, corner, corner)`` filter beside v2.1's ``bbox(geo)`` aggregate."""
    assert set(WHERE_FORMS) == {"bbox"}
    for name, row in WHERE_FORMS.items():
        assert row.clauses == {W} and row.role is Role.PREDICATE and W not in REGISTRY[name].clauses


@pytest.mark.parametrize("name", sorted(n for n, (clauses, _) in CATALOGUE.items()
                                        if W not in clauses and n not in WHERE_FORMS))
def test_functions_outside_where_are_refused_there(name):
    with pytest.raises(ODSQLError) as error:
        compile_query(Query(where=[f"{name}(pop) = 1"]), FIELDS)
    assert error.value.clause == W
    assert "not allowed in where" in error.value.detail


@pytest.mark.parametrize("name", sorted(n for n, (clauses, role) in CATALOGUE.items()
                                        if O not in clauses and role is not Role.PSEUDO))
def test_functions_outside_order_by_are_refused_there(name):
    with pytest.raises(ODSQLError) as error:
        compile_query(Query(order_by=f"{name}(pop)"), FIELDS)
    assert error.value.clause == O and "not allowed in order_by" in error.value.detail


def test_unknown_function_names_the_clause():
    with pytest.raises(ODSQLError) as error:
        compile_query(Query(select="invalid_function()"), FIELDS)
    assert error.value.message == ("ODSQL query is malformed: invalid_function() "
                                   "Clause(s) containing the error(s): select.")


def test_catalog_only_functions(con):
    for query in (dict(order_by='vector_similarity("trees")'), dict(where=['vector_similarity_threshold("x", 0.7)'])):
        with pytest.raises(ODSQLError, match="only available on the catalog"):
            run(con, **query)


def test_json_format(con):
    rows = run(con, select="json_format(tags) as j, json_format('[1, 2]') as k, json_format(tags, 'none') as f, "
                           "json_format(tags, null) as n", where=["id = 1"])
    # Text that is no JSON comes back as text (a JSON string), unless a fallback is given.
    assert rows == [{"j": '"a,b"', "k": "[1, 2]", "f": '"none"', "n": None}]


def test_numeric_extensions(con):
    rows = run(con, select="abs(score) as a, round(score) as r, round(score, 1) as r1, floor(score) as f, ceil(score) as c",
               where=["id = 5"])
    assert rows == [{"a": 2.5, "r": -3.0, "r1": -2.5, "f": -3.0, "c": -2.0}]


def test_null_arguments_are_typed(con):
    rows = run(con, select="year(null) as y, lower(null) as l, length(null) as n, abs(null) as a, "
                           "date_format(null, 'yyyy') as f, ifnull(null, 1) as i", where=["id = 1"])
    assert rows == [{"y": None, "l": None, "n": None, "a": None, "f": None, "i": 1}]


def _java(function, *args):
    """Java's Math (v1 analyze's expression language) as the API answers it: null for a null
    argument and where Java gives NaN or an infinity."""
    if any(a is None for a in args):
        return None
    try:
        value = function(*args)
    except (ValueError, OverflowError, ZeroDivisionError):
        return None
    return value if math.isfinite(value) else None


_MATH = {
    "sqrt": math.sqrt, "cbrt": lambda x: math.copysign(abs(x) ** (1 / 3), x), "pow": math.pow, "exp": math.exp,
    "ln": math.log, "log10": math.log10, "sin": math.sin, "cos": math.cos, "tan": math.tan, "asin": math.asin,
    "acos": math.acos, "atan": math.atan, "atan2": math.atan2, "sinh": math.sinh, "cosh": math.cosh,
    "tanh": math.tanh, "degrees": math.degrees, "radians": math.radians,
    "sign": lambda x: float((x > 0) - (x < 0)), "rint": lambda x: float(round(x)), "hypot": math.hypot,
    "greatest": max, "least": min,
}


@pytest.mark.parametrize("name", sorted(_MATH))
def test_math_functions_over_every_row_and_their_domains(con, name):
    """Beyond Opendatasoft's ODSQL, for v1 analyze's expressions (``sin(area)*2`` in its
    documentation): each against Python's math over the fixture's scores and populations, plus
    values at and past the edges of its domain (null, as a division by zero)."""
    binary = REGISTRY[name].min_args == 2
    select = f"score, pop, {name}(score{', pop' if binary else ''}) as v"
    for row in run(con, select=select):
        expected = _java(_MATH[name], *((row["score"], row["pop"]) if binary else (row["score"],)))
        assert row["v"] == pytest.approx(expected, rel=1e-12, abs=1e-300) if expected is not None else row["v"] is None, row
    edges = (-2, -1, -0.5, 0, 0.5, 1, 2, 1000)
    for x in edges:
        args = (x, 0.5) if binary else (x,)
        value = run(con, select=f"{name}({', '.join(map(str, args))}) as v", where=["id = 1"])[0]["v"]
        expected = _java(_MATH[name], *args)
        assert (value is None) if expected is None else value == pytest.approx(expected, rel=1e-12), (args, value)
