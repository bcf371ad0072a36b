"""``_`` is a word character of full text, as in Elasticsearch's standard tokenizer (Unicode's word
breaks: ``_`` joins what it stands between), in the index's words, the scan's and the query's
alike: ``x_y`` is one word, which "x y" does not hold, and ``x`` is no word of "x_y". An index
file written when ``_`` still cut words (folding 2) would answer otherwise than the scan, so it is
not read, and the version answers by its scans until a reindex writes it again."""

from __future__ import annotations

import re

import duckdb
import pytest
from sqlglot import exp

from portail.catalog import services
from portail.odsql import Query, compile_plan
from portail.operations import reindex
from portail.schema import fields_from_json
from portail.store import fulltext
from tests.conftest import Published, published_instance, semicolon_csv

#: Distinct values (``t``, indexed by row postings) and a repeating one (``g``, indexed by value).
TEXTS = ["x_y", "x y", "xay", "x-y", "x_y_z", "snake_case", "__init__", "Plain"]
GROUPS = ["code_insee", "code insee", "codexinsee"]

#: (condition, the rows' ``i`` it finds)
CASES = [
    ("t like 'x_y'", {0}),
    ("t like 'x'", {1, 3}),
    ("t like 'x_*'", {0, 4}),  # never xay: the prefix's "_" is no LIKE wildcard
    ("t like 'init'", set()),
    ("t like '__init__'", {6}),
    ('search(t, "x_y")', {0, 4}),
    ('"x_y"', {0}),
    ('search(t, "snake_cas")', {5}),
    ("g like 'code_insee'", {i for i in range(24) if i % 3 == 0}),
    ("g like 'insee'", {i for i in range(24) if i % 3 == 1}),
    ("g like 'code_*'", {i for i in range(24) if i % 3 == 0}),
]


@pytest.fixture()
def instance(tmp_path):
    rows = [{"i": str(i), "t": TEXTS[i] if i < len(TEXTS) else f"autre {i}", "g": GROUPS[i % 3]} for i in range(24)]
    found = published_instance(tmp_path / "home", Published("words", semicolon_csv(tmp_path / "words.csv", rows)))
    yield found
    found.store.close()


def _version(instance):
    with instance.session() as s:
        version = services.get_dataset(s, "words").current
        return version.location, fields_from_json(version.fields)


def _found(store, location, fields, where: str) -> set[int]:
    plan = compile_plan(Query(select="i", where=[where], limit=100), fields).select
    return {int(i) for i in store.query(location, plan).column("i").to_pylist()}


def test_the_split_keeps_underscores_inside_words_and_drops_words_of_underscores_alone():
    assert fulltext.split("x_y X-Y __init__ _ ___ %_% Snake_Case") == ["x_y", "x", "y", "__init__", "snake_case"]


def test_a_prefix_or_a_first_letter_holding_an_underscore_is_no_like_wildcard():
    """The index's dictionary of terms is read through the engine with each match's test (a
    prefix, a fuzzy word's kept first letter): ``_`` is a word character there, never LIKE's
    "any one character" (``x_`` finding "xay", ``_abc`` within one edit of "xabc")."""
    term = exp.column("term")
    with duckdb.connect() as con:
        con.execute("CREATE TABLE terms AS SELECT * FROM (VALUES ('x_y'), ('xay'), ('_abd'), ('xabc')) v(term)")

        def matching(match: fulltext.Match) -> list[str]:
            test = match.test(term.copy()).sql(dialect="duckdb")
            return sorted(t for (t,) in con.execute(f"SELECT term FROM terms WHERE {test}").fetchall())

        assert matching(fulltext.Match("x_", "prefix")) == ["x_y"]
        assert matching(fulltext.Match("_abc", "fuzzy", 1)) == ["_abd"]
        assert matching(fulltext.Match("xa", "prefix")) == ["xabc", "xay"]


def test_an_index_written_when_underscores_cut_words_is_not_read_until_reindexed(instance, monkeypatch):
    """The index of the older build holds ``x`` and ``y`` for "x_y" (it would find "x_y" for
    ``like 'x'``, and nothing for ``like 'x_y'``): the version answers as its scan does, then from
    its index once ``reindex`` rewrote it, in the same process."""
    location, fields = _version(instance)
    store = instance.store
    assert store.has_index(location)
    for where, expected in CASES:
        assert _found(store, location, fields, where) == expected, where
    with monkeypatch.context() as patched:  # write the index as the build before "_" joined words
        patched.setattr(fulltext, "WORD_SPLIT", r"[^\pL\pN]+")
        patched.setattr(fulltext, "FOLDED_WITH", 2)
        reindex(instance, "words")
    store.close()
    assert not store.has_index(location)
    for where, expected in CASES:
        assert _found(store, location, fields, where) == expected, where
    reindex(instance, "words")
    assert store.has_index(location)
    plan = compile_plan(Query(select="i", where=["t like 'x_y'"]), fields).select
    assert not re.search("regexp_split_to_array", store.prepare(location, plan).sql, re.IGNORECASE)  # the index answers
    for where, expected in CASES:
        assert _found(store, location, fields, where) == expected, where
