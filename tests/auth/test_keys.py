"""API keys: shown once, stored hashed, verified, expired, revoked; scopes only narrow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portail.auth import can, keys, principal_for_user, services
from portail.auth.errors import AuthError
from portail.auth.models import ApiKey, AuditEvent
from portail.auth.passwords import digest
from portail.auth.permissions import DatasetRef
from portail.catalog import transaction

T0 = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)  # keys are created "now"


def _verify(factory, secret: str, at: datetime):
    with transaction(factory) as s:
        return keys.verify_key(s, secret, at)


def test_key_lifecycle(catalog):
    with transaction(catalog) as s:
        bob = services.create_user(s, "bob", role="viewer")
        key, secret = services.create_api_key(s, bob, "script", expires_at=T0 + timedelta(days=30))
        key_id = key.id
    assert key_id.startswith("ak_") and len(key_id) == 11
    assert secret.startswith("pk_") and len(secret) == 43
    with transaction(catalog) as s:
        row = s.get(ApiKey, key_id)
        # Only a digest and a short prefix are stored, never the key.
        assert row.secret_hash == digest(secret) and row.prefix == secret[:10]
        assert secret not in repr([getattr(row, c.key) for c in ApiKey.__table__.columns])
        assert row.scopes == ["read"] and row.datasets is None and row.last_used_at is None

    assert _verify(catalog, secret, T0).id == key_id
    with transaction(catalog) as s:
        assert keys.status_of(s.get(ApiKey, key_id), T0).last_used_at == T0
    # last_used_at is not rewritten on every request.
    _verify(catalog, secret, T0 + timedelta(seconds=10))
    _verify(catalog, secret, T0 + timedelta(minutes=5))
    with transaction(catalog) as s:
        assert keys.status_of(s.get(ApiKey, key_id), T0).last_used_at == T0 + timedelta(minutes=5)

    # Expired: refused with the same message as an unknown key.
    with pytest.raises(AuthError) as expired:
        _verify(catalog, secret, T0 + timedelta(days=30))
    assert (expired.value.status, expired.value.message) == (401, "API key is not valid")
    with transaction(catalog) as s:
        assert keys.status_of(s.get(ApiKey, key_id), T0 + timedelta(days=31)).state == "expired"

    with transaction(catalog) as s:
        services.revoke_api_key(s, key_id)
    with pytest.raises(AuthError, match="API key is not valid"):
        _verify(catalog, secret, T0)
    with transaction(catalog) as s:
        row = s.get(ApiKey, key_id)
        assert keys.status_of(row, T0).state == "revoked" and row.revoked_by is None
        actions = [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions == ["user.create", "apikey.create", "apikey.revoke"]


@pytest.mark.parametrize("secret", ["", "pk_", "pk_notakey", "ak_abcdefgh", "Bearer x", "pk_" + "A" * 40])
def test_unknown_or_malformed_keys_are_refused(sqlite_catalog, secret):
    with transaction(sqlite_catalog) as s:
        services.create_api_key(s, services.create_user(s, "bob"))
    with pytest.raises(AuthError, match="API key is not valid"):
        _verify(sqlite_catalog, secret, T0)


def test_a_disabled_users_keys_stop_working(sqlite_catalog):
    with transaction(sqlite_catalog) as s:
        _, secret = services.create_api_key(s, services.create_user(s, "bob"))
    assert _verify(sqlite_catalog, secret, T0)
    with transaction(sqlite_catalog) as s:
        services.set_active(s, services.get_user(s, "bob"), False)
    with pytest.raises(AuthError):
        _verify(sqlite_catalog, secret, T0)
    with transaction(sqlite_catalog) as s, pytest.raises(AuthError, match="disabled"):
        services.create_api_key(s, services.get_user(s, "bob"))


def test_scopes_are_validated_and_manage_brings_read(sqlite_catalog):
    assert keys.normalize_scopes(["manage"]) == ["manage", "read"]
    assert keys.normalize_scopes([" READ ", "read"]) == ["read"]
    for bad in ([], ["write"], [""]):
        with pytest.raises(AuthError):
            keys.normalize_scopes(bad)
    with transaction(sqlite_catalog) as s:
        user = services.create_user(s, "bob")
        with pytest.raises(AuthError, match="in the future"):
            services.create_api_key(s, user, expires_at=datetime.now(UTC) - timedelta(seconds=1))


def test_a_key_carries_at_most_its_users_rights(sqlite_catalog):
    mine = DatasetRef(uid="da_mine0001", owner="paula")
    other = DatasetRef(uid="da_other001", owner="someone")
    with transaction(sqlite_catalog) as s:
        admin = services.create_user(s, "root", role="admin")
        paula = services.create_user(s, "paula", role="publisher")
        viewer = services.create_user(s, "vic", role="viewer")
        admin_read, _ = services.create_api_key(s, admin, scopes=["read"])
        admin_manage, _ = services.create_api_key(s, admin, scopes=["manage"])
        paula_mine, _ = services.create_api_key(s, paula, scopes=["manage"], datasets=[mine.uid])
        # A viewer may not be given a manage key (every way of making keys passes through
        # services)...
        with pytest.raises(AuthError, match="may not hold a key with the manage scope"):
            services.create_api_key(s, viewer, scopes=["Manage"])
        # ...but one made while they published (or before the rule) must still give them nothing.
        viewer_manage, _ = keys.create_key(s, viewer, scopes=["manage"])
        principals = {k.id: principal_for_user(k.user, k) for k in (admin_read, admin_manage, paula_mine, viewer_manage)}
        session_admin = principal_for_user(admin)
    p = principals
    # An admin's read key reads, and cannot manage anything.
    assert can(p[admin_read.id], "read_records", other)
    assert not any(can(p[admin_read.id], a, other) for a in ("edit_dataset", "publish_dataset", "manage_security"))
    assert not can(p[admin_read.id], "manage_users") and not can(p[admin_read.id], "create_dataset")
    # With manage it has the admin's rights; so does the admin without a key.
    assert can(p[admin_manage.id], "manage_users") and can(session_admin, "manage_users")
    # A key limited to one dataset works there only, and cannot act catalogue-wide.
    assert can(p[paula_mine.id], "edit_dataset", mine) and not can(p[paula_mine.id], "read_records", other)
    assert not can(p[paula_mine.id], "create_dataset") and can(p[paula_mine.id], "read_catalog")
    # A manage key gives a viewer nothing a viewer lacks.
    assert not can(p[viewer_manage.id], "edit_dataset", other) and not can(p[viewer_manage.id], "create_dataset")
    # ...not even its user's keys: a viewer may not hold manage, so the key's manage no longer counts
    assert not can(p[viewer_manage.id], "manage_keys") and can(p[viewer_manage.id], "read_catalog")


def test_revocation_by_owner_admin_or_nobody_else(sqlite_catalog):
    with transaction(sqlite_catalog) as s:
        bob, eve = services.create_user(s, "bob"), services.create_user(s, "eve", role="publisher")
        admin = services.create_user(s, "root", role="admin")
        k1, _ = services.create_api_key(s, bob, "one")
        k2, _ = services.create_api_key(s, bob, "two")
        eve_manage, _ = services.create_api_key(s, eve, scopes=["manage"])
        bob_read, _ = services.create_api_key(s, bob, scopes=["read"])
        as_eve, as_bob_read = principal_for_user(eve, eve_manage), principal_for_user(bob, bob_read)
        as_bob, as_admin = principal_for_user(bob), principal_for_user(admin)
        ids = k1.id, k2.id
    with transaction(sqlite_catalog) as s:
        with pytest.raises(AuthError, match="administrator or the key's owner") as refused:
            services.revoke_api_key(s, ids[0], by=as_eve)
        assert refused.value.status == 403
        with pytest.raises(AuthError):  # the owner, but through a read-only key
            services.revoke_api_key(s, ids[0], by=as_bob_read)
    with transaction(sqlite_catalog) as s:
        assert services.revoke_api_key(s, ids[0], by=as_bob).revoked_by == "bob"
        assert services.revoke_api_key(s, ids[1], by=as_admin).revoked_by == "root"
        services.revoke_api_key(s, ids[1], by=as_admin)  # idempotent, no second event
    with transaction(sqlite_catalog) as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "apikey.revoke").order_by(AuditEvent.id)).all()
        assert [(e.actor, e.target) for e in events] == [("bob", f"apikey:{ids[0]}"), ("root", f"apikey:{ids[1]}")]
        with pytest.raises(AuthError, match="Unknown API key") as missing:
            services.revoke_api_key(s, "ak_nothere")
        assert missing.value.status == 404
        listed = [keys.status_of(k).to_dict() for k in keys.list_keys(s, services.get_user(s, "bob"))]
    assert [(k["name"], k["state"]) for k in listed] == [("one", "revoked"), ("two", "revoked"), ("default", "active")]
    assert all(set(k) >= {"id", "prefix", "scopes"} and "secret_hash" not in k for k in listed)


def test_an_expiry_given_in_another_zone_keeps_its_instant(catalog):
    """SQLite hands the column back without its zone, read as UTC: a key asked to expire at
    midnight +02:00 lived two hours longer."""
    from datetime import timezone

    paris_summer = timezone(timedelta(hours=2))
    asked = (T0 + timedelta(days=3)).astimezone(paris_summer)
    with transaction(catalog) as s:
        key, secret = services.create_api_key(s, services.create_user(s, "zed"), expires_at=asked)
        key_id = key.id
    with transaction(catalog) as s:
        stored = s.get(ApiKey, key_id).expires_at
    assert stored.replace(tzinfo=stored.tzinfo or UTC) == asked
    assert _verify(catalog, secret, asked - timedelta(minutes=1)) is not None
    with pytest.raises(AuthError):
        _verify(catalog, secret, asked + timedelta(minutes=1))
