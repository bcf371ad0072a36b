"""Parquet, read by DuckDB's Parquet scanner (row group by row group, in parallel).

Parquet is typed, so every column is declared and nothing is inferred: strings are TEXT (a
code such as ``01001`` written as a string stays a string), integers INT, floating and decimal
numbers DOUBLE (a field type of its own for exact decimals would exist nowhere else: the store,
ODSQL and the API's JSON all hold numbers as doubles, so a note names the decimal columns read
as double, whose values beyond 15 significant digits are rounded), dates DATE, timestamps
(with or without time zone) DATETIME (a naive one a wall time, which the loader reads in the
dataset's zone: ``load.staged_naive``), nested values (lists, structs, maps) JSON text, binary
values base64 text.

GeoParquet geometry columns (``geo`` file metadata, WKB encoding) become GEO_SHAPE under their
own name. They are staged as WKB in WGS84: when the loader's connection has the spatial
extension, DuckDB hands them over as GEOMETRY and they are turned back into WKB, and a CRS other
than WGS84 is reprojected there with ``ST_Transform`` (longitude/latitude order) — in SQL, on
DuckDB's threads, where a Python callback would have to cross back into the interpreter.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
from pyproj import CRS
from pyproj.exceptions import CRSError

from portail.ingest.errors import IngestError
from portail.ingest.readers._common import describe, engine_column, first_line, make_table, quote_ident, \
    sql_literal
from portail.ingest.types import RawTable, ReadOptions, Stager
from portail.schema import FieldType


def read_parquet(path: Path, options: ReadOptions) -> RawTable:
    source = path.name
    scan = f"read_parquet({sql_literal(str(path))})"
    try:
        columns = describe(f"SELECT * FROM {scan}")
        geo = _geoparquet(path)
    except duckdb.Error as error:
        raise IngestError(f"corrupt, truncated or unsupported Parquet file ({first_line(error, path.parent)})",
                          source=source) from None
    if not columns:
        raise IngestError("the Parquet file has no columns", source=source)
    labels = [name for name, _ in columns]
    staged = [engine_column(kind, text=FieldType.TEXT) for _, kind in columns]
    types = [FieldType.GEO_SHAPE if label in geo else kind for label, (kind, _) in zip(labels, staged)]
    expressions = {label: template.format(quote_ident(label)) for label, (_, template) in zip(labels, staged)}
    notes = [f"GeoParquet geometry: {', '.join(geo)}"] if geo else []
    decimals = [f"{label} ({kind.lower()})" for label, kind in columns if kind.upper().startswith("DECIMAL")]
    if decimals:
        notes.append(f"decimal numbers read as double (15 significant digits): {', '.join(decimals)}")

    def diagnose(error: Exception) -> IngestError:
        return IngestError(f"could not read the Parquet data ({first_line(error, path.parent)})", source=source)

    def stage_for(names: list[str]) -> Stager:
        def stage(con: duckdb.DuckDBPyConnection, table: str) -> None:
            try:
                selects = expressions | _geometry_selects(con, scan, geo)
                listed = ", ".join(f"{selects[label]} AS {quote_ident(name)}" for label, name in zip(labels, names))
                con.execute(f"CREATE TEMP TABLE {quote_ident(table)} AS SELECT {listed} FROM {scan}")
            except duckdb.Error as error:
                raise diagnose(error) from None

        return stage

    return make_table(source, labels, types, stage_for, notes=notes, diagnose=diagnose)


def _geoparquet(path: Path) -> dict[str, CRS | None]:
    """Geometry columns declared by GeoParquet metadata: name -> CRS to reproject from (None: WGS84)."""
    with duckdb.connect() as con:
        row = con.execute("SELECT value FROM parquet_kv_metadata(?) WHERE key = 'geo'", [str(path)]).fetchone()
    try:
        meta: dict[str, Any] = json.loads(row[0]) if row else {}
    except ValueError:
        raise IngestError("the GeoParquet metadata is not valid JSON", source=path.name) from None
    geometry: dict[str, CRS | None] = {}
    for name, spec in (meta.get("columns") or {}).items():
        if str(spec.get("encoding", "WKB")).upper() == "WKB":
            geometry[name] = _crs(spec.get("crs"), name, path.name)
    return geometry


def _crs(spec: Any, column: str, source: str) -> CRS | None:
    """GeoParquet's column CRS (PROJJSON; absent means OGC:CRS84), None when it is WGS84."""
    if not spec:
        return None
    try:
        crs = CRS.from_user_input(spec)
    except CRSError:
        raise IngestError("unknown coordinate system in the GeoParquet metadata", source=source, field=column) from None
    return None if crs.to_2d().equals(CRS.from_epsg(4326), ignore_axis_order=True) else crs


def _geometry_selects(con: duckdb.DuckDBPyConnection, scan: str, geo: dict[str, CRS | None]) -> dict[str, str]:
    """WKB in WGS84 for each geometry column, whatever type this connection reads it as."""
    if not geo:
        return {}
    actual = {row[0]: row[1].upper() for row in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()}
    selects = {}
    for column, crs in geo.items():
        value = quote_ident(column)
        if crs is None:
            selects[column] = value if actual[column] == "BLOB" else f"ST_AsWKB({value})"
            continue
        shape = f"ST_GeomFromWKB({value})" if actual[column] == "BLOB" else value
        source_crs = crs.to_string() if crs.to_epsg() else crs.to_wkt()
        selects[column] = f"ST_AsWKB(ST_Transform({shape}, {sql_literal(source_crs)}, 'EPSG:4326', always_xy := true))"
    return selects
