"""v1's ``sort`` repeated, ``sort=annee&sort=-nb_logmt_total``: successive keys, the first
deciding and each next one ordering the ties of those before (a repeated ``sort`` kept only its
last value), on the search, its CSV page, the download and the map's preview; records equal on
every key keep one order, so pages neither overlap nor skip; ``-dist`` combines with them; the
echo lists the keys as given; an unknown field among them is the 400 a single one is.

Opendatasoft's v1 documentation describes ``sort`` with one field (``sort=price``,
``sort=-width``) and shows no list; a comma inside one value is not read as a list (a field
name of that spelling, unknown: the 400 as before)."""

from __future__ import annotations

import csv
import io

import pytest

from tests.api.great_circle import metres
from tests.conftest import logements_client

SEARCH, DOWNLOAD, PREVIEW = "/api/records/1.0/search/", "/api/records/1.0/download/", "/api/records/1.0/geopreview/"
KEYS = [("sort", "annee"), ("sort", "-nb_logmt_total")]
CENTRE = (48.8566, 2.3522)


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    with logements_client(tmp_path_factory, refdata, "v1sort") as client:
        yield client


def get(client, path: str, params: list[tuple[str, str]]):
    response = client.get(path, params=[("dataset", "logements"), *params])
    assert response.status_code == 200, response.text
    return response


def pairs(records: list[dict]) -> list[tuple[int, int]]:
    return [(r["fields"]["annee"], r["fields"]["nb_logmt_total"]) for r in records]


def by_keys(found: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``annee`` descending (v1's default), then ``nb_logmt_total`` ascending (``-``)."""
    return sorted(found, key=lambda p: (-p[0], p[1]))


def test_repeated_sort_keys_apply_in_order(client):
    body = get(client, SEARCH, [*KEYS, ("rows", "10000"), ("fields", "annee,nb_logmt_total")]).json()
    found = pairs(body["records"])
    assert len(found) == body["nhits"] > 1000
    assert len({a for a, _ in found}) > 5 and found == by_keys(found)
    assert body["parameters"]["sort"] == ["annee", "-nb_logmt_total"]
    # the other way round: nb_logmt_total first, annee ordering its ties
    other = pairs(get(client, SEARCH, [*KEYS[::-1], ("rows", "10000")]).json()["records"])
    assert other == sorted(other, key=lambda p: (p[1], -p[0])) and other != found


def test_pages_neither_overlap_nor_skip(client):
    whole = get(client, SEARCH, [*KEYS, ("rows", "300")]).json()["records"]
    paged = [r for start in range(0, 300, 37)
             for r in get(client, SEARCH, [*KEYS, ("rows", "37"), ("start", str(start))]).json()["records"]][:300]
    assert [r["recordid"] for r in paged] == [r["recordid"] for r in whole]
    assert len({r["recordid"] for r in whole}) == 300


def test_download_and_csv_page_take_the_keys(client):
    records = get(client, DOWNLOAD, [*KEYS, ("format", "json")]).json()
    found = pairs(records)
    assert len(found) > 1000 and found == by_keys(found)
    for path, window in ((DOWNLOAD, []), (SEARCH, [("rows", "500"), ("format", "csv")])):
        text = get(client, path, [*KEYS, *window]).content.decode("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
        found = [(int(r["annee"]), int(r["nb_logmt_total"])) for r in rows]
        assert len(found) >= 500 and found == by_keys(found)


def test_geopreview_takes_the_keys(client):
    previews = get(client, PREVIEW, [*KEYS, ("rows", "400")]).json()
    ordered = get(client, SEARCH, [*KEYS, ("rows", "400"), ("fields", "annee")]).json()["records"]
    geometry = [r["geometry"]["coordinates"] for r in ordered if r.get("geometry")]
    assert [p["geometry"]["coordinates"] for p in previews] == geometry


def test_dist_combines_with_other_keys(client):
    circle = ("geofilter.distance", f"{CENTRE[0]},{CENTRE[1]},2000")
    records = get(client, SEARCH, [("sort", "annee"), ("sort", "-dist"), circle, ("rows", "10000")]).json()["records"]
    found = [(r["fields"]["annee"], float(r["fields"]["dist"])) for r in records]
    assert len({a for a, _ in found}) > 5 and found == sorted(found, key=lambda p: (-p[0], p[1]))
    near = [metres(CENTRE, tuple(r["fields"]["geo_point_2d"])) for r in records]
    assert all(abs(d - n) < 0.05 for (_, d), n in zip(found, near))


def test_an_unknown_key_is_refused_as_alone(client):
    for params in ([("sort", "annee"), ("sort", "nosuch")], [("sort", "nosuch")], [("sort", "annee,-nb_plai")]):
        response = client.get(SEARCH, params=[("dataset", "logements"), *params])
        assert response.status_code == 400
        assert response.json()["error_code"] == "ODSQLError" and "Unknown field" in response.json()["error"]


def test_blank_keys_set_nothing(client):
    alone = get(client, SEARCH, [("sort", "annee"), ("rows", "50")]).json()
    with_blanks = get(client, SEARCH, [("sort", ""), ("sort", "annee"), ("sort", "-"), ("rows", "50")]).json()
    assert [r["recordid"] for r in with_blanks["records"]] == [r["recordid"] for r in alone["records"]]
