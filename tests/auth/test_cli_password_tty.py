"""``portail user create … --password-stdin`` typed at a terminal (as README's first admin is
made) prompts for the password, hidden and asked twice, instead of waiting without a word and
showing it as typed; piped, it reads the first line as before."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path

from portail.auth import services
from tests.cli import PORTAIL
from tests.conftest import make_instance

PASSWORD = "Correct-horse-42"


def read_until(fd: int, wanted: bytes, seconds: float = 60) -> bytes:
    seen = b""
    deadline = time.monotonic() + seconds
    while wanted not in seen:
        assert time.monotonic() < deadline, seen
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
    return seen


def test_at_a_terminal_the_password_is_prompted_hidden_and_confirmed(tmp_path):
    home = tmp_path / "home"
    make_instance(home).store.close()
    main, terminal = pty.openpty()
    env = {**os.environ, "PORTAIL_HOME": str(home)}
    process = subprocess.Popen([str(PORTAIL), "user", "create", "alice", "--role", "admin", "--password-stdin"],
                               stdin=terminal, stdout=terminal, stderr=terminal, env=env, close_fds=True)
    os.close(terminal)
    try:
        # the prompt's last space is written once echo is off (getpass flushes what came before)
        said = read_until(main, b"Password: ")
        os.write(main, PASSWORD.encode() + b"\n")
        said += read_until(main, b"confirmation: ")
        os.write(main, PASSWORD.encode() + b"\n")
        said += read_until(main, b"created")
        assert process.wait(timeout=60) == 0, said
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main)
    assert PASSWORD.encode() not in said  # never echoed
    assert signs_in(home, "alice")


def signs_in(home: Path, login: str) -> bool:
    instance = make_instance(home)
    try:
        with instance.session() as s:
            return services.authenticate(s, login, PASSWORD).ok
    finally:
        instance.store.close()


def test_piped_the_first_line_is_the_password(tmp_path):
    home = tmp_path / "home"
    made = subprocess.run([str(PORTAIL), "user", "create", "bob", "--password-stdin"], input=PASSWORD + "\n",
                          env={**os.environ, "PORTAIL_HOME": str(home)}, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    assert signs_in(home, "bob")
