"""A store closed (``close``) while a call is in the middle of a version's first read: that
read, outside the store's lock, went on and remembered what it found after the close had
cleared everything, for the next reader: an alias attached nowhere (every later call of the
version failed, "Catalog … does not exist", until a restart), or the index file whose read
the close broke taken for stale (its searches scanned the records until a reindex). It now
remembers nothing of a closed reader; the next call reads the version afresh.

The read is held up for real, as in ``test_first_reads_apart``: its file is under a write lease
another process holds, which keeps the ``open`` waiting until the close has taken the store."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from portail.store import postings
from portail.store.duckdb_store import index_path
from tests.store.first_reads import (  # noqa: F401 - fixtures
    HOLDER_LIFE, Calls, afresh, leased, published_two, search, served, served_file)

FILES = {"version": Path, "index": index_path, "postings": postings.postings_path}


def _until(condition: Callable[[], bool]) -> None:
    """Wait for ``condition`` (a hang fails after ``HOLDER_LIFE`` seconds, not CI's limit)."""
    deadline = time.monotonic() + HOLDER_LIFE
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.001)


@pytest.mark.parametrize("kind", list(FILES))
def test_a_store_closed_during_a_first_read_reads_the_version_afresh_after(served, kind):
    store, location = served.store, served_file(served, "cp")
    calls = Calls()
    with leased(Path(FILES[kind](location))) as lease:
        calls.start("cp", lambda: search(served, "cp"), then=lease.give_back)
        lease.opening()  # the first read waits in the open of that file
        closing = calls.start("close", store.close)
        # The close has taken the store's lock (the engine's close may wait for the read's
        # attach): whatever the read remembers, it remembers after the close.
        _until(lambda: not closing.is_alive() or store._lock.locked())
        lease.give_back()
        calls.join()
    assert calls.answers["close"] is None  # the racing call itself may fail: its reader was closed
    assert store.has_index(location)  # the index file was not taken for stale
    assert search(served, "cp") == afresh(served, "cp")  # nor an alias attached nowhere kept
