"""The table's column chooser in a real headless Chromium against a real server process
(``tests/live.py``): untick a column, see it gone and the choice in the URL, reload and keep
it, with no serious axe-core violation on the page (chooser open)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import Published
from tests.live import serve_published
from tests.browser import AXE, browser, page  # noqa: F401 - the browser and its French page, as fixtures

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory, refdata):
    with serve_published(tmp_path_factory.mktemp("browser-columns") / "home", Published(
            "senateurs", refdata / "elus" / "rne_elus-senateurs-sen.csv", "Sénateurs",
            metadata={"themes": ["Administration"]}, labels={"date_de_naissance": "Date de naissance"})) as base:
        yield base


def test_untick_a_column_and_keep_the_choice_in_the_url(page, server):
    page.goto(server + "/explore/dataset/senateurs/table/")
    headers = page.locator("table.records thead th")
    before = headers.all_inner_texts()
    assert "Date de naissance" in [h.strip() for h in before]

    page.click("details.column-chooser summary")
    page.get_by_role("checkbox", name="Date de naissance").uncheck()
    page.get_by_role("button", name="Appliquer").click()
    page.wait_for_url("**fields=**")
    after = [h.strip() for h in headers.all_inner_texts()]
    assert "Date de naissance" not in after and len(after) == len(before) - 1
    chosen = parse_qs(urlsplit(page.url).query)["fields"]
    assert "date_de_naissance" not in chosen and len(chosen) == len(before) - 2  # less the detail column
    cells = page.locator("table.records tbody tr").first.locator("td")
    assert cells.count() == len(after)

    page.reload()
    assert [h.strip() for h in headers.all_inner_texts()] == after
    page.click("details.column-chooser summary")
    assert not page.get_by_role("checkbox", name="Date de naissance").is_checked()
    export = page.locator("nav.tabs a", has_text="Export").get_attribute("href")
    assert parse_qs(urlsplit(export).query)["fields"] == chosen  # the other tabs keep the choice

    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    serious = [f"{v['id']}: {v['help']} e.g. {v['nodes'][0]['html'][:120]}"
               for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert not serious, json.dumps(serious, indent=1, ensure_ascii=False)
    assert not page.js_errors
