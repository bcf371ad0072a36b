"""Dataset exports: records as files, streamed batch by batch.

Public face: ``FORMATS`` (name → ``ExportFormat``), ``columns_for(fields, fmt)`` (how each
stored field is read for a format) and ``ExportOptions``. A writer takes the output schema
and an iterator of Arrow batches and yields bytes, so memory stays one batch deep whatever
the dataset size; formats that need a seekable file (Parquet, geo formats) are written to a
temporary file on disk and streamed from there. XLSX streams as it is written (``xlsx``: a zip
grown entry by entry), its first bytes with the first rows.

Knows nothing of HTTP or ODSQL: the API compiles the query, the store streams the batches.
"""

from portail.exports.formats import (FORMATS, LEGACY_NAMES, OGR_FORMATS, ExportFormat, ExportOptions, columns_for,
                                     layer_geometry_type)

__all__ = ["FORMATS", "LEGACY_NAMES", "OGR_FORMATS", "ExportFormat", "ExportOptions", "columns_for",
           "layer_geometry_type"]
