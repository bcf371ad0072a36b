"""Every change to users, groups, keys, grants and dataset rulesets, as functions on a session.

The CLI, the management API and (later) the back office call these, so a rule written here
holds everywhere; security-relevant ones (logins, passwords, keys, grants, rulesets, roles)
write an ``AuditEvent`` in the same transaction. They do not check who is calling (callers ask
``permissions.can`` first; the command line is the operator), except key revocation, whose
rule depends on the key's owner. ``actor`` is the login of whoever asked (``None``: the command
line); ``ip`` the client address when known.

``authenticate`` never raises: it returns a ``LoginAttempt`` so that the failure count, the
lock and the audit event it wrote are committed even though the login is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from portail.auth import keys as keyring
from portail.auth import oauth2, passwords, ratelimit, sessions
from portail.auth.audit import record
from portail.auth.keys import now
from portail.auth.errors import AuthError, bad_request, conflict, forbidden, unknown
from portail.auth.models import (PRINCIPAL_KINDS, ROLES, VISIBILITIES, ApiKey, AuditEvent, DatasetGrant,
                                 DatasetSecurity, Group, SsoIdentity, User, membership)
from portail.auth.permissions import DEFAULT_RULESET, DatasetRef, may_hold_manage_scope, owner_login, sees_whole
from portail.auth.principal import Principal, principal_for_user
from portail.catalog.models import Dataset
from portail.catalog.services import may_name, text_problem
from portail.emails import EXAMPLE as EMAIL_EXAMPLE, plausible_email  # the one rule, shared with datasets' contact_email

LOGIN = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,149}$")
GROUP_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
MAX_FILTER_LENGTH = 2000


# -- users ----------------------------------------------------------------------------------
#: Logins no account may take: ``sso`` is the actor of what single sign-on does in the audit
#: trail, which migration 0014 reads to tell a sign-in's memberships from an administrator's.
RESERVED_LOGINS = frozenset({"sso"})


def normalize_login(login: str) -> str:
    return (login or "").strip().lower()


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise bad_request(f"Unknown role {role!r}; use {', '.join(ROLES)}")
    return role


def _check_text(value: str | None, where: str, column) -> None:
    """Refuse a text ``column`` cannot hold (``catalog.services.text_problem``: a NUL, or more
    characters than its ``String(n)``; ``column`` None: a NUL only), naming ``where``."""
    limit = getattr(column.type, "length", None) if column is not None else None
    problem = text_problem(value, where, limit) if value is not None else None
    if problem:
        raise bad_request(problem)


def _check_password(password: str, login: str) -> None:
    problems = passwords.policy_problems(password, login)
    if problems:
        raise bad_request("The password must " + "; ".join(problems))


def create_user(session: Session, login: str, *, role: str = "viewer", display_name: str | None = None,
                email: str | None = None, password: str | None = None, actor: str | None = None,
                ip: str | None = None) -> User:
    """A new active user; without ``password`` it cannot sign in by password (keys, later OIDC)."""
    login = normalize_login(login)
    if not LOGIN.match(login):
        raise bad_request(f"Invalid login {login!r}: lowercase letters, digits and . _ @ + - only")
    if login in RESERVED_LOGINS:
        raise bad_request(f"The login {login!r} is reserved: the audit trail names single sign-on so")
    _check_role(role)
    _check_text(display_name, "display_name", User.display_name)
    _check_text(email, "email", User.email)
    if email is not None and not plausible_email(email):
        raise bad_request(f"Invalid email {email!r}: an address such as {EMAIL_EXAMPLE}")
    if session.scalar(select(User.id).where(User.login == login)) is not None:
        raise conflict(f"A user {login!r} already exists")
    if password is not None:
        _check_password(password, login)
    user = User(login=login, role=role, display_name=display_name, email=email, is_active=True, failed_logins=0,
                password_hash=passwords.hash_password(password) if password is not None else None, created_at=now())
    session.add(user)
    session.flush()
    record(session, "user.create", actor=actor, target=f"user:{login}", detail={"role": role}, ip=ip)
    return user


def get_user(session: Session, login: str) -> User:
    user = session.scalar(select(User).where(User.login == normalize_login(login))
                          .options(selectinload(User.groups))) if may_name(login) else None
    if user is None:
        raise unknown(f"Unknown user: {login}")
    return user


def list_users(session: Session) -> list[User]:
    """Every user by login, sorted here (code points), not by PostgreSQL's collation: as on SQLite."""
    return sorted(session.scalars(select(User).options(selectinload(User.groups), selectinload(User.identities))),
                  key=lambda u: u.login)


def set_password(session: Session, user: User, password: str, *, actor: str | None = None,
                 ip: str | None = None) -> User:
    _check_password(password, user.login)
    user.password_hash = passwords.hash_password(password)
    user.failed_logins, user.locked_until = 0, None
    user.reset_token_hash = user.reset_token_expires = None
    oauth2.revoke_user_tokens(session, user)  # a new password: applications ask again
    ended = sessions.end_sessions(session, user)  # and browsers sign in again
    record(session, "user.password", actor=actor, target=f"user:{user.login}", detail={"sessions_ended": ended}, ip=ip)
    return user


def set_role(session: Session, user: User, role: str, *, actor: str | None = None, ip: str | None = None) -> User:
    previous, user.role = user.role, _check_role(role)
    record(session, "user.role", actor=actor, target=f"user:{user.login}", detail={"from": previous, "to": role}, ip=ip)
    return user


def set_active(session: Session, user: User, active: bool, *, actor: str | None = None, ip: str | None = None) -> User:
    """Disable (every key of the user stops working; every OAuth2 token is revoked and every
    sign-in session ended: enabling the user again revives neither, where a browser signed in
    before came back signed in, found in a hunt) or enable a user."""
    user.is_active = active
    ended = 0
    if not active:
        oauth2.revoke_user_tokens(session, user)
        ended = sessions.end_sessions(session, user)
    record(session, "user.enable" if active else "user.disable", actor=actor, target=f"user:{user.login}", ip=ip,
           detail={"sessions_ended": ended} if not active else None)
    return user


def delete_user(session: Session, user: User, *, actor: str | None = None, ip: str | None = None) -> list[str]:
    """Remove a user, its keys, memberships and grants (grants name no foreign key: removed
    here), and its ownership of datasets; returns the slugs of the datasets it owned, which have
    no owner now. Ownership names a login (``Dataset.owner``, so that it can be given before
    the account exists): kept, it went to the next account made under that login, which read
    the restricted datasets of the one deleted whole (hunt of 7 December). Its single sign-on
    identities go with it (a foreign key's cascade), named in the audit event: a later account
    of the same login is bound to none of them."""
    session.execute(delete(DatasetGrant).where(DatasetGrant.principal_kind == "user",
                                               DatasetGrant.principal_id == user.id))
    owned = [d for d in session.scalars(select(Dataset).where(Dataset.owner.is_not(None))) if owner_login(d.owner) == user.login]
    for dataset in owned:
        owner_changed(session, dataset, None, actor=actor, ip=ip, why="owner deleted")
        dataset.owner = None
    ratelimit.drop_quotas(session, "user", [user.login], actor=actor, ip=ip)
    ratelimit.drop_quotas(session, "apikey", [k.id for k in keyring.list_keys(session, user)], actor=actor, ip=ip)
    identities = [{"issuer": i.issuer, "subject": i.subject} for i in user.identities]
    record(session, "user.delete", actor=actor, target=f"user:{user.login}", ip=ip,
           detail={"sso_identities": identities} if identities else None)
    session.delete(user)
    return sorted(d.slug for d in owned)


def owner_given(session: Session, dataset: Dataset, *, actor: str | None = None, ip: str | None = None) -> None:
    """Audit a new dataset's owner (``owner_changed``'s event, from no owner)."""
    record(session, "dataset.owner", actor=actor, target=f"dataset:{dataset.slug}", ip=ip,
           detail={"from": None, "to": dataset.owner})


def owner_changed(session: Session, dataset: Dataset, new_owner: str | None, *, actor: str | None = None,
                  ip: str | None = None, why: str | None = None) -> bool:
    """Audit giving ``dataset`` to ``new_owner`` (before it is set), when that changes who owns
    it (``owner_login``: a respelling changes nobody's access). An owner reads a restricted
    dataset whole and a data owner publishes it: a grant in all but name, audited as one. Every
    writer of ``Dataset.owner`` calls this; True when it recorded an event."""
    if (owner_login(new_owner) or None) == (owner_login(dataset.owner) or None):
        return False
    detail = {"from": dataset.owner, "to": new_owner, **({"why": why} if why else {})}
    record(session, "dataset.owner", actor=actor, target=f"dataset:{dataset.slug}", detail=detail, ip=ip)
    return True


# -- single sign-on identities -------------------------------------------------------------
def identity_key(issuer: str, subject: str) -> tuple[str, str]:
    """``(issuer, subject)`` as stored: the issuer without its trailing slash (as ``OidcConfig``
    keeps it, so that a link typed with one still matches), both stripped and non-empty."""
    issuer, subject = (issuer or "").strip().rstrip("/"), (subject or "").strip()
    if not issuer or not subject:
        raise bad_request("A single sign-on identity needs an issuer and a subject (the ID token's iss and sub)")
    _check_text(issuer, "issuer", SsoIdentity.issuer)
    _check_text(subject, "subject", SsoIdentity.subject)
    return issuer, subject


def identity_issuer(given: str | None, configured: str | None, option: str) -> str:
    """The issuer an administrator's binding or unbinding names: ``given``, else the configured
    provider's (``Settings.oidc_issuer``), for an identity is always some issuer's. ``option`` is
    how the caller gives one (``--issuer`` on the command line, a field or query parameter of the
    management API), named when neither is there."""
    issuer = given or configured
    if not issuer:
        raise bad_request(f"No identity provider is configured (PORTAIL_OIDC_ISSUER): give {option}")
    return issuer


def identity_holder(session: Session, issuer: str, subject: str) -> User | None:
    """The user the identity (``issuer``, ``subject``) is bound to, if any."""
    return session.scalar(select(User).join(SsoIdentity, SsoIdentity.user_id == User.id)
                          .where(SsoIdentity.issuer == issuer, SsoIdentity.subject == subject)
                          .options(selectinload(User.groups)))


def link_identity(session: Session, user: User, issuer: str, subject: str, *, actor: str | None = None,
                  ip: str | None = None) -> bool:
    """Bind the single sign-on identity (``issuer``, ``subject``) to ``user``: its sign-ins are
    theirs from now on. False when already theirs; refused when another user holds it (unbind it
    there first: moving it silently would hand one account's sign-ins to another)."""
    issuer, subject = identity_key(issuer, subject)
    holder = identity_holder(session, issuer, subject)
    if holder is not None:
        if holder.id == user.id:
            return False
        raise conflict(f"This identity is already linked to the user {holder.login!r}; unlink it there first")
    user.identities.append(SsoIdentity(issuer=issuer, subject=subject, created_at=now()))
    session.flush()
    record(session, "user.sso_link", actor=actor, target=f"user:{user.login}",
           detail={"issuer": issuer, "subject": subject}, ip=ip)
    return True


@dataclass(frozen=True)
class Unlinked:
    """What unbinding an identity left of the account, said to the administrator who asked:
    the sessions it ended, the ids of the API keys that still work (``active_keys``), and
    whether a way to sign in is left (a password, another identity)."""

    sessions_ended: int
    active_keys: tuple[str, ...]
    signs_in: bool

    @property
    def stranded_keys(self) -> bool:
        """Keys that work on an account nobody can sign into any more: a departed employee's
        scripts, most likely, which the administrator revokes or keeps knowingly."""
        return bool(self.active_keys) and not self.signs_in


def active_keys(session: Session, user: User) -> list[str]:
    """The ids of ``user``'s API keys that still work: neither revoked nor expired, on an account
    not disabled (``keys.verify_key`` refuses them all: said to work, they sent the
    administrator to disable an account already disabled)."""
    if not user.is_active:
        return []
    at = now()
    return [k.id for k in keyring.list_keys(session, user) if keyring.key_state(k, at) == "active"]


def unlink_identity(session: Session, user: User, issuer: str, subject: str, *, actor: str | None = None,
                    ip: str | None = None) -> Unlinked:
    """Unbind an identity from ``user``: its next sign-in is an unknown identity's
    (``oidc.provision``), and what it signed in stops as a new password stops it (browsers'
    sessions, applications' tokens): unbinding an identity taken over must cut it off. Refused
    (404) when ``user`` does not hold it.

    API keys stay: they are the account's, not the identity's (made for scripts the identity
    does not run), and an identity is also unbound to move it or because the provider changed
    its issuer, when revoking them would stop the account's automation unasked. What remains is
    said instead (``Unlinked``, and the audit event): an account left with working keys and no
    way to sign in is what a departed employee's looks like, and its administrator revokes the
    keys (``revoke_api_key``) or disables the account (``set_active``, which stops them all)."""
    issuer, subject = identity_key(issuer, subject)
    found = next((i for i in user.identities if (i.issuer, i.subject) == (issuer, subject)), None)
    if found is None:
        raise unknown(f"The user {user.login!r} holds no such single sign-on identity")
    user.identities.remove(found)
    oauth2.revoke_user_tokens(session, user)
    ended = sessions.end_sessions(session, user)
    session.flush()
    left = Unlinked(ended, tuple(active_keys(session, user)), user.password_hash is not None or bool(user.identities))
    record(session, "user.sso_unlink", actor=actor, target=f"user:{user.login}",
           detail={"issuer": issuer, "subject": subject, "sessions_ended": ended,
                   "api_keys_active": len(left.active_keys), "signs_in": left.signs_in}, ip=ip)
    return left


def awaits_identity(session: Session, user: User) -> bool:
    """Whether ``user`` is a single sign-on account of a release that kept no identity (before
    migration 0015), which its next sign-in may bind under the address it kept, verified
    (``oidc._same_address``, ``oidc._address_verified``; one that kept none, only an
    administrator): no password, and
    since the account was made, no identity bound or unbound (an unbound one stays unbound: an
    administrator's choice), and single sign-on made it (``sso``, a login no account may take) or signed into
    it (without a password, nothing else does). Not an account made for API keys only, which
    a provider user naming themselves so would take (an administrator binds those)."""
    if user.password_hash is not None:
        return False
    target = f"user:{user.login}"
    last = session.execute(select(AuditEvent.id, AuditEvent.action, AuditEvent.actor)
                           .where(AuditEvent.target == target,
                                  AuditEvent.action.in_(("user.create", "user.sso_link", "user.sso_unlink")))
                           .order_by(AuditEvent.id.desc()).limit(1)).first()
    if last is None or last.action != "user.create":
        return False
    return last.actor == "sso" or session.scalar(
        select(AuditEvent.id).where(AuditEvent.target == target, AuditEvent.action == "login.success",
                                    AuditEvent.id > last.id).limit(1)) is not None


# -- sign-in --------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoginAttempt:
    """The outcome of a password sign-in: ``ok``, ``invalid`` (unknown login or wrong password,
    never told apart to the caller), ``locked`` or ``disabled``."""

    outcome: str
    user: User | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def error(self) -> AuthError:
        """What to tell the client when the attempt failed."""
        message = {"locked": "Too many failed sign-ins; try again later",
                   "disabled": "This account is disabled"}.get(self.outcome, "Invalid login or password")
        return AuthError(message)


def authenticate(session: Session, login: str, password: str, *, ip: str | None = None,
                 at: datetime | None = None, max_failures: int = passwords.MAX_FAILED_LOGINS,
                 lockout: timedelta = passwords.LOCKOUT, method: str = "password") -> LoginAttempt:
    """A password sign-in: the form's, or HTTP Basic's (``method="basic"``, in the audit detail)."""
    at = at or now()
    login = normalize_login(login)
    user = session.scalar(select(User).where(User.login == login)) if may_name(login) else None
    via = {} if method == "password" else {"method": method}

    def failed(outcome: str, reason: str) -> LoginAttempt:
        record(session, "login.failure", actor=None, target=f"user:{login}", detail={"reason": reason, **via}, ip=ip,
               at=at)
        return LoginAttempt(outcome, None)

    # Every refusal costs one password check, a wrong password's: how fast the answer comes must
    # not tell an unknown, disabled or locked login from a wrong password (HTTP Basic answers
    # them all alike).
    if user is None:
        passwords.verify_password(None, password)
        return failed("invalid", "unknown login")
    if not user.is_active:
        passwords.verify_password(None, password)
        return failed("disabled", "disabled")
    if passwords.is_locked(user.locked_until, at):
        passwords.verify_password(None, password)
        return failed("locked", "locked")
    if not passwords.verify_password(user.password_hash, password):
        # counted in the database, not from the row read above: guesses sent in parallel each count
        counted = session.execute(update(User).where(User.id == user.id)
                                  .values(failed_logins=func.coalesce(User.failed_logins, 0) + 1)
                                  .returning(User.failed_logins)
                                  .execution_options(synchronize_session=False)).scalar_one()
        set_committed_value(user, "failed_logins", counted)
        _, locked_until = passwords.after_failure(counted - 1, at, max_failures=max_failures, lockout=lockout)
        if locked_until is not None:
            user.locked_until = locked_until
            record(session, "user.lock", target=f"user:{login}", detail={"until": locked_until.isoformat()}, ip=ip, at=at)
        return failed("invalid", "no password set" if user.password_hash is None else "wrong password")
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    user.failed_logins, user.locked_until, user.last_login = 0, None, at
    record(session, "login.success", actor=login, target=f"user:{login}", detail=via or None, ip=ip, at=at)
    return LoginAttempt("ok", user)


def issue_reset_token(session: Session, user: User, *, actor: str | None = None, ip: str | None = None,
                      ttl: timedelta = passwords.RESET_TOKEN_TTL, at: datetime | None = None) -> str:
    """A single-use reset token for ``user`` (replacing any earlier one); only its digest is kept."""
    at = at or now()
    token, digest = passwords.new_reset_token()
    user.reset_token_hash, user.reset_token_expires = digest, at + ttl
    record(session, "user.reset_token", actor=actor, target=f"user:{user.login}", ip=ip, at=at)
    return token


def reset_password(session: Session, token: str, new_password: str, *, ip: str | None = None,
                   at: datetime | None = None) -> User:
    """Set a new password with a reset token; the token is spent, the lock lifted."""
    at = at or now()
    refused = AuthError("This password reset link is not valid or has expired", 400, "InvalidToken")
    user = session.scalar(select(User).where(User.reset_token_hash == passwords.digest((token or "").strip())))
    if user is None or user.reset_token_expires is None or passwords.aware(user.reset_token_expires) <= at:
        raise refused
    _check_password(new_password, user.login)
    oauth2.revoke_user_tokens(session, user)
    ended = sessions.end_sessions(session, user)
    user.password_hash = passwords.hash_password(new_password)
    user.reset_token_hash = user.reset_token_expires = None
    user.failed_logins, user.locked_until = 0, None
    record(session, "user.password", actor=user.login, target=f"user:{user.login}",
           detail={"via": "reset token", "sessions_ended": ended}, ip=ip, at=at)
    return user


# -- groups ---------------------------------------------------------------------------------
def normalize_group(name: str) -> str:
    return (name or "").strip().lower()


def create_group(session: Session, name: str, description: str | None = None, *, actor: str | None = None,
                 ip: str | None = None) -> Group:
    name = normalize_group(name)
    if not GROUP_NAME.match(name):
        raise bad_request(f"Invalid group name {name!r}: lowercase letters, digits and . _ - only")
    _check_text(description, "description", Group.description)
    if session.scalar(select(Group.id).where(Group.name == name)) is not None:
        raise conflict(f"A group {name!r} already exists")
    group = Group(name=name, description=description, created_at=now())
    session.add(group)
    session.flush()
    record(session, "group.create", actor=actor, target=f"group:{name}", ip=ip)
    return group


def get_group(session: Session, name: str) -> Group:
    group = session.scalar(select(Group).where(Group.name == normalize_group(name))
                           .options(selectinload(Group.members))) if may_name(name) else None
    if group is None:
        raise unknown(f"Unknown group: {name}")
    return group


def list_groups(session: Session) -> list[Group]:
    """Every group by name, sorted as ``list_users`` sorts."""
    return sorted(session.scalars(select(Group).options(selectinload(Group.members))), key=lambda g: g.name)


def add_member(session: Session, group: Group, user: User, *, actor: str | None = None, ip: str | None = None,
               via: str | None = None) -> bool:
    """Put ``user`` in ``group``; False when already there. ``via``: what made the membership
    (``"sso"``: a sign-in, which a later one takes back; None: an administrator, whom no sign-in
    overrules). An administrator adding a member a sign-in put there makes the membership theirs
    (else the next sign-in without the group took it back)."""
    if user in group.members:
        if via is None and _made_via(session, group, user) is not None:
            session.execute(update(membership).where(membership.c.user_id == user.id, membership.c.group_id == group.id)
                            .values(via=None))
            record(session, "group.add_member", actor=actor, target=f"group:{group.name}",
                   detail={"login": user.login, "was_via": "sso"}, ip=ip)
            return True
        return False
    group.members.append(user)
    if via is not None:
        session.flush()
        session.execute(update(membership).where(membership.c.user_id == user.id, membership.c.group_id == group.id)
                        .values(via=via))
    record(session, "group.add_member", actor=actor, target=f"group:{group.name}", detail={"login": user.login}, ip=ip)
    return True


def _made_via(session: Session, group: Group, user: User) -> str | None:
    return session.scalar(select(membership.c.via).where(membership.c.user_id == user.id,
                                                         membership.c.group_id == group.id))


def groups_made_via(session: Session, user: User, via: str) -> set[str]:
    """The names of the groups ``user`` was put in by ``via`` (``add_member``)."""
    return set(session.scalars(select(Group.name).join(membership, membership.c.group_id == Group.id)
                               .where(membership.c.user_id == user.id, membership.c.via == via)))


def remove_member(session: Session, group: Group, user: User, *, actor: str | None = None,
                  ip: str | None = None) -> bool:
    if user not in group.members:
        return False
    group.members.remove(user)
    record(session, "group.remove_member", actor=actor, target=f"group:{group.name}", detail={"login": user.login},
           ip=ip)
    return True


def delete_group(session: Session, group: Group, *, actor: str | None = None, ip: str | None = None) -> None:
    """Remove a group, its grants and its rulesets. Rulesets are keyed by the group's name: left
    in place, they bound the next group made under that name (by an administrator, or by an SSO
    sign-in through the group map), whose members read with the deleted group's view, wider than
    the default ruleset (hunt of 7 December)."""
    session.execute(delete(DatasetGrant).where(DatasetGrant.principal_kind == "group",
                                               DatasetGrant.principal_id == group.id))
    _drop_rulesets_of(session, group.name, actor=actor, ip=ip)
    ratelimit.drop_quotas(session, "group", [group.name], actor=actor, ip=ip)
    record(session, "group.delete", actor=actor, target=f"group:{group.name}", ip=ip)
    session.delete(group)


def _drop_rulesets_of(session: Session, name: str, *, actor: str | None, ip: str | None) -> None:
    """Remove the ruleset of group ``name`` from every dataset, each change audited as
    ``set_dataset_security`` audits one."""
    rows = session.execute(select(DatasetSecurity, Dataset.slug).join(Dataset, Dataset.id == DatasetSecurity.dataset_id))
    for row, slug in rows:
        if name not in (row.record_filters or {}) and name not in (row.hidden_fields or {}):
            continue
        row.record_filters = {k: v for k, v in (row.record_filters or {}).items() if k != name}
        row.hidden_fields = {k: v for k, v in (row.hidden_fields or {}).items() if k != name}
        row.modified = now()
        record(session, "security.set", actor=actor, target=f"dataset:{slug}", ip=ip,
               detail={"visibility": row.visibility, "metadata_public": row.metadata_public,
                       "record_filters": row.record_filters, "hidden_fields": row.hidden_fields,
                       "why": f"group {name} deleted"})


# -- API keys -------------------------------------------------------------------------------
def create_api_key(session: Session, user: User, name: str = "default", *, scopes: Iterable[str] = ("read",),
                   datasets: Iterable[str] | None = None, expires_at: datetime | None = None,
                   actor: str | None = None, ip: str | None = None) -> tuple[ApiKey, str]:
    """A new key for ``user`` and its clear text, to show once. ``datasets`` are uids. Every way
    of making a key (management API, account page, command line) passes here, so the rule on
    ``manage`` holds for all of them."""
    _check_text((name or "").strip(), "name", ApiKey.name)  # as ``keys.create_key`` stores it, stripped
    if "manage" in keyring.normalize_scopes(scopes) and not may_hold_manage_scope(principal_for_user(user)):
        raise forbidden(f"User {user.login!r} ({user.role}) may not hold a key with the manage scope: it publishes "
                        "no dataset. Use the read scope.")
    key, secret = keyring.create_key(session, user, name, scopes=scopes, datasets=datasets, expires_at=expires_at)
    record(session, "apikey.create", actor=actor, target=f"apikey:{key.id}",
           detail={"login": user.login, "prefix": key.prefix, "scopes": key.scopes, "datasets": key.datasets,
                   "expires_at": expires_at.isoformat() if expires_at else None}, ip=ip)
    return key, secret


def revoke_api_key(session: Session, key_id: str, *, by: Principal | None = None, ip: str | None = None) -> ApiKey:
    """Revoke a key by id: an admin or its owner (``by=None``: the command line)."""
    key = keyring.get_key(session, key_id)
    already = key.revoked_at is not None
    keyring.revoke_key(session, key, by)
    if not already:
        record(session, "apikey.revoke", actor=by.login if by else None, target=f"apikey:{key.id}",
               detail={"login": key.user.login}, ip=ip)
    return key


# -- dataset access -------------------------------------------------------------------------
def get_security(session: Session, dataset: Dataset) -> DatasetSecurity | None:
    return session.scalar(select(DatasetSecurity).where(DatasetSecurity.dataset_id == dataset.id))


def hidden_fields_missing(session: Session, dataset: Dataset, names: Iterable[str]) -> list[str]:
    """What a version of these field ``names`` leaves unhidden: each ruleset's hidden fields it
    does not have (a column renamed by a reload), said at the load. Served, such a version's
    records are refused to the rulesets' callers until the rule names its fields
    (``api.explore_service``)."""
    row = get_security(session, dataset)
    present = set(names)
    return [f"{'default' if key == DEFAULT_RULESET else f'group:{key}'} hides {', '.join(sorted(missing))}"
            for key, hidden in sorted((row.hidden_fields if row else {}).items())
            if (missing := set(hidden or ()) - present)]


def hidden_from_anyone(session: Session, dataset: Dataset) -> frozenset[str]:
    """Every field some ruleset of the dataset hides (from a group, or by default from anonymous
    and everyone else): a load stores no records sorted on one (``ingest.load.sort_keys``)."""
    row = get_security(session, dataset)
    return frozenset(name for names in (row.hidden_fields if row else {}).values() for name in names or ())


def stored_order_warnings(session: Session, dataset: Dataset, sorted_by: Iterable[str] | None = None) -> list[str]:
    """What to tell whoever saves a column rule (or serves a version built before it: the load's
    own publication, ``operations.served_order_warnings`` for publish and rollback): the fields
    the records of the dataset's current version (or ``sorted_by``, a new version's) are stored
    sorted on that a ruleset now hides. Reads without ``order_by`` come back in that order, so
    its callers see the records ranked by a field they must not see, until the next load builds a
    version sorted without it; the save is not refused (the order says ranks, not values)."""
    if sorted_by is None:
        version = dataset.current
        if version is None:
            return []
        from portail.ingest.load import sort_keys
        from portail.schema import fields_from_json

        recorded = (version.report or {}).get("sorted_by")  # absent: a version built before it was recorded
        sorted_by = recorded if recorded is not None else sort_keys(fields_from_json(version.fields))
    hidden = hidden_from_anyone(session, dataset)
    return [f"the records are stored in the order of {name!r}, which a column rule hides: reads without order_by "
            f"show them in that order until the next load (`portail dataset reload {dataset.slug}`, or a new "
            f"upload where the source cannot be read again)"
            for name in sorted_by if name in hidden]


def _ruleset_key(session: Session, key: str) -> str:
    if key == DEFAULT_RULESET:
        return key
    return get_group(session, key).name


def _check_filter(dataset: Dataset, text: str) -> None:
    """Refuse a record filter that would not compile against the published schema (a syntax
    error, an unknown field) now, rather than fail every read of the group's members; without
    a published schema it is checked when read."""
    from portail.catalog.services import current_fields
    from portail.odsql import ODSQLError, Query, compile_plan

    fields = current_fields(dataset)
    if not fields:
        return
    try:
        compile_plan(Query(where=[text]), fields)
    except ODSQLError as error:
        raise bad_request(f"Record filter {text!r}: {error.detail}") from None


def _check_hidden(dataset: Dataset, names: list[str]) -> None:
    """Refuse hiding a field the published schema does not have (a typo would hide nothing)."""
    from portail.catalog.services import current_fields

    known = {f.name for f in current_fields(dataset)}
    unknown = [n for n in names if known and n not in known]
    if unknown:
        raise bad_request(f"Unknown field {unknown[0]!r} in hidden fields; fields are: {', '.join(sorted(known))}")


def set_dataset_security(session: Session, dataset: Dataset, *, visibility: str | None = None,
                         record_filters: Mapping[str, str | None] | None = None,
                         hidden_fields: Mapping[str, Iterable[str] | None] | None = None,
                         metadata_public: bool | None = None, actor: str | None = None, ip: str | None = None) -> DatasetSecurity:
    """Change a dataset's policy. Rulesets are merged by key (a group name or ``"*"`` for everyone
    else); a ``None`` or empty value removes that key's filter or hidden fields."""
    if visibility is not None and visibility not in VISIBILITIES:
        raise bad_request(f"Unknown visibility {visibility!r}; use {' or '.join(VISIBILITIES)}")
    row = get_security(session, dataset)
    if row is None:
        row = DatasetSecurity(dataset_id=dataset.id, visibility="public", metadata_public=False, record_filters={},
                              hidden_fields={}, modified=now())
        session.add(row)
    filters = dict(row.record_filters or {})
    for key, text in (record_filters or {}).items():
        key, text = _ruleset_key(session, key), (text or "").strip()
        if len(text) > MAX_FILTER_LENGTH:
            raise bad_request(f"A record filter is limited to {MAX_FILTER_LENGTH} characters")
        if text:
            _check_filter(dataset, text)
            filters[key] = text
        else:
            filters.pop(key, None)
    hidden = dict(row.hidden_fields or {})
    for key, names in (hidden_fields or {}).items():
        key = _ruleset_key(session, key)
        clean = sorted({n.strip() for n in (names or ()) if n and n.strip()})
        _check_hidden(dataset, clean)
        if clean:
            hidden[key] = clean
        else:
            hidden.pop(key, None)
    if visibility is not None:
        row.visibility = visibility
    if metadata_public is not None:
        row.metadata_public = metadata_public
    row.record_filters, row.hidden_fields, row.modified = filters, hidden, now()
    session.flush()
    record(session, "security.set", actor=actor, target=f"dataset:{dataset.slug}",
           detail={"visibility": row.visibility, "metadata_public": row.metadata_public, "record_filters": filters,
                   "hidden_fields": hidden}, ip=ip)
    return row


def _principal_id(session: Session, kind: str, name: str) -> int:
    if kind not in PRINCIPAL_KINDS:
        raise bad_request(f"A grant is for a user or a group, not {kind!r}")
    return get_user(session, name).id if kind == "user" else get_group(session, name).id


def grant(session: Session, dataset: Dataset, kind: str, name: str, *, actor: str | None = None,
          ip: str | None = None) -> bool:
    """Let a user or group see (restricted) and, for publishers, edit ``dataset``; False if already granted."""
    principal_id = _principal_id(session, kind, name)
    exists = session.scalar(select(DatasetGrant.id).where(DatasetGrant.dataset_id == dataset.id,
                                                          DatasetGrant.principal_kind == kind,
                                                          DatasetGrant.principal_id == principal_id))
    if exists is not None:
        return False
    session.add(DatasetGrant(dataset_id=dataset.id, principal_kind=kind, principal_id=principal_id, created_at=now()))
    session.flush()
    record(session, "grant.add", actor=actor, target=f"dataset:{dataset.slug}", detail={kind: normalize_login(name)},
           ip=ip)
    return True


def revoke_grant(session: Session, dataset: Dataset, kind: str, name: str, *, actor: str | None = None,
                 ip: str | None = None) -> bool:
    principal_id = _principal_id(session, kind, name)
    result = session.execute(delete(DatasetGrant).where(DatasetGrant.dataset_id == dataset.id,
                                                        DatasetGrant.principal_kind == kind,
                                                        DatasetGrant.principal_id == principal_id))
    if not result.rowcount:
        return False
    record(session, "grant.remove", actor=actor, target=f"dataset:{dataset.slug}",
           detail={kind: normalize_login(name)}, ip=ip)
    return True


def list_grants(session: Session, dataset: Dataset) -> list[tuple[str, str]]:
    """``(kind, login or group name)`` pairs, sorted."""
    return sorted(_grant_names(session, [dataset.id]).get(dataset.id, []))


def _grant_names(session: Session, dataset_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    names: dict[int, list[tuple[str, str]]] = {}
    users = select(DatasetGrant.dataset_id, User.login).join(
        User, (DatasetGrant.principal_kind == "user") & (DatasetGrant.principal_id == User.id))
    groups = select(DatasetGrant.dataset_id, Group.name).join(
        Group, (DatasetGrant.principal_kind == "group") & (DatasetGrant.principal_id == Group.id))
    for kind, query in (("user", users), ("group", groups)):
        for dataset_id, name in session.execute(query.where(DatasetGrant.dataset_id.in_(dataset_ids))):
            names.setdefault(dataset_id, []).append((kind, name))
    return names


def whole_viewers(session: Session, dataset: Dataset) -> list[tuple[str, str]]:
    """``(login, why)`` for each user no ruleset of ``dataset`` binds (``permissions.sees_whole``),
    admins aside: ``owner``, ``grant`` (their own) or ``group:<name>`` (a publisher in a granted
    group). A group grant makes its publishers editors; listing them keeps a record filter set on
    such a group from reading as if it bound every member."""
    ref = dataset_ref(session, dataset)
    logins = set(ref.user_grants) | ({ref.owner.strip().lower()} if ref.owner else set())
    groups = sorted(ref.group_grants)
    candidates = {u.login: u for u in session.scalars(
        select(User).where(User.login.in_(logins)).options(selectinload(User.groups)))}
    if groups:
        for group in session.scalars(select(Group).where(Group.name.in_(groups)).options(selectinload(Group.members))):
            candidates.update((u.login, u) for u in group.members)
    found = []
    for login, user in sorted(candidates.items()):
        principal = principal_for_user(user)
        if not user.is_active or principal.is_admin or not sees_whole(principal, ref):
            continue
        via = [f"group:{g.name}" for g in user.groups if g.name in ref.group_grants]
        found.append((login, "owner" if login == (ref.owner or "").strip().lower()
                      else "grant" if login in ref.user_grants else via[0]))
    return found


def lifted_rulesets(session: Session, user: User) -> list[str]:
    """The datasets where a ruleset would bind ``user`` but does not, since they see them whole
    (``sees_whole``): what a promotion to publisher just lifted, said by ``portail user role``."""
    principal = principal_for_user(user)
    keys = {g.name for g in user.groups} | {DEFAULT_RULESET}
    rows = session.execute(select(Dataset, DatasetSecurity).join(DatasetSecurity, DatasetSecurity.dataset_id == Dataset.id))
    pairs = [(d, row) for d, row in rows if keys & (set(row.record_filters or {}) | set(row.hidden_fields or {}))]
    refs = dataset_refs(session, [d for d, _ in pairs])
    return sorted(d.slug for d, _ in pairs if not principal.is_admin and sees_whole(principal, refs[d.uid]))


def dataset_refs(session: Session, datasets: Iterable[Dataset]) -> dict[str, DatasetRef]:
    """What ``permissions.can`` needs for each dataset, by uid, in three queries (catalogue listings)."""
    datasets = list(datasets)
    ids = [d.id for d in datasets]
    access = {row.dataset_id: row for row in session.execute(
        select(DatasetSecurity.dataset_id, DatasetSecurity.visibility, DatasetSecurity.metadata_public)
        .where(DatasetSecurity.dataset_id.in_(ids)))}
    grants = _grant_names(session, ids)
    refs: dict[str, DatasetRef] = {}
    for d in datasets:
        pairs = grants.get(d.id, [])
        row = access.get(d.id)
        refs[d.uid] = DatasetRef(uid=d.uid, slug=d.slug, owner=d.owner, visibility=row.visibility if row else "public",
                                 metadata_public=bool(row.metadata_public) if row else False,
                                 user_grants=frozenset(n for k, n in pairs if k == "user"),
                                 group_grants=frozenset(n for k, n in pairs if k == "group"))
    return refs


def dataset_ref(session: Session, dataset: Dataset) -> DatasetRef:
    return dataset_refs(session, [dataset])[dataset.uid]
