"""Management API for accounts: users, groups, API keys, quotas, dataset security and grants, audit.

The JSON twin of ``portail user|group|apikey|dataset security`` (same ``auth.services``
functions). The caller is the operator (the management token as ``Authorization: Bearer``; see
``auth.operator``), or a signed-in user (session cookie, with the
CSRF header for changes, or an API key with the ``manage`` scope): each route asks
``auth.can`` for its action, so an admin may do everything, and anyone signed in may manage
their own API keys. Secrets (a new key, a reset token) are in the response once and nowhere else.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from portail.api.errors import ApiError, invalid_parameter
from portail.api.management import Storable, column_text
from portail.auth import Principal, can, keys, oauth2, ratelimit, services, sessions
from portail.auth.audit import query as audit_query
from portail.auth.models import ApiKey, Group, SsoIdentity, User
from portail.auth.oauth2 import ACCESS_PREFIX
from portail.auth.passwords import aware
from portail.auth.permissions import may_manage_keys_of
from portail.catalog import services as catalog

#: The operator: the command line's equal (the management token), acting as an admin.
OPERATOR = Principal(roles=frozenset({"admin"}))
def caller(request: Request) -> Principal:
    """Who calls the management API (``ApiError`` 401 when nobody acceptable): the operator by
    the management token (``auth.operator``: configured, or generated in the home), or a
    signed-in user, whose rights each route asks ``auth.can`` for."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and not value.strip().startswith(ACCESS_PREFIX):  # not an OAuth2 token
        if hmac.compare_digest(value.strip().encode(), request.app.state.management_token.encode()):
            return OPERATOR
        raise ApiError(401, "Unauthorized", "A valid management token is required (Authorization: Bearer …).")
    from portail.api.deps import request_principal

    principal = request_principal(request)
    if principal.is_authenticated:
        return principal
    raise ApiError(401, "Unauthorized", "Sign in, or send an API key with the manage scope or the management token "
                                        "(Authorization: Bearer …).")


def _listed_dataset(session, principal: Principal, ref: str):
    """A dataset a key may be limited to: one the caller may see, else "Unknown dataset" as the
    Explore API answers (a restricted dataset's existence is not told by a key request)."""
    dataset = catalog.get_dataset(session, ref)
    if not can(principal, "read_catalog", services.dataset_ref(session, dataset)):
        raise catalog.NotFound(f"Unknown dataset: {ref}")
    return dataset


def allow(principal: Principal, action: str) -> None:
    if not can(principal, action):
        raise ApiError(403, "Forbidden", f"You are not allowed to {action.replace('_', ' ')}.")


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def user_json(u: User) -> dict[str, Any]:
    return {"login": u.login, "display_name": u.display_name, "email": u.email, "role": u.role, "active": u.is_active,
            "has_password": u.password_hash is not None, "groups": sorted(g.name for g in u.groups),
            "locked_until": u.locked_until.isoformat() if u.locked_until else None,
            "created_at": u.created_at.isoformat(), "last_login": u.last_login.isoformat() if u.last_login else None,
            "sso_identities": [{"issuer": i.issuer, "subject": i.subject} for i in u.identities]}


def identities_json(u: User) -> dict[str, Any]:
    return {"login": u.login, "total_count": len(u.identities),
            "results": [{"issuer": i.issuer, "subject": i.subject, "created_at": i.created_at.isoformat()}
                        for i in u.identities]}


def _issuer(request: Request, given: str | None, option: str) -> str:
    """``given``, or the configured provider's issuer (``services.identity_issuer``, as
    ``portail user sso-link --issuer``); ``option`` names where this route reads it."""
    return services.identity_issuer(given, request.app.state.instance.settings.oidc_issuer, option)


def _subject_sent(request: Request, routed: str) -> str:
    """The subject of ``DELETE …/identities/{subject}`` as the URL sent it. The router reads the
    path decoded and ``//`` merged (``app.MergedSlashesMiddleware``): a subject that is a URL
    (``https:%2F%2Fidp…``, as WebID providers give) or starts with ``/`` reached the route as
    another string, a 404, or another identity of the user unbound (``a%2F%2Fb`` read as
    ``a/b``). The raw path keeps ``%2F`` as sent (only its literal slashes are merged)."""
    raw = request.scope.get("raw_path") or b""
    _, found, rest = raw.partition(b"/api/management/v1/users/")
    parts = rest.split(b"/", 2)  # login (never a slash), "identities", the subject
    if not found or len(parts) != 3 or parts[1] != b"identities":
        return routed  # a path rewritten without its encoding (``PortalHostMiddleware``)
    return unquote(parts[2].decode("utf-8", "replace"))


def group_json(g: Group) -> dict[str, Any]:
    # sorted here, as ``services.list_groups``: the relationship's SQL order follows PostgreSQL's collation
    return {"name": g.name, "description": g.description, "members": sorted(u.login for u in g.members)}


class UserCreate(Storable):
    model_config = ConfigDict(extra="forbid")
    login: str = column_text(User.login, ...)
    role: str = "viewer"
    password: str | None = None
    display_name: str | None = column_text(User.display_name)
    email: str | None = column_text(User.email)


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str | None = None
    active: bool | None = None
    password: str | None = None


class IdentityLink(Storable):
    model_config = ConfigDict(extra="forbid")
    subject: str = column_text(SsoIdentity.subject, ...)  # the ID token's sub (a refused sign-in's audit names it)
    issuer: str | None = column_text(SsoIdentity.issuer)  # default: the configured provider's


class GroupCreate(Storable):
    model_config = ConfigDict(extra="forbid")
    name: str = column_text(Group.name, ...)
    description: str | None = None


class KeyCreate(Storable):
    model_config = ConfigDict(extra="forbid")
    login: str | None = None  # default: the caller
    name: str = column_text(ApiKey.name, "default")
    scopes: list[str] = ["read"]
    datasets: list[str] | None = None  # dataset_id or uid
    expires_at: datetime | None = None


class OAuthClientCreate(Storable):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=200)
    redirect_uris: list[str] = Field(min_length=1, max_length=20)
    public: bool = False  # a browser or mobile app: no secret, PKCE required


class QuotaSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # per window; 0: no limit; null: remove the override. A 32-bit Integer column
    # (``ratelimit.MAX_CALLS``): PostgreSQL refused more (a 500), SQLite kept it.
    calls: int | None = Field(ge=0, le=ratelimit.MAX_CALLS)


class SecuritySet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    visibility: str | None = None
    metadata_public: bool | None = None
    record_filters: dict[str, str | None] | None = None  # group name or "*" -> ODSQL where (null/"": remove)
    hidden_fields: dict[str, list[str] | None] | None = None


def accounts_router() -> APIRouter:
    router = APIRouter(prefix="/api/management/v1", tags=["Management API v1: accounts"])

    def db(request: Request):
        return request.app.state.instance.session()

    # -- users --------------------------------------------------------------------------------
    @router.get("/users", summary="Every user")
    def list_users(request: Request):
        allow(caller(request), "manage_users")
        with db(request) as s:
            users = services.list_users(s)
            return {"total_count": len(users), "results": [user_json(u) for u in users]}

    @router.post("/users", status_code=201, summary="Create a user")
    def create_user(request: Request, body: UserCreate):
        who = caller(request)
        allow(who, "manage_users")
        with db(request) as s:
            user = services.create_user(s, body.login, role=body.role, display_name=body.display_name,
                                        email=body.email, password=body.password, actor=who.login, ip=_ip(request))
            s.refresh(user, ["groups"])
            return user_json(user)

    @router.get("/users/{login}", summary="One user")
    def show_user(request: Request, login: str):
        allow(caller(request), "manage_users")
        with db(request) as s:
            return user_json(services.get_user(s, login))

    @router.patch("/users/{login}", summary="Change a user's role, enable or disable it, set its password")
    def update_user(request: Request, login: str, body: UserUpdate):
        who = caller(request)
        allow(who, "manage_users")
        with db(request) as s:
            user = services.get_user(s, login)
            if body.role is not None and body.role != user.role:
                services.set_role(s, user, body.role, actor=who.login, ip=_ip(request))
            if body.active is not None and body.active != user.is_active:
                services.set_active(s, user, body.active, actor=who.login, ip=_ip(request))
                if not body.active:
                    sessions.close_all_sessions(s, user, actor=who.login, ip=_ip(request))
            if body.password is not None:
                services.set_password(s, user, body.password, actor=who.login, ip=_ip(request))
            return user_json(user)

    @router.delete("/users/{login}", status_code=204, summary="Delete a user, its keys and grants")
    def delete_user(request: Request, login: str):
        who = caller(request)
        allow(who, "manage_users")
        with db(request) as s:
            services.delete_user(s, services.get_user(s, login), actor=who.login, ip=_ip(request))

    @router.post("/users/{login}/reset-token", summary="A single-use password reset token (shown once)")
    def reset_token(request: Request, login: str):
        who = caller(request)
        allow(who, "manage_users")
        settings = request.app.state.instance.settings
        ttl = timedelta(minutes=settings.auth_reset_token_minutes)
        with db(request) as s:
            user = services.get_user(s, login)
            token = services.issue_reset_token(s, user, actor=who.login, ip=_ip(request), ttl=ttl)
            return {"login": user.login, "token": token, "expires_at": user.reset_token_expires.isoformat(),
                    "reset_url": f"{settings.base_url.rstrip('/')}/reset-password?token={token}"}

    @router.post("/users/{login}/logout-everywhere", summary="End every session of a user")
    def logout_everywhere(request: Request, login: str):
        who = caller(request)
        allow(who, "manage_users")
        with db(request) as s:
            count = sessions.close_all_sessions(s, services.get_user(s, login), actor=who.login, ip=_ip(request))
            return {"login": login, "sessions_closed": count}

    # -- single sign-on identities (``portail user sso-link|sso-unlink``) ---------------------
    @router.get("/users/{login}/identities", summary="A user's single sign-on identities (issuer, subject)")
    def list_identities(request: Request, login: str):
        allow(caller(request), "manage_users")
        with db(request) as s:
            return identities_json(services.get_user(s, login))

    @router.post("/users/{login}/identities", status_code=201,
                 summary="Bind a single sign-on identity to a user (issuer default: the configured provider's); "
                         "200 when already theirs, 409 when another user's")
    def link_identity(request: Request, response: Response, login: str, body: IdentityLink):
        who = caller(request)
        allow(who, "manage_users")
        with db(request) as s:
            user = services.get_user(s, login)
            issuer = _issuer(request, body.issuer, "the issuer field")
            if not services.link_identity(s, user, issuer, body.subject, actor=who.login, ip=_ip(request)):
                response.status_code = 200
            return identities_json(user)

    @router.delete("/users/{login}/identities/{subject:path}",
                   summary="Unbind a single sign-on identity (query issuer, default: the configured provider's): "
                           "its sessions and OAuth2 tokens end; the API keys that still work are listed")
    def unlink_identity(request: Request, login: str, subject: str, issuer: str | None = None):
        who = caller(request)
        allow(who, "manage_users")
        with db(request) as s:
            user = services.get_user(s, login)
            left = services.unlink_identity(s, user, _issuer(request, issuer, "the issuer query parameter"),
                                            _subject_sent(request, subject), actor=who.login, ip=_ip(request))
            return {**identities_json(user), "sessions_ended": left.sessions_ended,
                    "api_keys_active": list(left.active_keys), "signs_in": left.signs_in}

    # -- groups -------------------------------------------------------------------------------
    @router.get("/groups", summary="Every group and its members")
    def list_groups(request: Request):
        allow(caller(request), "manage_users")
        with db(request) as s:
            groups = services.list_groups(s)
            return {"total_count": len(groups), "results": [group_json(g) for g in groups]}

    @router.post("/groups", status_code=201, summary="Create a group")
    def create_group(request: Request, body: GroupCreate):
        who = caller(request)
        allow(who, "manage_users")
        with db(request) as s:
            group = services.create_group(s, body.name, body.description, actor=who.login, ip=_ip(request))
            return {"name": group.name, "description": group.description, "members": []}

    @router.delete("/groups/{name}", status_code=204, summary="Delete a group and its grants")
    def delete_group(request: Request, name: str):
        who = caller(request)
        allow(who, "manage_users")
        with db(request) as s:
            services.delete_group(s, services.get_group(s, name), actor=who.login, ip=_ip(request))

    @router.put("/groups/{name}/members/{login}", summary="Add a user to a group")
    def add_member(request: Request, name: str, login: str):
        who = caller(request)
        allow(who, "manage_users")
        with db(request) as s:
            group = services.get_group(s, name)
            services.add_member(s, group, services.get_user(s, login), actor=who.login, ip=_ip(request))
            return group_json(group)

    @router.delete("/groups/{name}/members/{login}", summary="Remove a user from a group")
    def remove_member(request: Request, name: str, login: str):
        who = caller(request)
        allow(who, "manage_users")
        with db(request) as s:
            group = services.get_group(s, name)
            services.remove_member(s, group, services.get_user(s, login), actor=who.login, ip=_ip(request))
            return group_json(group)

    # -- API keys -----------------------------------------------------------------------------
    @router.get("/apikeys", summary="API keys (admins: everyone's; others: their own). Never the keys themselves")
    def list_keys(request: Request, login: str | None = None):
        who = caller(request)
        allow(who, "manage_keys")
        with db(request) as s:
            if not who.is_admin:
                login = who.login
            owner = services.get_user(s, login) if login else None
            return {"results": [keys.status_of(k).to_dict() for k in keys.list_keys(s, owner)]}

    @router.post("/apikeys", status_code=201, summary="Create an API key: the key is in this response only")
    def create_key(request: Request, body: KeyCreate):
        who = caller(request)
        if not (body.login or who.login):  # the operator (management token) is no user: it names one
            raise invalid_parameter("login is required: the user the key is for")
        with db(request) as s:
            user = services.get_user(s, body.login or who.login)
            if not may_manage_keys_of(who, user.id):
                raise ApiError(403, "Forbidden", "You may only create API keys for yourself.")
            uids = [_listed_dataset(s, who, ref).uid for ref in body.datasets] if body.datasets is not None else None
            expires_at = body.expires_at
            parent = s.get(ApiKey, who.key_id) if who.key_id else None
            if parent is not None and parent.expires_at is not None:  # a key outlives not the key that made it
                limit = aware(parent.expires_at)
                if expires_at is None:
                    expires_at = limit
                elif aware(expires_at) > limit:
                    raise ApiError(400, "InvalidRESTParameterError", "A key made with an expiring key expires no later "
                                   f"than it: {limit.isoformat()} at the latest.")
            key, secret = services.create_api_key(s, user, body.name, scopes=body.scopes, datasets=uids,
                                                  expires_at=expires_at, actor=who.login, ip=_ip(request))
            return {**keys.status_of(key).to_dict(), "key": secret}

    @router.delete("/apikeys/{key_id}", summary="Revoke an API key (admins: any; others: their own)")
    def revoke_key(request: Request, key_id: str):
        who = caller(request)
        allow(who, "manage_keys")
        with db(request) as s:
            key: ApiKey = services.revoke_api_key(s, key_id, by=who if who.is_authenticated else None,
                                                  ip=_ip(request))
            return keys.status_of(key).to_dict()

    # -- OAuth2 client applications -----------------------------------------------------------
    @router.get("/oauth-clients", summary="Applications registered for OAuth2 (never their secrets)")
    def list_oauth_clients(request: Request):
        allow(caller(request), "manage_users")
        with db(request) as s:
            return {"results": [oauth2.status_of(c).to_dict() for c in oauth2.list_clients(s)]}

    @router.post("/oauth-clients", status_code=201,
                 summary="Register an application: its client_secret is in this response only")
    def create_oauth_client(request: Request, body: OAuthClientCreate):
        who = caller(request)
        allow(who, "manage_users")
        with db(request) as s:
            client, secret = oauth2.register_client(s, body.name, body.redirect_uris, public=body.public,
                                                    actor=who.login, ip=_ip(request))
            return {**oauth2.status_of(client).to_dict(), "client_secret": secret}

    @router.delete("/oauth-clients/{client_id}", summary="Revoke an application and every token it holds")
    def revoke_oauth_client(request: Request, client_id: str):
        who = caller(request)
        allow(who, "manage_users")
        with db(request) as s:
            client = oauth2.get_client(s, client_id)
            revoked = oauth2.revoke_client(s, client, actor=who.login, ip=_ip(request))
            return {**oauth2.status_of(client).to_dict(), "tokens_revoked": revoked}

    # -- quotas -------------------------------------------------------------------------------
    @router.get("/quotas", summary="Quota overrides (calls per window) and the defaults")
    def list_quotas(request: Request):
        allow(caller(request), "manage_users")
        settings = request.app.state.instance.settings
        with db(request) as s:
            rows = ratelimit.list_quotas(s)
            return {"window": settings.ratelimit_window, "anonymous": settings.ratelimit_anonymous,
                    "default": settings.ratelimit_default,
                    "results": [{"kind": q.principal_kind, "name": q.principal_name, "calls": q.calls} for q in rows]}

    @router.put("/quotas/{kind}/{name}", summary="Set (or with null remove) the quota of a user, group or apikey")
    def set_quota(request: Request, kind: str, name: str, body: QuotaSet):
        who = caller(request)
        allow(who, "manage_users")
        with db(request) as s:
            ratelimit.set_quota(s, kind, name, body.calls, actor=who.login, ip=_ip(request))
            return {"kind": kind, "name": name, "calls": body.calls}

    # -- dataset security ---------------------------------------------------------------------
    def security_json(s, dataset) -> dict[str, Any]:
        row = services.get_security(s, dataset)
        return {"dataset_id": dataset.slug, "visibility": row.visibility if row else "public",
                "metadata_public": bool(row.metadata_public) if row else False,
                "record_filters": dict(row.record_filters or {}) if row else {},
                "hidden_fields": dict(row.hidden_fields or {}) if row else {},
                "grants": [{"kind": k, "name": n} for k, n in services.list_grants(s, dataset)],
                "whole_viewers": [{"login": login, "via": why} for login, why in services.whole_viewers(s, dataset)],
                # said on every answer, not only the save's: a hidden sort key holds until the next load
                "warnings": services.stored_order_warnings(s, dataset)}

    @router.get("/datasets/{ref}/security", summary="A dataset's visibility, grants and per-group rules")
    def show_security(request: Request, ref: str):
        allow(caller(request), "manage_security")
        with db(request) as s:
            return security_json(s, catalog.get_dataset(s, ref))

    @router.put("/datasets/{ref}/security", summary="Change visibility and rulesets (merged by group; null removes)")
    def set_security(request: Request, ref: str, body: SecuritySet):
        who = caller(request)
        allow(who, "manage_security")
        with db(request) as s:
            dataset = catalog.get_dataset(s, ref)
            services.set_dataset_security(s, dataset, visibility=body.visibility, metadata_public=body.metadata_public,
                                          record_filters=body.record_filters, hidden_fields=body.hidden_fields,
                                          actor=who.login, ip=_ip(request))
            return security_json(s, dataset)

    @router.put("/datasets/{ref}/grants/{kind}/{name}", summary="Grant a user or group access to a dataset")
    def add_grant(request: Request, ref: str, kind: str, name: str):
        who = caller(request)
        allow(who, "manage_security")
        with db(request) as s:
            dataset = catalog.get_dataset(s, ref)
            services.grant(s, dataset, kind, name, actor=who.login, ip=_ip(request))
            return security_json(s, dataset)

    @router.delete("/datasets/{ref}/grants/{kind}/{name}", summary="Withdraw a grant")
    def remove_grant(request: Request, ref: str, kind: str, name: str):
        who = caller(request)
        allow(who, "manage_security")
        with db(request) as s:
            dataset = catalog.get_dataset(s, ref)
            services.revoke_grant(s, dataset, kind, name, actor=who.login, ip=_ip(request))
            return security_json(s, dataset)

    # -- audit --------------------------------------------------------------------------------
    @router.get("/audit", summary="Audit events, newest first (filters: action or family `login.`, actor, "
                                  "target, since/until ISO dates; paging)")
    def audit(request: Request, action: str | None = None, actor: str | None = None, target: str | None = None,
              since: datetime | None = None, until: datetime | None = None,
              limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=2**62)):  # SQLite's integers
        allow(caller(request), "manage_users")
        with db(request) as s:
            total, events = audit_query(s, action=action, actor=actor, target=target, since=since, until=until,
                                        limit=limit, offset=offset)
            return {"total_count": total, "results": [
                {"id": e.id, "at": e.at.isoformat(), "actor": e.actor, "action": e.action, "target": e.target,
                 "detail": e.detail, "ip": e.ip} for e in events]}

    return router
