"""The map tab's view and counts, server-side, on the demo's communes (a point per commune from
the real reference file, built by the demo's ``geopoint`` step): a filter changed drops the map's
kept view (``map.location``), so the map fits what the filter leaves, while the other tabs' links
and the map's other settings keep theirs; the records the map cannot place are counted beside it
(the map said 36,204, its table link 36,208, and nothing said why); MapLibre's touch hint is French
on a French page."""

from __future__ import annotations

import json
import re
from html import unescape
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.catalog import services
from portail.operations import load_file
from portail.web.filters import FilterState
from tests.communes_map import MAP, PIPELINE, first_communes
from tests.search_form import search_form

UNLOCATED = ("60694", "85165", "85212")  # the reference file's communes without lat/lng (60694 twice)
VIEW = ("map.location", "9,46.2,5.35")
COLOR = ("map.color", "insee_dep")


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    from tests.conftest import make_instance

    tmp = tmp_path_factory.mktemp("web-map-view")
    communes = tmp / "communes.csv"
    first_communes(refdata, communes, 300)  # Guadeloupe, then Ain: all placed
    with open(refdata / "referentiels" / "communes_france_enrichies.csv", encoding="utf-8") as source:
        unplaced = [line for line in source if line.split(",", 1)[0] in UNLOCATED]
    assert len(unplaced) == 4 and all(",,," in line for line in unplaced)  # lat and lng empty
    with open(communes, "a", encoding="utf-8") as target:
        target.writelines(unplaced)
    instance = make_instance(tmp / "home")
    with instance.session() as s:
        dataset = services.create_dataset(s, "communes-france", "Communes de France")
        services.set_pipeline(s, dataset, PIPELINE)
    load_file(instance, "communes-france", communes, publish=True)
    yield TestClient(create_app(instance))
    instance.store.close()


def links(html: str, pattern: str) -> list[list[tuple[str, str]]]:
    """The query of each link whose ``<a …`` start matches ``pattern``, as pairs."""
    return [parse_qsl(urlsplit(unescape(href)).query)
            for href in re.findall(r'<a href="([^"]*)"[^>]*>' + pattern, html)]


def test_a_filter_changed_drops_the_maps_view_and_keeps_its_colour(client):
    html = client.get(MAP, params=[("q", "Bourg"), ("refine.insee_dep", "01"), VIEW, COLOR]).text
    # the search form (words typed: a new filter), a filter removed, every filter cleared
    assert COLOR in search_form(html) and VIEW not in search_form(html)
    removed = links(html, "Retirer le filtre") + links(html, "Effacer les filtres")
    assert len(removed) == 3
    assert all(COLOR in query and VIEW not in query for query in removed), removed
    # the other tabs' links keep the view: back on the map, it is where one left it
    tabs = links(re.search(r'<nav class="tabs".*?</nav>', html, re.S).group(0), r"(?:Tableau|Carte|Analyse)")
    assert len(tabs) == 3 and all(VIEW in query and COLOR in query for query in tabs), tabs
    # the table's facets are filters too; its sort is not
    table = client.get(MAP.replace("/map/", "/table/"), params=[VIEW]).text
    facets = links(re.search(r'<aside class="facets".*?</aside>', table, re.S).group(0), "")
    assert facets and all(VIEW not in query for query in facets)
    sorts = links(re.search(r"<thead>.*?</thead>", table, re.S).group(0), "")
    assert sorts and all(VIEW in query for query in sorts)


def test_the_filter_state_drops_the_view_on_a_filter_change_only():
    state = FilterState.from_query([("refine.insee_dep", "01"), VIEW, COLOR, ("lang", "en")])
    assert VIEW in state.page_params() and VIEW in state.sorted_by("commune").page_params()
    for changed in (state.toggle("insee_dep", "01"), state.toggle("insee_dep", "02", exclude=True),
                    state.searching("Bourg"), state.cleared()):
        assert VIEW not in changed.page_params() and COLOR in changed.page_params()


def test_the_records_without_a_location_are_counted_beside_the_map(client):
    html = client.get(MAP).text
    assert '<span id="map-unlocated" class="note">4 enregistrements sans localisation</span>' in html
    assert "Tableau (304 enregistrements)" in html  # the link's count: every record
    english = client.get(MAP, params={"lang": "en"}).text
    assert '<span id="map-unlocated" class="note">4 records without a location</span>' in english
    one = client.get(MAP, params={"refine.insee_com": "85165", "lang": "en"}).text
    assert '<span id="map-unlocated" class="note">1 record without a location</span>' in one
    assert 'id="map-unlocated"' not in client.get(MAP, params={"refine.insee_dep": "01"}).text  # all placed


def test_maplibres_touch_hint_is_french_on_a_french_page(client):
    html = client.get(MAP).text
    locale = json.loads(unescape(re.search(r"data-locale='([^']*)'", html).group(1)))
    assert locale["CooperativeGesturesHandler.MobileHelpText"] == "Utilisez deux doigts pour déplacer la carte"
