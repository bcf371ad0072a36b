"""A records tab with no record to show, or records closed to the reader, on a phone, in a real
headless Chromium against a real server process: a search matching nothing says so (it left an
empty grid of headers under "0 records"), with a way to clear the filters; an anonymous visitor
on a restricted dataset reads a sentence and a sign-in link reached by the keyboard (they read
"Invalid filter:" over the API's English 401, with a search box and export links answering
401), and comes back to the page once signed in."""

from __future__ import annotations

import pytest

from portail.auth import services as auth
from portail.catalog import services
from tests.browser import browser, watched_page  # noqa: F401 - browser: the fixture
from tests.conftest import Published, fast_passwords, make_instance
from tests.live import serve_published

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PHONE = {"width": 390, "height": 844}
PASSWORD = "Correct-horse-42"


@pytest.fixture(scope="module")
def server(tmp_path_factory, refdata):
    root = tmp_path_factory.mktemp("browser-closed-records")
    with serve_published(root / "home",
                         Published("departements", refdata / "referentiels" / "cog2026_departements.csv", "Départements"),
                         Published("senateurs", refdata / "elus" / "rne_elus-senateurs-sen.csv", "Sénateurs"),
                         env={"PORTAIL_SESSION_COOKIE_SECURE": "false"}) as base:  # plain HTTP
        instance = make_instance(root / "home")  # rules and an account, made beside the server as the CLI makes them
        try:
            with fast_passwords(), instance.session() as s:
                auth.set_dataset_security(s, services.get_dataset(s, "senateurs"), visibility="restricted",
                                          metadata_public=True)
                auth.create_user(s, "lectrice", password=PASSWORD)  # granted nothing: signed in, still closed
        finally:
            instance.store.close()
        yield base


def test_no_records_and_closed_records_are_said_on_a_phone(browser, server):  # noqa: F811 - the imported fixture
    with watched_page(browser) as page:
        page.set_viewport_size(PHONE)
        for lang, words in (("fr", "Aucun enregistrement à afficher."), ("en", "No records to show.")):
            page.goto(f"{server}/explore/dataset/departements/table/?q=zzqqzz&lang={lang}")
            sentence = page.locator("#no-records")
            assert sentence.is_visible() and words in sentence.inner_text(), lang
            box = sentence.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
            sentence.locator("a").click()  # "Clear filters": the rows again
            page.wait_for_load_state()
            assert page.locator("table.records tbody tr").count() == 25 and not page.locator("#no-records").count()
        # a restricted dataset's table, anonymous: a sentence and a sign-in link reached by the keyboard
        page.goto(f"{server}/explore/dataset/senateurs/table/?lang=en")
        notice = page.locator("#records-closed")
        assert "The records of this dataset are restricted" in notice.inner_text()
        assert "Invalid filter" not in page.inner_text("main") and not page.locator("#dq").count()
        for _ in range(20):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.closest('#records-closed') !== null"):
                break
        assert page.evaluate("document.activeElement.textContent") == "Sign in"
        page.keyboard.press("Enter")
        page.wait_for_url("**/login?**")
        page.fill("#login", "lectrice")
        page.fill("#password", PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{server}/explore/dataset/senateurs/table/?lang=en")  # back on the page
        assert "Your rights give no access" in page.locator("#records-closed").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert not page.js_errors
