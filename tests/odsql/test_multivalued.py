"""How a multivalued field's value splits (``kinds.multivalued_items``): one rule shared by
``"x" in f``, facets and refinements. Found by the conformance suite: facets and refine used
to treat ``"Professeur, profession scientifique"`` as one value."""

from __future__ import annotations

import duckdb
import pytest
from sqlglot import exp

from portail.odsql import Query, compile_plan, multivalued_items, to_sql
from portail.schema import Field, FieldType


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
