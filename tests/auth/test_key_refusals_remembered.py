"""A refused API key is not looked up again while the catalogue is unchanged (``auth.principal``'s
``_REFUSED_KEYS``), and is accepted at the first call after a change that makes it valid, made
through another catalogue factory (another process's view of the same file): the refusal is
kept under the catalogue's counter, read from the database at every call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from portail.auth import AuthError, principal_from_request, services
from portail.auth.models import ApiKey
from portail.catalog import transaction
from portail.catalog.db import open_catalog


@pytest.fixture
def two_views(tmp_path):
    """The catalogue as the API process reads it, and as another process (the CLI) writes it."""
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    reader, writer = open_catalog(url), open_catalog(url)
    yield reader, writer
    reader.kw["bind"].dispose()
    writer.kw["bind"].dispose()


def key_lookups(factory) -> list[str]:
    """The statements reading the key table, as they are run (appended to as calls go)."""
    seen: list[str] = []

    @event.listens_for(factory.kw["bind"], "before_cursor_execute")
    def _seen(_conn, _cursor, statement, *_):
        if "FROM auth_api_key" in statement:
            seen.append(statement)

    return seen


def call(factory, secret: str):
    return principal_from_request({"Authorization": f"Apikey {secret}"}, {}, factory)


def test_a_refused_key_is_looked_up_once_while_the_catalogue_is_unchanged(two_views):
    reader, writer = two_views
    with transaction(writer) as s:
        key, secret = services.create_api_key(s, services.create_user(s, "alice"))
        services.revoke_api_key(s, key.id)
    lookups = key_lookups(reader)
    for _ in range(3):
        with pytest.raises(AuthError):
            call(reader, secret)
    assert len(lookups) == 1
    with pytest.raises(AuthError):  # a key nobody made, likewise
        call(reader, "pk_" + "x" * 40)
    with pytest.raises(AuthError):
        call(reader, "pk_" + "x" * 40)
    assert len(lookups) == 2


def test_an_expired_key_extended_elsewhere_is_accepted_at_the_next_call(two_views):
    reader, writer = two_views
    with transaction(writer) as s:
        key, secret = services.create_api_key(s, services.create_user(s, "alice"),
                                              expires_at=datetime.now(UTC) + timedelta(days=1))
        key.expires_at = datetime(2025, 1, 1, tzinfo=UTC)
    for _ in range(2):
        with pytest.raises(AuthError):
            call(reader, secret)
    with transaction(writer) as s:
        s.get(ApiKey, key.id).expires_at = datetime.now(UTC) + timedelta(days=30)
    assert call(reader, secret).login == "alice"


def test_a_disabled_users_key_works_at_the_next_call_once_re_enabled_elsewhere(two_views):
    reader, writer = two_views
    with transaction(writer) as s:
        user = services.create_user(s, "alice")
        _, secret = services.create_api_key(s, user)
        services.set_active(s, user, False)
    for _ in range(2):
        with pytest.raises(AuthError):
            call(reader, secret)
    with transaction(writer) as s:
        services.set_active(s, services.get_user(s, "alice"), True)
    assert call(reader, secret).login == "alice"
    with transaction(writer) as s:  # and refused at the next call once disabled again
        services.set_active(s, services.get_user(s, "alice"), False)
    with pytest.raises(AuthError):
        call(reader, secret)
