"""The pages keep the reader's language, server-side: "Sign in" and "Sign out" lead back in the
page's language, not the browser's (they led to the portal's home in the browser's language);
the map's French and English phrases come from ``i18n.py`` with every other page text (they were
written in its script). With them, the chart's measure: a whole number whose few small values
are codes of categories (the COG's ``tncc``, the kind of article of a commune's name, 0 to 8; its
movements' ``mod``, 10 to 72) is no measure (a reader who chose "Somme" got a sum of codes)."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.auth import services as auth
from portail.web.i18n import MAPLIBRE, STRINGS
from tests.conftest import Published, published_instance
from tests.chart_form import chart_config, selected_value_field

ANALYZE = "/explore/dataset/{}/analyze/"
PASSWORD = "Correct-horse-42"
MAP_JS = Path(__file__).resolve().parents[1] / "src" / "portail" / "web" / "static" / "map.js"


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    tmp = tmp_path_factory.mktemp("page-language")
    cog = refdata / "referentiels"
    instance = published_instance(
        tmp / "home",
        Published("communes", cog / "cog2026_communes.csv", "Communes (COG)"),
        Published("mouvements", cog / "cog2026_mouvements_communes.csv", "Mouvements des communes"),
        Published("logements", refdata / "logement" / "logements-sociaux-finances-a-paris.csv", "Logements"),
        Published("departements", refdata / "geo" / "departements-version-simplifiee.geojson", "Départements"),
        session_cookie_secure=False)  # the test client speaks plain HTTP
    with instance.session() as s:
        auth.create_user(s, "lectrice", password=PASSWORD)
    yield TestClient(create_app(instance))
    instance.store.close()


def test_a_few_small_codes_are_no_measure_for_the_chart(client):
    """``tncc`` (0 to 8 on 37,000 communes) and ``mod`` (14 codes, 10 to 72) were the sum's field."""
    for slug in ("communes", "mouvements"):
        html = client.get(ANALYZE.format(slug), params={"chart.y": "sum"}).text
        assert chart_config(html)["y"] == "count" and chart_config(html)["yfield"] == "", slug
        assert selected_value_field(html) is None, slug  # nothing chosen beside a count either
    # a field chosen is kept, a code or not
    chosen = client.get(ANALYZE.format("communes"), params={"chart.y": "max", "chart.yfield": "tncc"}).text
    assert chart_config(chosen)["yfield"] == "tncc"
    # measures with many values stay measures
    assert chart_config(client.get(ANALYZE.format("logements"), params={"chart.y": "sum"}).text)["yfield"] == \
        "nb_logmt_total"


def map_data(html: str, name: str) -> dict:
    return json.loads(unescape(re.search(rf"data-{name}='([^']*)'", html).group(1)))


def test_the_maps_phrases_come_from_i18n(client):
    """map.js wrote "zoomer ou les lister", "ici", MapLibre's "Zoom avant"… itself, in French or
    English by the page's ``lang``: a third language, or a changed word, missed them."""
    for lang in ("fr", "en"):
        html = client.get("/explore/dataset/departements/map/", params={"lang": lang}).text
        words = map_data(html, "i18n")
        for key in ("map_open", "map_here", "map_more"):
            assert words[key] == STRINGS[lang][key]
        assert map_data(html, "locale") == MAPLIBRE[lang]
    script = MAP_JS.read_text(encoding="utf-8")
    phrases = [STRINGS[lang][k] for lang in ("fr", "en") for k in ("map_open", "map_more")]
    phrases += list(MAPLIBRE["fr"].values())
    assert not [p for p in phrases if p in script]  # the script's words are the page's


def sign_in_from(client: TestClient, page: str) -> str:
    """Follow ``page``'s "Connexion" link, sign in there; where the portal sends the reader."""
    link = unescape(re.search(r'<a href="([^"]*)" id="sign-in">', client.get(page).text).group(1))
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(link).text).group(1)
    action = unescape(re.search(r'<form method="post" action="([^"]*)"', client.get(link).text).group(1))
    next_path = parse_qs(urlsplit(link).query).get("next", [""])[0]
    answer = client.post(action, data={"login": "lectrice", "password": PASSWORD, "csrf_token": token,
                                       "next": next_path}, follow_redirects=False)
    assert answer.status_code == 303
    signed_out = sign_out_from(client, "/")
    assert signed_out.status_code == 303
    return answer.headers["location"]


def sign_out_from(client: TestClient, page: str):
    """Send ``page``'s "Déconnexion" form; the answer."""
    html = client.get(page).text
    form = re.search(r'<form class="signout" method="post" action="([^"]*)">\s*'
                     r'<input type="hidden" name="csrf_token" value="([^"]+)">', html)
    return client.post(unescape(form.group(1)), data={"csrf_token": form.group(2)}, follow_redirects=False)


def test_signing_in_keeps_the_pages_language(client):
    """From an English page, "Sign in" led to the home page in French (the browser's)."""
    client.headers["accept-language"] = "fr-FR"
    assert sign_in_from(client, "/explore/dataset/logements/table/?refine.bs=RIVP&lang=en") == \
        "/explore/dataset/logements/table/?refine.bs=RIVP&lang=en"  # back to the page (test_web_dataset_tabs)
    assert sign_in_from(client, "/login?lang=en") == "/?lang=en"
    assert sign_in_from(client, "/?lang=fr") == "/?lang=fr"
    del client.headers["accept-language"]
    # a page asked for by a signed-out reader (``next``) keeps its own language, or none
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    answer = client.post("/login?lang=en", data={"login": "lectrice", "password": PASSWORD, "csrf_token": token,
                                                 "next": "/explore/?lang=fr"}, follow_redirects=False)
    assert answer.headers["location"] == "/explore/?lang=fr"
    sign_out_from(client, "/")


def test_signing_out_keeps_the_pages_language(client):
    """"Sign out" on an English page led to the home page in the browser's language, French."""
    sign_in_from(client, "/?lang=en")  # (signs out at its end)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"login": "lectrice", "password": PASSWORD, "csrf_token": token})
    client.headers["accept-language"] = "fr-FR"
    assert sign_out_from(client, "/explore/dataset/logements/table/?lang=en").headers["location"] == \
        "/explore/dataset/logements/table/?lang=en"  # back to the page (test_web_dataset_tabs)
    del client.headers["accept-language"]
