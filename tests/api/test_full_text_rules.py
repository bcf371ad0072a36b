"""Which full-text rule each entry point follows, on a small real file, each expected set
written out by hand from the rows below:

* an Explore v2.1 bare string (reference §5.4 item 1): every word whole, ``word*`` a prefix,
  no fuzziness; accents, case and ligatures ignored;
* ``search()``: earlier words fuzzy, the last a prefix (reference §5.4 item 7);
* v1's ``q`` (reference §11 says only "full text"): left with ``search()``'s rule, whether it is
  plain words or words among field queries and operators.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.api.lieux_calls import RECORDS, q_numbers, where_numbers
from tests.conftest import Published, published_instance

ROWS = [  # n, nom, type
    (1, "Saint-Denis", "commune"),
    (2, "Sainte-Marie", "commune"),
    (3, "Saintes", "commune"),
    (4, "Saint-Étienne", "commune"),
    (5, "Cœur de Causse", "commune nouvelle"),
    (6, "Villefranche-sur-Saône", "sous-préfecture"),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rules")
    path = folder / "lieux.csv"
    path.write_text("n;nom;type\n" + "".join(f"{n};{nom};{kind}\n" for n, nom, kind in ROWS), encoding="utf-8")
    instance = published_instance(folder / "home", Published("lieux", path))
    yield TestClient(create_app(instance))
    instance.store.close()


@pytest.mark.parametrize("where, expected", [
    ('"saint"', [1, 4]),  # not Sainte-Marie nor Saintes: "saint" is only a prefix of their words
    ('"saint*"', [1, 2, 3, 4]),
    ('search(*, "saint")', [1, 2, 3, 4]),
    ('"SAINT etienne"', [4]),  # every word, case and accents aside
    ('"saint" AND NOT "denis"', [4]),
    ('"villefrance"', []),  # one letter off
    ('search(*, "villefrance sur")', [6]),  # search()'s earlier word is fuzzy
    ('"COEUR"', [5]),  # œ spelled out
    ('"commune"', [1, 2, 3, 4, 5]),
    ('"sous-prefecture"', [6]),
])
def test_bare_strings_and_search(client, where, expected):
    assert where_numbers(client, where) == expected


@pytest.mark.parametrize("q, expected", [
    ("saint", [1, 2, 3, 4]),  # plain words: the last a prefix
    ("saint AND NOT denis", [2, 3, 4]),  # among operators, the same rule
    ("saint AND n>=3", [3, 4]),  # among field queries too
    ("villefrance sur", [6]),
])
def test_v1_q_keeps_search_rules(client, q, expected):
    assert q_numbers(client, q) == expected


@pytest.mark.parametrize("q", ["*", " * "])
def test_a_star_alone_in_q_is_every_record_on_every_entry_point(client, q):
    """``q=*`` found nothing (a search for a word no text holds), where Opendatasoft's search
    boxes read it as everything; a bare ``"*"`` in where stays what the reference says."""
    every = [n for n, _, _ in ROWS]
    assert q_numbers(client, q) == every
    qv1 = client.get(RECORDS, params={"qv1": q, "select": "n", "order_by": "n"}).json()["results"]
    assert [r["n"] for r in qv1] == every
    catalogue = client.get("/api/datasets/1.0/search/", params={"q": q}).json()
    assert [d["datasetid"] for d in catalogue["datasets"]] == ["lieux"]
    page = client.get("/explore/dataset/lieux/table/", params={"q": q}).text
    assert '"records-count" role="status">6 enregistrements sur 6</p>' in page
    assert "1 jeu de données" in client.get("/explore/", params={"q": q}).text
