"""Readers, one module per format family; ``READERS`` maps a format name to its reader.

Every reader has the signature ``read_<fmt>(path, options) -> RawTable`` and raises only
``IngestError`` on bad input. The format names are those ``ingest.detect`` decides.
"""

from collections.abc import Callable
from pathlib import Path

from portail.ingest.readers.csv import read_csv
from portail.ingest.readers.geo import read_geo
from portail.ingest.readers.json import read_json, read_jsonl
from portail.ingest.readers.parquet import read_parquet
from portail.ingest.readers.spreadsheet import read_spreadsheet
from portail.ingest.types import RawTable, ReadOptions

READERS: dict[str, Callable[[Path, ReadOptions], RawTable]] = {
    "csv": read_csv,
    "tsv": read_csv,
    "xlsx": read_spreadsheet,
    "xls": read_spreadsheet,
    "xlsb": read_spreadsheet,
    "ods": read_spreadsheet,
    "json": read_json,
    "jsonl": read_jsonl,
    "geojson": read_geo,
    "shp": read_geo,
    "gpkg": read_geo,
    "parquet": read_parquet,
}
