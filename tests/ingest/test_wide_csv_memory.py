"""Very wide CSV files (INSEE's communal bases: 1,900 to 5,000 columns) within the load's memory,
loaded through the real loader: the records are cast in parts of ``COLUMNS_PER_WRITE`` columns
put side by side again, into a file of small blocks (``NARROW_BLOCK_SIZE``)."""

from __future__ import annotations

import functools
from datetime import date
from pathlib import Path

import duckdb
import pytest

from portail.catalog import services
from portail.ingest.load import COLUMNS_PER_WRITE
from portail.operations import load_file
from portail.store.duckdb_store import NARROW_BLOCK_SIZE
from tests.conftest import make_instance

KINDS = ("int", "double", "date", "text")
POINT = 5  # a geo_point_2d column: its geometry is cast in a part


def kind(column: int) -> str:
    """The type a column's values are written as, and the one the load must find."""
    return "geo_point_2d" if column == POINT else KINDS[column % 4]


def value(row: int, column: int) -> str:
    """The file's value at ``row``, ``column``: an integer, a decimal comma, a day-first date or
    a word by column, padded with spaces (read trimmed), empty (null) every 7th row; one
    impossible date, a rejected value, in the first date column; and a column of points."""
    if (row + column) % 7 == 0:
        return ""
    of = kind(column)
    if of == "geo_point_2d":
        return f"48.{row % 100:02d}, 2.{row % 10}"
    if of == "int":
        return f" {row * column % 1000}"
    if of == "double":
        return f"{row % 90},{column % 10}5"
    if of == "date":
        return "31/02/2024" if column == 2 and row == 3 else f"{row % 28 + 1:02d}/03/2024 "
    return f"v{(row + column) % 13}"


@functools.cache
def expected(raw: str, of: str):
    """What a value ``raw`` of a column of kind ``of`` reads as (once per distinct value: the
    file's 1.26 M values are a few thousand)."""
    raw = raw.strip()
    if not raw or raw == "31/02/2024":
        return None
    if of == "geo_point_2d":
        return [float(v) for v in reversed(raw.split(", "))]
    return {"int": int, "double": lambda v: float(v.replace(",", ".")),
            "date": lambda v: date(2024, 3, int(v[:2])), "text": str}[of](raw)


def write(path: Path, values: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8") as out:
        out.write(";".join(f"c{i}" for i in range(len(values[0]))) + "\n")
        out.writelines(";".join(row) + "\n" for row in values)
    return path


@pytest.mark.slow  # ~9 s: started early by the suite's file order (tests/conftest.py)
def test_a_wide_file_of_thousands_of_rows_loads_within_the_loads_memory(tmp_path):
    """A single statement casting every column of a wide file ran out of the load's memory (the
    engine reserves vectors per column, whatever the rows: 2,000 columns of 60 rows in 512 MB),
    and, past one vector of rows (2,048), writing or reading a table not yet checkpointed held a
    256 KB block of each column (2,000 columns of 5,000 rows, even cast in parts): the file was
    refused as an engine error. Here 600 columns of 2,100 rows in 192 MB (2 threads: memory per
    statement grows with them) fail either way.
    Types, nulls, the row order and the rejected value with its line are a narrow file's."""
    width, rows = 600, 2100
    assert width > COLUMNS_PER_WRITE
    instance = make_instance(tmp_path / "home", ingest_memory_limit="192MB", ingest_threads=2)
    try:
        with instance.session() as session:
            services.create_dataset(session, "large", "Large")
        values = [[value(r, c) for c in range(width)] for r in range(rows)]
        report = load_file(instance, "large", write(tmp_path / "large.csv", values), publish=True).report
        with instance.session() as session:
            location = services.get_dataset(session, "large").current.location
        point = f"CASE WHEN c{POINT} IS NOT NULL THEN [ST_X(c{POINT}), ST_Y(c{POINT})] END"
        stored = instance.store.query(location, f"SELECT * EXCLUDE (__lon__c{POINT}, __lat__c{POINT}) "
                                                f"REPLACE ({point} AS c{POINT}) FROM records").to_pylist()
    finally:
        instance.store.close()
    types = [f.type for f in report.fields]
    kinds = [kind(c) for c in range(width)]
    assert report.rows == rows and types == kinds
    assert [list(r.values()) for r in stored] == [[expected(v, of) for v, of in zip(row, kinds)] for row in values]
    rejected = {f.name: (f.rejected, f.examples, f.example_line) for f in report.fields if f.rejected}
    assert rejected == {"c2": (1, ["31/02/2024"], 5)}
    with duckdb.connect(location, read_only=True) as con:
        assert con.execute("SELECT block_size FROM pragma_database_size()").fetchone()[0] == NARROW_BLOCK_SIZE
