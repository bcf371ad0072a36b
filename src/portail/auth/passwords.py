"""Passwords: argon2id hashing, the password policy, lockout arithmetic, reset tokens.

Pure functions only (no session, no clock read you cannot pass in), so each rule is tested on
its own; ``services`` applies them to ``User`` rows. The numbers are module constants until
``Settings`` grows ``auth_max_failed_logins``, ``auth_lockout_minutes`` and
``auth_reset_token_minutes``; pass other values explicitly where a function takes them.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

#: Shortest accepted password (NIST SP 800-63B asks at least 8; an open data back office, 12).
MIN_LENGTH = 12
#: Longest accepted password: hashing is deliberately costly, so unbounded input is a DoS.
MAX_LENGTH = 1024
#: Consecutive failures that lock an account, and for how long.
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
#: How long a password reset token stays usable.
RESET_TOKEN_TTL = timedelta(hours=1)

# argon2id with the library's RFC 9106 "low memory" profile (t=3, m=64 MiB, p=4).
_HASHER = PasswordHasher()

_CLASSES: tuple[tuple[str, object], ...] = (
    ("lowercase letters", str.islower),
    ("uppercase letters", str.isupper),
    ("digits", str.isdigit),
)


# -- hashing --------------------------------------------------------------------------------
def hash_password(password: str) -> str:
    return _HASHER.hash(password)


@cache
def _dummy_hash() -> str:
    """Verified against when there is no hash (unknown login), so that costs as much as a wrong password."""
    return _HASHER.hash("portail: no such user, same cost")


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; a missing hash never matches (and costs the same)."""
    try:
        return _HASHER.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's (rehash at the next login)."""
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


# -- policy ---------------------------------------------------------------------------------
def _character_class(char: str) -> str:
    for name, test in _CLASSES:
        if test(char):  # type: ignore[operator]
            return name
    return "other characters"


TWO_KINDS = "mix characters of at least two kinds (lowercase, uppercase, digits, others)"
NOT_LOGIN = "not contain the login"


def policy_problems(password: str, login: str | None = None) -> list[str]:
    """Every rule the password breaks, each completing "The password must …"; empty when it is acceptable."""
    problems: list[str] = []
    if len(password) < MIN_LENGTH:
        problems.append(f"have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        problems.append(f"have at most {MAX_LENGTH} characters")
    if password and len({_character_class(c) for c in password}) < 2:
        problems.append(TWO_KINDS)
    if login and login.strip() and login.strip().lower() in password.lower():
        problems.append(NOT_LOGIN)
    return problems


# -- lockout --------------------------------------------------------------------------------
def is_locked(locked_until: datetime | None, at: datetime) -> bool:
    return locked_until is not None and aware(locked_until) > at


def after_failure(failed_logins: int, at: datetime, *, max_failures: int = MAX_FAILED_LOGINS,
                  lockout: timedelta = LOCKOUT) -> tuple[int, datetime | None]:
    """The new ``(failed_logins, locked_until)`` after one more wrong password.

    The count is not reset when the lock falls: once an account reached the limit, every
    further failure locks it again at once, until a success (or a reset) clears the count.
    """
    failed = failed_logins + 1
    return failed, (at + lockout if failed >= max_failures else None)


# -- tokens ---------------------------------------------------------------------------------
def digest(secret: str) -> str:
    """SHA-256 hex of a high-entropy secret (API key, reset token): enough at rest, fast to look up."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_reset_token() -> tuple[str, str]:
    """A fresh reset token and its digest: hand the first to the user, store the second."""
    token = secrets.token_urlsafe(32)
    return token, digest(token)


def aware(moment: datetime) -> datetime:
    """SQLite hands timezone-aware columns back naive; they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
