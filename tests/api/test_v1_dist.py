"""v1's ``sort=dist``/``sort=-dist`` with ``geofilter.distance`` (opendata.paris.fr's Vélib apps,
ODRE's charging-station finders, Bristol's rides…): the records ordered by their distance from
the circle's centre, ``-dist`` nearest first, and each JSON record's ``fields.dist``, metres as a
string; checked against a haversine of the published file's points computed here. A dataset's
own ``dist`` field keeps its meaning; without ``geofilter.distance``, ``dist`` is a 400."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.api.great_circle import metres, point
from tests.api.v1_geo_rows import rows  # noqa: F401  (rows: the file's rows, a fixture)
from tests.conftest import Published, logements_file, published_instance, semicolon_csv

SEARCH, DOWNLOAD, PREVIEW = "/api/records/1.0/search/", "/api/records/1.0/download/", "/api/records/1.0/geopreview/"
CENTRE = (48.8566, 2.3522)
RADIUS = 1500
CIRCLE = {"geofilter.distance": f"{CENTRE[0]},{CENTRE[1]},{RADIUS}"}
#: Metres two distances may differ by and still be the same (doubles, DuckDB's sphere and ours).
SLACK = 0.05
#: A dataset with a ``dist`` field of its own, in the opposite order of the points' distances.
OWN_DIST = [{"nom": f"p{i}", "dist": str(100 - i), "position": f"{CENTRE[0] + i * 0.001},{CENTRE[1]}"}
            for i in range(6)]


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    home = tmp_path_factory.mktemp("v1dist")
    instance = published_instance(
        home / "home",
        Published("logements", logements_file(refdata), "Logements sociaux"),
        Published("mesures", semicolon_csv(home / "mesures.csv", OWN_DIST), "Un champ dist"))
    yield TestClient(create_app(instance))
    instance.store.close()


@pytest.fixture(scope="module")
def inside(rows) -> list[float]:  # noqa: F811
    """The distances of the file's points within the circle, nearest first."""
    return sorted(d for d in (metres(CENTRE, point(r)) for r in rows) if d <= RADIUS)


def search(client, **params) -> dict:
    response = client.get(SEARCH, params={"dataset": "logements", "rows": 10000, **CIRCLE, **params})
    assert response.status_code == 200, response.text
    return response.json()


def measured(fields: dict) -> float:
    """The haversine distance of a record's point (v1's ``[lat, lon]``) from the centre."""
    return metres(CENTRE, tuple(fields["geo_point_2d"]))


def check_dist(fields: dict) -> float:
    """A record's ``fields.dist``: a string, the metres of its point from the centre."""
    assert isinstance(fields["dist"], str)
    assert float(fields["dist"]) == pytest.approx(measured(fields), abs=SLACK)
    return float(fields["dist"])


def test_minus_dist_is_nearest_first(client, inside):
    body = search(client, sort="-dist")
    assert body["nhits"] == len(inside) > 100
    found = [check_dist(r["fields"]) for r in body["records"]]
    assert found == pytest.approx(inside, abs=SLACK)


def test_dist_is_farthest_first(client, inside):
    body = search(client, sort="dist", rows=20)
    found = [check_dist(r["fields"]) for r in body["records"]]
    assert found == pytest.approx(inside[::-1][:20], abs=SLACK)


def test_a_page_further_on_and_geojson(client, inside):
    body = search(client, sort="-dist", rows=7, start=30, format="geojson")
    found = [check_dist(f["properties"]) for f in body["features"]]
    assert found == pytest.approx(inside[30:37], abs=SLACK)


def test_dist_is_given_without_sort_and_with_fields(client, inside):
    records = search(client, fields="adresse_programme,geo_point_2d")["records"]
    assert {frozenset(r["fields"]) for r in records} == {frozenset({"adresse_programme", "dist", "geo_point_2d"})}
    assert sorted(check_dist(r["fields"]) for r in records) == pytest.approx(inside, abs=SLACK)


def test_without_geofilter_distance_dist_is_a_400(client):
    response = client.get(SEARCH, params={"dataset": "logements", "sort": "-dist"})
    assert response.status_code == 400
    assert "geofilter.distance" in response.json()["message"]


def test_a_field_named_dist_keeps_winning(client, inside):
    """The same call reads ``dist`` as the dataset's own field where it has one (its values,
    whatever the points' distances), and as the distance elsewhere."""
    params = {"geofilter.distance": f"{CENTRE[0]},{CENTRE[1]},5000", "rows": 6}
    for sort, expected in (("dist", [100, 99, 98, 97, 96, 95]), ("-dist", [95, 96, 97, 98, 99, 100])):
        records = client.get(SEARCH, params={**params, "dataset": "mesures", "sort": sort}).json()["records"]
        assert [r["fields"]["dist"] for r in records] == expected
    nearest = search(client, **{**params, "sort": "-dist", **CIRCLE})["records"]
    assert [check_dist(r["fields"]) for r in nearest] == pytest.approx(inside[:6], abs=SLACK)


@pytest.mark.parametrize("fmt", ["json", "geojson"])
def test_download_records_carry_dist_nearest_first(client, inside, fmt):
    response = client.get(DOWNLOAD, params={"dataset": "logements", "format": fmt, "sort": "-dist", **CIRCLE})
    assert response.status_code == 200, response.text
    body = response.json()
    records = [f["properties"] for f in body["features"]] if fmt == "geojson" else [r["fields"] for r in body]
    assert [check_dist(f) for f in records] == pytest.approx(inside, abs=SLACK)


def test_download_csv_is_ordered_by_dist(client, inside):
    response = client.get(DOWNLOAD, params={"dataset": "logements", "sort": "dist", **CIRCLE})
    assert response.status_code == 200, response.text
    table = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert [metres(CENTRE, point(r)) for r in table] == pytest.approx(inside[::-1], abs=SLACK)


def test_geopreview_nearest_first(client, inside):
    response = client.get(PREVIEW, params={"dataset": "logements", "sort": "-dist", "rows": 5, **CIRCLE})
    assert response.status_code == 200, response.text
    found = [metres(CENTRE, tuple(reversed(p["geometry"]["coordinates"]))) for p in response.json()]
    assert found == pytest.approx(inside[:5], abs=SLACK)
