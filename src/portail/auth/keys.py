"""API keys: create (the clear key is returned once), verify, list, revoke, scopes.

A key is ``pk_`` + 40 random base62 characters (about 238 bits), so a plain SHA-256 digest is
enough at rest (no salt or slow hash needed: there is nothing to guess) and lets a request be
matched with one indexed lookup. Only the digest and a short display prefix are stored.

Scopes narrow a key, never widen it: ``read`` lets it read, ``manage`` lets it use its user's
management rights, and a dataset list limits it to those datasets. ``permissions.can`` checks
both the key's scopes and its user's role, so a ``read`` key of an admin cannot manage.

These functions change the session but write no audit event: ``services`` wraps the state
changes with their audit trail.
"""

from __future__ import annotations

import hmac
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from portail.auth.errors import bad_request, forbidden, invalid_key, unknown
from portail.auth.models import ApiKey, User
from portail.auth.passwords import aware, digest
from portail.auth.permissions import may_manage_keys_of

if TYPE_CHECKING:
    from portail.auth.principal import Principal

KEY_PREFIX = "pk_"
KEY_LENGTH = 40
#: Scopes a key may carry; ``manage`` implies ``read``.
SCOPES = ("read", "manage")
#: ``last_used_at`` is written at most this often per key (not one write per request).
LAST_USED_GRANULARITY = timedelta(minutes=1)

_BASE62 = string.ascii_letters + string.digits
_ID_ALPHABET = string.ascii_lowercase + string.digits


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class KeyStatus:
    """What a key listing shows: never the key itself."""

    id: str
    login: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    datasets: tuple[str, ...] | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    state: str  # active | expired | revoked

    def to_dict(self) -> dict:
        def iso(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        return {"id": self.id, "login": self.login, "name": self.name, "prefix": self.prefix,
                "scopes": list(self.scopes), "datasets": list(self.datasets) if self.datasets is not None else None,
                "created_at": iso(self.created_at), "expires_at": iso(self.expires_at),
                "last_used_at": iso(self.last_used_at), "revoked_at": iso(self.revoked_at), "state": self.state}


# -- pure -----------------------------------------------------------------------------------
def normalize_scopes(scopes: Iterable[str]) -> list[str]:
    """Sorted, known scopes; ``manage`` brings ``read``. An empty list is refused."""
    wanted = {s.strip().lower() for s in scopes if s and s.strip()}
    unknown_scopes = wanted - set(SCOPES)
    if unknown_scopes:
        raise bad_request(f"Unknown API key scope {sorted(unknown_scopes)[0]!r}; use {' or '.join(SCOPES)}")
    if not wanted:
        raise bad_request("An API key needs at least one scope (read or manage)")
    if "manage" in wanted:
        wanted.add("read")
    return sorted(wanted)


def new_secret() -> str:
    return KEY_PREFIX + "".join(secrets.choice(_BASE62) for _ in range(KEY_LENGTH))


def key_state(key: ApiKey, at: datetime) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and aware(key.expires_at) <= at:
        return "expired"
    return "active"


def status_of(key: ApiKey, at: datetime | None = None) -> KeyStatus:
    return KeyStatus(id=key.id, login=key.user.login, name=key.name, prefix=key.prefix, scopes=tuple(key.scopes or ()),
                     datasets=tuple(key.datasets) if key.datasets is not None else None,
                     created_at=aware(key.created_at), expires_at=aware(key.expires_at) if key.expires_at else None,
                     last_used_at=aware(key.last_used_at) if key.last_used_at else None,
                     revoked_at=aware(key.revoked_at) if key.revoked_at else None, state=key_state(key, at or now()))


# -- on a session ---------------------------------------------------------------------------
def _new_id(session: Session) -> str:
    while True:
        key_id = "ak_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))
        if session.get(ApiKey, key_id) is None:
            return key_id


def create_key(session: Session, user: User, name: str = "default", *, scopes: Iterable[str] = ("read",),
               datasets: Iterable[str] | None = None, expires_at: datetime | None = None,
               at: datetime | None = None) -> tuple[ApiKey, str]:
    """A new key for ``user``: returns the row and the clear key, which is never available again."""
    at = at or now()
    if not user.is_active:
        raise bad_request(f"User {user.login!r} is disabled; enable it before giving it a key")
    if expires_at is not None:
        # in UTC: SQLite hands the column back without its zone, which ``aware`` reads as UTC
        # (a key asked to expire at 00:00+02:00 lived until 02:00)
        expires_at = aware(expires_at).astimezone(UTC)
        if expires_at <= at:
            raise bad_request("An API key's expiry date must be in the future")
    name = (name or "default").strip() or "default"  # its length and NULs: ``services.create_api_key``
    secret = new_secret()
    key = ApiKey(id=_new_id(session), user=user, name=name, secret_hash=digest(secret), prefix=secret[:10],
                 scopes=normalize_scopes(scopes), datasets=sorted(set(datasets)) if datasets is not None else None,
                 expires_at=expires_at, created_at=at)
    session.add(key)
    session.flush()
    return key, secret


def verify_key(session: Session, secret: str, at: datetime | None = None) -> ApiKey:
    """The active key matching ``secret`` (its user loaded); any other case is a 401 ``invalid_key``.

    Unknown, malformed, expired and revoked keys, and keys of disabled users, all give the
    same error, so a caller learns nothing about which keys exist.
    """
    at = at or now()
    secret = (secret or "").strip()
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        raise invalid_key()
    wanted = digest(secret)
    key = session.scalar(select(ApiKey).where(ApiKey.secret_hash == wanted)
                         .options(selectinload(ApiKey.user).selectinload(User.groups)))
    if key is None or not hmac.compare_digest(key.secret_hash, wanted):
        raise invalid_key()
    if key_state(key, at) != "active" or not key.user.is_active:
        raise invalid_key()
    if key.last_used_at is None or at - aware(key.last_used_at) >= LAST_USED_GRANULARITY:
        key.last_used_at = at
    return key


def get_key(session: Session, key_id: str) -> ApiKey:
    key = session.get(ApiKey, key_id.strip())
    if key is None:
        raise unknown(f"Unknown API key: {key_id}")
    return key


def list_keys(session: Session, user: User | None = None) -> list[ApiKey]:
    query = select(ApiKey).options(selectinload(ApiKey.user)).order_by(ApiKey.created_at, ApiKey.id)
    if user is not None:
        query = query.where(ApiKey.user_id == user.id)
    return list(session.scalars(query))


def revoke_key(session: Session, key: ApiKey, by: Principal | None, at: datetime | None = None) -> ApiKey:
    """Revoke ``key`` (idempotent); ``by`` must be an admin or the key's owner, with a ``manage``
    right; ``None`` is the operator at the command line."""
    if by is not None and not may_manage_keys_of(by, key.user_id):
        raise forbidden("Only an administrator or the key's owner may revoke it")
    if key.revoked_at is None:
        key.revoked_at = at or now()
        key.revoked_by = by.login if by is not None else None
    return key

