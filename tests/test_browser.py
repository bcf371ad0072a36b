"""The portal in a real headless Chromium (Debian's, driven by Playwright): search the
catalogue, open a dataset, page through its table, switch language, move by keyboard.
Screenshots land in test-output/screenshots for a reviewer."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from portail.catalog import services
from portail.operations import load_file

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, refdata):
    from tests.conftest import make_instance

    home = tmp_path_factory.mktemp("browser") / "home"
    instance = make_instance(home)
    with instance.session() as s:
        services.create_dataset(s, "logements", "Logements sociaux financés à Paris", themes=["Logement"],
                                description="Programmes financés depuis 2001.")
        services.create_dataset(s, "senateurs", "Sénateurs", themes=["Administration"])
    load_file(instance, "logements", refdata / "logement" / "logements-sociaux-finances-a-paris.csv", publish=True)
    load_file(instance, "senateurs", refdata / "elus" / "rne_elus-senateurs-sen.csv", publish=True)
    instance.store.close()
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "portail.api.app:create_app", "--factory", "--port", str(port)],
                               cwd=ROOT, env={"PORTAIL_HOME": str(home), "PATH": "/usr/bin:/bin"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield base
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: .ci/run installs Debian's chromium package")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
        yield context.new_page()
        browser.close()


def test_search_open_and_page_through_a_dataset(page, server):
    page.goto(server + "/")
    page.screenshot(path=str(SHOTS / "home.png"))
    page.fill("input[name=q]", "paris")
    page.click("button[type=submit]")
    page.wait_for_url("**/explore/**")
    assert page.locator(".results li").count() == 1
    page.screenshot(path=str(SHOTS / "catalogue.png"))
    page.click("text=Logements sociaux financés à Paris")
    page.wait_for_url("**/explore/dataset/logements/information/**")
    assert page.locator("table.schema tbody tr").count() == 19
    page.click("nav.tabs >> text=Tableau")
    page.wait_for_url("**/table/**")
    assert page.locator("table.records tbody tr").count() == 25
    page.click("text=Suivant")
    assert "page=2" in page.url and page.locator(".pager span").inner_text() == "Page 2 sur 167"
    page.screenshot(path=str(SHOTS / "table.png"))
    page.click("nav.tabs >> text=Export")
    href = page.locator("a", has_text="CSV").get_attribute("href")
    response = page.request.get(server + href)
    import csv
    import io

    assert response.status == 200
    assert len(list(csv.reader(io.StringIO(response.text().lstrip("\ufeff")), delimiter=";"))) == 4175


def test_language_switch_and_keyboard(page, server):
    page.goto(server + "/explore/")
    page.click("text=Language: English")
    assert page.locator("html").get_attribute("lang") == "en" and page.locator("h1").inner_text() == "Catalogue"
    page.goto(server + "/explore/?lang=en")
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent").strip() == "Sénateurs":
            break
    page.keyboard.press("Enter")
    page.wait_for_url("**/explore/dataset/senateurs/information/**")
    page.screenshot(path=str(SHOTS / "dataset-information.png"))
