"""Readers, one module per format family; ``READERS`` maps a format name to its reader."""

from collections.abc import Callable
from pathlib import Path

from portail.ingest.readers.csv import read_csv
from portail.ingest.types import RawTable, ReadOptions

READERS: dict[str, Callable[[Path, ReadOptions], RawTable]] = {
    "csv": read_csv,
    "tsv": read_csv,
}
