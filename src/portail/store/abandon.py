"""Queries their caller gave up on (an API client that went away while its query ran).

A map that pans, a dashboard that refreshes, a client that times out: each walks away from a
query that may still need seconds of both cores (a ``geo_cluster()`` at a high zoom on millions
of points). The API runs each call in a worker thread with a ``Watch`` in its context
(``api.deps.in_worker``); every query the store runs there registers its cursor with it
(``DuckDBStore._reading``), and a watch abandoned by its caller interrupts them: the engine stops
at its next check and the call ends with DuckDB's ``InterruptException``, which nobody reads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import duckdb

#: The watch of the call running in this context, if its caller may give up on it.
CURRENT: ContextVar["Watch | None"] = ContextVar("portail_abandon_watch", default=None)


class Watch:
    """The queries of one call, interrupted together when the call is abandoned."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[duckdb.DuckDBPyConnection] = set()
        self.abandoned = False

    def abandon(self) -> None:
        with self._lock:
            self.abandoned = True
            running = list(self._running)
        for cursor in running:
            cursor.interrupt()

    @contextmanager
    def running(self, cursor: duckdb.DuckDBPyConnection) -> Iterator[None]:
        with self._lock:
            if self.abandoned:  # given up before this query began: it never starts (DuckDB
                # forgets an interrupt sent before a query, which then ran to its end)
                raise duckdb.InterruptException("INTERRUPT Error: the call was abandoned before this query began")
            self._running.add(cursor)
        try:
            yield
        finally:
            with self._lock:
                self._running.discard(cursor)


def interrupted(error: BaseException) -> bool:
    """Is ``error`` how an interrupted query ends: DuckDB's ``InterruptException``, or the
    ``OSError`` its Arrow reader raises for it? Anything else a call abandoned meanwhile
    raises is a fault of its own, to be logged as any other (a 499 hid it)."""
    return isinstance(error, duckdb.InterruptException) or (isinstance(error, OSError) and "INTERRUPT" in str(error))


@contextmanager
def watched(cursor: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """``cursor``'s query, interruptible by the current call's watch if it has one."""
    watch = CURRENT.get()
    if watch is None:
        yield
        return
    with watch.running(cursor):
        yield
