"""Full text in ODSQL (bare strings, ``search()``, ``suggest()``): the reference's rules, checked
on the shared small dataset (the compiled scan, no index) against a Python oracle, and the
index-marked form the store swaps for its lookup."""

from __future__ import annotations

import re
import unicodedata

import pytest

from portail.odsql import Query, compile_plan
from portail.odsql.functions import search_matches
from portail.store import fulltext
from portail.store.fulltext import Match
from tests.odsql.conftest import FIELDS, ROWS, expect, ids

TEXT = ("name", "city", "tags", "secret")


def words(text: str | None) -> list[str]:
    bare = "".join(c for c in unicodedata.normalize("NFD", (text or "").lower()) if unicodedata.category(c) != "Mn")
    bare = bare.replace("œ", "oe").replace("æ", "ae").replace("ß", "ss")  # ligatures spelled out
    return [w for w in re.findall(r"\w+", bare) if w.strip("_")]  # "_" a word character; alone, no word


def lev(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def found(r, fields, wanted: str, how: str) -> bool:
    have = {w for f in fields for w in words(getattr(r, f))}
    if how == "prefix":
        return any(w.startswith(wanted) for w in have)
    if how == "exact":
        return wanted in have
    k = 2 if len(wanted) > 5 else 1 if len(wanted) > 2 else 0
    return any(w[:1] == wanted[:1] and lev(w, wanted) <= k for w in have)


@pytest.mark.parametrize("where, keep", [
    # a bare string: every word whole (no prefix, no fuzziness) unless written word*
    ('"pari"', lambda r: False),
    ('"pari*"', lambda r: found(r, TEXT, "pari", "prefix")),
    ('search(*, "pari")', lambda r: found(r, TEXT, "pari", "prefix")),  # search()'s last word is a prefix
    ('"courcuronnes evry"', lambda r: False),  # one letter off: search() finds it, a bare string not
    ('"COURCOURONNES évry"', lambda r: found(r, TEXT, "courcouronnes", "exact") and found(r, TEXT, "evry", "exact")),
    ('"straße" and not "berlin"', lambda r: False),
    ('"STRASSE" and not "paris"', lambda r: found(r, TEXT, "strasse", "exact") and not found(r, TEXT, "paris", "exact")),
    ('"saint-etien*"', lambda r: found(r, TEXT, "saint", "exact") and found(r, TEXT, "etien", "prefix")),
    ('search(name, "saint etien")', lambda r: found(r, ["name"], "saint", "fuzzy") and found(r, ["name"], "etien", "prefix")),
    ('search(name, "marseile")', lambda r: found(r, ["name"], "marseile", "prefix")),  # last word: prefix, not fuzzy
    ('search(name, "marseile x")', lambda r: False),
    ('search(name, "marseile nice")', lambda r: False),  # every word must match
    ('search(*, "marseile")', lambda r: False),
    ('search(city, "courcouronnes evry")', lambda r: found(r, ["city"], "courcouronnes", "fuzzy")
     and found(r, ["city"], "evry", "prefix")),
    ('search(city, "courcuronnes evry")', lambda r: r.id == 7),  # one letter off: fuzzy
    ('search(city, "ourcouronnes evry")', lambda r: False),  # the first letter is kept
    ('search(name, "arrond* paris")', lambda r: found(r, ["name"], "arrond", "prefix") and found(r, ["name"], "paris", "prefix")),
    ('search(name, "l\'haÿ")', lambda r: found(r, ["name"], "l", "exact") and found(r, ["name"], "hay", "prefix")),
    ('"12e paris"', lambda r: found(r, TEXT, "12e", "exact") and found(r, TEXT, "paris", "exact")),
    ('suggest(*, "sai eti")', lambda r: found(r, TEXT, "sai", "prefix") and found(r, TEXT, "eti", "prefix")),
    ('suggest(name, "ly")', lambda r: found(r, ["name"], "ly", "prefix")),
    ('"%_%"', lambda r: False),  # punctuation is no wildcard
    ('"   "', lambda r: True),
    ('not "paris"', lambda r: not found(r, TEXT, "paris", "exact")),
])
def test_search_rules(con, where, keep):
    assert ids(con, where) == expect(keep)


def test_every_case_is_not_trivial(con):
    assert ids(con, '"pari*"') and ids(con, 'search(city, "courcuronnes evry")') == [7]
    assert ids(con, '"STRASSE" and not "paris"') == [12] and ids(con, '"saint-etien*"') == [1]


def test_words_and_their_rules():
    assert search_matches("Bok of secret", "search") == [Match("bok", "fuzzy", 1), Match("of"), Match("secret", "prefix")]
    assert search_matches("Sainte-Marie* x", "search") == [Match("sainte", "fuzzy", 2), Match("marie", "prefix"),
                                                           Match("x", "prefix")]
    assert search_matches("Évry Cour", "suggest") == [Match("evry", "prefix"), Match("cour", "prefix")]
    assert search_matches("Bok of secret", "bare") == [Match("bok"), Match("of"), Match("secret")]
    assert search_matches("Sainte-Marie* Œuf x*", "bare") == [Match("sainte"), Match("marie", "prefix"), Match("oeuf"),
                                                               Match("x", "prefix")]


def test_the_scan_is_marked_for_the_index():
    plan = compile_plan(Query(where=['search(name, city, "saint etienne")']), FIELDS)
    swapped = fulltext.use_index(plan.select).sql(dialect="duckdb")
    assert "regexp_split_to_array" not in swapped.lower() and "fulltext" in swapped
    assert "field IN ('name', 'city')" in swapped
    # a non-text field is no index target: its search stays a scan
    # a bare string too, its whole words as equalities on the sorted terms
    every = fulltext.Index(posted=frozenset({*TEXT, "payload"}))  # an index that lists the json field too
    bare = fulltext.use_index(compile_plan(Query(where=['"saint etien*"']), FIELDS).select, index=every).sql(
        dialect="duckdb")
    assert "regexp_split_to_array" not in bare.lower() and "term = 'saint'" in bare and "fulltext" in bare
    numeric = compile_plan(Query(where=['search(pop, "17")']), FIELDS)
    assert "fulltext" not in fulltext.use_index(numeric.select).sql(dialect="duckdb")


def test_rows_checked_by_the_oracle_exist():
    assert any(r.city == "Évry-Courcouronnes" for r in ROWS)
