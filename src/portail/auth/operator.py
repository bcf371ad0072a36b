"""The management token: the secret that makes an HTTP caller the operator (the command line's equal).

Always required. Earlier versions let a loopback client without a token act as the operator,
but a proxy on the same machine that adds no forwarding header (nginx's bare ``proxy_pass``)
made every visitor such a client: the management API was open to the world. Now an instance
without ``PORTAIL_MANAGEMENT_TOKEN`` generates one in its home, readable by its owner only, so
the operator of the machine has it (``cat $PORTAIL_HOME/management-token``) and nobody else.
Several API nodes with their own homes must share a configured token instead.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from portail.config import Settings

#: The generated token's file in the instance's home.
TOKEN_FILE = "management-token"


def token_path(settings: Settings) -> Path:
    return settings.home / TOKEN_FILE


def management_token(settings: Settings) -> str:
    """The configured token, else the home's generated one (made on first use). Workers starting
    together agree: the file is written aside and linked into place, so a reader never sees it
    half written and the first link wins."""
    if settings.management_token:
        return settings.management_token
    path = token_path(settings)
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    draft = path.with_name(f".{TOKEN_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
    try:
        os.link(draft, path)
    except FileExistsError:
        pass  # another worker was first: its token is the one
    except OSError:  # a file system without hard links: rename, the first one may be replaced once
        os.replace(draft, path)
    finally:
        draft.unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> str:
    """The token in ``path``; an ``OSError`` naming the file when it holds none (``portail
    serve`` says it in one line)."""
    token = path.read_text(encoding="utf-8").strip()
    if not token:
        raise OSError(0, "holds no token: delete it to have one generated, or set PORTAIL_MANAGEMENT_TOKEN", str(path))
    return token
