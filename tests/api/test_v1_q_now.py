"""v1's ``q`` dates relative to now, ``#now(…)`` with the parameters Opendatasoft's v1
documentation lists (dateutil's ``relativedelta``'s): the records chosen are those an
independent computation of the moment chooses, by ``relativedelta`` itself and, for the
documentation's own examples, by plain date arithmetic."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone

import pytest
from dateutil.relativedelta import FR, MO, SU, WE, relativedelta
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import Published, published_instance

SEARCH = "/api/records/1.0/search/"
DAYS = 800  # days before and after the fixture's today: every form below lands inside


@pytest.fixture(scope="module")
def days(tmp_path_factory):
    """A record a day around today, ``d`` its date and ``t`` an instant of that day (hours and
    minutes varying from day to day), and the client."""
    folder = tmp_path_factory.mktemp("v1now")
    today = datetime.now(timezone.utc).date()
    table = {}
    for n in range(-DAYS, DAYS + 1):
        d = today + timedelta(days=n)
        table[n] = (d, datetime.combine(d, time((n * 5) % 24, (n * 13) % 60), timezone.utc))
    path = folder / "days.csv"
    path.write_text("n;d;t\n" + "".join(f"{n};{d.isoformat()};{t.isoformat()}\n" for n, (d, t) in table.items()),
                    encoding="utf-8")
    instance = published_instance(folder / "home", Published("days", path))
    yield TestClient(create_app(instance)), table
    instance.store.close()


def _chosen(client: TestClient, q: str) -> set[int]:
    answer = client.get(SEARCH, params={"dataset": "days", "q": q, "rows": -1, "fields": "n"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["nhits"] == len(body["records"])
    return {r["fields"]["n"] for r in body["records"]}


def _as_clock_says(client: TestClient, q: str, expected: Callable[[datetime], set[int]]) -> None:
    """The records ``q`` chooses are those ``expected`` computes from the clock read just before
    or just after the call (the test may straddle a boundary, e.g. midnight)."""
    before = expected(datetime.now(timezone.utc))
    chosen = _chosen(client, q)
    assert chosen in (before, expected(datetime.now(timezone.utc)))


def _midnight(d: date) -> datetime:
    """A date as a moment compared with an instant: its first one, in the request's zone (UTC)."""
    return datetime.combine(d, time(0), timezone.utc)


RELATIVE = [
    ("#now()", relativedelta()),
    ("#now(days=-1)", relativedelta(days=-1)),
    ("#now(weekday=MO(2))", relativedelta(weekday=MO(2))),
    ("#now(weekday=MO(-1))", relativedelta(weekday=MO(-1))),
    ("#now(weekday=MO)", relativedelta(weekday=MO)),
    ("#now(weekday=4)", relativedelta(weekday=4)),
    ("#now(weeks=-2, weekday=1)", relativedelta(weeks=-2, weekday=1)),
    ("#now(years=-1, month=1, day=1)", relativedelta(years=-1, month=1, day=1)),
    ("#now(years=-1, month=2, months=1, day=31)", relativedelta(years=-1, month=2, months=1, day=31)),
    ("#now(months=-18, day=31, hour=0, minute=0, second=0, microsecond=0)",
     relativedelta(months=-18, day=31, hour=0, minute=0, second=0, microsecond=0)),
    ("#now(weekday=SU(-3), hours=-30)", relativedelta(weekday=SU(-3), hours=-30)),
    ("#now( weekday = fr(+3) , minutes=90 )", relativedelta(weekday=FR(+3), minutes=90)),
    ("#now(months=14, weekday=WE(-2), day=29)", relativedelta(months=14, weekday=WE(-2), day=29)),
]


@pytest.mark.parametrize("form, delta", RELATIVE, ids=[form for form, _ in RELATIVE])
def test_now_chooses_the_records_relativedelta_does(days, form, delta):
    client, table = days
    _as_clock_says(client, f"d>={form}", lambda now: {n for n, (d, _) in table.items() if _midnight(d) >= now + delta})
    _as_clock_says(client, f"t<{form}", lambda now: {n for n, (_, t) in table.items() if t < now + delta})


def test_now_in_a_range_and_beside_other_terms(days):
    client, table = days
    q = "d:[#now(weekday=MO(-1), hour=0) TO #now(weekday=SU, hour=0)] AND NOT n=0"
    _as_clock_says(client, q, lambda now: {
        n for n, (d, _) in table.items()
        if now + relativedelta(weekday=MO(-1), hour=0) <= _midnight(d) <= now + relativedelta(weekday=SU, hour=0) and n})


def _first_after(moment: datetime) -> date:
    """The first date whose start is at or after ``moment``."""
    return moment.date() if moment.time() == time(0) else moment.date() + timedelta(days=1)


DOCUMENTED = [  # Opendatasoft's examples, each computed by hand
    ("#now(days=-1)", lambda now: now - timedelta(days=1)),
    ("#now(weekday=MO(2))",  # the Monday after next: the next Monday (today included), a week on
     lambda now: now + timedelta(days=(0 - now.weekday()) % 7 + 7)),
    ("#now(weeks=-2, weekday=1)",  # two weeks back, then the Tuesday from there (that day included)
     lambda now: now - timedelta(weeks=2) + timedelta(days=(1 - now.weekday()) % 7)),
    ("#now(years=-1, month=1, day=1)", lambda now: now.replace(year=now.year - 1, month=1, day=1)),
    ("#now(year=2025)", lambda now: now.replace(year=2025, day=min(now.day, 28) if now.month == 2 else now.day)),
]


@pytest.mark.parametrize("form, moment", DOCUMENTED, ids=[form for form, _ in DOCUMENTED])
def test_documented_examples_by_hand(days, form, moment):
    client, table = days

    def expected(now: datetime) -> set[int]:
        first = _first_after(moment(now))
        return {n for n, (d, _) in table.items() if d >= first}

    _as_clock_says(client, f"d>={form}", expected)


def test_odsql_now_clamps_the_day_once_months_are_added_as_relativedelta_does(days):
    """ODSQL's ``now()``, which v1's ``#now`` becomes: a day set with months added is clamped
    to the month reached, not to the one set first (Mar 31, not Mar 28)."""
    client, _ = days
    before = datetime.now(timezone.utc)
    answer = client.get("/api/explore/v2.1/catalog/datasets/days/records",
                        params={"select": "now(month=2, months=1, day=31, hour=0, minute=0, second=0, microsecond=0) as m",
                                "limit": 1}).json()
    moment = datetime.fromisoformat(answer["results"][0]["m"])
    assert moment in {now + relativedelta(month=2, months=1, day=31, hour=0, minute=0, second=0, microsecond=0)
                      for now in (before, datetime.now(timezone.utc))}
    assert (moment.month, moment.day) == (3, 31)


@pytest.mark.parametrize("q", [
    "d>=#now(weekday=MO(0))", "d>=#now(weekday=7)", "d>=#now(weekday=XY)", "d>=#now(weekday=MO, weekday=TU)",
    "d>=#now(days=1, days=2)", "d>=#now(days=1.5)", "d>=#now(yearday=3)", "d>=#now(leapdays=1)",
    "d>=#now(mondays=1)", "d>=#now(days)", "d>=#now(month=13)", "d>=#now(years=-9000)", "d>=#today",
    "d>=#today()", "d:[#yesterday() TO #now()]", "t<#now(weekday=MO(2)", "n>=#now()",
])
def test_unsupported_forms_are_refused_with_a_400(days, q):
    client, _ = days
    answer = client.get(SEARCH, params={"dataset": "days", "q": q})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error_code"] in ("InvalidRESTParameterError", "ODSQLError")


def test_refusals_say_what_is_accepted(days):
    client, _ = days
    error = client.get(SEARCH, params={"dataset": "days", "q": "d>=#now(yearday=3)"}).json()["error"]
    assert "#now(yearday=3)" in error and "weekday" in error and "MO(2)" in error and "years" in error
    error = client.get(SEARCH, params={"dataset": "days", "q": "d>=#today"}).json()["error"]
    assert "#today" in error and "#now(" in error
