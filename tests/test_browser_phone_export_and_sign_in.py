"""A phone's export and information tabs, forms without a script, and signing in and out, in a
real headless Chromium against a real server process on a real file. On a phone the export table
and the information tab's fields fit the screen (they scrolled sideways, links and types off
screen), the header's "Sign in" stays on one line and the sign-in form's fields look like every
other field (the browser's own, 21 px high); without a script, the search boxes and the chart
form write no empty parameters (``q=``, ``chart.series=``) into the page's address; signing in
and out comes back to the page (both led to the portal's home)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from portail.auth import services as auth
from tests.browser import browser, watched_page  # noqa: F401 - browser: the fixture
from tests.conftest import Published, fast_passwords, make_instance
from tests.live import serve_published

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PHONE = {"width": 390, "height": 844}
PASSWORD = "Correct-horse-42"
EXPORT = "/explore/dataset/senateurs/export/?refine.code_sexe=F&fields=nom_de_l_elu&fields=prenom_de_l_elu"


@pytest.fixture(scope="module")
def server(tmp_path_factory, refdata):
    root = tmp_path_factory.mktemp("browser-phone-export")
    with serve_published(root / "home",
                         Published("senateurs", refdata / "elus" / "rne_elus-senateurs-sen.csv", "Sénateurs"),
                         env={"PORTAIL_SESSION_COOKIE_SECURE": "false"}) as base:  # plain HTTP
        instance = make_instance(root / "home")  # an account, made beside the server as the CLI makes one
        try:
            with fast_passwords(), instance.session() as s:
                auth.create_user(s, "lectrice", password=PASSWORD)
        finally:
            instance.store.close()
        yield base


@pytest.fixture(scope="module")
def unscripted(browser, server):  # noqa: F811 - the imported browser fixture
    """One page of a browser running no script for the file (a context each test cost ~0.5 s):
    no one signs in on it (``test_signing_in_and_out_comes_back_to_the_page`` has its own), so it
    holds no cookie that changes a page, and the language is in each address."""
    with watched_page(browser, java_script_enabled=False) as page:
        yield page


@pytest.fixture
def scriptless(unscripted):
    """A page of a browser running no script: the forms as HTML sends them. Blank, at the
    desktop's size (a test may have made it a phone's)."""
    unscripted.goto("about:blank")
    unscripted.set_viewport_size({"width": 1280, "height": 900})  # watched_page's
    return unscripted


def empty_parameters(url: str) -> list[str]:
    return [k for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True) if v == ""]


def test_on_a_phone_the_export_table_and_the_header_fit(scriptless, server):
    scriptless.set_viewport_size(PHONE)
    for lang, sign_in in (("fr", "Connexion"), ("en", "Sign in")):
        scriptless.goto(f"{server}{EXPORT}&lang={lang}")
        table = scriptless.locator(".exports").locator("..")
        assert table.evaluate("(el) => el.scrollWidth <= el.clientWidth"), f"the export table scrolls ({lang})"
        links = scriptless.locator(".exports a")
        assert links.count() > 10 and scriptless.locator(".exports a.filtered").count() > 5
        for box in (links.nth(i).bounding_box() for i in range(links.count())):
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], lang  # every link on screen
        assert scriptless.locator(".exports tbody th").first.inner_text() == "CSV"  # the rows' headers, kept
        assert scriptless.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        # the header's link on one line ("Sign" at the end of one, "in" alone on the next)
        link = scriptless.locator("#sign-in")
        assert link.inner_text() == sign_in
        assert link.evaluate("(el) => el.getClientRects().length") == 1, lang
    # the information tab's fields (libelle_de_la_categorie_socio_professionnelle) and metadata, on the screen
    scriptless.goto(server + "/explore/dataset/senateurs/information/?lang=en")
    fields = scriptless.locator(".schema").locator("..")
    assert fields.evaluate("(el) => el.scrollWidth <= el.clientWidth"), "the fields table scrolls"
    assert scriptless.locator(".schema thead th").all_inner_texts() == ["Name", "Label", "Type"]  # no empty column
    assert scriptless.locator(".metas td").first.bounding_box()["width"] > 150  # dataset_id beside a 16rem label
    assert scriptless.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # the sign-in form's fields as every other field of the portal, not 21 px high targets
    scriptless.goto(server + "/login?lang=fr")
    for field in ("#login", "#password"):
        box = scriptless.locator(field).bounding_box()
        assert box["height"] >= 32 and box["x"] + box["width"] <= PHONE["width"], field
    # on a desktop, the format column as it was
    scriptless.goto(f"{server}{EXPORT}")
    scriptless.set_viewport_size({"width": 1280, "height": 900})
    assert scriptless.locator(".exports thead th").first.is_visible()


def test_without_script_empty_fields_leave_the_address(scriptless, server):
    """A GET form sends every field: an empty box and "Séries : Aucune" were ``q=`` and
    ``chart.series=`` in the address the reader shares."""
    scriptless.goto(server + "/explore/dataset/senateurs/analyze/?refine.code_sexe=F")
    scriptless.select_option("#c-type", "bar")
    scriptless.click("#chart-form button[type=submit]")
    scriptless.wait_for_url("**chart.type=bar**")
    assert empty_parameters(scriptless.url) == []
    assert ("refine.code_sexe", "F") in parse_qsl(urlsplit(scriptless.url).query)
    assert scriptless.locator("#c-type").input_value() == "bar"
    scriptless.click("form.search button[type=submit]")  # the search box left empty
    scriptless.wait_for_load_state()
    assert empty_parameters(scriptless.url) == [] and "chart.type=bar" in scriptless.url
    # the catalogue's box, its default order sent as none
    scriptless.goto(server + "/explore/")
    scriptless.click("form[role=search] button[type=submit]")
    scriptless.wait_for_load_state()
    assert urlsplit(scriptless.url).path == "/explore/" and empty_parameters(scriptless.url) == []


def test_signing_in_and_out_comes_back_to_the_page(browser, server):  # noqa: F811 - the imported fixture
    """Both led to the portal's home; signed in, the login and "Déconnexion" sat on a line of
    their own under the header's links (a block form)."""
    with watched_page(browser) as page:
        page.goto(f"{server}{EXPORT}&lang=en")
        page.click("#sign-in")
        page.fill("#login", "lectrice")
        page.fill("#password", PASSWORD)
        page.click("main form button[type=submit]")
        page.wait_for_url(f"{server}{EXPORT}&lang=en")
        account, sign_out = page.locator("#my-account"), page.locator("form.signout button")
        assert abs(account.bounding_box()["y"] - sign_out.bounding_box()["y"]) < 16  # one line
        sign_out.click()
        page.wait_for_url(f"{server}{EXPORT}&lang=en")
        assert page.locator("#sign-in").inner_text() == "Sign in"
        assert not page.js_errors
