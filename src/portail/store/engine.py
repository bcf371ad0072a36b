"""DuckDB connections configured the one way Portail needs them.

The engine cannot download extensions here (nor on many production hosts), so the spatial
and full-text extensions come from the ``duckdb-extension-*`` wheels pinned beside DuckDB
and are loaded from their files.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
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
