"""A postings file that fails to open for a passing reason (memory, too many files open under a
burst of downloads) is tried again at each call of its version, and opened at the first that
succeeds: it was remembered as absent until the version was let go, searches reading the
postings through the engine meanwhile. Each failure was logged as a warning with its
traceback, one per search under a burst of calls: it is said with its traceback once, then at
debug only, until it opens.

The failure is real, as in ``test_first_reads_apart``: the first open waits under a write lease
until the process's address space is limited below the file's size (a map of it needs that)."""

from __future__ import annotations

import errno
import logging
import os

from portail.store import postings
from tests.store.first_reads import (  # noqa: F401 - fixtures
    Calls, address_space_left, afresh, leased, mapped, published_two, search, served, served_file)

LOGGER = "portail.store.duckdb_store"


def test_a_postings_file_that_keeps_failing_to_open_is_logged_with_its_traceback_once(served, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    store, location = served.store, served_file(served, "cp")
    spread = postings.postings_path(location)
    calls = Calls()
    with leased(spread) as lease:
        calls.start("first", lambda: store.has_index(location), then=lease.give_back)
        lease.opening()  # the index file read, its postings file being opened ...
        with address_space_left(spread.stat().st_size // 2):  # ... cannot be mapped, at this call or the next
            lease.give_back()
            calls.join()
            answers = [store.has_index(location) for _ in range(3)]
    assert calls.answers == {"first": True} and answers == [True] * 3  # the index is used, without postings
    assert not mapped(spread)
    said = [r for r in caplog.records if r.name == LOGGER and str(spread) in r.getMessage()]
    assert [r.levelno for r in said] == [logging.WARNING] + [logging.DEBUG] * 3, [r.getMessage() for r in said]
    assert os.strerror(errno.ENOMEM) in caplog.text and said[0].exc_info
    assert not any(r.exc_info for r in said[1:])
    caplog.clear()
    assert store.has_index(location) and mapped(spread)  # opened at the next call
    assert not [r for r in caplog.records if str(spread) in r.getMessage()]
    assert store._said == set()  # said again, with its traceback, if it fails once more
    assert search(served, "cp") == afresh(served, "cp")
