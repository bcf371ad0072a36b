"""Headless Chromium for the browser tests (Debian's, driven by Playwright): where it and the
front-end packages are, the browser and its French pages as fixtures, and the waits and reads
several files share. Kept here rather than in one test file, so that a test file imports no
other test file. A test file takes a fixture by importing it (``from tests.browser import
browser``): each file still gets its own browser, started only when one of its tests asks."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
VENDOR = ROOT / "src" / "portail" / "web" / "static" / "vendor"
#: A phone's screen, as the record detail's phone page has it.
PHONE = {"width": 375, "height": 740}
#: Device pixels per CSS pixel on the map tests' pages (``device_scale_factor``). WebGL is drawn
#: in software (SwiftShader), at a cost per device pixel: most of a map test's CPU went to the
#: GPU process, ~40 ms a frame at 1102 x 510 pixels, ~16 ms at half of each. Layout, MapLibre's
#: view, projections, clicks and queryRenderedFeatures are all in CSS pixels, the same at any
#: scale; only the drawn pixels are fewer. Pages whose text layout is checked keep a scale of 1.
MAP_SCALE = 0.5


@pytest.fixture(scope="module")
def browser():
    """Chromium, once the front-end packages the pages load (MapLibre, axe-core) are found:
    without them every page test would fail for a reason no page has. One per file, not one per
    worker: Playwright's sync API runs its event loop on the test's thread while it is started,
    and every later test of the worker that calls ``asyncio.run()`` (TestClient's streaming,
    the abandoned-call tests) failed with "cannot be called from a running event loop"."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: .ci/run installs Debian's chromium package")
    if not (VENDOR / "maplibre-gl" / "maplibre-gl.js").is_file() or not AXE.is_file():
        pytest.fail("front-end packages missing: run `make install` (npm ci)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        yield chromium
        chromium.close()


@contextmanager
def watched_page(browser, **options) -> Iterator:
    """A page of a French desktop browser (``options``: more of the context's) whose script
    errors are kept in ``page.js_errors``, which the tests find empty."""
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900}, **options)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.js_errors = errors
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="module")
def page(browser, server):
    """One French desktop page for the whole file, allowed the clipboard on the file's ``server``."""
    with watched_page(browser) as page:
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
        yield page


@pytest.fixture(scope="module")
def phone(browser, server):
    """One French phone page (``PHONE``, touch) for the whole file."""
    context = browser.new_context(locale="fr-FR", viewport=PHONE, is_mobile=True)
    yield context.new_page()
    context.close()


def settle(page) -> None:
    """Until the map is still and drawn (MapLibre's idle), so the count buttons are up to date."""
    page.wait_for_function("() => !window.portailMap.isMoving() && window.portailMap.loaded()")
    page.wait_for_selector("#map[data-state=ready]")  # the records of the new view are in
    # resolved with nothing: MapLibre's idle event holds the map, which Playwright would serialize
    # whole to the test (~1.4 MB a call, most of a map test's CPU in the test process)
    page.evaluate("() => new Promise((done) => { const m = window.portailMap; m.once('idle', () => done()); m.triggerRepaint(); })")


def map_popup(page, server: str, path: str, query: str) -> dict[str, str]:
    """The popup of the one record ``query`` leaves on the map at ``path``, opened from the
    keyboard (Enter at the map's centre, where the map fits that record), as {label: value}."""
    page.goto(server + path + query)
    page.wait_for_selector("#map[data-state=ready][data-mode=records]")
    page.wait_for_function("window.portailMap.loaded() && !window.portailMap.isMoving()")
    page.locator("#map canvas").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(".maplibregl-popup-content table")
    cells = page.locator(".maplibregl-popup-content tr").all()
    return {row.locator("th").inner_text(): row.locator("td").inner_text() for row in cells}
