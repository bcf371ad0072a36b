"""``text_match``'s needle: a plain ASCII term is folded in Python into one literal (a dataset
with 70 text fields built the engine's folding of the same literal 70 times per term, most of a
new phrase search's compile time), so Python's folding must be the engine's, to the byte."""

from __future__ import annotations

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from portail.odsql.functions import _needle, _words, string, text_match

#: ASCII terms as text_match receives them (no whitespace: ``_terms`` splits on it), with the
#: punctuation that the engine's folding turns into spaces, digits, case and underscores.
TERMS = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20)


def test_an_ascii_needle_is_the_engines_folding():
    with duckdb.connect() as con:  # one engine for every example (a connection each cost 6 s)

        @settings(max_examples=300, deadline=None)
        @given(term=TERMS, whole=st.booleans())
        def same(term, whole):
            edge = " " if whole else ""
            engine = exp.func("concat", exp.Literal.string(" "), _words(string(term)), exp.Literal.string(edge))
            assert con.execute(f"SELECT {engine.sql(dialect='duckdb')}").fetchone()[0] == \
                con.execute(f"SELECT {_needle(term, whole).sql(dialect='duckdb')}").fetchone()[0]

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
