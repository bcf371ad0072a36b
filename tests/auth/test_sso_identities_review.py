"""Review of single sign-on identities in the management API: subjects the URL path mangles,
and what an unbinding says of the keys of a disabled account."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from portail.api.app import create_app
from portail.auth import AuthError
from portail.auth import keys as keyring
from portail.auth import services
from portail.auth.audit import query
from tests.conftest import make_instance

API = "/api/management/v1"
ISSUER = "https://idp.example"
OP = {"Authorization": "Bearer op-token"}


@pytest.fixture
def site(tmp_path):
    instance = make_instance(tmp_path / "home", session_cookie_secure=False, management_token="op-token",
                             oidc_issuer=ISSUER, oidc_client_id="portail")
    with instance.session() as s:
        services.create_user(s, "bob")
    yield instance, TestClient(create_app(instance))
    instance.store.close()


def held(instance, login: str) -> list[str]:
    with instance.session() as s:
        return [i.subject for i in services.get_user(s, login).identities]


@pytest.mark.parametrize("subject", ["https://solid.example/bob#me", "/bob", "a//b"])
def test_a_subject_holding_double_or_leading_slashes_is_unbound_as_sent(site, subject):
    """A subject may be any string (a URL, as WebID providers give): the DELETE path sent it as
    ``https:%2F%2F…``, which the merged-slashes middleware read as ``https:/…`` (decoded, then
    merged), a 404 where the command line unbinds it: the identity could not be taken away
    through the API."""
    instance, client = site
    assert client.post(f"{API}/users/bob/identities", json={"subject": subject}, headers=OP).status_code == 201
    unlinked = client.delete(f"{API}/users/bob/identities/{quote(subject, safe='')}", params={"issuer": ISSUER},
                             headers=OP)
    assert unlinked.status_code == 200, unlinked.text
    assert held(instance, "bob") == []
    with instance.session() as s:
        assert query(s, action="user.sso_unlink")[1][0].detail["subject"] == subject


def test_a_merged_subject_never_unbinds_another_identity(site):
    """``a%2F%2Fb`` named ``a//b``; read as ``a/b`` it unbound that other identity of the user."""
    instance, client = site
    for subject in ("a/b", "a//b"):
        client.post(f"{API}/users/bob/identities", json={"subject": subject}, headers=OP)
    assert client.delete(f"{API}/users/bob/identities/a%2F%2Fb", headers=OP).status_code == 200
    assert held(instance, "bob") == ["a/b"]


def test_unbinding_on_a_disabled_account_lists_no_key_as_working(site):
    """A disabled account's keys are refused (``keys.verify_key``): the answer said they "still
    work" and flagged the account as stranded, telling the administrator to disable it."""
    instance, client = site
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
