"""The portal in a real headless Chromium (Debian's, driven by Playwright) against a real
server process (``tests/live.py``): search the catalogue and open a dataset, refine by a facet
and see the table, the map and the export links follow, build a chart, copy an API URL from
the console and fetch it, switch language, move by keyboard, and check every page with
axe-core (from npm). Screenshots land in test-output/screenshots for a reviewer."""

from __future__ import annotations

import csv
import io
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from portail.auth import services as auth
from portail.catalog import services
from portail.operations import load_file
from tests.browser import AXE, SHOTS, browser, page, watched_page  # noqa: F401 - browser, page: fixtures
from tests.conftest import fast_passwords
from tests.live import live_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "Correct-horse-42"


@pytest.fixture(scope="module")
def server(tmp_path_factory, refdata):
    from tests.conftest import make_instance

    home = tmp_path_factory.mktemp("browser") / "home"
    instance = make_instance(home)
    with instance.session() as s:
        services.create_dataset(s, "logements", "Logements sociaux financés à Paris", themes=["Logement"],
                                description="Programmes de logements sociaux **financés** depuis 2001.",
                                license="ODbL", publisher="Ville de Paris")
        services.create_dataset(s, "senateurs", "Sénateurs", themes=["Administration"], license="Licence Ouverte")
        services.create_dataset(s, "departements", "Départements", themes=["Administration"], portals=["public", "internal"])
        # labels the publisher gave: the map's popups and the chart's table show them
        services.set_field_override(s, services.get_dataset(s, "logements"), "bs", label="Bailleur social")
        services.set_field_override(s, services.get_dataset(s, "senateurs"), "date_de_naissance",
                                    label="Date de naissance")
    load_file(instance, "logements", refdata / "logement" / "logements-sociaux-finances-a-paris.csv", publish=True)
    load_file(instance, "senateurs", refdata / "elus" / "rne_elus-senateurs-sen.csv", publish=True)
    load_file(instance, "departements", refdata / "geo" / "departements-version-simplifiee.geojson", publish=True)
    with fast_passwords(), instance.session() as s:  # a reader, for the signed-in header (the server speaks plain HTTP)
        auth.create_user(s, "lectrice", password=PASSWORD)
    instance.store.close()
    # Past 500 records in view the map clusters on the server: both ways get exercised here.
    with live_server(home, env={"PORTAIL_MAP_DETAIL_RECORDS": "500", "PORTAIL_SESSION_COOKIE_SECURE": "false"}) as base:
        yield base


def count_in(text: str) -> int:
    return int(re.search(r"([\d\u202f\u00a0 ]+)", text).group(1).replace(" ", "").replace("\u202f", "").replace("\u00a0", ""))


def test_search_open_and_page_through_a_dataset(page, server):
    page.goto(server + "/")
    page.screenshot(path=str(SHOTS / "home.png"), full_page=True)
    page.fill("input[name=q]", "paris")
    page.click("button[type=submit]")
    page.wait_for_url("**/explore/**")
    assert page.locator(".results li").count() == 1
    page.screenshot(path=str(SHOTS / "catalogue.png"), full_page=True)
    page.click("text=Logements sociaux financés à Paris")
    page.wait_for_url("**/explore/dataset/logements/information/**")
    assert page.locator("table.schema tbody tr").count() == 19
    page.screenshot(path=str(SHOTS / "dataset-information.png"), full_page=True)
    page.click("nav.tabs >> text=Tableau")
    page.wait_for_url("**/table/**")
    assert page.locator("table.records tbody tr").count() == 25
    page.click(".pager >> text=Suivant")
    assert "page=2" in page.url and page.locator(".pager span").inner_text() == "Page 2 sur 167"
    page.locator("table.records tbody tr").first.locator("a").click()  # the record detail view
    assert page.locator("#record-title").is_visible() and "record=" in page.url
    page.click(".record >> text=Fermer")
    page.click("nav.tabs >> text=Export")
    href = page.locator("a.whole", has_text="CSV").get_attribute("href")
    response = page.request.get(server + href)
    assert response.status == 200
    assert len(list(csv.reader(io.StringIO(response.text().lstrip("\ufeff")), delimiter=";"))) == 4175
    assert not page.js_errors


def test_refine_by_a_facet_follows_in_table_map_and_export(page, server):
    page.goto(server + "/explore/dataset/logements/table/")
    before = count_in(page.locator("#records-count").inner_text())
    page.locator("#tf-bs ~ ul a", has_text="RIVP").first.click()
    page.wait_for_url("**refine.bs=RIVP**")
    after = count_in(page.locator("#records-count").inner_text())
    assert before == 4174 and after == 783
    assert all(t.strip() == "RIVP" for t in page.locator("table.records tbody tr td:nth-child(7)").all_inner_texts())
    page.screenshot(path=str(SHOTS / "dataset-table.png"), full_page=True)

    page.click("nav.tabs >> text=Carte")
    page.wait_for_url("**/map/?**refine.bs=RIVP**")
    page.wait_for_selector("#map[data-state=ready]")
    status = page.locator("#map-status").inner_text()
    assert count_in(status) == 783 and page.locator("#map").get_attribute("data-mode") == "clusters", status
    clusters = page.evaluate("window.portailMap.getSource('server').serialize().data.features.map(f => f.properties.n)")
    assert 1 < len(clusters) < 783 and sum(clusters) == 783  # every filtered record, in server-side clusters
    page.screenshot(path=str(SHOTS / "dataset-map.png"))
    page.evaluate("void window.portailMap.jumpTo({center: [2.38, 48.865], zoom: 15})")  # fewer than 500 in view
    page.wait_for_selector("#map[data-mode=records][data-state=ready]")
    assert 0 < count_in(page.locator("#map-status").inner_text()) < 500
    page.select_option("#color-by", "mode_real")
    assert page.evaluate("window.portailMap.getPaintProperty('points', 'circle-color')[0]") == "match"
    # a click on a record opens its popup
    x, y = page.evaluate("""() => {
        const map = window.portailMap, box = map.getCanvas().getBoundingClientRect(), c = map.project(map.getCenter());
        const points = map.getSource('records').serialize().data.features.map(f => map.project(f.geometry.coordinates));
        points.sort((a, b) => Math.hypot(a.x - c.x, a.y - c.y) - Math.hypot(b.x - c.x, b.y - c.y));
        return [box.left + points[0].x, box.top + points[0].y];
    }""")
    page.mouse.click(x, y)
    popup = page.wait_for_selector(".maplibregl-popup")
    assert "id_livraison" in popup.inner_text() and "RIVP" in popup.inner_text()
    assert "Bailleur social" in popup.inner_text()  # the field's label, not its name
    page.screenshot(path=str(SHOTS / "dataset-map-records.png"))

    page.click("nav.tabs >> text=Export")
    link = page.locator("a.filtered", has_text="GEOJSON").get_attribute("href")
    assert parse_qs(urlsplit(link).query)["refine"] == ["bs:RIVP"]
    geojson = page.request.get(server + link).json()
    assert len(geojson["features"]) == 783
    page.screenshot(path=str(SHOTS / "dataset-export.png"), full_page=True)
    assert not page.js_errors


def test_shapes_on_the_map_without_a_basemap(page, server):
    page.goto(server + "/explore/dataset/departements/map/")
    page.wait_for_selector("#map[data-state=ready]")
    assert count_in(page.locator("#map-status").inner_text()) == 96
    zoom = page.evaluate("window.portailMap.getZoom()")
    assert 3 < zoom < 8  # fitted to metropolitan France's extent
    page.screenshot(path=str(SHOTS / "dataset-map-shapes.png"))
    assert not page.js_errors


def test_build_a_chart(page, server):
    page.goto(server + "/explore/dataset/senateurs/analyze/")
    page.select_option("#c-type", "line")
    page.select_option("#c-x", "date_de_naissance")
    page.select_option("#c-bucket", "year")
    page.click("#chart-form button[type=submit]")
    page.wait_for_url("**chart.type=line**")
    page.wait_for_selector("#chart[data-state=ready]")
    assert page.locator("#chart canvas").count() >= 1
    rows = page.locator("#chart-table tbody tr").count()
    years = {int(t) for t in page.locator("#chart-table tbody tr td:first-child").all_text_contents()}
    assert rows == len(years) > 20 and min(years) > 1920
    assert page.locator("#chart-table thead th").first.text_content() == "Date de naissance"  # its label
    total = sum(count_in(t) for t in page.locator("#chart-table tbody tr td:last-child").all_text_contents())
    assert total == 348
    assert page.locator("#dl-png").get_attribute("href").startswith("data:image/png")
    assert page.locator("#dl-svg").get_attribute("href").startswith("data:image/svg")
    csv_text = page.request.get(server + page.locator("#dl-csv").get_attribute("href")).text().lstrip("\ufeff")
    assert len(csv_text.strip().splitlines()) == rows + 1
    page.screenshot(path=str(SHOTS / "dataset-analyze.png"), full_page=True)
    # a series split and a sum, config kept in the URL
    page.goto(server + "/explore/dataset/logements/analyze/?chart.type=column&chart.x=annee&chart.y=sum"
                       "&chart.yfield=nb_logmt_total&chart.series=nature_programme&refine.bs=RIVP")
    page.wait_for_selector("#chart[data-state=ready]")
    assert page.locator("#chart-table thead th").count() == 3
    # an average without its field is a count, and its column says so
    page.goto(server + "/explore/dataset/senateurs/analyze/?chart.type=column&chart.x=code_sexe&chart.y=avg")
    page.wait_for_selector("#chart[data-state=ready]")
    assert page.locator("#chart-table thead th").last.text_content() == "Nombre d'enregistrements"
    # a bad filter in the URL: the page says so, and no script fails for want of a chart
    page.goto(server + "/explore/dataset/senateurs/analyze/?chart.type=pie&refine.nope=x")
    assert not page.js_errors


def test_copy_an_api_url_from_the_console_and_fetch_it(page, server):
    page.goto(server + "/explore/dataset/logements/api/?refine.bs=RIVP")
    page.fill("#a-select", "annee, count(*) as n")
    page.fill("#a-group", "annee")
    page.fill("#a-order", "annee")
    page.fill("#a-limit", "5")
    assert "curl '" in page.locator("#a-curl").inner_text() and "requests.get(" in page.locator("#a-python").inner_text()
    page.click("#a-copy")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.locator("#a-url").input_value() and "refine=bs%3ARIVP" in copied
    body = page.request.get(copied).json()
    assert [r["annee"] for r in body["results"]] == [2001, 2002, 2003, 2004, 2005]
    page.click("#console button[type=submit]")
    page.wait_for_function("document.getElementById('a-response').textContent.startsWith('HTTP 200')")
    shown = json.loads(page.locator("#a-response").inner_text().split("\n\n", 1)[1])
    assert shown == body
    page.screenshot(path=str(SHOTS / "dataset-api.png"), full_page=True)
    assert not page.js_errors


def test_language_switch_and_keyboard(page, server):
    page.goto(server + "/explore/")
    page.click("text=Language: English")
    assert page.locator("html").get_attribute("lang") == "en" and page.locator("h1").inner_text() == "Catalogue"
    assert "Modified" in page.locator(".results").inner_text()
    page.goto(server + "/explore/?lang=en")
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent").strip() == "Sénateurs":
            break
    page.keyboard.press("Enter")
    page.wait_for_url("**/explore/dataset/senateurs/information/**")
    assert page.locator("html").get_attribute("lang") == "en"
    # keyboard through the tabs to the table, then refine by a facet value
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent").strip() == "Table":
            break
    page.keyboard.press("Enter")
    page.wait_for_url("**/table/**")
    page.locator("#tf-code_sexe ~ ul a").first.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**refine.code_sexe=**")


def test_phone_width(browser, server):
    context = browser.new_context(locale="fr-FR", viewport={"width": 375, "height": 740}, is_mobile=True)
    page = context.new_page()
    for path, name in (("/", "phone-home.png"), ("/explore/dataset/logements/table/", "phone-table.png")):
        page.goto(server + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} scrolls sideways ({width}px)"
        page.screenshot(path=str(SHOTS / name), full_page=True)
    context.close()


PAGES = ["/", "/explore/", "/explore/?q=paris&lang=en"] + [f"/explore/dataset/logements/{tab}/?refine.bs=RIVP" for tab in
                                                           ("information", "table", "map", "analyze", "export", "api")] + \
    ["/explore/dataset/senateurs/table/?refine.date_de_naissance=1950", "/explore/dataset/departements/map/"]


def test_no_serious_accessibility_violations(page, server):
    found = {}
    for path in PAGES:
        page.goto(server + path)
        if "/map/" in path:
            page.wait_for_selector("#map[data-state=ready]")
        if "/analyze/" in path:
            page.wait_for_selector("#chart[data-state=ready]")
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        serious = [f"{v['id']}: {v['help']} ({len(v['nodes'])}) e.g. {v['nodes'][0]['html'][:120]}"
                   for v in result["violations"] if v["impact"] in ("serious", "critical")]
        if serious:
            found[path] = serious
    assert not found, json.dumps(found, indent=1, ensure_ascii=False)


#: WCAG's contrast ratio of an element's text on the nearest background painted behind it.
CONTRAST = """(el) => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  let back = el;
  while (back && rgb(getComputedStyle(back).backgroundColor).length > 3 && rgb(getComputedStyle(back).backgroundColor)[3] === 0) back = back.parentElement;
  const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(rgb(getComputedStyle(back).backgroundColor))];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def signed_in(browser, login_url: str):
    """A French browser context and its page, signed in as the reader through ``login_url``."""
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    page.goto(login_url)
    page.fill("#login", "lectrice")
    page.fill("#password", PASSWORD)
    page.click(".auth button[type=submit]")
    page.wait_for_selector("header.site .signout")
    return context, page


def test_the_signed_in_header_is_readable(browser, server):
    context, page = signed_in(browser, server + "/login")
    name = page.locator("header.site .signout span")
    assert name.inner_text() == "lectrice"
    assert name.evaluate(CONTRAST) >= 4.5  # WCAG AA for normal text
    context.close()


def test_the_chart_says_when_groups_are_cut_off_and_buckets_dates_only(page, server):
    page.goto(server + "/explore/dataset/logements/analyze/?chart.x=id_livraison")  # one record per value
    page.wait_for_selector("#chart[data-state=ready]")
    assert page.locator("#chart-table tbody tr").count() == 1000
    assert "1 000 premiers groupes sur 4 141" in page.locator("#chart-status").inner_text().replace("\u202f", " ")
    assert not page.locator("#c-bucket").is_visible()  # no date on the X axis
    page.goto(server + "/explore/dataset/senateurs/analyze/?chart.x=code_sexe")
    assert not page.locator("#c-bucket").is_visible()
    page.select_option("#c-x", "date_de_naissance")
    assert page.locator("#c-bucket").is_visible() and page.locator("#c-bucket").is_enabled()
    page.wait_for_selector("#chart[data-state=ready]")
    assert page.locator("#chart-status").inner_text() == ""  # every group drawn: nothing to say
    assert not page.js_errors


def test_the_internal_consoles_snippets_send_an_api_key(browser, server):
    """Pasted from the internal portal's API tab, a snippet without credentials got 401: on a
    private portal the snippets send a key placeholder and the page says where keys come from;
    the public portal's need none."""
    context, page = signed_in(browser, server + "/interne/login")
    page.goto(server + "/interne/explore/dataset/departements/api/")
    assert "YOUR_API_KEY" in page.locator("#a-key-note").inner_text()
    assert page.locator("#a-key-note a").get_attribute("href").startswith("/interne/account")  # where keys are made
    assert "-H 'Authorization: Apikey YOUR_API_KEY'" in page.locator("#a-curl").inner_text()
    assert '"Authorization": "Apikey YOUR_API_KEY"' in page.locator("#a-python").inner_text()
    assert "Authorization: \"Apikey YOUR_API_KEY\"" in page.locator("#a-js").inner_text()
    page.click("#console button[type=submit]")  # the page's own request carries its session
    page.wait_for_function("document.getElementById('a-response').textContent.startsWith('HTTP 200')")
    page.goto(server + "/explore/dataset/departements/api/")
    assert page.locator("#a-key-note").count() == 0 and "Authorization" not in page.locator("#a-curl").inner_text()
    context.close()
