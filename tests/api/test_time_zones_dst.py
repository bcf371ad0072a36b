"""Dates, datetimes and time zones through the real loader and the API, against zoneinfo.

The records sit around Paris's DST changes (2023-03-26 01:00 UTC, 2023-10-29 01:00 UTC), UTC's
and Paris's midnights, 29 February, and years far from 1970. Expected answers are computed here in
plain Python from the instants written (a day in Paris is Paris's day: 23 hours on 26 March, 25 on
29 October). A wider comparison (v1, facets, refine, exports, several zones) lives outside the
suite; these are the cases it found wrong, and a few it found right, kept as guards.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import Published, published_instance, semicolon_csv

RECORDS = "/api/explore/v2.1/catalog/datasets/moments/records"
UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")

SPRING = [datetime(2023, 3, 26, 0, tzinfo=UTC) + timedelta(minutes=30 * i) for i in range(8)]
AUTUMN = [datetime(2023, 10, 28, 22, tzinfo=UTC) + timedelta(minutes=30 * i) for i in range(8)]
FAR = [datetime(1, 1, 1, 12, tzinfo=UTC), datetime(999, 6, 1, 12, tzinfo=UTC), datetime(1969, 12, 31, 23, 30, tzinfo=UTC),
       datetime(2040, 6, 15, 12, tzinfo=UTC)]
INSTANTS = SPRING + AUTUMN + FAR


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("time-zones-dst")
    # written with Paris's offset, as a French publisher's file would hold them
    rows = [{"n": str(i), "t": m.astimezone(PARIS).isoformat() if m.year > 1900 else m.isoformat()}
            for i, m in enumerate(INSTANTS)]
    instance = published_instance(folder / "home",
                                  Published("moments", semicolon_csv(folder / "moments.csv", rows), "Moments"))
    yield TestClient(create_app(instance))
    instance.store.close()


def groups(client: TestClient, expression: str, tz: str, **params: str) -> dict:
    response = client.get(RECORDS, params={"group_by": f"{expression} as k", "select": "count(*) as c",
                                           "timezone": tz, "limit": 100, **params})
    assert response.status_code == 200, response.text
    return {g["k"]: g["c"] for g in response.json()["results"]}


def test_date_format_writes_a_four_letter_year_with_four_digits(client):
    """Joda's ``yyyy`` is a minimum of four digits: year 1 is ``0001``, year 999 ``0999`` (as
    ``MM`` writes January ``01``), and a ``yyyy-MM`` key sorts with the others as text."""
    answer = groups(client, "date_format(t, 'yyyy-MM')", "UTC")
    expected = Counter(f"{m.year:04d}-{m.month:02d}" for m in INSTANTS)
    assert answer == dict(expected)
    assert "0001-01" in answer and "0999-06" in answer


def test_date_format_keeps_every_digit_past_the_padding(client):
    """``DD`` pads a day of the year to two digits, never cuts the third: 29 December 1969 is
    day 365, not ``36``."""
    answer = groups(client, "date_format(t, 'DD')", "UTC")
    assert answer == dict(Counter(f"{m.timetuple().tm_yday:02d}" for m in INSTANTS))
    assert "365" in answer


@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris", "America/New_York", "Pacific/Chatham", "Asia/Kolkata"])
def test_hours_and_days_are_the_zones_own(client, tz):
    zone = ZoneInfo(tz)
    local = [m.astimezone(zone) for m in INSTANTS if m.year > 1900]
    assert groups(client, "date_format(t, 'yyyy-MM-dd HH')", tz, where="year(t) > 1900") == \
        dict(Counter(m.strftime("%Y-%m-%d %H") for m in local))


def test_a_paris_day_across_a_dst_change_is_its_23_or_25_hours(client):
    response = client.get(RECORDS, params={"refine": 't:"2023/10/29"', "timezone": "Europe/Paris", "limit": 100,
                                           "select": "t"})
    assert response.status_code == 200, response.text
    expected = sorted(m.astimezone(PARIS).isoformat() for m in INSTANTS if m.astimezone(PARIS).date().isoformat() == "2023-10-29")
    assert sorted(r["t"] for r in response.json()["results"]) == expected
    assert groups(client, "hour(t)", "Europe/Paris", where="t >= date'2023-10-29' and t < date'2023-10-30'") == \
        dict(Counter(m.astimezone(PARIS).hour for m in INSTANTS if m.astimezone(PARIS).date().isoformat() == "2023-10-29"))


@pytest.mark.parametrize("tz", ["localtime", "posix/Europe/Paris", "right/Europe/Paris", "posixrules"])
@pytest.mark.parametrize("params", [{"group_by": "hour(t)"}, {"select": "date_format(t, 'HH') as h"}, {"select": "t"},
                                    {"refine": "t:2023"}])
def test_a_zone_file_that_is_no_zone_name_is_a_400(client, tz, params):
    """Python reads any file under the system's zoneinfo folder as a zone (``localtime``, the
    ``posix/`` and ``right/`` copies), the engine knows only the tz database's names: such a
    ``timezone`` was answered by the records' own writing and then failed in the engine (a 500)."""
    client_ = TestClient(client.app, raise_server_exceptions=False)
    response = client_.get(RECORDS, params={"timezone": tz, **params})
    assert response.status_code == 400, response.text
    assert "timezone" in response.json()["message"]
