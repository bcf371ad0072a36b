"""A version's full-text postings as a memory-mapped file beside it (``<version>.postings``), so
that an exact word or a prefix finds its rows by bisection, with no engine call.

Why a second copy of the postings: a read of the index file's ``fulltext`` view costs the
engine ~1.2 ms whatever it finds (the view's two sorted tables are read ~0.6 ms each, zone maps
skipping all but one row group; ``SELECT 1`` alone costs 0.15 ms). A new search pays that once
or twice a call, more than the rest of its planning. The same postings laid out for a
bisection answer in 0.01-0.04 ms, and a word found in millions of rows comes as one zero-copy
array instead of batches of tuples.

Layout (one Arrow IPC file, as ``store.pages``): a row per distinct term, sorted by its UTF-8
bytes (the engine's order for text), with the list of its postings as (row id, field code)
structs in row order; the field names are in the schema's metadata. Batches hold the terms of
about a million postings; each batch's first term is kept in memory to pick the batches a word
falls in.

The file answers what the ``fulltext`` view answers for exact words and prefixes (a test
compares both on a real dataset); fuzzy words read their close terms from the dictionary of
terms through the engine, then their postings here (``store.fulltext``). A version without the
file (indexed before it existed, or its write failed) reads the view.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import ipc

_FIELDS = b"portail.fields"
_TOKEN = b"portail.token"
#: The table of an index file naming the postings file written with it (the same token in the
#: file's metadata): a postings file of another build of the index is never paired with it.
TOKEN_TABLE = "fulltext_postings_file"
#: Postings read from the engine at a time while writing (one output batch each, about).
READ_BATCH = 1 << 20


#: Above any byte of UTF-8 text: ``word + _ABOVE`` bounds the terms that start with ``word``.
_ABOVE = b"\xff"


def _schema(rid: pa.DataType, code: pa.DataType) -> pa.Schema:
    """Row ids on four bytes and field codes on one when they fit (a quarter of the file saved)."""
    return pa.schema([("term", pa.string()), ("postings", pa.list_(pa.struct([("rid", rid), ("field", code)])))])


def postings_path(location: str) -> Path:
    """A version's postings file, beside it (``drop_version`` removes it with it)."""
    return Path(location + ".postings")


def write(con: duckdb.DuckDBPyConnection, source: str, target: Path, token: str = "") -> int:
    """Write the postings of ``source`` (a table or view of (term, field, rid), qualified SQL
    name) to ``target``, tagged with ``token``: sorted by the engine (spilling if it must),
    then read one batch at a time (memory holds a batch and the postings of one term).
    Returns the number of terms."""
    fields = [name for (name,) in con.execute(f"SELECT DISTINCT field FROM {source} ORDER BY field").fetchall()]
    codes = pa.array(fields, pa.string())
    code = pa.uint8() if len(fields) < 2**8 else pa.uint16()
    top = con.execute(f"SELECT max(rid) FROM {source}").fetchone()[0] or 0
    rid = pa.uint32() if top < 2**32 else pa.int64()
    schema = _schema(rid, code).with_metadata({_FIELDS: json.dumps(fields), _TOKEN: token})
    terms = 0
    # Sorted into a temporary table (it spills), then read in its order: a query's ORDER BY
    # streamed to a client holds its whole result in memory.
    con.execute("SET preserve_insertion_order = true")
    con.execute(f"CREATE OR REPLACE TEMP TABLE __portail_postings AS SELECT term, field, rid FROM {source} ORDER BY term, rid")
    reader = con.execute("SELECT term, field, rid FROM __portail_postings").to_arrow_reader(READ_BATCH)
    with ipc.new_file(str(target), schema) as writer:
        carried: pa.Table | None = None  # the postings of the last term read, which may go on
        for batch in reader:
            if not batch.num_rows:
                continue
            rows = pa.table({"term": batch.column("term").cast(pa.string()),
                             "rid": batch.column("rid").cast(rid),
                             "field": pc.index_in(batch.column("field").cast(pa.string()), value_set=codes).cast(code)})
            if carried is not None:
                rows = pa.concat_tables([carried, rows]).combine_chunks()
            starts = _term_starts(rows.column("term").combine_chunks())
            last = int(starts[-1])
            if last:
                writer.write_batch(_grouped(schema, rows.slice(0, last), starts[:-1], last))
                terms += len(starts) - 1
            carried = rows.slice(last)
        if carried is not None and carried.num_rows:
            writer.write_batch(_grouped(schema, carried, np.zeros(1, dtype=np.int64), carried.num_rows))
            terms += 1
    con.execute("DROP TABLE __portail_postings")
    return terms


def _term_starts(terms: pa.Array) -> np.ndarray:
    """Where each run of equal terms starts in sorted ``terms``."""
    changed = pc.not_equal(terms.slice(1), terms.slice(0, len(terms) - 1)).to_numpy(zero_copy_only=False)
    return np.concatenate([[0], np.flatnonzero(changed) + 1]).astype(np.int64)


def _grouped(schema: pa.Schema, rows: pa.Table, starts: np.ndarray, end: int) -> pa.RecordBatch:
    """One batch: a row per term of ``rows`` (its runs start at ``starts``), with its postings."""
    rows = rows.combine_chunks()
    kind = schema.field("postings").type
    entries = pa.StructArray.from_arrays([rows.column("rid").chunk(0), rows.column("field").chunk(0)],
                                         fields=list(kind.value_type))
    offsets = pa.array(np.append(starts, end).astype(np.int32))
    postings = pa.ListArray.from_arrays(offsets, entries, type=kind)
    return pa.RecordBatch.from_arrays([rows.column("term").chunk(0).take(pa.array(starts)), postings], schema=schema)


class _Terms:
    """The sorted terms of one batch as UTF-8 bytes, indexable for ``bisect`` without
    converting the whole column (a bisection reads ~20 of them)."""

    def __init__(self, terms: pa.StringArray):
        self._offsets = np.frombuffer(terms.buffers()[1], dtype=np.int32)[terms.offset:terms.offset + len(terms) + 1]
        data = terms.buffers()[2]
        self._data = memoryview(data) if data is not None else memoryview(b"")

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, i: int) -> bytes:
        return self._data[self._offsets[i]:self._offsets[i + 1]].tobytes()


@dataclass(frozen=True)
class _Batch:
    terms: _Terms
    offsets: np.ndarray  # where each term's postings start in ``rids``/``fields`` (and the end)
    rids: np.ndarray
    fields: np.ndarray


@dataclass(frozen=True)
class PostingsFile:
    """An open postings file (memory-mapped: the operating system's page cache holds what
    readers share). ``rows`` is safe across threads: it only reads arrays."""

    batches: tuple[_Batch, ...]
    firsts: tuple[bytes, ...]  # each batch's first term
    fields: tuple[str, ...]  # field names by code
    token: str  # the index build it was written with (``TOKEN_TABLE``)
    _keep: object = field(default=None, compare=False, repr=False)  # the reader the arrays map

    @classmethod
    def open(cls, path: Path) -> PostingsFile:
        reader = ipc.open_file(pa.memory_map(str(path)))
        fields = tuple(json.loads(reader.schema.metadata[_FIELDS]))
        batches = []
        for i in range(reader.num_record_batches):
            batch = reader.get_batch(i)
            if not batch.num_rows:
                continue
            postings = batch.column(1)
            entries = postings.values
            batches.append(_Batch(_Terms(batch.column(0)), postings.offsets.to_numpy(),
                                  entries.field(0).to_numpy(), entries.field(1).to_numpy()))
        token = reader.schema.metadata.get(_TOKEN, b"").decode()
        return cls(tuple(batches), tuple(b.terms[0] for b in batches), fields, token, reader)

    def rows(self, word: str, prefix: bool = False, fields: Collection[str] | None = None) -> np.ndarray:
        """The row ids of the postings whose term is ``word`` (or starts with it: ``prefix``)
        in ``fields`` (all: ``None``), in term order, each term's in row order (so an exact
        word's are sorted); a row comes once per posting, as from the ``fulltext`` view."""
        low = word.encode()
        high = low + _ABOVE if prefix else low
        wanted = None
        if fields is not None and not set(self.fields) <= set(fields):
            wanted = np.array([i for i, name in enumerate(self.fields) if name in fields], dtype=np.uint16)
        parts = []
        for batch in self.batches[max(bisect.bisect_right(self.firsts, low) - 1, 0):]:
            if batch.terms[0] > high:
                break
            start = bisect.bisect_left(batch.terms, low)
            end = bisect.bisect_right(batch.terms, high)
            if start < end:
                first, last = batch.offsets[start], batch.offsets[end]
                rids = batch.rids[first:last]
                if wanted is not None:
                    rids = rids[np.isin(batch.fields[first:last], wanted)]
                parts.append(rids)
            if end < len(batch.terms):  # the range ends in this batch
                break
        if not parts:
            return np.zeros(0, dtype=np.int64)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)
