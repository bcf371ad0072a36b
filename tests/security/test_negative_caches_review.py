"""Review of the two negative caches (f0d3abe, f982069): "Unknown dataset" remembered per caller
(``explore_service._UNSEEN``) and a refused API key remembered (``principal._REFUSED_KEYS``),
both under the catalogue's stamp. Every change that makes a dataset exist for a caller, made by
another process (another instance on the same home, or the command line next to a server with
several workers), is seen at the very next call: a grant to one of the caller's groups, a
membership, a single sign-on that brings a group, the owner metadata, a role, the public
metadata switch, a portal added, a rename to the name asked for. A credential refused as one
kind is not refused as another (the caches are apart)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.auth import AuthError, oauth2, principal_from_request
from portail.auth import services as auth
from portail.auth.oidc import OidcConfig, provision
from portail.catalog import services
from portail.config import Settings
from portail.operations import open_instance
from tests.conftest import Published, published_instance, semicolon_csv
from tests.live import live_server

DATASET = "/api/explore/v2.1/catalog/datasets/{}"
ROWS = [{"code": str(n), "nom": f"ligne {n}"} for n in range(3)]
SSO = OidcConfig("https://idp.example.org", "portail", None)


def _restricted(s) -> None:
    auth.set_dataset_security(s, services.get_dataset(s, "ferme"), visibility="restricted")


def _grant_group(s) -> None:
    _restricted(s)
    auth.create_group(s, "stats")
    auth.add_member(s, auth.get_group(s, "stats"), auth.get_user(s, "alice"))


def _member_of_granted(s) -> None:
    _restricted(s)
    auth.create_group(s, "stats")
    auth.grant(s, services.get_dataset(s, "ferme"), "group", "stats")


def _internal_only(s) -> None:
    services.update_metadata(s, services.get_dataset(s, "ferme"), portals=["internal"])


def _on_public_portal(s) -> None:
    services.update_metadata(s, services.get_dataset(s, "ferme"), portals=["internal", "public"])


#: (what the catalogue holds first, the change made elsewhere, the name asked for): the change
#: makes the dataset exist for alice, who was told "Unknown dataset" before it.
CHANGES: dict[str, tuple[Callable, Callable, str]] = {
    "grant to a group of hers": (_grant_group, lambda s: auth.grant(s, services.get_dataset(s, "ferme"), "group", "stats"),
                                 "ferme"),
    "grant to her": (_restricted, lambda s: auth.grant(s, services.get_dataset(s, "ferme"), "user", "alice"), "ferme"),
    "made member of a granted group": (_member_of_granted,
                                       lambda s: auth.add_member(s, auth.get_group(s, "stats"), auth.get_user(s, "alice")),
                                       "ferme"),
    "single sign-on bringing a granted group": (
        _member_of_granted, lambda s: provision(s, SSO, {"sub": "a-1", "preferred_username": "alice", "groups": ["stats"]}),
        "ferme"),
    "named its owner": (_restricted, lambda s: services.update_metadata(s, services.get_dataset(s, "ferme"), owner="Alice"),
                        "ferme"),
    "made administrator": (_restricted, lambda s: auth.set_role(s, auth.get_user(s, "alice"), "admin"), "ferme"),
    "metadata made public": (_restricted, lambda s: auth.set_dataset_security(s, services.get_dataset(s, "ferme"),
                                                                              metadata_public=True), "ferme"),
    "added to the portal": (_internal_only, _on_public_portal, "ferme"),
    "renamed to the id asked for": (lambda s: None,
                                    lambda s: services.rename_dataset(s, services.get_dataset(s, "ferme"), "nouvel-id"),
                                    "nouvel-id"),
}


@pytest.fixture
def home(tmp_path):
    """A home with dataset ``ferme`` published and alice, a user bound to a single sign-on
    identity (as ``provision`` made her), with a key; another instance on the same home, as
    another process writes the catalogue. Yields (API instance, other instance, alice's key)."""
    instance = published_instance(tmp_path / "home", Published("ferme", semicolon_csv(tmp_path / "f.csv", ROWS)))
    with instance.session() as s:
        alice = provision(s, SSO, {"sub": "a-1", "preferred_username": "alice"})
        _, secret = auth.create_api_key(s, alice)
    other = open_instance(Settings(home=instance.settings.home))
    yield instance, other, secret
    other.store.close()
    instance.store.close()


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_change_made_elsewhere_that_shows_a_dataset_is_seen_at_the_next_call(home, change):
    instance, other, secret = home
    before, make_visible, asked = CHANGES[change]
    with other.session() as s:
        before(s)
    client, key = TestClient(create_app(instance)), {"Authorization": f"Apikey {secret}"}
    for _ in range(2):  # the second from memory
        answer = client.get(DATASET.format(asked), headers=key)
        assert (answer.status_code, answer.json()["message"]) == (404, f"Unknown dataset: {asked}")
    with other.session() as s:
        make_visible(s)
    answer = client.get(DATASET.format(asked), headers=key)
    assert answer.status_code == 200, answer.text
    assert answer.json()["dataset_id"] == asked


def test_a_dataset_asked_for_by_its_former_id_is_unknown_once_the_id_is_taken_back(home, tmp_path):
    """The other way round: a name that answered through an alias stops answering for the
    renamed dataset when a new dataset takes it (``_release_alias``): not kept as found."""
    instance, other, _ = home
    client = TestClient(create_app(instance))
    with other.session() as s:
        services.rename_dataset(s, services.get_dataset(s, "ferme"), "ferme-2")
    assert client.get(DATASET.format("ferme")).json()["dataset_id"] == "ferme-2"
    with other.session() as s:
        services.create_dataset(s, "ferme", "Nouvelle ferme")  # not published: unknown
    for _ in range(2):
        assert client.get(DATASET.format("ferme")).status_code == 404


# -- refused keys ------------------------------------------------------------------------------
def call(instance, headers: dict[str, str], params: dict[str, str] | None = None):
    return principal_from_request(headers, params or {}, instance.catalog)


def test_a_key_refused_for_its_disabled_user_with_an_expiry_ahead_works_once_enabled_elsewhere(home):
    instance, other, _ = home
    with other.session() as s:
        alice = auth.get_user(s, "alice")
        _, secret = auth.create_api_key(s, alice, expires_at=datetime.now(UTC) + timedelta(days=1))
        auth.set_active(s, alice, False)
    for _ in range(2):
        with pytest.raises(AuthError):
            call(instance, {"Authorization": f"Apikey {secret}"})
    with other.session() as s:
        auth.set_active(s, auth.get_user(s, "alice"), True)
    assert call(instance, {"Authorization": f"Apikey {secret}"}).login == "alice"


def test_a_credential_refused_as_one_kind_is_still_read_as_the_other(home):
    """An access token sent as a key is a refused key; the same token as a Bearer token is
    alice's, and a key sent as an access token, refused, still works as a key: the refusals are
    kept apart (``_REFUSED_KEYS``, ``_TOKENS``), though both are keyed by the value's digest."""
    instance, other, secret = home
    with other.session() as s:
        client, _ = oauth2.register_client(s, "App", ["https://app.example.org/cb"])
        asked = oauth2.check_authorization(s, client_id=client.id, redirect_uri="https://app.example.org/cb",
                                           response_type="code", scope=None, state="x", code_challenge=None,
                                           code_challenge_method=None)
        code = oauth2.issue_code(s, asked, auth.get_user(s, "alice"))
        token = oauth2.exchange_code(s, client, code=code, redirect_uri="https://app.example.org/cb",
                                     code_verifier=None).access_token
    for _ in range(2):
        with pytest.raises(AuthError):
            call(instance, {"Authorization": f"Apikey {token}"})
        with pytest.raises(AuthError):
            call(instance, {}, {"access_token": secret})
    assert call(instance, {"Authorization": f"Bearer {token}"}).oauth_client == client.id
    assert call(instance, {}, {"apikey": secret}).key_id is not None
    assert call(instance, {"Authorization": f"Apikey {secret}"}).login == "alice"


# -- several worker processes ------------------------------------------------------------------
def test_every_worker_of_a_server_sees_a_grant_made_by_another_process_at_the_next_call(home):
    """Two uvicorn workers each remembered alice's 404; a grant from the command line's process
    (another instance) opens the dataset in both at the next call: the stamp is read from the
    catalogue at each call, no window of staleness in any worker."""
    instance, other, secret = home
    with other.session() as s:
        _restricted(s)
    key = {"Authorization": f"Apikey {secret}"}
    with live_server(instance.settings.home, workers=2, port=18601) as base:
        def answers(n: int) -> set[int]:  # a connection each: the kernel spreads them over the workers
            return {httpx.get(base + DATASET.format("ferme"), headers=key, timeout=30).status_code for _ in range(n)}

        assert answers(16) == {404}
        with other.session() as s:
            auth.grant(s, services.get_dataset(s, "ferme"), "user", "alice")
        assert answers(16) == {200}
