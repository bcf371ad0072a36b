"""OpenID Connect sign-in (authorization code flow with PKCE), with authlib's OAuth2 client.

``start`` reads the IdP's discovery document, keeps the flow's state, nonce and PKCE verifier
in the catalogue (``LoginFlow``, single use, 10 minutes; any server process can finish it) and
returns the authorization URL. ``finish`` spends that flow, exchanges the code (client secret +
verifier), verifies the ID token against the IdP's JWKS (signature, issuer, audience, expiry,
nonce) and signs the user in: the account the provider identity (issuer, ``sub``) is bound to
(``SsoIdentity``), created and bound at first sign-in (``Settings.oidc_default_role``, no
password), groups mapped from the ``Settings.oidc_groups_claim`` claim.

Group mapping: with ``oidc_group_map`` (IdP group → Portail group), the mapped Portail groups
follow the IdP at every sign-in (joined or left; created if missing); without a map, IdP groups
that exist in Portail under the same name are joined. Errors are ``AuthError`` (401).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from authlib.common.security import generate_token
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from portail.auth import services
from portail.auth.audit import record
from portail.auth.errors import AuthError
from portail.auth.models import LoginFlow, User
from portail.auth.passwords import aware, digest

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


def refused(message: str = "Single sign-on failed; please try again") -> AuthError:
    return AuthError(message, 401, "SSOError")


def discover(config: OidcConfig) -> dict[str, Any]:
    """The IdP's discovery document (its issuer must be the configured one)."""
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
          portal: str, at: datetime | None = None) -> str:
    """Keep a new flow and return the IdP's authorization URL to redirect the browser to."""
    at = at or datetime.now(UTC)
    session.execute(delete(LoginFlow).where(LoginFlow.expires_at <= at))
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), generate_token(64)
    session.add(LoginFlow(state_hash=digest(state), nonce=nonce, code_verifier=verifier, redirect_uri=redirect_uri,
                          next_url=next_url, portal=portal, expires_at=at + FLOW_TTL))
    with _client(config, redirect_uri) as client:
        url, _ = client.create_authorization_url(metadata["authorization_endpoint"], state=state, nonce=nonce,
                                                 code_verifier=verifier)
    return url


def verify_id_token(id_token: str, jwks: dict[str, Any], *, issuer: str, client_id: str, nonce: str,
                    at: datetime | None = None) -> dict[str, Any]:
    """The ID token's claims once its signature and iss/aud/exp/nonce are checked."""
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
           ip: str | None = None, at: datetime | None = None) -> tuple[User, LoginFlow]:
    """Spend the flow of ``state``, redeem ``code``, verify the ID token, sign the user in."""
    at = at or datetime.now(UTC)
    flow = session.get(LoginFlow, digest(state or ""))
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
    claims = verify_id_token(token["id_token"], jwks, issuer=config.issuer, client_id=config.client_id,
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
    claimed = services.normalize_login(str(claims.get(config.login_claim) or subject))
    user, bind = _account_of(session, issuer, subject, claimed, ip=ip, at=at)
    if user is not None and not user.is_active:
        record(session, "login.failure", target=f"user:{user.login}", detail={"reason": "disabled", "via": "oidc"},
               ip=ip, at=at)
        raise AuthError("This account is disabled")
    if user is None:
        user = services.create_user(session, claimed, role=config.default_role, display_name=claims.get("name"),
                                    # the provider's word, kept only when it has an address's shape: a
                                    # malformed claim must not stop its user from signing in
                                    email=claims.get("email") if services.plausible_email(claims.get("email")) else None,
                                    actor="sso", ip=ip)
    if bind:
        services.link_identity(session, user, issuer, subject, actor="sso", ip=ip)
    login = user.login
    idp_groups = claims.get(config.groups_claim) or []
    idp_groups = [idp_groups] if isinstance(idp_groups, str) else [str(g) for g in idp_groups]
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


def _account_of(session: Session, issuer: str, subject: str, claimed: str, *, ip: str | None,
                at: datetime) -> tuple[User | None, bool]:
    """``(account, bind)``: the account the identity is bound to; else, for an unbound identity,
    none (``claimed`` is free: the account to create and bind) or the account of that login when
    it awaits its identity (``services.awaits_identity``: made by single sign-on before
    identities were kept). Any other account of that login is refused, never signed into and
    never renamed around: a local account (a password), one bound to another identity, one an
    administrator made. Brokers such as Keycloak do the same (an existing account is linked only
    once its owner proves it); a free login picked instead (``alice2``) would make a second
    account its user does not know of, outside the groups and grants given to the first."""
    user = services.identity_holder(session, issuer, subject)
    if user is not None:
        return user, False
    user = session.scalar(select(User).where(User.login == claimed).options(selectinload(User.groups))) \
        if services.LOGIN.match(claimed) else None  # no account holds another (create_user says why)
    if user is None:
        return None, True
    if services.awaits_identity(session, user):
        return user, True
    held = ("an account with a password" if user.password_hash is not None
            else "an account bound to another identity" if user.identities else "an account no sign-in may bind")
    record(session, "login.failure", target=f"user:{claimed}", ip=ip, at=at,
           detail={"reason": f"login held by {held}", "via": "oidc", "issuer": issuer, "subject": subject})
    raise refused(f"Your single sign-on identity is linked to no account here, and the login {claimed!r} belongs "
                  "to another account: ask an administrator to link your identity to your account")
