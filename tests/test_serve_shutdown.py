"""``portail serve`` stops on SIGTERM (a deploy, a restart) within its grace period, even while a
slow client holds an export open: uvicorn waits for answers under way, for ever unless told
(``Settings.shutdown_grace_seconds``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli import PORTAIL
from tests.conftest import Published, published_instance
from tests.live import free_port, wait_listening

pytestmark = pytest.mark.slow

ROWS = 200_000  # a JSON export of ~16 MB: more than the loopback's socket buffers hold


def numbers_csv(path: Path) -> Path:
    """Numbers only: the load is quick (no text to index) and the export long."""
    with open(path, "w", encoding="utf-8") as out:
        out.write("n;a;b;c\n")
        for i in range(ROWS):
            out.write(f"{i};{i * 0.5};{i % 97};{i * 3}\n")
    return path


def test_sigterm_ends_the_server_within_its_grace_while_a_client_stalls(tmp_path):
    home = tmp_path / "home"
    published_instance(home, Published("nombres", numbers_csv(tmp_path / "nombres.csv"))).store.close()
    port = free_port()
    env = {"PORTAIL_HOME": str(home), "PATH": os.environ.get("PATH", ""), "PORTAIL_SHUTDOWN_GRACE_SECONDS": "2"}
    process = subprocess.Popen([str(PORTAIL), "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    client = None
    try:
        wait_listening(process, port)
        client = socket.create_connection(("127.0.0.1", port))
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.sendall(b"GET /api/explore/v2.1/catalog/datasets/nombres/exports/json HTTP/1.1\r\n"
                       b"Host: 127.0.0.1\r\n\r\n")
        assert client.recv(1024).startswith(b"HTTP/1.1 200")  # the export is under way; then nothing is read
        time.sleep(1)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)  # the grace (2 s) and the shutdown; without one it waits for the client
        said = process.stdout.read().decode(errors="replace")
        assert process.returncode in (0, -signal.SIGTERM), said  # uvicorn raises the signal again once stopped
        assert "Application shutdown complete" in said, said  # stopped, not killed
    finally:
        if client is not None:
            client.close()
        if process.poll() is None:
            process.kill()
            process.wait()
