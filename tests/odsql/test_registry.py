"""The function registry against the reference catalogue (docs §5.4–5.7): every function is
there, in the clauses the reference allows, with the right role; and the compiler enforces it."""

from __future__ import annotations

import pytest

from portail.odsql import ODSQLError, Query, compile_query
from portail.odsql.functions import FUNCTIONS, REGISTRY, Role
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


@pytest.mark.parametrize("name", sorted(n for n, (clauses, _) in CATALOGUE.items() if W not in clauses))
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
