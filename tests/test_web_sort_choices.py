"""The dataset table page given a sort it cannot apply (``sort=`` naming no column, a column
hidden from the visitor, a geometry): the default order, and a notice saying so in the page's
language, through the real app. A hidden column's notice and page are an unknown one's, word for
word: the notice never tells that the column exists."""

from __future__ import annotations

import re
from html import unescape

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.auth import services as auth
from portail.catalog import services
from tests.conftest import Published, published_instance

TABLE = "/explore/dataset/logements/table/"
PASSWORD = "Correct-horse-42"
NOTICE = re.compile(r'<p class="note" id="sort-dropped" role="status">(.*?)</p>', re.S)


@pytest.fixture(scope="module")
def site(tmp_path_factory, refdata):
    """Logements with ``bs`` hidden from group ``masque``, whose member ``vmask`` can sign in."""
    instance = published_instance(tmp_path_factory.mktemp("sort_choices") / "home", Published(
        "logements", refdata / "logement" / "logements-sociaux-finances-a-paris.csv", "Logements"),
        session_cookie_secure=False)
    with instance.session() as s:
        auth.create_group(s, "masque")
        auth.set_dataset_security(s, services.get_dataset(s, "logements"), hidden_fields={"masque": ["bs"]})
        auth.add_member(s, auth.get_group(s, "masque"), auth.create_user(s, "vmask", role="viewer", password=PASSWORD))
    yield instance
    instance.store.close()


def signed_in(instance, login: str) -> TestClient:
    client = TestClient(create_app(instance))
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    response = client.post("/login", data={"login": login, "password": PASSWORD, "next": "/", "csrf_token": token},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    return client


def notice(html: str) -> str | None:
    """The notice as read (the page writes ``'`` as ``&#39;``)."""
    found = NOTICE.search(html)
    return unescape(found.group(1)) if found else None


def rows(html: str) -> str:
    return re.search(r'<table class="records">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)


def main(html: str) -> str:
    return html.split("<main", 1)[1].split("</main>", 1)[0]


def test_an_unknown_sort_is_told_in_the_page_language(site):
    client = TestClient(create_app(site))
    default = client.get(TABLE, headers={"Accept-Language": "fr"}).text
    assert notice(default) is None
    french = client.get(TABLE, params={"sort": "-nope"}, headers={"Accept-Language": "fr"})
    assert french.status_code == 200 and rows(french.text) == rows(default)
    assert notice(french.text) == ("Tri sur « nope » impossible : ce tableau n'a pas de colonne triable de ce nom. "
                                   "Les enregistrements sont dans l'ordre par défaut.")
    english = client.get(TABLE, params={"sort": "nope", "lang": "en"}).text
    assert notice(english) == ("Cannot sort by “nope”: this table has no sortable column of that name. "
                               "The records are in the default order.")


def test_a_sort_the_table_applies_has_no_notice(site):
    client = TestClient(create_app(site))
    for sort in ("annee", "-bs"):
        page = client.get(TABLE, params={"sort": sort}).text
        assert notice(page) is None and 'aria-sort="' in page, sort


def test_a_geometry_sort_is_told_too(site):
    page = TestClient(create_app(site)).get(TABLE, params={"sort": "geo_point_2d", "lang": "en"}).text
    assert "“geo_point_2d”" in notice(page)


def test_a_hidden_column_sort_reads_as_an_unknown_one(site):
    masked = signed_in(site, "vmask")
    hidden = masked.get(TABLE, params={"sort": "-bs", "lang": "en"})
    unknown = masked.get(TABLE, params={"sort": "-zz", "lang": "en"})
    assert hidden.status_code == unknown.status_code == 200
    assert notice(hidden.text) == notice(unknown.text).replace("zz", "bs")
    assert main(hidden.text).replace("“bs”", "“zz”") == main(unknown.text)
    assert rows(hidden.text) == rows(masked.get(TABLE, params={"lang": "en"}).text)


def test_the_asked_name_is_written_as_text(site):
    page = TestClient(create_app(site)).get(TABLE, params={"sort": "<b>x</b>", "lang": "en"}).text
    assert "“&lt;b&gt;x&lt;/b&gt;”" in NOTICE.search(page).group(1) and "<b>x</b>" not in page
