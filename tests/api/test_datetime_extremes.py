"""Datetimes at the calendar's ends and at the autumn clock change, loaded by the real loader.

The rule (``values.instant_text``, ``ingest.infer``): an instant is written in the request's
zone, or in UTC (``+00:00``) where that zone's local time would leave years 1 to 9999; a value
whose instant would itself leave them (a naive ``0001-01-01T00:00:00`` read in Paris) is read
at its wall time in UTC. A naive wall time the clock showed twice is its first occurrence.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import Published, published_instance, semicolon_csv

B = "/api/explore/v2.1/catalog/datasets/t"
ZONES = ("UTC", "America/New_York", "Asia/Kolkata")


def _client(tmp_path, rows):
    inst = published_instance(tmp_path / "home", Published("t", semicolon_csv(tmp_path / "t.csv", rows), "T"))
    return TestClient(create_app(inst), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def ends(tmp_path_factory):
    return _client(tmp_path_factory.mktemp("ends"), [{"n": "0", "t": "0001-01-01T00:00:00Z"},
                                                     {"n": "1", "t": "9999-12-31T23:00:00Z"}])


EXPECTED = {"UTC": ["0001-01-01T00:00:00+00:00", "9999-12-31T23:00:00+00:00"],
            "America/New_York": ["0001-01-01T00:00:00+00:00", "9999-12-31T18:00:00-05:00"],
            "Asia/Kolkata": ["0001-01-01T05:53:28+05:53:28", "9999-12-31T23:00:00+00:00"]}


@pytest.mark.parametrize("tz", ZONES)
def test_records_and_v1_write_the_ends_in_utc_where_the_zone_cannot(ends, tz):
    r = ends.get(B + "/records", params={"timezone": tz, "order_by": "n"})
    assert r.status_code == 200
    assert [x["t"] for x in r.json()["results"]] == EXPECTED[tz]
    v1 = ends.get("/api/records/1.0/search/", params={"dataset": "t", "timezone": tz, "sort": "-n"})
    assert v1.status_code == 200
    assert sorted(x["fields"]["t"] for x in v1.json()["records"]) == sorted(EXPECTED[tz])


@pytest.mark.parametrize("tz", ZONES)
def test_exports_write_every_end(ends, tz):
    body = ends.get(B + "/exports/json", params={"timezone": tz}).json()
    assert [x["t"] for x in sorted(body, key=lambda x: x["n"])] == EXPECTED[tz]
    lines = ends.get(B + "/exports/jsonl", params={"timezone": tz}).text.splitlines()
    assert sorted(json.loads(line)["t"] for line in lines) == sorted(EXPECTED[tz])
    csv = ends.get(B + "/exports/csv", params={"timezone": tz}).text
    for text in EXPECTED[tz]:
        assert text in csv
    xlsx = ends.get(B + "/exports/xlsx", params={"timezone": tz})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_xlsx_keeps_the_ends(ends):
    import io
    import zipfile
    for tz in ZONES:
        sheet = zipfile.ZipFile(io.BytesIO(ends.get(B + "/exports/xlsx", params={"timezone": tz}).content)) \
            .read("xl/worksheets/sheet1.xml").decode()
        assert EXPECTED[tz][0] in sheet  # before 1900: text
        if tz == "Asia/Kolkata":
            assert EXPECTED[tz][1] in sheet  # year 10000 in Kolkata: the UTC text


def test_naive_year_one_is_read_as_utc_and_stays_served(tmp_path):
    c = _client(tmp_path, [{"n": "0", "t": "0001-01-01T00:00:00"}, {"n": "1", "t": "9999-12-31T23:59:59"}])
    r = c.get(B + "/records", params={"order_by": "n"})
    assert r.status_code == 200
    # year 1 read in Paris would be year 0 UTC: read as UTC; 9999 in Paris is a plain instant
    assert [x["t"] for x in r.json()["results"]] == ["0001-01-01T00:00:00+00:00", "9999-12-31T22:59:59+00:00"]
    assert [x["t"] for x in c.get(B + "/exports/json").json()] == ["0001-01-01T00:00:00+00:00",
                                                                    "9999-12-31T22:59:59+00:00"]
    paris = c.get(B + "/records", params={"order_by": "n", "timezone": "Europe/Paris"}).json()["results"]
    assert paris[1]["t"] == "9999-12-31T23:59:59+01:00"


def test_ambiguous_naive_time_is_the_first_and_matches_its_literal(tmp_path):
    c = _client(tmp_path, [{"n": "0", "t": "2023-10-29T02:30:00"}, {"n": "1", "t": "2023-03-26T02:30:00"},
                           {"n": "2", "t": "2023-10-29T03:00:00"}])
    p = {"timezone": "Europe/Paris", "order_by": "n"}
    assert [x["t"] for x in c.get(B + "/records", params=p).json()["results"]] == [
        "2023-10-29T02:30:00+02:00", "2023-03-26T03:30:00+02:00", "2023-10-29T03:00:00+01:00"]
    for literal, n in (("2023-10-29T02:30", 0), ("2023-03-26T02:30", 1), ("2023-10-29T03:00", 2)):
        r = c.get(B + "/records", params={**p, "where": f"t = date'{literal}'"}).json()
        assert [x["n"] for x in r["results"]] == [n], literal


def test_ical_writes_four_digit_years_and_no_end_past_9999(tmp_path):
    c = _client(tmp_path, [{"n": "0", "t": "0001-01-01T00:00:00Z", "d": "0001-01-01"},
                           {"n": "1", "t": "9999-12-31T23:00:00Z", "d": "9999-12-31"}])
    for tz in ZONES:
        r = c.get(B + "/exports/ical", params={"timezone": tz, "start_field": "d", "end_field": "t"})
        assert r.status_code == 200
        lines = [line for line in r.text.splitlines() if line.startswith(("DTSTART", "DTEND"))]
        assert lines == ["DTSTART;VALUE=DATE:00010101", "DTEND;VALUE=DATE:00010102", "DTSTART;VALUE=DATE:99991231"]
        r = c.get(B + "/exports/ical", params={"timezone": tz, "start_field": "t", "end_field": "d"})
        assert [line for line in r.text.splitlines() if line.startswith(("DTSTART", "DTEND"))] == [
            "DTSTART:00010101T000000Z", "DTEND:00010102T000000Z", "DTSTART:99991231T230000Z"]
