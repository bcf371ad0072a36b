"""The interface every record store implements (DuckDB today, PostgreSQL/PostGIS later).

Kept small on purpose: a second implementation must be one file, not a rewrite. Queries
arrive as sqlglot expressions over a table named ``records``; the store decides where that
table physically lives for the given version location.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa
from sqlglot import exp


@dataclass(frozen=True)
class Prepared:
    """A query bound to a version, ready to run again (callers keep it with their plans). A
    store may know its answer without running the SQL: ``known``, the rows of a count answered
    when the query was bound; ``rowids``, the rows of a page it reads from the version's page
    file (``store.pages``) instead of the records, ``columns`` naming, for each output, the
    page file's column that holds it."""

    sql: str
    known: tuple[dict[str, Any], ...] | None = None
    rowids: tuple[int, ...] | None = None
    columns: tuple[tuple[str, str], ...] = ()


class Build(Protocol):
    def create_records(self, select: exp.Expression, sort_by: Sequence[str] = ()) -> None: ...
    def append(self, batches: pa.RecordBatchReader) -> None: ...
    def finish(self, meta: dict[str, Any]) -> Any: ...
    def abort(self) -> None: ...


class Store(Protocol):
    def lock(self, uid: str) -> AbstractContextManager[None]: ...
    def begin_version(self, uid: str, number: int) -> Build: ...
    def drop_version(self, location: str) -> None: ...
    def build_indexes(self, location: str, text_fields: Sequence[str], single_valued: Sequence[str],
                      page_columns: Sequence[exp.Expression] = ()) -> None: ...
    def has_index(self, location: str) -> bool: ...
    def warm(self, locations: Iterable[str]) -> list[str]: ...
    def drop_dataset(self, uid: str) -> None: ...
    def query(self, location: str, query: exp.Expression, params: Sequence[Any] | None = None) -> pa.Table: ...
    def prepare(self, location: str, query: exp.Expression, *, owned: bool = False) -> Prepared: ...
    def rows(self, location: str, prepared: Prepared, params: Sequence[Any] | None = None) -> list[dict[str, Any]]: ...
    def stream(self, location: str, query: exp.Expression, params: Sequence[Any] | None = None,
               batch_size: int = 65536) -> Iterator[pa.RecordBatch]: ...
    def version_meta(self, location: str) -> dict[str, Any]: ...
