"""CSRF protection of cookie-authenticated requests: which token a request must echo, and the check.

Two sources, one rule. A signed-in browser echoes its session's synchronizer token (stored in
the session row, ``auth.sessions``); a browser without a session (the login and password reset
forms) echoes a random token it also holds in the ``portail_csrf`` cookie (double submit), so
a third-party page can forge neither. The token travels in the ``X-CSRF-Token`` header (scripts,
htmx) or the ``csrf_token`` form field. Requests carrying an API key or a Bearer token are
exempt: a browser never adds those on its own.

Pure functions; ``api.guard`` applies them to every state-changing request.
"""

from __future__ import annotations

import hmac
import secrets

COOKIE_NAME = "portail_csrf"
HEADER = "x-csrf-token"
FORM_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def new_token() -> str:
    return secrets.token_urlsafe(32)


def expected_token(session_csrf: str | None, cookie_token: str | None) -> str | None:
    """What the request must echo: the session's token when signed in, else the double-submit cookie."""
    return session_csrf or cookie_token or None


def is_valid(submitted: str | None, expected: str | None) -> bool:
    """Constant-time comparison; nothing expected or nothing submitted never passes."""
    return bool(submitted) and bool(expected) and hmac.compare_digest(submitted.encode(), expected.encode())


def needs_check(method: str, has_cookie_credentials: bool, is_form: bool, has_explicit_credentials: bool) -> bool:
    """A state-changing request that a browser could send on its own: with our cookies, or a form
    (a login form posted by another site logs the victim into the attacker's account)."""
    if method.upper() in SAFE_METHODS or has_explicit_credentials:
        return False
    return has_cookie_credentials or is_form
