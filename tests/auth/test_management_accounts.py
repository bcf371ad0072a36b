"""Management API for accounts: the operator, an admin's session (with CSRF) or manage key, and
refusals for everyone else; users, groups, keys (secret once, revocable by admins), grants, quotas, audit."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from portail.api.app import create_app
from portail.auth import services
from tests.conftest import make_instance

API = "/api/management/v1"


@pytest.fixture
def site(tmp_path):
    instance = make_instance(tmp_path / "home", session_cookie_secure=False, management_token="op-token")
    with instance.session() as s:
        services.create_user(s, "root", role="admin", password="Correct-horse-42")
        publisher = services.create_user(s, "vera", role="publisher")  # a non-admin who may hold manage
        _, vera_key = services.create_api_key(s, publisher, scopes=["manage"])
    yield instance, TestClient(create_app(instance)), vera_key
    instance.store.close()


OP = {"Authorization": "Bearer op-token"}


def test_operator_manages_users_groups_keys_and_audit(site):
    _, client, _ = site
    assert client.post(f"{API}/users", json={"login": "Bob", "role": "publisher"}, headers=OP).json()["login"] == "bob"
    assert client.post(f"{API}/users", json={"login": "bob"}, headers=OP).status_code == 409
    assert client.post(f"{API}/users", json={"login": "x", "role": "king"}, headers=OP).json()["error_code"] \
        == "InvalidRESTParameterError"
    assert client.post(f"{API}/groups", json={"name": "agents"}, headers=OP).status_code == 201
    assert client.put(f"{API}/groups/agents/members/bob", headers=OP).json()["members"] == ["bob"]
    nobody = client.post(f"{API}/apikeys", json={}, headers=OP)  # the operator is no user: it names one
    assert nobody.status_code == 400 and "login is required" in nobody.json()["message"]
    created = client.post(f"{API}/apikeys", json={"login": "bob", "scopes": ["read"]}, headers=OP).json()
    assert created["key"].startswith("pk_")
    listed = client.get(f"{API}/apikeys", headers=OP).json()["results"]
    assert all("key" not in k for k in listed) and {k["login"] for k in listed} == {"bob", "vera"}
    assert client.delete(f"{API}/apikeys/{created['id']}", headers=OP).json()["state"] == "revoked"
    reset = client.post(f"{API}/users/bob/reset-token", headers=OP).json()
    assert reset["token"] and "reset-password?token=" in reset["reset_url"]
    assert client.put(f"{API}/quotas/group/agents", json={"calls": 99}, headers=OP).status_code == 200
    assert client.put(f"{API}/quotas/group/agents", json={"calls": 2**80}, headers=OP).status_code == 400
    assert client.post(f"{API}/datasets/x/reindex", json={"version": 2**80}, headers=OP).status_code == 400
    assert client.get(f"{API}/quotas", headers=OP).json()["results"] == [{"kind": "group", "name": "agents", "calls": 99}]
    audit = client.get(f"{API}/audit", params={"action": "apikey.", "limit": 1}, headers=OP).json()
    assert audit["total_count"] == 3 and audit["results"][0]["action"] == "apikey.revoke"  # vera's, bob's, revoke
    page2 = client.get(f"{API}/audit", params={"action": "apikey.", "limit": 1, "offset": 1}, headers=OP).json()
    assert page2["results"][0]["action"] == "apikey.create"
    assert client.get(f"{API}/audit", params={"since": "2999-01-01"}, headers=OP).json()["total_count"] == 0
    assert client.get(f"{API}/audit", params={"since": "not a date"}, headers=OP).status_code == 400
    assert client.get(f"{API}/audit", params={"offset": 2**62}, headers=OP).json()["results"] == []
    assert client.get(f"{API}/audit", params={"offset": 2**80}, headers=OP).status_code == 400  # not SQLite's overflow
    assert client.get(f"{API}/users", headers={"Authorization": "Bearer wrong"}).status_code == 401
    disabled = client.patch(f"{API}/users/bob", json={"role": "viewer", "active": False}, headers=OP).json()
    assert disabled["active"] is False and disabled["role"] == "viewer"


def test_non_admins_manage_only_their_own_keys(site):
    _, client, vera_key = site
    vera = {"Authorization": f"Apikey {vera_key}"}
    assert client.get(f"{API}/users", headers=vera).status_code == 403
    assert client.get(f"{API}/datasets", headers=vera).status_code == 403
    assert client.post(f"{API}/apikeys", json={"login": "root"}, headers=vera).status_code == 403
    own = client.post(f"{API}/apikeys", json={"name": "mine"}, headers=vera)
    assert own.status_code == 201 and own.json()["login"] == "vera"
    assert {k["login"] for k in client.get(f"{API}/apikeys", headers=vera).json()["results"]} == {"vera"}
    assert client.get(f"{API}/users").status_code == 401  # nobody: token configured


def test_an_admin_session_works_with_the_csrf_header(site):
    _, client, _ = site
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"login": "root", "password": "Correct-horse-42", "csrf_token": token})
    assert client.get(f"{API}/users").status_code == 200
    assert client.get(f"{API}/datasets").status_code == 200
    assert client.post(f"{API}/groups", json={"name": "g"}).status_code == 403  # no CSRF header
    session_token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)
    assert client.post(f"{API}/groups", json={"name": "g"}, headers={"X-CSRF-Token": session_token}).status_code == 201
    events = client.get(f"{API}/audit", params={"actor": "root", "action": "group.create"}).json()
    assert events["total_count"] == 1


def test_a_key_made_with_an_expiring_key_expires_no_later(tmp_path):
    """A leaked short-lived key must not mint a permanent one (found by a management sweep)."""
    from datetime import UTC, datetime, timedelta

    from fastapi.testclient import TestClient

    from portail.api.app import create_app
    from portail.auth import services
    from tests.conftest import make_instance

    instance = make_instance(tmp_path / "home")
    soon = datetime.now(UTC) + timedelta(days=3)
    with instance.session() as s:
        bob = services.create_user(s, "bob", role="publisher")
        _, expiring = services.create_api_key(s, bob, "short", scopes=["manage"], expires_at=soon)
    client = TestClient(create_app(instance))
    headers = {"Authorization": f"Apikey {expiring}"}
    made = client.post("/api/management/v1/apikeys", json={"scopes": ["read"]}, headers=headers)
    assert made.status_code == 201 and datetime.fromisoformat(made.json()["expires_at"]) == soon
    later = client.post("/api/management/v1/apikeys", json={"expires_at": (soon + timedelta(days=1)).isoformat()},
                        headers=headers)
    assert later.status_code == 400 and "no later" in later.json()["message"]
    assert client.post("/api/management/v1/apikeys", json={"name": "x" * 201}, headers=headers).status_code == 400
    instance.store.close()


def test_a_key_request_does_not_tell_whether_a_restricted_dataset_exists(tmp_path, refdata):
    from fastapi.testclient import TestClient

    from portail.api.app import create_app
    from portail.auth import services
    from portail.catalog import services as catalog
    from portail.operations import load_file
    from tests.conftest import make_instance

    instance = make_instance(tmp_path / "home")
    with instance.session() as s:
        catalog.create_dataset(s, "secret", "Secret")
        catalog.create_dataset(s, "open", "Open")
    for slug in ("secret", "open"):
        load_file(instance, slug, refdata / "referentiels" / "cog2026_regions.csv", publish=True)
    with instance.session() as s:
        services.set_dataset_security(s, catalog.get_dataset(s, "secret"), visibility="restricted")
        _, key = services.create_api_key(s, services.create_user(s, "bob", role="publisher"), "k", scopes=["manage"])
    client = TestClient(create_app(instance))
    headers = {"Authorization": f"Apikey {key}"}
    hidden = client.post("/api/management/v1/apikeys", json={"datasets": ["secret"]}, headers=headers)
    missing = client.post("/api/management/v1/apikeys", json={"datasets": ["nowhere"]}, headers=headers)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["message"] == "Unknown dataset: secret" and missing.json()["message"] == "Unknown dataset: nowhere"
    assert client.post("/api/management/v1/apikeys", json={"datasets": ["open"]}, headers=headers).status_code == 201
    instance.store.close()


def test_a_viewer_is_given_no_manage_key_however_asked(site):
    """The account page never offered a viewer ``manage``; the management API (even for the
    operator) gave one, which could mint the viewer new keys if it leaked."""
    instance, client, _ = site
    with instance.session() as s:
        services.create_user(s, "vic", role="viewer")
    for scopes in (["manage"], ["read", "MANAGE"]):
        refused = client.post(f"{API}/apikeys", json={"login": "vic", "scopes": scopes}, headers=OP)
        assert refused.status_code == 403 and "manage scope" in refused.json()["message"], refused.text
    made = client.post(f"{API}/apikeys", json={"login": "vic", "scopes": ["read"]}, headers=OP)
    assert made.status_code == 201 and made.json()["scopes"] == ["read"]


def test_a_manage_key_stops_managing_when_its_user_is_demoted(site):
    """Found by a review: a publisher's manage key kept minting keys after the publisher became a
    viewer, the very persistence the rule on manage keys is there to prevent."""
    instance, client, vera_key = site
    vera = {"Authorization": f"Apikey {vera_key}"}
    assert client.post(f"{API}/apikeys", json={"name": "before"}, headers=vera).status_code == 201
    assert client.patch(f"{API}/users/vera", json={"role": "viewer"}, headers=OP).status_code == 200
    refused = client.post(f"{API}/apikeys", json={"name": "after"}, headers=vera)
    assert refused.status_code == 403, refused.text
    assert client.get("/api/explore/v2.1/catalog/datasets", headers=vera).status_code == 200  # it still reads
    assert client.patch(f"{API}/users/vera", json={"role": "publisher"}, headers=OP).status_code == 200
    assert client.post(f"{API}/apikeys", json={"name": "again"}, headers=vera).status_code == 201


def test_dataset_security_lists_whole_viewers(site):
    """The JSON twin of ``dataset-security``: a publisher in a granted group edits the dataset and
    sees it whole, named under ``whole_viewers``; the viewer beside them is bound by the filter."""
    instance, client, _ = site
    from portail.catalog import services as catalog

    with instance.session() as s:
        catalog.create_dataset(s, "salaires", "Salaires")
        services.create_user(s, "vic")
    client.post(f"{API}/groups", json={"name": "stats"}, headers=OP)
    for login in ("vera", "vic"):
        client.put(f"{API}/groups/stats/members/{login}", headers=OP)
    client.put(f"{API}/datasets/salaires/grants/group/stats", headers=OP)
    shown = client.put(f"{API}/datasets/salaires/security", headers=OP,
                       json={"visibility": "restricted", "record_filters": {"stats": "annee >= 2020"}}).json()
    assert shown["grants"] == [{"kind": "group", "name": "stats"}]
    assert shown["whole_viewers"] == [{"login": "vera", "via": "group:stats"}]
    assert client.get(f"{API}/datasets/salaires/security", headers=OP).json()["whole_viewers"] == shown["whole_viewers"]
