"""The auth services on SQLite and PostgreSQL: users, groups, grants, rulesets, audit trail."""

from __future__ import annotations

import pytest
from sqlalchemy import func, inspect, select

from portail.auth import can, principal_for_user, security_for, services
from portail.auth.audit import recent
from portail.auth.errors import AuthError
from portail.auth.models import AuditEvent, DatasetGrant, DatasetSecurity, User
from portail.catalog import open_catalog, services as catalog_services, transaction
from portail.catalog.db import alembic_config, make_engine


def test_migration_0002_creates_the_tables_and_goes_down_again(catalog):
    engine = catalog.kw["bind"]
    tables = set(inspect(engine).get_table_names())
    assert {"auth_user", "auth_group", "auth_membership", "auth_api_key", "auth_dataset_grant",
            "auth_dataset_security", "auth_audit_event", "dataset"} <= tables
    from alembic import command

    url = engine.url.render_as_string(hide_password=False)
    command.downgrade(alembic_config(url), "0001")
    engine.dispose()
    assert not {t for t in inspect(make_engine(url)).get_table_names() if t.startswith("auth_")}
    again = open_catalog(url)  # and back up
    assert "auth_api_key" in inspect(again.kw["bind"]).get_table_names()
    again.kw["bind"].dispose()


def test_users_and_groups(catalog):
    with transaction(catalog) as s:
        alice = services.create_user(s, " Alice ", role="publisher", display_name="Alice Martin",
                                     email="alice@example.org")
        services.create_user(s, "bob")
        for typo in ("notanemail", "eve@", "eve@example", "eve @example.org", "eve@@example.org", "eve@example.org\n"):
            with pytest.raises(AuthError, match="Invalid email"):
                services.create_user(s, "eve", email=typo)
        assert not any(services.plausible_email(claim) for claim in (123, ["eve@example.org"], None, {"a": 1}))
        group = services.create_group(s, "Statisticiens", "Le service statistique")
        assert services.add_member(s, group, alice) is True
        assert services.add_member(s, group, alice) is False
    with transaction(catalog) as s:
        users = services.list_users(s)
        assert [(u.login, u.role, [g.name for g in u.groups]) for u in users] == [
            ("alice", "publisher", ["statisticiens"]), ("bob", "viewer", [])]
        assert principal_for_user(users[0]).groups == frozenset({"statisticiens"})
        assert [u.login for u in services.get_group(s, "STATISTICIENS").members] == ["alice"]
        assert services.remove_member(s, services.get_group(s, "statisticiens"), users[0]) is True
    with transaction(catalog) as s:
        assert services.get_user(s, "alice").groups == []


@pytest.mark.parametrize("call, message, status", [
    (lambda s: services.create_user(s, "alice"), "already exists", 409),
    (lambda s: services.create_user(s, "no spaces"), "Invalid login", 400),
    (lambda s: services.create_user(s, "zoe", role="superuser"), "Unknown role", 400),
    (lambda s: services.create_group(s, "bad:name"), "Invalid group name", 400),
    (lambda s: services.get_user(s, "ghost"), "Unknown user: ghost", 404),
    (lambda s: services.get_group(s, "ghosts"), "Unknown group: ghosts", 404),
    (lambda s: services.set_role(s, services.get_user(s, "alice"), "root"), "Unknown role", 400),
])
def test_refusals(sqlite_catalog, call, message, status):
    with transaction(sqlite_catalog) as s:
        services.create_user(s, "alice")
    with transaction(sqlite_catalog) as s, pytest.raises(AuthError, match=message) as error:
        call(s)
    assert error.value.status == status


def test_grants_rulesets_and_their_audit_trail(catalog):
    with transaction(catalog) as s:
        dataset = catalog_services.create_dataset(s, "salaires", "Salaires", owner="olga")
        services.create_user(s, "vic")
        pia = services.create_user(s, "pia", role="publisher")
        stats = services.create_group(s, "stats")
        services.add_member(s, stats, pia)
        ref = services.dataset_ref(s, dataset)
        assert ref.visibility == "public" and ref.owner == "olga" and not ref.user_grants
        services.set_dataset_security(s, dataset, visibility="restricted",
                                      record_filters={"stats": "annee >= 2020", "*": "annee = 2024"},
                                      hidden_fields={"stats": ["nom", " nom", "prenom"]}, actor="root", ip="10.1.2.3")
        assert services.grant(s, dataset, "group", "stats", actor="root") is True
        assert services.grant(s, dataset, "group", "stats", actor="root") is False
        assert services.grant(s, dataset, "user", "vic", actor="root") is True
    with transaction(catalog) as s:
        dataset = catalog_services.get_dataset(s, "salaires")
        ref = services.dataset_ref(s, dataset)
        assert (ref.visibility, ref.user_grants, ref.group_grants) == ("restricted", {"vic"}, {"stats"})
        assert services.list_grants(s, dataset) == [("group", "stats"), ("user", "vic")]
        row = services.get_security(s, dataset)
        assert row.record_filters == {"stats": "annee >= 2020", "*": "annee = 2024"}
        assert row.hidden_fields == {"stats": ["nom", "prenom"]}
        vic = principal_for_user(services.get_user(s, "vic"))
        pia = principal_for_user(services.get_user(s, "pia"))
        assert can(vic, "read_records", ref) and not can(vic, "edit_dataset", ref)
        assert can(pia, "edit_dataset", ref)  # a publisher with a grant edits, and so sees it whole
        assert security_for(pia, ref, row).unrestricted
        assert security_for(vic, ref, row).row_filter_texts == ["annee = 2024"]
        # Merge: a key set to nothing is removed, the others stay.
        services.set_dataset_security(s, dataset, record_filters={"*": ""}, hidden_fields={"*": ["salaire"]})
        assert services.revoke_grant(s, dataset, "user", "vic", actor="root") is True
        assert services.revoke_grant(s, dataset, "user", "vic", actor="root") is False
    with transaction(catalog) as s:
        dataset = catalog_services.get_dataset(s, "salaires")
        row = services.get_security(s, dataset)
        assert (row.visibility, row.record_filters) == ("restricted", {"stats": "annee >= 2020"})
        assert row.hidden_fields == {"stats": ["nom", "prenom"], "*": ["salaire"]}
        assert not can(principal_for_user(services.get_user(s, "vic")), "read_records", services.dataset_ref(s, dataset))
        trail = [(e.action, e.actor, e.target) for e in reversed(recent(s)) if e.action.startswith(("grant", "security"))]
        assert trail == [("security.set", "root", "dataset:salaires"), ("grant.add", "root", "dataset:salaires"),
                         ("grant.add", "root", "dataset:salaires"), ("security.set", None, "dataset:salaires"),
                         ("grant.remove", "root", "dataset:salaires")]
        first = recent(s, action="security.set")[-1]
        assert first.ip == "10.1.2.3" and first.detail["visibility"] == "restricted"
        assert [e.detail for e in recent(s, action="grant.add")] == [{"user": "vic"}, {"group": "stats"}]


@pytest.mark.parametrize("bad, message", [
    ({"visibility": "secret"}, "Unknown visibility"),
    ({"record_filters": {"nogroup": "a = 1"}}, "Unknown group: nogroup"),
    ({"hidden_fields": {"nogroup": ["a"]}}, "Unknown group"),
    ({"record_filters": {"*": "x" * 2001}}, "limited to 2000"),
])
def test_security_refusals(sqlite_catalog, bad, message):
    with transaction(sqlite_catalog) as s:
        dataset = catalog_services.create_dataset(s, "d", "D")
        with pytest.raises(AuthError, match=message):
            services.set_dataset_security(s, dataset, **bad)
        with pytest.raises(AuthError, match="user or a group"):
            services.grant(s, dataset, "robot", "r2d2")


def test_deleting_a_dataset_user_or_group_removes_their_grants(catalog):
    with transaction(catalog) as s:
        one = catalog_services.create_dataset(s, "one", "One")
        two = catalog_services.create_dataset(s, "two", "Two")
        services.create_user(s, "vic")
        services.create_group(s, "stats")
        for d in (one, two):
            services.set_dataset_security(s, d, visibility="restricted")
            services.grant(s, d, "user", "vic")
            services.grant(s, d, "group", "stats")
    with transaction(catalog) as s:
        catalog_services.delete_dataset(s, catalog_services.get_dataset(s, "one"))
    with transaction(catalog) as s:
        # ON DELETE CASCADE from the dataset table.
        assert s.scalar(select(func.count()).select_from(DatasetGrant)) == 2
        assert s.scalar(select(func.count()).select_from(DatasetSecurity)) == 1
        services.delete_user(s, services.get_user(s, "vic"))
        services.delete_group(s, services.get_group(s, "stats"))
    with transaction(catalog) as s:
        assert s.scalar(select(func.count()).select_from(DatasetGrant)) == 0
        # A new account never inherits a deleted one's id (and so nothing keyed by it).
        new = services.create_user(s, "newcomer")
        assert new.id > 1


def test_dataset_refs_in_bulk(sqlite_catalog):
    with transaction(sqlite_catalog) as s:
        datasets = [catalog_services.create_dataset(s, f"d{i}", f"D{i}") for i in range(3)]
        services.create_user(s, "vic")
        services.set_dataset_security(s, datasets[1], visibility="restricted")
        services.grant(s, datasets[1], "user", "vic")
        refs = services.dataset_refs(s, datasets)
    assert [(refs[d.uid].slug, refs[d.uid].visibility, refs[d.uid].user_grants) for d in datasets] == [
        ("d0", "public", frozenset()), ("d1", "restricted", {"vic"}), ("d2", "public", frozenset())]


def test_security_relevant_changes_are_audited_without_secrets(catalog):
    with transaction(catalog) as s:
        user = services.create_user(s, "alice", password="Secret password 1", actor="root", ip="192.0.2.1")
        services.set_password(s, user, "Other password 22", actor="root")
        services.set_role(s, user, "admin", actor="root")
        key, secret = services.create_api_key(s, user, "ci", scopes=["manage"], actor="alice")
        token = services.issue_reset_token(s, user)
        services.set_active(s, user, False, actor="root")
        services.authenticate(s, "alice", "Other password 22", ip="192.0.2.7")
    with transaction(catalog) as s:
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        assert [(e.action, e.actor, e.target) for e in events] == [
            ("user.create", "root", "user:alice"), ("user.password", "root", "user:alice"),
            ("user.role", "root", "user:alice"), ("apikey.create", "alice", f"apikey:{key.id}"),
            ("user.reset_token", None, "user:alice"), ("user.disable", "root", "user:alice"),
            ("login.failure", None, "user:alice")]
        assert events[0].ip == "192.0.2.1" and events[-1].ip == "192.0.2.7"
        assert events[3].detail == {"login": "alice", "prefix": key.prefix, "scopes": ["manage", "read"],
                                    "datasets": None, "expires_at": None}
        dump = repr([(e.detail, e.target) for e in events])
        assert secret not in dump and token not in dump and "password 22" not in dump
        assert s.scalar(select(User.password_hash).where(User.login == "alice")).startswith("$argon2id$")


def test_whole_viewers_name_who_no_ruleset_binds(catalog):
    """A group grant makes the group's publishers editors, who see the dataset whole: the admin
    setting a record filter on that group is told who it does not bind."""
    with transaction(catalog) as s:
        dataset = catalog_services.create_dataset(s, "salaires", "Salaires", owner="olga")
        for login, role in (("olga", "viewer"), ("pia", "publisher"), ("vic", "viewer"), ("ada", "admin"),
                            ("paul", "publisher"), ("zoe", "publisher")):
            services.create_user(s, login, role=role)
        stats = services.create_group(s, "stats")
        for login in ("pia", "vic", "ada"):
            services.add_member(s, stats, services.get_user(s, login))
        services.set_dataset_security(s, dataset, visibility="restricted", record_filters={"stats": "annee >= 2020"})
        services.grant(s, dataset, "group", "stats")
        services.grant(s, dataset, "user", "paul")
        services.grant(s, dataset, "user", "zoe")
        services.set_active(s, services.get_user(s, "zoe"), False)
    with transaction(catalog) as s:
        dataset = catalog_services.get_dataset(s, "salaires")
        # vic is a viewer (bound), ada an admin (sees everything, not listed), zoe is disabled.
        assert services.whole_viewers(s, dataset) == [("olga", "owner"), ("paul", "grant"), ("pia", "group:stats")]
        assert services.lifted_rulesets(s, services.get_user(s, "vic")) == []
        assert services.lifted_rulesets(s, services.get_user(s, "pia")) == ["salaires"]
        services.set_role(s, services.get_user(s, "vic"), "publisher")
        assert services.lifted_rulesets(s, services.get_user(s, "vic")) == ["salaires"]
        assert ("vic", "group:stats") in services.whole_viewers(s, dataset)
        # paul holds his own grant but no ruleset names him or sets a default: nothing lifted.
        assert services.lifted_rulesets(s, services.get_user(s, "paul")) == []
