"""A URL source is fetched from public addresses only, unless ``fetch_allow`` lists more: a
management token must not make the server read its own services (Redis at 127.0.0.1:6379),
the cloud metadata address or intranet hosts back as a dataset (SSRF).

Real HTTP servers on loopback addresses stand for the internal services: one at
127.0.0.1:8120 (also redirecting), one at 127.0.0.2:8121, one at [::1]:8122, and an HTTPS one
at 127.0.0.1:8123. Each would
answer a download; the refusals are the address check's, never a connection that failed.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from portail.catalog import services
from portail.config import Settings, SettingsError, load_settings
from portail.ingest.errors import IngestError
from portail.sources.fetching import allowance, download, public
from tests.cli import invoke
from tests.conftest import make_instance, operator_client

MGMT = "/api/management/v1"
CSV = b"code;nom\n01;Ain\n02;Aisne\n"
V4, OTHER_V4, V6 = "http://127.0.0.1:8120", "http://127.0.0.2:8121", "http://[::1]:8122"


class Handler(BaseHTTPRequestHandler):
    """``/data.csv`` answers a small CSV; ``/redirect?to=URL`` a 302 to that URL."""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", parse_qs(parts.query)["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(CSV)))
        self.end_headers()
        self.wfile.write(CSV)

    def log_message(self, *args) -> None:
        pass


class V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


@pytest.fixture(scope="module", autouse=True)
def servers() -> Iterator[None]:
    running = [ThreadingHTTPServer(("127.0.0.1", 8120), Handler), ThreadingHTTPServer(("127.0.0.2", 8121), Handler),
               V6Server(("::1", 8122), Handler)]
    for server in running:
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield
    for server in running:
        server.shutdown()
        server.server_close()


def redirect(start: str, to: str) -> str:
    return f"{start}/redirect?to={to}"


def test_loopback_is_refused_through_the_management_api_and_nothing_changes(tmp_path):
    client = operator_client(make_instance(tmp_path / "home"))
    created = client.post(f"{MGMT}/datasets", json={"dataset_id": "dep", "title": "D", "source_url": f"{V4}/data.csv"})
    assert created.status_code == 400 and created.json()["error_code"] == "IngestError"
    message = created.json()["message"]
    assert "127.0.0.1 is not a public address" in message and "PORTAIL_FETCH_ALLOW" in message, message
    assert client.get(f"{MGMT}/datasets/dep").status_code == 404  # nothing created

    client.post(f"{MGMT}/datasets", json={"dataset_id": "dep", "title": "D"})
    first = client.post(f"{MGMT}/datasets/dep/data", params={"publish_now": True},
                        files={"file": ("dep.csv", CSV, "text/csv")})
    assert first.status_code == 200, first.text
    for url in (f"{V4}/data.csv", "http://localhost:8120/data.csv", "http://agent:s3cret@127.0.0.1:8120/data.csv",
                "http://169.254.169.254/latest/meta-data/", "http://2130706433:8120/data.csv"):
        refused = client.post(f"{MGMT}/datasets/dep/data/url", json={"url": url, "publish": True})
        assert refused.status_code == 400 and "not a public address" in refused.json()["message"], (url, refused.text)
        assert "s3cret" not in refused.text
    said = client.post(f"{MGMT}/datasets/dep/data/url", json={"url": "http://localhost:8120/data.csv"}).json()
    assert "localhost is 127.0.0.1, which is not a public address" in said["message"]  # the name resolved, then refused
    scheme = client.post(f"{MGMT}/datasets/dep/data/url", json={"url": "file:///etc/passwd"})
    assert scheme.status_code == 400 and "only http and https" in scheme.json()["message"]
    malformed = client.post(f"{MGMT}/datasets/dep/data/url", json={"url": "http://agent:s3cret@[::1"})
    assert malformed.status_code == 400 and "not a valid URL" in malformed.json()["message"]
    assert "s3cret" not in malformed.text
    shown = client.get(f"{MGMT}/datasets/dep").json()
    assert shown["current_version"] == 1 and len(shown["versions"]) == 1  # refused before any version was started
    assert not list((tmp_path / "home" / "uploads").glob("fetch-*"))


def test_allowed_networks_and_names_are_fetched_and_redirects_are_checked_at_every_hop(tmp_path):
    instance = make_instance(tmp_path / "home", fetch_allow=["127.0.0.1", "LOCALHOST."])
    client = operator_client(instance)
    created = client.post(f"{MGMT}/datasets", json={"dataset_id": "dep", "title": "D", "source_url": f"{V4}/data.csv"})
    assert created.status_code == 201 and created.json()["versions"][0]["records_count"] == 2, created.text
    by_name = client.post(f"{MGMT}/datasets/dep/data/url", json={"url": "http://localhost:8120/data.csv"})
    assert by_name.status_code == 200, by_name.text
    # Allowed 127.0.0.1 redirecting to 127.0.0.2, which is not: refused, naming where it led.
    hop = client.post(f"{MGMT}/datasets/dep/data/url", json={"url": redirect(V4, f"{OTHER_V4}/data.csv")})
    assert hop.status_code == 400, hop.text
    assert f"redirected to {OTHER_V4}/data.csv" in hop.json()["message"]
    assert "127.0.0.2 is not a public address" in hop.json()["message"]
    followed = client.post(f"{MGMT}/datasets/dep/data/url", json={"url": redirect(V4, "http://localhost:8120/data.csv")})
    assert followed.status_code == 200, followed.text
    with instance.session() as session:
        assert [v.number for v in services.get_dataset(session, "dep").versions if v.status == "ready"] == [1, 2, 3]
    with pytest.raises(IngestError, match="::1 is not a public address"):  # an allowance is per address family
        download(f"{V6}/data.csv", tmp_path, 1 << 20, allowance(instance.settings.fetch_allow))


def test_ipv6_loopback_and_ipv4_carried_in_ipv6_are_refused(tmp_path):
    none, v6 = allowance([]), allowance(["::1"])
    for url in (f"{V6}/data.csv", "http://[::ffff:127.0.0.1]:8120/data.csv", "http://[::ffff:7f00:2]:8121/data.csv"):
        with pytest.raises(IngestError, match="not a public address"):
            download(url, tmp_path, 1 << 20, none)
    assert download(f"{V6}/data.csv", tmp_path, 1 << 20, v6).read_bytes() == CSV
    mapped = download("http://[::ffff:127.0.0.1]:8120/data.csv", tmp_path, 1 << 20, allowance(["127.0.0.0/8"]))
    assert mapped.read_bytes() == CSV  # allowed by the IPv4 network it carries
    refused = ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
               "224.0.0.1", "255.255.255.255", "::", "::1", "fe80::1", "fc00::1", "ff02::1", "::ffff:10.0.0.1",
               "::127.0.0.1", "2002:7f00:1::", "64:ff9b::a9fe:a9fe"]
    assert [a for a in refused if public(ipaddress.ip_address(a))] == []
    assert all(public(ipaddress.ip_address(a)) for a in ("8.8.8.8", "2001:4860:4860::8888", "::ffff:8.8.8.8"))


def test_https_is_checked_against_the_name_while_connecting_to_the_checked_address(tmp_path, monkeypatch):
    """The backend connects to the address it checked; TLS still verifies the URL's host name
    (SNI and the certificate: this one names ``localhost`` only, no address)."""
    cert, key = _self_signed(tmp_path, "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 8123), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trusted as a company CA would be
    try:
        by_name = download("https://localhost:8123/data.csv", tmp_path, 1 << 20, allowance(["localhost"]))
        assert by_name.read_bytes() == CSV
        with pytest.raises(IngestError, match="download failed: .*CERTIFICATE_VERIFY_FAILED"):  # no such name in it
            download("https://127.0.0.1:8123/data.csv", tmp_path, 1 << 20, allowance(["127.0.0.1"]))
        with pytest.raises(IngestError, match="localhost is 127.0.0.1, which is not a public address"):
            download("https://localhost:8123/data.csv", tmp_path, 1 << 20, allowance([]))
    finally:
        server.shutdown()
        server.server_close()


def _self_signed(folder, name: str):
    """A certificate for ``name`` and its key, as PEM files."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_the_command_line_refuses_then_follows_the_setting(tmp_path):
    env = {"PORTAIL_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    refused = invoke(["dataset", "create", "dep", "--title", "D", "--from", f"{V4}/data.csv"], env)
    assert refused.exit_code == 1
    assert f"{V4}/data.csv: download refused: 127.0.0.1 is not a public address" in " ".join(refused.output.split())
    assert invoke(["dataset", "show", "dep"], env).exit_code == 1  # nothing created
    malformed = invoke(["dataset", "create", "dep", "--title", "D", "--from", "http://[::1"], env)
    assert malformed.exit_code == 1 and "Error: not a valid URL" in malformed.output, malformed.output
    allowed = invoke(["dataset", "create", "dep", "--title", "D", "--from", f"{V4}/data.csv"],
                     {**env, "PORTAIL_FETCH_ALLOW": '["127.0.0.0/8"]'})
    assert allowed.exit_code == 0, allowed.output


def test_the_setting_refuses_what_is_neither_a_network_nor_a_host(monkeypatch, tmp_path):
    assert Settings(fetch_allow=[" 10.1.2.3/8 ", "::1", "Lac.Intranet."]).fetch_allow == \
        ["10.0.0.0/8", "::1/128", "lac.intranet"]
    monkeypatch.setenv("PORTAIL_HOME", str(tmp_path))
    for value, said in (('["http://lac/"]', "neither a network"), ("10.0.0.0/8", "PORTAIL_FETCH_ALLOW: not JSON")):
        monkeypatch.setenv("PORTAIL_FETCH_ALLOW", value)
        with pytest.raises(SettingsError, match=said):
            load_settings()


@pytest.fixture
def silent_dns() -> Iterator[tuple[str, int]]:
    """A DNS server on UDP 127.0.0.1:18720 that answers no query while the test runs, then
    answers each (an empty datagram) so that no lookup is left waiting on it."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 18720))
    yield server.getsockname()
    server.setblocking(False)
    try:
        while True:
            _, client = server.recvfrom(512)
            server.sendto(b"", client)
    except BlockingIOError:
        server.close()


def test_a_resolver_that_never_answers_ends_at_the_downloads_deadline(tmp_path, monkeypatch, silent_dns):
    """The system resolver asks a DNS server that never answers: the download still ends at
    its deadline, and the lookups given up hold no more than ``resolve``'s few threads."""

    def ask_silent_server(host: str, port: int, *args, **kwargs):  # getaddrinfo, through a real DNS query
        query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
        query += b"".join(bytes([len(label)]) + label.encode() for label in host.split(".")) + b"\x00\x00\x01\x00\x01"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(3)  # as a resolver's own give-up, long after the download's
            client.sendto(query, silent_dns)
            try:
                client.recvfrom(512)
            except TimeoutError:
                pass
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", ask_silent_server)
    for attempt in range(6):  # more than resolve's threads: those beyond wait, then give up too
        with pytest.raises(IngestError) as refused:
            download(f"http://data{attempt}.example/data.csv", tmp_path, 1 << 20, allowance([]), seconds=0.3)
        said = str(refused.value)
        assert "took longer than the 0.3 seconds allowed" in said or "took too long" in said, said
    lookups = [t for t in threading.enumerate() if t.name.startswith("portail-resolve")]
    assert 0 < len(lookups) <= 4
    assert all(t.daemon for t in lookups)  # those still stuck do not hold the process's exit
    assert not list(tmp_path.glob("fetch-*"))
