"""Who is asking: the ``Principal`` of a request, and how it is read from the request.

Credentials accepted (Explore API §8.1): ``Authorization: Apikey <key>`` with the scheme in
any case (the JS client sends ``ApiKey``, QGIS and the Automation clients ``apikey``), or
``?apikey=<key>`` (odsclient, widgets); an OAuth2 access token (``auth.oauth2``) as
``Authorization: Bearer oat_…`` or ``?access_token=``. A key wins over a token, a header over a
query parameter, and any of them over a session cookie. Another ``Bearer`` value belongs to the
management token (``api/management.py``) and is left alone here, as are other schemes. No
credentials means the anonymous principal; a bad key or token is a 401, never a silent anonymous.

HTTP Basic (``auth.basic``): ``Authorization: Basic base64(login:password)``, a user's sign-in
login and password, with the user's full rights (like a session). One ``Authorization`` header
holds one scheme, so Basic and a header key cannot meet; Basic next to ``?apikey=`` or
``?access_token=`` is a 400 (two callers named, neither silently preferred); Basic wins over a
session cookie, as a key does. The caller says where Basic is read (``basic_auth``): the API
reads it, pages and the OAuth2 token endpoint (a client's own Basic credentials) do not.

Knows nothing of FastAPI: ``headers`` and ``query_params`` are plain mappings (Starlette's
fit), so the API, the web pages and tests call the same function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from portail.auth import sessions
from portail.auth.errors import AuthError, bad_request, invalid_key, invalid_token
from portail.auth.keys import LAST_USED_GRANULARITY, now, verify_key
from portail.auth.models import ApiKey, User
from portail.auth.oauth2 import ACCESS_PREFIX, verify_access_token
from portail.auth.passwords import LOCKOUT, MAX_FAILED_LOGINS, aware, digest
from portail.auth.permissions import may_hold_manage_scope
from portail.catalog import generation
from portail.catalog.db import transaction
from portail.catalog.generation import GenerationCache

#: Authorization schemes carrying an API key, compared lowercased.
APIKEY_SCHEMES = frozenset({"apikey"})
#: Query parameters carrying a credential: an API key, an OAuth2 access token.
APIKEY_PARAMETER, TOKEN_PARAMETER = "apikey", "access_token"


@dataclass(frozen=True)
class Principal:
    """A signed-in user (through a key or, later, a session) or the anonymous caller.

    ``scopes``/``datasets`` are ``None`` when no key narrows the user's rights (a session);
    with a key they are the key's scopes and its dataset uid list (``None``: every dataset).
    """

    login: str | None = None
    user_id: int | None = None
    roles: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    scopes: frozenset[str] | None = None
    datasets: frozenset[str] | None = None
    key_id: str | None = None
    oauth_client: str | None = None  # the application acting for the user (an OAuth2 token)

    @classmethod
    def anonymous(cls) -> "Principal":
        return cls()

    @property
    def is_authenticated(self) -> bool:
        return self.login is not None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


ANONYMOUS = Principal.anonymous()


def principal_for_user(user: User, key: ApiKey | None = None) -> Principal:
    """The principal of a loaded user (groups loaded), narrowed by ``key`` when it came through one.
    A key's ``manage`` counts only while its user may hold one (``may_hold_manage_scope``): a
    publisher's key made before a demotion to viewer would otherwise still mint new keys."""
    principal = Principal(login=user.login, user_id=user.id, roles=frozenset({user.role}),
                          groups=frozenset(g.name for g in user.groups))
    if key is None:
        return principal
    scopes = frozenset(key.scopes or ())
    if "manage" in scopes and not may_hold_manage_scope(principal):
        scopes -= {"manage"}
    return replace(principal, scopes=scopes, datasets=frozenset(key.datasets) if key.datasets is not None else None,
                   key_id=key.id)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # a plain dict: header names are case-insensitive
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value


def key_from_request(headers: Mapping[str, str], query_params: Mapping[str, str]) -> str | None:
    """The API key the request carries, if any ('' when one is announced but empty)."""
    authorization = (_header(headers, "authorization") or "").strip()
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() in APIKEY_SCHEMES:
        return value.strip()
    key = query_params.get(APIKEY_PARAMETER)
    return key.strip() if key is not None else None


def token_from_request(headers: Mapping[str, str], query_params: Mapping[str, str]) -> str | None:
    """The OAuth2 access token the request carries, if any (RFC 6750 §2.1 and §2.3)."""
    scheme, _, value = (_header(headers, "authorization") or "").strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip().startswith(ACCESS_PREFIX):
        return value.strip()
    token = query_params.get(TOKEN_PARAMETER)
    return token.strip() if token is not None else None


def has_credentials(headers: Mapping[str, str], query_params: Mapping[str, str], basic_auth: bool = True) -> bool:
    """The request names its caller itself (a key, a token, the management token, HTTP Basic
    where read: ``basic_auth``): a browser never adds these on its own, so no CSRF check applies.
    (It adds Basic only after a ``WWW-Authenticate: Basic`` challenge, which the API never
    sends: see ``auth.basic``.)"""
    authorization = (_header(headers, "authorization") or "").strip().lower()
    return key_from_request(headers, query_params) is not None or token_from_request(headers, query_params) is not None \
        or authorization.startswith("bearer ") or (basic_auth and basic.is_basic(authorization))


def principal_from_request(headers: Mapping[str, str], query_params: Mapping[str, str],
                           session_factory: sessionmaker[Session], at: datetime | None = None,
                           cookies: Mapping[str, str] | None = None, *, ip: str | None = None,
                           max_failures: int = MAX_FAILED_LOGINS, lockout: timedelta = LOCKOUT,
                           basic_auth: bool = True, secure_cookies: bool = False) -> Principal:
    """The caller of a request; raises ``AuthError`` (401, "API key is not valid") for a key that
    is unknown, expired, revoked or belongs to a disabled user, and (401, same code) for refused
    or malformed HTTP Basic credentials. Without a key, a live session cookie (``auth.sessions``)
    gives its user with full rights (``scopes=None``); a stale cookie is simply anonymous (the
    browser is sent to the login page, not refused). ``ip``, ``max_failures`` and ``lockout``
    are the sign-in form's, for a Basic attempt's audit event and lockout; without ``basic_auth``
    (a page, or a site that turned it off) a Basic header is left alone, as other schemes are."""
    credentials = basic.credentials(_header(headers, "authorization") or "") if basic_auth else None
    if credentials is not None:
        if query_params.get(APIKEY_PARAMETER) is not None or query_params.get(TOKEN_PARAMETER) is not None:
            raise bad_request("Send one credential: HTTP Basic or an API key (or access token), not both")
        return basic.principal(session_factory, *credentials, at or now(), ip=ip, max_failures=max_failures,
                               lockout=lockout)
    secret = key_from_request(headers, query_params)
    if secret is None:
        access_token = token_from_request(headers, query_params)
        if access_token is not None:
            return _token_principal(session_factory, access_token, at or now())
        token = sessions.session_token(cookies or {}, secure_cookies)
        if not token:
            return ANONYMOUS
        with transaction(session_factory) as session:
            row = sessions.find_session(session, token, at)
            return principal_for_user(row.user) if row is not None else ANONYMOUS
    if not secret:
        raise invalid_key()
    at = at or now()
    # A key is resolved once per minute (when its last use is written) while the catalogue is
    # unchanged: revoking it, changing its user, groups or scopes bumps the counter, and its
    # expiry is checked at every call.
    # A refused key stays refused while the catalogue is unchanged (unknown, revoked, expired,
    # its user disabled: only a catalogue write undoes any of these), so it is remembered too.
    minute = int(at.timestamp() // LAST_USED_GRANULARITY.total_seconds())
    hashed, stamp = digest(secret), (*generation.stamp(session_factory), minute)
    if _REFUSED_KEYS.peek(hashed, stamp) is not None:
        raise invalid_key()
    try:
        principal, expires = _KEYS.get(hashed, lambda: _verified(session_factory, secret, at), stamp=stamp)
    except AuthError:
        _REFUSED_KEYS.put(hashed, True, stamp)
        raise
    if expires is not None and at >= expires:
        raise invalid_key()
    return principal


#: Principals of API keys, with the key's expiry (``catalog.generation``).
_KEYS = GenerationCache(4096)
#: Digests of refused keys (``verify_key``'s ``invalid_key``: it writes and audits nothing, so
#: nothing is lost by not asking again): the leak matrix's expired and revoked keys, a client
#: retrying with its revoked key, each paid a catalogue query per call. Apart from ``_KEYS``:
#: made-up keys must not push live ones out.
_REFUSED_KEYS = GenerationCache(4096)
#: Principals of OAuth2 access tokens, with the token's expiry.
_TOKENS = GenerationCache(4096)


def _token_principal(session_factory: sessionmaker[Session], token: str, at: datetime) -> Principal:
    """The user an access token acts for, with the token's scopes; resolved once a minute while
    the catalogue is unchanged (revoking a token, its client or its user bumps the counter)."""
    def resolve() -> tuple[Principal | None, datetime | None]:
        with transaction(session_factory) as session:
            row = verify_access_token(session, token, at)
            if row is None:
                return None, None
            principal = replace(principal_for_user(row.user), scopes=frozenset(row.scopes or ("read",)),
                                oauth_client=row.client_id)
            return principal, aware(row.access_expires_at)

    minute = int(at.timestamp() // LAST_USED_GRANULARITY.total_seconds())
    principal, expires = _TOKENS.get(digest(token), resolve, stamp=(*generation.stamp(session_factory), minute))
    if principal is None or (expires is not None and at >= expires):
        raise invalid_token()
    return principal


def _verified(session_factory: sessionmaker[Session], secret: str, at: datetime) -> tuple[Principal, datetime | None]:
    with transaction(session_factory) as session:
        key = verify_key(session, secret, at)
        return principal_for_user(key.user, key), aware(key.expires_at) if key.expires_at is not None else None


# at the end: ``basic`` builds principals with ``principal_for_user``, defined above
from portail.auth import basic  # noqa: E402
