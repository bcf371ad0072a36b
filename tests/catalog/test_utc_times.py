"""The catalogue's instants are UTC on every backend, whatever its session's time zone.

Every date-time column (``models.UTCDateTime``) converts what it is handed to UTC (a naive value
is UTC, as the code writes ``datetime.now(UTC)``) and hands back aware UTC datetimes, on SQLite
(which keeps no offset and used to store and compare a value's local clock text) as on
PostgreSQL (which hands back, and reads naive parameters in, its session's zone: here also one
set to Europe/Paris). Pages show the catalogue's dates in ``web.i18n.PAGE_ZONE``, not the
session's.
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import select

from portail.api import create_app
from portail.auth import audit
from portail.auth.models import AuditEvent, User
from portail.catalog import open_catalog, services, transaction
from portail.catalog.models import Base
from portail.operations import load_file
from tests.conftest import fresh_pg_database, make_instance, operator_client, semicolon_csv

#: ``options`` as libpq reads it from the URL: the session's zone Europe/Paris (CET, +01:00 in winter).
PARIS_SESSION = "?options=-c%20timezone%3DEurope/Paris"

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres),
            pytest.param("postgresql-paris", marks=pytest.mark.postgres)]

#: The instants the audit tests record, in UTC.
T1 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
T2 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
T3 = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    url = request.getfixturevalue("pg_catalog_url")
    return url + PARIS_SESSION if request.param == "postgresql-paris" else url


@pytest.fixture
def factory(database_url):
    factory = open_catalog(database_url)
    yield factory
    factory.kw["bind"].dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def three_events(request, tmp_path_factory, pg_templates):
    """A catalogue of each backend holding the three audit events (``_record_three``) and nothing
    else, made once for the module: the bounds cases only read it. Its PostgreSQL database is a
    fresh copy of the migrated template, dropped at the end of the module."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('three-events') / 'catalog.sqlite'}"
        else:
            url = stack.enter_context(fresh_pg_database(template=pg_templates("default")))
            url = url + PARIS_SESSION if request.param == "postgresql-paris" else url
        factory = open_catalog(url)
        stack.callback(factory.kw["bind"].dispose)
        _record_three(factory)
        yield factory


def _record_three(factory) -> None:
    with transaction(factory) as s:
        for n, at in enumerate((T1, T2, T3), 1):
            audit.record(s, f"test.e{n}", at=at)


def _actions(factory, **bounds) -> list[str]:
    with transaction(factory) as s:
        return sorted(e.action for e in audit.query(s, **bounds)[1])


def test_values_read_back_are_aware_utc(factory):
    paris = timezone(timedelta(hours=2))
    with transaction(factory) as s:
        audit.record(s, "test.offset", at=datetime(2026, 6, 1, 10, 0, tzinfo=paris))  # 08:00 UTC
        audit.record(s, "test.naive", at=datetime(2026, 6, 1, 10, 0))  # naive: UTC
        user = User(login="jeanne", role="viewer", created_at=datetime(2026, 2, 28, 23, 30, tzinfo=UTC))
        s.add(user)
    with transaction(factory) as s:
        events = {e.action: e.at for e in s.scalars(select(AuditEvent))}
        created = s.scalars(select(User.created_at)).one()
    for moment in (*events.values(), created):
        assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)
    assert events["test.offset"].isoformat() == "2026-06-01T08:00:00+00:00"
    assert events["test.naive"].isoformat() == "2026-06-01T10:00:00+00:00"
    assert created.isoformat() == "2026-02-28T23:30:00+00:00"


@pytest.mark.parametrize(("bounds", "expected"), [
    # 13:00+02:00 is 11:00 UTC: only T1 (08:00 UTC) is before it, on every backend (SQLite used to
    # compare the text 13:00, and let T2 through).
    ({"until": datetime(2026, 12, 6, 13, 0, tzinfo=timezone(timedelta(hours=2)))}, ["test.e1"]),
    ({"since": datetime(2026, 12, 6, 13, 0, tzinfo=timezone(timedelta(hours=2)))}, ["test.e2", "test.e3"]),
    # 07:00-06:00 is 13:00 UTC: past T2 (12:00 UTC), before T3.
    ({"since": datetime(2026, 12, 6, 7, 0, tzinfo=timezone(timedelta(hours=-6)))}, ["test.e3"]),
    # Naive bounds are UTC, never the session's zone (12:30 in Paris is 11:30 UTC).
    ({"since": datetime(2026, 12, 6, 12, 30)}, ["test.e3"]),
    ({"until": datetime(2026, 12, 6, 12, 30)}, ["test.e1", "test.e2"]),
    ({"since": datetime(2026, 12, 6, 21, 0)}, []),
])
def test_audit_since_until_are_instants(three_events, bounds, expected):
    assert _actions(three_events, **bounds) == expected


def test_audit_api_bounds_and_times(tmp_path, database_url):
    instance = make_instance(tmp_path / "home", database_url=database_url)
    try:
        _record_three(instance.catalog)
        client = operator_client(instance)

        def audited(query: str) -> list[dict]:
            response = client.get(f"/api/management/v1/audit?action=test.&{query}")
            assert response.status_code == 200, response.text
            return response.json()["results"]

        assert [e["action"] for e in audited("until=2026-12-06T11:00:00%2B02:00")] == ["test.e1"]
        assert [e["action"] for e in audited("since=2026-12-06T15:00:00%2B02:00")] == ["test.e3"]
        assert audited("since=2026-12-06T21:00:00") == []
        assert [e["at"] for e in audited("since=2026-12-06T12:00:00Z")] == \
            ["2026-12-06T20:00:00+00:00", "2026-12-06T12:00:00+00:00"]
    finally:
        instance.store.close()
        instance.catalog.kw["bind"].dispose()


def test_dataset_page_shows_dates_in_the_portal_zone(tmp_path, database_url):
    instance = make_instance(tmp_path / "home", database_url=database_url)
    try:
        csv = semicolon_csv(tmp_path / "petit.csv", [{"code": "75056", "nom": "Paris"}])
        with instance.session() as s:
            services.create_dataset(s, "petit", "Petit")
        load_file(instance, "petit", csv, publish=True)
        modified = datetime(2026, 2, 28, 23, 30, tzinfo=UTC)  # 1 March, 00:30 in Paris
        with instance.session() as s:
            dataset = services.get_dataset(s, "petit")
            dataset.modified, dataset.created_at = modified, datetime(2026, 7, 14, 22, 15, tzinfo=UTC)
        page = TestClient(create_app(instance)).get("/explore/dataset/petit/information/?lang=fr")
        assert page.status_code == 200
        assert '<time datetime="2026-02-28T23:30:00+00:00">1er mars 2026</time>' in page.text
        assert "15 juillet 2026" in page.text and "14 juillet 2026" not in page.text
        assert "28 février" not in page.text
        with instance.session() as s:  # the last half hour of 2025 in UTC is 2026 in Paris
            services.get_dataset(s, "petit").modified = datetime(2025, 12, 31, 23, 30, tzinfo=UTC)
        listing = TestClient(create_app(instance)).get("/explore/?lang=fr").text
        assert "1er janvier 2026" in listing
        assert re.search(r'2026 <span class="n">\(1\)</span>', listing) and "2025 <span" not in listing
    finally:
        instance.store.close()
        instance.catalog.kw["bind"].dispose()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_models_match_the_migrations(backend, tmp_path, request):
    """The UTC type stores what ``DateTime(timezone=True)`` stored: no migration, no difference
    autogenerate would write (``catalog_generation`` is kept outside the models)."""
    import portail.auth.models  # noqa: F401  (its tables, in Base.metadata)

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    engine = open_catalog(url).kw["bind"]
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = [d for d in compare_metadata(context, Base.metadata)
                           if not (d[0] == "remove_table" and d[1].name == "catalog_generation")]
        assert differences == []
    finally:
        engine.dispose()
