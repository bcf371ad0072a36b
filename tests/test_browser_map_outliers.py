"""A few mis-placed records on the map tab's first view, in a real headless Chromium, on real
communes (the reference file, a point per commune by the demo's ``geopoint`` step) of which a few
were placed where a careless geocoding puts them: one of Ain's communes in Brest (a homonym
found across the country: Ain's records then spanned 10°, under the 40° past which the first
view groups them, and were fitted whole, Ain a corner of France), one of a dozen communes of
the Aisne at 0,0 (off Africa: the dozen are grouped, but the 95% share of the heaviest regions
kept the stray, one of twelve, and the view was the world). The first view leaves such strays
out, says how many records it leaves out, and "Voir tous les enregistrements" shows them; with
a view kept in the address and no record with a location, that button fitted nothing without a
word, and is no longer offered."""

from __future__ import annotations

import csv

import pytest

from tests.browser import MAP_SCALE, browser, settle, watched_page  # noqa: F401 (the fixture)
from tests.communes_map import AIN, MAP, counting_calls, first_view_calls, inside, opened, published_points, view
from tests.live import live_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]
BREST = (-4.49, 48.39)  # lon, lat: where one of Ain's communes was placed
NULL_ISLAND = (0.0, 0.0)
AISNE = (3.4, 49.5)
AISNE_COMMUNES = 12  # a dozen, one of them at 0,0
UNLOCATED_DEP = "85"  # Oie and Sainte-Florence: the reference file gives them no coordinates


@pytest.fixture(scope="module")
def server(tmp_path_factory, refdata):
    """Ain's communes, one of them in Brest; a dozen of the Aisne's, one at 0,0; the Vendée's two
    communes without coordinates."""
    from tests.conftest import make_instance

    folder = tmp_path_factory.mktemp("browser-map-outliers")
    with open(refdata / "referentiels" / "communes_france_enrichies.csv", encoding="utf-8", newline="") as source:
        reader = csv.DictReader(source)
        rows = list(reader)
    ain = [r for r in rows if r["insee_dep"] == "01"]
    aisne = [r for r in rows if r["insee_dep"] == "02"][:AISNE_COMMUNES]
    unlocated = [r for r in rows if r["insee_dep"] == UNLOCATED_DEP and not r["lat"]]
    assert len(ain) > 300 and len(unlocated) == 2
    ain[1].update(lat=str(BREST[1]), lng=str(BREST[0]))
    aisne[5].update(lat="0", lng="0")
    target = folder / "communes.csv"
    with open(target, "w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=reader.fieldnames)
        writer.writeheader()
        writer.writerows([*ain, *aisne, *unlocated])
    home = folder / "home"
    instance = make_instance(home)
    published_points(instance, "communes-france", "Communes de France", target)
    instance.store.close()
    with live_server(home) as base:
        yield base


@pytest.fixture
def page(browser, server):  # noqa: F811
    with watched_page(browser, reduced_motion="reduce", device_scale_factor=MAP_SCALE) as page:
        counting_calls(page)
        yield page


def shown_all(page) -> dict:
    """The view after a click on "Voir tous les enregistrements"."""
    before = view(page)["zoom"]
    page.locator("#map-all", has_text="Voir tous les enregistrements").click()
    page.wait_for_function("(zoom) => window.portailMap.getZoom() < zoom - 0.5", arg=before)
    settle(page)
    return view(page)


def test_a_stray_across_the_country_is_left_out_of_the_first_view_and_counted(page, server):
    opened(page, server + MAP + "?refine.insee_dep=01")
    first = view(page)
    assert inside(first, *AIN) and not inside(first, *BREST) and first["zoom"] > 7, first  # was zoom ~5: Ain to Brest
    assert page.locator("#map-outside").inner_text() == "1 enregistrement hors de la vue"
    assert page.locator("#map-status").inner_text() == "397 enregistrements affichés"
    assert "map.location" not in page.url  # the first view is no view of the visitor's
    # one call before the first view (bbox()); the view's own two, then the view without the stray's two
    assert len(first_view_calls(page)) == 1 and len(page.data_calls) == 5, page.data_calls
    every = shown_all(page)
    assert inside(every, *AIN) and inside(every, *BREST), every
    assert page.locator("#map-outside").is_hidden()
    assert page.locator("#map-status").inner_text() == "398 enregistrements affichés"
    assert not page.js_errors


def test_a_stray_at_0_0_among_a_dozen_records_is_left_out_of_the_first_view(page, server):
    opened(page, server + MAP + "?refine.insee_dep=02")
    first = view(page)
    assert inside(first, *AISNE) and not inside(first, *NULL_ISLAND) and first["zoom"] > 7, first  # was the world
    assert page.locator("#map-outside").inner_text() == "1 enregistrement hors de la vue"
    assert len(first_view_calls(page)) == 2, page.data_calls  # bbox(), then the zoom-2 grouping (> 40°)
    every = shown_all(page)
    assert inside(every, *AISNE) and inside(every, *NULL_ISLAND), every
    assert page.locator("#map-outside").is_hidden()
    assert not page.js_errors


def test_records_without_strays_are_fitted_whole_with_nothing_said(page, server):
    opened(page, server + MAP + "?refine.insee_dep=01&q=NOT+Abergement-de-Varey")  # the commune put in Brest
    assert page.locator("#map-all").is_hidden() and page.locator("#map-outside").is_hidden()
    assert len(page.data_calls) == 3, page.data_calls  # bbox(), the view's count and its records: no refit
    assert not page.js_errors


def test_a_kept_view_without_a_located_record_offers_no_button_that_shows_nothing(page, server):
    opened(page, server + MAP + f"?refine.insee_dep={UNLOCATED_DEP}&map.location=9,46.2,5.35")
    assert page.locator("#map-unlocated").inner_text() == "2 enregistrements sans localisation"
    assert page.locator("#map-all").is_hidden()  # was offered, and its click did nothing
    assert page.locator("#map-status").inner_text() == "0 enregistrement affiché"
    assert not page.js_errors


def test_among_a_handful_of_records_none_is_left_out_as_a_stray(page, server):
    """Four of Ain's communes, one of them in Brest: among so few, that one is a quarter of the
    records, and their quartiles are two of the four; the first view left it out as a stray, as
    it left out a fifth museum in Versailles when four were in Paris."""
    query = '"Abergement" OR "Ambronay" OR "Ambutrix"'  # 01001, 01002 (in Brest), 01007, 01008
    opened(page, server + MAP + "?refine.insee_dep=01&q=" + query.replace(" ", "+"))
    first = view(page)
    assert inside(first, *BREST) and inside(first, 4.93, 46.15), first
    assert page.locator("#map-status").inner_text() == "4 enregistrements affichés"
    assert page.locator("#map-all").is_hidden() and page.locator("#map-outside").is_hidden()
    assert len(page.data_calls) == 3, page.data_calls  # bbox(), the view's count and its records: no refit
    assert not page.js_errors
