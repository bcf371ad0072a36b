"""What the non-CSV readers share: SQL quoting, the mapping of engine types to field types, and
the two ways of staging (a DuckDB query over the file, or a stream of Arrow batches).

Both stagers turn every failure into an ``IngestError`` naming the file, because staging is
run later by the loader, far from the reader that knows what the file was.
"""

from __future__ import annotations

import math
import queue
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from portail.ingest.errors import IngestError
from portail.ingest.types import RawTable, Stager, arrow_stager
from portail.schema import FieldType, unique_names

BATCH_ROWS = 50_000
HANDOFF = 2  # batches waiting between the producing thread and DuckDB


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def first_line(error: BaseException, folder: Path | None = None) -> str:
    """An engine's message, reduced to its first line (DuckDB appends the whole query), without
    the server's folder (``folder``) in the file paths it quotes."""
    text = str(error).strip()
    line = text.splitlines()[0][:300] if text else type(error).__name__
    return line.replace(f"{folder}/", "") if folder is not None else line


def make_table(source: str, labels: list[str], types: list[FieldType | None], stage_for: Callable[[list[str]], Stager],
               *, notes: list[str] | None = None, cleanup: list[Path] | None = None,
               diagnose: Callable[[Exception], IngestError] | None = None,
               names: list[str] | None = None,
               locate_values: Callable[[dict[str, str]], dict[str, int]] | None = None) -> RawTable:
    """A ``RawTable`` whose ``declared`` holds the columns with a type (``None`` = text to infer)."""
    names = names or unique_names(labels)
    declared = {name: kind for name, kind in zip(names, types) if kind is not None}
    return RawTable(source=source, labels=labels, names=names, stage=stage_for(names), declared=declared,
                    notes=notes or [], cleanup=cleanup or [], diagnose=diagnose, locate_values=locate_values)


# --- header detection (spreadsheets, CSV) ---------------------------------------------------

HEADER_SCAN_ROWS = 30
HEADER_FILL_RATIO = 0.5  # a header fills at least this share of the fullest row's cells
HEADER_TEXT_RATIO = 0.7  # and at least this share of its filled cells are words
_NUMBER_TEXT = re.compile(r"^\s*[+-]?[0-9][0-9 .,\u00a0\u202f]*%?\s*$")


#: The records a search for values' lines (``RawTable.locate_values``) reads at most: about a
#: second of Python's csv module; past it, the report gives the values without their lines.
LOCATED_RECORDS = 1_000_000


def lines_holding(records: Iterator[tuple[int, list[Any]]], wanted: dict[int, str],
                  text: Callable[[Any], str | None] = lambda value: value) -> dict[int, int]:
    """For each position of ``wanted``, the line of the first of ``records`` ((line, cells), at
    most ``LOCATED_RECORDS``) whose cell there reads as its value, spaces around ignored as the
    engine's ``trim`` ignores them; one pass for all of them, ended once all are found."""
    found: dict[int, int] = {}
    for _, (line, cells) in zip(range(LOCATED_RECORDS), records):
        for position, value in wanted.items():
            if position not in found and position < len(cells) and (text(cells[position]) or "").strip(" ") == value:
                found[position] = line
        if len(found) == len(wanted):
            break
    return found


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def detect_header(head: list[list[Any]]) -> int | None:
    """The index of the header among the first rows of a table laid out for print: the first row
    that fills at least half as many cells as the fullest and holds mostly words, so that a
    title, a subtitle and blank rows above it are skipped; else the first non-empty row, or,
    when that starts one-cell lines closed by a blank one (a title block), the first row filling
    half as many cells below it (a header of years, ``Commune, 2020, 2021``: the title was
    taken for the header and the header loaded as a record); ``None`` when every row is empty."""
    counts = [sum(not is_empty(v) for v in row) for row in head]
    widest = max(counts, default=0)
    if not widest:
        return None
    full = max(1, math.ceil(widest * HEADER_FILL_RATIO))
    for index, (row, count) in enumerate(zip(head, counts)):
        if count >= full and _mostly_words(row, count):
            return _below_title_block(head, counts, index)
    first = next(index for index, count in enumerate(counts) if count)
    end = next((index for index in range(first, len(counts)) if counts[index] != 1), len(counts))
    if end < len(counts) and counts[end] == 0:  # a title block
        return next((index for index in range(end, len(counts)) if counts[index] >= full), first)
    return first


def _below_title_block(head: list[list[Any]], counts: list[int], found: int) -> int:
    """The header below a one-cell title closed by a blank row, which the fill rule took for
    it in a table of two columns (a title fills half of them): the first row below the blank
    one, where it fills more cells and reads as words; else ``found``."""
    if counts[found] != 1 or found + 1 >= len(counts) or counts[found + 1]:
        return found
    below = next((index for index in range(found + 1, len(counts)) if counts[index]), None)
    if below is None or counts[below] <= 1 or not _mostly_words(head[below], counts[below]):
        return found
    return below


def _mostly_words(row: list[Any], filled: int) -> bool:
    words = sum(isinstance(v, str) and v.strip() != "" and not _NUMBER_TEXT.match(v) for v in row)
    return words >= HEADER_TEXT_RATIO * filled


# --- DuckDB-native staging (JSON, Parquet) -------------------------------------------------

_INTEGER = re.compile(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|UTINYINT|USMALLINT|UINTEGER)$")
_FLOAT = re.compile(r"^(FLOAT|REAL|DOUBLE|DECIMAL(\(\d+,\s*\d+\))?)$")
_NESTED = re.compile(r"^(STRUCT|MAP|UNION)\(|\[\d*\]$")
_TIMESTAMP = re.compile(r"^TIMESTAMP(_S|_MS|_NS)?$")


def type_family(duckdb_type: str) -> str:
    """nested, json, int, float, bool, date, timestamp, timestamptz, blob or text."""
    kind = duckdb_type.upper()
    if _NESTED.search(kind):
        return "nested"
    if _INTEGER.match(kind):
        return "int"
    if _FLOAT.match(kind):
        return "float"
    if _TIMESTAMP.match(kind):
        return "timestamp"
    simple = {"JSON": "json", "BOOLEAN": "bool", "DATE": "date", "TIMESTAMP WITH TIME ZONE": "timestamptz",
              "BLOB": "blob"}
    # VARCHAR, and what has no field type of its own (UUID, TIME, INTERVAL, ENUM, HUGEINT…): text.
    return simple.get(kind, "text")


_STAGING: dict[str, tuple[FieldType, str]] = {
    "nested": (FieldType.JSON, "CAST(to_json({}) AS VARCHAR)"),
    "json": (FieldType.JSON, "CAST({} AS VARCHAR)"),
    "int": (FieldType.INT, "CAST({} AS BIGINT)"),
    "float": (FieldType.DOUBLE, "CAST({} AS DOUBLE)"),
    "bool": (FieldType.BOOLEAN, "{}"),
    "date": (FieldType.DATE, "{}"),
    "timestamp": (FieldType.DATETIME, "CAST({} AS TIMESTAMP)"),
    "timestamptz": (FieldType.DATETIME, "{}"),
    "blob": (FieldType.TEXT, "to_base64({})"),
}


def engine_column(duckdb_type: str, text: FieldType | None) -> tuple[FieldType | None, str]:
    """How a column of a DuckDB type is staged: (declared type, SQL template over ``{}``).

    ``text`` is what a text column is declared as: ``None`` when its values are text to infer
    (JSON strings), ``TEXT`` when the format says they are text (Parquet strings). Nested values
    become JSON text, binary values base64 text.
    """
    return _STAGING.get(type_family(duckdb_type), (text, "CAST({} AS VARCHAR)"))


def query_stager(from_clause: str, expressions: list[str], diagnose: Callable[[Exception], IngestError]) -> \
        Callable[[list[str]], Stager]:
    """A stager running ``CREATE TEMP TABLE … AS SELECT <expressions> FROM <from_clause>``."""

    def for_names(names: list[str]) -> Stager:
        selects = ", ".join(f"{expr} AS {quote_ident(name)}" for expr, name in zip(expressions, names))

        def stage(con: duckdb.DuckDBPyConnection, table: str) -> None:
            try:
                con.execute(f"CREATE TEMP TABLE {quote_ident(table)} AS SELECT {selects} FROM {from_clause}")
            except duckdb.Error as error:
                raise diagnose(error) from None

        return stage

    return for_names


def describe(sql: str) -> list[tuple[str, str]]:
    """(column, DuckDB type) of a query, on a private connection (the loader's stays untouched)."""
    with duckdb.connect() as con:
        return [(row[0], row[1]) for row in con.execute(f"DESCRIBE {sql}").fetchall()]


# --- Arrow staging (spreadsheets, geographic files) ----------------------------------------

def batch_stager(schema: pa.Schema, batches: Callable[[], Iterator[pa.RecordBatch]], source: str) -> Stager:
    """Stage a stream of Arrow batches whose columns are already named and typed.

    An exception raised while producing a batch crosses DuckDB as an opaque engine error; the
    original is kept aside and re-raised, so a precise ``IngestError`` (feature, row) survives.
    """
    failures: list[BaseException] = []

    def guarded() -> Iterator[pa.RecordBatch]:
        try:
            yield from in_python_thread(batches)
        except Exception as error:
            failures.append(error)
            raise

    inner = arrow_stager(lambda: pa.RecordBatchReader.from_batches(schema, guarded()))

    def stage(con: duckdb.DuckDBPyConnection, table: str) -> None:
        failures.clear()
        try:
            inner(con, table)
        except Exception as error:
            cause = failures[0] if failures else error
            if isinstance(cause, IngestError):
                raise cause from None
            raise IngestError(f"could not read the data: {first_line(cause)}", source=source) from cause

    return stage


def in_python_thread(batches: Callable[[], Iterator[pa.RecordBatch]]) -> Iterator[pa.RecordBatch]:
    """The batches of ``batches()``, produced in a thread of our own and handed over one by one.

    DuckDB pulls an Arrow stream from its native worker threads, and PROJ (through pyproj)
    crashes the process when called from such a thread. Producing in a Python thread avoids
    that; the hand-over queue holds at most ``HANDOFF`` batches, so memory stays bounded.
    """
    handoff: queue.Queue[tuple[pa.RecordBatch | None, BaseException | None]] = queue.Queue(maxsize=HANDOFF)
    stop = threading.Event()

    def put(item: tuple[pa.RecordBatch | None, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator: Iterator[pa.RecordBatch] | None = None
        try:
            iterator = batches()
            for batch in iterator:
                if not put((batch, None)):
                    return
            put((None, None))
        except BaseException as error:  # handed to the consumer, which raises it
            put((None, error))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="portail-reader", daemon=True)
    worker.start()
    try:
        while True:
            batch, error = handoff.get()
            if error is not None:
                raise error
            if batch is None:
                return
            yield batch
    finally:
        stop.set()
        worker.join()
