"""Page titles, filter labels and the catalogue's search order, server-side: titles say the
search, the filters, the page, nothing found and the error (RGAA 8.6); each remove link names its
filter (all were "Retirer le filtre"); a search lists the titles holding its words first ("most
recent" order put "Communes de France" after a newer dataset that only mentions communes); an
unknown sort is the default order; the chart's numeric field is offered for an aggregate, not a
count; the table's facets are a disclosure counting the chosen filters (folded on a phone)."""

from __future__ import annotations

import re
from html import unescape

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.catalog import services
from portail.operations import load_file
from portail.web.catalogue import title_parts

TABLE = "/explore/dataset/etablissements/table/"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from tests.conftest import make_instance

    tmp = tmp_path_factory.mktemp("titles")
    instance = make_instance(tmp / "home")
    small = tmp / "small.csv"
    small.write_text("annee;effectif\n2020;1500\n2021;2500\n", encoding="utf-8")
    # created in this order, so the last is the most recent: it mentions communes in its description only
    with instance.session() as s:
        services.create_dataset(s, "communes", "Communes de France")
        services.create_dataset(s, "etablissements", "Établissements")
        services.create_dataset(s, "commerces", "Commerces alimentaires",
                                description="Les commerces alimentaires de toutes les communes.")
    for slug in ("communes", "etablissements", "commerces"):
        load_file(instance, slug, small, publish=True)
    yield TestClient(create_app(instance))
    instance.store.close()


def title(html: str) -> str:
    return unescape(re.search(r"<title>(.*?)</title>", html, re.S).group(1))


def listed(html: str) -> list[str]:
    return [unescape(t) for t in re.findall(r'<h2><a href="[^"]+">([^<]+)</a></h2>', html)]


def test_titles_say_the_search_the_filters_nothing_found_and_the_error(client):
    assert title(client.get("/explore/").text) == "Catalogue · Portail open data"
    assert title(client.get("/explore/?q=communes&refine.theme=X").text) == \
        "Recherche « communes » – 1 filtre – aucun résultat – Catalogue · Portail open data"
    assert title(client.get("/explore/?q=zzzz&lang=en").text) == "Search “zzzz” – no results – Catalogue · Portail open data"
    refused = client.get("/explore/?q=(")
    assert refused.status_code == 400 and title(refused.text).startswith("Erreur – Recherche « ( » – Catalogue")
    bad = client.get(TABLE + "?refine.nochamp=x")
    assert bad.status_code == 400 and title(bad.text) == "Erreur – 1 filtre – Tableau · Établissements · Portail open data"
    # a dataset's page says its search and filters too, as the catalogue's
    assert title(client.get(TABLE + "?q=zzzz").text) == "Recherche « zzzz » – aucun résultat – Tableau · Établissements · Portail open data"
    assert title(client.get(TABLE.replace("table", "analyze") + "?q=15&refine.annee=2020&lang=en").text).startswith(
        "Search “15” – 1 filter – ")
    assert title_parts("fr", "logement", 0, 2, 40, False) == ["Recherche « logement »", "page 2"]
    assert title_parts("en", "", 2, 1, 0, False) == ["2 filters", "no results"]


def test_each_remove_link_names_its_filter(client):
    html = client.get(TABLE + "?q=15&refine.annee=2020&exclude.effectif=2500").text
    names = [re.sub(r"<[^>]+>", "", unescape(a)) for a in re.findall(r'<a href="[^"]*">(Retirer le filtre.*?)</a>', html)]
    assert names == ["Retirer le filtre « 15 »", "Retirer le filtre annee = 2020", "Retirer le filtre effectif ≠ 2500"]


def test_a_search_lists_the_titles_holding_its_words_first(client):
    recent = client.get("/explore/").text
    assert listed(recent).index("Commerces alimentaires") < listed(recent).index("Communes de France")
    html = client.get("/explore/?q=communes").text
    assert listed(html) == ["Communes de France", "Commerces alimentaires"]
    assert '<option value="" selected>Pertinence</option>' in html
    # typed in the box of the unsorted page, whose select sends its default order as none
    assert '<option value="" selected>Les plus récents</option>' in recent
    assert listed(client.get("/explore/?q=communes&sort=").text) == ["Communes de France", "Commerces alimentaires"]
    assert "sort=relevance" not in html  # the default, left out of links
    newest = client.get("/explore/?q=communes&sort=-modified").text
    assert listed(newest) == ["Commerces alimentaires", "Communes de France"]
    assert 'value="relevance"' not in recent  # without a search, nothing is more relevant
    # its own words only: a field query, an operator or an excluded word is no word a title holds
    for q in ("communes AND modified:[2000 TO 2100]", "communes NOT alimentaires", "(communes) OR #null(theme)"):
        assert listed(client.get("/explore/", params={"q": q}).text)[0] == "Communes de France", q


def test_an_unknown_sort_is_the_default_order_as_an_unknown_page_or_facet(client):
    for query, default in (("sort=bogus", "Les plus récents"), ("q=communes&sort=bogus", "Pertinence")):
        response = client.get(f"/explore/?{query}")
        assert response.status_code == 200 and f'<option value="" selected>{default}</option>' in response.text
        assert response.text.count("sort=bogus") == 1  # the language switch's, the address as asked; no other link


def test_the_numeric_field_is_offered_for_an_aggregate_not_for_a_count(client):
    count = client.get("/explore/dataset/etablissements/analyze/").text
    assert re.search(r'<div hidden><label for="c-yfield">', count) and re.search(r'id="c-yfield"[^>]*disabled', count)
    summed = client.get("/explore/dataset/etablissements/analyze/?chart.y=sum&chart.yfield=effectif").text
    assert '<div ><label for="c-yfield">' in summed and not re.search(r'id="c-yfield"[^>]*disabled', summed)


def test_the_tables_facets_are_a_disclosure_that_counts_the_chosen_filters(client):
    """Folded by CSS alone on a phone, beside the table on a desktop (tests/test_browser_table_layout.py)."""
    html = client.get(TABLE + "?refine.annee=2020").text
    assert re.search(r'<details class="filters-panel">\s*<summary>Filtres \(1\)</summary>', html)
