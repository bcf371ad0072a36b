"""Single sign-on identities through the management API (``/users/{login}/identities``), the
JSON twin of ``portail user sso-link|sso-unlink``: admin-only, audited, Opendatasoft-style
errors; and what an unbinding leaves of the account's API keys (they stay, said), on both. A
subject is any string: the one an unbinding's path names is the one sent (not mangled by merged
slashes nor decoded twice)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from portail.api.app import create_app
from portail.auth import AuthError
from portail.auth import keys as keyring
from portail.auth import services, sessions
from portail.auth.audit import query
from portail.auth.cli import app
from portail.auth.oidc import OidcConfig, provision
from tests.conftest import make_instance

API = "/api/management/v1"
ISSUER = "https://idp.example"
OP = {"Authorization": "Bearer op-token"}


def sign_in(s, sub: str, login: str):
    return provision(s, OidcConfig(ISSUER, "portail", None), {"sub": sub, "preferred_username": login})


@pytest.fixture
def site(tmp_path):
    instance = make_instance(tmp_path / "home", session_cookie_secure=False, management_token="op-token",
                             oidc_issuer=ISSUER + "/", oidc_client_id="portail")
    with instance.session() as s:
        root = services.create_user(s, "root", role="admin", password="Correct-horse-42")
        _, root_key = services.create_api_key(s, root, scopes=["manage"])
        services.create_user(s, "bob")
        vera = services.create_user(s, "vera", role="publisher")
        _, vera_key = services.create_api_key(s, vera, scopes=["manage"])
    yield instance, TestClient(create_app(instance)), {"Authorization": f"Apikey {root_key}"}, \
        {"Authorization": f"Apikey {vera_key}"}
    instance.store.close()


def error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.json()["error_code"] == code
    return response.json()["message"]


def test_an_admin_lists_binds_and_unbinds_identities(site):
    instance, client, root, vera = site
    assert client.get(f"{API}/users/bob/identities", headers=root).json() == {"login": "bob", "total_count": 0,
                                                                             "results": []}
    linked = client.post(f"{API}/users/BOB/identities", json={"subject": "auth0|b/1"}, headers=root)
    assert linked.status_code == 201  # the configured issuer, its final slash dropped as sign-ins drop it
    assert [(i["issuer"], i["subject"]) for i in linked.json()["results"]] == [(ISSUER, "auth0|b/1")]
    again = client.post(f"{API}/users/bob/identities", json={"subject": "auth0|b/1", "issuer": ISSUER + "/"},
                        headers=root)
    assert again.status_code == 200 and again.json()["total_count"] == 1
    assert "already linked to the user 'bob'" in error(
        client.post(f"{API}/users/root/identities", json={"subject": "auth0|b/1"}, headers=root), 409, "Conflict")
    error(client.post(f"{API}/users/nobody/identities", json={"subject": "x"}, headers=root), 404, "NotFound")
    error(client.get(f"{API}/users/nobody/identities", headers=root), 404, "NotFound")
    error(client.post(f"{API}/users/bob/identities", json={"subject": " "}, headers=root), 400,
          "InvalidRESTParameterError")
    error(client.post(f"{API}/users/bob/identities", json={"subject": "s", "login": "root"}, headers=root), 400,
          "InvalidRESTParameterError")
    error(client.post(f"{API}/users/bob/identities", json={"subject": "s" * 256}, headers=root), 400,
          "InvalidRESTParameterError")
    # admin-only: a publisher's manage key, and nobody, are refused
    error(client.get(f"{API}/users/bob/identities", headers=vera), 403, "Forbidden")
    error(client.post(f"{API}/users/vera/identities", json={"subject": "v"}, headers=vera), 403, "Forbidden")
    error(client.delete(f"{API}/users/bob/identities/auth0|b/1", headers=vera), 403, "Forbidden")
    assert client.post(f"{API}/users/vera/identities", json={"subject": "v"}).status_code == 401
    listed = {u["login"]: u["sso_identities"] for u in client.get(f"{API}/users", headers=OP).json()["results"]}
    assert listed == {"bob": [{"issuer": ISSUER, "subject": "auth0|b/1"}], "root": [], "vera": []}
    with instance.session() as s:
        assert sign_in(s, "auth0|b/1", "anything").login == "bob"  # the bound identity reaches bob
        sessions.open_session(s, services.get_user(s, "bob"), method="oidc")
    error(client.delete(f"{API}/users/bob/identities/auth0|b/1", params={"issuer": "https://other.example"},
                        headers=root), 404, "NotFound")
    unlinked = client.delete(f"{API}/users/bob/identities/auth0|b/1", headers=OP)
    assert unlinked.status_code == 200
    assert unlinked.json() == {"login": "bob", "total_count": 0, "results": [], "sessions_ended": 1,
                               "api_keys_active": [], "signs_in": False}
    with instance.session() as s:  # audited as the command line audits it, each with its actor
        events = [(e.action, e.actor, e.detail["subject"]) for e in reversed(query(s, action="user.sso_*")[1])]
        assert events == [("user.sso_link", "root", "auth0|b/1"), ("user.sso_unlink", None, "auth0|b/1")]
    paths = client.get("/api/explore/v2.1/swagger.json").json()["paths"]
    assert set(paths[f"{API}/users/{{login}}/identities"]) == {"get", "post"}
    assert set(paths[f"{API}/users/{{login}}/identities/{{subject}}"]) == {"delete"}


def test_without_a_configured_provider_the_issuer_is_required(tmp_path):
    """One rule (``services.identity_issuer``) on the API and the command line, each naming where
    its caller gives the issuer: the body's field, the query parameter, ``--issuer``."""
    home = tmp_path / "home"
    instance = make_instance(home, management_token="op-token")
    missing = "No identity provider is configured (PORTAIL_OIDC_ISSUER): give "
    try:
        with instance.session() as s:
            services.create_user(s, "bob")
        client = TestClient(create_app(instance))
        assert error(client.post(f"{API}/users/bob/identities", json={"subject": "b"}, headers=OP), 400,
                     "InvalidRESTParameterError") == missing + "the issuer field"
        assert client.post(f"{API}/users/bob/identities", json={"subject": "b", "issuer": ISSUER},
                           headers=OP).status_code == 201
        assert error(client.delete(f"{API}/users/bob/identities/b", headers=OP), 400,
                     "InvalidRESTParameterError") == missing + "the issuer query parameter"
    finally:
        instance.store.close()
    refused = CliRunner().invoke(app, ["user", "sso-unlink", "bob", "b"], env={"PORTAIL_HOME": str(home),
                                                                              "COLUMNS": "300"})
    assert refused.exit_code == 1 and missing + "--issuer" in refused.stderr
    assert held(instance, "bob") == ["b"]  # nothing unbound


def test_unbinding_an_identity_keeps_the_accounts_keys_and_says_which_still_work(site):
    """An account single sign-on made has no password: once its only identity is unbound, its
    keys are the one way in left (a departed employee's scripts). They stay, the account's, and
    the answer names them (``services.unlink_identity`` says why)."""
    instance, client, _, _ = site
    with instance.session() as s:
        gus = sign_in(s, "g", "gus")
        kept, gus_secret = services.create_api_key(s, gus, "etl")
        gone, _ = services.create_api_key(s, gus, "old")
        services.revoke_api_key(s, gone.id)
        kept_id = kept.id
        services.link_identity(s, services.get_user(s, "root"), ISSUER, "r")
        services.create_api_key(s, services.get_user(s, "root"), "cron")
    answer = client.delete(f"{API}/users/gus/identities/g", headers=OP).json()
    assert (answer["api_keys_active"], answer["signs_in"]) == ([kept_id], False)
    with instance.session() as s:
        assert keyring.verify_key(s, gus_secret).user.login == "gus"  # the account's key works on
        assert query(s, action="user.sso_unlink", target="user:gus")[1][0].detail["api_keys_active"] == 1
    answer = client.delete(f"{API}/users/root/identities/r", headers=OP).json()
    assert answer["signs_in"] is True and len(answer["api_keys_active"]) == 2  # root's password is left


def test_the_command_line_says_the_keys_an_unbinding_left(tmp_path):
    home = tmp_path / "home"
    env = {"PORTAIL_HOME": str(home), "COLUMNS": "300", "PORTAIL_OIDC_ISSUER": ISSUER,
           "PORTAIL_OIDC_CLIENT_ID": "portail"}
    runner = CliRunner()

    def cli(*args: str) -> str:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == 0, result.output
        return result.stdout

    cli("user", "create", "gus")
    cli("apikey", "create", "gus", "--name", "etl")
    key_id = json.loads(cli("apikey", "list", "--json"))[0]["id"]
    cli("user", "sso-link", "gus", "g")
    said = cli("user", "sso-unlink", "gus", "g").splitlines()
    assert said == ["user gus: single sign-on identities: none",
                    f"  1 API key(s) of gus still work: {key_id} (`portail apikey revoke <id>`)",
                    "  gus has no password nor identity left to sign in with: only these keys reach the account "
                    "(`portail user disable gus` stops them all)"]
    cli("apikey", "revoke", key_id)
    cli("user", "sso-link", "gus", "g")
    assert cli("user", "sso-unlink", "gus", "g").splitlines() == ["user gus: single sign-on identities: none"]


def held(instance, login: str) -> list[str]:
    with instance.session() as s:
        return [i.subject for i in services.get_user(s, login).identities]


@pytest.mark.parametrize("subject", ["https://solid.example/bob#me", "/bob", "a//b"])
def test_a_subject_holding_double_or_leading_slashes_is_unbound_as_sent(site, subject):
    """A subject may be any string (a URL, as WebID providers give): the DELETE path sent it as
    ``https:%2F%2F…``, which the merged-slashes middleware read as ``https:/…`` (decoded, then
    merged), a 404 where the command line unbinds it: the identity could not be taken away
    through the API."""
    instance, client, _, _ = site
    assert client.post(f"{API}/users/bob/identities", json={"subject": subject}, headers=OP).status_code == 201
    unlinked = client.delete(f"{API}/users/bob/identities/{quote(subject, safe='')}", params={"issuer": ISSUER},
                             headers=OP)
    assert unlinked.status_code == 200, unlinked.text
    assert held(instance, "bob") == []
    with instance.session() as s:
        assert query(s, action="user.sso_unlink")[1][0].detail["subject"] == subject


def test_a_merged_subject_never_unbinds_another_identity(site):
    """``a%2F%2Fb`` named ``a//b``; read as ``a/b`` it unbound that other identity of the user."""
    instance, client, _, _ = site
    for subject in ("a/b", "a//b"):
        client.post(f"{API}/users/bob/identities", json={"subject": subject}, headers=OP)
    assert client.delete(f"{API}/users/bob/identities/a%2F%2Fb", headers=OP).status_code == 200
    assert held(instance, "bob") == ["a/b"]


def test_a_subject_holding_percent_escapes_is_decoded_once(site):
    """The subject of an unbinding read from the raw path (``accounts._subject_sent``) is decoded
    once, as sent, so a subject holding a literal ``%2F`` never unbinds the one with a slash."""
    _, client, _, _ = site
    for subject in ("a/b", "a%2Fb", "a%b"):
        assert client.post(f"{API}/users/bob/identities", json={"subject": subject}, headers=OP).status_code == 201
    for subject, left in (("a%2Fb", ["a%b", "a/b"]), ("a%b", ["a/b"])):
        answer = client.delete(f"{API}/users/bob/identities/{quote(subject, safe='')}", headers=OP)
        assert answer.status_code == 200, answer.text
        assert sorted(i["subject"] for i in answer.json()["results"]) == left


def test_unbinding_on_a_disabled_account_lists_no_key_as_working(site):
    """A disabled account's keys are refused (``keys.verify_key``): the answer said they "still
    work" and flagged the account as stranded, telling the administrator to disable it."""
    instance, client, _, _ = site
    with instance.session() as s:
        bob = services.get_user(s, "bob")
        services.link_identity(s, bob, ISSUER, "b")
        _, secret = services.create_api_key(s, bob, "etl")
        services.set_active(s, bob, False)
    answer = client.delete(f"{API}/users/bob/identities/b", headers=OP).json()
    assert (answer["api_keys_active"], answer["signs_in"]) == ([], False)
    with instance.session() as s:
        with pytest.raises(AuthError):
            keyring.verify_key(s, secret)  # as the answer says
        assert query(s, action="user.sso_unlink", target="user:bob")[1][0].detail["api_keys_active"] == 0
