"""The map tab's first view and its kept view, in a real headless Chromium, on the demo's 36,000
communes (the real reference file, a point per commune by the demo's ``geopoint`` step): the first
view is mainland France at a readable zoom (the extent of every record spanned the globe, France
one cluster of 36,056 at zoom 2), the overseas departments one click away; a city's records are
fitted as before, a spread over the globe too; a search typed after a reload fits what it finds
(the kept view was in every link); the other tabs' links keep the view; on a phone one finger
scrolls the page, two move the map."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser import MAP_SCALE, browser, settle, watched_page  # noqa: F401 (the fixture)
from tests.communes_map import AIN, MAP, OVERSEAS, inside, jump, opened, server, view  # noqa: F401 (server: a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PHONE = {"width": 390, "height": 844}
PLACES = {"Brest": (-4.49, 48.39), "Strasbourg": (7.75, 48.58), "Dunkerque": (2.38, 51.03),
          "Ajaccio": (8.7, 41.93), "Perpignan": (2.9, 42.7)}


@pytest.fixture
def page(browser, server):  # noqa: F811
    # reduced motion: MapLibre jumps where it would ease, and map.js drops its fades: what these
    # tests check is where a move ends (test_the_first_view_… keeps the eased move a visitor sees)
    with watched_page(browser, reduced_motion="reduce", device_scale_factor=MAP_SCALE) as page:
        yield page


@pytest.fixture
def animated(browser, server):  # noqa: F811
    """A page of a visitor who asks for no less motion: MapLibre eases each move, with its fades."""
    with watched_page(browser, reduced_motion="no-preference", device_scale_factor=MAP_SCALE) as page:
        yield page


def test_the_first_view_is_mainland_france_and_the_overseas_one_click_away(animated, server):  # noqa: F811
    """Animated (the one map test whose move MapLibre eases, as most visitors see it): the view
    of every record is read once the move has ended, its records in."""
    page = animated
    opened(page, server + MAP)
    first = view(page)
    assert first["zoom"] > 4, first  # was ~2: the globe
    assert all(inside(first, *place) for place in PLACES.values()), first
    assert not any(inside(first, *place) for place in OVERSEAS.values()), first
    assert page.locator("#map").get_attribute("data-mode") == "clusters"
    assert page.locator("#map-status").inner_text().startswith("36\u202f056 enregistrements")
    page.evaluate("""() => { const m = window.portailMap, frames = window.frames_per_move = [];
        m.on('movestart', () => frames.push(0)); m.on('move', () => { frames[frames.length - 1] += 1; }); }""")
    page.locator("#map-all", has_text="Voir tous les enregistrements").click()
    page.wait_for_function("() => window.portailMap.getZoom() < 3")
    settle(page)
    frames = page.evaluate("window.frames_per_move")
    assert len(frames) == 1 and frames[0] > 1, frames  # eased (a jump is one frame), as this test is for
    every = view(page)
    assert all(inside(every, *place) for place in [*PLACES.values(), *OVERSEAS.values()]), every
    assert page.locator("#map-status").inner_text().startswith("36\u202f204 enregistrements")
    assert page.locator("#map-unlocated").inner_text() == "4 enregistrements sans localisation"
    assert not page.js_errors


def test_a_citys_records_are_fitted_closely_and_a_spread_over_the_globe_wholly(page, server):  # noqa: F811
    opened(page, server + MAP + "?q=Bourg-en-Bresse")  # one commune: its point, no zoom-out
    assert view(page)["zoom"] == pytest.approx(15)  # fitBounds' maxZoom
    assert page.locator("#map-all").is_hidden()
    # Guadeloupe and La Réunion: two groups, each needed, so the first view holds both
    opened(page, server + MAP + "?q=insee_reg%3A01+OR+insee_reg%3A04")
    spread = view(page)
    assert all(inside(spread, *place) for place in OVERSEAS.values()), spread
    assert page.locator("#map-all").is_hidden()
    assert not page.js_errors


def test_a_search_after_a_reload_fits_what_it_finds_and_the_tabs_keep_the_view(page, server):  # noqa: F811
    opened(page, server + MAP + "?map.color=insee_dep")
    jump(page, (9, AIN))
    settle(page)
    # the other tabs' links have the view before any reload: the table, then the map tab again
    page.locator("nav.tabs a", has_text="Tableau").click()
    page.wait_for_url("**/table/**")
    page.locator("nav.tabs a", has_text="Carte").click()
    page.wait_for_selector("#map[data-state=ready]")
    settle(page)
    assert view(page)["zoom"] == pytest.approx(9, abs=1e-3)
    page.reload()  # the server writes the view in the page's links now
    page.wait_for_selector("#map[data-state=ready]")
    settle(page)
    page.fill("#dq", "Ajaccio")
    page.locator("form.search button").click()
    page.wait_for_url("**q=Ajaccio**")
    page.wait_for_selector("#map[data-state=ready]")
    settle(page)
    query = parse_qs(urlsplit(page.url).query)
    assert query["map.color"] == ["insee_dep"] and "map.location" not in query
    found = view(page)
    corsica = 8.5 < found["west"] < found["east"] < 9.6 and 41.3 < found["south"] < found["north"] < 43.1
    assert found["zoom"] > 10 and corsica, found  # fitted to Ajaccio, not Ain's view kept
    assert not page.js_errors


def one_finger_drag(page) -> None:
    """A finger drawn up the map's middle, as a touch screen gives it (Chrome DevTools' touch events)."""
    page.locator("#map").scroll_into_view_if_needed()
    box = page.locator("#map").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for step in range(1, 11):
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y - 15 * step}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_on_a_phone_one_finger_does_not_move_the_map_and_says_to_use_two(browser, server):  # noqa: F811
    context = browser.new_context(locale="fr-FR", viewport=PHONE, is_mobile=True, has_touch=True,
                                  reduced_motion="reduce", device_scale_factor=MAP_SCALE)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        opened(page, server + MAP)
        page.evaluate("""() => { window.blocked = 0;
            window.portailMap.on('cooperativegestureprevented', () => { window.blocked += 1; }); }""")
        page.locator("#map").scroll_into_view_if_needed()
        before = page.evaluate("() => [window.portailMap.getCenter().toArray(), scrollY]")
        one_finger_drag(page)
        # until the drag has done its work: the page scrolled, or (the bug) the map moved and is still
        page.wait_for_function("""([center, y]) => { const m = window.portailMap, c = m.getCenter();
            return scrollY !== y || (!m.isMoving() && (c.lng !== center[0] || c.lat !== center[1])); }""", arg=before)
        after = page.evaluate("() => [window.portailMap.getCenter().toArray(), scrollY]")
        assert after[0] == pytest.approx(before[0])  # the map stayed
        assert after[1] > before[1]  # the page scrolled down
        assert page.evaluate("() => window.blocked") > 0
        hint = page.locator(".maplibregl-mobile-message")
        assert hint.inner_text() == "Utilisez deux doigts pour déplacer la carte" and hint.is_visible()
        assert not errors
    finally:
        context.close()


def test_on_a_desktop_the_wheel_zooms_without_a_key(page, server):  # noqa: F811
    opened(page, server + MAP)
    assert not page.evaluate("() => window.portailMap.cooperativeGestures.isEnabled()")
    assert page.locator(".maplibregl-cooperative-gesture-screen").count() == 0
