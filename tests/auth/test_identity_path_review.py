"""Review of ``accounts._subject_sent``: the subject of an unbinding read from the raw path is
decoded once, as sent, so a subject holding a literal ``%2F`` never unbinds the one with a slash."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.testclient import TestClient

from portail.api.app import create_app
from portail.auth import services
from tests.conftest import make_instance

API = "/api/management/v1"
ISSUER = "https://idp.example"
OP = {"Authorization": "Bearer op-token"}


def test_a_subject_holding_percent_escapes_is_decoded_once(tmp_path):
    instance = make_instance(tmp_path / "home", session_cookie_secure=False, management_token="op-token",
                             oidc_issuer=ISSUER, oidc_client_id="portail")
    try:
        with instance.session() as s:
            services.create_user(s, "bob")
        client = TestClient(create_app(instance))
        for subject in ("a/b", "a%2Fb", "a%b"):
            assert client.post(f"{API}/users/bob/identities", json={"subject": subject}, headers=OP).status_code == 201
        for subject, left in (("a%2Fb", ["a%b", "a/b"]), ("a%b", ["a/b"])):
            answer = client.delete(f"{API}/users/bob/identities/{quote(subject, safe='')}", headers=OP)
            assert answer.status_code == 200, answer.text
            assert sorted(i["subject"] for i in answer.json()["results"]) == left
    finally:
        instance.store.close()
