"""Tests set how many matching rows the store resolves to row ids, and put it back after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from portail.store import DuckDBStore, fulltext


@contextmanager
def resolving(store: DuckDBStore, limit: int) -> Iterator[int]:
    """The store resolves matches and key conditions of at most ``limit`` rows (0: never)
    while inside; the default after."""
    store.fulltext_resolve = limit
    try:
        yield limit
    finally:
        store.fulltext_resolve = fulltext.RESOLVE
