"""The chart's and the map's settings in the page's links, server-side: a search typed, or a
filter removed, under a chart or a map keeps them (the chart's ``chart.*`` settings and the map's
``map.color`` were in none of the filter bar's links, so both were drawn again from their
defaults); the map's colour in the URL is selected back; ``FilterState`` keeps them beside the
language. With them, the pages' own language: the API documentation's page names it (WCAG
3.1.1), and a French page of an unknown dataset says so in French (it said "Unknown dataset: nope")."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.operations import load_file
from portail.web.filters import FilterState
from tests.search_form import search_form

ANALYZE = "/explore/dataset/lieux/analyze/"
MAP = "/explore/dataset/lieux/map/"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from tests.conftest import make_instance

    tmp = tmp_path_factory.mktemp("view-settings")
    instance = make_instance(tmp / "home")
    places = tmp / "lieux.csv"
    places.write_text("nom;ville;surface;geo_point_2d\nA;Paris;12;48.85, 2.35\nB;Lyon;30;45.76, 4.83\n"
                      "C;Paris;7;48.86, 2.36\n", encoding="utf-8")
    from portail.catalog import services

    with instance.session() as s:
        services.create_dataset(s, "lieux", "Lieux")
    load_file(instance, "lieux", places, publish=True)
    yield TestClient(create_app(instance))
    instance.store.close()


def test_a_search_or_a_removed_filter_under_a_chart_keeps_the_chart(client):
    chart = [("chart.type", "pie"), ("chart.x", "ville"), ("chart.y", "sum"), ("chart.yfield", "surface")]
    html = client.get(ANALYZE, params=[("refine.ville", "Paris"), *chart]).text
    assert set(chart) <= set(search_form(html))
    removed = unescape(re.search(r'<li><span class="tag">ville = Paris</span> <a href="([^"]+)"', html).group(1))
    assert parse_qsl(urlsplit(removed).query) == chart  # the filter gone, the chart kept
    # the chart form's selects send the settings: none sent twice, the URL's before the choice
    form = re.search(r'<form method="get" class="chart-form".*?</form>', html, re.S).group(0)
    assert "type=\"hidden\" name=\"chart." not in form and 'name="refine.ville" value="Paris"' in form


def test_the_maps_colour_in_the_url_is_selected_and_kept_by_a_search(client):
    html = client.get(MAP, params={"map.color": "ville", "q": "Paris"}).text
    assert re.search(r'<option value="ville"\s+selected>', html)
    assert ("map.color", "ville") in search_form(html)
    assert not re.search(r'<option value="nom"\s+selected>', client.get(MAP, params={"map.color": "nope"}).text)


def test_the_filter_state_keeps_the_views_settings_beside_the_language():
    state = FilterState.from_query([("refine.ville", "Paris"), ("chart.type", "pie"), ("map.color", "ville"),
                                    ("lang", "en"), ("page", "2"), ("record", "x")])
    assert state.cleared().page_params() == [("chart.type", "pie"), ("map.color", "ville"), ("lang", "en")]
    assert state.api_params() == [("refine", "ville:Paris")]  # never sent to the API


def test_the_api_documentation_names_its_language(client):
    html = client.get("/api/docs").text
    assert '<html lang="en">' in html and "swagger-ui-bundle.js" in html


def test_an_unknown_datasets_page_says_so_in_the_pages_language(client):
    french = client.get("/explore/dataset/nope/table/", headers={"Accept-Language": "fr-FR"})
    assert french.status_code == 404 and "Jeu de données inconnu : nope" in french.text
    assert "Unknown dataset" not in french.text
    english = client.get("/explore/dataset/nope/map/", params={"lang": "en"})
    assert english.status_code == 404 and "Unknown dataset: nope" in english.text and '<html lang="en">' in english.text
