"""OpenID Connect sign-in (authorization code flow with PKCE), with authlib's OAuth2 client.

``start`` reads the IdP's discovery document, keeps the flow's state, nonce and PKCE verifier
in the catalogue (``LoginFlow``, single use, 10 minutes; any server process can finish it, in
the browser that started it only: ``_browser_state``) and returns the authorization URL. ``finish`` spends that flow, exchanges the code (client secret +
verifier), verifies the ID token against the IdP's JWKS (signature, issuer, audience, expiry,
nonce) and signs the user in: the account the provider identity (issuer, ``sub``) is bound to
(``SsoIdentity``), created and bound at first sign-in (``Settings.oidc_default_role``, no
password), groups mapped from the ``Settings.oidc_groups_claim`` claim.

Group mapping: with ``oidc_group_map`` (IdP group → Portail group), the mapped Portail groups
follow the IdP at every sign-in (joined or left; created if missing); without a map, IdP groups
that exist in Portail under the same name are joined. Errors are ``AuthError`` (401); those a
visitor reads say nothing of the accounts here (``NO_ACCOUNT``), the audit event says why.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from portail.auth import services
from portail.auth.audit import record
from portail.auth.errors import AuthError
from portail.auth.models import LoginFlow, User
from portail.auth.passwords import aware, digest
from portail.catalog.services import text_problem

FLOW_TTL = timedelta(minutes=10)
HTTP_TIMEOUT = 10.0


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str | None
    scopes: str = "openid profile email"
    login_claim: str = "preferred_username"
    groups_claim: str = "groups"
    group_map: dict[str, str] = field(default_factory=dict)
    default_role: str = "viewer"

    @classmethod
    def from_settings(cls, settings) -> "OidcConfig | None":
        if not settings.oidc_issuer or not settings.oidc_client_id:
            return None
        return cls(settings.oidc_issuer.rstrip("/"), settings.oidc_client_id, settings.oidc_client_secret,
                   settings.oidc_scopes, settings.oidc_login_claim, settings.oidc_groups_claim,
                   dict(settings.oidc_group_map), settings.oidc_default_role)


#: What a visitor refused an account reads (``_account_of``), whatever holds the login they claim:
#: naming it ("the login 'x' belongs to another account") told anyone with a provider account,
#: choosing their own username there, which logins exist here and which kind of account holds
#: them. The reason goes to the audit event (``login.failure``, its detail's ``reason``, with the
#: issuer and subject ``portail user sso-link`` needs), found again by the ``reference`` the
#: visitor quotes. Its French is ``web.i18n.SSO_FRENCH``.
NO_ACCOUNT = ("Single sign-on could not sign you in here: ask an administrator to link your identity to an "
              "account, quoting the reference")


#: What the callback of a browser that sent back no cookie of the sign-in (``_browser_state``)
#: reads: cookies refused, or dropped (a ``Secure`` one over plain HTTP). Told "this link has
#: expired; sign in again", its visitor signed in again, to the same refusal, without end.
NO_BROWSER_COOKIE = "This browser did not keep the sign-in's cookie: allow cookies for this site, then sign in again"


def refused(message: str = "Single sign-on failed; please try again") -> AuthError:
    return AuthError(message, 401, "SSOError")


def refusal_reference() -> str:
    """A reference a refused visitor quotes to an administrator, who finds its audit event by it:
    random, for a sequence (an event's id) would tell how many events the trail holds."""
    return "SSO-" + secrets.token_hex(4).upper()


#: The ``error`` codes of an authorization response (RFC 6749 4.1.2.1, OpenID Connect Core
#: 3.1.2.6): the only ones the callback's page says. Any text sent there was shown as is on the
#: portal's page to whoever opened a crafted link ("…refused the sign-in (your account is locked:
#: call …)"), a message the portal seemed to write.
PROVIDER_ERRORS = frozenset({
    "invalid_request", "unauthorized_client", "access_denied", "unsupported_response_type", "invalid_scope",
    "server_error", "temporarily_unavailable", "interaction_required", "login_required",
    "account_selection_required", "consent_required", "invalid_request_uri", "invalid_request_object",
    "request_not_supported", "request_uri_not_supported", "registration_not_supported"})


def provider_refused(error: str) -> AuthError:
    """The refusal of a callback the provider sent back without a code: its ``error`` named when
    it is one the protocols define (``PROVIDER_ERRORS``), else not repeated."""
    message = "The identity provider refused the sign-in"
    return refused(f"{message} ({error})" if error in PROVIDER_ERRORS else message)


def new_browser_key() -> str:
    """The secret of the browser a sign-in starts in, kept in its cookie (``web.auth_routes``)."""
    return secrets.token_urlsafe(32)


def _browser_tag(browser_key: str, token: str) -> bytes:
    mac = hmac.new(browser_key.encode(errors="surrogatepass"), token.encode(errors="surrogatepass"), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:18])


def _browser_state(browser_key: str) -> str:
    """A new flow's ``state``, bound to the browser that holds ``browser_key``: a random part and
    its HMAC under that key. Without it, ``finish`` spent any valid state in any browser: one
    stopped an own sign-in at the provider's redirect and sent that callback link to someone,
    who opening it was signed in to the sender's account (login CSRF, RFC 6749 10.12), where
    whatever they then did (a key made, a dataset uploaded) was the sender's to read."""
    token = secrets.token_urlsafe(24)
    return f"{token}.{_browser_tag(browser_key, token).decode()}"


def _state_of_browser(state: str, browser_key: str | None) -> bool:
    """Whether ``state`` is one ``_browser_state`` made for the browser of ``browser_key``
    (compared as bytes: the callback's ``state`` is any text its link holds)."""
    token, _, tag = (state or "").rpartition(".")
    return bool(token and browser_key) and hmac.compare_digest(tag.encode(errors="surrogatepass"),
                                                               _browser_tag(browser_key, token))


def discover(config: OidcConfig) -> dict[str, Any]:
    """The IdP's discovery document (its issuer must be the configured one)."""
    import httpx  # single sign-on's HTTP and JOSE (~0.1 s) are imported where it is used, not at each start

    try:
        response = httpx.get(f"{config.issuer}/.well-known/openid-configuration", timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        metadata = response.json()
    except (httpx.HTTPError, ValueError):
        raise refused("The identity provider cannot be reached") from None
    if metadata.get("issuer", "").rstrip("/") != config.issuer:
        raise refused("The identity provider announces another issuer")
    return metadata


def _client(config: OidcConfig, redirect_uri: str):
    """authlib's OAuth2 client over httpx (PKCE S256); imported here, where SSO is used, because
    authlib announces a move of that module to httpx2 with a warning at import."""
    from authlib.integrations.httpx_client import OAuth2Client

    return OAuth2Client(client_id=config.client_id, client_secret=config.client_secret, scope=config.scopes,
                        redirect_uri=redirect_uri, code_challenge_method="S256", timeout=HTTP_TIMEOUT)


def start(session: Session, config: OidcConfig, metadata: dict[str, Any], *, redirect_uri: str, next_url: str,
          portal: str, browser_key: str, at: datetime | None = None) -> str:
    """Keep a new flow, bound to the browser of ``browser_key`` (``_browser_state``), and return
    the IdP's authorization URL to redirect that browser to."""
    from authlib.common.security import generate_token

    at = at or datetime.now(UTC)
    session.execute(delete(LoginFlow).where(LoginFlow.expires_at <= at))
    state, nonce, verifier = _browser_state(browser_key), secrets.token_urlsafe(32), generate_token(64)
    session.add(LoginFlow(state_hash=digest(state), nonce=nonce, code_verifier=verifier, redirect_uri=redirect_uri,
                          next_url=next_url, portal=portal, expires_at=at + FLOW_TTL))
    with _client(config, redirect_uri) as client:
        url, _ = client.create_authorization_url(metadata["authorization_endpoint"], state=state, nonce=nonce,
                                                 code_verifier=verifier)
    return url


def verify_id_token(id_token: str, jwks: dict[str, Any], *, issuer: str, client_id: str, nonce: str,
                    at: datetime | None = None) -> dict[str, Any]:
    """The ID token's claims once its signature and iss/aud/exp/nonce are checked."""
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    try:
        token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=["RS256", "ES256", "PS256"])
        jwt.JWTClaimsRegistry(now=int((at or datetime.now(UTC)).timestamp()), leeway=60,
                              iss={"essential": True, "value": issuer}, aud={"essential": True, "value": client_id},
                              exp={"essential": True}, sub={"essential": True},
                              nonce={"essential": True, "value": nonce}).validate(token.claims)
    except (JoseError, ValueError) as error:
        raise refused(f"The identity provider's token is not valid ({type(error).__name__})") from None
    return dict(token.claims)


def finish(session: Session, config: OidcConfig, metadata: dict[str, Any], *, state: str, code: str,
           browser_key: str | None, ip: str | None = None, at: datetime | None = None) -> tuple[User, LoginFlow]:
    """Spend the flow of ``state`` (when the browser of ``browser_key`` started it), redeem
    ``code``, verify the ID token, sign the user in. A state of another browser is refused as an
    unknown one, its flow left for the browser it belongs to; a browser that kept no key is
    told so (``NO_BROWSER_COOKIE``)."""
    import httpx

    at = at or datetime.now(UTC)
    if not browser_key:
        raise refused(NO_BROWSER_COOKIE)
    flow = session.get(LoginFlow, digest(state)) if _state_of_browser(state, browser_key) else None
    if flow is None or aware(flow.expires_at) <= at:
        raise refused("This sign-in link has expired; please sign in again")
    session.delete(flow)
    session.flush()
    try:
        with _client(config, flow.redirect_uri) as client:
            token = client.fetch_token(metadata["token_endpoint"], code=code, code_verifier=flow.code_verifier,
                                       redirect_uri=flow.redirect_uri)
        jwks = httpx.get(metadata["jwks_uri"], timeout=HTTP_TIMEOUT).raise_for_status().json()
    except Exception as error:  # authlib raises OAuthError, httpx HTTPError: both mean "no"
        raise refused(f"The identity provider refused the sign-in ({type(error).__name__})") from None
    if "id_token" not in token:
        raise refused("The identity provider sent no ID token")
    # ``iss`` is the discovery document's issuer to the letter (OpenID Connect Discovery 4.3),
    # which ``discover`` checked is the configured one but for a final slash: Auth0's keep it
    claims = verify_id_token(token["id_token"], jwks, issuer=metadata["issuer"], client_id=config.client_id,
                             nonce=flow.nonce, at=at)
    return provision(session, config, claims, ip=ip, at=at), flow


def provision(session: Session, config: OidcConfig, claims: dict[str, Any], *, ip: str | None = None,
              at: datetime | None = None) -> User:
    """The Portail user of these claims, created at first sign-in, groups synchronised.

    The account is the one the provider's identity (issuer, ``sub``) is bound to, never the one
    whose login equals the login claim: ``preferred_username`` is often its user's own choice,
    and one who named themselves ``admin`` signed in as the administrator. The claim only names
    the account an unbound identity gets (``_account_of``). Every refusal writes nothing but its
    audit event, which the callback commits."""
    at = at or datetime.now(UTC)
    issuer, subject = services.identity_key(config.issuer, str(claims["sub"]))
    claimed = str(claims.get(config.login_claim) or subject)
    claim = (f"{config.login_claim} claim" if claims.get(config.login_claim)  # where ``claimed`` is read, to audit
             else f"subject, for want of a {config.login_claim} claim")
    user, bind = _account_of(session, issuer, subject, claimed, claim, claims, ip=ip, at=at)
    if user is not None and not user.is_active:
        record(session, "login.failure", target=f"user:{user.login}", detail={"reason": "disabled", "via": "oidc"},
               ip=ip, at=at)
        raise AuthError("This account is disabled")
    try:
        with session.begin_nested():
            return _sign_in(session, config, claims, user, bind, services.normalize_login(claimed), issuer, subject,
                            ip=ip, at=at)
    except IntegrityError:
        raise refused("Another sign-in of this account was under way; please sign in again") from None


def _sign_in(session: Session, config: OidcConfig, claims: dict[str, Any], user: User | None, bind: bool,
             login: str, issuer: str, subject: str, *, ip: str | None, at: datetime) -> User:
    """Sign ``user`` in (made as ``login`` when None, the identity bound to it when ``bind``),
    groups synchronised. ``provision`` runs it in a savepoint, for the callback commits a
    refusal: one raised here (a mapped group no name may have) left the account made and bound
    but outside its groups; and two first sign-ins at once (two tabs, or two identities
    claiming one free login) both found nothing to sign into, the second one's insert breaking
    the unique login or identity, a 500. Both are refused now with nothing written but the
    spent flow, and signing in again finds the account the first one made."""
    if user is None:
        user = services.create_user(session, login, role=config.default_role,
                                    display_name=_text_claim(claims.get("name"), User.display_name),
                                    # the provider's word, kept only when it has an address's shape: a
                                    # malformed claim must not stop its user from signing in
                                    email=claims.get("email") if services.plausible_email(claims.get("email")) else None,
                                    actor="sso", ip=ip)
    if bind:
        services.link_identity(session, user, issuer, subject, actor="sso", ip=ip)
    login = user.login
    idp_groups = _group_names(claims.get(config.groups_claim))
    # The groups this sign-in may put the user in or take them out of: with a map, its groups,
    # made if need be; without one, the provider's groups that exist here, and the groups an
    # earlier sign-in put them in (a membership an administrator made stays: ``add_member``'s
    # ``via``). Before, without a map, leaving a group at the provider kept its access here.
    if config.group_map:
        wanted = {services.normalize_group(config.group_map[g]) for g in idp_groups if g in config.group_map}
        managed = {services.normalize_group(name) for name in config.group_map.values()}
        made = managed
    else:
        wanted = {services.normalize_group(g) for g in idp_groups}
        managed = services.groups_made_via(session, user, "sso")
        made = set()
    for name in sorted(managed | wanted):
        try:
            group = services.get_group(session, name)
        except AuthError:
            if name not in made:
                continue  # unmapped IdP groups only join groups that exist
            group = services.create_group(session, name, actor="sso", ip=ip)
        if name in wanted:
            services.add_member(session, group, user, actor="sso", ip=ip, via="sso")
        elif name in managed:
            services.remove_member(session, group, user, actor="sso", ip=ip)
    user.last_login, user.failed_logins, user.locked_until = at, 0, None
    record(session, "login.success", actor=login, target=f"user:{login}",
           detail={"via": "oidc", "groups": sorted(wanted)}, ip=ip, at=at)
    session.flush()
    return user


def _text_claim(value: Any, column) -> str | None:
    """A text claim (the display name) when ``column`` can hold it, else none: the provider's
    users set their names, and one too long, holding a NUL or not text at all refused the
    sign-in (or failed it, a 500) where a missing name only leaves the account unnamed."""
    if not isinstance(value, str) or text_problem(value, "", column.type.length):
        return None
    return value


def _group_names(value: Any) -> list[str]:
    """The provider's groups claim as names: one name, or a list of names (numbers written out),
    anything else none: a claim of another shape (a number, a table) failed the sign-in, a 500."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        return []
    return [str(g) for g in value if isinstance(g, (str, int)) and not isinstance(g, bool)]


def _same_address(user: User, claims: dict[str, Any]) -> bool:
    """Whether the claims' address is the one the account kept from its provider (verified or
    not: ``_address_verified`` says). The claimed login alone bound an account awaiting its
    identity to whoever signed in first naming themselves so, where a provider user changes a
    username at will but a verified address only by proving it. An account that kept no address
    has nothing to prove its user by, and waits for an administrator (``portail user sso-link``,
    the management API): that one bound its first claimant, the takeover identities were kept
    to end. Its earlier sign-ins prove nothing either: before identities were kept (migration
    0015) their audit events held only ``via`` and ``groups``, never the issuer or subject that
    signed in."""
    if user.email is None:
        return False
    email = claims.get("email")
    return isinstance(email, str) and email.strip().lower() == user.email.strip().lower()


def _address_verified(claims: dict[str, Any]) -> bool:
    """Whether the provider says it verified the claims' address: ``email_verified`` true (JSON
    true, or the text ``"true"`` some providers send). A missing claim proves nothing: providers
    that never send it (Azure AD / Entra ID among them) may let their users set their own mail
    attribute, and a provider user who set the address an account kept was bound to it."""
    verified = claims.get("email_verified")
    return verified is True or (isinstance(verified, str) and verified.strip().lower() == "true")


def _no_account(session: Session, claimed: str, reason: str, issuer: str, subject: str, *, ip: str | None,
                at: datetime) -> AuthError:
    """The refusal of an unbound identity no account may be given to by a sign-in: audited with
    its ``reason`` and what ``portail user sso-link`` needs (issuer, subject) under a reference,
    the one thing the visitor's message (``NO_ACCOUNT``) says of it."""
    reference = refusal_reference()
    record(session, "login.failure", target=f"user:{claimed}", ip=ip, at=at,
           detail={"reason": reason, "via": "oidc", "issuer": issuer, "subject": subject, "reference": reference})
    return refused(f"{NO_ACCOUNT} {reference}")


def _account_of(session: Session, issuer: str, subject: str, claimed: str, claim: str, claims: dict[str, Any], *,
                ip: str | None, at: datetime) -> tuple[User | None, bool]:
    """``(account, bind)``: the account the identity is bound to; else, for an unbound identity,
    none (``claimed`` is free: the account to create and bind) or the account of that login when
    it awaits its identity (``services.awaits_identity``: made by single sign-on before
    identities were kept) and the claims name it as written, under the address it kept and
    that the provider verified (``_same_address``, ``_address_verified``; one that kept none,
    or an address not said verified, waits for an administrator). Any other account of
    that login is refused, never signed into and never renamed around: a local account (a
    password), one bound to another identity, one an administrator made. Brokers such as
    Keycloak do the same (an existing account is linked only once its owner proves it); a free
    login picked instead (``alice2``) would make a second account its user does not know of,
    outside the groups and grants given to the first."""
    user = services.identity_holder(session, issuer, subject)
    if user is not None:
        return user, False
    if not claimed.isascii() or claimed != claimed.strip() or not services.LOGIN.match(claimed.lower()) \
            or claimed.lower() in services.RESERVED_LOGINS:
        # Folded onto a login, it would reach an account its user is not: ``\u212aate`` (KELVIN
        # SIGN) lower-cases to ``kate``, `` kate`` strips to it, where the provider holds them
        # for other users than its ``kate``. One no login may be (``josé``; the subject
        # ``auth0|…`` standing in for a missing claim) failed making the account: a 400 naming a
        # login its user cannot change, audited nowhere, where an administrator makes the
        # account and binds the identity (the reference finds its subject).
        raise _no_account(session, claimed, f"{claimed!r}, the {claim}, is no login here (lowercase letters, "
                          "digits and . _ @ + - only)", issuer, subject, ip=ip, at=at)
    claimed = services.normalize_login(claimed)
    # Locked until this transaction ends (PostgreSQL): two identities claiming one account that
    # awaits its identity at once each found it unbound, and both were bound to it.
    user = session.scalar(select(User).where(User.login == claimed).options(selectinload(User.groups))
                          .with_for_update(of=User))
    if user is None:
        return None, True
    bound = services.identity_holder(session, issuer, subject)  # by a sign-in the lock waited for
    if bound is not None:
        return bound, False
    awaiting = services.awaits_identity(session, user)
    same_address = awaiting and _same_address(user, claims)
    if same_address and _address_verified(claims):
        return user, True
    held = ("an account with a password" if user.password_hash is not None
            else "an account bound to another identity" if user.identities
            else "an account awaiting its identity, under an address the provider did not verify "
                 "(email_verified not true)" if same_address
            else "an account awaiting its identity, under another address" if awaiting and user.email
            else "an account awaiting its identity, with no address to prove it by" if awaiting
            else "an account no sign-in may bind")
    raise _no_account(session, claimed, f"login held by {held}", issuer, subject, ip=ip, at=at)
