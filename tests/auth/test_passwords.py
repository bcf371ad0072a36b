"""Passwords: argon2id hashes, the policy, lockout after repeated failures, reset tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portail.auth import passwords, services
from portail.auth.errors import AuthError
from portail.auth.models import AuditEvent, User
from portail.catalog import transaction
from sqlalchemy import select

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
GOOD = "Tour-Eiffel 1889"


def test_hashes_are_argon2id_with_production_parameters_and_salted(real_hashing):
    first, second = passwords.hash_password(GOOD), passwords.hash_password(GOOD)
    assert first.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert first != second  # a fresh salt each time
    assert GOOD not in first
    assert passwords.verify_password(first, GOOD) and passwords.verify_password(second, GOOD)
    assert not passwords.verify_password(first, GOOD.lower())
    assert not passwords.needs_rehash(first)


def test_verify_never_matches_a_missing_or_corrupt_hash():
    assert not passwords.verify_password(None, GOOD)
    assert not passwords.verify_password("", GOOD)
    assert not passwords.verify_password("$argon2id$garbage", GOOD)
    assert passwords.needs_rehash("not a hash")


def test_a_weaker_hash_is_flagged_for_rehash(real_hashing):
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(GOOD)
    assert passwords.verify_password(weak, GOOD)
    assert passwords.needs_rehash(weak)


@pytest.mark.parametrize("password, login, broken", [
    ("Tour-Eiffel 1889", "alice", []),
    ("short1A", "alice", ["at least 12 characters"]),
    ("aaaaaaaaaaaaaaaa", "alice", ["two kinds"]),
    ("123456789012345", "alice", ["two kinds"]),
    ("ÉCOLEPRIMAIRE", "alice", ["two kinds"]),
    ("alice-in-wonderland-7", "Alice", ["not contain the login"]),
    ("x" * 2000 + "1", "alice", ["at most 1024"]),
    ("correct horse battery", "bob", []),  # letters and spaces: two kinds
])
def test_policy(password, login, broken):
    problems = passwords.policy_problems(password, login)
    assert len(problems) == len(broken)
    for fragment, problem in zip(broken, problems):
        assert fragment in problem


def test_lockout_arithmetic():
    failed, until = 0, None
    for attempt in range(1, passwords.MAX_FAILED_LOGINS):
        failed, until = passwords.after_failure(failed, T0)
        assert (failed, until) == (attempt, None)
    failed, until = passwords.after_failure(failed, T0)
    assert until == T0 + passwords.LOCKOUT
    assert passwords.is_locked(until, T0 + passwords.LOCKOUT - timedelta(seconds=1))
    assert not passwords.is_locked(until, T0 + passwords.LOCKOUT)
    # After the lock falls, a single further failure locks again.
    assert passwords.after_failure(failed, T0 + timedelta(hours=1))[1] == T0 + timedelta(hours=1) + passwords.LOCKOUT
    # Naive datetimes (as SQLite returns them) are read as UTC.
    assert passwords.is_locked(until.replace(tzinfo=None), T0)


def test_sign_in_locks_after_repeated_failures_and_unlocks_later(catalog):
    with transaction(catalog) as s:
        services.create_user(s, "alice", password=GOOD)
    outcomes = []
    for i in range(passwords.MAX_FAILED_LOGINS + 1):
        with transaction(catalog) as s:
            outcomes.append(services.authenticate(s, "alice", "wrong password 1", ip="10.0.0.9",
                                                  at=T0 + timedelta(seconds=i)).outcome)
    assert outcomes == ["invalid"] * passwords.MAX_FAILED_LOGINS + ["locked"]
    with transaction(catalog) as s:
        # Even the right password is refused while locked.
        assert services.authenticate(s, "alice", GOOD, at=T0 + timedelta(minutes=1)).outcome == "locked"
    with transaction(catalog) as s:
        attempt = services.authenticate(s, "ALICE", GOOD, at=T0 + passwords.LOCKOUT + timedelta(minutes=1))
        assert attempt.ok and attempt.user.login == "alice"
    with transaction(catalog) as s:
        user = services.get_user(s, "alice")
        assert user.failed_logins == 0 and user.locked_until is None and user.last_login is not None
        events = [(e.action, e.detail.get("reason")) for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert events == ([("user.create", None)] + [("login.failure", "wrong password")] * 4 + [("user.lock", None)]
                      + [("login.failure", "wrong password"), ("login.failure", "locked"), ("login.failure", "locked"),
                         ("login.success", None)])


def test_unknown_disabled_and_passwordless_users_cannot_sign_in(sqlite_catalog):
    with transaction(sqlite_catalog) as s:
        services.create_user(s, "nopass")
        carol = services.create_user(s, "carol", password=GOOD)
        services.set_active(s, carol, False)
    with transaction(sqlite_catalog) as s:
        assert services.authenticate(s, "ghost", GOOD).outcome == "invalid"
        assert services.authenticate(s, "nopass", "").outcome == "invalid"
        disabled = services.authenticate(s, "carol", GOOD)
        assert disabled.outcome == "disabled" and not disabled.ok
        # The client is told nothing that separates an unknown login from a wrong password.
        assert services.authenticate(s, "ghost", GOOD).error().message == "Invalid login or password"
        assert disabled.error().status == 401


def test_a_successful_sign_in_upgrades_a_weak_hash(sqlite_catalog, real_hashing):
    from argon2 import PasswordHasher

    with transaction(sqlite_catalog) as s:
        user = services.create_user(s, "dan")
        user.password_hash = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(GOOD)
    with transaction(sqlite_catalog) as s:
        assert services.authenticate(s, "dan", GOOD).ok
    with transaction(sqlite_catalog) as s:
        assert "m=65536,t=3" in services.get_user(s, "dan").password_hash


def test_policy_is_enforced_by_the_services(sqlite_catalog):
    with transaction(sqlite_catalog) as s:
        with pytest.raises(AuthError, match="at least 12 characters") as error:
            services.create_user(s, "erin", password="Short1")
        assert error.value.status == 400
        erin = services.create_user(s, "erin")
        with pytest.raises(AuthError, match="not contain the login"):
            services.set_password(s, erin, "erin-is-the-best-99")


def test_reset_tokens_are_hashed_single_use_and_expire(catalog):
    with transaction(catalog) as s:
        user = services.create_user(s, "frank", password=GOOD)
        token = services.issue_reset_token(s, user, at=T0)
        stored = user.reset_token_hash
    assert token not in stored and stored == passwords.digest(token)
    with transaction(catalog) as s:
        with pytest.raises(AuthError, match="not valid or has expired"):
            services.reset_password(s, token, "New password 2026", at=T0 + passwords.RESET_TOKEN_TTL)
    with transaction(catalog) as s:
        with pytest.raises(AuthError, match="not valid"):
            services.reset_password(s, "forged-token", "New password 2026", at=T0)
    with transaction(catalog) as s:
        services.reset_password(s, token, "New password 2026", at=T0 + timedelta(minutes=5))
    with transaction(catalog) as s:
        with pytest.raises(AuthError):  # spent
            services.reset_password(s, token, "Another password 7", at=T0 + timedelta(minutes=6))
    with transaction(catalog) as s:
        assert services.authenticate(s, "frank", "New password 2026").ok
        assert not services.authenticate(s, "frank", GOOD).ok
    # A newer token replaces the older one.
    with transaction(catalog) as s:
        user = s.scalar(select(User).where(User.login == "frank"))
        old = services.issue_reset_token(s, user, at=T0)
        new = services.issue_reset_token(s, user, at=T0)
    with transaction(catalog) as s:
        with pytest.raises(AuthError):
            services.reset_password(s, old, "Third password 33", at=T0)
        services.reset_password(s, new, "Third password 33", at=T0)
