"""The OpenID Connect provider of tests/auth/oidc_provider.py started as its own process on a
free loopback port, with its users: the ``provider`` context manager, for the tests that sign
in through it (sign-in, cookie prefixes, browser host cookies). Kept here rather than in one
test file, so that a test file imports no other test file."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

from tests.live import ROOT, free_port

USERS = {"alice": {"groups": ["idp-stats", "idp-other"]}, "bob": {"groups": []},
         "mallory": {"nonce_override": "replayed"}, "admin": {"groups": []}}


@contextmanager
def provider():
    port = free_port()
    # Auth0's form, the slash its tokens' ``iss`` keeps: compared with the configured issuer
    # stripped of it, every sign-in of such a provider was refused
    issuer = f"http://127.0.0.1:{port}/"
    env = {"PATH": os.environ.get("PATH", ""), "OIDC_ISSUER": issuer, "OIDC_CLIENT_ID": "portail",
           "OIDC_CLIENT_SECRET": "s3cret", "OIDC_USERS": json.dumps(USERS)}
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "tests.auth.oidc_provider:app", "--port", str(port),
                                "--log-level", "warning"], cwd=ROOT, env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(process.stderr.read().decode()[-2000:])
                time.sleep(0.1)
        yield issuer
    finally:
        process.terminate()
        process.wait(timeout=10)
