"""Sign-in sessions: opened at login (password or SSO), found again from the cookie, closed at
logout, all closed at once by "logout everywhere".

The cookie holds a random token (256 bits); the catalogue keeps only its SHA-256 digest, so a
database leak gives no usable cookie, and every server process shares the sessions. Expiry is
absolute (``Settings.session_ttl_minutes``); a disabled user's sessions stop working at once.
Each session carries its CSRF synchronizer token (``auth.csrf``).

Functions on an SQLAlchemy session, like ``services``; the cookie attributes are described by
``cookie_options`` for whichever HTTP layer sets them. Audit events: ``logout``,
``logout.everywhere`` (logins are recorded by ``services.authenticate`` and ``oidc``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from portail.auth.audit import record
from portail.auth.keys import now
from portail.auth.models import LoginSession, User
from portail.auth.passwords import aware, digest

#: The cookie's name over plain HTTP (development); Secure, it is ``cookie_name``'s ``__Host-`` one.
COOKIE_NAME = "portail_session"
HOST_PREFIX = "__Host-"
DEFAULT_TTL = timedelta(hours=8)


@dataclass(frozen=True)
class OpenedSession:
    """A new session: ``token`` goes into the cookie (never stored), ``csrf_token`` into forms."""

    token: str
    csrf_token: str
    expires_at: datetime


def cookie_name(name: str, secure: bool) -> str:
    """The name a security cookie (session, CSRF, SSO browser key) goes by: ``__Host-name`` when
    Secure. A sibling subdomain (another site under the institution's domain) can plant a plain
    cookie for this host with ``Domain=`` the parent, its own SSO key or session id among them
    (login CSRF, session fixation); browsers refuse a ``__Host-`` one that has a ``Domain``, is
    not Secure or has a ``Path`` other than ``/``, so only this host can set it. Readers accept
    this name only: a planted plain one is never read when Secure. Plain HTTP keeps the plain
    name (browsers refuse ``__Host-`` without Secure)."""
    return HOST_PREFIX + name if secure else name


def cookie_options(secure: bool, ttl: timedelta) -> dict:
    """Attributes of the session cookie (Starlette's ``set_cookie`` keywords)."""
    return {"key": cookie_name(COOKIE_NAME, secure), "httponly": True, "secure": secure, "samesite": "lax", "path": "/",
            "max_age": int(ttl.total_seconds())}


def session_token(cookies, secure: bool) -> str | None:
    """The session cookie's value, under this setting's name only (``cookie_name``)."""
    return cookies.get(cookie_name(COOKIE_NAME, secure))


def open_session(session: Session, user: User, *, method: str = "password", ttl: timedelta = DEFAULT_TTL,
                 ip: str | None = None, user_agent: str | None = None, at: datetime | None = None) -> OpenedSession:
    """A new session for ``user`` (who just proved who they are); expired rows are swept on the way."""
    at = at or now()
    session.execute(delete(LoginSession).where(LoginSession.expires_at <= at))
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = at + ttl
    session.add(LoginSession(id=digest(token), user_id=user.id, csrf_token=csrf, method=method, created_at=at,
                             expires_at=expires, ip=ip, user_agent=(user_agent or "")[:300] or None))
    session.flush()
    return OpenedSession(token, csrf, expires)


def find_session(session: Session, token: str | None, at: datetime | None = None) -> LoginSession | None:
    """The live session of a cookie value (user and groups loaded); ``None`` when unknown, expired
    or its user disabled."""
    if not token:
        return None
    row = session.scalar(select(LoginSession).where(LoginSession.id == digest(token))
                         .options(selectinload(LoginSession.user).selectinload(User.groups)))
    if row is None or aware(row.expires_at) <= (at or now()) or not row.user.is_active:
        return None
    return row


def close_session(session: Session, token: str | None, *, ip: str | None = None,
                  replaced_by: str | None = None) -> bool:
    """Logout: forget this session; False when there was none. ``replaced_by``: the login a
    sign-in in the same browser opened the next session for, said in the event's detail (a
    ``logout`` the user asked for has none)."""
    row = find_session(session, token)
    if row is None:
        return False
    record(session, "logout", actor=row.user.login, target=f"user:{row.user.login}", ip=ip,
           detail={"replaced_by": f"user:{replaced_by}"} if replaced_by else None)
    session.delete(row)
    return True


def close_all_sessions(session: Session, user: User, *, actor: str | None = None, ip: str | None = None) -> int:
    """"Logout everywhere": every session of ``user`` ends, and every application's OAuth2
    token for them; returns how many sessions there were."""
    from portail.auth.oauth2 import revoke_user_tokens

    revoke_user_tokens(session, user)
    ended = end_sessions(session, user)
    record(session, "logout.everywhere", actor=actor, target=f"user:{user.login}", detail={"sessions": ended}, ip=ip)
    return ended


def end_sessions(session: Session, user: User) -> int:
    """End every sign-in session of ``user`` (how many there were): "logout everywhere", and a
    new password, whoever sets it (a browser signed in with the old one, stolen or shared, must
    not outlive it; a multi-node hunt found sessions kept)."""
    return session.execute(delete(LoginSession).where(LoginSession.user_id == user.id)).rowcount
