"""``portail user|group|apikey|dataset-security``, driven as an administrator would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from portail.auth import AuthError, principal_from_request
from portail.auth.cli import app
from portail.auth.models import AuditEvent
from portail.catalog import services as catalog_services
from portail.config import Settings
from portail.operations import open_instance


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def cli(home):
    runner = CliRunner()
    env = {"PORTAIL_HOME": str(home), "COLUMNS": "200"}

    def run(*args: str, ok: bool = True, input: str | None = None):
        result = runner.invoke(app, list(args), env=env, input=input)
        if ok:
            assert result.exit_code == 0, result.output
        else:
            assert result.exit_code == 1, result.output
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
        return result

    return run


@pytest.fixture
def instance(home):
    inst = open_instance(Settings(home=home))
    yield inst
    inst.store.close()


def test_users_and_groups(cli, instance):
    created = cli("user", "create", "Alice", "--role", "publisher", "--password-stdin", "--display-name", "Alice M.",
                  input="Tour-Eiffel 1889\n")
    assert created.stdout.strip() == "user alice created (role publisher)"
    assert "no password" in cli("user", "create", "bob").stdout
    cli("group", "create", "stats", "--description", "Service statistique")
    assert "alice added" in cli("group", "add", "stats", "alice").stdout
    assert "already a member" in cli("group", "add", "stats", "ALICE").stdout
    users = json.loads(cli("user", "list", "--json").stdout)
    assert [(u["login"], u["role"], u["groups"], u["has_password"]) for u in users] == [
        ("alice", "publisher", ["stats"], True), ("bob", "viewer", [], False)]
    assert json.loads(cli("group", "list", "--json").stdout) == [
        {"name": "stats", "description": "Service statistique", "members": ["alice"]}]
    assert "alice" in cli("user", "list").stdout and "Alice M." in cli("user", "list").stdout
    cli("user", "role", "bob", "data_owner")
    cli("user", "password", "bob", "--password-stdin", input="Another good one 7\n")
    with instance.session() as s:
        from portail.auth import services

        assert services.authenticate(s, "bob", "Another good one 7").ok
        assert services.get_user(s, "bob").role == "data_owner"


@pytest.mark.parametrize("args, input, message", [
    (("user", "create", "alice", "--role", "root"), None, "Unknown role 'root'"),
    (("user", "create", "carol", "--password-stdin"), "short\n", "at least 12 characters"),
    (("group", "add", "nogroup", "alice"), None, "Unknown group: nogroup"),
    (("apikey", "create", "ghost"), None, "Unknown user: ghost"),
    (("apikey", "create", "alice", "--scope", "write"), None, "Unknown API key scope 'write'"),
    (("apikey", "create", "alice", "--expires", "31/12/2030"), None, "YYYY-MM-DD"),
    (("apikey", "create", "alice", "--expires", "2001-01-01"), None, "in the future"),
    (("apikey", "revoke", "ak_nothere"), None, "Unknown API key: ak_nothere"),
    (("dataset-security", "nosuch", "--visibility", "public"), None, "Unknown dataset: nosuch"),
    (("dataset-security", "salaires", "--visibility", "secret"), None, "Unknown visibility 'secret'"),
    (("dataset-security", "salaires", "--grant", "team:x"), None, "Expected group:<name> or user:<login>"),
    (("dataset-security", "salaires", "--record-filter", "user:alice=a = 1"), None, "per group"),
    (("dataset-security", "salaires", "--hide-fields", "group:stats"), None, "Expected group:<name>=<value>"),
])
def test_errors_are_one_red_line_and_exit_1(cli, instance, args, input, message):
    cli("user", "create", "alice")
    cli("user", "create", "alice", ok=False)
    with instance.session() as s:
        catalog_services.create_dataset(s, "salaires", "Salaires")
    assert message in cli(*args, ok=False, input=input).stderr


def test_api_keys(cli, instance):
    cli("user", "create", "alice", "--role", "publisher")
    with instance.session() as s:
        uid = catalog_services.create_dataset(s, "salaires", "Salaires").uid
    created = cli("apikey", "create", "alice", "--scope", "manage", "--dataset", "salaires", "--expires", "2099-12-31",
                  "--name", "nightly job")
    secret = created.stdout.strip()
    assert secret.startswith("pk_") and len(secret) == 43  # alone on standard output
    assert "not be shown again" in created.stderr and "expires 2100-01-01 00:00 UTC" in created.stderr
    principal = principal_from_request({"Authorization": f"apikey {secret}"}, {}, instance.catalog)
    assert (principal.login, principal.scopes, principal.datasets) == ("alice", {"manage", "read"}, {uid})

    listed = json.loads(cli("apikey", "list", "--json").stdout)
    assert len(listed) == 1 and secret not in json.dumps(listed)
    key = listed[0]
    assert (key["login"], key["name"], key["state"], key["datasets"]) == ("alice", "nightly job", "active", [uid])
    assert key["prefix"] == secret[:10] and key["last_used_at"] is not None
    assert key["expires_at"].startswith("2100-01-01T00:00:00")
    assert key["id"] in cli("apikey", "list").stdout

    assert f"API key {key['id']} of alice revoked" in cli("apikey", "revoke", key["id"]).stdout
    with pytest.raises(AuthError, match="API key is not valid"):
        principal_from_request({"Authorization": f"apikey {secret}"}, {}, instance.catalog)
    assert json.loads(cli("apikey", "list", "--user", "alice", "--json").stdout)[0]["state"] == "revoked"
    with instance.session() as s:
        actions = [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions == ["user.create", "apikey.create", "apikey.revoke"]


def test_dataset_security(cli, instance):
    cli("user", "create", "vic")
    cli("group", "create", "stats")
    with instance.session() as s:
        catalog_services.create_dataset(s, "salaires", "Salaires")
    assert cli("dataset-security", "salaires").stdout.strip() == "salaires: public; grants: none"
    shown = cli("dataset-security", "salaires", "--visibility", "restricted", "--grant", "group:stats",
                "--grant", "user:vic", "--record-filter", "group:stats=annee >= 2020 and dep in ['75', '92']",
                "--record-filter", "default=annee = 2024", "--hide-fields", "group:stats=nom, prenom").stdout
    assert shown.splitlines() == [
        "salaires: restricted; grants: group:stats, user:vic",
        "  record filter default: annee = 2024",
        "  record filter group:stats: annee >= 2020 and dep in ['75', '92']",
        "  hidden fields group:stats: nom, prenom",
    ]
    after = cli("dataset-security", "salaires", "--revoke", "user:vic", "--record-filter", "default=",
                "--hide-fields", "group:stats=").stdout
    assert after.splitlines() == ["salaires: restricted; grants: group:stats",
                                  "  record filter group:stats: annee >= 2020 and dep in ['75', '92']"]
    revoked = cli("dataset-security", "salaires", "--revoke", "group:stats").stdout  # its rules left in place: said
    assert revoked.splitlines() == ["salaires: restricted; grants: none",
                                    "  record filter group:stats: annee >= 2020 and dep in ['75', '92'] (group not "
                                    "granted: binds only members in no granted group)"]
    with instance.session() as s:
        actions = [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions.count("grant.add") == 2 and actions.count("grant.remove") == 2
    assert actions.count("security.set") == 2  # a revoke alone sets no ruleset


def test_dataset_security_names_who_its_rulesets_do_not_bind(cli, instance):
    """A publisher in a granted group edits the dataset and sees it whole: the group's record
    filter is shown with them named, and promoting a member says which rulesets it lifts."""
    cli("user", "create", "vic")
    cli("user", "create", "pia", "--role", "publisher")
    cli("group", "create", "stats")
    cli("group", "add", "stats", "pia")
    cli("group", "add", "stats", "vic")
    with instance.session() as s:
        catalog_services.create_dataset(s, "salaires", "Salaires")
    shown = cli("dataset-security", "salaires", "--visibility", "restricted", "--grant", "group:stats",
                "--record-filter", "group:stats=annee >= 2020").stdout
    assert shown.splitlines()[-1] == "  sees it whole, no ruleset binds them (owner or editor; admins too): pia (group:stats)"
    promoted = cli("user", "role", "vic", "publisher").stdout
    assert promoted.splitlines() == ["user vic: role publisher",
                                     "  vic now sees whole, as an editor, datasets whose rulesets bound them: salaires"]
    assert cli("user", "role", "vic", "publisher").stdout.strip() == "user vic: role publisher"
    assert cli("user", "role", "vic", "viewer").stdout.strip() == "user vic: role viewer"
