"""The chart and the map in a real headless Chromium, against a real server process: dates and
yes/no values written as the table writes them (a chart of dates by month or by day named its
bars in ISO text, ``2018-03-12``, on a French page whose table writes ``12 mars 2018``), the
map's colour kept in the URL through a reload, the back button and a search (a reload lost it),
a search typed under a chart keeping the chart (drawn again from its defaults), a failed request
named an error in the page's language, and the console's "Copied" meaning the URL shown."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import MAP_SCALE, browser, map_popup, watched_page  # noqa: F401 - browser: the fixture
from tests.conftest import Published
from tests.live import serve_published

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ANALYZE = "/explore/dataset/marches/analyze/"
MAP = "/explore/dataset/marches/map/"


def marches_csv() -> str:
    """Contracts notified on a few days, one on the first of a month, each with a place."""
    rows = ["nom;notification;montant;ville;reconduit;geo_point_2d"]
    days = ["2018-03-12", "2018-03-12", "2018-06-01", "2019-01-10"]
    rows += [f"Marché {i};{day};{1000 * (i + 1)};{'Paris' if i % 2 else 'Lyon'};{'true' if i % 2 else 'false'};"
             f"{48.85 + i / 100}, {2.35 + i / 100}" for i, day in enumerate(days)]
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser-chart-map")
    (root / "marches.csv").write_text(marches_csv(), encoding="utf-8")
    with serve_published(root / "home", Published("marches", root / "marches.csv", "Marchés",
                                                  labels={"notification": "Date de notification"})) as base:
        yield base


@pytest.fixture(scope="module")
def tab(browser, server):  # noqa: F811 - the imported browser fixture
    """One page for the whole file (a context each test cost ~0.5 s): the portal keeps nothing in
    the browser between pages (no cookie, no storage: the map's colour lives in the address) and
    the language is in each address; ``page`` gives each test a clean one."""
    with watched_page(browser, reduced_motion="reduce", device_scale_factor=MAP_SCALE) as page:
        yield page


@pytest.fixture
def page(tab):
    """``tab`` on a blank page (nothing of the last test's left running), answered by the real
    server again (a test's ``route`` undone), no permission granted, no script error yet."""
    tab.unroute_all(behavior="wait")
    tab.context.clear_permissions()
    tab.goto("about:blank")
    tab.js_errors.clear()
    return tab


def chart_xs(page, server, query: str) -> list[str]:
    page.goto(server + ANALYZE + query)
    page.wait_for_selector("#chart[data-state=ready]")
    return page.locator("#chart-table tbody tr td:first-child").all_text_contents()


def test_a_chart_of_dates_names_its_days_and_months_as_the_table_writes_dates(page, server):
    day = "?chart.x=notification&chart.bucket=day"
    assert chart_xs(page, server, day) == ["12 mars 2018", "1er juin 2018", "10 janvier 2019"]
    assert chart_xs(page, server, day + "&lang=en") == ["March 12, 2018", "June 1, 2018", "January 10, 2019"]
    month = "?chart.x=notification&chart.bucket=month"
    assert chart_xs(page, server, month) == ["mars 2018", "juin 2018", "janvier 2019"]
    assert chart_xs(page, server, month + "&lang=en") == ["March 2018", "June 2018", "January 2019"]
    assert chart_xs(page, server, "?chart.x=notification&chart.bucket=year") == ["2018", "2019"]  # a number, as before
    assert not page.js_errors


def test_the_maps_colour_stays_through_a_reload_and_the_back_button(page, server):
    page.goto(server + MAP + "?q=March%C3%A9")
    page.wait_for_selector("#map[data-state=ready]")
    page.select_option("#color-by", "ville")
    assert "map.color=ville" in page.url and "q=March%C3%A9" in page.url  # the filters stay beside it
    page.reload()
    page.wait_for_selector("#map[data-state=ready]")
    assert page.locator("#color-by").input_value() == "ville"
    assert "Lyon" in page.locator("#map-legend").inner_text()  # drawn in the colours it names
    page.goto(server + "/explore/dataset/marches/table/")
    page.go_back()
    page.wait_for_selector("#map[data-state=ready]")
    assert page.locator("#color-by").input_value() == "ville" and "Paris" in page.locator("#map-legend").inner_text()
    page.select_option("#color-by", "")
    assert "map.color" not in page.url and page.locator("#map-legend").inner_text() == ""
    assert not page.js_errors


def test_a_search_typed_on_the_map_or_the_other_language_keeps_its_colour(page, server):
    page.goto(server + MAP)
    page.wait_for_selector("#map[data-state=ready]")
    page.select_option("#color-by", "ville")
    assert "map.color=ville" in page.locator("#switch-lang").get_attribute("href")
    page.fill("#dq", "Paris")
    page.press("#dq", "Enter")
    page.wait_for_selector("#map[data-state=ready]")
    assert "q=Paris" in page.url and "map.color=ville" in page.url
    assert page.locator("#color-by").input_value() == "ville"
    page.select_option("#color-by", "")  # none chosen: none sent, not an empty map.color=
    page.fill("#dq", "Lyon")
    page.press("#dq", "Enter")
    page.wait_for_selector("#map[data-state=ready]")
    assert "q=Lyon" in page.url and "map.color" not in page.url
    assert not page.js_errors


def test_a_search_typed_under_a_chart_keeps_the_chart(page, server):
    page.goto(server + ANALYZE + "?chart.type=pie&chart.x=ville")
    page.wait_for_selector("#chart[data-state=ready]")
    page.fill("#dq", "Paris")
    page.press("#dq", "Enter")
    page.wait_for_selector("#chart[data-state=ready]")
    assert page.locator("#c-type").input_value() == "pie" and page.locator("#c-x").input_value() == "ville"
    assert page.locator("#chart-table tbody tr td:first-child").all_text_contents() == ["Paris"]
    page.select_option("#c-type", "bar")  # and the chart form still draws what it says
    page.click("#chart-form button[type=submit]")
    page.wait_for_selector("#chart[data-state=ready]")
    assert page.locator("#c-type").input_value() == "bar" and "q=Paris" in page.url
    assert page.url.count("chart.type=") == 1 and page.url.count("chart.x=") == 1  # each setting once
    assert not page.js_errors


def test_a_failed_request_is_named_an_error_in_the_pages_language(page, server):
    """English writes no space before its colon ("Error : boom" read as a French page's), and
    the map showed the bare message, in no language, as its status."""
    page.route("**/api/explore/v2.1/**", lambda route: route.fulfill(status=400, json={"message": "boom"}))
    for lang, said in (("en", "Error: boom"), ("fr", "Erreur : boom")):
        page.goto(server + ANALYZE + f"?lang={lang}")
        page.wait_for_selector("#chart[data-state=error]")
        assert page.locator("#chart-status").text_content() == said
        page.goto(server + MAP + f"?lang={lang}")
        page.wait_for_selector("#map[data-state=error]")
        assert page.locator("#map-status").text_content() == said
    page.route("**/api/explore/v2.1/**", lambda route: route.abort())  # the network down: fetch throws
    page.goto(server + "/explore/dataset/marches/api/?lang=en")
    page.click("#console button[type=submit]")
    expect(page.locator("#a-response")).to_have_text(re.compile(r"^Error: \S"))


def test_a_maps_popup_and_legend_write_dates_and_yes_or_no_as_the_table(page, server):
    shown = map_popup(page, server, MAP, "?refine.nom=March%C3%A9+2")
    assert shown["Date de notification"] == "1er juin 2018" and shown["reconduit"] == "Non"
    shown = map_popup(page, server, MAP, "?refine.nom=March%C3%A9+3&lang=en")
    assert shown["Date de notification"] == "January 10, 2019" and shown["reconduit"] == "Yes"
    page.goto(server + MAP + "?map.color=reconduit")
    page.wait_for_selector("#map[data-state=ready]")
    assert set(page.locator("#map-legend li").all_inner_texts()) == {"Oui", "Non", "Autres valeurs"}
    assert not page.js_errors


def test_the_consoles_copied_is_of_the_url_copied(page, server):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    page.goto(server + "/explore/dataset/marches/api/")
    label = page.locator("#a-copy").inner_text()
    page.click("#a-copy")
    expect(page.locator("#a-copy")).not_to_have_text(label)  # "Copié"
    page.fill("#a-limit", "3")  # another URL: not copied yet
    expect(page.locator("#a-copy")).to_have_text(label)
    assert not page.js_errors
