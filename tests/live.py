"""A real server process for tests that need one (browsers, real API clients, rate limits,
OIDC redirects): uvicorn serving ``create_app`` over an instance home on a free port.

One way to start a server in tests: ``with live_server(home) as base: ...``; and for the
usual case, an instance with some files published then served:
``with serve_published(home, Published(...), ...) as base: ...``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.conftest import Published

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(process: subprocess.Popen, port: int, seconds: float = 60) -> None:
    """Until ``process`` (a server started by a test) accepts connections on ``port``; a
    ``RuntimeError`` with the end of its output if it exits first or never listens."""
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            output = process.stderr or process.stdout
            raise RuntimeError(f"server exited: {output.read().decode(errors='replace')[-2000:] if output else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start within {seconds:g} s") from None
            time.sleep(0.1)


@contextmanager
def live_server(home: Path, *, env: dict[str, str] | None = None, workers: int = 1,
                port: int | None = None) -> Iterator[str]:
    """Serve the instance at ``home``; yields ``http://127.0.0.1:<port>``. ``env`` adds
    PORTAIL_* settings; ``workers`` > 1 runs several processes (shared state must then live
    in the catalogue or Redis, as in production)."""
    port = port or free_port()
    environment = {"PORTAIL_HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                   "PORTAIL_REFDATA": os.environ.get("PORTAIL_REFDATA", ""), **(env or {})}
    command = [sys.executable, "-m", "uvicorn", "portail.api.app:create_app", "--factory",
               "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_listening(process, port)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def serve_published(home: Path, *datasets: Published, env: dict[str, str] | None = None) -> Iterator[str]:
    """An instance at ``home`` with each dataset created, loaded and published
    (``conftest.published_instance``: its title, metadata, labels and annotations set first),
    then served by ``live_server``; yields its base URL."""
    from tests.conftest import published_instance

    instance = published_instance(home, *datasets)
    instance.store.close()  # the server process opens its own
    with live_server(home, env=env) as base:
        yield base
