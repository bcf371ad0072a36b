"""The page file of a version: its records as the API shows them, stored row by row, so that a
page of a few scattered records costs a few slices of a memory-mapped file instead of a read
of the records.

Why: a version file is columnar and compressed. Reading one record from it decompresses a
vector of 2,048 values in every column it shows (~2 ms for one record of a dozen fields on
2 M rows, ~4 ms for a page of ten scattered ones), where SQLite reads a row from its B-tree in
microseconds. A selective query (a rare word, a SIRET, a postal code) is resolved to row ids
when it is bound (``store.fulltext``, ``store.keys``); its page is then those rows, and this
file hands them over in ~0.3 ms. So does an unordered page without any condition (the call
clients make most, a table's pages): rows ``offset`` to ``offset + limit`` of a version whose
row ids are dense. Nothing else reads it: counts, aggregations, sorted pages and exports read
the records, where columns win.

The file is an Arrow IPC file, uncompressed (each read would otherwise decompress buffers:
slower than the records themselves), in batches of ``BATCH`` rows in row-id order, so that
row ``r`` is row ``r % BATCH`` of batch ``r // BATCH``. Its columns are the *outputs* of the
expressions a page shows (a geo point as its ``{lon, lat}``, a shape as GeoJSON, JSON as
text), computed once by the engine when the file is written, so a page read from it and one
read from the records are the same values: each column is named in the schema's metadata by
the SQL of its expression, and a page is read from the file only if every expression it
shows is there. Outputs whose type Arrow would hand back differently from the engine
(intervals, blobs, huge integers…) are left out: pages showing them read the records.
Written after the version is published, beside its index file (``build_indexes``), like it
aside then renamed; a version without one (built before, or its build failed) reads records.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
from sqlglot import exp

#: Rows per batch: a read slices one batch per row (the footer lists the batches' offsets).
BATCH = 64
#: Schema metadata keys: the SQL of each column's expression, by column name; and, when the file
#: holds every output it was given, the start of a page's SQL that shows them all, in order.
_EXPRESSIONS = b"portail.expressions"
_EVERY = b"portail.every"
#: Engine types (``DuckDBPyType.id``) whose values Arrow hands back to Python as the engine does.
_SCALARS = frozenset({"varchar", "boolean", "tinyint", "smallint", "integer", "bigint", "utinyint", "usmallint",
                      "uinteger", "ubigint", "float", "double", "date", "timestamp", "timestamp with time zone"})


def prefetch(path: Path) -> None:
    """Ask the operating system to read a page file into its cache, in the background (a
    server starting: its first pages then come from memory, not from disk)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
    finally:
        os.close(fd)


def page_path(location: str) -> Path:
    """A version's page file: beside it, named after it (``drop_version`` removes it with it)."""
    return Path(location + ".pages")


def key(expression: exp.Expression) -> str:
    """What names an output in the file: the SQL of its expression over ``records`` (aliases
    aside), as the compiler writes it for a page."""
    return expression.unalias().sql(dialect="duckdb")


def _kept(kind: duckdb.DuckDBPyType) -> bool:
    """Whether values of an engine type come back from Arrow as the engine's own fetch gives
    them (a HUGEINT would come back a Decimal, an INTERVAL a tuple, a BLOB or a UUID otherwise
    typed); JSON comes as its text both ways."""
    if kind.id == "list":
        return _kept(kind.child)
    if kind.id == "struct":
        return all(_kept(child) for _, child in kind.children)
    if kind.id == "decimal":
        return True
    return kind.id in _SCALARS


def write(con: duckdb.DuckDBPyConnection, source: exp.Table, columns: Sequence[exp.Expression], target: Path) -> int:
    """Write the page file of ``source`` (a version's records, attached on ``con``) with the
    outputs of ``columns`` (aliased expressions over ``records``) that it can hold; returns how
    many it holds (none: what was written is no page file, and the caller removes it)."""
    # One copy of each caller's output per query, nothing more: ``alias_``, ``from_``, ``limit``
    # and ``sql()`` each copy their whole tree by default (five copies of every output for the
    # probe, four for the read). The queries hold copies and are used once: built and written
    # in place (``copy=False``).
    outputs = [c.unalias() for c in columns]
    probe = exp.select(*[exp.alias_(o.copy(), f"c{i}", copy=False) for i, o in enumerate(outputs)]) \
        .from_(source.copy(), copy=False).limit(0, copy=False)
    chosen = [i for i, kind in enumerate(con.sql(probe.sql(dialect="duckdb", copy=False)).types) if _kept(kind)]
    if not chosen:
        return 0
    named = {f"c{i}": key(outputs[i]) for i in chosen}
    metadata = {_EXPRESSIONS: json.dumps(named).encode()}
    if len(chosen) == len(outputs):  # a page showing them all is told by its SQL's start (no generation per output)
        opening = exp.select(*[c.copy() for c in columns]).from_("records", copy=False) \
            .sql(dialect="duckdb", copy=False).rsplit(" FROM ", 1)[0]
        metadata[_EVERY] = json.dumps({"start": opening + " FROM ",
                                       "columns": [[c.alias_or_name, f"c{i}"] for i, c in enumerate(columns)]}).encode()
    # In row-id order without a sort of the whole table: the scan's own order, which the engine
    # keeps when told to; each batch's row ids are checked against it all the same.
    con.execute("SET preserve_insertion_order = true")
    query = exp.select(exp.alias_(exp.column("rowid"), "rid", copy=False),
                       *[exp.alias_(outputs[i].copy(), f"c{i}", copy=False) for i in chosen]) \
        .from_(source.copy(), copy=False)
    reader = con.execute(query.sql(dialect="duckdb", copy=False)).to_arrow_reader(1 << 16)
    schema = pa.schema(list(reader.schema)[1:], metadata=metadata)
    expected = 0
    pending = pa.RecordBatch.from_pylist([], schema=schema)
    with pa.OSFile(str(target), "wb") as sink, ipc.new_file(sink, schema) as writer:
        for batch in reader:
            rids = batch.column(0).to_numpy()
            if len(rids) and not (rids[0] == expected and (np.diff(rids) == 1).all()):
                # Never seen; an accelerator is left out rather than wrong (pages read records).
                logging.getLogger(__name__).warning("records read out of row-id order: no page file for %s", target)
                return 0
            expected += len(rids)
            rows = pa.Table.from_batches([pending, pa.RecordBatch.from_arrays(batch.columns[1:], schema=schema)])
            rows = rows.combine_chunks().to_batches()[0] if rows.num_rows else pending
            whole = rows.num_rows - rows.num_rows % BATCH  # every batch but the last holds BATCH rows
            for start in range(0, whole, BATCH):
                writer.write_batch(rows.slice(start, BATCH))
            pending = rows.slice(whole)
        if pending.num_rows:
            writer.write_batch(pending)
    return len(chosen)


@dataclass(frozen=True)
class PageFile:
    """An open page file: which expression each column holds, and its batches (memory-mapped:
    the operating system's page cache holds what readers share)."""

    reader: ipc.RecordBatchFileReader
    columns: dict[str, str]  # expression SQL -> column name
    every: tuple[str, tuple[tuple[str, str], ...]] | None = None  # SQL start of a page showing all, its columns
    rows: int = 0  # the version's number of records
    #: One read at a time: Arrow does not promise a file reader is safe across threads (the
    #: server's worker threads share it), and a read holds it ~0.1 ms.
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    @classmethod
    def open(cls, path: Path) -> PageFile:
        reader = ipc.open_file(pa.memory_map(str(path)))
        named = json.loads(reader.schema.metadata[_EXPRESSIONS])
        every = json.loads(reader.schema.metadata[_EVERY]) if _EVERY in reader.schema.metadata else None
        batches = reader.num_record_batches
        rows = (batches - 1) * BATCH + reader.get_batch(batches - 1).num_rows if batches else 0
        return cls(reader, {sql: name for name, sql in named.items()},
                   (every["start"], tuple(tuple(c) for c in every["columns"])) if every else None, rows)

    def columns_of(self, outputs: Sequence[exp.Expression], sql: str = "") -> tuple[tuple[str, str], ...] | None:
        """(output name, column) for each aliased output of a page whose SQL is ``sql``, or
        ``None`` when one of them is not in the file. A page showing every output (the common
        case: no ``select``) is told by the start of its SQL; others by each output's SQL
        (~0.03 ms an output)."""
        if self.every is not None and sql.startswith(self.every[0]):
            return self.every[1]
        found = []
        for output in outputs:
            column = self.columns.get(key(output))
            if column is None:
                return None
            found.append((output.alias_or_name, column))
        return tuple(found)

    def fetch(self, rowids: Sequence[int], columns: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """The rows ``rowids`` (in that order) with ``columns`` as (output name, column)."""
        if not rowids:
            return []
        names = [column for _, column in columns]
        with self.lock:
            batches = [self.reader.get_batch(r // BATCH) for r in rowids]
        # Whole-width one-row slices, the columns picked once from their table (a select per
        # slice costs a quarter of the read).
        rows = pa.Table.from_batches([b.slice(r % BATCH, 1) for b, r in zip(batches, rowids)])
        outputs = [name for name, _ in columns]
        return [dict(zip(outputs, values)) for values in zip(*(rows.column(n).to_pylist() for n in names))]
