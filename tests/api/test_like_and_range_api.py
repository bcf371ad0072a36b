"""``like``'s wildcards and range()'s forms through the Explore API, on a published version whose
full-text index answers ``like`` (tests/odsql/test_like_and_range_forms.py has the rules): the
index finds what a scan of the same SQL finds, with ``%`` plain punctuation, ``_`` a word
character (as in Elasticsearch's standard tokenizer: ``x_y`` is one word, of the pattern and of the
values alike) and ``*`` ending a word the one wildcard (``\\*`` a star, a star inside a word a
400); a width with a unit followed by bounds is a 400 saying what range() takes."""

from __future__ import annotations

import duckdb
import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.odsql import Query, compile_plan, to_sql
from tests.conftest import Published, current_version, published_instance, semicolon_csv

URL = "/api/explore/v2.1/catalog/datasets/forms/records"
TEXTS = ["Saint-Étienne", "x_y", "x y", "axy", "a%b", "ab", "abc", "50% off", "100%", "_", "%", "", "a\\b", "saint",
         "PARIS 12e", "xay", "x_y_z", "snake_case", "x-y"]
DAYS = ["2020-01-15", "2020-01-15", "2020-01-16", "2019-12-31", "2021-06-01"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("forms")
    rows = [{"i": str(i), "t": t, "d": DAYS[i % len(DAYS)]} for i, t in enumerate(TEXTS)]
    instance = published_instance(folder / "home", Published("forms", semicolon_csv(folder / "forms.csv", rows)))
    location, fields = current_version(instance, "forms")
    yield instance, location, fields, TestClient(create_app(instance))
    instance.store.close()


def _found(client: TestClient, where: str) -> list[str]:
    answer = client.get(URL, params={"where": where, "select": "i", "order_by": "i", "limit": 100})
    assert answer.status_code == 200, answer.text
    return [TEXTS[r["i"]] for r in answer.json()["results"]]


LIKES = [
    ("x_y", ["x_y"]),  # one word: never "x y" nor x-y (x and y), nor axy (x, one character, y)
    ("x", ["x y", "x-y"]),  # x_y and x_y_z hold no word x
    ("x_", []),
    ("x_*", ["x_y", "x_y_z"]),  # a prefix holding _: never xay (LIKE's one character)
    ("x_y_z", ["x_y_z"]),
    ("snake*", ["snake_case"]),
    ("case", []),
    ("a_b", []),
    ("a%b", ["a%b", "a\\b"]),
    ("ab%", ["ab"]),  # not abc: % is no wildcard
    ("ab*", ["ab", "abc"]),  # * is
    ("50%", ["50% off"]),
    ("100%", ["100%"]),
    ("sain*", ["Saint-Étienne", "saint"]),
    ("sain%", []),
    ("ab\\\\*", ["ab"]),  # the pattern ab\*: a star itself, no wildcard
    ("ab\\*", ["ab", "abc"]),  # the string's escape: the pattern ab*
    ("pari_", []),
    ("a\\\\b", ["a%b", "a\\b"]),
    ("%_%_%", []),  # no word: matches nothing (tests/odsql/test_like_without_words.py)
    ("_", []),
]


@pytest.mark.parametrize("pattern, expected", LIKES)
def test_like_answered_by_the_index_cuts_words_as_the_scan(setup, pattern, expected):
    instance, location, fields, client = setup
    assert instance.store.has_index(location)
    where = f"t like '{pattern}'"
    assert _found(client, where) == expected
    assert _found(client, f"not {where}") == [t for t in TEXTS if t not in expected]
    plan = compile_plan(Query(select="i", where=[where], order_by="i", limit=100), fields)
    with duckdb.connect(location, read_only=True) as con:  # the scan, as a version without its index runs it
        assert [TEXTS[r[0]] for r in con.execute(to_sql(plan.select)).fetchall()] == expected


SEARCHES = [
    ('search(t, "x_y")', ["x_y", "x_y_z"]),  # the last word a prefix
    ('search(t, "x_y_z")', ["x_y_z"]),
    ('"x_y"', ["x_y"]),  # a bare string: every word whole
    ('"x"', ["x y", "x-y"]),
    ('suggest(t, "snake_")', ["snake_case"]),
]


@pytest.mark.parametrize("where, expected", SEARCHES)
def test_search_cuts_words_as_like_does(setup, where, expected):
    """One rule for words, whichever full-text form reads them: ``x_y`` is one word for
    ``search()``, a bare string and ``suggest()`` as for ``like``, answered by the index as by the
    scan."""
    instance, location, fields, client = setup
    assert _found(client, where) == expected
    plan = compile_plan(Query(select="i", where=[where], order_by="i", limit=100), fields)
    with duckdb.connect(location, read_only=True) as con:
        assert [TEXTS[r[0]] for r in con.execute(to_sql(plan.select)).fetchall()] == expected


@pytest.mark.parametrize("pattern", ["pa*s", "*ris", "ab*-c"])
def test_a_star_inside_a_like_pattern_is_a_400_saying_where_a_star_goes(setup, pattern):
    answer = setup[3].get(URL, params={"where": f"t like '{pattern}'"})
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["error_code"] == "ODSQLError"
    assert f"like takes * only at the end of a word ('{pattern}')" in body["message"]


@pytest.mark.parametrize("group_by", ["range(d, 1 day, date'2020-01-01', *)", "range(d, *, 1 day)"])
def test_a_width_with_bounds_is_a_400_naming_the_documented_forms(setup, group_by):
    client = setup[3]
    answer = client.get(URL, params={"select": "count(*) as n", "group_by": f"{group_by} as r"})
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["error_code"] == "ODSQLError"
    assert "range() takes a width with a unit alone, as range(d, 1day)" in body["message"]
    assert "range(d, *, date'2020-01-01', date'2021-01-01', *)" in body["message"]


def test_the_documented_date_forms_of_range_answer(setup):
    client = setup[3]
    daily = client.get(URL, params={"select": "count(*) as n", "group_by": "range(d, 1 day) as r", "order_by": "r"})
    assert daily.status_code == 200, daily.text
    counts = {day: sum(1 for i in range(len(TEXTS)) if DAYS[i % len(DAYS)] == day) for day in sorted(set(DAYS))}
    assert [(g["r"][1:11], g["n"]) for g in daily.json()["results"]] == list(counts.items())
    static = client.get(URL, params={"select": "count(*) as n", "order_by": "r",
                                     "group_by": "range(d, *, date'2020-01-01', date'2021-01-01', *) as r"})
    assert static.status_code == 200, static.text
    assert [g["n"] for g in static.json()["results"]] == [counts["2019-12-31"],
                                                         counts["2020-01-15"] + counts["2020-01-16"],
                                                         counts["2021-06-01"]]
