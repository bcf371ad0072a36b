"""v1's ``q`` on the catalogue (``qv1``, v1's dataset search, the catalogue page's box) and on
records: a ``"quoted phrase"`` is its words whole and in a row in one field, as on records;
Lucene's match-all forms (``*:*``, ``**``) find everything, as ``*`` does; a dangling operator
(``q=OR``, ``foo AND``) is a word, not an "unknown field" refusal.

On the catalogue, a phrase beside a field query (``"logement social" theme:Logement``), under
``NOT`` or as a field's value is its words whole and in a row, as alone; it was a search of its
words anywhere. And a phrase lies within one value: the keywords "logement" and "social" are no
"logement social"."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.catalog import services
from portail.operations import load_file
from tests.conftest import Published, published_instance

CATALOG = "/api/explore/v2.1/catalog/datasets"
V1_SEARCH = "/api/datasets/1.0/search/"

#: slug, title, CSV
DATASETS = [
    ("parc", "Logement social à Lyon", "nom;n\nGerland;12\n"),
    ("aides", "Aides au logement, volet social", "nom;n\nBrotteaux;4\n"),
    ("cours", "Cours de l'or", "marche;prix\nlingot d'or;60000\nargent;800\n"),
]
EVERY = sorted(slug for slug, _, _ in DATASETS)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from tests.conftest import make_instance

    home = tmp_path_factory.mktemp("phrase")
    instance = make_instance(home / "home")
    for slug, title, csv in DATASETS:
        path = home / f"{slug}.csv"
        path.write_text(csv, encoding="utf-8")
        with instance.session() as s:
            services.create_dataset(s, slug, title)
        load_file(instance, slug, path, publish=True)
    yield TestClient(create_app(instance))
    instance.store.close()


def found(client, q: str) -> dict[str, list[str]]:
    """The datasets each catalogue search finds for ``q``: the Explore API's ``qv1``, v1's
    dataset search and the catalogue page's box (its titles, read back as slugs)."""
    api = client.get(CATALOG, params={"qv1": q, "limit": 100})
    v1 = client.get(V1_SEARCH, params={"q": q, "rows": 100})
    page = client.get("/explore/", params={"q": q})
    assert (api.status_code, v1.status_code, page.status_code) == (200, 200, 200), (api.text, v1.text)
    titles = {title: slug for slug, title, _ in DATASETS}
    return {"qv1": sorted(r["dataset_id"] for r in api.json()["results"]),
            "v1": sorted(d["datasetid"] for d in v1.json()["datasets"]),
            "page": sorted(titles[t.replace("&#39;", "'")]
                           for t in re.findall(r'<h2><a href="[^"]+">([^<]+)</a></h2>', page.text))}


def everywhere(slugs: list[str]) -> dict[str, list[str]]:
    return {"qv1": slugs, "v1": slugs, "page": slugs}


def test_a_quoted_phrase_finds_its_words_in_a_row(client):
    """``"logement social"`` found "Aides au logement, volet social" too: the catalogue read a
    phrase as its words, anywhere; records' ``q`` reads it as its words whole, in a row."""
    assert found(client, '"logement social"') == everywhere(["parc"])
    assert found(client, "logement social") == everywhere(["aides", "parc"])
    assert found(client, '"logement social" lyon') == everywhere(["parc"])
    assert found(client, '"social logement"') == everywhere([])


@pytest.mark.parametrize("q", ["*", "*:*", "**"])
def test_lucene_match_all_finds_everything(client, q):
    assert found(client, q) == everywhere(EVERY)
    records = client.get(f"{CATALOG}/cours/records", params={"qv1": q}).json()
    v1 = client.get("/api/records/1.0/search/", params={"dataset": "cours", "q": q}).json()
    assert records["total_count"] == v1["nhits"] == 2


def test_match_all_beside_a_field_query_is_that_query(client):
    assert client.get(CATALOG, params={"qv1": "*:* AND dataset_id:cours"}).json()["total_count"] == 1


@pytest.mark.parametrize("q", ["OR", "AND", "NOT", "cours OR", "cours AND", "(NOT)"])
def test_a_dangling_operator_is_a_word(client, q):
    """``q=OR`` answered "unknown field" (ODSQL read ``or`` as a name); a search box sends what
    the reader is still typing, and "or" is a French word: it is searched, as its lower case is."""
    lower = q.lower()
    assert found(client, q) == found(client, lower)
    records = client.get(f"{CATALOG}/cours/records", params={"qv1": q})
    assert records.status_code == 200
    assert records.json()["total_count"] == client.get(f"{CATALOG}/cours/records",
                                                       params={"qv1": lower}).json()["total_count"]
    assert client.get("/api/records/1.0/search/", params={"dataset": "cours", "q": q}).status_code == 200


def test_or_alone_finds_gold(client):
    assert found(client, "OR") == everywhere(["cours"])
    v1 = client.get("/api/records/1.0/search/", params={"dataset": "cours", "q": "OR"}).json()
    assert [r["fields"]["marche"] for r in v1["records"]] == ["lingot d'or"]


def test_operators_between_terms_stay_operators(client):
    assert found(client, "lyon OR cours") == everywhere(["cours", "parc"])
    assert found(client, "logement NOT lyon") == everywhere(["aides"])


def test_a_search_of_too_many_words_is_refused_as_odsql_refuses_it(client):
    """Each word, a phrase's too, scans every searched field: 600 took 10 s once phrases were
    read apart from ODSQL's ``search(*, …)``, which refuses them."""
    from portail.odsql.functions import MAX_SEARCH_WORDS

    words = ['"logement social"'] * (MAX_SEARCH_WORDS // 2)
    assert client.get(CATALOG, params={"qv1": " ".join(words)}).json()["total_count"] == 1
    refused = client.get(CATALOG, params={"qv1": " ".join([*words, "lyon"])})
    assert refused.status_code == 400 and refused.json()["message"] == (
        f"ODSQL query is malformed: A full-text search takes at most {MAX_SEARCH_WORDS} words "
        f"({MAX_SEARCH_WORDS + 1} given). Clause(s) containing the error(s): where.")
    assert client.get("/explore/", params={"q": " ".join([*words, "lyon"])}).status_code == 400
    # a dataset's q, one rule (api.text_search): it had no bound
    records = client.get(f"{CATALOG}/parc/records", params={"qv1": " ".join([*words, "lyon"])})
    assert records.status_code == 400 and records.json()["message"] == refused.json()["message"]
    v1 = client.get("/api/records/1.0/search/", params={"dataset": "parc", "q": " ".join([*words, "lyon"])})
    assert v1.status_code == 400
    assert client.get(f"{CATALOG}/parc/records", params={"qv1": " ".join(words)}).json()["total_count"] == 0


#: slug, title, themes, keywords
THEMED = [
    ("parc", "Logement social à Lyon", ["Logement"], ["hlm"]),
    ("aides", "Aides au logement, volet social", ["Logement"], []),
    ("batiments", "Bâtiments publics", ["Urbanisme"], ["logement", "social"]),
    ("registre", "Registre des demandes", ["Urbanisme"], ["logement social", "demande"]),
]


@pytest.fixture(scope="module")
def themed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("phrase_themed")
    path = folder / "n.csv"
    path.write_text("n\n1\n", encoding="utf-8")
    instance = published_instance(folder / "home", *(
        Published(slug, path, title, metadata={"themes": themes, "keywords": keywords})
        for slug, title, themes, keywords in THEMED))
    yield TestClient(create_app(instance))
    instance.store.close()


def datasets(client: TestClient, q: str) -> list[str]:
    """What the Explore API's ``qv1`` and v1's dataset search both find for ``q``."""
    api = client.get(CATALOG, params={"qv1": q, "limit": 100})
    v1 = client.get(V1_SEARCH, params={"q": q, "rows": 100})
    assert (api.status_code, v1.status_code) == (200, 200), (api.text, v1.text)
    found_api = sorted(r["dataset_id"] for r in api.json()["results"])
    assert found_api == sorted(d["datasetid"] for d in v1.json()["datasets"])
    return found_api


def test_a_phrase_beside_a_title_query_stays_a_phrase(client):
    """"Aides au logement, volet social" holds both words, not in a row."""
    assert found(client, '"logement social" title:social') == everywhere(["parc"])
    assert found(client, 'NOT "logement social" AND NOT dataset_id:cours') == everywhere(["aides"])


@pytest.mark.parametrize("q, expected", [
    ('"logement social" theme:Logement', ["parc"]),
    ('"logement social"', ["parc", "registre"]),  # not the keywords "logement" and "social"
    ('"logement social" AND theme:Urbanisme', ["registre"]),
    ('keyword:"logement social"', ["registre"]),
    ('NOT "logement social"', ["aides", "batiments"]),
])
def test_a_phrase_is_one_rule_on_the_catalogue(themed, q, expected):
    assert datasets(themed, q) == expected
