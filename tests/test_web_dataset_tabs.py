"""The dataset tabs and the header's links, server-side: "Sign in" and "Sign out" bring the
reader back to the page they were on (they led to the portal's home); GET forms leave empty
parameters (``q=``, ``chart.series=``, ``sort=``) out of the page's address; the chart's default
X axis is no field of one value per record (the former INSEE code of
``ref-commune-successeurs``, the code of each of 101 départements: a bar a record); the fields
table has a description column only when a field has one; an unknown dataset is a "Page
introuvable"; without a script, the map and chart tabs say so and send the reader to the table."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.auth import services as auth
from portail.catalog import services
from portail.operations import load_file
from tests.conftest import Published, fast_passwords, published_instance, semicolon_csv
from tests.chart_form import chart_config
from tests.web_sign_in import PASSWORD, link, sign_in, sign_out

ANALYZE = "/explore/dataset/{}/analyze/"


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    tmp = tmp_path_factory.mktemp("dataset-tabs")
    # shaped as the hub's ref-commune-successeurs: each former code once, its current commune's
    # code on two of them (300 codes: the 100 a facet lists hold a third of the records)
    successors = semicolon_csv(tmp / "successeurs.csv", [{"ancien_code": f"{10000 + i}", "code": f"{20000 + i // 2}"}
                                                         for i in range(600)])
    instance = published_instance(
        tmp / "home",
        Published("successeurs", successors, "Anciens codes communes"),
        Published("departements", refdata / "referentiels" / "cog2026_departements.csv", "Départements (COG)"),
        Published("contours", refdata / "geo" / "regions-version-simplifiee.geojson", "Régions"),
        session_cookie_secure=False)  # the test client speaks plain HTTP
    with fast_passwords(), instance.session() as s:  # its hash's cost is what each sign-in pays
        auth.create_user(s, "lectrice", password=PASSWORD)
    with instance.session() as s:  # a field's description, from the next load on
        services.set_field_override(s, services.get_dataset(s, "contours"), "nom", description="Nom de la région")
    load_file(instance, "contours", refdata / "geo" / "regions-version-simplifiee.geojson", publish=True)
    yield TestClient(create_app(instance))
    instance.store.close()


def test_signing_in_and_out_brings_the_reader_back_to_the_page(client):
    page = "/explore/dataset/departements/table/?refine.reg=84&sort=dep&lang=en"
    assert sign_in(client, link(client.get(page).text, "sign-in")) == page  # it was the home page
    assert sign_out(client, page) == page
    # the page's language kept when its address names none (the browser's is French)
    client.headers["accept-language"] = "fr-FR"
    try:
        english = link(client.get("/explore/", params={"lang": "en"}).text, "sign-in")
        assert sign_in(client, english) == "/explore/?lang=en"
        assert sign_out(client, "/explore/dataset/departements/information/") == \
            "/explore/dataset/departements/information/?lang=fr"
    finally:
        del client.headers["accept-language"]
    # from the login page itself, its own next; from a password reset, the home
    login = link(client.get("/login", params={"next": "/explore/?q=paris"}).text, "sign-in")
    assert dict(parse_qsl(urlsplit(login).query))["next"] == "/explore/?q=paris"
    assert dict(parse_qsl(urlsplit(link(client.get("/reset-password?token=secret").text, "sign-in")).query))[
        "next"] == "/"
    # signing out of the account page, which needs a session, lands on the home page, not its sign-in form
    sign_in(client, "/login")
    assert sign_out(client, "/account?lang=en") == "/?lang=en"
    # a next that is no path of this site is the home page still
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"login": "lectrice", "password": PASSWORD, "csrf_token": token})
    html = client.get("/").text
    token = re.search(r'<form class="signout"[^>]*>\s*<input type="hidden" name="csrf_token" value="([^"]+)">',
                      html).group(1)
    answer = client.post("/logout?next=//evil.example/", data={"csrf_token": token}, follow_redirects=False)
    assert answer.headers["location"] == "/"


def test_empty_parameters_leave_the_address(client):
    """A GET form sends every field: "Rechercher" with an empty box wrote ``q=``, the chart's
    "Séries : Aucune" ``chart.series=``, the catalogue's default order ``sort=``."""
    answer = client.get("/explore/dataset/departements/analyze/?q=&refine.reg=84&chart.type=bar&chart.series=&lang=en",
                        follow_redirects=False)
    assert answer.status_code == 307
    assert answer.headers["location"] == "/explore/dataset/departements/analyze/?refine.reg=84&chart.type=bar&lang=en"
    answer = client.get("/explore/?q=&refine.theme=Logement&sort=&lang=fr", follow_redirects=False)
    assert answer.headers["location"] == "/explore/?refine.theme=Logement&lang=fr"
    assert client.get("/explore/?q=", follow_redirects=False).headers["location"] == "/explore/"
    # a tab that is none goes to the information page, its filters and language kept (it lost them)
    answer = client.get("/explore/dataset/departements/tableau/?refine.reg=84&lang=en", follow_redirects=False)
    assert answer.headers["location"] == "/explore/dataset/departements/information/?refine.reg=84&lang=en"
    # an address without any is served as it is
    assert client.get("/explore/dataset/departements/table/?q=Ain", follow_redirects=False).status_code == 200
    assert client.get("/explore/?q=paris", follow_redirects=False).status_code == 200


def test_the_charts_default_x_axis_is_no_field_of_one_value_per_record(client):
    # the current commune (its former codes counted), not the former code
    assert chart_config(client.get(ANALYZE.format("successeurs")).text)["x"] == "code"
    # the 18 regions of 101 départements, not their 101 codes (100 listed, each on one record)
    assert chart_config(client.get(ANALYZE.format("departements")).text)["x"] == "reg"
    # nothing repeats: bars named by the regions' names, not their codes
    assert chart_config(client.get(ANALYZE.format("contours")).text)["x"] == "nom"
    # a field chosen, as before
    assert chart_config(client.get(ANALYZE.format("departements"), params={"chart.x": "dep"}).text)["x"] == "dep"


def test_the_fields_table_has_a_description_column_only_when_a_field_has_one(client):
    """Empty, it took a phone's width from the fields' names and labels, broken letter by letter."""
    html = client.get("/explore/dataset/departements/information/").text
    schema = re.search(r'<table class="schema">.*?</table>', html, re.S).group(0)
    assert "<th scope=\"col\">Description</th>" not in schema and schema.count("<td>") == 7 * 3  # name, label, type
    html = client.get("/explore/dataset/contours/information/?lang=en").text
    schema = re.search(r'<table class="schema">.*?</table>', html, re.S).group(0)
    assert "<th scope=\"col\">Description</th>" in schema and "<td>Nom de la région</td>" in schema


def test_an_unknown_dataset_is_a_page_not_found(client):
    """Its 404 was titled "Erreur" where any other missing page is "Page introuvable"."""
    answer = client.get("/explore/dataset/nope/table/?lang=fr")
    assert answer.status_code == 404
    assert "<title>Page introuvable · " in answer.text and "<h1>Page introuvable</h1>" in answer.text
    assert "Jeu de données inconnu" in answer.text
    assert "<h1>Page not found</h1>" in client.get("/explore/dataset/nope/information/?lang=en").text


def test_without_script_the_map_and_chart_tabs_say_so(client):
    """The map said "Chargement de la carte…" for ever, the chart showed an empty figure and
    download links going nowhere; a ``noscript`` note now sends the reader to the table."""
    for tab, note in (("analyze", "chart-no-script"), ("map", "map-no-script")):
        for lang, words in (("fr", "désactivé dans ce navigateur"), ("en", "this browser has turned off")):
            html = client.get(f"/explore/dataset/contours/{tab}/?refine.code=53&lang={lang}").text
            found = re.search(rf'<noscript><p class="error" id="{note}">([^<]*)<a href="([^"]*)">', html)
            assert found and words in found.group(1), (tab, lang)
            assert unescape(found.group(2)) == f"/explore/dataset/contours/table/?refine.code=53&lang={lang}"
