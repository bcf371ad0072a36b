"""What a reader hands to the loader.

A reader answers two questions about its input: what the columns are called (original
labels, kept for display), and how to put the raw values into a DuckDB table so that the
loader can infer types over the whole input with one scan. Columns whose format carries no
type (CSV, spreadsheet cells) arrive as VARCHAR and are typed by ``infer``; columns whose
format is typed (Parquet, GeoJSON numbers, geometries) arrive typed and are declared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb
import pyarrow as pa

from portail.ingest.errors import IngestError
from portail.schema import FieldType

#: Writes the raw columns into a new DuckDB table: (connection, table_name) -> None.
Stager = Callable[[duckdb.DuckDBPyConnection, str], None]


@dataclass
class ReadOptions:
    """Publisher's hints; every one is optional and detection fills the rest."""

    format: str | None = None  # csv, xlsx, xls, ods, json, jsonl, geojson, shp, gpkg, parquet
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | int | None = None  # spreadsheet sheet name or 0-based index
    header_row: int | None = None  # 0-based row of the header in a spreadsheet (None: detect)
    json_path: str | None = None  # dotted path to the array of records in a JSON document
    layer: str | None = None  # layer of a GeoPackage
    max_line_bytes: int = 16 * 1024**2
    max_unzipped_bytes: int = 8 * 1024**3
    max_zip_ratio: int = 200
    #: Where a reader writes a copy it needs (a UTF-8 transcoding): the home's tmp folder, on the
    #: data disk and swept there after a killed load (None: the system's, for a file read alone).
    tmp_dir: Path | None = None


@dataclass
class RawTable:
    source: str  # display name used in error messages (file name)
    labels: list[str]  # original column headers, in order
    names: list[str]  # normalized unique field names, same order (schema.unique_names)
    stage: Stager  # writes the raw values into a DuckDB table named `names`
    declared: dict[str, FieldType] = field(default_factory=dict)  # typed columns; others are text to infer
    notes: list[str] = field(default_factory=list)  # what detection found (encoding, delimiter…) for the report
    cleanup: list[Path] = field(default_factory=list)  # temporary files to delete after the load
    # Turns an engine error raised while the staged data is scanned into a precise IngestError
    # (staging may be lazy: a view over the file is only read by the loader's passes).
    diagnose: Callable[[Exception], "IngestError"] | None = None
    # The line of the file holding each of some fields' values, {name: value as staged but trimmed}
    # -> {name: line} (those found): the report names where a value that could not be read is, all
    # fields in one pass (None: the reader cannot tell).
    locate_values: Callable[[dict[str, str]], dict[str, int]] | None = None


def arrow_stager(make_reader: Callable[[], pa.RecordBatchReader]) -> Stager:
    """A stager for readers that produce Arrow batches: DuckDB scans the stream once."""

    def stage(con: duckdb.DuckDBPyConnection, table: str) -> None:
        reader = make_reader()
        con.register("__portail_arrow_source", reader)
        try:
            con.execute(f'CREATE TEMP TABLE "{table}" AS SELECT * FROM __portail_arrow_source')
        finally:
            con.unregister("__portail_arrow_source")

    return stage
