"""A data lake for the source-URL tests: a real HTTP server on a free port of 127.0.0.1 (allowed
by ``fetch_allow``) answering a small CSV to any path, and noting in ``received`` the paths and
queries it was sent (a test clears it first). Kept here rather than in one test file, so that a
test file imports no other test file."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

CSV = b"code;nom\n01;Ain\n02;Aisne\n"

received: list[str] = []  # the paths and queries the server was sent


class Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        received.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(CSV)))
        self.end_headers()
        self.wfile.write(CSV)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def lake() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
