"""HTTP Basic authentication (``auth.basic``) through the real app: a user's login and password
read a restricted dataset on v2.1 and v1; refusals look like a bad key's; the form's lockout and
audit apply; the cache of verified pairs never outlives a password change, a disabled account
or a lock."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.auth import passwords, principal_from_request, services as auth, sessions
from portail.auth.audit import recent
from portail.auth.keys import now
from portail.catalog import services
from tests.conftest import Published, published_instance, semicolon_csv

try:
    from portail.auth import basic
except ImportError:  # so that each test runs, and fails, without the feature
    basic = None

PASSWORD = "Correct-horse-42"
ACCENTED = "Mot-de-passe-été-ß-42"
V21 = "/api/explore/v2.1/catalog/datasets/prive"
V1 = "/api/records/1.0/search"


def basic_header(login: str, password: str, encoding: str = "utf-8") -> dict[str, str]:
    token = base64.b64encode(f"{login}:{password}".encode(encoding)).decode("ascii")
    return {"Authorization": f"Basic {token}"}


@pytest.fixture(autouse=True)
def empty_caches():
    if basic is not None:
        basic.forget()
    yield
    if basic is not None:
        basic.forget()


@pytest.fixture
def site(tmp_path):
    path = semicolon_csv(tmp_path / "prive.csv", [{"ville": "Paris", "n": "1"}, {"ville": "Lyon", "n": "2"}])
    instance = published_instance(tmp_path / "home", Published("prive", path, title="Privé"))
    with instance.session() as s:
        auth.create_user(s, "alice", password=PASSWORD)
        auth.create_user(s, "bob", password=PASSWORD)
        auth.create_user(s, "accent", password=ACCENTED)
        auth.create_user(s, "root", role="admin", password=PASSWORD)
        _, key = auth.create_api_key(s, auth.create_user(s, "keyonly"))
        dataset = services.get_dataset(s, "prive")
        auth.set_dataset_security(s, dataset, visibility="restricted")
        for login in ("alice", "accent", "keyonly"):
            auth.grant(s, dataset, "user", login)
    client = TestClient(create_app(instance))
    yield instance, client, key
    instance.store.close()


def refused_as_bad_key(response, client) -> None:
    """The same status and error code as a bad API key on the same path."""
    bad_key = client.get(response.request.url, headers={"Authorization": "Apikey pk_wrong"})
    assert bad_key.status_code == response.status_code == 401
    assert response.json()["error_code"] == bad_key.json()["error_code"] == "InvalidAPIKey"
    assert "www-authenticate" not in response.headers  # no browser login dialog


def test_a_granted_user_reads_the_private_dataset_on_v21_exports_and_v1(site):
    _, client, _ = site
    alice = basic_header("alice", PASSWORD)
    records = client.get(f"{V21}/records", headers=alice)
    assert records.status_code == 200 and records.json()["total_count"] == 2
    export = client.get(f"{V21}/exports/csv", headers=alice)
    assert export.status_code == 200 and "Lyon" in export.text
    assert client.get(V1, params={"dataset": "prive"}, headers=alice).json()["nhits"] == 2
    # requests' and httpx' own ``auth=(login, password)`` send the same header
    assert client.get(f"{V21}/records", auth=("alice", PASSWORD)).json()["total_count"] == 2


def test_an_ungranted_user_and_anonymous_callers_do_not_read_it(site):
    _, client, _ = site
    for headers in (basic_header("bob", PASSWORD), {}):
        assert client.get(f"{V21}/records", headers=headers).status_code in (401, 403, 404)
        assert client.get(f"{V21}/exports/csv", headers=headers).status_code in (401, 403, 404)
        assert client.get(V1, params={"dataset": "prive"}, headers=headers).status_code in (401, 403, 404)
    # bob was recognised (a signed-in caller's quota), just not granted
    assert client.get(V1, params={"dataset": "prive"}, headers=basic_header("bob", PASSWORD)).headers[
        "x-ratelimit-limit"] == "50000"


def test_a_wrong_password_and_an_unknown_login_get_one_answer_like_a_bad_key(site):
    _, client, _ = site
    wrong = client.get(f"{V21}/records", headers=basic_header("alice", "Wrong-horse-42"))
    unknown = client.get(f"{V21}/records", headers=basic_header("nobody", PASSWORD))
    refused_as_bad_key(wrong, client)
    refused_as_bad_key(unknown, client)
    assert wrong.json() == unknown.json()
    v1 = client.get(V1, params={"dataset": "prive"}, headers=basic_header("alice", "Wrong-horse-42"))
    assert v1.status_code == 401 and v1.json()["error"]  # v1 clients read ``error``


@pytest.mark.parametrize("authorization", [
    "Basic",                                                    # no credentials at all
    "Basic !!!not-base64!!!",                                   # not base64
    "Basic YWxpY2U6cGFzcw",                                     # padding missing
    "Basic " + base64.b64encode(b"alice-no-colon").decode(),    # no colon
    "Basic " + base64.b64encode(b":" + PASSWORD.encode()).decode(),  # no login
    "Basic " + base64.b64encode(b"alice:\xe9t\xe9").decode(),  # Latin-1, not UTF-8
    "Basic " + base64.b64encode(b"alice:x").decode() + ", Apikey pk_x",  # two credentials in one header
])
def test_a_malformed_header_is_refused_like_a_bad_key(site, authorization):
    _, client, _ = site
    response = client.get(f"{V21}/records", headers={"Authorization": authorization})
    refused_as_bad_key(response, client)
    assert client.get("/api/explore/v2.1/catalog/datasets", headers={"Authorization": authorization}).status_code == 401


def test_failures_lock_the_account_then_even_the_right_password_is_refused(site):
    instance, client, _ = site
    for attempt in range(passwords.MAX_FAILED_LOGINS):
        assert client.get(f"{V21}/records", headers=basic_header("alice", f"Wrong-horse-{attempt}")).status_code == 401
    locked = client.get(f"{V21}/records", headers=basic_header("alice", PASSWORD))
    refused_as_bad_key(locked, client)
    with instance.session() as s:
        assert auth.authenticate(s, "alice", PASSWORD).outcome == "locked"  # the form's lock too
        failures = recent(s, action="login.failure", target="user:alice")
        assert len(failures) == passwords.MAX_FAILED_LOGINS + 2
        assert {e.detail.get("method") for e in failures[1:]} == {"basic"}
        assert {e.detail["reason"] for e in failures[1:]} == {"wrong password", "locked"}
        assert recent(s, action="user.lock", target="user:alice")
        assert not any("horse" in str(e.detail) for e in recent(s))  # never a password


def test_one_refused_call_is_one_failure_without_the_refusal_memory(site, monkeypatch):
    """The guard's refusal is the route's answer: one look per request. (The refusal memory
    once stood in for that; on a loaded machine its seconds lapsed between the two looks, and a
    call counted two failures, so five wrong passwords locked the account early.)"""
    instance, client, _ = site
    monkeypatch.setattr(basic, "REFUSAL_TTL", timedelta(0))
    for attempt in range(2):
        refused_as_bad_key(client.get(f"{V21}/records", headers=basic_header("alice", f"Wrong-{attempt}")), client)
    with instance.session() as s:
        assert len(recent(s, action="login.failure", target="user:alice")) == 2
        assert not recent(s, action="user.lock", target="user:alice")


def test_a_lock_refuses_a_pair_verified_before(site):
    instance, client, _ = site
    alice = basic_header("alice", PASSWORD)
    assert client.get(f"{V21}/records", headers=alice).status_code == 200
    with instance.session() as s:
        auth.get_user(s, "alice").locked_until = now() + timedelta(minutes=5)
    assert client.get(f"{V21}/records", headers=alice).status_code == 401


def test_a_password_change_refuses_the_old_password_at_once(site):
    instance, client, _ = site
    assert client.get(f"{V21}/records", headers=basic_header("alice", PASSWORD)).status_code == 200
    with instance.session() as s:
        auth.set_password(s, auth.get_user(s, "alice"), "Another-horse-43")
    refused_as_bad_key(client.get(f"{V21}/records", headers=basic_header("alice", PASSWORD)), client)
    assert client.get(f"{V21}/records", headers=basic_header("alice", "Another-horse-43")).status_code == 200


def test_a_disabled_or_deleted_user_is_refused_at_once(site):
    instance, client, _ = site
    for login in ("alice", "accent"):
        password = PASSWORD if login == "alice" else ACCENTED
        assert client.get(f"{V21}/records", headers=basic_header(login, password)).status_code == 200
    with instance.session() as s:
        auth.set_active(s, auth.get_user(s, "alice"), False)
        auth.delete_user(s, auth.get_user(s, "accent"))
    refused_as_bad_key(client.get(f"{V21}/records", headers=basic_header("alice", PASSWORD)), client)
    refused_as_bad_key(client.get(f"{V21}/records", headers=basic_header("accent", ACCENTED)), client)


def test_a_user_without_a_password_cannot_use_basic(site):
    _, client, key = site
    assert client.get(f"{V21}/records", headers={"Authorization": f"Apikey {key}"}).status_code == 200
    for password in ("", PASSWORD):
        refused_as_bad_key(client.get(f"{V21}/records", headers=basic_header("keyonly", password)), client)


def test_a_non_ascii_password_works(site):
    _, client, _ = site
    assert client.get(f"{V21}/records", headers=basic_header("accent", ACCENTED)).json()["total_count"] == 2
    assert client.get(f"{V21}/records", headers=basic_header("ACCENT", ACCENTED)).status_code == 200  # as the form
    # Python's requests sends ``auth=("accent", "…été…")`` in Latin-1 (RFC 7617 names no charset)
    assert client.get(f"{V21}/records", headers=basic_header("accent", ACCENTED, "latin-1")).status_code == 200


def test_verified_pairs_skip_argon2_and_are_not_kept_in_clear(site, monkeypatch):
    _, client, _ = site
    calls = []
    verify = passwords.verify_password
    monkeypatch.setattr(passwords, "verify_password", lambda *a: calls.append(1) or verify(*a))
    for _ in range(5):
        assert client.get(f"{V21}/records", headers=basic_header("alice", PASSWORD)).status_code == 200
    assert len(calls) == 1
    for _ in range(3):  # a refused pair: once per request at most, however often it is looked at
        assert client.get(f"{V21}/records", headers=basic_header("alice", "Wrong-horse-42")).status_code == 401
    assert len(calls) == 2
    assert PASSWORD not in repr(basic._VERIFIED._entries) and all(len(k) == 32 for k in basic._VERIFIED._entries)


def test_a_verified_pair_is_checked_again_after_its_lifetime(site, monkeypatch):
    instance, _, _ = site
    calls = []
    verify = passwords.verify_password
    monkeypatch.setattr(passwords, "verify_password", lambda *a: calls.append(1) or verify(*a))
    headers, at = basic_header("alice", PASSWORD), now()
    for moment in (at, at + basic.CACHE_TTL / 2, at + basic.CACHE_TTL):
        assert principal_from_request(headers, {}, instance.catalog, at=moment).login == "alice"
    assert len(calls) == 2


def test_basic_and_a_query_key_together_are_a_400_and_basic_wins_over_the_cookie(site):
    instance, client, key = site
    both = client.get(f"{V21}/records", params={"apikey": key}, headers=basic_header("alice", PASSWORD))
    assert both.status_code == 400 and both.json()["error_code"] == "InvalidRESTParameterError"
    with instance.session() as s:
        cookie = sessions.open_session(s, auth.get_user(s, "bob")).token
    by_cookie = principal_from_request({}, {}, instance.catalog, cookies={sessions.COOKIE_NAME: cookie})
    by_basic = principal_from_request(basic_header("alice", PASSWORD), {}, instance.catalog,
                                      cookies={sessions.COOKIE_NAME: cookie})
    assert (by_cookie.login, by_basic.login) == ("bob", "alice")
    assert by_basic.scopes is None and by_basic.key_id is None  # the user's full rights, like a session


def test_basic_is_a_header_credential_exempt_from_cookie_csrf_with_the_per_user_quota(site):
    _, client, _ = site
    created = client.post("/api/management/v1/groups", json={"name": "agents"}, headers=basic_header("root", PASSWORD))
    assert created.status_code == 201
    keyed = client.get(f"{V21}/records", headers=basic_header("alice", PASSWORD))
    anonymous = client.get("/api/explore/v2.1/catalog/datasets")
    assert keyed.headers["x-ratelimit-limit"] != anonymous.headers["x-ratelimit-limit"]
    assert int(keyed.headers["x-ratelimit-limit"]) == 50_000  # ``ratelimit_default``, a signed-in caller's


def test_pages_and_the_token_endpoint_leave_basic_alone_and_the_api_refuses_a_client_s(site):
    """Pages are signed in by their cookie: a proxy's own Basic credentials (a staging site) must
    not make them 401s. The OAuth2 token endpoint reads a client's Basic credentials itself. On
    the API, those credentials name no user: a 401, never a silent anonymous."""
    instance, client, _ = site
    proxy = basic_header("proxyuser", "proxypass")
    page = client.get("/", headers=proxy)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    refused_as_bad_key(client.get(f"{V21}/records", headers=proxy), client)
    client_credentials = basic_header("oc_0123456789abcdef", "ocs_secret")
    refused_as_bad_key(client.get(f"{V21}/records", headers=client_credentials), client)
    token = client.post("/oauth2/token/", data={"grant_type": "authorization_code", "code": "x"},
                        headers=client_credentials)
    assert token.status_code in (400, 401) and token.json().get("error") in ("invalid_client", "invalid_grant")


def test_a_site_may_turn_basic_off(tmp_path):
    path = semicolon_csv(tmp_path / "prive.csv", [{"ville": "Paris", "n": "1"}])
    instance = published_instance(tmp_path / "home", Published("prive", path), auth_http_basic=False)
    with instance.session() as s:
        auth.create_user(s, "alice", password=PASSWORD)
        dataset = services.get_dataset(s, "prive")
        auth.set_dataset_security(s, dataset, visibility="restricted")
        auth.grant(s, dataset, "user", "alice")
    client = TestClient(create_app(instance))
    try:
        answer = client.get(f"{V21}/records", headers=basic_header("alice", PASSWORD))
        assert answer.status_code in (401, 404) and answer.json()["error_code"] != "InvalidAPIKey"  # anonymous
        assert not principal_from_request(basic_header("alice", PASSWORD), {}, instance.catalog,
                                          basic_auth=False).is_authenticated
    finally:
        instance.store.close()


def test_the_portal_s_lockout_settings_apply_to_basic(tmp_path):
    """The guard resolves the caller before the route does: both must use the portal's
    ``auth_max_failed_logins`` (here 2, not the default 5) and the caller's address."""
    path = semicolon_csv(tmp_path / "prive.csv", [{"ville": "Paris", "n": "1"}])
    instance = published_instance(tmp_path / "home", Published("prive", path), auth_max_failed_logins=2)
    with instance.session() as s:
        auth.create_user(s, "alice", password=PASSWORD)
    client = TestClient(create_app(instance))
    for attempt in range(2):
        assert client.get(f"{V21}/records", headers=basic_header("alice", f"Wrong-horse-{attempt}")).status_code == 401
    assert client.get(f"{V21}/records", headers=basic_header("alice", PASSWORD)).status_code == 401
    with instance.session() as s:
        assert {e.ip for e in recent(s, action="login.failure", target="user:alice")} == {"testclient"}
        assert auth.authenticate(s, "alice", PASSWORD).outcome == "locked"
    instance.store.close()


def _guessed_in_parallel(catalog, guesses: int = 40) -> set[str]:
    """``guesses`` different wrong passwords for alice from eight threads: their outcomes."""
    from concurrent.futures import ThreadPoolExecutor

    def guess(i: int) -> str:
        try:
            principal_from_request(basic_header("alice", f"Wrong-horse-{i}"), {}, catalog, max_failures=100)
        except Exception as error:  # noqa: BLE001 - the outcome is what is compared
            return getattr(error, "code", type(error).__name__)
        return "ok"

    with ThreadPoolExecutor(8) as pool:
        return set(pool.map(guess, range(guesses)))


def test_guesses_sent_in_parallel_each_count(site):
    """Forty different wrong passwords from eight threads: forty failures counted (the count was
    read, incremented and written back by each, so most were lost and the lockout came late)."""
    instance, _, _ = site
    assert _guessed_in_parallel(instance.catalog) == {"InvalidAPIKey"}
    with instance.session() as s:
        assert auth.get_user(s, "alice").failed_logins == 40


@pytest.mark.postgres
def test_guesses_sent_in_parallel_each_count_on_postgresql(pg_url, tmp_path):
    """The same on the production catalogue, where transactions really run side by side."""
    from portail.config import Settings
    from portail.operations import open_instance

    instance = open_instance(Settings(home=tmp_path / "home", database_url=pg_url))
    try:
        with instance.session() as s:
            auth.create_user(s, "alice", password=PASSWORD)
        assert _guessed_in_parallel(instance.catalog) == {"InvalidAPIKey"}
        with instance.session() as s:
            assert auth.get_user(s, "alice").failed_logins == 40
    finally:
        instance.store.close()
        instance.catalog.kw["bind"].dispose()


def test_parallel_calls_of_one_script_pay_one_verification(site):
    """A script's pair not (or no longer) cached, sent by eight threads at once: one argon2 and
    one ``login.success``, the other calls reading its result (each paid ~0.3 s of CPU and wrote
    its own success before)."""
    from concurrent.futures import ThreadPoolExecutor

    instance, _, _ = site

    def call(_: int) -> str | None:
        return principal_from_request(basic_header("alice", PASSWORD), {}, instance.catalog).login

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(call, range(8))) == {"alice"}
    with instance.session() as s:
        assert len(recent(s, action="login.success", target="user:alice")) == 1


def test_an_account_enabled_again_is_read_at_once(site):
    """A refusal is remembered for a moment (the guard's and the route's look at one call), but
    not past a change of the catalogue: the right password works as soon as the user is enabled."""
    instance, client, _ = site
    with instance.session() as s:
        auth.set_active(s, auth.get_user(s, "alice"), False)
    refused_as_bad_key(client.get(f"{V21}/records", headers=basic_header("alice", PASSWORD)), client)
    with instance.session() as s:
        auth.set_active(s, auth.get_user(s, "alice"), True)
    assert client.get(f"{V21}/records", headers=basic_header("alice", PASSWORD)).status_code == 200


def test_the_api_documentation_is_a_page_that_reads_no_basic_header(site):
    """``/api/docs`` and the OpenAPI description are documents: a staging proxy's Basic header
    sent with them is neither refused nor logged as a failed sign-in; API calls still read it."""
    instance, client, _ = site
    proxy = basic_header("proxyuser", "proxypass")
    for path in ("/api/docs", "/api/explore/v2.1/swagger.json"):
        assert client.get(path, headers=proxy).status_code == 200, path
    with instance.session() as s:
        assert recent(s, action="login.failure") == []
    refused_as_bad_key(client.get(f"{V21}/records", headers=proxy), client)
