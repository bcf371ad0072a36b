"""Review of 7 December (c): single sign-on bound to (issuer, sub), URL downloads checked
against their addresses, the management API's uploads.

Servers of their own on 127.0.0.1:8170-8179 stand for the remote sources: one trickling its
answer a byte at a time (a download that never ends), one answering a CSV at once.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from portail.auth import services
from portail.auth.audit import query
from portail.auth.errors import AuthError
from portail.auth.models import SsoIdentity, User
from portail.auth.oidc import OidcConfig, provision
from portail.catalog import open_catalog, transaction
from portail.ingest.errors import IngestError
from portail.sources.fetching import allowance, download, public
from tests.conftest import make_instance, operator_client

MGMT = "/api/management/v1"
CSV = b"code;nom\n01;Ain\n"
TRICKLE, PROMPT = "http://127.0.0.1:8170", "http://127.0.0.1:8171"


class Trickle(BaseHTTPRequestHandler):
    """A 200 announcing a large body, then one byte every 50 ms, for as long as it is read."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(1 << 20))
        self.end_headers()
        try:
            for _ in range(1 << 20):
                self.wfile.write(b"a")
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass

    def log_message(self, *args) -> None:
        pass


class Prompt(BaseHTTPRequestHandler):
    """A CSV at once; ``/to-xn`` redirects to a host name IDNA cannot decode."""

    def do_GET(self) -> None:
        if self.path == "/to-xn":
            self.send_response(302)
            self.send_header("Location", "http://xn--a/data.csv")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(CSV)))
        self.end_headers()
        self.wfile.write(CSV)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def servers() -> Iterator[None]:
    running = [ThreadingHTTPServer(("127.0.0.1", 8170), Trickle), ThreadingHTTPServer(("127.0.0.1", 8171), Prompt)]
    for server in running:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield
    for server in running:
        server.shutdown()
        server.server_close()


def test_a_trickling_download_is_cut_off_at_the_fetch_timeout(servers, tmp_path):
    """Each read waited 60 s at most, but a byte every 50 ms kept a download going for ever."""
    started = time.monotonic()
    with pytest.raises(IngestError, match="took longer than the 0.3 seconds allowed"):
        download(f"{TRICKLE}/data.csv", tmp_path, 1 << 30, allowance(["127.0.0.1"]), 0.3)
    assert time.monotonic() - started < 3
    assert list(tmp_path.iterdir()) == []  # no file left
    client = operator_client(make_instance(tmp_path / "home", fetch_allow=["127.0.0.1"], fetch_timeout=0.3))
    created = client.post(f"{MGMT}/datasets", json={"dataset_id": "slow", "title": "S",
                                                    "source_url": f"{TRICKLE}/data.csv"})
    assert created.status_code == 400 and "took longer than the 0.3 seconds" in created.json()["message"]


def test_a_sites_own_ipv6_ranges_are_not_public():
    """Python 3.11 calls them global: RFC 8215's local-use NAT64 prefix (a site's translator to
    its own 10.0.0.0/8), deprecated site-local addresses, SIIT's IPv4-translated addresses."""
    inside = ["64:ff9b:1::a00:1", "64:ff9b:1:ffff::1", "fec0::1", "::ffff:0:7f00:1", "::ffff:0:a00:1"]
    assert [a for a in inside if public(ipaddress.ip_address(a))] == []
    assert public(ipaddress.ip_address("::ffff:0:808:808")) and public(ipaddress.ip_address("64:ff9b::808:808"))
    assert allowance(["10.0.0.0/8"]).admits("lake", ipaddress.ip_address("::ffff:0:a00:1"))


def test_proxies_from_the_environment_are_not_used(servers, tmp_path, monkeypatch):
    """A proxy would open the connections out of the address check's reach: the variables point
    at a port nothing listens on, and the download still goes straight to the source."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:8179")
    monkeypatch.setenv("NO_PROXY", "")
    assert download(f"{PROMPT}/data.csv", tmp_path, 1 << 20, allowance(["127.0.0.1"]), 5).read_bytes() == CSV


def test_a_host_name_idna_refuses_is_a_400_not_a_500(servers, tmp_path):
    """``xn--a`` is no valid A-label: httpx's IDNA decoding raised a UnicodeError, past the
    download's handling, a 500 through the management API (also from a redirect's Location)."""
    client = operator_client(make_instance(tmp_path / "home", fetch_allow=["127.0.0.1"]))
    for url in ("http://xn--a/data.csv", f"{PROMPT}/to-xn"):
        created = client.post(f"{MGMT}/datasets", json={"dataset_id": "idna", "title": "I", "source_url": url})
        assert created.status_code == 400, created.text
        assert created.json()["error_code"] == "IngestError" and "download failed" in created.json()["message"]
    assert not list((tmp_path / "home" / "uploads").glob("fetch-*"))


def test_management_uploads_are_refused_before_their_body_is_parsed(tmp_path):
    """FastAPI parses a multipart body before any dependency: an unauthenticated caller made
    the server parse (and spool to disk) a whole upload, and was told the body was malformed
    rather than 401."""
    from fastapi.testclient import TestClient

    from portail.api import create_app

    client = TestClient(create_app(make_instance(tmp_path / "home")))
    multipart = {"Authorization": "Bearer wrong", "Content-Type": "multipart/form-data; boundary=xyz"}
    oversized = (b'--xyz\r\nContent-Disposition: form-data; name="title"\r\n\r\n' + b"a" * ((1 << 20) + 1)
                 + b"\r\n--xyz--\r\n")
    for path in (f"{MGMT}/datasets/x/data", f"{MGMT}/datasets/x/attachments"):
        for body in (b"garbage", oversized):
            answer = client.post(path, content=body, headers=multipart)
            assert answer.status_code == 401 and answer.json()["error_code"] == "Unauthorized", answer.text
    assert client.get(f"{MGMT}/datasets", headers={"Authorization": "Bearer wrong"}).status_code == 401


# -- single sign-on ---------------------------------------------------------------------------
ISSUER = "https://idp.example"
SSO = OidcConfig(ISSUER, "portail", None)


def sign_in(session, sub: str, login: str, config: OidcConfig = SSO, **claims):
    return provision(session, config, {"sub": sub, "preferred_username": login, **claims})


def as_the_callback(catalog, sub: str, login: str, config: OidcConfig = SSO) -> AuthError | None:
    """A sign-in as the callback runs it: a refusal is committed all the same (the flow spent,
    the refusal audited); the refusal, or None."""
    with transaction(catalog) as session:
        try:
            sign_in(session, sub, login, config)
        except AuthError as refusal:
            return refusal
    return None


def test_a_login_claim_folded_onto_another_login_reaches_no_account(instance):
    """``\\u212aate`` (KELVIN SIGN) lower-cases to ``kate`` and `` kate`` strips to it: names the
    provider holds for other users than its ``kate`` bound (or made) the account ``kate``."""
    with instance.session() as s:
        services.create_user(s, "kate", actor="sso")  # single sign-on's, before identities were kept
    for claim in ("\u212aate", " kate", "kate\t", "\u212aeith"):
        with instance.session() as s, pytest.raises(AuthError, match="Invalid login") as refused:
            sign_in(s, "intruder", claim)
        assert refused.value.status == 400
    with instance.session() as s:
        assert services.get_user(s, "kate").identities == []
        assert s.scalar(select(func.count()).select_from(User).where(User.login == "keith")) == 0
        assert sign_in(s, "k", "Kate").login == "kate"  # ASCII case is the provider's spelling of it
        assert sign_in(s, "k", "K\u00e4te").login == "kate"  # once bound, the claim no longer matters


def test_an_account_awaiting_its_identity_is_bound_only_under_the_address_it_kept(instance):
    """After the upgrade, the first provider user naming themselves ``olga`` bound the account
    single sign-on had made for Olga (and her address, kept from the provider then): the
    address, which a provider user changes only by proving it, must be hers as well."""
    with instance.session() as s:
        services.create_user(s, "olga", email="olga@example.org", actor="sso")  # before identities were kept
    with instance.session() as s, pytest.raises(AuthError, match="ask an administrator"):
        sign_in(s, "intruder", "olga", email="intruder@example.net")
    with instance.session() as s, pytest.raises(AuthError, match="ask an administrator"):
        sign_in(s, "intruder", "olga", email="olga@example.org", email_verified=False)
    with instance.session() as s:
        assert query(s, action="login.failure", target="user:olga")[1][0].detail["reason"] == \
            "login held by an account awaiting its identity, under another address"
        olga = sign_in(s, "o", "olga", email="Olga@Example.org", email_verified=True)
        assert [i.subject for i in olga.identities] == ["o"]


def test_claims_of_an_unexpected_shape_do_not_stop_the_sign_in(instance):
    """The display name and groups are the provider's users' (or its mappers') to write: a name
    too long or holding a NUL refused the sign-in (400), a name or groups claim that is not text
    failed it (a 500)."""
    with instance.session() as s:
        services.create_group(s, "geo")
    odd = [{"name": 12}, {"name": ["A", "B"]}, {"name": "x" * 301}, {"name": "a\x00b"}, {"groups": 7},
           {"groups": {"geo": True}}, {"groups": [None, True, "geo"]}]
    for number, claims in enumerate(odd):
        with instance.session() as s:
            user = sign_in(s, f"s{number}", f"u{number}", **claims)
            assert user.display_name is None and user.login == f"u{number}"
    with instance.session() as s:
        assert [g.name for g in services.get_user(s, "u6").groups] == ["geo"]
        assert sign_in(s, "named", "named", name="Ann Lee").display_name == "Ann Lee"


def test_a_refusal_after_the_account_was_made_leaves_no_half_made_account(instance):
    """The callback commits refusals; one raised while the groups were synchronised (a mapped
    group no name may have) committed the new account, bound, outside its groups."""
    mapped = OidcConfig(ISSUER, "portail", None, group_map={"staff": "Data Team"})
    assert isinstance(as_the_callback(instance.catalog, "lena", "lena", mapped), AuthError)
    with instance.session() as s:
        assert s.scalar(select(func.count()).select_from(User).where(User.login == "lena")) == 0
        assert s.scalar(select(func.count()).select_from(SsoIdentity)) == 0
    assert as_the_callback(instance.catalog, "lena", "lena") is None
    with instance.session() as s:
        assert [i.subject for i in services.get_user(s, "lena").identities] == ["lena"]


@pytest.mark.postgres
def test_two_sign_ins_at_once_bind_one_identity_and_refuse_the_other(pg_catalog_url):
    """On PostgreSQL two callbacks run at once: two identities claiming an account that awaits
    its identity were both bound to it; two claiming one free login, the second failed on the
    unique login (a 500, its flow unspent)."""
    catalog = open_catalog(pg_catalog_url)
    try:
        with transaction(catalog) as s:
            services.create_user(s, "mia", actor="sso")  # single sign-on's, before identities were kept
        for login, first, second, refusal in (("mia", "m1", "m2", "ask an administrator"),
                                              ("noa", "n1", "n2", "please sign in again")):
            session = catalog()
            session.begin()
            sign_in(session, first, login)  # holds its lock, or its new row, until it ends
            outcome: list[AuthError | None] = []
            other = threading.Thread(target=lambda: outcome.append(as_the_callback(catalog, second, login)))
            other.start()
            other.join(0.5)
            assert other.is_alive()  # waits for the first sign-in
            session.commit()
            session.close()
            other.join(10)
            assert refusal in outcome[0].message, outcome
            with transaction(catalog) as s:
                assert [i.subject for i in services.get_user(s, login).identities] == [first]
                assert query(s, action="login.failure", target=f"user:{login}")[0] == (login == "mia")
    finally:
        catalog.kw["bind"].dispose()


def test_an_upgraded_homes_attachments_folder_is_made_private_at_start(tmp_path):
    """f3002ca made the attachments folder private when a file was attached: an upgraded home's,
    0755, stayed readable by every account of the machine until then."""
    folder = tmp_path / "home" / "attachments"
    folder.mkdir(parents=True)
    folder.chmod(0o755)
    make_instance(tmp_path / "home").store.close()
    assert folder.stat().st_mode & 0o777 == 0o750
