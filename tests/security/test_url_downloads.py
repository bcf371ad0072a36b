"""URL downloads, past the address check (``test_fetch_addresses``): cut off at the fetch
timeout however slowly the source trickles, never through a proxy from the environment (it would
open the connections out of the check's reach), a host name IDNA refuses a 400 not a 500, and a
site's own IPv6 ranges (NAT64 local-use, site-local, SIIT) not public.

Servers of their own on 127.0.0.1:8170-8179 stand for the remote sources: one trickling its
answer a byte at a time (a download that never ends), one answering a CSV at once.
"""

from __future__ import annotations

import ipaddress
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from portail.ingest.errors import IngestError
from portail.sources.fetching import allowance, download, public
from tests.conftest import make_instance, operator_client

MGMT = "/api/management/v1"
CSV = b"code;nom\n01;Ain\n"
TRICKLE, PROMPT = "http://127.0.0.1:8170", "http://127.0.0.1:8171"


class Trickle(BaseHTTPRequestHandler):
    """A 200 announcing a large body, then one byte every 50 ms, for as long as it is read;
    ``hung_up`` gets, for each answer, how many bytes of it were sent before its reader closed
    the connection (a download without an overall deadline reads all 1 MB: 14 hours)."""

    hung_up: queue.Queue[int] = queue.Queue()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(1 << 20))
        self.end_headers()
        sent = 0
        try:
            for _ in range(1 << 20):
                self.wfile.write(b"a")
                self.wfile.flush()
                sent += 1
                time.sleep(0.05)
        except OSError:
            Trickle.hung_up.put(sent)

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
    Trickle.hung_up = queue.Queue()  # this test's answers only
    with pytest.raises(IngestError, match="took longer than the 0.3 seconds allowed"):
        download(f"{TRICKLE}/data.csv", tmp_path, 1 << 30, allowance(["127.0.0.1"]), 0.3)
    # the connection closed by the download itself, after a few bytes (~6 at one each 50 ms, and
    # fewer on a busy machine), not left open nor read on: the waiting is a guard against a hang
    assert Trickle.hung_up.get(timeout=30) < 60
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
