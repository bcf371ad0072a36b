"""A version's first read of one of its files (attaching the version, reading its index file,
opening its postings or page file) happens outside the store's lock: on a cold cache or on
network storage such a read takes seconds, and it held the lock, so every other dataset's call
waited for it. The callers of the *same* version still take turns: one reads, the others find
its work done (two attaching one alias at once would fail "already exists").

A read is held up for real: its file is under a write lease that another process holds, as a
network file system's delegation being recalled; the kernel keeps an ``open`` of the file
waiting until the lease is given back (or ``lease-break-time`` has passed, 45 s by default)
and tells the holder, so the test knows when the read is held up without timing anything.

A postings file that failed to open for a passing reason (too many files open under a burst
of downloads) was remembered as absent until the version was let go: searches read the postings
through the engine meanwhile. It is opened again at the next call, as an index file is."""

from __future__ import annotations

import errno
import os
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
from portail.store import pages, postings
from portail.store.duckdb_store import index_path
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


def _location(instance, slug: str) -> str:
    """The current version's file, from the catalogue (serving it would already attach it)."""
    with instance.session() as session:
        return services.get_dataset(session, slug).current.location


def _search(instance, slug: str) -> tuple[int, list[dict]]:
    """A search's count and first page (read from the page file: rows the index listed)."""
    page = es.query_records(instance, es.get_visible_dataset(instance, "public", slug), where=[SEARCHES[slug]], limit=3)
    return page.total_count, page.results


def _afresh(instance, slug: str) -> tuple[int, list[dict]]:
    """``_search`` answered by another instance on the same home: its own store reads every file
    anew. Asked once no lease is wanted: a file open in the process can take none."""
    other = make_instance(instance.settings.home)
    try:
        return _search(other, slug)
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


FILES = {"version": Path, "index": index_path, "postings": postings.postings_path, "pages": pages.page_path}


@pytest.mark.parametrize("kind", list(FILES))
def test_a_first_read_held_up_keeps_no_other_dataset_waiting(served, kind):
    held_up = Path(FILES[kind](_location(served, "cp")))
    assert held_up.is_file()
    calls = Calls()
    with leased(held_up) as lease:
        calls.start("cp", lambda: _search(served, "cp"), then=lease.give_back)
        lease.opening()  # cp's first call waits in the open of that file
        calls.start("logements", lambda: _search(served, "logements")).join()
        ended_while_held_up = list(calls.ended)
        lease.give_back()
        calls.join()
    assert ended_while_held_up == ["logements"], calls.answers
    assert calls.ended == ["logements", "cp"]
    assert calls.answers == {slug: _afresh(served, slug) for slug in SEARCHES}
    count, rows = calls.answers["cp"]
    assert count > 0 and all(len(r["code_postal"]) == 5 for r in rows)  # codes keep their zeros


def test_callers_of_a_version_held_up_wait_for_its_one_read(served):
    """Callers of the version whose index file is held up wait for that read, then use it: the
    file is attached once, under its one alias (two attaches of it would refuse the second)."""
    location = _location(served, "cp")
    calls = Calls()
    with leased(index_path(location)) as lease:
        calls.start("first", lambda: _search(served, "cp"), then=lease.give_back)
        lease.opening()
        for name in ("second", "third"):
            calls.start(name, lambda: _search(served, "cp"))
        lease.give_back()
        calls.join()
    expected = _afresh(served, "cp")
    assert calls.answers == {"first": expected, "second": expected, "third": expected}
    attached = [name for (name,) in served.store.cursor().execute(
        "SELECT database_name FROM duckdb_databases() WHERE database_name LIKE 'v\\_%' ESCAPE '\\'").fetchall()]
    version = min(attached, key=len)
    assert sorted(attached) == [version, version + "_ix"]


def _mapped(path: Path) -> bool:
    """Whether this process maps ``path`` into its memory (an open postings file)."""
    return str(path) in Path("/proc/self/maps").read_text()


@contextmanager
def _address_space_left(room: int) -> Iterator[None]:
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


def test_a_postings_file_that_could_not_be_mapped_for_a_moment_is_opened_at_the_next_call(served, caplog):
    store, location = served.store, _location(served, "cp")
    spread = postings.postings_path(location)
    calls = Calls()
    with leased(spread) as lease:
        calls.start("first", lambda: store.has_index(location), then=lease.give_back)
        lease.opening()  # the index file read, its postings file being opened ...
        with _address_space_left(spread.stat().st_size // 2):  # ... cannot be mapped
            lease.give_back()
            calls.join()
    assert calls.answers == {"first": True}  # the index is used ...
    assert not _mapped(spread)  # ... without its postings file (read through the engine)
    assert os.strerror(errno.ENOMEM) in caplog.text  # a passing reason (``duckdb_store._passing``)
    assert store.has_index(location)
    assert _mapped(spread)  # the next call opened it: no release, no restart
    assert _search(served, "cp") == _afresh(served, "cp")


def _attached(instance) -> list[str]:
    """The versions' files (and index files) attached to the store's reader now."""
    return sorted(name for (name,) in instance.store.cursor().execute(
        "SELECT database_name FROM duckdb_databases() WHERE database_name LIKE 'v\\_%' ESCAPE '\\'").fetchall())


def test_a_version_let_go_while_its_first_attach_is_held_up_is_detached_when_its_call_ends(served):
    """A version superseded (``release``) while its first attach waits on slow storage: the
    attach, outside the store's lock, was not yet remembered, so the release left it out and
    the version stayed attached, holding its memory and its pruned files' disk space, until
    the catalogue changed again. It is let go once its call ends, as a version being read is."""
    store, location = served.store, _location(served, "cp")
    calls = Calls()
    with leased(Path(location)) as lease:
        calls.start("cp", lambda: store.has_index(location), then=lease.give_back)
        lease.opening()  # the call reads the version (``_using``), its attach held up
        let_go = store.release(keep=())
        lease.give_back()
        calls.join()
    assert calls.answers == {"cp": True}  # the call itself is answered, index and all
    assert _attached(served) == []
    assert let_go == [location]
    assert _search(served, "cp") == _afresh(served, "cp")  # attached again when asked for again
