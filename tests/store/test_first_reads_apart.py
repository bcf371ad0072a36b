"""A version's first read of one of its files (attaching the version, reading its index file,
opening its postings or page file) happens outside the store's lock: on a cold cache or on
network storage such a read takes seconds, and it held the lock, so every other dataset's call
waited for it. The callers of the *same* version still take turns: one reads, the others find
its work done (two attaching one alias at once would fail "already exists").

A read is held up for real: its file is under a write lease that another process holds, as a
network file system's delegation being recalled; the kernel keeps an ``open`` of the file
waiting until the lease is given back (or ``lease-break-time`` has passed, 45 s by default)
and tells the holder, so the test knows when the read is held up without timing anything.

A postings file that failed to open for a passing reason: tests/store/test_postings_said_once.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from portail.store import pages, postings
from portail.store.duckdb_store import index_path
from tests.store.first_reads import (  # noqa: F401 - fixtures
    SEARCHES, Calls, afresh, leased, published_two, search, served, served_file)

FILES = {"version": Path, "index": index_path, "postings": postings.postings_path, "pages": pages.page_path}


@pytest.mark.parametrize("kind", list(FILES))
def test_a_first_read_held_up_keeps_no_other_dataset_waiting(served, kind):
    held_up = Path(FILES[kind](served_file(served, "cp")))
    assert held_up.is_file()
    calls = Calls()
    with leased(held_up) as lease:
        calls.start("cp", lambda: search(served, "cp"), then=lease.give_back)
        lease.opening()  # cp's first call waits in the open of that file
        calls.start("logements", lambda: search(served, "logements")).join()
        ended_while_held_up = list(calls.ended)
        lease.give_back()
        calls.join()
    assert ended_while_held_up == ["logements"], calls.answers
    assert calls.ended == ["logements", "cp"]
    assert calls.answers == {slug: afresh(served, slug) for slug in SEARCHES}
    count, rows = calls.answers["cp"]
    assert count > 0 and all(len(r["code_postal"]) == 5 for r in rows)  # codes keep their zeros


def test_callers_of_a_version_held_up_wait_for_its_one_read(served):
    """Callers of the version whose index file is held up wait for that read, then use it: the
    file is attached once, under its one alias (two attaches of it would refuse the second)."""
    location = served_file(served, "cp")
    calls = Calls()
    with leased(index_path(location)) as lease:
        calls.start("first", lambda: search(served, "cp"), then=lease.give_back)
        lease.opening()
        for name in ("second", "third"):
            calls.start(name, lambda: search(served, "cp"))
        lease.give_back()
        calls.join()
    expected = afresh(served, "cp")
    assert calls.answers == {"first": expected, "second": expected, "third": expected}
    attached = [name for (name,) in served.store.cursor().execute(
        "SELECT database_name FROM duckdb_databases() WHERE database_name LIKE 'v\\_%' ESCAPE '\\'").fetchall()]
    version = min(attached, key=len)
    assert sorted(attached) == [version, version + "_ix"]


def _attached(instance) -> list[str]:
    """The versions' files (and index files) attached to the store's reader now."""
    return sorted(name for (name,) in instance.store.cursor().execute(
        "SELECT database_name FROM duckdb_databases() WHERE database_name LIKE 'v\\_%' ESCAPE '\\'").fetchall())


def test_a_version_let_go_while_its_first_attach_is_held_up_is_detached_when_its_call_ends(served):
    """A version superseded (``release``) while its first attach waits on slow storage: the
    attach, outside the store's lock, was not yet remembered, so the release left it out and
    the version stayed attached, holding its memory and its pruned files' disk space, until
    the catalogue changed again. It is let go once its call ends, as a version being read is."""
    store, location = served.store, served_file(served, "cp")
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
    assert search(served, "cp") == afresh(served, "cp")  # attached again when asked for again
