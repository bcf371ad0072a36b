"""The ``portail user|group|apikey|dataset-security`` commands, on ``auth.services``.

The command line is the operator of the instance (like the management token): it may do
everything, and its audit events have no actor. Errors print one red line and exit 1. A new
API key is printed once, alone on standard output (``KEY=$(portail apikey create bob)``);
everything else about it goes to standard error.

``portail.cli`` registers ``user_app``, ``group_app``, ``apikey_app``, ``quota_app`` and the
``dataset_security`` and ``audit_list`` commands; ``app`` bundles the same for tests and standalone use.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import Optional

import typer
from rich.table import Column, Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from portail.auth import keys as keyring
from portail.auth import oauth2, services
from portail.auth.errors import bad_request
from portail.auth.models import ROLES, VISIBILITIES
from portail.auth.ratelimit import MAX_CALLS
from portail.auth.permissions import DEFAULT_RULESET
from portail.catalog import services as catalog
from portail.catalog.services import CatalogError
from portail.config import Settings, load_settings
from portail.ingest.errors import StorageFull, read_only, storage_full, written_path
from portail.operations import open_instance
from portail.terminal import fail, plain, stderr_console, stdout_console

console = stderr_console()
out = stdout_console()

user_app = typer.Typer(help="Portal users: accounts, roles, passwords.", no_args_is_help=True)
group_app = typer.Typer(help="Groups of users (grants and rulesets name them).", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
oauth_app = typer.Typer(help="OAuth2 client applications acting for users: register (secret shown once), "
                             "list, revoke.", no_args_is_help=True)


def _catalogue_name() -> str:
    """The catalogue as an operator finds it: SQLite's file, or the URL without its password."""
    try:
        url = make_url(load_settings().sqlalchemy_url)
    except Exception:  # noqa: BLE001 - a bad setting is said by open_instance, not here
        return "the catalogue"
    if url.get_backend_name() == "sqlite":
        return f"the catalogue {url.database}"
    return f"the catalogue {url.render_as_string(hide_password=True)}"


def server_fault(error: BaseException) -> str | None:
    """The server's own fault as one line for a command (``portail`` and these), or ``None``: a
    full disk (a load's, naming the file it wrote), a catalogue that cannot be written, said as
    such rather than as a traceback or a refusal of what the operator typed."""
    if isinstance(error, StorageFull):
        return f"{error.describe()}; the published version is unchanged"
    if isinstance(error, OperationalError):
        return _catalogue_fault(error)
    if isinstance(error, OSError) and (full := storage_full(error)) is not None:
        return StorageFull(written_path(full)).describe()
    return None


def _catalogue_fault(error: OperationalError) -> str:
    """The catalogue's driver refusing: a full disk or a read-only store named so, anything else
    in the driver's own words (its first line: never the SQL, nor a traceback)."""
    full = storage_full(error)
    if full or read_only(error):
        cause = "the disk is full" if full else "it is read-only"
        return f"{_catalogue_name()} cannot be written: {cause}; nothing was changed"
    said = str(error.orig).strip().splitlines()
    return f"{_catalogue_name()}: {said[0] if said else type(error.orig).__name__}"


@contextmanager
def _session() -> Iterator[Session]:
    """One transaction on the instance of ``PORTAIL_HOME``; any refusal is one red line and exit 1."""
    instance = None
    try:
        instance = open_instance()
        with instance.session() as session:
            yield session
    except CatalogError as error:  # AuthError included
        fail(error.message)
    except OperationalError as error:  # the catalogue's commit on a full disk, or a read-only one
        fail(server_fault(error))
    finally:
        if instance is not None:
            instance.store.close()


def _read_password(from_stdin: bool, prompt: bool) -> str | None:
    """The password from standard input (its first line, which must be UTF-8) or a prompt; call
    it inside ``_session`` so a refusal is one line. Standard input that is a terminal (an
    operator typing README's ``--password-stdin``) gets the prompt: hidden, asked twice, where
    a bare read waited without a word and showed the password as typed."""
    if from_stdin and sys.stdin.isatty():
        from_stdin, prompt = False, True
    if from_stdin:
        line = sys.stdin.buffer.readline()
        try:
            return line.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise bad_request("The password on standard input is not UTF-8 text") from None
    if prompt:
        return typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    return None


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else "-"


# -- users ----------------------------------------------------------------------------------
@user_app.command("create")
def user_create(
    login: str,
    role: str = typer.Option("viewer", "--role", help=f"One of {', '.join(ROLES)}."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input "
                                        "(without it the user has no password: API keys only)."),
    display_name: Optional[str] = typer.Option(None, "--display-name"),
    email: Optional[str] = typer.Option(None, "--email"),
):
    """Create a user.

    Example: portail user create alice --role publisher --display-name "Alice Martin" --password-stdin < password.txt"""
    with _session() as session:
        password = _read_password(password_stdin, prompt=False)
        user = services.create_user(session, login, role=role, display_name=display_name, email=email,
                                    password=password)
        said = f"user {user.login} created (role {user.role}{'' if password is not None else ', no password'})"
    out.print(said, highlight=False, markup=False)  # once committed: a failed commit created no one


@user_app.command("list")
def user_list(as_json: bool = typer.Option(False, "--json")):
    """All users, with their role and groups."""
    with _session() as session:
        rows = [{"login": u.login, "display_name": u.display_name, "email": u.email, "role": u.role,
                 "active": u.is_active, "groups": [g.name for g in u.groups], "has_password": u.password_hash is not None,
                 "last_login": u.last_login.isoformat() if u.last_login else None,
                 "sso_identities": [{"issuer": i.issuer, "subject": i.subject} for i in u.identities]}
                for u in services.list_users(session)]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("login", "name", "role", "active", "groups", "last login")
    for r in rows:
        table.add_row(*plain(r["login"], r["display_name"] or "", r["role"], "yes" if r["active"] else "no",
                             ", ".join(r["groups"]), r["last_login"] or "-"))
    out.print(table)


@user_app.command("password")
def user_password(login: str, password_stdin: bool = typer.Option(False, "--password-stdin",
                                                                   help="Read it from standard input.")):
    """Set a user's password (and lift a lockout)."""
    with _session() as session:
        password = _read_password(password_stdin, prompt=True) or ""
        services.set_password(session, services.get_user(session, login), password)
    out.print(f"user {services.normalize_login(login)}: password set", highlight=False, markup=False)


@user_app.command("role")
def user_role(login: str, role: str = typer.Argument(..., help=f"One of {', '.join(ROLES)}.")):
    """Change a user's role."""
    with _session() as session:
        user = services.get_user(session, login)
        before = services.lifted_rulesets(session, user)
        user = services.set_role(session, user, role)
        said = [f"user {user.login}: role {user.role}"]
        lifted = [slug for slug in services.lifted_rulesets(session, user) if slug not in before]
        if lifted:
            said.append(f"  {user.login} now sees whole, as an editor, datasets whose rulesets bound them: "
                        f"{', '.join(lifted)}")
    for line in said:
        out.print(line, highlight=False, markup=False, soft_wrap=True)


#: ``--yes`` of the commands that delete.
YES = typer.Option(False, "--yes", help="Do not ask for confirmation.")


def _deleted(kind: str, name: str, yes: bool, find, remove) -> None:
    """Find it (``find(session)``: an unknown name is said before a confirmation is asked, not
    after a "y"), ask (unless ``yes``), then ``remove(session, found)`` in one transaction, found
    again there, then say it."""
    with _session() as session:
        find(session)
    if not yes and not typer.confirm(f"Delete {kind} {name}?", err=True):
        raise typer.Exit(1)
    with _session() as session:
        remove(session, find(session))
    out.print(f"{kind} {name}: deleted", highlight=False, markup=False)


@user_app.command("delete")
def user_delete(login: str, yes: bool = YES):
    """Delete a user, their keys, sessions and grants (the audit trail keeps their login)."""
    owned: list[str] = []
    _deleted("user", services.normalize_login(login), yes, lambda session: services.get_user(session, login),
             lambda session, user: owned.extend(services.delete_user(session, user)))
    if owned:
        out.print(f"  datasets they owned, without an owner now (`portail dataset meta <slug> --owner <login>`): "
                  f"{', '.join(owned)}", highlight=False, markup=False, soft_wrap=True)


@user_app.command("disable")
def user_disable(login: str):
    """Disable a user: no sign-in, and every key of theirs stops working."""
    with _session() as session:
        services.set_active(session, services.get_user(session, login), False)
    out.print(f"user {services.normalize_login(login)}: disabled", highlight=False, markup=False)


@user_app.command("enable")
def user_enable(login: str):
    """Enable a disabled user again."""
    with _session() as session:
        services.set_active(session, services.get_user(session, login), True)
    out.print(f"user {services.normalize_login(login)}: enabled", highlight=False, markup=False)


#: ``--issuer`` of the commands on single sign-on identities.
ISSUER = typer.Option(None, "--issuer", help="The identity provider's issuer (the ID token's iss); default: "
                      "PORTAIL_OIDC_ISSUER.")


def _identities_said(user) -> str:
    listed = ", ".join(f"{i.subject} at {i.issuer}" for i in user.identities) or "none"
    return f"user {user.login}: single sign-on identities: {listed}"


@user_app.command("sso-link")
def user_sso_link(login: str, subject: str = typer.Argument(..., help="The provider's subject (the ID token's "
                                                              "sub; a refused sign-in's audit event names it)."),
                  issuer: Optional[str] = ISSUER):
    """Bind a single sign-on identity to a user: its sign-ins are theirs (a local account, one
    an administrator made, or an identity of a new provider)."""
    _change_identity(services.link_identity, login, subject, issuer)


@user_app.command("sso-unlink")
def user_sso_unlink(login: str, subject: str = typer.Argument(..., help="The provider's subject (sub)."),
                    issuer: Optional[str] = ISSUER):
    """Unbind a single sign-on identity from a user: its next sign-in no longer reaches them, its
    sessions and OAuth2 tokens end. Their API keys stay (the account's): said, with their ids."""
    _change_identity(services.unlink_identity, login, subject, issuer)


def _change_identity(change, login: str, subject: str, issuer: Optional[str]) -> None:
    """Bind or unbind (``change``) an identity of ``login``, then list the identities it holds
    (and, after an unbinding, the API keys that still work: ``_keys_left_said``)."""
    with _session() as session:
        user = services.get_user(session, login)
        outcome = change(session, user, services.identity_issuer(issuer, Settings().oidc_issuer, "--issuer"),
                         subject)  # Settings checked by _session
        said = [_identities_said(user)]
        if isinstance(outcome, services.Unlinked):
            said += _keys_left_said(user.login, outcome)
    for line in said:  # once committed
        out.print(line, highlight=False, markup=False, soft_wrap=True)


def _keys_left_said(login: str, unlinked: services.Unlinked) -> list[str]:
    """The keys an unbinding left working (``services.unlink_identity`` says why they stay), and
    the way to stop them when nobody can sign into the account any more."""
    if not unlinked.active_keys:
        return []
    said = [f"  {len(unlinked.active_keys)} API key(s) of {login} still work: {', '.join(unlinked.active_keys)} "
            "(`portail apikey revoke <id>`)"]
    if unlinked.stranded_keys:
        said.append(f"  {login} has no password nor identity left to sign in with: only these keys reach the "
                    f"account (`portail user disable {login}` stops them all)")
    return said


# -- groups ---------------------------------------------------------------------------------
@group_app.command("create")
def group_create(name: str, description: Optional[str] = typer.Option(None, "--description")):
    """Create a group."""
    with _session() as session:
        said = f"group {services.create_group(session, name, description).name} created"
    out.print(said, highlight=False, markup=False)


@group_app.command("delete")
def group_delete(name: str, yes: bool = YES):
    """Delete a group and its grants (its record filters, kept by name, stay until edited)."""
    _deleted("group", name, yes, lambda session: services.get_group(session, name), services.delete_group)


@group_app.command("add")
def group_add(group: str, login: str):
    """Put a user in a group."""
    with _session() as session:
        g, u = services.get_group(session, group), services.get_user(session, login)
        added = services.add_member(session, g, u)
        said = f"group {g.name}: {u.login} {'added' if added else 'was already a member'}"
    out.print(said, highlight=False, markup=False)


@group_app.command("remove")
def group_remove(group: str, login: str):
    """Take a user out of a group."""
    with _session() as session:
        g, u = services.get_group(session, group), services.get_user(session, login)
        removed = services.remove_member(session, g, u)
        said = f"group {g.name}: {u.login} {'removed' if removed else 'was not a member'}"
    out.print(said, highlight=False, markup=False)


@group_app.command("list")
def group_list(as_json: bool = typer.Option(False, "--json")):
    """All groups and their members."""
    with _session() as session:
        rows = [{"name": g.name, "description": g.description, "members": [u.login for u in g.members]}
                for g in services.list_groups(session)]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("group", "description", "members")
    for r in rows:
        table.add_row(*plain(r["name"], r["description"] or "", ", ".join(r["members"])))
    out.print(table)


# -- API keys -------------------------------------------------------------------------------
def parse_expiry(text: str) -> datetime:
    """``YYYY-MM-DD``: the key works through that day (UTC) and expires at the next midnight."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise bad_request(f"--expires must be a date YYYY-MM-DD, not {text!r}") from None
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


@apikey_app.command("create")
def apikey_create(
    login: str,
    scope: list[str] = typer.Option(["read"], "--scope", help="read or manage (repeatable; manage includes read)."),
    dataset: Optional[list[str]] = typer.Option(None, "--dataset", help="Limit the key to this dataset (repeatable)."),
    expires: Optional[str] = typer.Option(None, "--expires", help="Last day of validity, YYYY-MM-DD (UTC)."),
    name: str = typer.Option("default", "--name", help="What the key is for."),
):
    """Create an API key and print it, once: it cannot be shown again.

    Example: KEY=$(portail apikey create alice --scope manage --dataset retraites --expires 2026-12-31 --name import)"""
    with _session() as session:
        user = services.get_user(session, login)
        uids = [catalog.get_dataset(session, ref).uid for ref in dataset] if dataset else None
        key, secret = services.create_api_key(session, user, name, scopes=scope, datasets=uids,
                                              expires_at=parse_expiry(expires) if expires else None)
        said = (f"API key {key.id} for {user.login} (scopes {', '.join(key.scopes)}"
                f"{'; datasets ' + ', '.join(dataset) if dataset else ''}"
                f"{'; expires ' + _iso(key.expires_at) + ' UTC' if key.expires_at else ''}). "
                "Copy it now: it is not stored and will not be shown again.")
    console.print(said, highlight=False, markup=False, soft_wrap=True)  # once committed: the key works
    typer.echo(secret)


@apikey_app.command("list")
def apikey_list(login: Optional[str] = typer.Option(None, "--user", help="Only this user's keys."),
                as_json: bool = typer.Option(False, "--json")):
    """All API keys (never the keys themselves: their id and first characters)."""
    with _session() as session:
        user = services.get_user(session, login) if login else None
        rows = [keyring.status_of(k) for k in keyring.list_keys(session, user)]
    if as_json:
        out.print_json(json.dumps([r.to_dict() for r in rows]))
        return
    table = Table(Column("id", no_wrap=True), "user", "name", Column("key", no_wrap=True), "scopes", "datasets",
                  "expires", "last used", "state")
    for r in rows:
        table.add_row(*plain(r.id, r.login, r.name, r.prefix + "…", ",".join(r.scopes),
                             ",".join(r.datasets) if r.datasets is not None else "all", _iso(r.expires_at),
                             _iso(r.last_used_at), r.state))
    out.print(table)


@apikey_app.command("revoke")
def apikey_revoke(key_id: str):
    """Revoke an API key by its id (ak_…); it stops working at once."""
    with _session() as session:
        key = services.revoke_api_key(session, key_id)
        said = f"API key {key.id} of {key.user.login} revoked"
    out.print(said, highlight=False, markup=False)


# -- OAuth2 clients -------------------------------------------------------------------------
@oauth_app.command("create")
def oauth_create(
    name: str = typer.Argument(..., help="The application's name, shown to users on the consent page."),
    redirect_uri: list[str] = typer.Option(..., "--redirect-uri", help="Where codes are sent back: https, http "
                                           "on localhost, or an app scheme (repeatable; matched exactly)."),
    public: bool = typer.Option(False, "--public", help="A browser or mobile app that cannot keep a secret: "
                                "no secret, PKCE (S256) required."),
):
    """Register an application and print its client_id and, once, its secret."""
    with _session() as session:
        client, secret = oauth2.register_client(session, name, redirect_uri, public=public)
        said = (f"OAuth2 client {client.name!r} registered ({'public, PKCE required' if public else 'confidential'}"
                f"; redirect URIs {', '.join(client.redirect_uris)})."
                + ("" if public else " Copy the secret now: it is not stored and will not be shown again."))
        client_id = client.id
    console.print(said, highlight=False, markup=False, soft_wrap=True)  # once committed: the client exists
    typer.echo(f"client_id={client_id}")
    if secret:
        typer.echo(f"client_secret={secret}")


@oauth_app.command("list")
def oauth_list(as_json: bool = typer.Option(False, "--json")):
    """Registered applications (never their secrets)."""
    with _session() as session:
        rows = [oauth2.status_of(c) for c in oauth2.list_clients(session)]
    if as_json:
        out.print_json(json.dumps([r.to_dict() for r in rows]))
        return
    table = Table(Column("client_id", no_wrap=True), "name", "kind", "redirect URIs", "created", "state")
    for r in rows:
        table.add_row(*plain(r.id, r.name, "public" if r.public else "confidential", " ".join(r.redirect_uris),
                             _iso(r.created_at), "revoked" if r.revoked_at else "active"))
    out.print(table)


@oauth_app.command("revoke")
def oauth_revoke(client_id: str):
    """Revoke an application: it and every token it holds stop working at once."""
    with _session() as session:
        client = oauth2.get_client(session, client_id)
        count = oauth2.revoke_client(session, client)
        said = f"OAuth2 client {client.id} ({client.name}) revoked, with {count} token(s)"
    out.print(said, highlight=False, markup=False)


# -- dataset security -----------------------------------------------------------------------
def parse_principal(text: str) -> tuple[str, str]:
    """``group:<name>`` or ``user:<login>`` → ``(kind, name)``."""
    kind, sep, name = text.partition(":")
    if not sep or kind.strip() not in ("user", "group") or not name.strip():
        raise bad_request(f"Expected group:<name> or user:<login>, not {text!r}")
    return kind.strip(), name.strip()


def parse_rule(text: str) -> tuple[str, str]:
    """``group:<name>=<value>`` or ``default=<value>`` → ``(ruleset key, value)``; the value may be empty."""
    target, sep, value = text.partition("=")
    if not sep:
        raise bad_request(f"Expected group:<name>=<value> or default=<value>, not {text!r}")
    target = target.strip()
    if target in ("default", DEFAULT_RULESET):
        return DEFAULT_RULESET, value.strip()
    kind, name = parse_principal(target)
    if kind != "group":
        raise bad_request(f"Record filters and hidden fields are set per group (or default), not {target!r}")
    return name, value.strip()


def dataset_security(
    slug: str,
    visibility: Optional[str] = typer.Option(None, "--visibility", help=" or ".join(VISIBILITIES)),
    grant: Optional[list[str]] = typer.Option(None, "--grant", help="group:<name> or user:<login> (repeatable)."),
    revoke: Optional[list[str]] = typer.Option(None, "--revoke", help="Remove a grant: group:<name> or user:<login>."),
    record_filter: Optional[list[str]] = typer.Option(
        None, "--record-filter", help="group:<name>=<ODSQL where> (or default=…; empty value removes it)."),
    hide_fields: Optional[list[str]] = typer.Option(
        None, "--hide-fields", help="group:<name>=<f1,f2> (or default=…; empty value removes it)."),
    metadata_public: Optional[bool] = typer.Option(
        None, "--metadata-public/--metadata-restricted",
        help="A restricted dataset's metadata listed to everyone (its records stay restricted)."),
):
    """Show or change who sees a dataset: visibility, grants, per-group record filters and hidden fields."""
    with _session() as session:
        dataset = catalog.get_dataset(session, slug)
        filters = dict(parse_rule(r) for r in record_filter or [])
        hidden = {key: [f for f in value.split(",") if f.strip()] for key, value in map(parse_rule, hide_fields or [])}
        grants, revokes = [parse_principal(g) for g in grant or []], [parse_principal(r) for r in revoke or []]
        if visibility is not None or filters or hidden or metadata_public is not None:
            services.set_dataset_security(session, dataset, visibility=visibility, record_filters=filters,
                                          hidden_fields=hidden, metadata_public=metadata_public)
        for kind, name in grants:
            services.grant(session, dataset, kind, name)
        for kind, name in revokes:
            services.revoke_grant(session, dataset, kind, name)
        row = services.get_security(session, dataset)
        listed = services.list_grants(session, dataset)
        metadata = "; metadata public" if row is not None and row.visibility == "restricted" and row.metadata_public else ""
        said = [f"{dataset.slug}: {row.visibility if row else 'public'}{metadata}; grants: "
                f"{', '.join(f'{k}:{n}' for k, n in listed) or 'none'}"]
        dormant = _dormant_rulesets(row, {n for k, n in listed if k == "group"})
        said += [f"  record filter {_ruleset_label(key)}: {text}{dormant.get(key, '')}"
                 for key, text in sorted((row.record_filters if row else {}).items())]
        said += [f"  hidden fields {_ruleset_label(key)}: {', '.join(names)}{dormant.get(key, '')}"
                 for key, names in sorted((row.hidden_fields if row else {}).items())]
        whole = services.whole_viewers(session, dataset)
        if whole and row is not None and (row.record_filters or row.hidden_fields):
            said.append("  sees it whole, no ruleset binds them (owner or editor; admins too): "
                        + ", ".join(f"{login} ({why})" for login, why in whole))
        # shown on every call, not only the save's: the rule's effect on the order lasts until the next load
        said += [f"warning: {warning}" for warning in services.stored_order_warnings(session, dataset)]
    for line in said:  # once committed: what is said is what holds
        out.print(line, highlight=False, markup=False, soft_wrap=True)


def _ruleset_label(key: str) -> str:
    return "default" if key == DEFAULT_RULESET else f"group:{key}"


def _dormant_rulesets(row, granted_groups: set[str]) -> dict[str, str]:
    """The note said beside a restricted dataset's group ruleset whose group holds no grant (a
    grant revoked, its rules left): it binds only members in no granted group, who read
    through a grant of their own (``permissions._matching_rulesets``)."""
    if row is None or row.visibility != "restricted":
        return {}
    keys = set(row.record_filters or {}) | set(row.hidden_fields or {})
    return {key: " (group not granted: binds only members in no granted group)"
            for key in keys - granted_groups - {DEFAULT_RULESET}}


# -- sign-in, quotas, audit (sessions, ratelimit, audit modules) ---------------------------------
@user_app.command("reset-token")
def user_reset_token(login: str):
    """Issue a single-use password reset token; printed once on stdout, the reset link on stderr."""
    with _session() as session:
        settings = Settings()  # checked by _session
        user = services.get_user(session, login)
        token = services.issue_reset_token(session, user, ttl=timedelta(minutes=settings.auth_reset_token_minutes))
    console.print(f"Reset link for {user.login} (valid {settings.auth_reset_token_minutes} min): "
                  f"{settings.base_url.rstrip('/')}/reset-password?token={token}", highlight=False, markup=False,
                  soft_wrap=True)
    typer.echo(token)


@user_app.command("logout-everywhere")
def user_logout_everywhere(login: str):
    """End every sign-in session of a user."""
    from portail.auth import sessions

    with _session() as session:
        count = sessions.close_all_sessions(session, services.get_user(session, login))
    out.print(f"user {services.normalize_login(login)}: {count} session(s) closed", highlight=False, markup=False)


quota_app = typer.Typer(help="API call quotas per window: user > max of groups > default; keys their own.",
                        no_args_is_help=True)


def _calls(text: str) -> int | None:
    """A quota as typed: ``none``, or a whole number (one out of range reaches ``set_quota``, which says why not)."""
    text = text.strip()
    if text.lower() == "none":
        return None
    try:
        value = int(text)
    except ValueError:
        raise bad_request(f"A quota is a number of calls, 0 (no limit) or none, not {text!r}") from None
    return value  # set_quota says why a number is not one (below 0, or past ratelimit.MAX_CALLS)


# "-5" is an argument (refused by set_quota with its reason), not an unknown option.
@quota_app.command("set", context_settings={"ignore_unknown_options": True})
def quota_set(kind: str = typer.Argument(..., help="user, group or apikey"), name: str = typer.Argument(...),
              calls: str = typer.Argument(..., help="Calls per window (0: no limit; 'none': remove the override).")):
    """Give a user, group or API key its own quota."""
    from portail.auth import ratelimit

    with _session() as session:
        value = _calls(calls)
        ratelimit.set_quota(session, kind, name, value)
    out.print(f"{kind}:{name}: {'default quota' if value is None else f'{value} calls per window'}",
              highlight=False, markup=False)


@quota_app.command("list")
def quota_list():
    """Quota overrides and the defaults."""
    from portail.auth import ratelimit

    with _session() as session:
        settings = Settings()  # checked by _session
        rows = ratelimit.list_quotas(session)
    out.print(f"window {settings.ratelimit_window}; anonymous {settings.ratelimit_anonymous}; "
              f"default {settings.ratelimit_default}", highlight=False, markup=False)
    for row in rows:
        out.print(f"{row.principal_kind}:{row.principal_name}: {row.calls}", highlight=False, markup=False)


def audit_list(action: Optional[str] = typer.Option(None, "--action", help="An action (login.failure), or a family ending in '.' or '*' (login.)."),
               actor: Optional[str] = typer.Option(None, "--actor"),
               since: Optional[str] = typer.Option(None, "--since", help="YYYY-MM-DD (UTC), inclusive."),
               until: Optional[str] = typer.Option(None, "--until", help="YYYY-MM-DD (UTC), exclusive."),
               limit: int = typer.Option(50, "--limit", min=1, max=MAX_CALLS),  # the catalogue's 32-bit integers
               as_json: bool = typer.Option(False, "--json")):
    """Audit events, newest first."""
    from portail.auth.audit import query

    def day(text: str | None) -> datetime | None:
        try:
            return datetime.combine(date.fromisoformat(text), time(), UTC) if text else None
        except ValueError:
            fail(f"not a date: {text} (YYYY-MM-DD)")

    with _session() as session:
        if since and until and day(since) >= day(until):
            raise bad_request(f"--since {since} is not before --until {until} (--until is exclusive)")
        total, events = query(session, action=action, actor=actor, since=day(since), until=day(until), limit=limit)
        rows = [{"at": e.at.isoformat(), "actor": e.actor, "action": e.action, "target": e.target,
                 "detail": e.detail, "ip": e.ip} for e in events]
    if as_json:
        typer.echo(json.dumps({"total_count": total, "results": rows}, ensure_ascii=False))
        return
    for r in rows:
        out.print(f"{r['at']}  {r['action']:<20} {r['actor'] or '-':<15} {r['target'] or ''} "
                  f"{json.dumps(r['detail'], ensure_ascii=False) if r['detail'] else ''}", highlight=False,
                  markup=False, soft_wrap=True)


#: The same commands as ``portail`` will have them, for tests and ``python -m``-style use.
app = typer.Typer(help="Users, groups, API keys and dataset security.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(group_app, name="group")
app.add_typer(apikey_app, name="apikey")
app.command("dataset-security")(dataset_security)
app.add_typer(quota_app, name="quota")
app.command("audit")(audit_list)
