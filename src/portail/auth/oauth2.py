"""OAuth2 provider (RFC 6749 authorization code grant, RFC 6750 bearer tokens, RFC 7636 PKCE):
applications registered by an administrator act for a portal user who agreed, with that user's
rights, as Opendatasoft's ``/oauth2/authorize/`` and ``/oauth2/token/`` let them (reference §8.1).

Why a provider of our own and not authlib's: authlib's server side is written for Flask and
Django request objects; the grant is a few rules over three tables, each tested on its own here.

What Opendatasoft documents, kept: codes of 30 characters valid one hour, single use; access
tokens of one hour (``expires_in: 3600``, ``token_type: "Bearer"``); refresh tokens that never
expire and are single use; client credentials in the form or as HTTP Basic; the token sent as
``Authorization: Bearer``, or ``?access_token=``. Added where the RFCs advise it: redirect URIs
registered and matched exactly (never an open redirect), PKCE (S256) required of public clients
(no secret) and checked whenever a challenge was sent, a code used twice revokes what it gave.

Secrets are stored as SHA-256 digests only, like API keys (``auth.keys``): all are long random
strings. Functions on an SQLAlchemy session, like ``keys`` and ``sessions``; every state change
writes its audit event. Scopes: ``read`` (the default) reads what the user may read; ``manage``
(and Opendatasoft's ``all``, which is read + manage) also lends the user's management rights
that are delegable (``permissions.Rule.delegable``: never users, keys or dataset security),
which their role still bounds (``permissions.can``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import unquote_plus, urlencode, urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from portail.auth.audit import record
from portail.auth.errors import bad_request, unknown
from portail.auth.keys import now
from portail.auth.models import OAuthClient, OAuthCode, OAuthToken, User
from portail.auth.passwords import aware, digest
from portail.catalog import generation

CODE_TTL = timedelta(hours=1)
ACCESS_TTL = timedelta(hours=1)
CODE_LENGTH = 30
SECRET_LENGTH = 40
ACCESS_PREFIX = "oat_"
REFRESH_PREFIX = "ort_"
CLIENT_PREFIX = "oc_"
CLIENT_SECRET_PREFIX = "ocs_"
#: Scopes a client may ask; ``all`` is Opendatasoft's name for everything the user may do.
SCOPES = ("read", "manage", "all")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
#: A PKCE verifier or challenge: 43 to 128 unreserved characters (RFC 7636 §4.1).
PKCE_VALUE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")

_BASE62 = string.ascii_letters + string.digits
_ID_ALPHABET = string.ascii_lowercase + string.digits


class OAuthError(Exception):
    """An OAuth2 error answer (RFC 6749 §4.1.2.1 and §5.2): ``error`` is the RFC's code.

    ``redirectable`` is False when the client or its redirect URI cannot be trusted: the user
    then sees the error, and nothing is sent to the URI."""

    def __init__(self, error: str, description: str, status: int = 400, redirectable: bool = True,
                 keep_changes: bool = False):
        super().__init__(description)
        self.error, self.description, self.status, self.redirectable = error, description, status, redirectable
        #: the refusal revoked something (a replayed code's tokens): commit that, then answer
        self.keep_changes = keep_changes

    def to_dict(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def _random(length: int, alphabet: str = _BASE62) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


# -- pure -----------------------------------------------------------------------------------
def check_redirect_uri(uri: str) -> str:
    """A redirect URI a client may register: absolute, no fragment (RFC 6749 §3.1.2); https, or
    http on this machine's loopback (RFC 8252 §7.3), or an app's private scheme with a dot
    (``com.example.app:/cb``, RFC 8252 §7.1). Raises ``ValueError`` saying why not."""
    uri = uri.strip()
    parts = urlsplit(uri)
    if not parts.scheme:
        raise ValueError(f"Redirect URI {uri!r} is not absolute")
    if parts.fragment or "#" in uri:
        raise ValueError(f"Redirect URI {uri!r} has a fragment, which OAuth2 forbids")
    scheme = parts.scheme.lower()
    if scheme == "https" and parts.hostname:
        return uri
    if scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return uri
    if scheme not in ("http", "https") and "." in scheme:
        return uri
    raise ValueError(f"Redirect URI {uri!r} must use https (http only on localhost, or an app scheme such as "
                     "com.example.app:/callback)")


def parse_scopes(text: str | None) -> list[str]:
    """The scopes asked (space- or comma-separated), normalised: ``all`` and ``manage`` bring
    ``read``; nothing asked is ``read``."""
    asked = {s for s in (text or "").replace(",", " ").lower().split() if s}
    unknown = asked - set(SCOPES)
    if unknown:
        raise OAuthError("invalid_scope", f"Unknown scope {sorted(unknown)[0]!r}; use {', '.join(SCOPES)}")
    granted = {"read"}
    if asked & {"manage", "all"}:
        granted.add("manage")
    return sorted(granted)


def scope_text(scopes: Iterable[str]) -> str:
    """What the token answer says was granted: ``all`` when it is everything, as Opendatasoft says."""
    scopes = set(scopes)
    return "all" if "manage" in scopes else "read"


def pkce_matches(challenge: str, verifier: str) -> bool:
    """RFC 7636 §4.6, S256: BASE64URL(SHA256(verifier)) without padding equals the challenge."""
    if not PKCE_VALUE.fullmatch(verifier):
        return False
    computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii", "replace")).digest()).rstrip(b"=")
    return hmac.compare_digest(computed.decode(), challenge)


def redirect_with(uri: str, values: dict[str, str | None]) -> str:
    """``uri`` with ``values`` added to its query (its own query kept, RFC 6749 §3.1.2)."""
    query = urlencode({k: v for k, v in values.items() if v is not None})
    return uri + ("&" if urlsplit(uri).query else "?") + query


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """``(client_id, client_secret)`` of an ``Authorization: Basic`` header (RFC 6749 §2.3.1:
    both form-urlencoded before the base64), or None when the header is not Basic."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise OAuthError("invalid_client", "Malformed HTTP Basic credentials", 401) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError("invalid_client", "Malformed HTTP Basic credentials", 401)
    return unquote_plus(client_id), unquote_plus(secret)


# -- clients --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClientStatus:
    """What a client listing shows: never its secret."""

    id: str
    name: str
    public: bool
    redirect_uris: tuple[str, ...]
    created_by: str | None
    created_at: datetime
    revoked_at: datetime | None

    def to_dict(self) -> dict:
        return {"client_id": self.id, "name": self.name, "public": self.public,
                "redirect_uris": list(self.redirect_uris), "created_by": self.created_by,
                "created_at": self.created_at.isoformat(),
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
                "state": "revoked" if self.revoked_at else "active"}


def status_of(client: OAuthClient) -> ClientStatus:
    return ClientStatus(client.id, client.name, client.secret_hash is None, tuple(client.redirect_uris or ()),
                        client.created_by, aware(client.created_at),
                        aware(client.revoked_at) if client.revoked_at else None)


def register_client(session: Session, name: str, redirect_uris: Iterable[str], *, public: bool = False,
                    actor: str | None = None, ip: str | None = None,
                    at: datetime | None = None) -> tuple[OAuthClient, str | None]:
    """A new client and its secret (None for a public client), shown once and never stored."""
    name = (name or "").strip()[:200]
    if not name:
        raise bad_request("An OAuth2 client needs a name: the consent page shows it to users")
    try:
        uris = sorted({check_redirect_uri(u) for u in redirect_uris if u and u.strip()})
    except ValueError as error:
        raise bad_request(str(error)) from None
    if not uris:
        raise bad_request("An OAuth2 client needs at least one redirect URI")
    while True:
        client_id = CLIENT_PREFIX + _random(16, _ID_ALPHABET)
        if session.get(OAuthClient, client_id) is None:
            break
    secret = None if public else CLIENT_SECRET_PREFIX + _random(SECRET_LENGTH)
    client = OAuthClient(id=client_id, name=name, secret_hash=digest(secret) if secret else None,
                         redirect_uris=uris, created_by=actor, created_at=at or now())
    session.add(client)
    session.flush()
    record(session, "oauth_client.create", actor=actor, target=f"oauth_client:{client_id}",
           detail={"name": name, "public": public, "redirect_uris": uris}, ip=ip)
    return client, secret


def list_clients(session: Session) -> list[OAuthClient]:
    return list(session.scalars(select(OAuthClient).order_by(OAuthClient.created_at, OAuthClient.id)))


def get_client(session: Session, client_id: str) -> OAuthClient:
    client = session.get(OAuthClient, client_id)
    if client is None:
        raise unknown(f"Unknown OAuth2 client {client_id!r}")
    return client


def revoke_client(session: Session, client: OAuthClient, *, actor: str | None = None, ip: str | None = None,
                  at: datetime | None = None) -> int:
    """The client stops working at once, every token it holds with it; returns the tokens revoked."""
    at = at or now()
    if client.revoked_at is None:
        client.revoked_at = at
        record(session, "oauth_client.revoke", actor=actor, target=f"oauth_client:{client.id}", ip=ip, at=at)
    return _revoke_tokens(session, OAuthToken.client_id == client.id, at)


def revoke_user_tokens(session: Session, user: User, at: datetime | None = None) -> int:
    """Every application loses its access to ``user`` ("sign out everywhere")."""
    return _revoke_tokens(session, OAuthToken.user_id == user.id, at or now())


def _revoke_tokens(session: Session, condition, at: datetime) -> int:
    result = session.execute(update(OAuthToken).where(condition, OAuthToken.revoked_at.is_(None))
                             .values(revoked_at=at).execution_options(synchronize_session=False))
    if result.rowcount:
        generation.bump(session)  # API nodes keep resolved tokens while the catalogue is unchanged
    return result.rowcount


# -- the grant ------------------------------------------------------------------------------
@dataclass(frozen=True)
class AuthorizationRequest:
    """A checked ``/oauth2/authorize`` request, what the consent page shows and the code carries."""

    client_id: str
    client_name: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    code_challenge: str | None
    redirect_uri_given: bool = True  # False: implied (the client's one URI), so the token step may omit it


def check_authorization(session: Session, *, client_id: str | None, redirect_uri: str | None,
                        response_type: str | None, scope: str | None, state: str | None,
                        code_challenge: str | None, code_challenge_method: str | None) -> AuthorizationRequest:
    """Check an authorization request in the RFC's order: client and redirect URI first (errors
    not redirectable), then the rest (errors sent back to the client's URI)."""
    client = session.get(OAuthClient, client_id or "") if client_id else None
    if client is None or client.revoked_at is not None:
        raise OAuthError("invalid_client", "Unknown or revoked client_id", redirectable=False)
    uris = client.redirect_uris or []
    given = redirect_uri is not None
    if redirect_uri is None and len(uris) == 1:
        redirect_uri = uris[0]
    if redirect_uri not in uris:
        raise OAuthError("invalid_request", "redirect_uri is not one this client registered", redirectable=False)
    if response_type != "code":
        raise OAuthError("unsupported_response_type", "Only response_type=code is supported")
    scopes = parse_scopes(scope)
    if code_challenge is not None or code_challenge_method is not None:
        if (code_challenge_method or "plain") != "S256":
            raise OAuthError("invalid_request", "code_challenge_method must be S256")
        if not code_challenge or not PKCE_VALUE.fullmatch(code_challenge):
            raise OAuthError("invalid_request", "code_challenge must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")
    elif client.secret_hash is None:
        raise OAuthError("invalid_request", "A public client must send a PKCE code_challenge (S256)")
    return AuthorizationRequest(client.id, client.name, redirect_uri, tuple(scopes), state, code_challenge, given)


def issue_code(session: Session, request: AuthorizationRequest, user: User, *, ip: str | None = None,
               at: datetime | None = None) -> str:
    """The user agreed: a single-use code for the client (returned in clear, stored as a digest)."""
    at = at or now()
    code = _random(CODE_LENGTH)
    # an implied redirect_uri is stored empty: the token request need not name it (RFC 6749 §4.1.3)
    session.add(OAuthCode(code_hash=digest(code), client_id=request.client_id, user_id=user.id,
                          redirect_uri=request.redirect_uri if request.redirect_uri_given else "",
                          scopes=list(request.scopes),
                          code_challenge=request.code_challenge, expires_at=at + CODE_TTL))
    record(session, "oauth.authorize", actor=user.login, target=f"oauth_client:{request.client_id}",
           detail={"scopes": list(request.scopes)}, ip=ip, at=at)
    return code


def authenticate_client(session: Session, client_id: str | None, client_secret: str | None) -> OAuthClient:
    """The client of a token request: a confidential client proves its secret, a public one
    only names itself (its code's PKCE verifier is its proof)."""
    client = session.get(OAuthClient, client_id) if client_id else None
    if client is None or client.revoked_at is not None:
        raise OAuthError("invalid_client", "Client authentication failed", 401)
    if client.secret_hash is not None:
        if not client_secret or not hmac.compare_digest(digest(client_secret), client.secret_hash):
            raise OAuthError("invalid_client", "Client authentication failed", 401)
    return client


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    scopes: tuple[str, ...]
    expires_in: int

    def to_dict(self, state: str | None = None) -> dict:
        answer = {"access_token": self.access_token, "expires_in": self.expires_in, "token_type": "Bearer",
                  "scope": scope_text(self.scopes), "refresh_token": self.refresh_token}
        if state is not None:
            answer["state"] = state
        return answer


def _issue_tokens(session: Session, client: OAuthClient, user_id: int, scopes: list[str], at: datetime,
                  code_hash: str | None = None) -> IssuedTokens:
    access, refresh = ACCESS_PREFIX + _random(SECRET_LENGTH), REFRESH_PREFIX + _random(SECRET_LENGTH)
    session.add(OAuthToken(client_id=client.id, user_id=user_id, code_hash=code_hash, access_hash=digest(access),
                           refresh_hash=digest(refresh), scopes=scopes, access_expires_at=at + ACCESS_TTL,
                           created_at=at))
    session.flush()
    return IssuedTokens(access, refresh, tuple(scopes), int(ACCESS_TTL.total_seconds()))


def exchange_code(session: Session, client: OAuthClient, *, code: str | None, redirect_uri: str | None,
                  code_verifier: str | None, ip: str | None = None, at: datetime | None = None) -> IssuedTokens:
    """``grant_type=authorization_code``: the code, spent, for a token pair."""
    at = at or now()
    row = session.get(OAuthCode, digest(code)) if code else None
    if row is None or row.client_id != client.id:
        raise OAuthError("invalid_grant", "Unknown authorization code")
    if row.used_at is not None:
        raise _replayed(session, row.code_hash, client, "This authorization code was already used", ip, at)
    if aware(row.expires_at) <= at:
        raise OAuthError("invalid_grant", "This authorization code has expired")
    if redirect_uri != row.redirect_uri and not (row.redirect_uri == "" and redirect_uri in (None, *client.redirect_uris)):
        raise OAuthError("invalid_grant", "redirect_uri differs from the authorization request's")
    if row.code_challenge is None and code_verifier is not None:  # RFC 9700 §2.1.1: no PKCE downgrade
        raise OAuthError("invalid_grant", "code_verifier sent for a code requested without code_challenge")
    if row.code_challenge is not None and not (code_verifier and pkce_matches(row.code_challenge, code_verifier)):
        raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise OAuthError("invalid_grant", "The user who granted this code can no longer sign in")
    # spent by one request only, however many race for it: the update is the check
    spent = session.execute(update(OAuthCode).where(OAuthCode.code_hash == row.code_hash, OAuthCode.used_at.is_(None))
                            .values(used_at=at).execution_options(synchronize_session=False))
    if spent.rowcount != 1:
        raise _replayed(session, row.code_hash, client, "This authorization code was already used", ip, at)
    tokens = _issue_tokens(session, client, row.user_id, list(row.scopes or ["read"]), at, row.code_hash)
    record(session, "oauth.token", actor=user.login, target=f"oauth_client:{client.id}",
           detail={"grant": "authorization_code"}, ip=ip, at=at)
    return tokens


def _replayed(session: Session, family: str | None, client: OAuthClient, message: str, ip: str | None,
              at: datetime) -> OAuthError:
    """A code or refresh token used a second time: every token issued from the same grant (its
    code) is revoked and the replay audited; the error says to commit that before answering."""
    if family is not None:
        _revoke_tokens(session, OAuthToken.code_hash == family, at)
    record(session, "oauth.replay", target=f"oauth_client:{client.id}", ip=ip, at=at)
    return OAuthError("invalid_grant", message, keep_changes=True)


def refresh_tokens(session: Session, client: OAuthClient, *, refresh_token: str | None, scope: str | None = None,
                   ip: str | None = None, at: datetime | None = None) -> IssuedTokens:
    """``grant_type=refresh_token``: the refresh token, spent (its access token with it), for a
    new pair; ``scope`` may narrow what was granted, never widen it (RFC 6749 §6)."""
    at = at or now()
    row = session.scalar(select(OAuthToken).where(OAuthToken.refresh_hash == digest(refresh_token))
                         .options(selectinload(OAuthToken.user))) if refresh_token else None
    if row is None or row.client_id != client.id:
        raise OAuthError("invalid_grant", "Unknown, used or revoked refresh token")
    if row.revoked_at is not None:
        # A spent refresh token seen again was stolen, or replayed (RFC 9700 §4.14.2): the tokens
        # issued after it are revoked too.
        raise _replayed(session, row.code_hash, client, "Unknown, used or revoked refresh token", ip, at)
    if not row.user.is_active:
        raise OAuthError("invalid_grant", "The user who granted this token can no longer sign in")
    scopes = list(row.scopes or ["read"])
    if scope:
        narrowed = parse_scopes(scope)
        if not set(narrowed) <= set(scopes):
            raise OAuthError("invalid_scope", "A refresh cannot widen the scopes first granted")
        scopes = narrowed
    spent = session.execute(update(OAuthToken).where(OAuthToken.id == row.id, OAuthToken.revoked_at.is_(None))
                            .values(revoked_at=at).execution_options(synchronize_session=False))
    if spent.rowcount != 1:
        raise _replayed(session, row.code_hash, client, "Unknown, used or revoked refresh token", ip, at)
    generation.bump(session)
    tokens = _issue_tokens(session, client, row.user_id, scopes, at, row.code_hash)
    record(session, "oauth.token", actor=row.user.login, target=f"oauth_client:{client.id}",
           detail={"grant": "refresh_token"}, ip=ip, at=at)
    return tokens


def verify_access_token(session: Session, token: str, at: datetime | None = None) -> OAuthToken | None:
    """The live token row of ``token`` (user, groups and client loaded); None when unknown,
    expired, revoked, its client revoked or its user disabled."""
    if not token.startswith(ACCESS_PREFIX):
        return None
    row = session.scalar(select(OAuthToken).where(OAuthToken.access_hash == digest(token))
                         .options(selectinload(OAuthToken.user).selectinload(User.groups),
                                  selectinload(OAuthToken.client)))
    if row is None or row.revoked_at is not None or aware(row.access_expires_at) <= (at or now()) \
            or row.client.revoked_at is not None or not row.user.is_active:
        return None
    return row


# -- a user's own view of their applications ------------------------------------------------
@dataclass(frozen=True)
class UserGrant:
    """An application that holds live tokens for a user ("connected applications"): what the
    user authorized it to do, and when, so they can take it back. Never a token."""

    client_id: str
    client_name: str
    scopes: tuple[str, ...]
    authorized_at: datetime  # the oldest live token: when this access began
    last_issued_at: datetime  # the newest: its latest refresh


def user_grants(session: Session, user: User) -> list[UserGrant]:
    """The applications with a live (unrevoked) token for ``user``, newest first. An access
    token's hour does not matter: its refresh token, which never expires, keeps the access."""
    rows = session.scalars(select(OAuthToken).where(OAuthToken.user_id == user.id, OAuthToken.revoked_at.is_(None))
                           .options(selectinload(OAuthToken.client)))
    found: dict[str, list[OAuthToken]] = {}
    for row in rows:
        if row.client.revoked_at is None:  # a revoked client's tokens work nowhere
            found.setdefault(row.client_id, []).append(row)
    grants = [UserGrant(client_id, tokens[0].client.name,
                        tuple(sorted({s for t in tokens for s in (t.scopes or ["read"])})),
                        min(aware(t.created_at) for t in tokens), max(aware(t.created_at) for t in tokens))
              for client_id, tokens in found.items()]
    return sorted(grants, key=lambda g: (g.last_issued_at, g.client_id), reverse=True)


def revoke_user_grant(session: Session, user: User, client_id: str, *, actor: str | None = None,
                      ip: str | None = None, at: datetime | None = None) -> int:
    """``user`` takes back what they let ``client_id`` do: its access and refresh tokens for
    them stop working (the client keeps working for others, and may ask again). Returns the
    tokens revoked: 0 when the application held none for the user, and nothing is audited."""
    at = at or now()
    count = _revoke_tokens(session, (OAuthToken.user_id == user.id) & (OAuthToken.client_id == client_id), at)
    if count:
        record(session, "oauth.revoke_grant", actor=actor, target=f"oauth_client:{client_id}",
               detail={"login": user.login, "tokens": count}, ip=ip, at=at)
    return count
