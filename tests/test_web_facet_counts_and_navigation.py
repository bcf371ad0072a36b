"""Catalogue facet counts and moving through a dataset's table, server-side: a facet value finds
what its count promises (counts that clicking did not give), a second value of a refined facet is
counted with the first, refined values finding nothing can still be removed; forms show their own
page's state after Back (``autocomplete="off"``); the record detail lands on the record and
"Fermer" on its row (out of reach on a phone); a skip link jumps over the facets to the table
(a hundred Tab presses)."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.catalog import services
from portail.operations import load_file

#: (slug, themes, keywords, publisher, license): two values of one facet held together by one
#: dataset only, so that an OR would count more than an AND finds.
CATALOGUE = [("insee-cog", ["Référentiels", "Territoires"], ["insee", "cog"], "INSEE", "Licence Ouverte"),
             ("ign-bdtopo", ["Référentiels"], ["insee"], "IGN", "ODbL"),
             ("insee-communes", ["Territoires"], ["cog"], "INSEE", "ODbL"),
             ("ign-communes", ["Territoires"], ["cog"], "IGN", "Licence Ouverte")]
LOGEMENTS = "logements"


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    from tests.conftest import make_instance

    tmp = tmp_path_factory.mktemp("facet-counts")
    instance = make_instance(tmp / "home")
    small = tmp / "small.csv"
    small.write_text("nom;valeur\na;1\nb;2\n", encoding="utf-8")
    # the first 60 programmes: a table of three pages, a map, a filter on RIVP
    lines = (refdata / "logement" / "logements-sociaux-finances-a-paris.csv").read_text(encoding="utf-8-sig").splitlines()
    programmes = tmp / "logements.csv"
    programmes.write_text("\n".join(lines[:61]) + "\n", encoding="utf-8")
    with instance.session() as s:
        for slug, themes, keywords, publisher, license in CATALOGUE:
            services.create_dataset(s, slug, slug, themes=themes, keywords=keywords, publisher=publisher, license=license)
        services.create_dataset(s, LOGEMENTS, "Logements sociaux financés à Paris", themes=["Logement"])
    for slug, *_ in CATALOGUE:
        load_file(instance, slug, small, publish=True)
    load_file(instance, LOGEMENTS, programmes, publish=True)
    yield TestClient(create_app(instance))
    instance.store.close()


FACET_LINK = re.compile(r'<li><a href="([^"]+)" ?(aria-current="true")?>\s*(?:<span aria-hidden="true">✓ </span>)?'
                        r'[^<]*<span class="n">\((\d+)\)</span></a></li>')


def found(html: str) -> int:
    return int(re.search(r'id="results-count" role="status">(\d+) ', html).group(1))


def offered(client: TestClient, params: list[tuple[str, str]]) -> list[tuple[str, int]]:
    """The facet links of a catalogue page that add a value, with the count each promises."""
    html = client.get("/explore/", params=params).text
    return [(unescape(href), int(n)) for href, on, n in FACET_LINK.findall(html) if not on]


@pytest.mark.parametrize("params", [[("refine.theme", "Référentiels")], [("refine.keyword", "insee")],
                                    [("refine.publisher", "INSEE")], [("refine.license", "ODbL")]])
def test_a_facet_value_finds_what_its_count_promises(client, params):
    links = offered(client, params)
    assert links
    for href, n in links:
        assert n > 0 and found(client.get(href).text) == n, href


def test_a_second_value_of_the_refined_facet_is_counted_with_the_first(client):
    links = dict(offered(client, [("refine.theme", "Référentiels")]))
    both = urlencode([("refine.theme", "Référentiels"), ("refine.theme", "Territoires")])
    assert links[f"/explore/?{both}"] == 1  # insee-cog alone, not the 3 of Territoires
    publishers = [href for href, _ in offered(client, [("refine.publisher", "INSEE")]) if "publisher=IGN" in href]
    assert publishers == []  # no dataset has two producers: nothing to offer


def test_refined_values_that_find_nothing_can_still_be_removed(client):
    html = client.get("/explore/", params=[("refine.publisher", "INSEE"), ("refine.publisher", "IGN")]).text
    assert found(html) == 0
    removable = [unescape(href) for href, on, _ in FACET_LINK.findall(html) if on]
    assert removable == ["/explore/?refine.publisher=IGN", "/explore/?refine.publisher=INSEE"]


def test_forms_show_the_state_of_their_own_page(client):
    """``autocomplete="off"``: Back shows a page's own values, not those typed before leaving it."""
    assert '<form action="/explore/" method="get" role="search" class="search" autocomplete="off">' in \
        client.get("/explore/").text
    table = client.get(f"/explore/dataset/{LOGEMENTS}/table/").text
    assert table.count('autocomplete="off"') == 3  # the filter, the columns chosen, the page to go to
    assert '<form method="get" role="search" class="search" autocomplete="off">' in table
    assert '<select id="color-by" autocomplete="off">' in client.get(f"/explore/dataset/{LOGEMENTS}/map/").text
    assert '<form method="get" class="chart-form" id="chart-form" autocomplete="off">' in \
        client.get(f"/explore/dataset/{LOGEMENTS}/analyze/").text


def test_detail_lands_on_the_record_and_close_on_its_row(client):
    table = client.get(f"/explore/dataset/{LOGEMENTS}/table/", params={"page": 2}).text
    ids = re.findall(r'<a id="detail-([0-9a-f]+)" href="\?page=2&amp;record=\1#record-title"', table)
    assert len(ids) == 25
    detail = client.get(f"/explore/dataset/{LOGEMENTS}/table/", params={"page": 2, "record": ids[3]}).text
    assert '<h2 id="record-title" tabindex="-1">' in detail
    assert f'<a href="?page=2#detail-{ids[3]}">Fermer</a>' in detail
    elsewhere = client.get(f"/explore/dataset/{LOGEMENTS}/table/", params={"record": ids[3]}).text
    assert '<a href="?#records-table">Fermer</a>' in elsewhere  # its row is on another page


def test_a_skip_link_jumps_over_the_facets_to_the_table(client):
    table = client.get(f"/explore/dataset/{LOGEMENTS}/table/").text
    main = table.split('<main id="main" tabindex="-1">')[1]
    assert main.lstrip().startswith('<a class="skip" href="#records-table">Aller au tableau</a>')
    assert '<div class="table-wrap" id="records-table" tabindex="0"' in main
    english = client.get(f"/explore/dataset/{LOGEMENTS}/table/", params={"lang": "en"}).text
    assert '<a class="skip" href="#records-table">Skip to the table</a>' in english
