"""Which reader fits a file: decided on its bytes first, its name second.

A publisher's ``format`` option wins; otherwise magic numbers tell binary formats apart (a
``.csv`` that is really an Excel file is common), and the first bytes of text tell JSON,
GeoJSON and JSON Lines from CSV.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from pathlib import Path

from portail.ingest.errors import IngestError
from portail.ingest.types import RawTable, ReadOptions

EXTENSIONS = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xls",
    ".xlsb": "xlsb", ".ods": "ods", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".geojson": "geojson",
    ".shp": "shp", ".gpkg": "gpkg", ".parquet": "parquet", ".pq": "parquet",
}
#: The formats a reader reads (``readers.READERS``'s names): a zip is no format of its own but a
#: container, opened by detection for the spreadsheet or Shapefile it holds (``_zip_format``).
SUPPORTED = sorted(set(EXTENSIONS.values()))
#: The read options that only some formats use: the others ignore them, so one given for another
#: format (a sheet for a CSV, a delimiter for a spreadsheet) would do nothing of what was asked.
#: Only the CSV reader reads an encoding: JSON and GeoJSON are UTF-8 (RFC 8259, RFC 7946), a
#: Shapefile's DBF is read in its ``.cpg``'s encoding or the one detected (``readers.geo``), and
#: spreadsheets, GeoPackages and Parquet files say their own.
OPTION_FORMATS: dict[str, tuple[str, ...]] = {"encoding": ("csv", "tsv"), "delimiter": ("csv", "tsv"),
                                              "sheet": ("xlsx", "xls", "xlsb", "ods")}


def _zip_format(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile as error:
        raise IngestError(f"corrupt or truncated archive ({error})", source=path.name) from None
    lowered = [n.lower() for n in names]
    if "[content_types].xml" in lowered:
        return "xlsb" if any(n.endswith(".bin") and "workbook" in n for n in lowered) else "xlsx"
    if "mimetype" in lowered and any(n == "content.xml" for n in lowered):
        return "ods"
    if any(n.endswith(".shp") for n in lowered):
        if not any(n.endswith(".dbf") for n in lowered):  # GDAL reads the shapes alone, every attribute lost
            raise IngestError("the Shapefile comes without its .dbf (the attributes)", source=path.name)
        return "shp"
    if any(n.endswith((".gpkg", ".geojson")) for n in lowered):
        return "geojson"  # the geo reader opens any vector layer inside the archive
    raise IngestError("a zip archive that holds no spreadsheet and no Shapefile", source=path.name)


def _text_format(path: Path, head: bytes) -> str:
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff \t\r\n")
    if text.startswith("["):
        return "json"
    if text.startswith("{"):
        if '"FeatureCollection"' in text[:65536] or '"Feature"' in text[:4096]:
            return "geojson"
        first, _, rest = text.partition("\n")
        try:
            json.loads(first)
            if rest.lstrip().startswith("{"):
                return "jsonl"
        except ValueError:
            pass
        return "json"
    return "csv"


def detect_format(path: Path, options: ReadOptions) -> str:
    if options.format:
        return options.format.lower()
    if not path.exists():
        raise IngestError("file not found", source=str(path))
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    if not head:
        raise IngestError("the file is empty", source=path.name)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _zip_format(path)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg"
    if head.startswith(b"\x00\x00\x27\x0a"):  # the ESRI Shapefile main file signature
        return "shp"
    if head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"7z\xbc\xaf", b"Rar!", b"%PDF")):
        raise IngestError("unsupported file format (compressed or PDF file); supported: " + ", ".join(SUPPORTED),
                          source=path.name)
    if path.suffix.lower() == ".pdf":
        raise IngestError("the file is named .pdf but its content is not a PDF", source=path.name)
    by_name = EXTENSIONS.get(path.suffix.lower())
    if by_name == "json":  # an array, an object, JSON Lines or GeoJSON, told by the text
        if (found := _text_format(path, head)) == "csv":
            raise IngestError("the file is named .json but holds no JSON array or object", source=path.name)
        return found
    if by_name in ("csv", "tsv", "jsonl", "geojson"):
        return by_name
    if by_name is not None and by_name not in ("csv", "tsv"):
        raise IngestError(f"the file is named {path.suffix} but its content is not {by_name}", source=path.name)
    return _text_format(path, head)


def option_misfit(fmt: str | None, options: ReadOptions) -> str | None:
    """Why ``options`` cannot be read as they were asked in a file of format ``fmt`` (None: not
    known yet), or None: an empty encoding, delimiter or sheet (read as none given: detected,
    sniffed, the first sheet), or an option the format ignores (``OPTION_FORMATS``)."""
    for name in OPTION_FORMATS:
        if (misfit := _misfit(name, getattr(options, name), fmt)) is not None:
            return misfit
    return None


def _misfit(name: str, value: str | int | None, fmt: str | None) -> str | None:
    """Why the read option ``name`` set to ``value`` cannot apply to a file of format ``fmt``."""
    if value == "":
        return f"the {name} is empty: give one, or leave the option out to have it detected"
    if name == "delimiter" and value is not None and (misfit := delimiter_misfit(str(value))) is not None:
        return misfit
    if value is not None and fmt is not None and fmt not in OPTION_FORMATS[name]:
        article = "an" if name[0] in "aeiou" else "a"
        return f"{article} {name} applies to {', '.join(OPTION_FORMATS[name])} files only, not to {fmt}"
    return None


def delimiter_misfit(text: str) -> str | None:
    """Why the CSV reader cannot split on ``text``, or None. The reader's own check (a sniffed
    delimiter passes it too), also made before a version starts: ``--delimiter '\\t'`` or
    ``tab`` failed a version the command line could have refused."""
    if len(text) == 1 and text not in "\"\r\n" and (text == "\t" or text.isprintable()):
        return None
    return f"invalid delimiter {text!r}: one character, not a quote, a line break or a control character (a tab is one)"


def encoding_misfit(encoding: str | None) -> str | None:
    """Why ``encoding`` cannot be read with, or None (none given). A codec Python knows is not
    enough: ``hex``, ``base64`` or ``rot13`` turn bytes into bytes (or text into text), and
    ``undefined`` refuses every text; the reader met them after a version had started, with a
    traceback and a failed version left. The one check of the command line (``--encoding``),
    the management API and the options a reload reads again (``check_options``)."""
    if encoding is None:
        return None
    try:
        "".encode(encoding)  # refused by a codec that is no text encoding (b"".decode() is never looked up)
    except (LookupError, UnicodeError):  # UnicodeError: ``undefined``
        return (f"unknown encoding {encoding!r}: give a text encoding (e.g. utf-8, cp1252, latin-1), "
                "or none to have it detected")
    return None


def check_options(path: Path, options: ReadOptions) -> None:
    """Refuse the options that cannot apply to the file (``encoding_misfit``, ``option_misfit``)
    before a load starts a version: ignored, the load went on and published something else than
    what was asked; not a text encoding, it failed with a traceback after the version started.
    The file's format is detected only when an option that depends on it is given."""
    if (misfit := encoding_misfit(options.encoding)) is not None:
        raise IngestError(misfit, source=path.name)
    if any(getattr(options, name) is not None for name in OPTION_FORMATS):
        if (misfit := option_misfit(detect_format(path, options), options)) is not None:
            raise IngestError(misfit, source=path.name)


def fitting_options(path: Path, options: ReadOptions) -> tuple[ReadOptions, list[str]]:
    """``options`` without those that cannot apply to the file (``option_misfit``), for options
    a load recorded before they were refused: that load ignored them (a sheet for a CSV, an
    empty delimiter read as none), so its file is read again as it read it. Refused, they broke
    the reload of a served dataset, with no option to take them back (an empty one is refused).
    With them, a note for the load's report per option dropped, naming it and why: dropped
    silently, the publisher never learnt that what the former load recorded is no longer used."""
    if not any(getattr(options, name) is not None for name in OPTION_FORMATS):
        return options, []
    fmt = detect_format(path, options)
    dropped = {name: misfit for name in OPTION_FORMATS
               if (misfit := _misfit(name, getattr(options, name), fmt)) is not None}
    notes = [f"read option {name}={getattr(options, name)!r} of the former load dropped: "
             + ("it is empty, read as none given" if getattr(options, name) == "" else misfit)
             for name, misfit in dropped.items()]
    return replace(options, **{name: None for name in dropped}), notes


def open_source(path: Path, options: ReadOptions | None = None) -> RawTable:
    """The raw table of a file, whatever its format."""
    from portail.ingest.readers import READERS

    options = options or ReadOptions()
    path = Path(path)
    fmt = detect_format(path, options)
    reader = READERS.get(fmt)
    if reader is None:
        raise IngestError(f"unsupported format {fmt!r}; supported: {', '.join(SUPPORTED)}", source=path.name)
    return reader(path, options)
