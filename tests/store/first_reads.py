"""What the first-read tests share (tests/store/test_first_reads_apart.py and the files beside
it): a file's ``open`` held up for real by a write lease another process holds, the two datasets
they read, and calls run on threads. Kept here rather than in one test file, so that a test file
imports no other test file."""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from portail.api import explore_service as es
from portail.catalog import services
from tests.conftest import Published, make_instance, published_instance

CP = ("referentiels", "laposte_hexasmal.csv")
LOGEMENTS = ("logement", "logements-sociaux-finances-a-paris.csv")
#: A search of each dataset that reads all of its files: version, index, postings and page file.
SEARCHES = {"cp": '"vitry"', "logements": '"meuniers"'}

#: The process holding the lease: says ``held`` once it holds it, ``opening`` when an open of the
#: file waits for it (the kernel's SIGIO), and gives it back at a line on its input. Where leases
#: cannot be taken (``fs.leases-enable=0``, a file system without them, a user without
#: ``CAP_LEASE`` on a file not its own) it says ``unavailable`` and the test is skipped; a file
#: open elsewhere (EAGAIN) is the test's own fault and fails it. It dies after ``HOLDER_LIFE``
#: seconds whatever happens, its lease with it: a call that hangs without ever opening the file
#: fails the test (``Lease.opening`` reads nothing) instead of keeping CI waiting.
LEASE_HOLDER = r"""
import errno, fcntl, os, signal, sys
signal.alarm(int(sys.argv[2]))
signal.signal(signal.SIGIO, lambda *_: print("opening", flush=True))
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
except OSError as error:
    if error.errno == errno.EAGAIN:
        raise
    print("unavailable", errno.errorcode.get(error.errno, error.errno), flush=True)
    sys.exit()
print("held", flush=True)
sys.stdin.readline()
fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
os.close(fd)
"""
#: Seconds a lease holder lives at most: far more than any test here needs (the kernel breaks a
#: lease not given back after ``fs.lease-break-time``, 45 s by default), far less than a CI job.
HOLDER_LIFE = 300


class Lease:
    """A write lease on a file, held by another process (``leased``)."""

    def __init__(self, holder: subprocess.Popen):
        self.holder = holder
        self._giving = threading.Lock()

    def opening(self) -> None:
        """Wait until an open of the file is held up by the lease (or the lease is given back:
        a call that ended without opening the file gives it back, ``Calls.start``)."""
        assert self.holder.stdout.readline().strip() == "opening", "no open of the file was held up"

    def give_back(self) -> None:
        """Let the held-up open go on."""
        with self._giving:
            if self.holder.poll() is None and not self.holder.stdin.closed:
                self.holder.stdin.write("\n")
                self.holder.stdin.close()
            self.holder.wait()


@contextmanager
def leased(path: Path) -> Iterator[Lease]:
    holder = subprocess.Popen([sys.executable, "-c", LEASE_HOLDER, str(path), str(HOLDER_LIFE)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lease = Lease(holder)
    try:
        said = holder.stdout.readline().strip()
        if said.startswith("unavailable"):
            pytest.skip(f"no write lease can be taken on {path} here ({said}): nothing holds a read up")
        assert said == "held", "the lease holder failed (its error is above)"
        yield lease
    finally:
        lease.give_back()


@pytest.fixture(scope="module")
def published_two(tmp_path_factory, refdata) -> Path:
    """The postal codes (``cp``) and Paris's social housing (``logements``) published once, with
    their index and page files, at a home each test copies (so that no file of it is open)."""
    home = tmp_path_factory.mktemp("first-reads") / "home"
    instance = published_instance(home, Published("cp", refdata.joinpath(*CP)),
                                  Published("logements", refdata.joinpath(*LOGEMENTS)))
    instance.store.close()
    instance.catalog.kw["bind"].dispose()
    return home


@pytest.fixture
def served(published_two, tmp_path):
    instance = make_instance(shutil.copytree(published_two, tmp_path / "home"))
    yield instance
    instance.store.close()


def served_file(instance, slug: str) -> str:
    """The current version's file, from the catalogue (serving it would already attach it)."""
    with instance.session() as session:
        return services.get_dataset(session, slug).current.location


def search(instance, slug: str) -> tuple[int, list[dict]]:
    """A search's count and first page (read from the page file: rows the index listed)."""
    page = es.query_records(instance, es.get_visible_dataset(instance, "public", slug), where=[SEARCHES[slug]], limit=3)
    return page.total_count, page.results


def afresh(instance, slug: str) -> tuple[int, list[dict]]:
    """``search`` answered by another instance on the same home: its own store reads every file
    anew. Asked once no lease is wanted: a file open in the process can take none."""
    other = make_instance(instance.settings.home)
    try:
        return search(other, slug)
    finally:
        other.store.close()
        other.catalog.kw["bind"].dispose()


class Calls:
    """Calls run on threads, with the order they ended in and what each answered or raised."""

    def __init__(self):
        self.ended: list[str] = []
        self.answers: dict[str, object] = {}
        self.threads: list[threading.Thread] = []

    def start(self, name: str, call: Callable[[], object], then: Callable[[], None] = lambda: None) -> threading.Thread:
        """Run ``call`` on a thread of its own, then ``then`` (a lease given back: a call that
        never opened the leased file leaves no test waiting for it)."""
        def run() -> None:
            try:
                self.answers[name] = call()
            except BaseException as error:  # said by the test, not lost in the thread
                self.answers[name] = error
            self.ended.append(name)
            then()

        thread = threading.Thread(target=run, name=name, daemon=True)  # one hung keeps no run from ending
        self.threads.append(thread)
        thread.start()
        return thread

    def join(self) -> None:
        """Wait for the calls; one still running after ``HOLDER_LIFE`` seconds is hung (a
        deadlock), a failure rather than a CI job waiting for ever."""
        for thread in self.threads:
            thread.join(HOLDER_LIFE)
            assert not thread.is_alive(), f"{thread.name} never ended: {self.answers}"


def mapped(path: Path) -> bool:
    """Whether this process maps ``path`` into its memory (an open postings file)."""
    return str(path) in Path("/proc/self/maps").read_text()


@contextmanager
def address_space_left(room: int) -> Iterator[None]:
    """The process's address space limited to what it uses now and ``room`` more (ENOMEM past
    it), as a server's worker near its limit: a file mapped into memory needs its whole size."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    status = Path("/proc/self/status").read_text()
    used = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmSize:"))) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (used + room, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
