"""search()'s fuzzy words (v1 ``q``'s too) count a swap of two adjacent letters as one edit, as
Lucene's fuzzy query does by default (``transpositions``; Elasticsearch's
``fuzzy_transpositions``), under the reference's thresholds (distance 1 past 2 letters, 2 past
5): through the index and through the scan alike, and the cheap substring prefilter in front
of the distance never drops a word within it."""

from __future__ import annotations

import duckdb
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from portail.api import create_app
from portail.catalog import services
from portail.store import fulltext, postings
from portail.store.duckdb_store import index_path
from tests.api.lieux_calls import q_numbers, where_numbers  # the same "lieux" dataset's calls
from tests.conftest import Published, make_instance, published_instance
from tests.search_oracle import damerau_levenshtein

ROWS = [  # n, nom
    (1, "Saint-Denis"),
    (2, "Sainte-Marie"),
    (3, "Saint-Étienne"),
    (4, "Villefranche-sur-Saône"),
]


@pytest.fixture(scope="module", params=["indexed", "unindexed"])
def client(request, tmp_path_factory):
    """The dataset published, read through its index, or with its index files removed (a
    version built before indexes: every match is a scan)."""
    folder = tmp_path_factory.mktemp("fuzzy")
    path = folder / "lieux.csv"
    path.write_text("n;nom\n" + "".join(f"{n};{nom}\n" for n, nom in ROWS), encoding="utf-8")
    instance = published_instance(folder / "home", Published("lieux", path))
    if request.param == "unindexed":
        with instance.session() as s:
            location = services.get_dataset(s, "lieux").current.location
        instance.store.close()
        for built in (index_path(location), postings.postings_path(location)):
            built.unlink(missing_ok=True)
        instance = make_instance(folder / "home")
    yield request.param, TestClient(create_app(instance))
    instance.store.close()


@pytest.mark.parametrize("text, expected", [
    ("saitn denis", [1]),  # "saitn": one swap from "saint" (two Levenshtein edits), 5 letters: 1 allowed
    ("saint denis", [1]),
    ("eitnene saint", [3]),  # two swaps from "etienne" (three Levenshtein edits), 7 letters: 2 allowed
    ("iventu saint", []),  # three edits with swaps counted as one each: still too far from "etienne"
    ("vlilefranche sur", [4]),
])
def test_a_swap_of_two_letters_is_one_edit(client, text, expected):
    how, c = client
    assert damerau_levenshtein("saitn", "saint") == 1
    assert where_numbers(c, f"search(nom, '{text}')") == expected, how
    assert q_numbers(c, text) == expected, how


# -- the prefilter -------------------------------------------------------------------------

def _edited(word: str, edits: list[tuple[int, int, str]]) -> str:
    """``word`` with each edit applied in turn: (kind, position, letter), kind 0 substitutes,
    1 inserts, 2 deletes, 3 swaps the letter at the position with the next."""
    out = list(word)
    for kind, at, letter in edits:
        if not out and kind != 1:
            continue
        i = at % (len(out) + (1 if kind == 1 else 0))
        if kind == 0:
            out[i] = letter
        elif kind == 1:
            out.insert(i, letter)
        elif kind == 2:
            del out[i]
        elif i + 1 < len(out):
            out[i], out[i + 1] = out[i + 1], out[i]
    return "".join(out)


LETTERS = st.sampled_from("abcde")
WORDS = st.text(LETTERS, min_size=3, max_size=12)
EDITS = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 20), LETTERS), max_size=3)


@settings(max_examples=1500, deadline=None)
@given(WORDS, EDITS, st.text(LETTERS, max_size=3), st.text(LETTERS, max_size=3))
def test_the_prefilter_never_drops_a_close_word(word, edits, before, after):
    """Whatever edits (swaps included) bring a word within its distance, some piece the
    prefilter looks for is still in it (pigeonhole, swaps across a cut included)."""
    distance = 2 if len(word) > 5 else 1
    term = before + _edited(word, edits) + after
    if damerau_levenshtein(term, word) <= distance:
        assert any(p in term for p in fulltext.pieces(word, distance)), (word, term)


#: One engine for every example: a connection each cost more than the query.
_ENGINE = duckdb.connect()


@settings(max_examples=300, deadline=None)
@given(WORDS, st.lists(st.tuples(EDITS, st.text(LETTERS, max_size=2)), min_size=1, max_size=30))
def test_the_engine_matches_the_oracle(word, variants):
    """The fuzzy test the index and the scan both run (``Match.test``), in DuckDB, keeps
    exactly the terms within the distance, a swap one edit (the oracle: plain Python)."""
    distance = 2 if len(word) > 5 else 1
    terms = sorted({_edited(word, edits) + tail for edits, tail in variants} - {""})
    test = fulltext.Match(word, "fuzzy", distance).test(exp.column("term")).sql(dialect="duckdb")
    got = {t for (t,) in _ENGINE.execute(f"SELECT term FROM (SELECT unnest(?) AS term) WHERE {test}", [terms]).fetchall()}
    assert got == {t for t in terms if _oracle(t, word, distance)}


def _oracle(term: str, word: str, distance: int) -> bool:
    return damerau_levenshtein(term, word) <= distance and term[:1] == word[:1]  # the first letter kept
