"""Ingest: turn a source file into a typed, validated table ready to become a version.

Public face:
- ``open_source(path, options)`` picks the reader for a file and returns a ``RawTable``;
- ``build_version(...)`` (in ``load.py``) stages it, infers the schema over the *whole* input,
  casts, runs the processor pipeline and hands the result to the store.

Readers never hold a whole file as Python objects: they stream Arrow record batches, or let
DuckDB read the file directly (CSV) when that is faster and equally safe.
"""

from portail.ingest.errors import IngestError
from portail.ingest.types import RawTable, ReadOptions

__all__ = ["IngestError", "RawTable", "ReadOptions"]
