"""Sessions as stored in the catalogue (SQLite and PostgreSQL, migration 0004): only a digest
kept, expiry, disabled users, logout, logout everywhere with its audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from portail.auth import services, sessions
from portail.auth.audit import query
from portail.auth.passwords import digest
from portail.catalog import transaction


def test_session_lifecycle(catalog):
    at = datetime(2020, 11, 29, 8, tzinfo=UTC)  # long past: these sessions are expired by the real clock
    with transaction(catalog) as s:
        alice = services.create_user(s, "alice")
        first = sessions.open_session(s, alice, ttl=timedelta(hours=1), at=at, user_agent="x" * 500)
        second = sessions.open_session(s, alice, ttl=timedelta(hours=1), at=at)
    assert first.token != second.token and first.csrf_token != first.token
    with transaction(catalog) as s:
        row = sessions.find_session(s, first.token, at + timedelta(minutes=59))
        assert row.user.login == "alice" and row.id == digest(first.token) and len(row.user_agent) == 300
        assert sessions.find_session(s, first.token, at + timedelta(hours=1)) is None  # expired
        assert sessions.find_session(s, "unknown", at) is None and sessions.find_session(s, None, at) is None
    with transaction(catalog) as s:
        assert sessions.close_session(s, first.token) is False  # already expired by now (real clock)
    with transaction(catalog) as s:
        third = sessions.open_session(s, services.get_user(s, "alice"))
        fourth = sessions.open_session(s, services.get_user(s, "alice"))
    with transaction(catalog) as s:
        assert sessions.close_session(s, third.token, ip="10.0.0.1") is True
        assert sessions.find_session(s, third.token) is None and sessions.find_session(s, fourth.token) is not None
    with transaction(catalog) as s:
        services.set_active(s, services.get_user(s, "alice"), False)
    with transaction(catalog) as s:
        assert sessions.find_session(s, fourth.token) is None  # a disabled user's session stops at once…
        assert query(s, action="user.disable")[1][0].detail == {"sessions_ended": 1}
        services.set_active(s, services.get_user(s, "alice"), True)
    with transaction(catalog) as s:
        assert sessions.find_session(s, fourth.token) is None  # …and enabling the user again does not revive it
        fifth = sessions.open_session(s, services.get_user(s, "alice"))
    with transaction(catalog) as s:
        assert sessions.close_all_sessions(s, services.get_user(s, "alice"), actor="root") == 1
        assert sessions.find_session(s, fifth.token) is None and query(s, action="logout")[0] == 1
        event = query(s, action="logout.everywhere")[1][0]
        assert event.actor == "root" and event.detail == {"sessions": 1}


def test_a_new_password_ends_every_session(catalog):
    """Whoever sets it (an admin, the CLI, a reset link): a browser signed in with the old
    password, stolen or shared, must not outlive it (a multi-node hunt found sessions kept)."""
    with transaction(catalog) as s:
        alice = services.create_user(s, "alice", password="Correct-horse-42")
        before = [sessions.open_session(s, alice) for _ in range(2)]
    with transaction(catalog) as s:
        services.set_password(s, services.get_user(s, "alice"), "Another-horse-43", actor="root")
    with transaction(catalog) as s:
        assert all(sessions.find_session(s, opened.token) is None for opened in before)
        assert query(s, action="user.password")[1][0].detail == {"sessions_ended": 2}
        again = sessions.open_session(s, services.get_user(s, "alice"))
        token = services.issue_reset_token(s, services.get_user(s, "alice"), ttl=timedelta(minutes=5))
    with transaction(catalog) as s:
        services.reset_password(s, token, "Third-horse-44x")
    with transaction(catalog) as s:
        assert sessions.find_session(s, again.token) is None


def test_opening_a_session_sweeps_expired_ones(catalog):
    past = datetime(2020, 1, 1, tzinfo=UTC)
    with transaction(catalog) as s:
        alice = services.create_user(s, "alice")
        sessions.open_session(s, alice, ttl=timedelta(minutes=1), at=past)
        sessions.open_session(s, alice)
    with transaction(catalog) as s:
        assert sessions.close_all_sessions(s, services.get_user(s, "alice")) == 1


def test_cookie_options():
    options = sessions.cookie_options(True, timedelta(hours=2))
    assert options == {"key": "__Host-portail_session", "httponly": True, "secure": True, "samesite": "lax", "path": "/",
                       "max_age": 7200}
