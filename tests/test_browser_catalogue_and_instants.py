"""The catalogue's facets, and instants on the map and the chart, in a real headless Chromium
against a real server process on real files. On a 375 px phone the catalogue's first dataset is
on the first screen (it came ~1,700 px down, below every facet link), the folded facets list the
chosen filters to remove, and the sort label sits by its select; on a desktop the facets stay
beside the results; a keyboard skips some forty facet links to the results. The map's popups
write an instant as the table (``12 juillet 2012 à 00:00 CEST``, not the GeoJSON's ISO text); a
colour chosen over the server's clusters says why nothing changed; a chart of instants by month
counts the table's months, not UTC's; a cluster's button is named in the page's language."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser import MAP_SCALE, browser, map_popup, watched_page  # noqa: F401 - browser: the fixture
from tests.conftest import Published, sirene_places
from tests.live import serve_published

pytestmark = [pytest.mark.browser, pytest.mark.slow]
MAP = "/explore/dataset/sirene/map/"
PHONE = {"width": 375, "height": 667}
DESKTOP = {"width": 1280, "height": 900}  # watched_page's
#: The catalogue's datasets: each file with its theme, publisher and keywords, some forty facet links.
CATALOGUE = [
    ("senateurs", "elus/rne_elus-senateurs-sen.csv", "Sénateurs", "Administration", "Sénat",
     ["élus", "Sénat", "RNE", "parlement"]),
    ("retraites", "retraites/drees_eacr_age_liquidation.csv", "Âge de liquidation", "Retraites", "DREES",
     ["retraite", "EACR", "âge", "CNRACL"]),
    ("departements", "geo/departements-version-simplifiee.geojson", "Départements", "Territoires", "IGN",
     ["contours", "départements", "COG", "géographie"]),
    ("regions", "geo/regions-version-simplifiee.geojson", "Régions", "Géographie", "INSEE",
     ["contours", "régions", "IGN", "carte"]),
    ("arrondissements", "geo/arrondissements-version-simplifiee.geojson", "Arrondissements", "Référentiels",
     "Etalab", ["arrondissements", "découpage", "ADMIN EXPRESS", "limites"]),
    ("outremer", "referentiels/collectivites_outremer.csv", "Collectivités d'outre-mer", "Outre-mer", "DGCL",
     ["outre-mer", "collectivités", "statut", "code"]),
]


#: Rows kept of each CSV of the catalogue: its datasets are there for their themes, publishers and
#: keywords (the facets), not their records (the retirement file's 18,000 rows were loaded for nothing).
CATALOGUE_ROWS = 200


def head(source: Path, target: Path, rows: int) -> Path:
    """``source``'s header and first ``rows`` lines, their bytes as they are (the retirement file
    is Latin-1, for the loader to detect); a file other than a CSV whole."""
    if source.suffix != ".csv":
        return source
    with open(source, "rb") as lines:
        target.write_bytes(b"".join(line for _, line in zip(range(rows + 1), lines)))
    return target


@pytest.fixture(scope="module")
def server(tmp_path_factory, refdata):
    root = tmp_path_factory.mktemp("browser-catalogue")
    datasets = [Published(slug, head(refdata / path, root / f"{slug}.csv", CATALOGUE_ROWS), title,
                          metadata={"themes": [theme], "publisher": publisher, "keywords": keywords})
                for slug, path, title, theme, publisher, keywords in CATALOGUE]
    sirene = Published("sirene", sirene_places(refdata, root / "sirene.csv"), "Établissements d'Ille-et-Vilaine",
                       labels={"mise_a_jour": "Mise à jour"})
    # Past 50 records in view the map shows the server's clusters: the 99 establishments at first.
    with serve_published(root / "home", *datasets, sirene, env={"PORTAIL_MAP_DETAIL_RECORDS": "50"}) as base:
        yield base


@pytest.fixture(scope="module")
def tab(browser, server):  # noqa: F811 - the imported browser fixture
    """One page for the whole file (a context each test cost ~0.5 s): the portal keeps nothing in
    the browser between pages (no cookie but a session's, none here; no storage) and the language
    is in each address; ``page`` and ``phone`` leave the last test's page and set again what a
    test may change (the size, the motion asked for), each test's script errors its own."""
    with watched_page(browser) as page:
        yield page


def fresh(tab, viewport: dict[str, int], motion: str):
    """``tab`` on a blank page (nothing of the last test's left running), at ``viewport``, its
    reader asking for ``motion``, no script error yet."""
    tab.goto("about:blank")
    tab.set_viewport_size(viewport)
    tab.emulate_media(reduced_motion=motion)
    tab.js_errors.clear()
    return tab


@pytest.fixture(scope="module")
def map_tab(browser, server):  # noqa: F811 - the imported browser fixture
    """The map tests' page, drawn at ``MAP_SCALE`` (a context's scale is its own, and the
    catalogue's layout is checked at a scale of 1)."""
    with watched_page(browser, device_scale_factor=MAP_SCALE) as page:
        yield page


@pytest.fixture
def page(tab):
    """A desktop's page whose reader asks for reduced motion."""
    return fresh(tab, DESKTOP, "reduce")


@pytest.fixture
def map_page(map_tab):
    """``page``, for the map: at ``MAP_SCALE``."""
    return fresh(map_tab, DESKTOP, "reduce")


@pytest.fixture
def phone(tab):
    """A phone's page (``PHONE``), with motion (no reduced motion asked for, as before)."""
    return fresh(tab, PHONE, "no-preference")


def test_on_a_phone_the_catalogues_first_dataset_is_on_the_first_screen(phone, server):
    phone.goto(server + "/explore/")
    assert phone.locator(".facets a").count() > 30
    first = phone.locator(".results li").first.bounding_box()
    assert first["y"] + 60 < PHONE["height"], first  # its title read without scrolling (it was at 1,700 px)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    summary = phone.locator(".catalogue-filters summary")
    assert summary.inner_text() == "Filtres" and phone.locator(".facets").is_hidden()
    summary.focus()  # the facets a keyboard press away, without script
    phone.keyboard.press("Enter")
    phone.locator(".facets a", has_text="Retraites").click()
    phone.wait_for_url("**refine.theme=Retraites**")
    assert phone.locator(".results li").count() == 1
    expect(phone.locator(".results li h2")).to_be_in_viewport()
    assert phone.locator(".catalogue-filters summary").inner_text() == "Filtres (1)"  # the filter chosen, counted
    phone.goto(server + "/explore/?lang=en")
    assert phone.locator(".catalogue-filters summary").inner_text() == "Filters"
    assert not phone.js_errors


def test_on_a_phone_the_catalogues_chosen_filters_are_listed_to_remove(phone, server):
    """Folded, the facets hid their ✓: a phone showed "Filtres (2)" and no way to see or drop
    one filter but to unfold some forty links and find it."""
    phone.goto(server + "/explore/?refine.theme=Retraites&refine.publisher=DREES&lang=en")
    assert phone.locator(".catalogue-chosen .tag").all_inner_texts() == ["Theme = Retraites", "Publisher = DREES"]
    remove = phone.get_by_role("link", name="Remove filter Theme = Retraites")  # each link names its filter
    expect(remove).to_be_in_viewport()
    remove.click()
    phone.wait_for_url("**/explore/?refine.publisher=DREES&lang=en")
    assert phone.locator(".catalogue-chosen .tag").all_inner_texts() == ["Publisher = DREES"]
    phone.set_viewport_size({"width": 1280, "height": 900})  # beside the facets and their ✓: no list
    expect(phone.locator(".catalogue-chosen")).to_be_hidden()
    assert not phone.js_errors


def test_on_a_phone_the_catalogues_sort_label_sits_by_its_select(phone, server):
    """The French "Rechercher" pushed the search box to a line of its own, ended by "Trier par",
    whose select came on the next line: a label beside the wrong control."""
    for lang in ("fr", "en"):
        phone.goto(server + f"/explore/?lang={lang}")
        label, select = phone.locator("label[for=sort]").bounding_box(), phone.locator("#sort").bounding_box()
        assert label["x"] + label["width"] <= select["x"]  # before it,
        assert abs((label["y"] + label["height"] / 2) - (select["y"] + select["height"] / 2)) < 8  # on its line
    assert not phone.js_errors


def test_on_a_desktop_the_catalogues_facets_stay_beside_the_results(page, server):
    page.goto(server + "/explore/")
    assert page.locator(".catalogue-filters summary").is_hidden()  # no disclosure: the facets as they were
    facet, result = page.locator(".facets a").first, page.locator(".results li").first
    expect(facet).to_be_visible()
    assert facet.bounding_box()["x"] + facet.bounding_box()["width"] < result.bounding_box()["x"]
    assert abs(facet.bounding_box()["y"] - result.bounding_box()["y"]) < 60  # side by side, from the top
    page.locator(".facets a", has_text="DREES").click()
    page.wait_for_url("**refine.publisher=DREES**")
    assert page.locator(".results li").count() == 1
    expect(page.locator(".facets a[aria-current]")).to_be_visible()
    assert not page.js_errors


def test_a_keyboard_skips_the_catalogues_facets_to_its_results(page, server):
    """Some forty facet links came between the search form and the first dataset: as many Tab
    presses (the dataset page's table has its own skip link)."""
    for lang, said in (("fr", "Aller aux résultats"), ("en", "Skip to the results")):
        page.goto(server + f"/explore/?lang={lang}")
        skip = page.locator("a.skip[href='#results']")
        expect(skip).to_have_text(said)
        for _ in range(10):  # the page's own "skip to content", the header's links, then this one
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.getAttribute('href')") == "#results":
                break
        expect(skip).to_be_focused()
        expect(skip).to_be_visible()  # shown once focused
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")
        first = page.locator(".results li h2 a").first
        expect(first).to_be_focused()
    assert not page.js_errors


def table_cell(page, query: str, column: int) -> str:
    page.goto(page.server + "/explore/dataset/sirene/table/" + query)
    return page.locator(f"table.records tbody tr td:nth-child({column})").first.inner_text()


def test_a_maps_popup_writes_an_instant_as_the_table(map_page, server):
    map_page.server = server
    for lang, written in (("fr", "12 juillet 2012 à 00:00 CEST"), ("en", "July 12, 2012, 00:00 CEST")):
        query = f"?refine.siren=006280234&lang={lang}"
        shown = map_popup(map_page, map_page.server, MAP, query)
        assert shown["Mise à jour"] == written  # the publisher's label, in either language
        assert table_cell(map_page, query, 4) == written  # the table's own words, the same
    winter = map_popup(map_page, map_page.server, MAP, "?refine.siren=009733122")  # an establishment updated in winter: CET
    assert winter["Mise à jour"] == table_cell(map_page, "?refine.siren=009733122", 4) == "24 novembre 1995 à 00:00 CET"
    assert not map_page.js_errors


def test_a_colour_chosen_over_the_servers_clusters_says_why_nothing_changed(map_page, server):
    for lang, note in (("fr", "sans couleur : zoomez"), ("en", "without colours: zoom in")):
        map_page.goto(server + MAP + f"?lang={lang}")
        map_page.wait_for_selector("#map[data-state=ready][data-mode=clusters]")
        status = map_page.locator("#map-status")
        assert note not in status.inner_text()
        map_page.select_option("#color-by", "nom")
        expect(status).to_contain_text(note)  # beside the select, announced (role=status)
        map_page.select_option("#color-by", "")
        expect(status).not_to_contain_text(note)
    map_page.goto(server + MAP + "?map.color=nom")  # a colour in the URL: said at once too
    map_page.wait_for_selector("#map[data-state=ready][data-mode=clusters]")
    expect(map_page.locator("#map-status")).to_contain_text("sans couleur")
    map_page.evaluate("void window.portailMap.jumpTo({center: [-1.68, 48.11], zoom: 14})")  # Rennes: a few in view
    map_page.wait_for_selector("#map[data-state=ready][data-mode=records]")
    assert "sans couleur" not in map_page.locator("#map-status").inner_text()
    assert map_page.locator("#map-legend li").count() > 1  # coloured, named in the legend
    assert not map_page.js_errors


def test_a_charts_months_of_instants_are_the_tables(page, server):
    """``1er mars 2012 à 00:00 CET`` in the table, a bar of février in the chart (UTC's month)."""
    page.goto(server + "/explore/dataset/sirene/analyze/?chart.x=mise_a_jour&chart.bucket=month&refine.siren=009734385")
    page.wait_for_selector("#chart[data-state=ready]")
    assert page.locator("#chart-table tbody tr td:first-child").all_text_contents() == ["mars 2012"]
    assert not page.js_errors


def test_a_clusters_count_button_is_named_in_the_pages_language(map_page, server):
    """An English page named each cluster's button "99 records : zoom in or list them", with the
    French space before the colon (as its errors were: tests/test_browser_chart_and_map_settings.py)."""
    for lang, said in (("en", "99 records: zoom in or list them"), ("fr", "99 enregistrements : zoomer ou les lister")):
        map_page.goto(server + MAP + f"?lang={lang}")
        map_page.wait_for_selector("#map[data-state=ready][data-mode=clusters]")
        map_page.evaluate("void window.portailMap.jumpTo({center: [-1.7, 48.1], zoom: 3})")  # all in one cluster
        map_page.wait_for_selector("#map[data-state=ready][data-mode=clusters]")
        expect(map_page.locator("button.map-count")).to_have_count(1)
        assert map_page.locator("button.map-count").get_attribute("aria-label") == said
    assert not map_page.js_errors
