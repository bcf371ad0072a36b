"""What the map tab asks the API before its first view, in a real headless Chromium, on the demo's
36,000 communes (the real reference file, a point per commune by the demo's ``geopoint`` step).

The first view fits the records' heaviest regions (``test_browser_map_view``): a grouping of every
record at zoom 2 (``geo_cluster`` + ``count(*)`` + ``bbox()`` per group), 300-450 ms on 2 M
points where the records' ``bbox()`` alone takes 2-3 ms. It ran at every load: with a view kept
in the address (``map.location``), only to decide whether to offer "Voir tous les
enregistrements", and for a city's records, which are one group anyway. Now a kept view asks
nothing before its view's own records (the button offered, every record's extent asked on its
click), and records whose extent is narrow (a city, a department) are fitted from ``bbox()``
alone; the grouping runs only for far-flung records (mainland France and the overseas).
"""

from __future__ import annotations


import pytest

from tests.browser import MAP_SCALE, browser, settle, watched_page  # noqa: F401 (the fixture)
from tests.communes_map import (AIN, MAP, OVERSEAS, counting_calls, first_view_calls, inside, opened,  # noqa: F401
                                server, view)  # server: a fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]
KEPT = "map.location=9,46.2,5.35"  # Ain's communes, as test_browser_map_points keeps it
GROUPING = "geo_cluster(`coordonnees`, 2)"


@pytest.fixture
def page(browser, server):  # noqa: F811
    with watched_page(browser, reduced_motion="reduce", device_scale_factor=MAP_SCALE) as page:
        counting_calls(page)
        yield page


def test_a_kept_view_asks_nothing_before_its_records_and_every_record_is_one_click_away(page, server):  # noqa: F811
    opened(page, server + MAP + "?" + KEPT)
    assert view(page)["zoom"] == pytest.approx(9, abs=1e-3)
    assert first_view_calls(page) == [], page.data_calls  # was the zoom-2 grouping of every record
    assert len(page.data_calls) == 2, page.data_calls  # the count in view, then its records or clusters
    page.locator("#map-all", has_text="Voir tous les enregistrements").click()
    page.wait_for_function("() => window.portailMap.getZoom() < 3")
    settle(page)
    assert all(inside(view(page), *place) for place in [AIN, *OVERSEAS.values()]), view(page)
    asked = first_view_calls(page)
    assert len(asked) == 1 and "bbox(`coordonnees`) as b" in asked[0] and GROUPING not in asked[0], asked
    assert not page.js_errors


@pytest.mark.parametrize("records", ["q=Bourg-en-Bresse", "refine.insee_dep=01"], ids=["a city", "a department"])
def test_records_close_together_are_fitted_from_their_extent_alone(page, server, records):  # noqa: F811
    opened(page, server + MAP + "?" + records)
    asked = first_view_calls(page)
    assert len(asked) == 1 and "bbox(`coordonnees`) as b" in asked[0] and GROUPING not in asked[0], asked
    assert page.locator("#map-all").is_hidden()
    fitted = view(page)  # closely, about Ain (France's view: zoom ~5)
    centre = ((fitted["west"] + fitted["east"]) / 2, (fitted["south"] + fitted["north"]) / 2)
    assert fitted["zoom"] > 7 and 4.7 < centre[0] < 6.2 and 45.6 < centre[1] < 46.6, fitted
    assert not page.js_errors


def test_far_flung_records_are_grouped_to_find_their_heaviest_regions(page, server):  # noqa: F811
    opened(page, server + MAP)
    asked = first_view_calls(page)
    assert len(asked) == 2 and GROUPING not in asked[0] and GROUPING in asked[1], asked  # bbox(), then the grouping
    assert not any(inside(view(page), *place) for place in OVERSEAS.values())
    assert page.locator("#map-all").is_visible()
    assert not page.js_errors


@pytest.mark.parametrize("kept", ["map.location=5,,", "map.location=6,,5.35", "map.location=5, ,"])
def test_a_kept_view_missing_a_number_is_no_view(page, server, kept):  # noqa: F811
    """An empty part read as 0 (``Number("")``): ``5,,`` opened the map on 0,0, off Africa, far
    from every record; such an address is no view, and the records' own first view is taken."""
    opened(page, server + MAP + "?" + kept)
    assert inside(view(page), *AIN), view(page)
    assert not page.js_errors
