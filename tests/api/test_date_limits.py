"""Dates at the ends of the calendar (year 1, year 9999) in every place a caller writes one:
ODSQL literals and now() moved across a timezone, refine paths, v1's q. Python's datetime stops
at 9999-12-31, so a period ending there has no day after it, and an instant past it in UTC
cannot be written: the first is an open period, the second a 400, never a 500."""

from __future__ import annotations

import csv

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import Published, published_instance

RECORDS = "/api/explore/v2.1/catalog/datasets/senateurs/records"


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    instance = published_instance(tmp_path_factory.mktemp("limits") / "home",
                                  Published("senateurs", refdata / "elus" / "rne_elus-senateurs-sen.csv"))
    yield TestClient(create_app(instance), raise_server_exceptions=False)
    instance.store.close()


@pytest.fixture(scope="module")
def born(refdata) -> int:
    with open(refdata / "elus" / "rne_elus-senateurs-sen.csv", encoding="utf-8") as handle:
        return sum(1 for row in csv.DictReader(handle, delimiter=";") if row["Date de naissance"])


@pytest.mark.parametrize("params", [
    {"where": "date_de_naissance < date'9999-12-31T23:59:59-12:00'"},
    {"where": "date_de_naissance > date'0001-01-01T00:00+01:00'"},
    {"where": "date_de_naissance < date'9999-12-31T23:59:59'", "timezone": "Etc/GMT+12"},
    {"where": "date_de_naissance >= '9999-12-31T23:59:59-05:00'"},
    {"select": "now(year=9999, month=12, day=31, hour=23)", "timezone": "Etc/GMT+12"},
])
def test_an_instant_beyond_the_calendar_in_utc_is_a_400(client, params):
    response = client.get(RECORDS, params=params)
    assert response.status_code == 400 and response.json()["error_code"] == "ODSQLError", response.text


@pytest.mark.parametrize("path", ["9999", "9999/12", "9999/12/31"])
def test_a_refine_on_the_last_period_is_open_above(client, path):
    response = client.get(RECORDS, params={"refine": f"date_de_naissance:{path}", "limit": 0})
    assert response.status_code == 200 and response.json()["total_count"] == 0
    facets = client.get(RECORDS.replace("records", "facets"),
                        params={"refine": f"date_de_naissance:{path}", "facet": "date_de_naissance"})
    assert facets.status_code == 200 and facets.json()["facets"][0]["facets"] == []


def test_the_last_period_and_any_other_share_one_plan(client, refdata):
    """Calls refining one field share a plan run with their values: the last period must bind
    as many values as any other (it bound one, and the next call failed binding two)."""
    with open(refdata / "elus" / "rne_elus-senateurs-sen.csv", encoding="utf-8") as handle:
        births = [row["Date de naissance"] for row in csv.DictReader(handle, delimiter=";")]
    for path in ("9999", "1950", "9999/12", "1950/03"):
        expected = sum(1 for b in births if b.startswith(path.replace("/", "-")))
        for params in ({"refine": f"date_de_naissance:{path}"}, {"exclude": f"date_de_naissance:{path}"}):
            response = client.get(RECORDS, params={**params, "limit": 0})
            assert response.status_code == 200, response.text
            assert response.json()["total_count"] == (expected if "refine" in params else len(births) - expected)


@pytest.mark.parametrize(("q", "expected"), [
    ("date_de_naissance:[0001-01-01 TO 9999-12-31]", "born"), ("date_de_naissance<=9999-12-31", "born"),
    ("date_de_naissance>=9999-12-31", 0), ("date_de_naissance>9999", 0), ("date_de_naissance:9999/12", 0),
    ("date_de_naissance<9999", "born"),
])
def test_v1_periods_at_the_end_of_the_calendar(client, born, q, expected):
    response = client.get("/api/records/1.0/search/", params={"dataset": "senateurs", "q": q})
    assert response.status_code == 200, response.text
    assert response.json()["nhits"] == (born if expected == "born" else expected)
    refined = client.get("/api/records/1.0/search/", params={"dataset": "senateurs", "refine.date_de_naissance": "9999"})
    assert refined.status_code == 200 and refined.json()["nhits"] == 0


@pytest.mark.parametrize("path", ["9999999999", "2020/9999999999", "-9999999999", "99999"])
def test_a_date_path_past_any_calendar_is_a_400(client, path):
    for url, params in ((RECORDS, {"refine": f"date_de_naissance:{path}"}),
                        ("/api/records/1.0/search/", {"dataset": "senateurs", "refine.date_de_naissance": path})):
        response = client.get(url, params=params)
        assert response.status_code == 400 and "YYYY" in response.json()["message"], response.text
