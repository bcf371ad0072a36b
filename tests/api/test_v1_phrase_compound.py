"""A ``"quoted phrase"`` of v1's ``q`` means its words whole and in a row within one value of
one field wherever it stands: alone (plain full text), beside a field query, under ``NOT``, in
parentheses with ``OR``, or as a field's value (``ville:"…"``, Lucene's field phrase). Among
other syntax it was ``search(*, …)``, its words anywhere, so ``"carrefour market"
ville:grenoble`` found "Market de Carrefour"; and a multivalued field's values ``logement`` and
``social`` held the phrase ``"logement social"``. ODSQL's ``phrase()`` (Portail's) carries it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.odsql.functions import MAX_SEARCH_WORDS
from tests.conftest import Published, published_instance, semicolon_csv

ROWS = [  # n, nom, ville, tags (multivalued, "|")
    ("1", "Carrefour Market", "Grenoble", "alimentation|supermarche"),
    ("2", "Market de Carrefour", "Grenoble", "marche|primeur"),
    ("3", "Carrefour Market", "Lyon", "alimentation"),
    ("4", "Boulangerie", "Saint Martin", "logement|social"),
    ("5", "Logement social", "Grenoble", "habitat"),
    ("6", "Epicerie", "Grenoble", "logement social|aide"),
]
RECORDS = "/api/explore/v2.1/catalog/datasets/magasins/records"
V1 = "/api/records/1.0/search/"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("phrase_compound")
    path = semicolon_csv(folder / "magasins.csv", [dict(zip(("n", "nom", "ville", "tags"), r)) for r in ROWS])
    instance = published_instance(folder / "home", Published("magasins", path,
                                                             annotations={"tags": {"multivalued": ["|"]}}))
    yield TestClient(create_app(instance))
    instance.store.close()


def v1(client: TestClient, q: str) -> list[int]:
    answer = client.get(V1, params={"dataset": "magasins", "q": q, "rows": 100, "fields": "n"})
    assert answer.status_code == 200, answer.text
    return sorted(r["fields"]["n"] for r in answer.json()["records"])


def qv1(client: TestClient, q: str) -> list[int]:
    answer = client.get(RECORDS, params={"qv1": q, "select": "n", "order_by": "n", "limit": 100})
    assert answer.status_code == 200, answer.text
    return [r["n"] for r in answer.json()["results"]]


def download(client: TestClient, q: str) -> list[int]:
    answer = client.get("/api/records/1.0/download/", params={"dataset": "magasins", "q": q, "format": "csv",
                                                              "fields": "n"})
    assert answer.status_code == 200, answer.text
    return sorted(int(line) for line in answer.text.lstrip("\ufeff").splitlines()[1:])


@pytest.mark.parametrize("q, expected", [
    ('"carrefour market" ville:grenoble', [1]),  # not "Market de Carrefour"
    ('"carrefour market" AND n>=1', [1, 3]),
    ('NOT "carrefour market"', [2, 4, 5, 6]),  # only the records holding the phrase are left out
    ('("carrefour market" OR "logement social") AND ville:grenoble', [1, 5, 6]),
    ('nom:"market carrefour"', []),  # a field's phrase keeps its order too
])
def test_a_phrase_among_other_syntax_is_a_phrase(client, q, expected):
    assert v1(client, q) == qv1(client, q) == download(client, q) == expected


def test_a_field_phrase_is_the_field_words_in_a_row(client):
    assert [v1(client, 'ville:"saint martin"'), v1(client, 'ville:"martin saint"')] == [[4], []]


def test_a_phrase_means_the_same_alone_and_beside_a_field_query(client):
    for phrase in ('"carrefour market"', '"de carrefour"', '"logement social"', '"market carrefour"'):
        assert v1(client, phrase) == v1(client, f"{phrase} AND n>=1"), phrase


@pytest.mark.parametrize("q", ['"logement social"', '"logement social" AND n>=1'])
def test_a_phrase_lies_within_one_value_of_a_multivalued_field(client, q):
    """Row 4's tags are "logement" and "social", two values: no phrase of the two; row 6's
    value "logement social" holds it."""
    assert v1(client, q) == qv1(client, q) == [5, 6]


def test_odsql_phrase(client):
    where = lambda w: [r["n"] for r in client.get(RECORDS, params={"where": w, "select": "n", "order_by": "n"}).json()["results"]]
    assert where('phrase(nom, "carrefour market")') == [1, 3]
    assert where('phrase(*, "carrefour mark*")') == [1, 3]  # the last word a prefix
    assert where('phrase(nom, ville, "logement social")') == [5]
    assert where('phrase(tags, "logement social")') == [6]
    assert where('not phrase(*, "carrefour market")') == [2, 4, 5, 6]


@pytest.mark.parametrize("where, message", [
    ('phrase(*, "' + " ".join(["mot"] * (MAX_SEARCH_WORDS + 1)) + '")',
     f"A full-text search takes at most {MAX_SEARCH_WORDS} words ({MAX_SEARCH_WORDS + 1} given)."),
    ("phrase(*, nom)", "The last argument of phrase() must be a string literal."),
    ('phrase(*, nom, "a")', "phrase(*, …) takes no other field."),
    ('phrase("a b", "c")', "The arguments of phrase() before the text must be field names."),
])
def test_odsql_phrase_refusals_are_400(client, where, message):
    """A phrase's words count towards search()'s bound; its arguments are search()'s."""
    answer = client.get(RECORDS, params={"where": where})
    assert answer.status_code == 400 and message in answer.json()["message"], answer.text
