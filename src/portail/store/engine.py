"""DuckDB connections configured the one way Portail needs them.

The engine cannot download extensions here (nor on many production hosts), so the spatial
and full-text extensions come from the ``duckdb-extension-*`` wheels pinned beside DuckDB
and are loaded from their files.
"""

from __future__ import annotations

import glob
import os
from functools import cache

import duckdb


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
) -> duckdb.DuckDBPyConnection:
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
    load_extensions(con, "spatial")
    return con
