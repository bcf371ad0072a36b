"""The record-id index of a version: which row has which record id.

A record's id is the SHA-1 of its values (``values.record_id_expression``), computed when asked,
not stored. A lookup by id (``/records/{id}``) hashed every row: the engine's ``LIMIT 1`` does
not stop a parallel scan under a filter, so 6-10 s on two million rows (the cast of a geometry
to text alone is a fifth of it), wherever the record sits. So a big version's index file
(``DuckDBStore.build_indexes``, beside its key index: ``store.keys``) holds two more tables:

* ``id_rows(h, rid)``: the first 64 bits of each row's id, sorted on them: the engine's zone
  maps skip every row group but the one holding the wanted value (a few milliseconds);
* ``id_key(expression)``: the SQL of the id expression hashed, the version's own (every field,
  or those annotated ``id``), and the engine's time zone then (``key_of``). A caller whose id differs (hidden fields: an id never confirms a
  hidden value) gets no rows from here and scans, as before.

The table only *accelerates*: its rows are candidates, re-tested by the caller with the full
id condition (64 bits may collide). Versions under ``MIN_ROWS`` rows, or built before, have no
table: a scan of them costs less than the table's build, which every published version pays
(one pass hashing every row, ~1.5 µs a row with a geometry, plus the sort).
"""

from __future__ import annotations

import duckdb
from sqlglot import exp

TABLE = "id_rows"
KEY_TABLE = "id_key"
#: Versions with fewer rows get no table: their lookups scan (~0.3 s at this size, loaded machine).
MIN_ROWS = 100_000


def key_of(con: duckdb.DuckDBPyConnection, id_expression: exp.Expression) -> str:
    """What an id table is valid for: the id expression's SQL (equal texts hash the same values
    the same way) and the engine's time zone, in which it writes a datetime as text (the ids of
    records holding one differ from zone to zone: a table built by a process of another zone,
    a reindex from an admin's shell, names no row of the server's ids)."""
    zone = con.execute("SELECT current_setting('TimeZone')").fetchone()[0]
    return f"{zone}\n{id_expression.sql(dialect='duckdb')}"


def prefix_of(record_id: str) -> int:
    """An id's first 64 bits, as the table holds them (ids are 40 hexadecimal digits)."""
    return int(record_id[:16], 16)


def _prefix(id_expression: exp.Expression) -> exp.Expression:
    """The first 64 bits of the id the expression computes, as ``UBIGINT``."""
    digits = exp.func("left", id_expression.copy(), exp.Literal.number(16))
    return exp.cast(exp.DPipe(this=exp.Literal.string("0x"), expression=digits), "UBIGINT", dialect="duckdb")


def build(con: duckdb.DuckDBPyConnection, catalog: str, id_expression: exp.Expression, source: exp.Table) -> int:
    """Write into ``catalog`` the id table of ``source`` under ``id_expression``, if ``source``
    holds at least ``MIN_ROWS`` rows; returns its number of rows (0: not written)."""
    count = con.execute(exp.select("count(*)").from_(source.copy()).sql(dialect="duckdb")).fetchone()[0]
    if count < MIN_ROWS:
        return 0
    target = f'"{catalog}".main.{TABLE}'
    con.execute(f"CREATE TABLE {target} (h UBIGINT, rid BIGINT)")
    rows = exp.select(exp.alias_(_prefix(id_expression), "h"), "rowid").from_(source.copy())
    con.execute(f"INSERT INTO {target} {rows.sql(dialect='duckdb')} ORDER BY h")
    con.execute(f'CREATE TABLE "{catalog}".main.{KEY_TABLE} AS SELECT ? AS expression', [key_of(con, id_expression)])
    return count


def read_key(con: duckdb.DuckDBPyConnection, catalog: str) -> str | None:
    """What the id table of the version attached as ``catalog`` is valid for (``key_of``;
    ``None``: no id table)."""
    try:
        found = con.execute(f'SELECT expression FROM "{catalog}".main.{KEY_TABLE}').fetchone()
    except duckdb.CatalogException:
        return None
    return found[0] if found else None


def candidates(con: duckdb.DuckDBPyConnection, catalog: str, record_id: str) -> list[int]:
    """The row ids whose id begins as ``record_id`` does (usually one, or none)."""
    return [rid for (rid,) in con.execute(f'SELECT rid FROM "{catalog}".main.{TABLE} WHERE h = ?',
                                          [prefix_of(record_id)]).fetchall()]

