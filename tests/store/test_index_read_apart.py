"""A version's first read of its index file holds the reader's ``_detaching`` only for what
races a ``DETACH`` (a statement that may list every attached database), never for its reads
of rows: held for the whole read (the value words, up to ``fulltext.HELD_VALUE_WORDS`` rows, on
slow storage), it held every release of another version, and every call waiting on one.

The read is held up for real, as in ``test_first_reads_apart``: the index file's value words
are read through a view of a Parquet file beside it, under a write lease another process
holds, so the kernel keeps the engine's ``open`` of that file waiting, and says so."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from portail.store import fulltext
from portail.store.duckdb_store import index_path
from tests.store.first_reads import (  # noqa: F401 - fixtures
    Calls, afresh, leased, published_two, search, served, served_file)


def _values_read_from_a_file(index: Path) -> Path:
    """Make the index file read its value words from a Parquet file beside it (same rows, same
    order): the file a test holds up. Returns that file."""
    values = index.with_name(index.name + ".values.parquet")
    con = duckdb.connect(str(index))
    try:
        con.execute(f"COPY (SELECT * FROM {fulltext.VALUES}) TO '{values}' (FORMAT parquet)")
        con.execute(f"DROP TABLE {fulltext.VALUES}")
        con.execute(f"CREATE VIEW {fulltext.VALUES} AS SELECT * FROM read_parquet('{values}')")
    finally:
        con.close()
    return values


def _lease_held(path: Path) -> bool:
    """Whether a lease on ``path`` is still in force (held, or being broken for an open that
    waits): the kernel drops one not given back after ``fs.lease-break-time``, letting the open
    go on, so that a call waiting on the read is seen ending for the wrong reason."""
    inode = os.stat(path).st_ino
    for line in Path("/proc/locks").read_text().splitlines():
        parts = line.split()
        if len(parts) > 5 and parts[1] == "LEASE" and int(parts[5].split(":")[2]) == inode:
            return True
    return False


def test_a_slow_index_read_holds_up_no_release_of_another_version(served):
    store, cp, logements = served.store, served_file(served, "cp"), served_file(served, "logements")
    values = _values_read_from_a_file(index_path(cp))
    assert store.has_index(logements)  # attached with its index file: a release detaches both
    calls = Calls()
    with leased(values) as lease:
        calls.start("cp", lambda: store.has_index(cp), then=lease.give_back)
        lease.opening()  # cp's index read waits in the open of its value words
        calls.start("release", lambda: store.release(keep=[cp])).join()
        ended_while_held_up, still_held = list(calls.ended), _lease_held(values)
        lease.give_back()
        calls.join()
    assert ended_while_held_up == ["release"] and still_held, calls.answers
    assert calls.answers == {"release": [logements], "cp": True}
    assert search(served, "cp") == afresh(served, "cp")
    assert search(served, "logements") == afresh(served, "logements")  # attached again
