"""What the review of URL credentials and bounded name lookups found: a first load recorded
whole before loads stopped keeping credentials is named without them when a new creation is
refused; and a download from an address (no name to look up) is not held behind name lookups
stuck on a resolver that never answers.

A real HTTP server at 127.0.0.1:18750 (allowed by ``fetch_allow``) answers a small CSV at
``/data.csv`` and an empty file at ``/empty.csv``.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from portail.catalog import services
from portail.sources.fetching import allowance, download, resolve
from tests.conftest import make_instance, operator_client

MGMT = "/api/management/v1"
LAKE = "http://127.0.0.1:18750"
CSV = b"code;nom\n01;Ain\n02;Aisne\n"


class Lake(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = {"/data.csv": CSV}.get(self.path.split("?", 1)[0], b"")
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module", autouse=True)
def lake() -> Iterator[None]:
    server = ThreadingHTTPServer(("127.0.0.1", 18750), Lake)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield
    server.shutdown()
    server.server_close()


def test_an_unfinished_first_load_recorded_whole_is_named_without_its_credentials(tmp_path):
    """A catalogue written before loads stopped keeping credentials holds the URL whole: the
    409 that says how to finish the first load showed it, token and password included."""
    instance = make_instance(tmp_path / "home", fetch_allow=["127.0.0.1"])
    client = operator_client(instance)
    assert client.post(f"{MGMT}/datasets", json={"dataset_id": "lac", "title": "Lac"}).status_code == 201
    whole = "http://agent:pAssw0rd@127.0.0.1:18750/empty.csv?token=t0ken"
    assert client.post(f"{MGMT}/datasets/lac/data/url", json={"url": whole}).status_code == 400  # 0 records
    with instance.session() as session:  # as a catalogue written before holds it
        services.get_dataset(session, "lac").versions[-1].source_name = whole
    again = client.post(f"{MGMT}/datasets", json={"dataset_id": "lac", "title": "Lac"})
    assert again.status_code == 409, again.text
    said = again.json()["message"]
    assert "pAssw0rd" not in said and "t0ken" not in said, said
    assert "`portail dataset ingest lac URL --publish`" in said, said


@pytest.fixture
def stuck_names(monkeypatch) -> Iterator[None]:
    """``*.stuck.example`` never resolves while the test runs (a resolver that never answers),
    then fails at once so that no lookup thread outlives the test; other names resolve."""
    release = threading.Event()
    real = socket.getaddrinfo

    def lookup(host, port, *args, **kwargs):
        if str(host).endswith(".stuck.example"):
            release.wait(30)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    yield
    release.set()


def test_a_download_from_an_address_is_not_held_behind_stuck_lookups(tmp_path, stuck_names):
    """Lookups stuck on a silent resolver filled ``resolve``'s few threads: a download from an
    allowed address, which has no name to look up, then waited in their queue and failed as
    "resolving 127.0.0.1 took too long" until the resolver gave up on them."""
    for attempt in range(6):  # more than the lookup threads
        with pytest.raises(Exception):
            resolve(f"data{attempt}.stuck.example", 80, 0.05)
    path = download(f"{LAKE}/data.csv", tmp_path, 1 << 20, allowance(["127.0.0.1"]), seconds=2)
    assert path.read_bytes() == CSV
