"""The chart and the API console in a real headless Chromium (Debian's, driven by Playwright)
against a real server process: what a browser sweep found wrong there. Back to the console, its
URL and snippets follow the fields the browser refills; the chart keeps the page's own
accessible label; a pie ignores the series; the chart's CSV names its columns as its table; an
empty chart says so; the facets endpoint's example asks for facets."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import Published, logements_file
from tests.live import serve_published
from tests.browser import browser, page  # noqa: F401 - the browser and its French page, as fixtures

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ANALYZE = "/explore/dataset/logements/analyze/"


#: The programmes kept: the file's first 500 (of 4,174) span its 24 years and hold 103 of RIVP's,
#: all that the charts and the console here ask of them (no test here counts the whole file).
PROGRAMMES = 500


@pytest.fixture(scope="module")
def server(tmp_path_factory, refdata):
    tmp = tmp_path_factory.mktemp("charts-console")
    lines = logements_file(refdata).read_text(encoding="utf-8-sig").splitlines()
    programmes = tmp / "logements.csv"
    programmes.write_text("\n".join(lines[:PROGRAMMES + 1]) + "\n", encoding="utf-8")
    with serve_published(tmp / "home", Published(
            "logements", programmes, "Logements sociaux financés à Paris",
            metadata={"themes": ["Logement"]}, labels={"annee": "Année", "bs": "Bailleur social"})) as base:
        yield base


def test_back_to_the_console_its_url_and_snippets_follow_the_refilled_fields(page, server):
    page.goto(server + "/explore/dataset/logements/api/?refine.bs=RIVP")
    page.fill("#a-select", "annee")
    page.fill("#a-limit", "5")
    page.goto(server + "/explore/dataset/logements/table/?refine.bs=RIVP")
    page.go_back()
    assert page.locator("#a-select").input_value() == "annee" and page.locator("#a-limit").input_value() == "5"
    url = page.locator("#a-url").input_value()
    assert parse_qs(urlsplit(url).query)["select"] == ["annee"] and parse_qs(urlsplit(url).query)["limit"] == ["5"]
    assert f"'{url}'" in page.locator("#a-curl").inner_text() and url in page.locator("#a-python").inner_text()
    page.click("#a-copy")
    assert page.evaluate("navigator.clipboard.readText()") == url
    assert not page.js_errors


def test_the_console_asks_the_facets_endpoint_for_the_tables_facets(page, server):
    page.goto(server + "/explore/dataset/logements/api/")
    page.select_option("#a-endpoint", "/facets")
    url = page.locator("#a-url").input_value()
    assert "bs" in parse_qs(urlsplit(url).query)["facet"]
    facets = page.request.get(url).json()["facets"]
    assert "RIVP" in {v["name"] for f in facets if f["name"] == "bs" for v in f["facets"]}


def test_the_chart_keeps_the_pages_own_label(page, server):
    for query, label in (("?chart.type=column", "Graphique : Colonnes"), ("?chart.type=pie&lang=en", "Chart: Pie")):
        page.goto(server + ANALYZE + query)
        page.wait_for_selector("#chart[data-state=ready]")
        assert page.locator("#chart").get_attribute("aria-label") == label


def test_a_pie_has_no_series_and_one_slice_per_x(page, server):
    page.goto(server + ANALYZE + "?chart.type=pie&chart.x=annee&chart.y=sum&chart.yfield=nb_plai&chart.series=bs")
    page.wait_for_selector("#chart[data-state=ready]")
    assert page.locator("#c-series").is_disabled()
    years = page.locator("#chart-table tbody tr td:first-child").all_text_contents()
    assert len(years) == len(set(years)) > 10
    assert page.locator("#chart-table thead th").all_text_contents() == ["Année", "Somme nb_plai"]
    page.select_option("#c-type", "column")
    assert page.locator("#c-series").is_enabled()


def test_the_charts_csv_names_its_columns_as_its_table(page, server):
    page.goto(server + ANALYZE + "?chart.type=column&chart.x=annee&chart.y=sum&chart.yfield=nb_plai&chart.series=bs")
    page.wait_for_selector("#chart[data-state=ready]")
    headers = page.locator("#chart-table thead th").all_text_contents()
    assert headers[:2] == ["Année", "Bailleur social"]
    csv_text = page.request.get(server + page.locator("#dl-csv").get_attribute("href")).text().lstrip("\ufeff")
    assert csv_text.splitlines()[0].split(";") == headers
    assert len(csv_text.strip().splitlines()) == page.locator("#chart-table tbody tr").count() + 1


def test_an_empty_chart_says_so(page, server):
    for query, message in (("?q=zzzzz", "Aucune donnée à représenter"), ("?refine.bs=NOPE&lang=en", "No data to chart")):
        page.goto(server + ANALYZE + query)
        page.wait_for_function("document.getElementById('chart').dataset.state === 'empty'")
        assert page.locator("#chart").is_hidden()  # the message takes its place
        status = page.locator("#chart-status")
        assert status.inner_text() == message and status.get_attribute("role") == "status"
    assert not page.js_errors
