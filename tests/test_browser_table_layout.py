"""The table's layout and focus, in a real headless Chromium against a real server process on
real files: on a phone the table's facets fold with CSS alone (a script folded them after the
parse) and a record's values fit beside their labels (each cut to its first letters, the table
wider than the screen); on a desktop the facets stay beside the table and column labels break
between words ("départe|ment"); the chart form leaves an empty ``chart.series=`` out of the URL;
a record's two regions are named apart (axe); every control shows one visible focus ring (a
yellow one was 1.6:1 on the white page)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser import AXE, browser, watched_page  # noqa: F401 - browser: the fixture
from tests.conftest import Published
from tests.live import serve_published

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PHONE = {"width": 375, "height": 667}
DESKTOP = {"width": 1280, "height": 900}  # watched_page's
TABLE = "/explore/dataset/senateurs/table/"
#: the record of DECP's extract whose buyer, place and holders are JSON, its labels long single words
CONTRACT = "2018000000000601"


@pytest.fixture(scope="module")
def server(tmp_path_factory, refdata):
    root = tmp_path_factory.mktemp("browser-table")
    with serve_published(root / "home",
                         Published("senateurs", refdata / "elus" / "rne_elus-senateurs-sen.csv", "Sénateurs"),
                         Published("decp", refdata / "decp" / "decp_2019_e-marchespublics.json", "Marchés",
                                   labels={"objet": "Objet", "datenotification": "Date de notification"})) as base:
        yield base


@pytest.fixture(scope="module")
def scripted(browser, server):  # noqa: F811 - the imported browser fixture
    """One page for the file's tests that run the page's scripts (a context each test cost
    ~0.5 s): the portal keeps nothing in the browser between pages (no cookie, no storage) and the
    language is in each address; ``page`` gives each test a clean one."""
    with watched_page(browser) as page:
        yield page


@pytest.fixture(scope="module")
def unscripted(browser, server):  # noqa: F811 - the imported browser fixture
    """One page of a browser running no script, for the file's tests of what the CSS alone does."""
    with watched_page(browser, java_script_enabled=False) as page:
        yield page


def fresh(tab):
    """``tab`` on a blank page (nothing of the last test's left running), at the desktop's size
    (a test may have made it a phone's), no script error yet."""
    tab.goto("about:blank")
    tab.set_viewport_size(DESKTOP)
    tab.js_errors.clear()
    return tab


@pytest.fixture
def page(scripted):
    return fresh(scripted)


@pytest.fixture
def scriptless(unscripted):
    """A page of a browser running no script: what the CSS alone does."""
    return fresh(unscripted)


def test_on_a_phone_the_tables_filters_fold_without_script(scriptless, server):
    """A script folded them after the parse: without it (or before it ran) a phone's first row
    came under every facet link; the catalogue folds its own with CSS alone."""
    scriptless.set_viewport_size(PHONE)
    scriptless.goto(server + TABLE + "?refine.code_sexe=F")
    summary = scriptless.locator(".filters-panel summary")
    assert summary.inner_text() == "Filtres (1)" and scriptless.locator(".facets").is_hidden()
    assert scriptless.locator("table.records tbody tr").first.bounding_box()["y"] < 2 * PHONE["height"]
    expect(scriptless.locator(".active-filters .tag")).to_have_text("Code sexe = F")  # the filter chosen, shown
    summary.focus()  # the facets a keyboard press away
    scriptless.keyboard.press("Enter")
    expect(scriptless.locator("#tf-code_sexe")).to_be_visible()
    assert scriptless.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_on_a_desktop_the_tables_facets_stay_beside_it(scriptless, server):
    scriptless.goto(server + TABLE)
    assert scriptless.locator(".filters-panel summary").is_hidden()  # no disclosure: the facets as they were
    facet, table = scriptless.locator(".facets a").first, scriptless.locator("#records-table")
    expect(facet).to_be_visible()
    assert facet.bounding_box()["x"] + facet.bounding_box()["width"] < table.bounding_box()["x"]
    facet.click()
    scriptless.wait_for_url("**refine.**")
    expect(scriptless.locator(".facets a[aria-current]").first).to_be_visible()


def test_the_chart_form_leaves_empty_settings_out_of_the_url(page, server):
    """"Séries : Aucune" sent ``chart.series=``: an empty parameter in every chart's link."""
    page.goto(server + "/explore/dataset/senateurs/analyze/?refine.code_sexe=F")
    page.select_option("#c-type", "bar")
    page.click("#chart-form button[type=submit]")
    page.wait_for_url("**chart.type=bar**")
    pairs = parse_qsl(urlsplit(page.url).query, keep_blank_values=True)
    assert [k for k, v in pairs if v == ""] == [] and ("refine.code_sexe", "F") in pairs
    page.wait_for_selector("#chart[data-state=ready]")
    page.select_option("#c-series", "code_sexe")  # a series chosen is sent
    page.click("#chart-form button[type=submit]")
    page.wait_for_url("**chart.series=code_sexe**")
    assert not page.js_errors


#: For each word of each element (a hyphen ends one: a line may break after it), how many lines it lies on.
WORD_LINES = """(elements) => elements.flatMap((el) => {
  const node = el.firstChild, words = [], range = document.createRange();
  for (const m of node.textContent.matchAll(/[^\\s-]+/g)) {
    range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
    words.push([m[0], new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size]);
  }
  return words;
})"""


def test_a_desktop_tables_column_labels_break_between_words(page, server):
    page.goto(server + TABLE)
    words = page.locator("table.records thead th a").evaluate_all(WORD_LINES)
    assert "département" in [w for w, _ in words]
    assert [w for w, lines in words if lines > 1] == []  # "Code du départe|ment", "collectiv|ité"
    assert not page.js_errors


def test_on_a_phone_a_records_values_fit_beside_their_labels(page, server):
    page.set_viewport_size(PHONE)
    page.goto(server + f"/explore/dataset/decp/table/?q={CONTRACT}")
    page.locator("table.records tbody tr a").first.click()
    page.wait_for_url("**record=**")
    detail = page.locator(".record .table-wrap")
    assert detail.evaluate("(el) => el.scrollWidth <= el.clientWidth"), "the record scrolls sideways"
    value = page.locator(".record tr", has_text="Objet").locator("td")
    box, wrap = value.bounding_box(), detail.bounding_box()
    assert box["x"] + box["width"] <= wrap["x"] + wrap["width"] and box["width"] > 100  # read whole, not cut
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert not page.js_errors


def test_a_records_regions_are_named_apart(page, server):
    """The record's section and its table's scrolling region were both "Enregistrement": two
    landmarks of one name, which a screen reader's list of regions cannot tell apart (axe)."""
    for lang in ("fr", "en"):
        page.goto(server + f"/explore/dataset/decp/table/?q={CONTRACT}&lang={lang}")
        page.locator("table.records tbody tr a").first.click()
        page.wait_for_url("**record=**")  # a page of its own, loaded
        page.add_script_tag(path=str(AXE))  # into this page only: the file's next tests share it
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        assert [v["id"] for v in result["violations"]] == []
    assert not page.js_errors


#: The focused element's ring: its outline's and its box-shadow's colours and the page's white behind.
RING = """() => { const s = getComputedStyle(document.activeElement);
  return {tag: document.activeElement.tagName, outline: s.outlineStyle + " " + s.outlineColor, shadow: s.boxShadow}; }"""


def test_every_control_shows_one_visible_focus_ring(page, server):
    """Links, buttons and fields had a yellow ring, 1.6:1 on the white page (WCAG 1.4.11 asks
    3:1); selects, disclosures and scrolling regions the browser's own. Each now has the yellow
    ring around a dark one (17:1 on white)."""
    page.goto(server + "/explore/dataset/senateurs/analyze/")
    seen = {}
    for _ in range(40):
        page.keyboard.press("Tab")
        ring = page.evaluate(RING)
        seen.setdefault(ring["tag"], ring)
    assert {"A", "SELECT", "BUTTON", "INPUT"} <= seen.keys()
    page.goto(server + TABLE)
    page.locator(".column-chooser summary").focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")  # by keyboard: :focus-visible
    seen["SUMMARY"] = page.evaluate(RING)
    for tag, ring in seen.items():
        if tag == "BODY":
            continue
        assert ring["outline"] == "solid rgb(255, 191, 71)", (tag, ring)
        assert ring["shadow"].startswith("rgb(26, 26, 46) 0px 0px 0px 2px"), (tag, ring)
    assert not page.js_errors
