"""Plans that read the clock are never kept: ``now()`` is compiled into the SQL as a constant,
so a records page, a count or a facet answer computed with it holds for one call only —
whether ``now()`` comes from the caller's ``where`` or from the dataset's row filter (which
the caller does not see). Other plans are kept per version (``api.explore_service``)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from portail.api import explore_service as es
from portail.auth import services as auth
from portail.catalog import services
from portail.odsql import Query, compile_plan
from portail.schema import Field, FieldType
from tests.conftest import Published, published_instance

#: Seconds from the fixture's start to each row's instant (row ``n`` at ``AFTER[n - 1]``), each
#: twice the one before: however long the load took before the test first looks, the next
#: instant is at most as far again, so the wait adapts to the machine (a fixed step of 3 s
#: slept ~2.5 s per test on a fast one) and a slow one still finds instants to come (up to 16 s).
AFTER = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def _instant(start: datetime, n: int) -> datetime:
    return start + timedelta(seconds=AFTER[n - 1])


@pytest.fixture
def soon(tmp_path):
    """One row per ``AFTER`` offset, timestamped that many seconds from now."""
    start = datetime.now(timezone.utc)
    path = tmp_path / "soon.csv"
    path.write_text("n;t\n" + "".join(f"{n};{_instant(start, n).isoformat()}\n" for n in range(1, len(AFTER) + 1)),
                    encoding="utf-8")
    inst = published_instance(tmp_path / "home", Published("soon", path))
    yield inst, start
    inst.store.close()


def _wait_until(moment: datetime) -> None:
    time.sleep(max(0.0, (moment - datetime.now(timezone.utc)).total_seconds()) + 0.2)


def test_the_compiler_says_when_a_plan_reads_the_clock():
    fields = [Field("t", "t", FieldType.DATETIME), Field("snow", "snow", FieldType.INT)]
    assert compile_plan(Query(where="t <= now(days=-1)"), fields).reads_clock
    assert compile_plan(Query(select="now() as at"), fields).reads_clock
    assert not compile_plan(Query(where="snow > 2 and t > date'2024'"), fields).reads_clock
    from portail.odsql import Security
    assert compile_plan(Query(where="snow > 2"), fields, Security(row_filter="t <= now()")).reads_clock


def _passed(start: datetime) -> int:
    """How many of the fixture's rows have an instant in the past, now."""
    now = datetime.now(timezone.utc)
    return sum(_instant(start, n) <= now for n in range(1, len(AFTER) + 1))


def _counted(start: datetime, count) -> int:
    """``count()``, checked against the clock read just before and just after it (a slow
    machine may already be past the first instant when the test starts)."""
    low = _passed(start)
    n = count()
    assert low <= n <= _passed(start)
    return n



def test_a_where_with_now_is_compiled_at_every_call(soon):
    inst, start = soon
    dataset = es.get_visible_dataset(inst, "public", "soon")
    past = lambda: es.query_records(inst, dataset, where=["t <= now()"]).total_count  # noqa: E731
    facets = lambda: [f["name"] for f in es.dataset_facets(inst, dataset, facet=["n"], where=["t <= now()"])[0]["facets"]]  # noqa: E731
    first = max(_counted(start, past), _counted(start, lambda: len(facets())))  # each must pass it
    assert first < len(AFTER), "the rows' instants all passed before the test could look"
    _wait_until(_instant(start, first + 1))
    assert _counted(start, past) > first
    names = facets()
    assert len(names) > first and sorted(names) == [str(i) for i in range(1, len(names) + 1)]


def test_a_row_filter_with_now_is_compiled_at_every_call(soon):
    """The anonymous caller sees the rows whose instant has passed: the filter is the
    dataset's, the caller's query has no ``now`` in it."""
    inst, start = soon
    with inst.session() as s:
        auth.set_dataset_security(s, services.get_dataset(s, "soon"), record_filters={"*": "t <= now()"})
    dataset = es.get_visible_dataset(inst, "public", "soon")
    seen = lambda: es.query_records(inst, dataset, where=["n > 0"]).total_count  # noqa: E731
    first = _counted(start, seen)
    assert first < len(AFTER), "the rows' instants all passed before the test could look"
    _wait_until(_instant(start, first + 1))
    assert _counted(start, seen) > first


def test_the_catalogue_count_under_a_row_filter_with_now_follows_the_clock(soon):
    """The dataset's ``records_count`` a filtered caller sees is counted through the row filter:
    with ``now()`` in it, the count is not kept with the catalogue's other answers."""
    inst, start = soon
    with inst.session() as s:
        auth.set_dataset_security(s, services.get_dataset(s, "soon"), record_filters={"*": "t <= now()"})
    one = lambda: es.get_visible_dataset(inst, "public", "soon").records_count  # noqa: E731
    listed = lambda: sum(d.records_count for d in es.visible_datasets(inst, "public") if d.slug == "soon")  # noqa: E731
    first = max(_counted(start, one), _counted(start, listed))  # each must pass it
    assert first < len(AFTER), "the rows' instants all passed before the test could look"
    _wait_until(_instant(start, first + 1))
    assert _counted(start, one) > first and _counted(start, listed) > first
