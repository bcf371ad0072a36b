"""The map tab of the demo's 36,000 communes (the real reference file, a point per commune by the
demo's ``geopoint`` step) in a real headless Chromium, offline: the answers of a view one has left
no longer draw over the view one moved to (a whole-France grouping arriving late put France's
clusters over a zoomed-in commune), a burst of moves asks the API once, and the view is kept in
the page's URL (a reload or the back button reopened the map on all of France)."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.browser import MAP_SCALE, browser, settle, watched_page  # noqa: F401 (the fixture)
from tests.communes_map import AIN, DATA_CALLS, MAP, jump, server  # noqa: F401 (server: all the communes served, a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def page(browser, server):  # noqa: F811
    with watched_page(browser, reduced_motion="reduce", device_scale_factor=MAP_SCALE) as page:
        page.data_calls = []
        page.on("request", lambda r: page.data_calls.append(r.url) if any(c in r.url for c in DATA_CALLS) else None)
        page.goto(server + MAP)
        page.wait_for_selector("#map[data-state=ready]")
        settle(page)
        yield page


def test_whole_france_first_then_points_with_their_code_insee(page):
    assert page.locator("#map").get_attribute("data-mode") == "clusters"
    counts = [int(t.replace("\u202f", "")) for t in page.locator("button.map-count").all_inner_texts()]
    assert len(counts) >= 3 and sum(counts) > 36_000  # mainland France, clustered (the overseas communes one click away: test_browser_map_view)
    jump(page, (12, AIN))
    settle(page)
    assert page.locator("#map").get_attribute("data-mode") == "records"
    point = page.evaluate("""() => { const m = window.portailMap, f = m.queryRenderedFeatures({layers: ['points']})
        .find((f) => f.properties.insee_com === '01195'); return f && m.project(f.geometry.coordinates); }""")
    assert point, "Jasseron (01195) not drawn"
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    popup = page.locator(".maplibregl-popup").inner_text()
    assert "Code INSEE\t01195" in popup and "Jasseron" in popup  # the label, the leading zero kept
    assert not page.js_errors


def test_a_late_answer_does_not_draw_over_the_view_moved_to(page):
    # the whole-France grouping held back (a slow network, a busy server) until the next view is drawn
    held, ended = [], []
    for outcome in ("requestfinished", "requestfailed"):
        page.on(outcome, lambda request: ended.append(request))
    page.route(lambda url: "geo_cluster" in unquote(url), lambda route: held.append(route))
    jump(page, (2.2, (2.5, 46.6)))
    while not held:
        page.wait_for_timeout(50)
    jump(page, (12, AIN))  # a few communes, answered at once
    settle(page)
    assert page.locator("#map").get_attribute("data-mode") == "records"
    page.unroute_all(behavior="ignoreErrors")
    for route in held:  # the late answer arrives
        try:
            route.continue_()
        except PlaywrightError:  # the map had cancelled that call
            pass
    # until each late call has ended (the map cancelled it, or its answer came), then the page is still
    while not all(route.request in ended for route in held):
        page.wait_for_timeout(50)
    settle(page)
    assert page.locator("#map").get_attribute("data-mode") == "records"
    assert page.locator("#map-status").inner_text().endswith("enregistrements affichés")
    assert page.locator("button.map-count").count() == 0
    assert not page.js_errors


def test_a_burst_of_moves_asks_the_api_once(page):
    page.data_calls.clear()
    jump(page, (6, AIN), (7, AIN), (8, AIN), (9, AIN))
    settle(page)
    assert len(page.data_calls) == 2, page.data_calls  # the count in view, then its records or clusters
    assert all("in_bbox" in call for call in page.data_calls)


def test_the_view_is_kept_in_the_url_for_a_reload_and_the_back_button(page):
    jump(page, (9, AIN))
    settle(page)
    kept = parse_qs(urlsplit(page.url).query)["map.location"]
    assert kept == ["9,46.2,5.35"]
    assert "map.location=9%2C46.2%2C5.35" in page.locator("#switch-lang").get_attribute("href")  # in English too

    def view():
        page.wait_for_selector("#map[data-state=ready]")
        settle(page)
        return page.evaluate("() => { const m = window.portailMap, c = m.getCenter(); return [m.getZoom(), c.lng, c.lat]; }")

    page.reload()
    assert view() == pytest.approx([9, *AIN], abs=1e-4)
    page.locator("nav.tabs a", has_text="Tableau").click()
    page.wait_for_url("**/table/**")
    page.go_back()
    assert view() == pytest.approx([9, *AIN], abs=1e-4)
    assert not page.js_errors


def test_each_count_fits_in_its_button(page):
    """France's small clusters (Brittany's tip, Corsica: 306 and 478 communes at zoom 4) had
    22 px buttons, their three digits wider: the outer ones white on the light map."""
    widths = page.evaluate("""() => [...document.querySelectorAll('button.map-count')].map((b) => {
        const text = document.createRange(); text.selectNodeContents(b);
        return [b.textContent, text.getBoundingClientRect().width, b.clientWidth]; })""")
    assert any(len(label) == 3 for label, _, _ in widths), widths  # a small cluster among them
    assert all(text <= inner for _, text, inner in widths), widths
