"""The records tabs when they have nothing to show, server-side: a search or filter matching
nothing says so under "0 records" (it left an empty table, no sentence); an anonymous visitor on a
restricted dataset whose metadata is public is asked to sign in (they read "Invalid filter:" over
the API's English 401, its ``Authorization: Apikey`` header, on the table, map and chart tabs,
and the export tab offered "Whole dataset (0 records)" with links answering 401); a page
sending to the sign-in form keeps its language."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.auth import services as auth
from portail.catalog import services
from tests.conftest import Published, fast_passwords, published_instance
from tests.web_sign_in import PASSWORD, link, sign_in

TABLE = "/explore/dataset/departements/table/"
CLOSED = "/explore/dataset/senateurs/{}/"


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    tmp = tmp_path_factory.mktemp("closed-records")
    instance = published_instance(
        tmp / "home",
        Published("departements", refdata / "referentiels" / "cog2026_departements.csv", "Départements (COG)"),
        Published("senateurs", refdata / "elus" / "rne_elus-senateurs-sen.csv", "Sénateurs"),
        session_cookie_secure=False)  # the test client speaks plain HTTP
    with fast_passwords(), instance.session() as s:
        auth.set_dataset_security(s, services.get_dataset(s, "senateurs"), visibility="restricted",
                                  metadata_public=True)
        auth.create_user(s, "lectrice", password=PASSWORD)  # granted nothing
    yield TestClient(create_app(instance))
    instance.store.close()


def test_a_table_of_no_records_says_so_in_both_languages(client):
    for lang, words, clear in (("fr", "Aucun enregistrement à afficher.", "Effacer les filtres"),
                               ("en", "No records to show.", "Clear filters")):
        html = client.get(f"{TABLE}?q=zzzqqqzzz&lang={lang}").text
        sentence = re.search(r'<p id="no-records">(.*?)</p>', html, re.S)
        assert sentence and words in sentence.group(1), lang
        assert clear in sentence.group(1)  # the way out, beside it
    html = client.get(f"{TABLE}?lang=en").text
    assert 'id="no-records"' not in html  # rows: no such sentence


def test_a_restricted_datasets_records_tabs_say_sign_in_not_invalid_filter(client):
    client.cookies.clear()
    for tab in ("table", "map", "analyze", "export", "api"):
        for lang, words in (("fr", "Les enregistrements de ce jeu de données sont réservés"),
                            ("en", "The records of this dataset are restricted")):
            answer = client.get(CLOSED.format(tab) + f"?lang={lang}")
            assert answer.status_code == 401, (tab, lang)
            html = answer.text
            notice = re.search(r'<p class="error" role="alert" id="records-closed">(.*?)</p>', html, re.S)
            assert notice and words in notice.group(1), (tab, lang)
            assert "/login?" in notice.group(1)  # a sign-in link, back to this page
            assert "Apikey" not in html and "Filtre invalide" not in html and "Invalid filter" not in html
            assert "exports/csv" not in html and 'role="search"' not in html  # no links nor box that answer 401
    # the information tab, its metadata public, as before
    information = client.get(CLOSED.format("information") + "?lang=en")
    assert information.status_code == 200 and 'id="records-closed"' not in information.text
    # signed in without a grant: no sign-in link, a sentence saying so
    sign_in(client, link(client.get(CLOSED.format("table") + "?lang=en").text, "sign-in"))
    answer = client.get(CLOSED.format("export") + "?lang=en")
    assert answer.status_code == 403
    assert "Your rights give no access to the records of this dataset." in answer.text
    assert "/login?" not in answer.text
    client.cookies.clear()


def test_a_page_sending_to_the_sign_in_form_keeps_its_language(client):
    """``/account?lang=fr`` sent an English browser to an English sign-in form."""
    client.cookies.clear()
    client.headers["accept-language"] = "en-GB"
    try:
        for lang, title in (("fr", "<title>Connexion"), ("en", "<title>Sign in")):
            answer = client.get(f"/account?lang={lang}")
            assert answer.status_code == 200 and title in answer.text, lang
            assert f'<html lang="{lang}">' in answer.text
    finally:
        del client.headers["accept-language"]
