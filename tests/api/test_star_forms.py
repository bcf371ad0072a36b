"""Stars alike in every full-text form, through the APIs, on a published version whose full-text
index answers them (tests/odsql/test_star_forms.py has the rules): a ``*`` ending a word a prefix,
``\\*`` a star itself (punctuation between words, as the value "x*y" holds them), a star before a
word's end a 400 naming what the caller wrote: the bare string, ``search()``, ``suggest()``, and
v1's ``q`` (``q=t:pa*s`` became ``t like "pa*s"``, whose refusal named a ``like`` no v1 caller
wrote; ``q=pa*s`` searched the words pa and s). The index finds what a scan of the same SQL finds."""

from __future__ import annotations

import duckdb
import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.odsql import Query, compile_plan, to_sql
from tests.conftest import Published, current_version, published_instance, semicolon_csv

RECORDS = "/api/explore/v2.1/catalog/datasets/stars/records"
CATALOG = "/api/explore/v2.1/catalog/datasets"
V1_RECORDS = "/api/records/1.0/search/"
V1_CATALOG = "/api/datasets/1.0/search/"
TEXTS = ["Paris", "pa*s", "pa s", "x*y", "x y", "y x", "PARIS 12e", "pa", "parisien", "ris", "film", "films",
         "filmographie", "x*y*z", "spa", "pa 12", "s pa"]
PA_WORD = ["pa*s", "pa s", "pa", "pa 12", "s pa"]
PA_PREFIX = ["Paris", "pa*s", "pa s", "PARIS 12e", "pa", "parisien", "pa 12", "s pa"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stars")
    rows = [{"i": str(i), "t": t} for i, t in enumerate(TEXTS)]
    instance = published_instance(folder / "home", Published("stars", semicolon_csv(folder / "stars.csv", rows),
                                                             "Stars x*y"))
    location, fields = current_version(instance, "stars")
    assert instance.store.has_index(location)
    yield location, fields, TestClient(create_app(instance))
    instance.store.close()


@pytest.mark.parametrize("where, expected", [
    ('"pa*"', PA_PREFIX),
    ('"pa\\\\*"', PA_WORD),  # the ODSQL literal holds pa\*: a star itself, no prefix
    ('t like "pa\\\\*"', PA_WORD),
    ('suggest(t, "pa\\\\*")', PA_PREFIX),  # suggest()'s every word is a prefix, star or not
    ('search(t, "pa\\\\* 12")', ["pa 12"]),  # pa whole (too short to be fuzzy), not a prefix of PARIS
    ('search(t, "pa* 12")', ["PARIS 12e", "pa 12"]),
    ('"x\\\\*y"', ["x*y", "x y", "y x", "x*y*z"]),  # the words x and y, as x*y holds them
    ('phrase(t, "x\\\\*y")', ["x*y", "x y", "x*y*z"]),  # in a row
    ('phrase(t, "pa\\\\*")', PA_WORD),  # its last word whole: the star is no prefix's
    ('search(t, "fil*")', ["film", "films", "filmographie"]),
])
def test_the_index_and_the_scan_read_stars_alike(setup, where, expected):
    location, fields, client = setup
    answer = client.get(RECORDS, params={"where": where, "select": "i", "order_by": "i", "limit": 100})
    assert answer.status_code == 200, answer.text
    assert [TEXTS[r["i"]] for r in answer.json()["results"]] == expected
    plan = compile_plan(Query(select="i", where=[where], order_by="i", limit=100), fields)
    with duckdb.connect(location, read_only=True) as con:  # the scan, as a version without its index runs it
        assert [TEXTS[r[0]] for r in con.execute(to_sql(plan.select)).fetchall()] == expected


def _refused(answer, code: str) -> str:
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["error_code"] == code, body
    return body["message"]


@pytest.mark.parametrize("url", [RECORDS, CATALOG])
@pytest.mark.parametrize("where, named, term", [
    ('"pa*s"', "A bare string in where", "pa*s"),
    ('search(*, "*ris")', "search()", "*ris"),
    ('suggest(*, "x pa*s")', "suggest()", "pa*s"),
])
def test_a_star_before_a_words_end_is_a_400_naming_the_form_written(setup, url, where, named, term):
    message = _refused(setup[2].get(url, params={"where": where}), "ODSQLError")
    assert f"{named} takes * only at the end of a word ('{term}')" in message
    assert "like" not in message


@pytest.mark.parametrize("q", ["pa*s", "t:pa*s", 't:"pa*s"', '"pa*s"', "*ris AND t:pa*"])
def test_v1s_q_refuses_a_misplaced_star_naming_q(setup, q):
    client = setup[2]
    for answer in (client.get(V1_RECORDS, params={"dataset": "stars", "q": q}),
                   client.get(RECORDS, params={"qv1": q}),
                   client.get(V1_CATALOG, params={"q": q})):
        message = _refused(answer, "InvalidRESTParameterError")
        assert "Invalid value for q API parameter: q takes * only at the end of a word" in message
        assert "like" not in message and "search()" not in message


@pytest.mark.parametrize("q, expected", [
    ("t:pa*", PA_PREFIX),
    ("fil*", ["film", "films", "filmographie"]),
    ('"x\\\\*y"', ["x*y", "x y", "x*y*z"]),  # the phrase's escapes read first: x\*y, in a row
])
def test_v1s_q_reads_stars_as_every_form_does(setup, q, expected):
    answer = setup[2].get(V1_RECORDS, params={"dataset": "stars", "q": q, "rows": 100, "sort": "-i"})
    assert answer.status_code == 200, answer.text
    assert [TEXTS[int(r["fields"]["i"])] for r in answer.json()["records"]] == expected


def test_the_catalogue_reads_stars_as_the_records_do(setup):
    client = setup[2]
    for where in ('"sta*"', '"x\\\\*y"', 'search(*, "stars x\\\\*y")'):
        answer = client.get(CATALOG, params={"where": where})
        assert answer.status_code == 200, answer.text
        assert [d["dataset_id"] for d in answer.json()["results"]] == ["stars"], where
    answer = client.get(CATALOG, params={"where": '"sta\\\\*"'})  # a star itself: sta is no word of it
    assert answer.status_code == 200, answer.text
    assert answer.json()["total_count"] == 0


V20_RECORDS = "/api/explore/v2.0/catalog/datasets/stars/records"


@pytest.mark.parametrize("url", [V20_RECORDS, "/api/explore/v2.0/catalog/datasets",
                                 "/api/explore/v2.0/catalog/datasets/stars/facets",
                                 "/api/explore/v2.0/catalog/datasets/stars/exports/json"])
def test_v20s_search_refuses_a_misplaced_star_naming_search(setup, url):
    """The 2019 beta's ``search=`` becomes ``suggest(*, …)``: its refusal named a ``suggest()``
    in a ``where`` the caller never wrote."""
    message = _refused(setup[2].get(url, params={"search": "x pa*s"}), "InvalidRESTParameterError")
    assert message.startswith("Invalid value for search API parameter: search takes * only at the end of a word "
                              "('pa*s')"), message
    assert "suggest()" not in message and "where" not in message


def test_v20s_search_still_reads_a_trailing_star_as_a_prefix(setup):
    answer = setup[2].get(V20_RECORDS, params={"search": "pa*", "select": "i", "order_by": "i", "limit": 100})
    assert answer.status_code == 200, answer.text
    assert [TEXTS[r["record"]["fields"]["i"]] for r in answer.json()["records"]] == PA_PREFIX


@pytest.mark.parametrize("url, params", [(V1_RECORDS, {"dataset": "stars", "q": '#search(t, "pa*s")'}),
                                         (RECORDS, {"qv1": '#search(t, "pa*s")'}),
                                         (V1_CATALOG, {"q": '#search(title, "pa*s")'})])
def test_v1s_search_function_refuses_a_misplaced_star_naming_q(setup, url, params):
    """``#search(f, "pa*s")`` is v1's: refused as every other star of ``q`` is, not as an ODSQL
    ``search()`` of a ``where`` (v2.1's ``qv1``, v1's catalogue) no v1 caller wrote."""
    message = _refused(setup[2].get(url, params=params), "InvalidRESTParameterError")
    assert "Invalid value for q API parameter: q takes * only at the end of a word ('pa*s')" in message
    assert "search()" not in message and "where" not in message


@pytest.mark.parametrize("q", ['"pa\\*"', '"pa\\*" OR "pa\\*"', '"pa\\*" AND i>=0'])
def test_a_v1_phrase_reads_its_escapes_alike_alone_and_beside_syntax(setup, q):
    """``"pa\\*"``: the phrase's escapes read first, as v1 reads every ``"…"`` (``pa*``, a prefix).
    Plain full text (a ``q`` of words and phrases only) read the phrase raw (``pa\\*``, the whole
    word pa), while the same phrase beside an operator or a field query read it as a prefix."""
    answer = setup[2].get(V1_RECORDS, params={"dataset": "stars", "q": q, "rows": 100, "sort": "-i"})
    assert answer.status_code == 200, answer.text
    assert [TEXTS[int(r["fields"]["i"])] for r in answer.json()["records"]] == PA_PREFIX
