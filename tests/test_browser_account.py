""""My account" in a real Chromium against a real server: a staff member signs in on the
internal portal, opens My account from the header, creates an API key, copies it from the page
and reads a restricted dataset with it over plain HTTP; the page passes axe-core."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from portail import operations
from portail.auth import services as auth
from portail.catalog import services
from tests.live import live_server
from tests.browser import AXE, SHOTS, browser  # noqa: F401 - browser: the fixture
from tests.conftest import fast_passwords

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "Correct-horse-42"
RECORDS = "/interne/api/explore/v2.1/catalog/datasets/regions/records?limit=0"


@pytest.fixture(scope="module")
def server(tmp_path_factory, refdata):
    from tests.conftest import make_instance

    home = tmp_path_factory.mktemp("account") / "home"
    instance = make_instance(home)
    with instance.session() as s:
        services.create_dataset(s, "regions", "Régions", portals=["internal"])
    operations.load_file(instance, "regions", refdata / "referentiels" / "cog2026_regions.csv", publish=True)
    with fast_passwords(), instance.session() as s:  # the server checks it at its own hash's cost
        auth.create_user(s, "agent", role="publisher", password=PASSWORD)
        auth.set_dataset_security(s, services.get_dataset(s, "regions"), visibility="restricted")
        auth.grant(s, services.get_dataset(s, "regions"), "user", "agent")
    instance.store.close()
    with live_server(home, env={"PORTAIL_SESSION_COOKIE_SECURE": "false"}) as base:
        yield base


def fetch(url: str, key: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Apikey {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def serious_violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['id']}: {v['help']} e.g. {v['nodes'][0]['html'][:120]}" for v in result["violations"]
            if v["impact"] in ("serious", "critical")]


def test_a_staff_member_creates_a_key_on_my_account_and_reads_with_it(browser, server):  # noqa: F811 - the fixture
    assert fetch(server + RECORDS)[0] == 401  # the internal portal, anonymously
    SHOTS.mkdir(parents=True, exist_ok=True)
    with browser.new_context(locale="fr-FR") as context:
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server + "/interne/login")
        page.fill("#login", "agent")
        page.fill("#password", PASSWORD)
        page.click(".auth button[type=submit]")
        page.click("header.site >> text=Mon compte")
        page.wait_for_url("**/interne/account**")
        assert page.locator("#me-login").inner_text() == "agent"
        assert not serious_violations(page)

        page.fill("#key-name", "Script de sauvegarde")
        page.check("#scope-read")
        page.click(".key-form button[type=submit]")
        page.wait_for_selector("#new-key")
        secret = page.locator("#new-key").input_value()
        assert secret.startswith("pk_") and page.locator("#new-key").get_attribute("readonly") is not None
        page.click("#copy-key")
        assert page.evaluate("navigator.clipboard.readText()") == secret
        assert page.locator("#copy-key").inner_text() == "Clé copiée"
        page.screenshot(path=str(SHOTS / "account-new-key.png"), full_page=True)
        assert not serious_violations(page)

        status, body = fetch(server + RECORDS, secret)
        assert status == 200 and body["total_count"] == 18

        assert page.url.endswith("/interne/account?lang=fr")  # the answer took the page's address
        page.reload()  # so a reload shows the page: no form posted again, no second key
        assert page.locator("#new-key").count() == 0 and secret not in page.content()
        assert page.locator("tr", has_text="Script de sauvegarde").count() == 1
        assert page.locator("tr", has_text="Script de sauvegarde").locator("td.state-active").count() == 1
        revoke = page.locator("tr", has_text="Script de sauvegarde").locator("button")
        page.once("dialog", lambda dialog: dialog.dismiss())  # revoking asks first: "no" keeps the key
        revoke.click()
        assert page.locator("tr", has_text="Script de sauvegarde").locator("td.state-active").count() == 1
        page.once("dialog", lambda dialog: dialog.accept())
        revoke.click()
        page.wait_for_selector("tr td.state-revoked")
        assert fetch(server + RECORDS, secret)[0] == 401
        assert not errors
