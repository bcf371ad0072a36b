"""The search boxes of the catalogue and dataset pages send what the visitor typed as v1's ``q``,
which reads stars as every full-text form does (``odsql.functions.star_terms``): a star ending a
word a prefix, ``*`` alone everything, a star before a word's end refused. The refusal reads in
the page's language: a French page showed the generic sentence and the API's English."""

from __future__ import annotations

import re
from html import unescape

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import Published, published_instance, semicolon_csv

TEXTS = ["Paris", "l'Haÿ-les-Roses", "Lyon", "Saint-Étienne"]
TABLE = "/explore/dataset/villes/table/"
CATALOGUE = "/explore/"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web_stars")
    rows = [{"i": str(i), "t": t} for i, t in enumerate(TEXTS)]
    instance = published_instance(folder / "home", Published("villes", semicolon_csv(folder / "villes.csv", rows),
                                                             "Villes de France"))
    yield TestClient(create_app(instance))
    instance.store.close()


def alert(html: str) -> str | None:
    """The page's error notice, as a visitor reads it (tags dropped, entities decoded)."""
    found = re.search(r'<p class="error" role="alert">(.*?)</p>', html, re.S)
    return unescape(re.sub(r"<[^>]+>", "", found.group(1))) if found else None


@pytest.mark.parametrize("url", [TABLE, CATALOGUE])
def test_a_misplaced_star_in_the_box_is_refused_in_the_pages_language(client, url):
    french = client.get(url, params={"q": "pa*s", "lang": "fr"})
    assert french.status_code == 400
    notice = alert(french.text)
    assert notice is not None and notice.endswith(
        "Une étoile (*) ne se place qu'à la fin d'un mot (« pa*s ») ; pour chercher une étoile elle-même, "
        "écrivez \\* (\\\\* entre guillemets)."), notice
    assert "Invalid value" not in notice and "takes" not in notice
    english = client.get(url, params={"q": "pa*s", "lang": "en"})
    assert english.status_code == 400
    assert "q takes * only at the end of a word ('pa*s')" in alert(english.text)


@pytest.mark.parametrize("q, found", [("*", TEXTS), ("**", TEXTS), ("l'*", ["l'Haÿ-les-Roses", "Lyon"]),
                                      ("pari*", ["Paris"]), ("saint-é*", ["Saint-Étienne"])])
def test_stars_a_visitor_types_still_search(client, q, found):
    """``*`` alone, ``**`` and a star after an apostrophe or a hyphen are no misplaced stars
    (``l'*``: the prefix l, as in Lyon)."""
    page = client.get(TABLE, params={"q": q, "lang": "fr"})
    assert page.status_code == 200 and alert(page.text) is None, alert(page.text)
    assert [t for t in TEXTS if t in unescape(page.text)] == found
    catalogue = client.get(CATALOGUE, params={"q": q})
    assert catalogue.status_code == 200 and alert(catalogue.text) is None
