"""``text_match``'s needle: a plain ASCII term is folded in Python into one literal (a dataset
with 70 text fields built the engine's folding of the same literal 70 times per term, most of a
new phrase search's compile time), so Python's folding must be the engine's, to the byte."""

from __future__ import annotations

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from portail.odsql.functions import _needle, _words, text_match
from portail.store.fulltext import split as fold_words

#: ASCII terms as text_match receives them (no whitespace: ``_terms`` splits on it), with the
#: punctuation that the engine's folding turns into spaces, digits, case and underscores.
TERMS = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20)


def test_an_ascii_needle_is_the_engines_folding():
    """Terms in batches: the engine's folding of a batch is one query (its regular expression,
    compiled once per statement, cost ~25 ms a term when each term was its own query)."""
    engine_words = exp.func("concat", exp.Literal.string(" "), _words(exp.column("term")), exp.column("edge"))
    batch = f"SELECT {engine_words.sql(dialect='duckdb')} FROM (SELECT unnest($1) AS term, unnest($2) AS edge)"
    with duckdb.connect() as con:  # one engine for every example (a connection each cost 6 s)

        @settings(max_examples=60, deadline=None)  # 400-600 terms, in lists of up to 30
        @given(cases=st.lists(st.tuples(TERMS, st.booleans()), min_size=1, max_size=30))
        def same(cases):
            terms = [term for term, _ in cases]
            edges = [" " if whole else "" for _, whole in cases]
            engine = [folded for (folded,) in con.execute(batch, [terms, edges]).fetchall()]
            needles = con.execute("SELECT " + ", ".join(_needle(term, whole).sql(dialect="duckdb")
                                                        for term, whole in cases)).fetchone()
            assert list(zip(terms, needles)) == list(zip(terms, engine))

        same()


def test_a_phrase_is_found_whole_and_in_a_row_whatever_its_case_and_punctuation():
    column = exp.column("nom", quoted=True)
    with duckdb.connect() as con:
        con.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('Carrefour MARKET, Grenoble'), ('Market de Carrefour'), "
                    "('Œuvre carrefour-market')) v(nom)")

        def found(term: str, mode: str = "word") -> list[str]:
            sql = text_match([column], term, mode).sql(dialect="duckdb")
            return sorted(r[0] for r in con.execute(f"SELECT nom FROM t WHERE {sql}").fetchall())

        assert found("carrefour-market") == ["Carrefour MARKET, Grenoble", "Œuvre carrefour-market"]
        assert found("CARREFOUR.Market") == ["Carrefour MARKET, Grenoble", "Œuvre carrefour-market"]
        assert found("CARREFOUR_Market") == []  # one word: "_" joins (fulltext.WORD_SPLIT)
        assert found("market-carrefour") == []
        assert found("carrefour-mark*") == ["Carrefour MARKET, Grenoble", "Œuvre carrefour-market"]
        assert found("carrefour-mark") == []
        assert found("oeuvre") == ["Œuvre carrefour-market"]


#: Texts of words, runs of ``_`` alone, punctuation, accents and ligatures.
PHRASED = st.text(alphabet=st.sampled_from(list("ab1_ -'.Éœ")), max_size=16)


def test_a_text_holds_the_phrase_of_its_own_words_whatever_stands_between_them():
    """The words of a phrase and of the text it is looked for in are cut as every full-text form
    cuts them (``fulltext.split``): a run of ``_`` alone is no word, so "x _ y" holds the phrase
    "x y" (as ``search()`` finds both words in it) and the phrase "x _ y" is the words x and y. It
    was a word of the phrase's scan: "x y" held no "x _ y", and "x _ y" no "x y"."""
    column = exp.column("nom", quoted=True)
    with duckdb.connect() as con:

        @settings(max_examples=300, deadline=None)
        @given(text=PHRASED)
        def holds(text):
            words = fold_words(text)
            if not words:
                return
            sql = text_match([column], "-".join(words), "word").sql(dialect="duckdb")
            assert con.execute(f"SELECT {sql} FROM (SELECT ? AS nom)", [text]).fetchone()[0], (text, words)

        holds()
        for phrase, text in [("x y", "x _ y"), ("x y", "_ x __ y _"), ("x _ y", "x y"), ("x-_-y", "X, Y")]:
            sql = text_match([column], "-".join(phrase.split()), "word").sql(dialect="duckdb")
            assert con.execute(f"SELECT {sql} FROM (SELECT ? AS nom)", [text]).fetchone()[0], (phrase, text)
