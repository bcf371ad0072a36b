"""Identity and permission tables: users, groups, API keys, dataset grants and rulesets, audit.

They subclass the catalogue's ``Base`` so one Alembic history (``catalog/migrations``) covers
the whole database; ``0002_auth`` creates them. Portable types only (JSON, not JSONB), as in
``catalog.models``. Secrets are never stored in clear: passwords as argon2id hashes, API keys
and reset tokens as SHA-256 digests (both are high-entropy random strings).

This module holds data only; the rules live in ``permissions`` and the state changes in
``services``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (JSON, false, Boolean, CheckConstraint, Column, ForeignKey, Integer, String, Table, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portail.catalog.models import Base, UTCDateTime

ROLES = ("admin", "publisher", "data_owner", "viewer")
VISIBILITIES = ("public", "restricted")
PRINCIPAL_KINDS = ("user", "group")
QUOTA_KINDS = ("user", "group", "apikey")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


membership = Table(
    "auth_membership",
    Base.metadata,
    Column("user_id", ForeignKey("auth_user.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("auth_group.id", ondelete="CASCADE"), primary_key=True, index=True),
    # Who made it: NULL an administrator, "sso" a single sign-on that found the group named by the
    # identity provider, which the next sign-in takes back when the provider stops naming it.
    Column("via", String(20), nullable=True),
)


class User(Base):
    __tablename__ = "auth_user"
    # AUTOINCREMENT on SQLite: an id is never handed out twice, so nothing keyed by a deleted
    # user's id (an audit trail, a grant left behind) can ever point at a newer account.
    __table_args__ = (CheckConstraint(_one_of("role", ROLES), name="ck_auth_user_role"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(150), unique=True, index=True)
    display_name: Mapped[str | None] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(300))
    password_hash: Mapped[str | None] = mapped_column(String(255))  # argon2id; null: no password login
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    role: Mapped[str] = mapped_column(String(20), default="viewer")
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reset_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)  # SHA-256 hex, single use
    reset_token_expires: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_login: Mapped[datetime | None] = mapped_column(UTCDateTime())

    groups: Mapped[list["Group"]] = relationship(secondary=membership, back_populates="members", order_by="Group.name")
    api_keys: Mapped[list["ApiKey"]] = relationship(back_populates="user", cascade="all, delete-orphan",
                                                    passive_deletes=True, order_by="ApiKey.created_at")
    identities: Mapped[list["SsoIdentity"]] = relationship(back_populates="user", cascade="all, delete-orphan",
                                                           passive_deletes=True,
                                                           order_by="(SsoIdentity.issuer, SsoIdentity.subject)")


class SsoIdentity(Base):
    """A single sign-on identity bound to a user: the provider's (issuer, ``sub``), which the
    provider guarantees unique and never reassigned, where a login claim (``preferred_username``)
    is often the provider user's own choice (migration 0015). A sign-in is the account its
    identity is bound to (``oidc.provision``); one user may hold several (an issuer changed)."""

    __tablename__ = "auth_sso_identity"
    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_auth_sso_identity"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_user.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(1000))  # as configured, without a trailing slash
    subject: Mapped[str] = mapped_column(String(255))  # the ID token's ``sub`` (at most 255 ASCII characters)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="identities")


class Group(Base):
    __tablename__ = "auth_group"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True, index=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    members: Mapped[list[User]] = relationship(secondary=membership, back_populates="groups", order_by="User.login")


class ApiKey(Base):
    __tablename__ = "auth_api_key"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)  # ak_xxxxxxxx, shown and used to revoke
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)  # SHA-256 hex of the key
    prefix: Mapped[str] = mapped_column(String(16))  # the key's first characters, to recognise it in lists
    scopes: Mapped[list[Any]] = mapped_column(JSON, default=list)  # ["read"] or ["manage", "read"]
    datasets: Mapped[list[Any] | None] = mapped_column(JSON)  # dataset uids the key is limited to; null: all
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(150))  # a login, kept even if that user goes
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="api_keys")


class DatasetGrant(Base):
    """A user or a group may see a restricted dataset, and a publisher holding one may edit it."""

    __tablename__ = "auth_dataset_grant"
    __table_args__ = (
        UniqueConstraint("dataset_id", "principal_kind", "principal_id", name="uq_auth_dataset_grant"),
        CheckConstraint(_one_of("principal_kind", PRINCIPAL_KINDS), name="ck_auth_dataset_grant_kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"), index=True)
    principal_kind: Mapped[str] = mapped_column(String(10))  # user | group
    principal_id: Mapped[int] = mapped_column(Integer, index=True)  # auth_user.id or auth_group.id
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DatasetSecurity(Base):
    """A dataset's access policy and per-group rulesets (at most one row per dataset; none: public, no rules).

    ``record_filters`` maps a group name (or ``"*"``, the default ruleset for everyone matching
    no group ruleset) to an ODSQL ``where`` text; ``hidden_fields`` maps the same keys to field
    names. ``permissions.security_for`` turns them into what one caller may see.
    """

    __tablename__ = "auth_dataset_security"
    __table_args__ = (CheckConstraint(_one_of("visibility", VISIBILITIES), name="ck_auth_dataset_security_visibility"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.id", ondelete="CASCADE"), unique=True)
    visibility: Mapped[str] = mapped_column(String(20), default="public")
    # A restricted dataset whose metadata (title, description, schema) anyone may see in the
    # catalogue, while its records stay restricted (migration 0003).
    metadata_public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    record_filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    hidden_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    modified: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditEvent(Base):
    """One security-relevant event (logins, keys, grants, rulesets, accounts). Append-only."""

    __tablename__ = "auth_audit_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str | None] = mapped_column(String(150))  # a login; null: the command line or the system
    action: Mapped[str] = mapped_column(String(50), index=True)  # e.g. login.failure, apikey.create
    target: Mapped[str | None] = mapped_column(String(300))  # e.g. user:bob, apikey:ak_…, dataset:<slug>
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(String(64))


class LoginSession(Base):
    """A signed-in browser: the cookie holds a random token, this row its SHA-256 digest.

    Kept in the catalogue so every server process (and node) sees the same sessions; logout
    deletes the row, "logout everywhere" every row of the user. ``csrf_token`` is the
    synchronizer token every state-changing request of this session must echo (migration 0004).
    """

    __tablename__ = "auth_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 hex of the cookie value
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_user.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(20), default="password")  # password | oidc
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))

    user: Mapped[User] = relationship()


class LoginFlow(Base):
    """An OpenID Connect sign-in under way: what the callback must find again (state, nonce, PKCE
    verifier, where to go next). Single use, short-lived (migration 0004)."""

    __tablename__ = "auth_login_flow"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 hex of ``state``
    nonce: Mapped[str] = mapped_column(String(100))
    code_verifier: Mapped[str] = mapped_column(String(200))
    redirect_uri: Mapped[str] = mapped_column(String(1000))
    next_url: Mapped[str] = mapped_column(String(1000))
    portal: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Quota(Base):
    """An API call quota per window for one user, group or API key (``principal_name``: a login,
    a group name or a key id). No row: the defaults of ``Settings`` (migration 0004)."""

    __tablename__ = "auth_quota"
    __table_args__ = (UniqueConstraint("principal_kind", "principal_name", name="uq_auth_quota"),
                      CheckConstraint(_one_of("principal_kind", QUOTA_KINDS), name="ck_auth_quota_kind"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    principal_kind: Mapped[str] = mapped_column(String(10))  # user | group | apikey
    principal_name: Mapped[str] = mapped_column(String(150))
    calls: Mapped[int] = mapped_column(Integer)  # per ``Settings.ratelimit_window``; 0: no limit
    modified: Mapped[datetime] = mapped_column(UTCDateTime())


class OAuthClient(Base):
    """An application registered to act for portal users through OAuth2 (RFC 6749), as
    Opendatasoft's ``/oauth2/authorize/`` and ``/oauth2/token/`` serve them (migration 0006).

    ``secret_hash`` is null for a public client (a browser or mobile app that cannot keep a
    secret), which must then prove each code with PKCE (RFC 7636)."""

    __tablename__ = "auth_oauth_client"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # oc_xxxxxxxxxxxxxxxx, the client_id
    name: Mapped[str] = mapped_column(String(200))  # shown on the consent page
    secret_hash: Mapped[str | None] = mapped_column(String(64), unique=True)  # SHA-256 hex; null: public client
    redirect_uris: Mapped[list[Any]] = mapped_column(JSON, default=list)  # exact matches only
    created_by: Mapped[str | None] = mapped_column(String(150))  # a login; null: the command line
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OAuthCode(Base):
    """An authorization code handed to a client's redirect URI: single use, one hour (as
    Opendatasoft's). A second use revokes what the first one obtained (RFC 6749 §4.1.2)."""

    __tablename__ = "auth_oauth_code"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 hex of the code
    client_id: Mapped[str] = mapped_column(ForeignKey("auth_oauth_client.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_user.id", ondelete="CASCADE"), index=True)
    redirect_uri: Mapped[str] = mapped_column(String(1000))
    scopes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    code_challenge: Mapped[str | None] = mapped_column(String(128))  # PKCE, S256 only
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OAuthToken(Base):
    """An access token (one hour) and its refresh token (no expiry, single use: refreshing
    revokes this row and issues a new one). Only SHA-256 digests are stored."""

    __tablename__ = "auth_oauth_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("auth_oauth_client.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_user.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str | None] = mapped_column(String(64), index=True)  # the code it came from, if any
    access_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    refresh_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    scopes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    access_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()
    client: Mapped[OAuthClient] = relationship()
