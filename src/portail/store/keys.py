"""The key index of a version: where each value of its code-like text fields sits.

API clients look records up by a code far more than they browse: a SIRET, an INSEE commune
code, a postal code (``refine=code_postal:75012``, ``where=siret="…"``). The engine answers
``field = 'value'`` by scanning the whole column (zone maps cannot help: codes are spread over
every row group), 20-30 ms on two million rows whatever the answer's size, where a database
index answers in one or two milliseconds. So a version's index file (written after the version
is published, beside its full-text index: ``DuckDBStore.build_indexes``) holds one more table:

* ``key_rows(field, value, rid)``: one row per (key field, row), sorted on ``(field, value)``:
  the engine's zone maps skip every row group but the one or two holding the wanted values.

A *key field* is a text field whose values look like codes: no space, at most
``MAX_LENGTH`` characters, and few rows per value (at most ``ROWS_PER_VALUE`` on average), so
that a value's rows are few enough to be worth listing. Why not DuckDB's ART index
(``CREATE INDEX``): it doubled the file of the benchmark's version (SIRET, commune and postal
codes) and took longer to build; the sorted table adds 22 % to it, readable by any process
that attaches the immutable file read-only.

The table only *accelerates*: the store resolves a key condition to the row ids it lists when
they are few (``store.fulltext.use_index``), and otherwise leaves the condition to the scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext

import duckdb
from sqlglot import exp

from portail.store.engine import COLUMNS_PER_STATEMENT, holds, unpivoted

TABLE = "key_rows"
#: A key field's values have at most this many characters, and no whitespace (codes, not names).
MAX_LENGTH = 64
#: ... and at most this many rows per distinct value, on average: a quarter of what a lookup
#: resolves to row ids (``store.fulltext.RESOLVE``, 2,048), so that most values' rows are listed.
#: At 64, the benchmark's postal and commune codes (~105 rows a value on 10 M rows) went
#: unkeyed: a page refined on one scanned the column, 20-80 ms instead of 2-5.
ROWS_PER_VALUE = 512
#: Fields of at most this many rows a value are always keyed; the less selective ones (up to
#: ``ROWS_PER_VALUE``) within ``WIDER_KEY_ROWS`` key rows per record, most selective first. The
#: table costs a row per record and key field, and a one-word code's full-text postings become
#: its key rows (instead of its distinct values' words): a file of 200 code columns of ~300 rows
#: a value, all keyed, published in 11.8 s instead of 5.9 with a 45 MB index and 60 MB of
#: postings beside its 15 MB version (1.1 MB of index without them).
SELECTIVE = 64
WIDER_KEY_ROWS = 4
#: A value that is one word as the full-text index folds and splits it.
WORD = "[a-z0-9]+"


def choose(con: duckdb.DuckDBPyConnection, source: exp.Table, text_columns: Sequence[str]) -> tuple[list[str], list[str]]:
    """The key fields among ``text_columns`` of ``source`` (one pass over the table), and those
    of them whose every value is one word as the full-text index folds it (lower-case ASCII
    letters and digits: SIRET, SIREN, postal codes): the key table then serves as their
    full-text postings too (``store.fulltext.build``), instead of a second copy of the column."""
    if not text_columns:
        return [], []
    stats = [exp.Count(this=exp.Star())]
    # Each node made here is used once: built and written in place (``copy=False``), as
    # ``build`` does; the default copies of the builders cost more than the SQL on wide files.
    for name in text_columns:
        column = exp.column(name, quoted=True)
        stats += [exp.func("approx_count_distinct", column.copy(), copy=False), exp.func("count", column.copy(), copy=False),
                  exp.func("max", exp.Length(this=column.copy()), copy=False),
                  exp.func("bool_or", exp.func("contains", column.copy(), exp.Literal.string(" "), copy=False), copy=False),
                  exp.func("bool_and", exp.func("regexp_full_match", column.copy(), exp.Literal.string(WORD), copy=False),
                           copy=False)]
    row = con.execute(exp.select(*stats).from_(source.copy(), copy=False).sql(dialect="duckdb", copy=False)).fetchone()
    keyed, wider, one_word = set(), [], set()
    for i, name in enumerate(text_columns):
        distinct, present, longest, spaced, word = row[1 + 5 * i:6 + 5 * i]
        if not present or distinct * ROWS_PER_VALUE < present or longest > MAX_LENGTH or spaced:
            continue
        if word:
            one_word.add(name)
        if distinct * SELECTIVE >= present:
            keyed.add(name)
        else:
            wider.append((present / distinct, name, present))
    budget = WIDER_KEY_ROWS * row[0]
    for _, name, present in sorted(wider):  # the most selective first
        if present <= budget:
            keyed.add(name)
            budget -= present
    chosen = [name for name in text_columns if name in keyed]
    return chosen, [name for name in chosen if name in one_word]


def build(con: duckdb.DuckDBPyConnection, catalog: str, fields: Sequence[str], source: exp.Table | None = None) -> int:
    """Write into ``catalog`` the key table of ``source`` (by default ``catalog``'s records) for
    ``fields`` (possibly none: the table then exists and is empty, and says the version was
    built with key indexing); returns its number of rows."""
    source = source or exp.table_("records", db="main", catalog=catalog)
    target = f'"{catalog}".main.{TABLE}'
    con.execute(f"CREATE TABLE {target} (field VARCHAR, value VARCHAR, rid BIGINT)")
    ordered = sorted(fields)
    # A statement per ``COLUMNS_PER_STATEMENT`` fields, not per field (500 on a file of 1,500
    # columns: 2.0 s); each sorted, in the fields' order: the table ends sorted on (field, value).
    for start in range(0, len(ordered), COLUMNS_PER_STATEMENT):
        rows = unpivoted(source, ordered[start:start + COLUMNS_PER_STATEMENT])
        con.execute(f"INSERT INTO {target} SELECT field, value, rid FROM {rows} ORDER BY field, value")
    return con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]


def read_keys(con: duckdb.DuckDBPyConnection, catalog: str,
              listing: AbstractContextManager = nullcontext()) -> frozenset[str]:
    """The key fields of the version attached as ``catalog`` (none for versions built before);
    ``listing`` as ``engine.holds`` takes it, held for the table's lookup, not its read."""
    if not holds(con, catalog, TABLE, listing):
        return frozenset()
    return frozenset(name for (name,) in con.execute(f'SELECT DISTINCT field FROM "{catalog}".main.{TABLE}').fetchall())


def key_condition(node: exp.Expression, records: str, keys: frozenset[str]) -> tuple[str, list[str]] | None:
    """``(field, values)`` when ``node`` tests a key field of ``records`` against text
    constants (``field = 'v'``, ``field IN ('v', 'w')``), else ``None``."""
    if isinstance(node, exp.EQ):
        column, values = node.this, [node.expression]
        if isinstance(values[0], exp.Column):
            column, values = values[0], [node.this]
    elif isinstance(node, exp.In) and not node.args.get("query") and not node.args.get("unnest") and \
            not node.args.get("field") and not node.args.get("is_global"):
        column, values = node.this, node.expressions
    else:
        return None
    if not isinstance(column, exp.Column) or column.name not in keys or column.table not in ("", records):
        return None
    if not values or not all(isinstance(v, exp.Literal) and v.is_string for v in values):
        return None
    return column.name, sorted({v.this for v in values})


def read(columns: Sequence[str], table: str, *conditions: exp.Expression) -> exp.Select:
    """``SELECT columns FROM table WHERE conditions`` (ANDed), from fresh nodes and without
    parsing or copying them: the reads of the index tables are built per search word and per
    query, where sqlglot's string builders parse and copy for more time than the read runs."""
    # exp.Table, not exp.to_table: that one parses its argument as SQL (~0.1 ms).
    select = exp.Select(expressions=[exp.column(c) for c in columns]).from_(exp.Table(this=exp.to_identifier(table)), copy=False)
    for condition in conditions:
        select = select.where(condition, copy=False)
    return select


def key_rows(field: str, values: Sequence[str]) -> exp.Select:
    """The row ids holding one of ``values`` in the key field ``field``."""
    value = exp.column("value")
    test = exp.EQ(this=value, expression=exp.Literal.string(values[0])) if len(values) == 1 else \
        exp.In(this=value, expressions=[exp.Literal.string(v) for v in values])
    return read(["rid"], TABLE, exp.EQ(this=exp.column("field"), expression=exp.Literal.string(field)), test)
