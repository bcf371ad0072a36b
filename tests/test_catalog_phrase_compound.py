"""The catalogue's v1 ``q`` (``qv1``, v1's dataset search): a ``"quoted phrase"`` beside a
field query (``"logement social" theme:Logement``), under ``NOT`` or as a field's value is its
words whole and in a row, as alone; it was a search of its words anywhere. And a phrase lies
within one value: the keywords "logement" and "social" are no "logement social"."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import Published, published_instance
from tests.test_catalog_phrase import CATALOG, V1_SEARCH, client, everywhere, found  # noqa: F401 (client: a fixture)

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
