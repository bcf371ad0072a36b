"""v1 analyze's ``output_timezone`` moves the zone x's date parts are cut and written in, never
the zone the request's dates are read in: ods-widgets' hour charts send ``output_timezone=UTC``
beside the page's ``timezone``, and a chart refined on 2 May in Paris must count the records of
2 May in Paris. Expected answers are computed here with zoneinfo over the rows written."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import Published, published_instance, semicolon_csv
from tests.odsql.conftest import ROWS, con, run  # noqa: F401 - the ODSQL tests' records table, as a fixture

ANALYZE = "/api/records/1.0/analyze/"
PARIS, UTC = ZoneInfo("Europe/Paris"), ZoneInfo("UTC")
#: Every half hour from 1 May 20:00 to 3 May 04:00 UTC: both Paris midnights fall among them,
#: two hours from UTC's (summer time).
INSTANTS = [datetime(2024, 5, 1, 20, tzinfo=timezone.utc) + timedelta(minutes=30 * i) for i in range(65)]
X = [f"t.{part}" for part in ("year", "month", "day", "hour")]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("v1-output-timezone")
    rows = [{"n": str(i), "t": moment.isoformat()} for i, moment in enumerate(INSTANTS)]
    instance = published_instance(folder / "home",
                                  Published("moments", semicolon_csv(folder / "moments.csv", rows), "Moments",
                                            {"t": {"facet": []}}))
    yield TestClient(create_app(instance))
    instance.store.close()


def hours(client: TestClient, **params: str) -> dict[tuple[int, ...], int]:
    """An hour timescale's points as {(year, month, day, hour): count}."""
    response = client.get(ANALYZE, params={"dataset": "moments", "x": X, "y.n.func": "COUNT", **params})
    assert response.status_code == 200, response.text
    return {tuple(p["x"][part] for part in ("year", "month", "day", "hour")): p["n"] for p in response.json()}


def expected(day: date, read_in: ZoneInfo, cut_in: ZoneInfo) -> dict[tuple[int, ...], int]:
    """The instants of ``day`` in ``read_in``, counted by their hour in ``cut_in``."""
    kept = [m for m in INSTANTS if m.astimezone(read_in).date() == day]
    return dict(Counter((c.year, c.month, c.day, c.hour) for c in (m.astimezone(cut_in) for m in kept)))


@pytest.mark.parametrize("filter_", [{"refine.t": "2024/05/02"}, {"q": "t:2024/05/02"}],
                         ids=["refine", "q"])
def test_the_filter_keeps_the_pages_day_and_x_is_written_in_utc(client, filter_):
    answer = hours(client, timezone="Europe/Paris", output_timezone="UTC", **filter_)
    assert answer == expected(date(2024, 5, 2), PARIS, UTC)
    assert sum(answer.values()) == 48  # 2 May in Paris: 22:00 UTC on 1 May to 22:00 UTC on 2 May
    assert min(answer) == (2024, 5, 1, 22) and max(answer) == (2024, 5, 2, 21)
    # without output_timezone, the filter and the parts are both read in timezone, as before
    assert hours(client, timezone="Europe/Paris", **filter_) == expected(date(2024, 5, 2), PARIS, PARIS)
    assert hours(client, timezone="UTC", **filter_) == expected(date(2024, 5, 2), UTC, UTC)

def test_a_date_format_part_is_cut_in_output_timezone(client):
    """``x=t.yearday`` is a ``date_format`` cut: 2 May in Paris spans two UTC days."""
    response = client.get(ANALYZE, params={"dataset": "moments", "x": "t.yearday", "y.n.func": "COUNT",
                                           "timezone": "Europe/Paris", "output_timezone": "UTC",
                                           "refine.t": "2024/05/02"})
    assert response.status_code == 200, response.text
    kept = [m for m in INSTANTS if m.astimezone(PARIS).date() == date(2024, 5, 2)]
    assert {p["x"]["yearday"]: p["n"] for p in response.json()} == \
        dict(Counter(m.astimezone(UTC).timetuple().tm_yday for m in kept))


def _day_bucket(moment: datetime, zone: ZoneInfo) -> str:
    """range(ts, 1d)'s key of ``moment``: its day in ``zone``, both bounds written in UTC."""
    start = datetime.combine(moment.astimezone(zone).date(), datetime.min.time(), zone)
    iso = "%Y-%m-%dT%H:%M:%S.000Z"
    return f"[{start.astimezone(UTC):{iso}}, {(start + timedelta(days=1)).astimezone(UTC):{iso}}["


def test_the_compiler_cuts_in_cut_timezone_and_reads_dates_in_timezone(con):  # noqa: F811
    """Date parts, date_format and range() buckets read ``cut_timezone`` (None: ``timezone``);
    the where's dates stay read in Paris."""
    kept = [r for r in ROWS if r.ts and r.ts.astimezone(PARIS).date() == date(2021, 6, 2)]
    for cut, zone in ((None, PARIS), ("UTC", UTC)):
        rows = run(con, select="id, h, day, r", group_by="id, hour(ts) as h, date_format(ts, 'yyyy-MM-dd') as day, "
                   "range(ts, 1d) as r", where=["ts >= date'2021-06-02' and ts < date'2021-06-03'"], order_by="id",
                   timezone="Europe/Paris", cut_timezone=cut)
        assert kept and rows == [{"id": r.id, "h": r.ts.astimezone(zone).hour,
                                  "day": r.ts.astimezone(zone).strftime("%Y-%m-%d"), "r": _day_bucket(r.ts, zone)}
                                 for r in kept]
    assert {row["day"] for row in rows} == {"2021-06-01"}  # Paris's 2 June began on 1 June in UTC
