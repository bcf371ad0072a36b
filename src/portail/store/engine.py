"""DuckDB connections configured the one way Portail needs them.

The engine cannot download extensions here (nor on many production hosts), so the spatial
and full-text extensions come from the ``duckdb-extension-*`` wheels pinned beside DuckDB
and are loaded from their files.
"""

from __future__ import annotations

import glob
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import cache

import duckdb
from sqlglot import exp


@cache
def extension_path(name: str) -> str:
    module = __import__(f"duckdb_extension_{name}")
    candidates = glob.glob(os.path.join(os.path.dirname(module.__file__), "extensions", "*", f"{name}.duckdb_extension"))
    if not candidates:
        raise RuntimeError(f"DuckDB extension {name!r} is not installed (pip install duckdb-extension-{name})")
    return candidates[0]


def load_extensions(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    for name in names or ("spatial",):
        con.execute(f"LOAD '{extension_path(name)}'")


def ensure_spatial(con: duckdb.DuckDBPyConnection) -> None:
    """Load the spatial extension into ``con`` unless it is there: for work that may or may not
    meet geometry (a build, ``connect(spatial=False)``) and pays the load only when it does."""
    if not con.execute("SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'spatial'").fetchone()[0]:
        load_extensions(con, "spatial")


def connect(
    path: str = ":memory:",
    *,
    read_only: bool = False,
    memory_limit: str | None = None,
    threads: int = 0,
    temp_directory: str | None = None,
    spatial: bool = True,
) -> duckdb.DuckDBPyConnection:
    """A connection with the spatial extension loaded unless ``spatial`` is false: loading it
    costs ~0.2 s per connection, as much as indexing a small dataset, and GEOMETRY columns
    read without it (the type is the engine's own); only its ``ST_*`` functions need it."""
    config: dict[str, str | int | bool] = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    if memory_limit:
        config["memory_limit"] = memory_limit
    if threads:
        config["threads"] = threads
    if temp_directory:
        config["temp_directory"] = temp_directory
    con = duckdb.connect(path, read_only=read_only, config=config)
    # Progress is relayed to our own bars (ingest), never printed by the engine on stdout.
    con.execute("SET enable_progress_bar = true; SET enable_progress_bar_print = false")
    if spatial:
        load_extensions(con, "spatial")
    return con


def uses_spatial(expressions: Iterable[exp.Expression]) -> bool:
    """Whether any of ``expressions`` calls one of the spatial extension's ``ST_*`` functions."""
    for expression in expressions:
        for func in expression.find_all(exp.Func):
            name = func.name if isinstance(func, exp.Anonymous) else func.sql_name()
            if name.upper().startswith("ST_"):
                return True
    return False


#: The most columns one statement of an index build reads (``unpivoted``): the engine reserves
#: a few vectors per column and thread in a statement whatever the rows (``ingest.load``'s
#: ``COLUMNS_PER_WRITE``, the same bound for its casts).
COLUMNS_PER_STATEMENT = 500


def unpivoted(source: exp.Table, columns: Sequence[str]) -> str:
    """SQL of a subquery of ``(rid, field, value)``: a row for each non-null value of each of
    ``columns`` of ``source`` (its row id, the column's name, the value as text), for an index
    build to read in one scan. A statement per column cost ~6 ms of the engine's time on a wide
    version whatever its rows (2.0 s for the 500 key fields of 1,500 columns), and its SQL built
    by sqlglot more. ``columns``: at most ``COLUMNS_PER_STATEMENT``, all text or JSON (read as
    its text)."""
    names = [exp.to_identifier(name, quoted=True).sql(dialect="duckdb") for name in columns]
    values = ", ".join(f"CAST({name} AS VARCHAR) AS {name}" for name in names)
    table = source.sql(dialect="duckdb")
    # UNPIVOT leaves nulls out (no INCLUDE NULLS): the ``IS NOT NULL`` of a read per column. The
    # row id goes under a name no field has (a field may be named ``rid``, ``field`` or ``value``).
    return (f'(SELECT "portail.rid" AS rid, field, value FROM (UNPIVOT (SELECT rowid AS "portail.rid", {values} '
            f'FROM {table}) ON {", ".join(names)} INTO NAME field VALUE value))')


class ResourceExhausted(Exception):
    """A query the engine could not finish within the memory (or spill space) it is given.
    ``crowded``: other queries shared that memory while it ran, so it may fit alone (a matter of
    load, worth retrying); otherwise it needs more than the engine ever gives one query."""

    def __init__(self, crowded: bool):
        super().__init__("crowded" if crowded else "alone")
        self.crowded = crowded


def exhausted(error: duckdb.Error) -> bool:
    """Whether the engine gave up for want of resources rather than for the query itself:
    memory (its limit, including spilled data that cannot be pinned back and a full
    ``max_temp_directory_size``, all ``OutOfMemoryException``) or the spill disk."""
    return isinstance(error, duckdb.OutOfMemoryException) or "no space left on device" in str(error).lower()


class Sharing:
    """The queries running on one database, which share its memory limit: one that runs out of
    it can tell whether it ran alone (``ResourceExhausted.crowded``)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._running = 0
        self._started = 0

    @contextmanager
    def query(self) -> Iterator[None]:
        """Count a query for as long as it runs; its resource errors become ``ResourceExhausted``,
        crowded if another query ran at any moment of its life (one started before it and
        still running, or one started after it, finished or not)."""
        with self._lock:
            self._started += 1
            mine = self._started
            self._running += 1
            crowded = self._running > 1
        try:
            yield
        except duckdb.Error as error:
            if not exhausted(error):
                raise
            with self._lock:
                crowded = crowded or self._running > 1 or self._started > mine
            raise ResourceExhausted(crowded) from error
        finally:
            with self._lock:
                self._running -= 1


def holds(con: duckdb.DuckDBPyConnection, catalog: str, name: str,
          listing: AbstractContextManager = nullcontext()) -> bool:
    """Whether the file attached as ``catalog`` holds the table (or view) ``name``: the name is
    bound, no row is read. ``listing`` is held for it: the engine's error for a missing name
    lists every attached database (for its "did you mean"), a listing of the reader's whole
    catalogue, which a ``DETACH`` in another thread must not meet (``DuckDBStore._detaching``).
    ``duckdb_tables()`` was such a listing for a found name too."""
    try:
        with listing:
            con.execute(f'SELECT 1 FROM "{catalog}".main.{name} LIMIT 0')
    except duckdb.CatalogException:
        return False
    return True
