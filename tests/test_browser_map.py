"""The map tab in a real headless Chromium, offline (no tiles, fonts or glyphs): each cluster
shows its count, clicks on clusters always end on records (a pile of records at one address
is listed), MapLibre's own controls speak French on French pages, popups name fields by their
labels, and the table link offers the records to the keyboard."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import AXE, MAP_SCALE, browser, settle, watched_page  # noqa: F401 - browser: the fixture
from tests.conftest import Published
from tests.live import serve_published

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PILE = (2.35, 48.85)  # lon, lat: twelve records at the same address
PILE_SIZE = 12


def places_csv() -> str:
    rows = ["nom;ville;geo_point_2d"]
    rows += [f"Pile {i};Paris;{PILE[1]}, {PILE[0]}" for i in range(PILE_SIZE)]
    rows += [f"Grille {i};Paris;{48.80 + 0.012 * (i // 6)}, {2.27 + 0.016 * (i % 6)}" for i in range(30)]
    rows += [f"Lyon {i};Lyon;{45.76 + 0.004 * i}, 4.83" for i in range(3)]  # a small cluster far away
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-map")
    (root / "lieux.csv").write_text(places_csv(), encoding="utf-8")
    with serve_published(root / "home", Published("lieux", root / "lieux.csv", "Lieux", metadata={"license": "ODbL"},
                                                  labels={"nom": "Nom du lieu"})) as base:
        yield base


@pytest.fixture
def page(browser, server):  # noqa: F811 - the imported browser fixture
    # reduced motion: MapLibre jumps where it would ease (a cluster's zoom lands on the same view
    # and fires the same moveend, ~0.5 s sooner a click); what these tests check is where it ends
    with watched_page(browser, reduced_motion="reduce", device_scale_factor=MAP_SCALE) as page:
        page.goto(server + "/explore/dataset/lieux/map/")
        page.wait_for_selector("#map[data-state=ready]")
        settle(page)
        yield page


def clusters_in_view(page) -> list[int]:
    return page.evaluate("""() => [...new Map(window.portailMap.queryRenderedFeatures({layers: ['clusters']})
        .map((f) => [f.properties.cluster_id, f.properties.point_count])).values()]""")


def test_each_cluster_shows_its_count(page):
    assert page.locator("#map").get_attribute("data-mode") == "records"
    counts = clusters_in_view(page)
    assert counts and sum(counts) <= 45
    buttons = page.locator("button.map-count")
    assert sorted(int(t) for t in buttons.all_inner_texts()) == sorted(counts)
    first = buttons.first
    assert re.fullmatch(r"\d+ enregistrements : zoomer ou les lister", first.get_attribute("aria-label"))
    assert first.is_visible()
    colour, background = first.evaluate("b => [getComputedStyle(b).color, getComputedStyle(b).backgroundColor]")
    assert colour == "rgb(255, 255, 255)" and background == "rgb(11, 79, 156)"  # contrast 8:1
    if AXE.is_file():  # the count buttons pass axe-core too (names, contrast, nesting)
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("axe.run('#map', {resultTypes: ['violations']})")
        assert not [v["id"] for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert not page.js_errors


def pile_button(page):
    """The count button nearest the pile of records at one address."""
    index = page.evaluate("""([lon, lat]) => {
        const p = window.portailMap.project([lon, lat]), box = window.portailMap.getContainer().getBoundingClientRect();
        const distance = (b) => { const r = b.getBoundingClientRect();
            return Math.hypot(r.left + r.width / 2 - box.left - p.x, r.top + r.height / 2 - box.top - p.y); };
        const buttons = [...document.querySelectorAll('button.map-count')];
        if (!buttons.length) return -1;
        return buttons.indexOf(buttons.reduce((a, b) => distance(a) <= distance(b) ? a : b));
    }""", list(PILE))
    return None if index < 0 else page.locator("button.map-count").nth(index)


def test_clicks_on_clusters_end_on_records(page):
    for _ in range(8):  # each click zooms to where the cluster splits, until the pile is listed
        button = pile_button(page)
        if button is None:
            break
        button.click()
        settle(page)
        if page.locator(".maplibregl-popup").count():
            break
    popup = page.locator(".maplibregl-popup")
    assert popup.count() == 1, f"no record listed, at zoom {page.evaluate('window.portailMap.getZoom()')}"
    assert popup.locator("table").count() == PILE_SIZE  # every record of the pile, not the top one
    assert f"{PILE_SIZE} enregistrements ici" in popup.inner_text()
    assert sorted(re.findall(r"Pile \d+", popup.inner_text())) == sorted(f"Pile {i}" for i in range(PILE_SIZE))
    assert page.evaluate("window.portailMap.getZoom()") <= 15
    assert not page.js_errors


def test_a_small_cluster_lists_its_records(page):
    lyon = page.locator("button.map-count", has_text=re.compile(r"^3$"))
    lyon.click()
    popup = page.locator(".maplibregl-popup")
    expect(popup.locator("table")).to_have_count(3)
    assert "Lyon 2" in popup.inner_text()


def test_piled_points_past_the_last_clustered_zoom_are_all_listed(page):
    page.evaluate(f"void window.portailMap.jumpTo({{center: {list(PILE)}, zoom: 17}})")
    page.wait_for_selector("#map[data-state=ready]")
    settle(page)
    assert clusters_in_view(page) == [] and page.locator("button.map-count").count() == 0
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page.locator(".maplibregl-popup table")).to_have_count(PILE_SIZE)


def test_maplibre_speaks_french_and_popups_show_labels(page):
    assert page.locator(".maplibregl-ctrl-zoom-in").get_attribute("aria-label") == "Zoom avant"
    page.locator("button.map-count", has_text=re.compile(r"^3$")).click()
    popup = page.locator(".maplibregl-popup")
    expect(popup.locator("table")).to_have_count(3)
    assert popup.locator(".maplibregl-popup-close-button").get_attribute("aria-label") == "Fermer"
    assert "Nom du lieu" in popup.inner_text() and "nom\t" not in popup.inner_text()  # the label, not the name
    popup.locator(".maplibregl-popup-close-button").click()
    assert page.locator(".maplibregl-popup").count() == 0


def test_the_records_are_offered_to_the_keyboard(page):
    link = page.locator(".map-figure figcaption a")
    assert link.is_visible() and "/explore/dataset/lieux/table/" in link.get_attribute("href")
    assert "45" in link.inner_text()
    page.locator("button.map-count", has_text=re.compile(r"^3$")).focus()  # a cluster is a button: Enter opens it
    page.keyboard.press("Enter")
    expect(page.locator(".maplibregl-popup table")).to_have_count(3)
    page.locator(".maplibregl-popup-close-button").click()
    # on the map itself, Enter opens the records at its centre (the arrow keys move it there)
    page.evaluate(f"void window.portailMap.jumpTo({{center: {list(PILE)}, zoom: 17}})")
    page.wait_for_selector("#map[data-state=ready]")
    settle(page)
    page.locator("#map canvas").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".maplibregl-popup table")).to_have_count(PILE_SIZE)
    assert not page.js_errors
