"""Gaps between Portail's ODSQL and Opendatasoft's, closed on 7 December. Opendatasoft's ODSQL
reference (the ``_odsql.md`` of its explore API documentation) is the yardstick:

* an ``IN`` range has two literal bounds (``f IN [1..10]``, ``d IN [date'2017'..date'2018']``):
  no open bound (``*``, a missing value), and ``NOT`` is a prefix ("inverses the next
  expression"): ``f NOT IN …`` is no ODSQL. Both stay 400s, which now say what to write;
* ``count(f)`` is "the count for not null value of this field": records, also for a
  multivalued field (its values are what ``count(distinct f)`` and ``group_by=f`` count);
* ``length()`` of a multivalued field stays the length of its text, as
  ``tests/api/test_multivalued.py`` pins it (records and catalogue alike): not changed here;
* a multivalued field sorts, and ``min``/``max`` it, by one of its values (the smallest
  ascending, the largest descending, as the search engine behind Opendatasoft sorts arrays),
  not by the text joining them;
* "the selected field literal must be in the group by clause": ``*`` beside group_by items or
  aggregates is a 400, not silently dropped.
"""

from __future__ import annotations

import re

import pytest

from portail.odsql import ODSQLError
from tests.odsql.conftest import ROWS, ids, run


def _error(con, **query) -> str:
    with pytest.raises(ODSQLError) as caught:
        run(con, **query)
    return str(caught.value)


@pytest.mark.parametrize("where", ["pop in [100000..*]", "pop in [*..100000]", "pop: [1..*]", "pop in [100000..]",
                                   "pop in [..10]", "pop in [1 to *]", "ts in ]date'2020'..*]", "pop in [1.."])
def test_an_open_range_bound_is_a_400_saying_what_to_write(con, where):
    assert "no open bound" in _error(con, select="id", where=[where])


@pytest.mark.parametrize("where", ["pop in [1..10]]", "range(pop, [*, 10])", "a * * b", "pop in [1..10"])
def test_other_syntax_errors_give_no_range_hint(con, where):
    assert "open bound" not in _error(con, select="id", where=[where])


def test_not_goes_before_the_condition(con):
    for where, word in [("pop not in [1..100000]", "in"), ("city not in ('Paris')", "in"), ('"a" not in tags', "in"),
                        ('name not like "paris"', "like")]:
        assert f"not f {word} …" in _error(con, select="id", where=[where]), where
    assert "negation" not in _error(con, select="id", where=["pop not 3"])
    # ODSQL's own spelling works, for ranges, lists and membership
    kept = ids(con, "pop in [1..100000]")
    assert ids(con, "not pop in [1..100000]") == sorted(r.id for r in ROWS if r.id not in kept)
    assert ids(con, "not city in ('Paris')") == sorted(r.id for r in ROWS if r.id not in ids(con, "city in ('Paris')"))
    assert ids(con, 'not "a" in tags') == sorted(r.id for r in ROWS if r.id not in ids(con, '"a" in tags'))


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


def test_star_beside_group_by_items_or_aggregates_is_a_400(con):
    for query in [dict(select="*, count(*)", group_by="city"), dict(select="count(*), *", group_by="city"),
                  dict(select="*, city", group_by="city"), dict(select="*, count(*)")]:
        assert "a selected field must be in group_by" in _error(con, **query), query
    # * alone (the default select) lists the groups
    assert run(con, select="*", group_by="flag") == [{"flag": None}, {"flag": False}, {"flag": True}]
