"""HTTP Basic authentication (RFC 7617): ``Authorization: Basic base64(login:password)``.

Opendatasoft accepts a user's login and password as Basic next to API keys, and scripts use it
(``requests.get(url, auth=("login", "password"))``). The login is the one of the sign-in form
(``User.login``); the password is checked by ``services.authenticate``, the form's own function,
so a Basic attempt counts toward the lockout, is refused while the account is locked or
disabled, and is audited (``login.failure``/``login.success`` with ``{"method": "basic"}``)
exactly as a form sign-in. A user without a password (API keys only) cannot use it.

Cost: argon2id is deliberately slow, and a script sends its password with every call. A
successful verification is kept in a small in-process LRU (``CACHE_SIZE`` entries) for
``CACHE_TTL``, keyed by an HMAC of the credentials under a per-process random secret, so
neither the password nor anything to test guesses against offline is held. Each entry keeps a
fingerprint of the user's password hash, and every use re-reads the user's row (one indexed
read): a changed password, a disabled, deleted or locked account is refused at the next call,
in every process, without any invalidation hook. Groups and role follow the catalogue counter
(``catalog.generation``), as for keys.

A refused guess is remembered for ``REFUSAL_TTL`` under the same kind of key: a script that
retries the same wrong pair, or sends it from parallel calls, pays argon2 and counts a failure
once in those seconds. Repeating the same wrong password teaches a guesser nothing, so counting
it once is sound. The memory holds while the catalogue counter stands still: an account enabled
again (or given a role, a group) is verified afresh at once. (One request looks once:
``api.guard`` leaves its refusal for the route to answer, whatever this memory holds.)

One pair is verified by one thread at a time (``_LOCKS``, striped by key): when a script's
cached pair expires, its parallel calls wait for one argon2 and read its result, rather than
each paying ~0.3 s of CPU and writing its own ``login.success``.

Failures all give one answer (401 ``InvalidAPIKey``, like a bad key; the reason is in the
audit trail only), so a caller learns neither whether a login exists nor whether it is locked.

No ``WWW-Authenticate: Basic`` challenge is ever sent with a 401: it would make browsers pop
up a login dialog on the public portal, and once a user typed credentials into it, browsers
would add them to every request to the site, cross-site forgeries included (cookie CSRF rules
exempt header credentials because a browser never adds them on its own).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from portail.auth import passwords
from portail.auth.errors import AuthError
from portail.auth.models import User
from portail.auth.principal import Principal, principal_for_user
from portail.catalog import generation
from portail.catalog.db import transaction

SCHEME = "basic"
#: How long a verified login/password pair is believed without argon2 (its row is still read).
CACHE_TTL = timedelta(seconds=60)
CACHE_SIZE = 1024
#: How long a refused pair is answered from memory (a script retrying it, its parallel calls).
REFUSAL_TTL = timedelta(seconds=2)
#: Longest header value read (base64 of a ``MAX_LENGTH`` password and a 150-character login, with room).
MAX_HEADER = 4 * (passwords.MAX_LENGTH * 4 + 200) // 3 + 4

#: Per process: cache keys made under it mean nothing anywhere else, nor after a restart.
_SECRET = secrets.token_bytes(32)


def invalid_credentials() -> AuthError:
    """Wrong password, unknown login, locked, disabled or password-less account: one answer, with
    a bad key's status and code (clients that branch on ``error_code`` treat both alike)."""
    return AuthError("Login or password is not valid", 401, "InvalidAPIKey")


def malformed() -> AuthError:
    """A Basic header that is not base64 of UTF-8 ``login:password``: a bad key's status and code."""
    return AuthError("Malformed HTTP Basic credentials", 401, "InvalidAPIKey")


def is_basic(authorization: str) -> bool:
    return authorization.strip().partition(" ")[0].lower() == SCHEME


def credentials(authorization: str) -> tuple[str, str] | None:
    """``(login, password)`` of an ``Authorization`` value; ``None`` when it is another scheme (the
    caller reads it on the APIs only: an OAuth2 client's own Basic credentials go to the token
    endpoint, a page, which never asks for them here; ``api.deps.reads_basic``). Strict:
    base64 with its padding, a colon, a login; anything else raises ``malformed()``. The text is
    UTF-8 (curl, httpx, browsers) or else Latin-1 (Python's ``requests`` encodes ``auth=`` so)."""
    if not is_basic(authorization):
        return None
    value = authorization.strip().partition(" ")[2].strip()
    if not value or len(value) > MAX_HEADER:
        raise malformed()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise malformed() from None
    try:
        decoded = raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError:  # RFC 7617 leaves the charset open: Python's requests sends Latin-1
        decoded = raw.decode("latin-1")
    login, colon, password = decoded.partition(":")
    if not colon or not login.strip():
        raise malformed()
    return login, password


@dataclass(frozen=True)
class _Verified:
    user_id: int
    fingerprint: bytes  # of the password hash it was verified against
    principal: Principal
    stamp: Any  # the catalogue counter ``principal`` was read under
    expires: datetime


#: Bounded, thread-safe LRU maps (routes run in a thread pool); each value carries its own expiry.
_VERIFIED = generation.GenerationCache(CACHE_SIZE)
_REFUSED = generation.GenerationCache(CACHE_SIZE)
#: Striped: a fixed number of locks for any number of pairs (two pairs sharing one wait in turn).
_LOCKS = tuple(threading.Lock() for _ in range(64))


def _cache_key(session_factory: sessionmaker[Session], login: str, password: str) -> bytes:
    """A keyed hash of one catalogue's login/password pair: never the password, and useless to
    anyone without this process's secret."""
    message = "\0".join((generation.token(session_factory), login, password)).encode("utf-8")
    return hmac.new(_SECRET, message, hashlib.sha256).digest()


def _fingerprint(password_hash: str) -> bytes:
    return hmac.new(_SECRET, password_hash.encode("utf-8"), hashlib.sha256).digest()


def principal(session_factory: sessionmaker[Session], login: str, password: str, at: datetime, *,
              ip: str | None = None, max_failures: int = passwords.MAX_FAILED_LOGINS,
              lockout: timedelta = passwords.LOCKOUT) -> Principal:
    """The user of a Basic pair, with their full rights (``scopes=None``, like a signed-in
    session); ``invalid_credentials()`` for any refusal."""
    from portail.auth.services import normalize_login

    login = normalize_login(login)
    key = _cache_key(session_factory, login, password)
    known = _known(session_factory, key, at)
    if known is not None:
        return known
    with _LOCKS[key[0] % len(_LOCKS)]:
        known = _known(session_factory, key, at)  # a parallel call of the same script verified it meanwhile
        if known is not None:
            return known
        stamp = generation.stamp(session_factory)  # before: an account enabled meanwhile lapses the refusal
        verified = _verify(session_factory, login, password, at, ip=ip, max_failures=max_failures, lockout=lockout)
        if verified is None:
            _REFUSED.put(key, (at + REFUSAL_TTL, stamp))
            raise invalid_credentials()
        _REFUSED.pop(key)
        _VERIFIED.put(key, verified)
        return verified.principal


def _known(session_factory: sessionmaker[Session], key: bytes, at: datetime) -> Principal | None:
    """The principal of a pair verified and still valid; ``invalid_credentials()`` for a pair
    refused moments ago with the catalogue unchanged since; ``None``: verify it."""
    cached = _VERIFIED.peek(key)
    if cached is not None:
        still = _still_valid(session_factory, cached, at)
        if still is not None:
            if still is not cached:
                _VERIFIED.put(key, still)
            return still.principal
        _VERIFIED.pop(key)  # and verify again: the refusal is counted and audited as a form's
    refused = _REFUSED.peek(key)
    if refused is not None:
        until, stamp = refused
        if at < until and stamp == generation.stamp(session_factory):
            raise invalid_credentials()
    return None


def _verify(session_factory: sessionmaker[Session], login: str, password: str, at: datetime, *, ip: str | None,
            max_failures: int, lockout: timedelta) -> _Verified | None:
    """The form's sign-in (``services.authenticate``: argon2, lockout, audit), committed whatever
    its outcome; ``None`` when refused."""
    from portail.auth.services import authenticate

    if len(password) > passwords.MAX_LENGTH:  # no argon2 on unbounded input; no such password exists
        password = password[:passwords.MAX_LENGTH + 1]
    stamp = generation.stamp(session_factory)
    with transaction(session_factory) as session:
        attempt = authenticate(session, login, password, ip=ip, at=at, max_failures=max_failures, lockout=lockout,
                               method="basic")
        if not attempt.ok:
            return None
        user = _user(session, attempt.user.id)
        return _Verified(user.id, _fingerprint(user.password_hash), principal_for_user(user), stamp, at + CACHE_TTL)


def _user(session: Session, user_id: int) -> User:
    return session.scalar(select(User).where(User.id == user_id).options(selectinload(User.groups)))


def _still_valid(session_factory: sessionmaker[Session], entry: _Verified, at: datetime) -> _Verified | None:
    """``entry`` (or a copy with its principal read again, after a catalogue change) while it is
    young and its user is still active, unlocked and has the password it was verified against."""
    if at >= entry.expires:
        return None
    stamp = generation.stamp(session_factory)
    with transaction(session_factory) as session:
        row = session.execute(select(User.password_hash, User.is_active, User.locked_until)
                              .where(User.id == entry.user_id)).first()
        if row is None or not row.is_active or row.password_hash is None \
                or passwords.is_locked(row.locked_until, at) \
                or not hmac.compare_digest(_fingerprint(row.password_hash), entry.fingerprint):
            return None
        if stamp == entry.stamp:
            return entry
        return _Verified(entry.user_id, entry.fingerprint, principal_for_user(_user(session, entry.user_id)), stamp,
                         entry.expires)


def forget() -> None:
    """Empty both caches (tests; an operator's reload)."""
    _VERIFIED.clear()
    _REFUSED.clear()
