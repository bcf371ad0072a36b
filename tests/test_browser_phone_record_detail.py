"""Pages on a phone and the record detail, in a real headless Chromium (Debian's, driven by
Playwright, as ``tests/test_browser.py``): the export tab and a record fit the screen (wider than
it), and a record's detail opens scrolled to and focused on it, not 2,600 px below under the
facets, "Fermer" going back to its row."""

from __future__ import annotations

import pytest

from tests.browser import PHONE, browser, phone  # noqa: F401 - the browser and a phone's page, as fixtures
from tests.conftest import Published
from tests.live import serve_published

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory, refdata):
    tmp = tmp_path_factory.mktemp("browser-phone-record")
    # the first 60 programmes: their long geometries and the French export headers are what overflowed
    lines = (refdata / "logement" / "logements-sociaux-finances-a-paris.csv").read_text(encoding="utf-8-sig").splitlines()
    programmes = tmp / "logements.csv"
    programmes.write_text("\n".join(lines[:61]) + "\n", encoding="utf-8")
    with serve_published(tmp / "home", Published("logements", programmes, "Logements sociaux financés à Paris",
                                                 metadata={"themes": ["Logement"]})) as base:
        yield base


def test_on_a_phone_pages_fit_and_detail_lands_on_the_record(phone, server):
    table = server + "/explore/dataset/logements/table/"
    phone.goto(server + "/explore/dataset/logements/export/?refine.bs=RIVP")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "the export tab scrolls sideways"
    phone.goto(table + "?page=2")
    row = phone.locator("table.records tbody tr").nth(3).locator("a")
    row_id = row.get_attribute("id")
    row.click()
    phone.wait_for_url("**record=**")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "the record scrolls sideways"
    top = phone.evaluate("document.getElementById('record-title').getBoundingClientRect().top")
    # scrolled down to it (past the table's rows, the facets folded on a phone), and in view
    assert phone.evaluate("scrollY") > 0 and 0 <= top < PHONE["height"]
    assert phone.evaluate("document.activeElement.id") == "record-title"
    phone.click(".record >> text=Fermer")
    phone.wait_for_url(f"**#{row_id}")
    assert phone.evaluate("document.activeElement.id") == row_id  # back on the row it came from
