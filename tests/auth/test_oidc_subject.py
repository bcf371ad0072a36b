"""Single sign-on accounts are bound to the provider's identity (issuer, ``sub``), not to a login
claim its users may set themselves: one who named themselves ``admin`` at the provider signed in
as the administrator (``oidc.provision``, migration 0015, ``portail user sso-link``)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from portail.auth import services, sessions
from portail.auth.audit import query, record
from portail.auth.cli import app
from portail.auth.models import LoginSession, SsoIdentity
from portail.auth.oidc import OidcConfig, provision
from tests.auth.sso_refusals import refusal_detail
from tests.conftest import make_instance

ISSUER = "https://idp.example"
CONFIG = OidcConfig(ISSUER, "portail", None)


def sign_in(s, sub: str, login: str):
    return provision(s, CONFIG, {"sub": sub, "preferred_username": login, "email": f"{login}@example.org",
                                 "email_verified": True})


def refused(s, sub: str, login: str) -> dict:
    """Sign in expecting a refusal; the audit detail of the refusal."""
    with pytest.raises(services.AuthError, match="ask an administrator") as raised:
        sign_in(s, sub, login)
    assert raised.value.status == 401 and raised.value.code == "SSOError"
    return refusal_detail(s, login.lower(), raised.value)


@pytest.fixture
def instance(tmp_path):
    made = make_instance(tmp_path / "home")
    yield made
    made.store.close()


def test_a_claimed_login_is_never_signed_into_unless_the_identity_is_bound_to_it(instance):
    with instance.session() as s:
        services.create_user(s, "root", role="admin", password="Correct-horse-42")
        services.create_user(s, "robot", role="admin")  # API keys only: no password, made by an administrator
    with instance.session() as s:
        assert refused(s, "evil", "ROOT")["reason"] == "login held by an account with a password"
        assert refused(s, "evil", "robot") == {"reason": "login held by an account no sign-in may bind",
                                               "via": "oidc", "issuer": ISSUER, "subject": "evil"}
        assert s.scalar(select(func.count()).select_from(SsoIdentity)) == 0
        assert s.scalar(select(func.count()).select_from(LoginSession)) == 0
        assert query(s, action="login.success")[0] == 0
    with instance.session() as s:  # the provider renames its user: the identity decides, not the claim
        alice = sign_in(s, "s1", "alice")
        assert [(i.issuer, i.subject) for i in alice.identities] == [(ISSUER, "s1")]
        again = sign_in(s, "s1", "alicia")
        assert again.id == alice.id and again.login == "alice"
        assert query(s, action="login.success", actor="alice")[0] == 2
        assert s.scalar(select(func.count()).where(services.User.login == "alicia")) == 0
        # another identity claiming a login bound to someone else: refused, alice untouched
        assert refused(s, "s2", "alice")["reason"] == "login held by an account bound to another identity"
        assert [i.subject for i in services.get_user(s, "alice").identities] == ["s1"]
        services.set_active(s, alice, False)  # a disabled account stays refused
        with pytest.raises(services.AuthError, match="disabled"):
            sign_in(s, "s1", "alice")


def test_an_account_single_sign_on_made_before_identities_were_kept_is_bound_at_its_next_sign_in(instance):
    with instance.session() as s:
        services.create_user(s, "dave", email="dave@example.org", actor="sso")  # as an earlier release's sign-in made it
        services.create_user(s, "erin", email="erin@example.org")  # an administrator's, signed into by SSO since
        record(s, "login.success", actor="erin", target="user:erin", detail={"via": "oidc"})
        services.create_user(s, "fred", actor="sso")
    with instance.session() as s:
        dave = sign_in(s, "d", "dave")
        assert dave.login == "dave" and [i.subject for i in dave.identities] == ["d"]
        assert query(s, action="user.sso_link", target="user:dave")[1][0].actor == "sso"
        assert sign_in(s, "e", "erin").identities[0].subject == "e"
        assert refused(s, "d2", "dave")["reason"] == "login held by an account bound to another identity"
        # an identity an administrator unbinds stays unbound: no other (nor the same) binds itself again
        services.link_identity(s, services.get_user(s, "fred"), ISSUER, "f")
        services.unlink_identity(s, services.get_user(s, "fred"), ISSUER, "f")
        assert refused(s, "f", "fred")["reason"] == "login held by an account no sign-in may bind"


def test_deleting_a_user_deletes_their_identities(instance):
    with instance.session() as s:
        carol = sign_in(s, "c", "carol")
        services.link_identity(s, carol, "https://old-idp.example/", "c-old")  # several: an issuer changed
        assert [(i.issuer, i.subject) for i in carol.identities] == [
            ("https://idp.example", "c"), ("https://old-idp.example", "c-old")]
    with instance.session() as s:
        services.delete_user(s, services.get_user(s, "carol"))
    with instance.session() as s:
        assert s.scalar(select(func.count()).select_from(SsoIdentity)) == 0
        assert query(s, action="user.delete")[1][0].detail["sso_identities"][0] == {"issuer": ISSUER, "subject": "c"}
        services.create_user(s, "carol", password="Correct-horse-42")  # a new account of that login
    with instance.session() as s:
        assert services.identity_holder(s, ISSUER, "c") is None
        assert refused(s, "c", "carol")["reason"] == "login held by an account with a password"


def test_an_administrator_binds_and_unbinds_identities(tmp_path):
    home = tmp_path / "home"
    runner = CliRunner()
    env = {"PORTAIL_HOME": str(home), "COLUMNS": "200", "PORTAIL_OIDC_ISSUER": ISSUER + "/",
           "PORTAIL_OIDC_CLIENT_ID": "portail"}

    def cli(*args: str, code: int = 0):
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == code, result.output
        return result

    cli("user", "create", "root", "--role", "admin")
    cli("user", "create", "bob")
    assert cli("user", "sso-link", "root", "s-root").stdout.strip() == \
        f"user root: single sign-on identities: s-root at {ISSUER}"
    assert cli("user", "sso-link", "ROOT", "s-root", "--issuer", ISSUER).stdout.strip().endswith(f"s-root at {ISSUER}")
    assert "already linked to the user 'root'" in cli("user", "sso-link", "bob", "s-root", code=1).stderr
    assert "no such single sign-on identity" in cli("user", "sso-unlink", "bob", "s-root", code=1).stderr
    assert "issuer and a subject" in cli("user", "sso-link", "bob", " ", code=1).stderr
    users = json.loads(cli("user", "list", "--json").stdout)
    assert [(u["login"], u["sso_identities"]) for u in users] == [
        ("bob", []), ("root", [{"issuer": ISSUER, "subject": "s-root"}])]
    instance = make_instance(home)
    try:
        with instance.session() as s:
            root = services.get_user(s, "root")
            assert sign_in(s, "s-root", "whatever").id == root.id  # the bound identity reaches root
            sessions.open_session(s, root, method="oidc")
        assert cli("user", "sso-unlink", "root", "s-root").stdout.strip() == "user root: single sign-on identities: none"
        with instance.session() as s:
            assert s.scalar(select(func.count()).select_from(LoginSession)) == 0  # cut off
            events = query(s, action="user.sso_*")[1]
            assert [(e.action, e.actor, e.detail["subject"]) for e in reversed(events)] == [
                ("user.sso_link", None, "s-root"), ("user.sso_unlink", None, "s-root")]
            assert events[0].detail["sessions_ended"] == 1
    finally:
        instance.store.close()


def test_migration_0015_adds_and_drops_the_identities(catalog):
    """Up and down on SQLite and PostgreSQL; the pair (issuer, subject) is unique."""
    from portail.catalog import transaction
    from portail.catalog.db import migrate
    from tests.catalog.downgrades import downgrade

    engine = catalog.kw["bind"]
    with transaction(catalog) as s:
        services.link_identity(s, services.create_user(s, "gina"), ISSUER, "g")
    with engine.begin() as connection:
        downgrade(connection, "0014")
    assert "auth_sso_identity" not in inspect(engine).get_table_names()
    migrate(engine)
    assert "auth_sso_identity" in inspect(engine).get_table_names()
    with transaction(catalog) as s:  # an upgraded catalogue: no identity known, gina's next sign-in decides
        gina = services.get_user(s, "gina")
        assert gina.identities == []
        services.link_identity(s, gina, ISSUER, "g")
    with pytest.raises(IntegrityError), transaction(catalog) as s:
        s.add(SsoIdentity(user_id=services.get_user(s, "gina").id, issuer=ISSUER, subject="g",
                          created_at=services.now()))
