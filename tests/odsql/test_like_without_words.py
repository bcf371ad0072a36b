"""A ``like`` pattern without a word (``"%_%"``, ``"-"``, ``""``: ``%`` is punctuation in ODSQL, and
``_``, a word character, makes no word without a letter or a digit) matches nothing, as a bare ``"%_%"`` and ``search(f, "%_%")`` already did: Opendatasoft
answers full text with Elasticsearch, whose match query finds no document when its text gives no
token (``zero_terms_query`` defaults to ``none``), an empty text included. Its negation is then a
``must_not`` of nothing and keeps every record, a null too, as ``not f like "word"`` keeps a null.
The scan and the full-text index answer alike."""

from __future__ import annotations

import duckdb
import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.odsql import Query, compile_plan, to_sql
from tests.conftest import Published, current_version, published_instance, semicolon_csv
from tests.odsql.conftest import ROWS, ids

ALL = sorted(r.id for r in ROWS)
WORDLESS = ["%_%", "%", "_", "-", "%_%_%", ". ; , \"", "", "   "]


@pytest.mark.parametrize("pattern", WORDLESS)
def test_a_like_pattern_without_a_word_matches_nothing_and_its_negation_everything(con, pattern):
    quoted = f"'{pattern}'"
    assert ids(con, f"name like {quoted}") == []
    assert ids(con, f"tags like {quoted}") == []  # a multivalued field alike
    assert ids(con, f"lower(name) like {quoted}") == []  # an expression, never indexed, alike
    assert ids(con, f"not name like {quoted}") == ALL  # row 3's null name too
    assert ids(con, f"not name like {quoted} and id <= 3") == [1, 2, 3]


def test_like_without_a_word_answers_as_the_other_full_text_forms(con):
    """One rule for a text without a word, whichever full-text form carries it."""
    assert ids(con, '"%_%"') == ids(con, 'search(name, "%_%")') == ids(con, 'name like "%_%"') == []
    assert ids(con, 'not "%_%"') == ids(con, 'not search(name, "%_%")') == ids(con, 'not name like "%_%"') == ALL


def test_a_null_is_kept_by_the_negation_of_any_like(con):
    """A null holds no word: ``not like`` keeps it, whether the pattern has words or none."""
    nameless = [r.id for r in ROWS if r.name is None]
    assert nameless and set(nameless) <= set(ids(con, 'not name like "paris"'))
    assert set(nameless) <= set(ids(con, 'not name like "%"'))


def test_a_word_beside_punctuation_still_asks_for_the_word(con):
    assert ids(con, 'name like "%paris%"') == [2, 11]
    assert ids(con, 'name like "% lyon %"') == [4]
    # "_" joins what it touches, as Elasticsearch's standard tokenizer's: the word "_paris_"
    assert ids(con, 'name like "%_paris_%"') == []


URL = "/api/explore/v2.1/catalog/datasets/wordless/records"
TEXTS = ["Saint-Étienne", "x_y", "%", "_", "", "50% off", "-"]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wordless")
    rows = [{"i": str(i), "t": t} for i, t in enumerate(TEXTS)]
    instance = published_instance(folder / "home", Published("wordless", semicolon_csv(folder / "wordless.csv", rows)))
    location, fields = current_version(instance, "wordless")
    yield instance, location, fields, TestClient(create_app(instance))
    instance.store.close()


@pytest.mark.parametrize("pattern", ["%_%", "%", "-", ""])
def test_the_index_and_the_scan_find_nothing_for_a_pattern_without_a_word(indexed, pattern):
    instance, location, fields, client = indexed
    assert instance.store.has_index(location)

    def found(where: str) -> list[int]:
        answer = client.get(URL, params={"where": where, "select": "i", "order_by": "i", "limit": 100})
        assert answer.status_code == 200, answer.text
        return [r["i"] for r in answer.json()["results"]]

    everything = list(range(len(TEXTS)))  # the empty cell (a null) included
    assert found(f"t like '{pattern}'") == []
    assert found(f"not t like '{pattern}'") == everything
    assert found(f"not t like '{pattern}'") == found("not t like 'absent'")  # one rule for a null
    for where, expected in ((f"t like '{pattern}'", []), (f"not t like '{pattern}'", everything)):
        plan = compile_plan(Query(select="i", where=[where], order_by="i", limit=100), fields)
        with duckdb.connect(location, read_only=True) as con:  # as a version without its index runs it
            assert [r[0] for r in con.execute(to_sql(plan.select)).fetchall()] == expected, where
