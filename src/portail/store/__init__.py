"""Record storage: immutable dataset versions, queried with sqlglot expressions.

Public face: ``Store`` (the protocol), ``DuckDBStore`` (the default), ``Prepared`` (a bound query), ``VersionInfo``,
``open_store(settings)``. Knows nothing of ODSQL text, HTTP or metadata.
"""

from portail.config import Settings
from portail.store.base import Prepared, Store
from portail.store.duckdb_store import RECORDS, DuckDBStore, VersionBuild, VersionInfo


def open_store(settings: Settings) -> DuckDBStore:
    return DuckDBStore(settings.data_dir, memory_limit=settings.ingest_memory_limit,
                       threads=settings.ingest_threads, tmp_dir=settings.tmp_dir,
                       query_memory_limit=settings.query_memory_limit)


__all__ = ["RECORDS", "DuckDBStore", "Prepared", "Store", "VersionBuild", "VersionInfo", "open_store"]
