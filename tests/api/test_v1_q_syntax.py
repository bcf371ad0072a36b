"""v1's ``q``, read against the social housing file as the csv module reads it (a differential
check): numbers written as v1's query language reads them (``1e2``, ``.5``, ``5.``:
the text went to the compiler as it was, which read ``1e2`` as a field name; ``1e20`` past an
integer's range, written as a 21-digit integer, was refused), and a field's
value whose opening quote is never closed (a search box sending what the reader is still
typing: ``bs:"RIVP`` lost its last letter, ``ville:"P`` was a phrase of no word, which every
record matched); and the ``parameters`` echo of ``refine.``/``exclude.``, as sent."""

from __future__ import annotations

import re
import unicodedata

import pytest

from tests.conftest import Published, logements_client, operator_client, published_instance, semicolon_csv

SEARCH = "/api/records/1.0/search/"


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    with logements_client(tmp_path_factory, refdata, "v1_q_syntax") as client:
        yield client


def nhits(client, q: str) -> int:
    response = client.get(SEARCH, params={"dataset": "logements", "rows": 0, "q": q})
    assert response.status_code == 200, response.text
    return response.json()["nhits"]


@pytest.mark.parametrize(("q", "low", "high"), [
    ("nb_logmt_total>=1e2", 100, None),
    ("nb_logmt_total>=1E2", 100, None),
    ("nb_logmt_total:[1e1 TO 2e1]", 10, 20),
    ("nb_logmt_total>.5", 1, None),
    ("nb_logmt_total<=5.", None, 5),
])
def test_numbers_with_an_exponent_or_a_bare_point(client, logements_rows, q, low, high):
    expected = sum(1 for r in logements_rows
                   if (low is None or int(r["nb_logmt_total"]) >= low) and (high is None or int(r["nb_logmt_total"]) <= high))
    assert nhits(client, q) == expected


def test_a_decimal_with_an_exponent_on_a_double_field(client, logements_rows):
    expected = sum(1 for r in logements_rows if r["coord_x_l93"] and float(r["coord_x_l93"]) > 655823.1529)
    assert nhits(client, "coord_x_l93>6.558231529e5") == expected


def test_v1_numbers_with_an_exponent_past_an_integers_range_read_as_floats(tmp_path):
    """``q=x>1e20`` on a double field: the exponent form was written as a 21-digit integer,
    which ODSQL refused ("integer out of range", a 400) though the value is a plain double;
    an integer field compared with it matches nothing, as a float bound does."""
    rows = [{"id": "1", "x": "1.5e20"}, {"id": "2", "x": "2"}, {"id": "3", "x": "1e300"}]
    instance = published_instance(tmp_path / "home", Published("t", semicolon_csv(tmp_path / "t.csv", rows)))
    client = operator_client(instance)

    def hits(q: str) -> int:
        answer = client.get("/api/records/1.0/search/", params={"dataset": "t", "q": q})
        assert answer.status_code == 200, answer.text
        return answer.json()["nhits"]

    assert [hits(q) for q in ("x>1e20", "x:1.5e20", "x>=1e300", "x:[1e19 TO 1e21]", "id>1e20", "x<2e0")] == [2, 1, 1, 1, 0, 0]
    instance.store.close()


def test_a_number_past_a_float_is_a_400_naming_q(client):
    response = client.get(SEARCH, params={"dataset": "logements", "q": "nb_logmt_total>1e400"})
    assert response.status_code == 400
    assert "q API parameter" in response.json()["message"]


def _words(text: str) -> list[str]:
    plain = "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")
    return re.findall(r"\w+", plain)


@pytest.mark.parametrize(("field", "column", "value"), [("bs", "bs", "RIVP"), ("ville", "ville", "P")])
def test_a_quote_left_open_reads_as_the_value_typed(client, logements_rows, field, column, value):
    """``field:"value`` counts the records whose field holds the words of ``value``, as
    ``field:value`` and the closed phrase do."""
    expected = sum(1 for r in logements_rows if _words(value)[0] in _words(r[column]))
    assert nhits(client, f'{field}:"{value}') == expected
    assert nhits(client, f'{field}:"{value}"') == expected == nhits(client, f"{field}:{value}")


def test_the_parameters_echo_refinements_as_sent(client):
    """Opendatasoft echoes ``refine.<field>``/``exclude.<field>`` as sent (``{"country": "gb"}``);
    the echo wrote the quoted text they are read as (``"RIVP "``, ``"\\"x\\""``)."""
    params = [("dataset", "logements"), ("rows", "0"), ("refine.bs", "RIVP "), ("refine.annee", "2010"),
              ("refine.annee", "2011"), ("exclude.mode_real", '"x"')]
    body = client.get(SEARCH, params=params).json()
    assert body["parameters"]["refine"] == {"bs": "RIVP ", "annee": ["2010", "2011"]}
    assert body["parameters"]["exclude"] == {"mode_real": '"x"'}


@pytest.mark.parametrize("q", ['""', '" "', '"" ""'])
def test_an_empty_phrase_restricts_nothing(client, logements_rows, q):
    """``q=""`` (a search box's quotes before the words) was a word of two quotes, which no
    record holds: 0 records, where ``q="  "`` gave them all."""
    assert nhits(client, q) == len(logements_rows)
    assert nhits(client, f'{q} RIVP') == nhits(client, "RIVP") > 0


def test_a_facet_asked_twice_is_one_group(client):
    response = client.get(SEARCH, params=[("dataset", "logements"), ("rows", 0), ("facet", "bs"), ("facet", "arrdt"),
                                          ("facet", "bs")])
    assert response.status_code == 200, response.text
    assert [g["name"] for g in response.json()["facet_groups"]] == ["bs", "arrdt"]
