"""The map tab's first view across the antimeridian, in a real headless Chromium, on the Pacific's
84 communes (Wallis-et-Futuna 986xx, French Polynesia 987xx, New Caledonia 988xx).

Their codes, names and populations are the reference file ``referentiels/collectivites_outremer.csv``;
no reference file places them (``communes_france_enrichies.csv`` and ``laposte_hexasmal.csv`` give
them no coordinates), so each is put at its main village or island by ``PLACES`` below (two
decimals: some 1 km, enough for a map at zoom 2 to 8).

Wallis is at -176°, Polynesia at -150°, New Caledonia at +166°: the records' box from west to east
is 344° wide, which a phone cannot show even at zoom 0. The first view opened on the empty middle
of that box (Africa): "0 enregistrement affiché", "84 enregistrements hors de la vue". Read on the
circle, they are 61° from New Caledonia eastwards across 180°, and the view shows that arc."""

from __future__ import annotations

import csv
import re

import pytest

from tests.browser import MAP_SCALE, PHONE, browser, settle, watched_page  # noqa: F401 (the fixture)
from tests.communes_map import MAP, counting_calls, first_view_calls, opened, published_points, view
from tests.live import live_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]
GROUPING = "geo_cluster(`coordonnees`, 2)"
NOUMEA = (166.44, -22.27)
PAPEETE = (-149.57, -17.54)
UVEA = (-176.18, -13.28)  # Mata-Utu, Wallis
STRAYED = "communes-pacifique-nord"  # the 84, and Papeete once more, its latitude's sign lost
NORTHERN_PAPEETE = (PAPEETE[0], -PAPEETE[1])
#: INSEE code -> (lon, lat) of the commune's main village (or its island's middle, for an atoll).
PLACES = {
    "98611": (-178.10, -14.31), "98612": (-178.17, -14.27), "98613": UVEA,
    "98711": (-145.50, -17.35), "98712": (-149.53, -17.52), "98713": (-146.75, -15.25), "98714": (-151.74, -16.50),
    "98715": (-149.61, -17.56), "98716": (-145.62, -16.30), "98717": (-140.88, -15.82), "98718": (-138.65, -10.47),
    "98719": (-134.97, -23.12), "98720": (-140.95, -18.07), "98721": (-142.62, -17.55), "98722": (-149.30, -17.60),
    "98723": (-139.03, -9.80), "98724": (-151.00, -16.73), "98725": (-149.48, -17.51), "98726": (-143.65, -16.62),
    "98727": (-145.95, -14.45), "98728": (-152.25, -16.45), "98729": (-149.83, -17.53), "98730": (-141.25, -14.17),
    "98731": (-140.10, -8.91), "98732": (-138.78, -19.28), "98733": (-149.58, -17.69), "98734": (-149.55, -17.75),
    "98735": PAPEETE, "98736": (-149.55, -17.53), "98737": (-138.82, -14.82), "98738": (-149.61, -17.63),
    "98739": (-147.65, -23.87), "98740": (-147.70, -15.12), "98741": (-144.34, -27.62), "98742": (-136.40, -18.52),
    "98743": (-152.81, -22.65), "98744": (-151.35, -22.46), "98745": (-151.50, -16.62), "98746": (-139.08, -9.95),
    "98747": (-149.30, -17.73), "98748": (-149.33, -17.80), "98749": (-145.00, -14.45), "98750": (-151.36, -16.83),
    "98751": (-138.40, -17.35), "98752": (-149.45, -17.75), "98753": (-149.47, -23.35), "98754": (-151.47, -16.78),
    "98755": (-138.56, -20.78), "98756": (-139.55, -8.92), "98757": (-140.08, -9.40), "98758": (-151.44, -16.73),
    "98801": (163.67, -19.75), "98802": (166.05, -21.87), "98803": (165.50, -21.57), "98804": (165.96, -21.52),
    "98805": (166.46, -22.17), "98806": (165.78, -21.67), "98807": (164.95, -20.69), "98808": (165.63, -21.28),
    "98809": (167.48, -22.61), "98810": (164.40, -20.67), "98811": (164.86, -21.06), "98812": (164.28, -20.56),
    "98813": (165.83, -21.71), "98814": (167.26, -20.92), "98815": (168.00, -21.49), "98816": (165.68, -21.69),
    "98817": (166.52, -22.23), "98818": NOUMEA, "98819": (164.44, -20.34), "98820": (166.56, -20.65),
    "98821": (166.36, -22.13), "98822": (165.33, -20.94), "98823": (165.40, -21.07), "98824": (164.59, -20.40),
    "98825": (164.90, -21.12), "98826": (164.02, -20.23), "98827": (165.16, -21.34), "98828": (165.85, -21.64),
    "98829": (166.22, -21.61), "98830": (165.24, -20.78), "98831": (164.69, -20.95), "98832": (166.94, -22.16),
    "98833": (165.83, -21.40),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory, refdata):
    """The 84 communes of Wallis-et-Futuna, French Polynesia and New Caledonia, placed by ``PLACES``."""
    from tests.conftest import make_instance

    folder = tmp_path_factory.mktemp("browser-map-pacific")
    with open(refdata / "referentiels" / "collectivites_outremer.csv", encoding="utf-8", newline="") as source:
        rows = [r for r in csv.DictReader(source) if r["code_commune"][:3] in ("986", "987", "988")]
    assert sorted(r["code_commune"] for r in rows) == sorted(PLACES)
    target = folder / "pacifique.csv"
    with open(target, "w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=[*rows[0], "lat", "lng"])
        writer.writeheader()
        writer.writerows({**r, "lng": PLACES[r["code_commune"]][0], "lat": PLACES[r["code_commune"]][1]} for r in rows)
    home = folder / "home"
    instance = make_instance(home)
    published_points(instance, "communes-france", "Communes du Pacifique", target)
    with open(target, "a", encoding="utf-8", newline="") as out:  # Papeete again, north of the equator
        csv.DictWriter(out, fieldnames=[*rows[0], "lat", "lng"]).writerow(
            {**next(r for r in rows if r["code_commune"] == "98735"), "lng": PAPEETE[0], "lat": NORTHERN_PAPEETE[1]})
    published_points(instance, STRAYED, "Communes du Pacifique, une à 0,0", target)
    instance.store.close()
    with live_server(home) as base:
        yield base


@pytest.fixture
def phone(browser, server):  # noqa: F811
    with watched_page(browser, is_mobile=True, has_touch=True, reduced_motion="reduce",
                      device_scale_factor=MAP_SCALE) as page:
        page.set_viewport_size(PHONE)  # watched_page's is a desktop's
        counting_calls(page)
        yield page


def shows(v: dict, lon: float, lat: float) -> bool:
    """Whether the view ``v`` shows the place, on any of the world's copies: a view fitted across
    the antimeridian has longitudes past 180 (New Caledonia 164 to Polynesia 225)."""
    return any(v["west"] <= lon + turn <= v["east"] for turn in (-360, 0, 360)) and v["south"] <= lat <= v["north"]


def test_the_pacific_opens_on_a_phone_on_its_records_across_the_antimeridian(phone, server):
    opened(phone, server + MAP)
    first = view(phone)
    assert all(shows(first, *place) for place in (NOUMEA, PAPEETE, UVEA)), first  # was Africa, at zoom 0
    assert first["west"] < 180 < first["east"] and first["zoom"] > 1, first
    shown = int(phone.locator("#map-status").inner_text().split()[0])
    assert shown >= 80, phone.locator("#map-status").inner_text()  # was "0 enregistrement affiché"
    outside = phone.locator("#map-outside")
    assert outside.is_hidden() or outside.inner_text() == f"{84 - shown} enregistrements hors de la vue"
    asked = first_view_calls(phone)
    assert len(asked) == 2 and GROUPING not in asked[0] and GROUPING in asked[1], asked  # bbox(), the grouping
    # the view's records: the two boxes either side of 180, once each for the count and the records
    in_view = [call for call in phone.data_calls if "in_bbox" in call]
    assert len(in_view) == 2 and all(" OR " in call for call in in_view), in_view
    assert "map.location" not in phone.url
    assert not phone.js_errors


def test_new_caledonia_and_wallis_are_one_view_across_the_antimeridian(phone, server):
    """New Caledonia's 33 communes and Wallis (Uvea), 17° apart across 180°: 344° apart west to
    east. The first view fits them whole (20° along the arc), then leaves Wallis out as a stray;
    every record's view ("Voir tous les enregistrements") was the world at zoom 0, centred on
    Africa, which a phone shows without either, and is now the 20° across 180°."""
    opened(phone, server + MAP + "?q=" + '"Nouvelle-Calédonie" OR Uvea'.replace(" ", "+"))
    first = view(phone)
    assert shows(first, *NOUMEA) and first["zoom"] > 4, first
    assert phone.locator("#map-status").inner_text() == "33 enregistrements affichés"
    # Wallis, 17° from communes 4° apart, is a stray as Brest is from Ain (test_browser_map_outliers)
    assert phone.locator("#map-outside").inner_text() == "1 enregistrement hors de la vue"
    # bbox() (344° wide), the grouping (20° along the arc: fitted whole), the view's two calls, the refit's two
    assert len(first_view_calls(phone)) == 2 and len(phone.data_calls) == 6, phone.data_calls
    phone.locator("#map-all", has_text="Voir tous les enregistrements").click()
    phone.wait_for_function("(zoom) => window.portailMap.getZoom() < zoom - 0.5", arg=first["zoom"])
    settle(phone)
    every = view(phone)
    assert shows(every, *NOUMEA) and shows(every, *UVEA) and every["zoom"] > 3, every
    assert every["west"] < 180 < every["east"], every
    assert phone.locator("#map-status").inner_text() == "34 enregistrements affichés"
    assert phone.locator("#map-outside").is_hidden()
    assert not phone.js_errors


def test_a_stray_among_the_pacific_is_read_along_the_arc_and_the_others_fitted_across_it(phone, server):
    """The 84 and Papeete once more, its latitude's sign lost (17.54° north): a phone's first view of
    the Pacific, as tall as the Pacific is wide, holds it, and the stray rule finds it (35° north of
    the others). The others' box was then read from -178° to 168° (344° wide) and fitted as the
    world at zoom 0, centred on Africa; along the arc it is 164° to 225°, the view it had."""
    opened(phone, server + MAP.replace("communes-france", STRAYED))
    first = view(phone)
    assert all(shows(first, *place) for place in (NOUMEA, PAPEETE, UVEA)), first
    assert first["west"] < 180 < first["east"] and first["zoom"] > 1, first
    # bbox(), the grouping; the view's count and records; the same once more, the stray found and the others fitted
    assert len(first_view_calls(phone)) == 2 and len(phone.data_calls) == 6, phone.data_calls
    assert phone.locator("#map-status").inner_text() == "85 enregistrements affichés"  # the phone's view still holds it
    assert not phone.js_errors


def test_a_kept_view_shows_every_pacific_record_across_the_antimeridian(phone, server):
    """A view kept in the address asks nothing before its own records; "Voir tous les
    enregistrements" then asks bbox(), 344° wide, and (wider than 180°: the records may lie on
    both sides of 180) the grouping, whose boxes place the arc. It fitted bbox()'s box, the world."""
    opened(phone, server + MAP + "?map.location=9,-22.27,166.44")  # Nouméa
    assert first_view_calls(phone) == [], phone.data_calls
    phone.locator("#map-all", has_text="Voir tous les enregistrements").click()
    phone.wait_for_function("() => window.portailMap.getZoom() < 3")
    settle(phone)
    every = view(phone)
    assert all(shows(every, *place) for place in (NOUMEA, PAPEETE, UVEA)), every
    assert every["west"] < 180 < every["east"], every
    asked = first_view_calls(phone)
    assert len(asked) == 2 and GROUPING not in asked[0] and GROUPING in asked[1], asked
    assert phone.locator("#map-status").inner_text() == "84 enregistrements affichés"
    assert not phone.js_errors


def test_a_view_edge_a_hair_off_0_is_asked_in_digits_odsql_reads(phone, server):
    """A phone's view of the Pacific at zoom 0 whose west edge is a hair east of 0° (0.0000001°, as a
    view a hair past 360° is once wrapped: the world panned round): JavaScript wrote that edge
    "9.99987…e-8", which ODSQL does not read ("ODSQL query is malformed": the map an error instead
    of the Pacific's 84 communes, from 0° to some 240° east)."""
    opened(phone, server + MAP)
    half = phone.evaluate("""() => { const m = window.portailMap; m.jumpTo({zoom: 0, center: [180, -18]});
        const b = m.getBounds(); return (b.getEast() - b.getWest()) / 2; }""")
    phone.data_calls.clear()
    phone.evaluate("(lon) => void window.portailMap.jumpTo({center: [lon, -18]})", 360 + 1e-7 + half)
    phone.wait_for_function("() => ['ready', 'error'].includes(document.getElementById('map').dataset.state)")
    assert 0 < view(phone)["west"] % 360 < 1e-6, view(phone)
    assert phone.locator("#map-status").inner_text() == "84 enregistrements affichés"
    in_view = [call for call in phone.data_calls if "in_bbox" in call]
    assert in_view and not any(re.search(r"\de[-+]?\d", call) for call in in_view), in_view
    assert not phone.js_errors
