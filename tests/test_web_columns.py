"""The table's column chooser (``fields=`` in the page URL, as a GET form sends it) and the
restricted-view notice, through the real app: chosen columns only in the table, unknown or
hidden names ignored (a hidden column is never offered), exports and console following the
choice, and a notice only for a caller whose rights narrow the dataset."""

from __future__ import annotations

import csv
import io
import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.auth import services as auth
from portail.catalog import services
from portail.web.filters import FilterState
from tests.conftest import Published, published_instance

TABLE = "/explore/dataset/logements/table/"
PASSWORD = "Correct-horse-42"
FILTER = 'code_postal = "75013"'


@pytest.fixture(scope="module")
def site(tmp_path_factory, refdata):
    """Logements with a record filter for group ``arr13`` and ``bs`` hidden from group ``masque``;
    ``v13``, ``vmask`` and the admin ``root`` can sign in."""
    instance = published_instance(tmp_path_factory.mktemp("columns") / "home", Published(
        "logements", refdata / "logement" / "logements-sociaux-finances-a-paris.csv", "Logements",
        labels={"bs": "Bailleur social"}), session_cookie_secure=False)
    with instance.session() as s:
        for group in ("arr13", "masque"):
            auth.create_group(s, group)
        auth.set_dataset_security(s, services.get_dataset(s, "logements"), record_filters={"arr13": FILTER},
                                  hidden_fields={"masque": ["bs"]})
        for login, role, group in [("v13", "viewer", "arr13"), ("vmask", "viewer", "masque"), ("root", "admin", None)]:
            user = auth.create_user(s, login, role=role, password=PASSWORD)
            if group:
                auth.add_member(s, auth.get_group(s, group), user)
    yield instance
    instance.store.close()


def client_of(instance, login: str | None = None) -> TestClient:
    """A visitor, signed in through the real login form when ``login`` is given."""
    client = TestClient(create_app(instance))
    if login:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
        response = client.post("/login", data={"login": login, "password": PASSWORD, "next": "/", "csrf_token": token},
                               follow_redirects=False)
        assert response.status_code == 303, response.text
    return client


@pytest.fixture(scope="module")
def anonymous(site):
    return client_of(site)


def records_table(html: str) -> str:
    return re.search(r'<table class="records">(.*?)</table>', html, re.S).group(1)


def headers(html: str) -> list[str]:
    """The table's column headers as read (the detail column's hidden label left out)."""
    head = re.search(r"<thead>(.*?)</thead>", records_table(html), re.S).group(1)
    cells = [unescape(re.sub(r"<[^>]+>|[▲▼]", "", c)).strip() for c in re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)]
    return cells[1:]


def offered(html: str) -> dict[str, bool]:
    """The chooser's checkboxes: field name → ticked."""
    chooser = re.search(r'<details class="column-chooser">(.*?)</details>', html, re.S).group(1)
    return {name: bool(on) for name, on in re.findall(r'name="fields" value="([^"]+)" ?(checked)?', chooser)}


def test_the_table_shows_the_chosen_columns_only_and_every_link_keeps_them(anonymous):
    everything = anonymous.get(TABLE).text
    all_columns = headers(everything)
    assert len(all_columns) == 18 and "Bailleur social" in all_columns  # every column but the shape, as before
    assert all(offered(everything).values()) and len(offered(everything)) == 18

    for params in ({"fields": ["annee", "bs"]}, {"fields": "bs,annee"}):  # the form's spelling, and a typed one
        page = anonymous.get(TABLE, params=params).text
        assert headers(page) == ["annee", "Bailleur social"]  # in the schema's order
        body = re.search(r"<tbody>(.*?)</tbody>", records_table(page), re.S).group(1)
        assert body.count("<tr>") == 25 and body.count("<td>") == 25 * 3  # detail link + two columns
        ticked = offered(page)
        assert len(ticked) == 18 and {n for n, on in ticked.items() if on} == {"annee", "bs"}
        # tabs, sort and pager links carry the choice (the language switch is the address as typed)
        links = [unescape(h) for h in re.findall(r'href="(/[^"]*\?[^"]*|\?[^"]*)"', page)]
        assert len(links) > 30
        for link in [h for h in links if "/explore/dataset/logements/" in h or "sort=" in h or "page=" in h]:
            assert parse_qs(urlsplit(link).query)["fields"] == ["annee", "bs"], link

    # every box ticked is the default view: the URL drops the list
    page = anonymous.get(TABLE, params={"fields": list(offered(everything))}).text
    assert headers(page) == all_columns and "fields=" not in page.split('<nav class="tabs"')[1].split("</nav>")[0]


def test_unknown_or_empty_column_names_are_ignored(anonymous):
    all_columns = headers(anonymous.get(TABLE).text)
    for params in ({"fields": "nope"}, {"fields": ""}, {"fields": ","}, {"fields": "geo_shape"}):
        response = anonymous.get(TABLE, params=params)
        assert response.status_code == 200 and headers(response.text) == all_columns, params
    response = anonymous.get(TABLE, params={"fields": ["nope", "annee", "annee"], "sort": "-annee"})
    assert response.status_code == 200 and headers(response.text) == ["annee"]
    assert 'aria-sort="descending"' in response.text


def test_a_hidden_column_is_never_offered_nor_shown_even_when_asked(site):
    masked = client_of(site, "vmask")
    page = masked.get(TABLE, params={"fields": ["bs", "annee"]}).text
    assert headers(page) == ["annee"] and "bs" not in offered(page) and len(offered(page)) == 17
    alone = masked.get(TABLE, params={"fields": "bs"}).text
    assert "Bailleur social" not in alone and "bs" not in offered(alone) and len(headers(alone)) == 17
    assert 'value="bs"' not in alone and "fields=bs" not in alone.split("<main")[1]  # nor in any link of the page
    export = masked.get("/explore/dataset/logements/export/", params={"fields": ["bs", "annee"]}).text
    selects = [parse_qs(urlsplit(unescape(h)).query)["select"] for h in re.findall(r'<a class="filtered" href="([^"]+)"', export)]
    assert selects and all(select == ["annee"] for select in selects)


def test_exports_and_console_follow_the_chosen_columns(anonymous):
    params = {"fields": ["annee", "bs"], "refine.bs": "RIVP"}
    page = anonymous.get("/explore/dataset/logements/export/", params=params).text
    filtered = {h.rsplit("/", 1)[1].split("?")[0]: h for h in map(unescape, re.findall(r'<a class="filtered" href="([^"]+)"', page))}
    query = parse_qs(urlsplit(filtered["csv"]).query)
    assert query == {"select": ["annee,bs"], "refine": ["bs:RIVP"]}
    rows = list(csv.reader(io.StringIO(anonymous.get(filtered["csv"]).content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["annee", "bs"] and len(rows) == 784 and {r[1] for r in rows[1:]} == {"RIVP"}
    assert "geojson" not in filtered  # no geometry among the chosen columns: no such link for the view
    assert all("?" not in h for h in re.findall(r'<a class="whole" href="([^"]+)"', page))  # the whole dataset, whole

    # columns alone (no filter) still make a view of their own to export
    only = anonymous.get("/explore/dataset/logements/export/", params={"fields": "annee"}).text
    csv_link = [unescape(h) for h in re.findall(r'<a class="filtered" href="([^"]+)"', only) if "/csv" in h][0]
    assert parse_qs(urlsplit(csv_link).query) == {"select": ["annee"]}
    assert "Avec les colonnes choisies" in only
    plain = anonymous.get("/explore/dataset/logements/export/").text
    assert 'class="filtered"' not in plain

    console = anonymous.get("/explore/dataset/logements/api/", params=params).text
    assert re.search(r'<input id="a-select" name="select" placeholder="\*" value="annee,bs">', console)
    assert 'value="">' in anonymous.get("/explore/dataset/logements/api/").text.split('id="a-select"')[1][:60]


def test_a_restricted_view_says_so_without_the_rule(site, anonymous):
    v13 = client_of(site, "v13")
    for tab in ("information", "table"):
        page = v13.get(f"/explore/dataset/logements/{tab}/").text
        notice = re.search(r'<p class="note restricted" id="restricted-view" role="note">(.*?)</p>', page).group(1)
        assert notice == "Vue restreinte : vos droits limitent les lignes affichées."
        assert FILTER not in unescape(page) and "arr13" not in page
    english = v13.get(TABLE, params={"lang": "en"}).text
    assert "Restricted view: your rights limit the rows shown." in english
    export = v13.get("/explore/dataset/logements/export/").text  # not "the whole dataset": what they may see
    assert "Toutes les lignes que vos droits montrent" in export and "Jeu de données complet" not in export
    assert "Jeu de données complet" in anonymous.get("/explore/dataset/logements/export/").text

    masked = client_of(site, "vmask").get(TABLE).text
    assert "Vue restreinte : vos droits limitent les colonnes affichées." in masked

    for client in (client_of(site, "root"), anonymous):  # the admin sees it whole; so does the public here
        page = client.get(TABLE).text
        assert 'id="restricted-view"' not in page and "Vue restreinte" not in page


def test_filter_state_columns_round_trip():
    state = FilterState.from_query([("fields", "b, a"), ("fields", "a"), ("fields", "year"), ("q", "x")])
    assert state.columns == ("b", "a", "year")
    narrowed = state.shown_within(["a", "b", "c", "year"])
    assert narrowed.columns == ("a", "b", "year") and narrowed.select == "a,b,`year`"
    assert narrowed.page_params() == [("q", "x"), ("fields", "a"), ("fields", "b"), ("fields", "year")]
    assert state.shown_within(["a", "b", "year"]).columns == () and state.shown_within(["z"]).select is None
    assert narrowed.shows("a") and not narrowed.shows("c") and FilterState().shows("c")
    assert narrowed.cleared().columns == narrowed.columns  # clearing filters keeps the columns
