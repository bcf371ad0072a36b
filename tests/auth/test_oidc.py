"""OpenID Connect sign-in against a real provider process on loopback (tests/auth/oidc_provider.py),
through the real redirects: Portail → provider login form → callback → session cookie."""

from __future__ import annotations

import html
import json
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from portail.auth import services, sessions
from portail.auth.audit import query
from tests.auth.oidc_process import provider
from tests.conftest import fast_passwords, make_instance
from tests.live import live_server


@pytest.fixture(scope="module")
def sso(tmp_path_factory):
    home = tmp_path_factory.mktemp("sso") / "home"
    with provider() as issuer:
        instance = make_instance(home)
        with fast_passwords(), instance.session() as s:
            services.create_group(s, "idp-other")  # exists under the IdP's name, but a map is configured
            bob = services.create_user(s, "bob", role="publisher", password="Correct-horse-42")
            services.link_identity(s, bob, issuer, "sub-bob")  # a local account an administrator bound
            stale = services.create_group(s, "statisticiens")
            services.add_member(s, stale, bob)  # the IdP says bob is in no group
            services.create_user(s, "admin", role="admin", password="Correct-horse-42")  # no identity bound
        instance.store.close()
        env = {"PORTAIL_OIDC_ISSUER": issuer, "PORTAIL_OIDC_CLIENT_ID": "portail", "PORTAIL_OIDC_CLIENT_SECRET": "s3cret",
               "PORTAIL_OIDC_GROUP_MAP": json.dumps({"idp-stats": "statisticiens"}),
               "PORTAIL_SESSION_COOKIE_SECURE": "false", "PORTAIL_LOCAL_LOGIN_DISABLED_PORTALS": '["internal"]'}
        with live_server(home, env=env) as base:
            yield base, home


def sso_login(base: str, user: str, next_path: str = "/interne/", headers: dict[str, str] | None = None,
              client: httpx.Client | None = None) -> tuple[httpx.Client, httpx.Response]:
    """Sign ``user`` in at the provider, in a new browser or in ``client``'s."""
    client = client or httpx.Client(follow_redirects=True, timeout=30, headers=headers)
    form = client.get(f"{base}/interne/login/sso", params={"next": next_path})
    assert form.status_code == 200 and 'name="username"' in form.text
    hops = [str(r.url) for r in form.history]
    assert urlparse(hops[-1]).path == "/authorize" or "/authorize" in str(form.url)
    sent = parse_qs(urlparse(str(form.url)).query)
    assert sent["code_challenge_method"] == ["S256"] and sent["nonce"][0] and sent["state"][0]
    fields = {k: v[0] for k, v in sent.items()}
    done = client.post(str(form.url).split("?")[0], data={**fields, "username": user})
    return client, done


@pytest.mark.slow
def test_sso_signs_in_provisions_and_maps_groups(sso):
    base, home = sso
    client, done = sso_login(base, "alice", "/interne/explore/")
    assert done.status_code == 200 and str(done.url) == f"{base}/interne/explore/"
    assert "alice" in done.text  # signed in on the private portal
    inst = make_instance(home)
    with inst.session() as s:
        alice = services.get_user(s, "alice")
        assert alice.role == "viewer" and alice.password_hash is None and alice.email == "alice@example.org"
        assert [g.name for g in alice.groups] == ["statisticiens"]  # mapped; idp-other is not in the map
        assert query(s, action="login.success", actor="alice")[0] == 1
        assert [i.subject for i in alice.identities] == ["sub-alice"]  # bound at creation
    inst.store.close()


@pytest.mark.slow
def test_sso_group_mapping_follows_the_idp(sso):
    base, home = sso
    _, done = sso_login(base, "bob")
    assert done.status_code == 200
    inst = make_instance(home)
    with inst.session() as s:
        bob = services.get_user(s, "bob")
        assert bob.role == "publisher" and [g.name for g in bob.groups] == []  # left the mapped group
    inst.store.close()


@pytest.mark.slow
def test_a_provider_user_naming_themselves_admin_is_refused_the_admin_account(sso):
    """A provider user sets their own ``preferred_username``: one who chose ``admin`` signed in
    as the administrator. Their identity is bound to no account and the login is a local one's:
    refused, no session, the refusal audited (committed, though the sign-in failed)."""
    from portail.auth.models import LoginSession

    base, home = sso
    client, done = sso_login(base, "admin")
    assert done.status_code == 401
    assert "portail_session" not in client.cookies
    assert client.get(f"{base}/interne/").url.path == "/interne/login"
    inst = make_instance(home)
    with inst.session() as s:
        admin = services.get_user(s, "admin")
        assert s.query(LoginSession).filter_by(user_id=admin.id).count() == 0 and admin.identities == []
        _, events = query(s, action="login.failure", target="user:admin")
        reference = events[0].detail["reference"]
        assert events[0].detail == {"reason": "login held by an account with a password", "via": "oidc",
                                    "issuer": events[0].detail["issuer"], "subject": "sub-admin",
                                    "reference": reference}
        assert query(s, action="login.success", target="user:admin")[0] == 0
    inst.store.close()
    # the visitor reads what to do and the reference the administrator finds the event by, in the
    # page's language; not that a login ``admin`` exists here (which kind of account holds it)
    assert shown_error(done) == ("La connexion par le compte de l'institution n'a pas abouti : demandez à un "
                                 "administrateur de relier votre identité à un compte, en citant la référence "
                                 f"{reference}")
    _, english = sso_login(base, "admin", headers={"Accept-Language": "en"})
    assert english.status_code == 401 and "admin" not in shown_error(english).replace("administrator", "")
    assert shown_error(english).startswith("Single sign-on could not sign you in here: ask an administrator to link "
                                           "your identity to an account, quoting the reference SSO-")
    assert shown_error(english).rpartition(" ")[2] != reference  # each refusal its own


def shown_error(page: httpx.Response) -> str:
    """The refusal a sign-in page shows (its alert), unescaped."""
    return html.unescape(page.text.split('<p class="error" role="alert">')[1].split("</p>")[0])


@pytest.mark.slow
def test_a_wrong_nonce_or_a_replayed_state_is_refused(sso):
    base, _ = sso
    client, done = sso_login(base, "mallory")
    assert done.status_code == 401 and "mallory" not in client.cookies.get("portail_session", "")
    assert shown_error(done).startswith("Le jeton du fournisseur d'identité n'est pas valide (")
    assert client.get(f"{base}/interne/").url.path == "/interne/login"
    replay = client.get(f"{base}/interne/login/sso/callback", params={"state": "forged", "code": "x"})
    assert replay.status_code == 401
    # a state of any text (the link's) is compared as bytes: a str one not ASCII failed, a 500
    for forged in ("forg%C3%A9.%C3%A9", "a.%FF", ".", "%00.%00"):
        assert client.get(f"{base}/interne/login/sso/callback?state={forged}&code=x").status_code == 401


def provider_callback(client: httpx.Client, base: str, user: str) -> str:
    """The callback link the provider sends ``user`` back with, from a sign-in started in
    ``client``'s browser and not followed (as one stopping at the provider's redirect)."""
    form = client.get(f"{base}/interne/login/sso", params={"next": "/interne/"})
    fields = {k: v[0] for k, v in parse_qs(urlparse(str(form.url)).query).items()}
    redirect = client.post(str(form.url).split("?")[0], data={**fields, "username": user}, follow_redirects=False)
    return redirect.headers["location"]


@pytest.mark.slow
def test_a_callback_link_opened_in_another_browser_signs_nobody_in(sso):
    """Login CSRF (RFC 6749 10.12): one stopped their own sign-in at the provider's redirect and
    sent that callback link; whoever opened it was signed in to the sender's account, and what
    they did next (an API key made, a file uploaded) was the sender's to read. The flow is bound
    to the browser that started it; another one is refused and leaves it unspent."""
    base, home = sso
    with httpx.Client(follow_redirects=True, timeout=30) as sender, \
            httpx.Client(follow_redirects=True, timeout=30) as victim:
        callback = provider_callback(sender, base, "bob")
        assert urlparse(callback).path == "/interne/login/sso/callback"
        inst = make_instance(home)
        with inst.session() as s:
            before = query(s, action="login.success", target="user:bob")[0]
        opened = victim.get(callback)
        assert opened.status_code == 401 and "portail_session" not in victim.cookies
        with inst.session() as s:
            assert query(s, action="login.success", target="user:bob")[0] == before
        inst.store.close()
        mine = sender.get(callback)  # the browser that started it finishes it
        assert mine.status_code == 200 and str(mine.url) == f"{base}/interne/" and "portail_session" in sender.cookies


@pytest.mark.slow
def test_a_callback_link_opened_in_a_browser_with_its_own_sign_in_under_way_signs_nobody_in(sso):
    """The state is bound to the browser's key, not to its having one: a victim with a sign-in of
    their own under way (their browser holding its key) is refused the sender's link as well,
    and both sign-ins still finish, each in its own browser, as its own user."""
    base, home = sso
    with httpx.Client(follow_redirects=True, timeout=30, headers={"Accept-Language": "en"}) as sender, \
            httpx.Client(follow_redirects=True, timeout=30, headers={"Accept-Language": "en"}) as victim:
        senders = provider_callback(sender, base, "bob")
        victims = provider_callback(victim, base, "alice")
        assert "portail_sso_browser" in victim.cookies
        opened = victim.get(senders)
        assert opened.status_code == 401 and "portail_session" not in victim.cookies
        assert shown_error(opened) == "This sign-in link has expired; please sign in again"
        assert victim.get(victims).status_code == 200 and sender.get(senders).status_code == 200
        inst = make_instance(home)
        with inst.session() as s:
            assert [sessions.find_session(s, b.cookies["portail_session"]).user.login
                    for b in (victim, sender)] == ["alice", "bob"]
        inst.store.close()


@pytest.mark.slow
def test_two_sign_ins_started_in_two_tabs_of_one_browser_both_finish(sso):
    """A second sign-in keeps the browser's key: a new one would leave the first tab's state
    bound to a key its browser no longer holds, refused when its user came back to it."""
    base, _ = sso
    with httpx.Client(follow_redirects=True, timeout=30) as browser:
        first, second = provider_callback(browser, base, "alice"), provider_callback(browser, base, "alice")
        assert browser.get(second).status_code == 200
        finished = browser.get(first)
        assert finished.status_code == 200 and finished.url.path == "/interne/"


@pytest.mark.slow
def test_a_browser_that_kept_no_cookie_is_told_to_allow_cookies(sso):
    """Cookies refused (or a ``Secure`` one dropped over plain HTTP): the callback comes back
    without the sign-in's key. "This link has expired; sign in again" sent its visitor round
    the same refusal without end; it names the cookie now, in the page's language."""
    base, _ = sso
    for language, said in (("en", "This browser did not keep the sign-in's cookie: allow cookies for this site, "
                                  "then sign in again"),
                           ("fr", "Ce navigateur n'a pas gardé le cookie de la connexion : autorisez les cookies "
                                  "pour ce site, puis connectez-vous à nouveau")):
        with httpx.Client(follow_redirects=True, timeout=30, headers={"Accept-Language": language}) as browser:
            callback = provider_callback(browser, base, "alice")
            browser.cookies.clear()
            refused = browser.get(callback)
            assert refused.status_code == 401 and "portail_session" not in browser.cookies
            assert shown_error(refused) == said


@pytest.mark.slow
def test_a_sign_in_ends_the_session_the_browser_had(sso):
    """Each sign-in opens a session of a new token (a cookie planted before it is never the one
    signed in: no fixation), and ends the one the browser held: replaced in the browser but
    kept in the catalogue, it worked on to its expiry for whoever had read that cookie (someone
    else's session, on a shared computer). Its ``logout`` event names the sign-in that ended it:
    without, ``portail audit`` said alice signed out, where bob signed in in her browser."""
    base, home = sso
    client = httpx.Client(follow_redirects=True, timeout=30)
    client.cookies.set("portail_session", "planted", domain="127.0.0.1", path="/")
    client, _ = sso_login(base, "alice", client=client)
    alices = client.cookies["portail_session"]
    assert alices != "planted"
    _, again = sso_login(base, "bob", client=client)
    assert again.status_code == 200 and client.cookies["portail_session"] != alices
    assert client.get(f"{base}/interne/").url.path == "/interne/"  # bob's, signed in
    with httpx.Client(timeout=30, cookies={"portail_session": alices}, follow_redirects=True) as stale:
        assert stale.get(f"{base}/interne/").url.path == "/interne/login"
    client.close()
    inst = make_instance(home)
    with inst.session() as s:
        assert [e.detail for e in query(s, action="logout", actor="alice")[1]][:1] == [{"replaced_by": "user:bob"}]
    inst.store.close()


@pytest.mark.slow
def test_the_callback_repeats_only_the_error_codes_the_protocols_define(sso):
    """The callback's ``error`` was shown as sent, on the portal's own page: a crafted link made
    it say anything ("your account is locked: call …")."""
    base, _ = sso
    callback = f"{base}/interne/login/sso/callback"
    with httpx.Client(timeout=30, headers={"Accept-Language": "en"}) as client:
        spoofed = client.get(callback, params={"error": "Your account is locked: call +33 1 23 45 67 89",
                                               "state": "x"})
        assert spoofed.status_code == 401 and "+33" not in spoofed.text
        assert shown_error(spoofed) == "The identity provider refused the sign-in"
        denied = client.get(callback, params={"error": "access_denied", "state": "x"})
        assert shown_error(denied) == "The identity provider refused the sign-in (access_denied)"
        french = client.get(callback, params={"error": "access_denied", "lang": "fr"})
        assert shown_error(french) == "Le fournisseur d'identité a refusé la connexion (access_denied)"


@pytest.mark.slow
def test_local_accounts_are_off_on_the_internal_portal(sso):
    base, _ = sso
    with httpx.Client(timeout=30) as client:
        page = client.get(f"{base}/interne/login")
        assert "/interne/login/sso" in page.text and 'name="password"' not in page.text
        token = client.get(f"{base}/login").text.split('name="csrf_token" value="')[1].split('"')[0]
        refused = client.post(f"{base}/interne/login", data={"login": "bob", "password": "Correct-horse-42",
                                                              "csrf_token": token})
        assert refused.status_code == 403


def test_without_a_group_map_a_sign_in_takes_back_the_groups_a_sign_in_gave(tmp_path):
    """Without a map, the provider's groups join the groups of those names here; leaving one at
    the provider kept its membership (and the group's grants) for good. A sign-in now takes back
    what a sign-in gave, never a membership an administrator made."""
    from portail.auth.oidc import OidcConfig, provision

    instance = make_instance(tmp_path / "home")
    config = OidcConfig("https://idp.example", "portail", None)
    with instance.session() as s:
        for name in ("stats", "rh", "direction"):
            services.create_group(s, name)
        services.link_identity(s, services.create_user(s, "carol"), "https://idp.example", "1")
        services.add_member(s, services.get_group(s, "direction"), services.get_user(s, "carol"))  # an admin's
    with instance.session() as s:
        user = provision(s, config, {"sub": "1", "preferred_username": "carol", "groups": ["stats", "rh", "absent"]})
        assert sorted(g.name for g in user.groups) == ["direction", "rh", "stats"]
    with instance.session() as s:
        user = provision(s, config, {"sub": "1", "preferred_username": "carol", "groups": ["stats", "direction"]})
        assert sorted(g.name for g in user.groups) == ["direction", "stats"]  # left rh at the provider
    with instance.session() as s:
        user = provision(s, config, {"sub": "1", "preferred_username": "carol", "groups": []})
        assert sorted(g.name for g in user.groups) == ["direction"]  # the administrator's stays
    with instance.session() as s:  # an administrator adding a member a sign-in put there makes it theirs
        user = provision(s, config, {"sub": "1", "preferred_username": "carol", "groups": ["stats"]})
        assert services.add_member(s, services.get_group(s, "stats"), user) is True
    with instance.session() as s:
        user = provision(s, config, {"sub": "1", "preferred_username": "carol", "groups": []})
        assert sorted(g.name for g in user.groups) == ["direction", "stats"]
    instance.store.close()


def test_migration_0014_gives_the_sign_ins_memberships_to_sign_ins(catalog):
    """Memberships made before 0014 are a sign-in's when the audit trail's last adding of them
    was by ``sso``: else the groups people had left at the provider stayed theirs for good."""
    from portail.catalog import transaction
    from portail.catalog.db import migrate
    from tests.catalog.downgrades import downgrade

    with transaction(catalog) as s:
        dan = services.create_user(s, "dan")
        for name in ("stats", "rh", "direction"):
            services.create_group(s, name)
        services.add_member(s, services.get_group(s, "stats"), dan, actor="sso")
        services.add_member(s, services.get_group(s, "rh"), dan, actor="sso")
        services.remove_member(s, services.get_group(s, "rh"), dan, actor="sso")
        services.add_member(s, services.get_group(s, "rh"), dan, actor="admin")  # the administrator's since
        services.add_member(s, services.get_group(s, "direction"), dan)  # the command line's
    engine = catalog.kw["bind"]
    with engine.begin() as connection:  # the catalogue as revision 0013 left it
        downgrade(connection, "0013")
    migrate(engine)
    with transaction(catalog) as s:
        assert services.groups_made_via(s, services.get_user(s, "dan"), "sso") == {"stats"}


def test_no_account_may_take_the_login_single_sign_on_acts_under(tmp_path):
    """The audit trail names what a sign-in did by the actor ``sso`` (migration 0014 reads it):
    an account of that login would have its memberships read as a sign-in's."""
    instance = make_instance(tmp_path / "home")
    with instance.session() as s:
        with pytest.raises(services.AuthError, match="reserved"):
            services.create_user(s, " SSO ")
    instance.store.close()
