"""A table page on a phone and the chart's numbers, in a real headless Chromium (Debian's, driven
by Playwright, as ``tests/test_browser.py``): on a phone the table comes first (its facets were
three screens above the first row) and long field names fit the screen; the chart writes its
numbers as the page (English on a French page) and offers no numeric field for a count, where it
does nothing."""

from __future__ import annotations

import pytest

from tests.conftest import Published
from tests.live import serve_published
from tests.browser import PHONE, browser, page, phone  # noqa: F401 - the browser, its French page and a phone's, as fixtures

pytestmark = [pytest.mark.browser, pytest.mark.slow]
LONG = "activitePrincipaleRegistreMetiersEtablissement"  # a SIRENE column: one word, 46 letters


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser-phone-table")
    rows = [f"{2000 + i % 25}-0{1 + i % 9}-1{i % 10};{'ABCDE'[i % 5]}{i % 7};{1000 * (i % 13)}" for i in range(200)]
    data = tmp / "etablissements.csv"
    data.write_text(f"date_creation;{LONG};effectif\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with serve_published(tmp / "home", Published("etablissements", data, "Établissements",
                                                 metadata={"themes": ["Économie"]})) as base:
        yield base


def test_on_a_phone_the_table_comes_first_and_fits(phone, server):
    phone.goto(server + "/explore/dataset/etablissements/table/")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "the page scrolls sideways"
    first = phone.evaluate("document.querySelector('table.records tbody tr').getBoundingClientRect().top")
    assert first < 2 * PHONE["height"], f"the first row is {first} px down"
    panel = phone.locator("details.filters-panel")
    assert not panel.get_attribute("open") and panel.locator("summary").inner_text().startswith("Filtres")
    panel.locator("summary").click()  # one press shows them
    phone.click(".column-chooser summary")
    assert phone.locator(f"#tf-{LONG.lower()}").is_visible()
    # (a phone's layout viewport widens to the widest line: innerWidth would grow with it)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "a long name runs off the screen"
    phone.goto(server + f"/explore/dataset/etablissements/analyze/?chart.x={LONG}")  # its name in the axis selects
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "a select runs off the screen"


def test_the_chart_writes_numbers_as_the_page_and_offers_no_field_for_a_count(page, server):
    page.goto(server + "/explore/dataset/etablissements/analyze/?chart.x=date_creation&chart.y=sum&chart.yfield=effectif")
    page.wait_for_selector("#chart[data-state=ready]")
    # the SVG download is the chart as drawn: its axis labels, in French
    svg = page.evaluate("""() => { const href = document.getElementById("dl-svg").href;
        const data = href.slice(href.indexOf(",") + 1);
        return href.includes(";base64,") ? atob(data) : decodeURIComponent(data); }""")
    assert "\u202f000<" in svg and ",000<" not in svg, "the Y axis is written in English"
    tip = "echarts.getInstanceByDom(document.getElementById('chart')).getOption().tooltip[0].valueFormatter"
    # as the table's cells: French typography groups from five digits (numbers.js)
    assert page.evaluate(f"{tip}(60000)") == "60\u202f000" and page.evaluate(f"{tip}(6000)") == "6000"
    assert page.locator("#c-yfield").is_visible()
    page.select_option("#c-y", "count")
    assert page.locator("#c-yfield").is_hidden() and page.locator("#c-yfield").is_disabled()
    page.select_option("#c-y", "avg")
    assert page.locator("#c-yfield").is_enabled() and page.locator("#c-yfield").input_value() == "effectif"
