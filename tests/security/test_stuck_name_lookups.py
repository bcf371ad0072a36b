"""A name lookup stuck on a resolver that never answers does not hold the process's exit.

``resolve`` runs lookups on a few threads and gives up on one at the download's deadline, but
the lookup itself goes on until the resolver gives up (glibc: ``timeout`` x ``attempts``, 30 s x
5 here). On ``concurrent.futures``' threads, which the interpreter joins at exit, ``portail
dataset create --from URL`` reported its deadline after 1 s, then stayed alive for minutes.

The resolver is real: the command runs in a new user, mount and network namespace
(``unshare -rmn``) whose ``/etc/resolv.conf`` names 127.0.0.1, where a UDP socket is bound
and never read. Where namespaces cannot be made (a container forbidding them), the test is
skipped; ``test_fetch_addresses`` still checks that the lookup threads are daemons.

A process forked after lookups had started gets lookup threads of its own.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

#: Run inside the namespace: the silent DNS server, then the command; prints what happened.
INSIDE = r"""
import json, os, socket, subprocess, sys
silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
silent.bind(("127.0.0.1", 53))  # never read: every query goes unanswered
command, home = sys.argv[1], sys.argv[2]
env = {**os.environ, "PORTAIL_HOME": home, "PORTAIL_FETCH_TIMEOUT": "1", "COLUMNS": "300"}
try:
    ran = subprocess.run([command, "dataset", "create", "lac", "--title", "Lac", "--from",
                          "http://data.example/data.csv"], env=env, capture_output=True, text=True, timeout=60)
    exited, code, output = True, ran.returncode, ran.stdout + ran.stderr
except subprocess.TimeoutExpired as held:
    exited, code, output = False, None, (held.stdout or b"").decode() + (held.stderr or b"").decode()
silent.setblocking(False)
queries = 0
try:
    while silent.recv(512):
        queries += 1
except BlockingIOError:
    pass
print(json.dumps({"exited": exited, "code": code, "output": output, "queries": queries}))
"""
#: Mounted over the namespace's own files: the silent server is the only resolver asked.
RESOLV_CONF = "nameserver 127.0.0.1\noptions timeout:30 attempts:5\n"
NSSWITCH_CONF = "hosts: files dns\n"


def _in_namespace(scratch: Path, *command: str) -> subprocess.CompletedProcess:
    """``command`` run with the silent resolver as the system's, in a namespace of its own."""
    (scratch / "resolv.conf").write_text(RESOLV_CONF)
    (scratch / "nsswitch.conf").write_text(NSSWITCH_CONF)
    setup = (f"mount --bind {scratch / 'resolv.conf'} /etc/resolv.conf"
             f" && mount --bind {scratch / 'nsswitch.conf'} /etc/nsswitch.conf && ip link set lo up")
    return subprocess.run(["unshare", "-rmn", "sh", "-c", setup + ' && exec "$@"', "sh", *command],
                          capture_output=True, text=True, timeout=120)


def test_the_command_exits_at_its_deadline_while_the_lookup_is_still_stuck(tmp_path):
    if not (shutil.which("unshare") and shutil.which("ip")) or _in_namespace(tmp_path, "true").returncode != 0:
        pytest.skip("no user, mount and network namespaces here (unshare -rmn)")
    portail = Path(sys.executable).with_name("portail")
    ran = _in_namespace(tmp_path, sys.executable, "-c", INSIDE, str(portail), str(tmp_path / "home"))
    assert ran.returncode == 0, ran.stderr
    seen = json.loads(ran.stdout)
    assert seen["queries"] > 0, seen  # the lookup went to the silent resolver: it was really stuck
    assert seen["exited"], f"still running 60 s after a 1 s deadline: {seen['output']}"
    said = " ".join(seen["output"].split())
    assert seen["code"] == 1 and "download failed: took longer than the 1 seconds allowed" in said, said
    assert "Traceback" not in said


#: Lookups in the parent start every lookup thread; then a forked child looks a name up.
FORKED = r"""
import os
from portail.sources.fetching import _LOOKUPS, resolve
for _ in range(_LOOKUPS.size):
    resolve("localhost", 80, 10)  # a thread each, as lookups come
child = os.fork()
if child == 0:
    try:
        said = f"found {len(resolve('localhost', 80, 10))} addresses"
    except Exception as error:
        said = f"{type(error).__name__}: {error}"
    print("child", said, flush=True)
    os._exit(0)
os.waitpid(child, 0)
"""


def test_a_process_forked_after_a_lookup_gets_threads_of_its_own():
    """A fork copies the list of lookup threads and their queue, not the threads: counted as
    running, they left every lookup of the child waiting for none ("resolving localhost took
    too long"); a thread started anew, the queue's lock the fork caught taken held it at times."""
    ran = subprocess.run([sys.executable, "-c", FORKED], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("child found ") and "took too long" not in ran.stdout, ran.stdout
