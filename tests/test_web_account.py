""""My account" through the real app: a signed-in user sees who they are, creates an API key
(its secret shown once, never again), lists and revokes their own keys only, and the key reads
a restricted dataset of the internal portal; forms need the CSRF token; every change is audited.
Connected applications: the OAuth2 applications the user authorized, each revocable."""

from __future__ import annotations

import base64
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from portail import operations
from portail.api.app import create_app
from portail.auth import keys, oauth2, passwords, services
from portail.auth.audit import query
from portail.catalog import services as catalog
from portail.web.i18n import format_date
from tests.conftest import make_instance

PASSWORD = "Correct-horse-42"
RECORDS = "/interne/api/explore/v2.1/catalog/datasets/regions/records"
APP_URI = "https://app.example.org/callback"


@pytest.fixture(scope="module")
def site_template(tmp_path_factory, refdata) -> Path:
    """Régions, restricted, on both portals and granted to alice (a publisher in group ``agents``);
    bob, a viewer, has no grant: built once for the module (loading the file is most of a
    test's setup), each test then works on a copy of the home (``site``)."""
    home = tmp_path_factory.mktemp("web-account") / "home"
    original = passwords._HASHER
    passwords._HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    instance = make_instance(home, session_cookie_secure=False)
    try:
        with instance.session() as s:
            catalog.create_dataset(s, "regions", "Régions", portals=["public", "internal"])
        operations.load_file(instance, "regions", refdata / "referentiels" / "cog2026_regions.csv", publish=True)
        with instance.session() as s:
            alice = services.create_user(s, "alice", role="publisher", display_name="Alice Martin",
                                         email="alice@example.org", password=PASSWORD)
            services.create_user(s, "bob", role="viewer", password=PASSWORD)
            services.add_member(s, services.create_group(s, "agents"), alice)
            regions = catalog.get_dataset(s, "regions")
            services.set_dataset_security(s, regions, visibility="restricted")
            services.grant(s, regions, "user", "alice")
    finally:
        passwords._HASHER = original
        instance.store.close()
        instance.catalog.kw["bind"].dispose()
    return home


@pytest.fixture
def site(site_template, tmp_path, monkeypatch):
    """A fresh copy of ``site_template``'s instance (the catalogue names version files relative
    to the store's folder, so the copy serves its own), and a client of its app."""
    monkeypatch.setattr(passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    instance = make_instance(Path(shutil.copytree(site_template, tmp_path / "home")), session_cookie_secure=False)
    yield instance, TestClient(create_app(instance))
    instance.store.close()


def script(client: TestClient) -> TestClient:
    """Another client of ``client``'s app, without its cookies: what a script (a key, a token)
    sends. The same app, as in production where one process serves both (and an app costs
    a few tenths of a second to build)."""
    return TestClient(client.app)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client: TestClient, login: str = "alice", root: str = "/interne") -> None:
    token = csrf_of(client.get(f"{root}/login").text)
    answer = client.post(f"{root}/login", data={"login": login, "password": PASSWORD, "csrf_token": token},
                         follow_redirects=False)
    assert answer.status_code == 303


def create_key(client: TestClient, root: str = "/interne", **fields):
    token = csrf_of(client.get(f"{root}/account").text)
    return client.post(f"{root}/account/apikeys", data={"csrf_token": token, **fields})


def secret_in(html: str) -> str:
    return re.search(r'id="new-key" type="text" readonly value="(pk_[A-Za-z0-9]+)"', html).group(1)


@pytest.mark.parametrize("root", ["", "/interne"])
def test_anonymous_visitors_are_sent_to_the_portals_login(site, root):
    _, client = site
    answer = client.get(f"{root}/account?lang=en", follow_redirects=False)
    assert answer.status_code == 303  # the sign-in form in the page's language
    assert answer.headers["location"] == f"{root}/login?next={root}/account%3Flang%3Den&lang=en"
    assert 'id="my-account"' not in client.get("/").text
    refused = client.post(f"{root}/account/apikeys", data={"name": "x", "scopes": ["read"]}, follow_redirects=False)
    assert refused.status_code == 403 and refused_form(refused.text)  # a page, in the visitor's language


def test_the_page_shows_who_is_signed_in_in_either_language(site):
    _, client = site
    sign_in(client)
    home = client.get("/interne/")
    assert '<a href="/interne/account?lang=fr" id="my-account">Mon compte</a>' in home.text
    page = client.get("/interne/account")
    assert page.status_code == 200 and page.headers["cache-control"] == "private, no-store"
    assert "<h1>Mon compte</h1>" in page.text
    for shown in ("alice", "Alice Martin", "alice@example.org", "Éditeur", "agents", "Vous n&#39;avez pas encore",
                  'action="/interne/logout-everywhere?lang=fr"', 'value="manage"',
                  'data-confirm="Fermer toutes vos sessions, celle-ci comprise ?"', "/static/account.js"):
        assert shown in page.text, shown
    english = client.get("/interne/account?lang=en")
    assert "<h1>My account</h1>" in english.text and "Publisher" in english.text
    assert 'action="/interne/account/apikeys?lang=en"' in english.text
    assert "My account" in client.get("/?lang=en").text  # on the public portal too


def test_create_list_and_revoke_a_key_that_reads_the_internal_portal(site):
    instance, client = site
    sign_in(client)
    api = script(client)  # a script: no cookie
    assert api.get(RECORDS).status_code == 401  # the private portal, anonymously

    created = create_key(client, name="sauvegarde", scopes=["read"], expires=(datetime.now(UTC).date()
                                                                                + timedelta(days=30)).isoformat())
    assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
    secret = secret_in(created.text)
    assert "ne sera plus jamais affichée" in created.text and 'id="copy-key"' in created.text
    assert '<label for="new-key">' in created.text

    seen = api.get(RECORDS, params={"limit": 0}, headers={"Authorization": f"Apikey {secret}"})
    assert seen.status_code == 200 and seen.json()["total_count"] == 18  # restricted, granted to alice

    second = create_key(client, name="tableau de bord", scopes=["read", "manage"])
    page = client.get("/interne/account")
    assert secret not in page.text and secret[:10] in page.text  # never again, but recognisable
    assert secret_in(second.text) not in page.text
    assert 'id="new-key"' not in page.text
    rows = re.findall(r'<tr data-key="(ak_[a-z0-9]+)">\s*<th scope="row">([^<]+)</th>', page.text)
    assert [name for _, name in rows] == ["tableau de bord", "sauvegarde"]  # newest first
    assert "Gestion, Lecture" in page.text and "Jamais" in page.text
    with instance.session() as s:
        key = next(k for k in keys.list_keys(s, services.get_user(s, "alice")) if k.name == "sauvegarde")
        key_id = key.id
        assert [(e.actor, e.target) for e in query(s, action="apikey.create")[1]][-1] == ("alice", f"apikey:{key_id}")
        # "valid until" the chosen day: it works all of that day in France, and the page shows that day
        last = datetime.now(UTC).date() + timedelta(days=30)
        stops = key.expires_at.replace(tzinfo=key.expires_at.tzinfo or UTC).astimezone(ZoneInfo("Europe/Paris"))
        assert (stops.date(), stops.hour, stops.minute) == (last + timedelta(days=1), 0, 0)
    assert format_date(last, "fr") in page.text
    assert dict((name, kid) for kid, name in rows)["sauvegarde"] == key_id

    revoked = client.post(f"/interne/account/apikeys/{key_id}/revoke?lang=en", data={"csrf_token": csrf_of(page.text)},
                          follow_redirects=False)
    assert revoked.status_code == 303
    assert revoked.headers["location"] == f"/interne/account?lang=en&revoked={key_id}"
    after = client.get(revoked.headers["location"])
    assert "The key “sauvegarde” is revoked." in after.text and "Revoked" in after.text
    assert api.get(RECORDS, headers={"Authorization": f"Apikey {secret}"}).status_code == 401
    with instance.session() as s:
        events = query(s, action="apikey.revoke")[1]
        assert [(e.actor, e.target) for e in events] == [("alice", f"apikey:{key_id}")]


def test_forms_without_the_csrf_token_are_refused(site):
    instance, client = site
    sign_in(client)
    refused = client.post("/interne/account/apikeys", data={"name": "forged", "scopes": ["read"]})
    assert refused.status_code == 403 and refused_form(refused.text)  # a page, in the visitor's language
    assert client.post("/interne/account/apikeys", data={"name": "forged", "scopes": ["read"],
                                                         "csrf_token": "forged"}).status_code == 403
    key_id = re.search(r'data-key="(ak_[a-z0-9]+)"', create_key(client, name="mine", scopes=["read"]).text).group(1)
    assert client.post(f"/interne/account/apikeys/{key_id}/revoke").status_code == 403
    with instance.session() as s:
        listed = keys.list_keys(s, services.get_user(s, "alice"))
        assert [(k.name, k.revoked_at) for k in listed] == [("mine", None)]


def test_another_users_key_is_not_found_even_for_an_admin(site):
    instance, client = site
    with instance.session() as s:
        bobs, _ = services.create_api_key(s, services.get_user(s, "bob"), "bob's")
        services.set_role(s, services.get_user(s, "alice"), "admin")
        bob_key = bobs.id
    sign_in(client)
    token = csrf_of(client.get("/interne/account").text)
    for key_id in (bob_key, "ak_unknown"):
        answer = client.post(f"/interne/account/apikeys/{key_id}/revoke", data={"csrf_token": token},
                             follow_redirects=False)
        assert answer.status_code == 404 and "Cette clé d&#39;API n&#39;existe pas." in answer.text
    assert bob_key not in client.get("/interne/account").text  # nor listed
    with instance.session() as s:
        assert keys.get_key(s, bob_key).revoked_at is None
        assert query(s, action="apikey.revoke")[0] == 0


def test_manage_is_offered_only_to_who_may_manage_and_bad_forms_say_why(site):
    instance, client = site
    sign_in(client, "bob")
    page = client.get("/interne/account")
    assert 'value="read"' in page.text and 'value="manage"' not in page.text
    forged = create_key(client, name="x", scopes=["read", "manage"])
    assert forged.status_code == 403 and "Votre rôle ne permet pas de clé de gestion." in forged.text
    for spelled in ("Manage", " MANAGE "):  # the key service reads scopes without case or spaces
        assert create_key(client, name="x", scopes=["read", spelled]).status_code == 403, spelled
    # a form's answer leads its language link to the page, not to the form's POST-only route
    assert 'href="/interne/account?lang=en"' in forged.text
    nameless = create_key(client, name="  ", scopes=["read"])
    assert nameless.status_code == 400 and "Donnez un nom à la clé." in nameless.text
    past = create_key(client, name="old", scopes=["read"], expires="2001-01-01")
    assert past.status_code == 400 and "doit être dans le futur" in past.text
    assert 'value="old"' in past.text  # the form keeps what was typed
    no_scope = create_key(client, name="none")
    assert no_scope.status_code == 400 and "au moins un droit" in no_scope.text
    assert create_key(client, name="x", scopes=["read"], expires="someday").status_code == 400
    with instance.session() as s:
        assert keys.list_keys(s, services.get_user(s, "bob")) == []
    made = create_key(client, name="lecture", scopes=["read"])
    bobs_key = secret_in(made.text)
    seen = script(client).get(RECORDS, headers={"Authorization": f"Apikey {bobs_key}"})
    assert seen.status_code == 404  # a key has its user's rights: bob has no grant


def test_a_key_or_token_cannot_use_the_page(site):
    instance, client = site
    with instance.session() as s:
        _, secret = services.create_api_key(s, services.get_user(s, "alice"), "k", scopes=["manage"])
    answer = script(client).get("/interne/account", headers={"Authorization": f"Apikey {secret}"},
                                follow_redirects=False)
    assert answer.status_code == 403 and "pas avec une clé d&#39;API" in answer.text
    made = script(client).post("/interne/account/apikeys", data={"name": "n", "scopes": ["manage"]},
                               headers={"Authorization": f"Apikey {secret}"})
    assert made.status_code == 403
    with instance.session() as s:
        assert len(keys.list_keys(s, services.get_user(s, "alice"))) == 1


def test_sign_out_everywhere_from_the_page(site):
    _, client = site
    sign_in(client)
    page = client.get("/interne/account")
    answer = client.post("/interne/logout-everywhere?lang=en", data={"csrf_token": csrf_of(page.text)},
                         follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/interne/?lang=en"  # its language kept
    assert client.get("/interne/account", follow_redirects=False).status_code == 303  # to the login page


# -- connected applications -----------------------------------------------------------------
def _authorize(client: TestClient, client_id: str, secret: str) -> dict:
    """alice (signed in on ``client``) lets the application act for her; its tokens."""
    url = f"/oauth2/authorize/?client_id={client_id}&response_type=code&scope=read&state=s"
    page = client.get(url)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    answer = client.post("/oauth2/authorize/", data={**fields, "decision": "allow"}, follow_redirects=False)
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    granted = script(client).post(
        "/oauth2/token/", data={"grant_type": "authorization_code", "code": code},
        headers={"Authorization": f"Basic {basic}"})
    assert granted.status_code == 200, granted.text
    return granted.json()


def test_connected_applications_are_listed_and_revoked(site):
    instance, client = site
    with instance.session() as s:
        board, board_secret = oauth2.register_client(s, "Tableau de bord <DOM>", [APP_URI])
        other, other_secret = oauth2.register_client(s, "Carnet", [APP_URI])
    sign_in(client)
    page = client.get("/interne/account")
    assert "Aucune application n&#39;agit en votre nom." in page.text
    tokens = _authorize(client, board.id, board_secret)
    kept = _authorize(client, other.id, other_secret)
    page = client.get("/interne/account")
    assert "Tableau de bord &lt;DOM&gt;" in page.text and "Carnet" in page.text
    assert f'action="/interne/account/applications/{board.id}/revoke?lang=fr"' in page.text

    app = script(client)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert app.get(RECORDS, params={"limit": 0}, headers=bearer).json()["total_count"] == 18
    answer = client.post(f"/interne/account/applications/{board.id}/revoke", data={"csrf_token": csrf_of(page.text)},
                         follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/interne/account?disconnected=1"
    after = client.get(answer.headers["location"])
    assert "L&#39;application n&#39;a plus accès à votre compte." in after.text
    assert "Tableau de bord" not in after.text and "Carnet" in after.text
    assert app.get(RECORDS, headers=bearer).status_code == 401
    basic = base64.b64encode(f"{board.id}:{board_secret}".encode()).decode()
    refreshed = app.post("/oauth2/token/", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                         headers={"Authorization": f"Basic {basic}"})
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    assert app.get(RECORDS, headers={"Authorization": f"Bearer {kept['access_token']}"}).status_code == 200
    with instance.session() as s:
        events = query(s, action="oauth.revoke_grant")[1]
        assert [(e.actor, e.target, e.detail["login"]) for e in events] == [("alice", f"oauth_client:{board.id}", "alice")]

    # an application alice never authorized (or no longer): not found, and nothing changes
    again = client.post(f"/interne/account/applications/{board.id}/revoke", data={"csrf_token": csrf_of(page.text)})
    assert again.status_code == 404
    assert client.post(f"/interne/account/applications/{other.id}/revoke").status_code == 403  # no CSRF token
    assert app.get(RECORDS, headers={"Authorization": f"Bearer {kept['access_token']}"}).status_code == 200


def test_a_key_may_end_today(site):
    """A key "valid until" today works for the rest of the day in France: the form offers today."""
    _, client = site
    sign_in(client)
    today = datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()
    assert f'min="{today}"' in client.get("/interne/account").text
    made = create_key(client, name="aujourd'hui", scopes=["read"], expires=today)
    assert made.status_code == 200 and secret_in(made.text)


def test_a_key_limited_to_chosen_datasets_reads_only_them(site, refdata):
    """The page offers the datasets its catalogue shows the user (the management API's rule)
    and the key reads those only; a dataset the user cannot see is refused, not told apart."""
    instance, client = site
    with instance.session() as s:
        catalog.create_dataset(s, "departements", "Départements", portals=["public", "internal"])
    operations.load_file(instance, "departements", refdata / "referentiels" / "cog2026_departements.csv", publish=True)
    with instance.session() as s:
        uids = {slug: catalog.get_dataset(s, slug).uid for slug in ("regions", "departements")}
    sign_in(client)
    form = client.get("/interne/account").text
    offered = re.findall(r'name="datasets" value="(da_[a-z0-9]+)"', form)
    assert sorted(offered) == sorted(uids.values())  # sorted by title on the page: Départements, Régions
    assert offered == [uids["departements"], uids["regions"]]

    created = create_key(client, name="régions seulement", scopes=["read"], datasets=[uids["regions"]])
    assert created.status_code == 200, created.text
    secret, api = secret_in(created.text), script(client)
    headers = {"Authorization": f"Apikey {secret}"}
    assert api.get(RECORDS, params={"limit": 0}, headers=headers).json()["total_count"] == 18
    other = api.get(RECORDS.replace("regions", "departements"), headers=headers)
    assert other.status_code in (403, 404), other.text
    assert "limitée à 1 jeu(x) de données : Régions" in client.get("/interne/account").text
    with instance.session() as s:
        (key,) = [k for k in keys.list_keys(s, services.get_user(s, "alice")) if k.name == "régions seulement"]
        assert key.datasets == [uids["regions"]]

    # bob sees only the public departements: a form naming the restricted régions is refused
    client.cookies.clear()
    sign_in(client, "bob")
    assert uids["regions"] not in client.get("/interne/account").text
    refused = create_key(client, name="x", scopes=["read"], datasets=[uids["regions"]])
    assert refused.status_code == 400 and "n&#39;existe pas ou ne vous est plus visible" in refused.text
    with instance.session() as s:
        assert keys.list_keys(s, services.get_user(s, "bob")) == []


def refused_form(page: str) -> bool:
    """The page of a form refused for its CSRF token (``web.routes.refused_form_page``)."""
    return 'role="alert"' in page and ("form has expired" in page or "formulaire a expiré" in page)
