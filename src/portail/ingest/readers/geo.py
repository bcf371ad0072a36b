"""Geographic files: GeoJSON, Shapefile (zipped or with its siblings), GeoPackage.

GDAL (through pyogrio) reads them all as Arrow batches, so a big layer streams. The reader owns
what GDAL leaves to the caller:

* **One coordinate system.** Every geometry is stored as WKB in WGS84 longitude/latitude;
  anything else (Lambert-93 above all) is reprojected batch by batch with pyproj, vectorized
  through ``shapely.transform``, in the one Python thread that produces the batches (PROJ
  crashes on DuckDB's native threads, see ``_common.in_python_thread``). A layer without CRS is taken as WGS84 only when its
  coordinates are plausible longitudes/latitudes; otherwise it is refused (a Shapefile whose
  ``.prj`` was forgotten). A reprojected geometry far from where its declared system is used
  is refused too (longitudes/latitudes under a Lambert-93 ``.prj`` or ``crs`` member).
* **Text encoding of DBF files.** A ``.cpg`` is read in ESRI's spellings too (``ANSI 1252``,
  ``65001``, which GDAL does not know) and used when its encoding decodes every byte of the
  records (ISO-8859-1 read as Windows-1252, as browsers do, so that ``€``, ``œ``, ``’`` are no
  control characters); without one (or with one that does not fit) GDAL would hand out the raw bytes, and a
  Latin-1 "é" would break the load. The DBF records then decide: UTF-8 when every byte
  decodes, else Windows-1252 (Latin-1 when bytes undefined in 1252 occur).
* **Types.** Geometries become ``geo_shape`` (GEO_SHAPE, heights kept), plus ``geo_point_2d``
  (two dimensions) when the layer holds only points. Attribute types that the format states are declared (numbers, booleans,
  DBF/GeoPackage dates, lists and JSON objects as JSON); strings stay text for the loader to
  infer, and GeoJSON date-like strings are left as strings (``DATE_AS_STRING``) so that they
  follow the same inference as every other format. A GeoJSON property whose values mix
  strings and numbers (``"01001"`` here, ``1001`` there), which GDAL types as JSON, is text to
  infer like a JSON key of mixed kinds, so a code keeps its leading zeros; integers come out as
  written, other numbers as GDAL prints them. Only properties holding an object or an array stay JSON.
  A GeoJSON property of integers whose name says it holds a code (``code_insee``, ``siret``) is
  text to infer too, as a JSON key's (``readers.json``): the loader keeps it as text, as written.
  A Shapefile's or GeoPackage's integer column is the producer's declared type and stays INT.
  What GDAL cannot hand over exactly is read from the GeoJSON features themselves
  (``_from_features``): number feature ids (GDAL makes them its own feature ids, where string
  ids are a field ``id``) and integers of 19 digits or more (doubles beyond 64 bits for GDAL).
* **Keys differing only by case** (``Nom`` and ``nom``, in one feature or two) refuse a GeoJSON
  file, naming the feature holding the second spelling, as a JSON file is refused: GDAL would
  load them as two fields, ``nom`` and ``nom_2``, that nobody can tell apart.
* **Features GDAL cannot read** (a GeoJSON geometry whose coordinates are strings, which GDAL
  turns into a null geometry and a message on stderr) refuse the file, naming the feature:
  ``_gdal_errors`` collects GDAL's failures while each batch is read. A geometry of a type GDAL
  does not know (``{"type": "Blob"}``, or none) only gets a warning and a null geometry from
  GDAL: it is refused too, the feature and the type found in the file. A ring GEOS refuses (too
  short, unclosed) is refused with the reason.
* **Degenerate polygons** (a ring of fewer than three distinct positions) refuse the file,
  naming the feature, as unreadable and out-of-range geometries do: a map cannot draw them and
  a spatial filter cannot match them.
* **Zip archives** are unpacked with the checks of ``ingest.archive`` into a temporary folder
  that the loader deletes (``RawTable.cleanup``).
"""

from __future__ import annotations

import base64
import codecs
import functools
import json
import mmap
import re
import struct
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyogrio
import shapely
from pyogrio.raw import open_arrow
from pyproj import CRS, Transformer

from portail.ingest.archive import remove_tree, safe_extract
from portail.ingest.errors import IngestError
from portail.ingest.infer import looks_like_code
from portail.ingest.readers._common import BATCH_ROWS, batch_stager, first_line, make_table
from portail.ingest.readers._gdal_errors import DATA_LOST, gdal_failures
from portail.ingest.readers.json import refuse_case_clash
from portail.ingest.types import RawTable, ReadOptions, Stager
from portail.schema import FieldType, normalize_name, unique_names

GEO_SHAPE_LABEL, GEO_POINT_LABEL = "Geo Shape", "Geo Point 2D"
VECTOR_SUFFIXES = (".shp", ".gpkg", ".geojson", ".json")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_GDAL_LINE = re.compile(r"\bat line (\d+)", re.IGNORECASE)

Converter = Callable[[pa.Array], pa.Array]


@dataclass(frozen=True)
class Column:
    """An attribute: its field in GDAL's Arrow stream, and how it is staged."""

    source: str
    label: str
    declared: FieldType | None
    arrow_type: pa.DataType
    convert: Converter
    #: GeoJSON only: the value read from the feature itself (``_geojson_features``), where GDAL
    #: loses it (a number id, an integer beyond 64 bits); staged as text, ``convert`` unused.
    from_feature: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class Geometry:
    """The layer's geometry field and what staging does to it."""

    source: str  # WKB field in GDAL's Arrow stream
    points: bool  # every geometry is a point: geo_point_2d is added
    reproject_from: str | None  # CRS of the file when it is not WGS84
    crs_known: bool  # False: coordinates must be plausible longitudes/latitudes


@dataclass(frozen=True)
class Dataset:
    """What to open with GDAL, and how."""

    path: Path
    layer: str | None
    encoding: str | None
    open_options: dict[str, str]
    driver: str


def read_geo(path: Path, options: ReadOptions) -> RawTable:
    source = path.name
    cleanup: list[Path] = []
    try:
        return _read(path, options, source, cleanup)
    except BaseException:
        for folder in cleanup:
            remove_tree(folder)
        raise


def _read(path: Path, options: ReadOptions, source: str, cleanup: list[Path]) -> RawTable:
    notes: list[str] = []
    dataset, features = _dataset(path, options, source, cleanup, notes)
    with _opened(dataset, source) as (meta, reader):
        schema = reader.schema
    geometry = _geometry(schema, meta, notes)
    fields = [f for f in schema if geometry is None or f.name != geometry.source]
    if dataset.driver == "GeoJSON":
        _check_case(dataset.path, [f.name for f in fields], source)
    scalars = _scalar_json(dataset, fields, source)
    if scalars:
        notes.append(f"strings and numbers mixed, read as text: {', '.join(scalars)}")
    columns = [_text_column(f) if f.name in scalars or _code_integers(f, dataset) else _column(f) for f in fields]
    if dataset.driver == "GeoJSON":
        columns = _from_features(dataset.path, columns, notes)
    notes.append(f"{features} features" if features >= 0 else "feature count unknown")
    if geometry is not None and geometry.points:
        notes.append("every geometry is a point: geo_point_2d added")
    labels, types, names = _fields(columns, geometry)

    def stage_for(names: list[str]) -> Stager:
        out = pa.schema([pa.field(n, c.arrow_type) for n, c in zip(names, columns)]
                        + [pa.field(n, pa.binary()) for n in names[len(columns):]])
        return batch_stager(out, lambda: _batches(dataset, columns, geometry, out, source), source)

    return make_table(source, labels, types, stage_for, notes=notes, cleanup=list(cleanup), names=names)


def _fields(columns: list[Column], geometry: Geometry | None) -> tuple[list[str], list[FieldType | None], list[str]]:
    """Labels, types and names: attributes, then ``geo_shape`` (and ``geo_point_2d``). The
    geometry fields claim their names first, so an attribute called geo_shape becomes geo_shape_2."""
    geo: list[tuple[str, FieldType]] = []
    if geometry is not None:
        geo = [(GEO_SHAPE_LABEL, FieldType.GEO_SHAPE)] + [(GEO_POINT_LABEL, FieldType.GEO_POINT_2D)] * geometry.points
    names = unique_names([label for label, _ in geo] + [c.label for c in columns])
    return ([c.label for c in columns] + [label for label, _ in geo],
            [c.declared for c in columns] + [kind for _, kind in geo],
            names[len(geo):] + names[:len(geo)])


# --- locating the layer --------------------------------------------------------------------

def _dataset(path: Path, options: ReadOptions, source: str, cleanup: list[Path],
             notes: list[str]) -> tuple[Dataset, int]:
    """The file, layer, DBF encoding and open options to read, and the layer's feature count."""
    file = _unpack(path, options, source, cleanup, notes) if _is_zip(path) else path
    layer, info = _one_layer(file)
    if info is None:
        layer = _choose_layer(file, options.layer, source, notes)
        info = _info(file, layer, source)
    encoding = _dbf_encoding(file, notes) if info["driver"] == "ESRI Shapefile" else None
    open_options = {"DATE_AS_STRING": "YES"} if info["driver"] == "GeoJSON" else {}
    return Dataset(file, layer, encoding, open_options, info["driver"]), int(info.get("features", -1))


def _is_zip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) in _ZIP_MAGIC


def _unpack(path: Path, options: ReadOptions, source: str, cleanup: list[Path], notes: list[str]) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="portail-unzip-"))
    cleanup.append(folder)
    files = safe_extract(path, folder, options)
    candidates = sorted((f for f in files if f.suffix.lower() in VECTOR_SUFFIXES and not _is_metadata(f, folder)),
                        key=lambda f: (VECTOR_SUFFIXES.index(f.suffix.lower()), str(f)))
    if not candidates:
        raise IngestError("the archive holds no Shapefile (.shp), GeoPackage or GeoJSON", source=source)
    chosen = next((f for f in candidates if options.layer and f.stem == options.layer), candidates[0])
    others = [f.name for f in candidates if f != chosen]
    notes.append(f"archive member {str(chosen.relative_to(folder))!r}"
                 + (f" (also in the archive: {', '.join(others)}; set layer to choose)" if others else ""))
    return chosen


def _is_metadata(file: Path, folder: Path) -> bool:
    """macOS resource forks that zip tools add: ``__MACOSX/…`` and ``._name.shp``."""
    return file.name.startswith("._") or "__MACOSX" in file.relative_to(folder).parts


#: Drivers whose files hold one layer, whatever ``layer`` asks for (``_choose_layer`` takes the
#: first when the one asked for is not there, and notes nothing when there is one).
_ONE_LAYER = frozenset({"GeoJSON", "GeoJSONSeq", "ESRI Shapefile"})


def _one_layer(file: Path) -> tuple[str | None, dict[str, Any] | None]:
    """The layer and its information when the file's driver holds one layer, else ``(None,
    None)``: choose among its layers. Listing them opens the file once more, and GDAL parses a
    GeoJSON whole at each opening (~0.25 s of CPU for the 35,000 commune contours, at every
    load of them). A file GDAL cannot open takes the other way, which says why."""
    try:
        info = pyogrio.read_info(file, layer=0)  # the first (without a warning when there are more)
    except Exception:
        return None, None
    if info.get("driver") not in _ONE_LAYER or not info.get("layer_name"):
        return None, None
    return str(info["layer_name"]), info


def _choose_layer(file: Path, wanted: str | None, source: str, notes: list[str]) -> str | None:
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(file)]
    except Exception as error:  # GDAL's errors for unreadable, truncated or unknown files
        raise _unreadable(error, file, source) from None
    if not layers:
        raise IngestError("the file holds no layer", source=source)
    if wanted in layers:
        layer = wanted
    elif wanted and file.suffix.lower() == ".gpkg":
        raise IngestError(f"layer {wanted!r} not found; layers: {', '.join(map(repr, layers))}", source=source)
    else:
        layer = layers[0]
    if len(layers) > 1:
        notes.append(f"layer {layer!r} (of {len(layers)}: {', '.join(layers)})")
    return layer


def _info(file: Path, layer: str | None, source: str) -> dict[str, Any]:
    try:
        return pyogrio.read_info(file, layer=layer)
    except Exception as error:
        raise _unreadable(error, file, source) from None


def _unreadable(error: Exception, file: Path, source: str) -> IngestError:
    """GDAL's reason, with the line when its parser gives one (GeoJSON: "At line 31954, …")."""
    message = first_line(error, file.parent)
    line = _GDAL_LINE.search(message)
    return IngestError(f"corrupt, truncated or unsupported geographic file ({message})", source=source,
                       line=int(line.group(1)) if line else None)


@contextmanager
def _opened(dataset: Dataset, source: str, **reading: Any) -> Iterator[tuple[dict[str, Any], pa.RecordBatchReader]]:
    """The layer as a stream of Arrow batches; ``reading``: open_arrow's selection (columns, geometry)."""
    try:
        context = open_arrow(dataset.path, layer=dataset.layer, encoding=dataset.encoding, use_pyarrow=True,
                             batch_size=BATCH_ROWS, **reading, **dataset.open_options)
        meta, reader = context.__enter__()
    except Exception as error:
        raise _unreadable(error, dataset.path, source) from None
    try:
        yield meta, reader
    finally:
        context.__exit__(None, None, None)


# --- DBF encoding --------------------------------------------------------------------------

def _sibling(file: Path, suffix: str) -> Path | None:
    return next((p for p in file.parent.glob(f"{file.stem}.*") if p.suffix.lower() == suffix), None)


def _dbf_encoding(shp: Path, notes: list[str]) -> str | None:
    """The encoding to read the DBF's text with: the ``.cpg``'s when it names one that decodes
    every byte of the records, else the one detected on them. A ``.cpg`` is no proof: ArcGIS
    writes ``ANSI 1252``, which GDAL does not know (it then hands the raw bytes over, and the
    load died on an engine's "invalid unicode"), and a DBF written in Windows-1252 under a
    ``.cpg`` saying ``UTF-8`` could not be loaded at all."""
    dbf = _sibling(shp, ".dbf")
    if dbf is None:
        return None
    cpg = _sibling(shp, ".cpg")
    said = cpg.read_text(errors="replace").strip() if cpg is not None else None
    codec = cpg_codec(said) if said else None
    readings = _readings(codec)
    decoding = _decoding(dbf, readings)
    reading = next((name for name in readings if name in decoding), None)
    if reading is not None:
        notes.append(f"DBF encoding {said!r} (from .cpg)")
        return reading
    encoding = next(name for name, candidate in _DETECTED.items() if candidate in decoding)
    why = ("no .cpg" if cpg is None else f"the .cpg's {said!r} is no known encoding" if codec is None
           else f"the .cpg's {said!r} does not decode its text")
    notes.append(f"DBF encoding {encoding} (detected: {why})")
    return encoding


#: What detection can decide, in GDAL's spelling: the first that decodes every byte of the records.
_DETECTED = {"UTF-8": "utf-8", "CP1252": "cp1252", "ISO-8859-1": "latin-1"}
_CPG_ISO = re.compile(r"(?:ISO)?[\s_-]*8859[\s_-]*(\d{1,2})", re.IGNORECASE)
_CPG_NUMBER = re.compile(r"(?:ANSI|CP|OEM)?\s*(\d{3,5})", re.IGNORECASE)


def _readings(codec: str | None) -> list[str]:
    """The codecs to read a ``.cpg``'s declared ``codec`` with, the first that decodes every
    byte winning: ISO-8859-1 as Windows-1252 first, as browsers read it (WHATWG), since
    producers declare Latin-1 over Windows-1252 text and the bytes 0x80-0x9F, ``€``, ``œ``,
    ``’`` there, would become control characters; Latin-1 itself where a byte Windows-1252
    leaves undefined (0x81…) occurs."""
    if codec is None:
        return []
    return ["cp1252", codec] if codec == _LATIN_1 else [codec]


_LATIN_1 = codecs.lookup("latin-1").name


def cpg_codec(text: str) -> str | None:
    """The Python codec a ``.cpg`` names, in the spellings ESRI and GDAL write (``UTF-8``,
    ``1252``, ``ANSI 1252``, ``65001``, ``ISO 88591``, ``8859_15``…); None for a name no codec has."""
    name = text.strip()
    if match := _CPG_ISO.fullmatch(name):
        name = f"iso8859-{match.group(1)}"
    elif match := _CPG_NUMBER.fullmatch(name):
        name = "utf-8" if match.group(1) == "65001" else f"cp{match.group(1)}"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _decoding(dbf: Path, declared: list[str]) -> set[str]:
    """The codecs among ``declared`` and detection's candidates that decode every byte of the
    DBF's records (past its header), in one pass."""
    decoders = {name: codecs.getincrementaldecoder(name)() for name in [*declared, *_DETECTED.values()]}
    failed: set[str] = set()
    with open(dbf, "rb") as handle:
        header = handle.read(32)
        handle.seek(int.from_bytes(header[8:10], "little") if len(header) >= 10 else 0)
        while chunk := handle.read(1 << 20):
            for name, decoder in decoders.items():
                if name not in failed:
                    try:
                        decoder.decode(chunk)
                    except UnicodeDecodeError:
                        failed.add(name)
    return set(decoders) - failed


def detect_dbf_encoding(dbf: Path) -> str:
    """``UTF-8``, ``CP1252`` or ``ISO-8859-1``, decided on every byte of the DBF records."""
    decoding = _decoding(dbf, [])
    return next(name for name, codec in _DETECTED.items() if codec in decoding)


# --- columns -------------------------------------------------------------------------------

def _geometry(schema: pa.Schema, meta: dict[str, Any], notes: list[str]) -> Geometry | None:
    field = next((f.name for f in schema
                  if (f.metadata or {}).get(b"ARROW:extension:name") in (b"geoarrow.wkb", b"ogc.wkb")), None)
    if field is None:
        return None
    points = (meta.get("geometry_type") or "").startswith("Point")
    return Geometry(field, points, _source_crs(meta.get("crs"), notes), bool(meta.get("crs")))


def _column(f: pa.Field) -> Column:
    kind = f.type
    if isinstance(kind, pa.BaseExtensionType):
        if kind.extension_name == "arrow.json":
            return Column(f.name, f.name, FieldType.JSON, pa.string(), _json_text)
        kind = kind.storage_type
    if pa.types.is_boolean(kind):
        return Column(f.name, f.name, FieldType.BOOLEAN, pa.bool_(), _cast(pa.bool_()))
    if pa.types.is_integer(kind) and kind != pa.uint64():
        return Column(f.name, f.name, FieldType.INT, pa.int64(), _cast(pa.int64()))
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return Column(f.name, f.name, FieldType.DOUBLE, pa.float64(), _cast(pa.float64()))
    if pa.types.is_date(kind):
        return Column(f.name, f.name, FieldType.DATE, pa.date32(), _cast(pa.date32()))
    if pa.types.is_timestamp(kind):
        return Column(f.name, f.name, FieldType.DATETIME, kind, _cast(kind))
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_struct(kind):
        return Column(f.name, f.name, FieldType.JSON, pa.string(), _nested_json)
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return Column(f.name, f.name, FieldType.TEXT, pa.string(), _base64)
    return _text_column(f)  # strings, times: text to infer


def _code_integers(f: pa.Field, dataset: Dataset) -> bool:
    """A GeoJSON property of integers under a code's name (``code_insee``, ``siret``): text to infer,
    as a JSON key's, so that the loader keeps it as text with a CSV column's note. Only GeoJSON: its
    numbers are JSON's, where a Shapefile's or GeoPackage's integer column is a type its producer chose."""
    return dataset.driver == "GeoJSON" and pa.types.is_integer(f.type) and looks_like_code(normalize_name(f.name))


#: A member ``id`` (``"id": 7``), looked for in the file's bytes before any feature is decoded.
_ID_MEMBER = re.compile(rb'"id"[ \t\r\n]*:')
#: A member's value that is an integer of 19 digits or more (``: 12345678901234567890``): a pattern
#: starting with a character, which the engine scans for fast; the key is then read backwards.
_LONG_INTEGER = re.compile(rb':[ \t\r\n]*-?[0-9]{19,}(?![0-9.eE])')


def _from_features(path: Path, columns: list[Column], notes: list[str]) -> list[Column]:
    """The GeoJSON columns, with those GDAL cannot give exactly read from the features
    themselves, as text to infer:

    * the features' ``id`` when they are numbers: GDAL makes them its feature ids (and alters
      repeated ones) instead of a field, where it makes string ids a field ``id``; the same
      field then holds them (unless a property is already called ``id``, as for string ids);
    * properties holding integers of 19 digits or more, which GDAL reads as doubles beyond
      64 bits (``12345678901234567891`` became ``12345678901234567000``): kept as written, and
      so as text, as in a CSV file (``infer`` reads integers of up to 18 digits)."""
    long = _long_integer_keys(path)
    exact = [replace(c, declared=None, arrow_type=pa.string(), from_feature=_property(c.source))
             if c.source in long and c.declared in (None, FieldType.INT, FieldType.DOUBLE) else c for c in columns]
    if any(c.from_feature for c in exact):
        notes.append("integers of 19 digits or more read as written: "
                     + ", ".join(c.label for c in exact if c.from_feature))
    if "id" not in {c.source for c in columns} and _has_feature_ids(path):
        exact.insert(0, Column("id", "id", None, pa.string(), _cast(pa.string()), _feature_id))
        notes.append("feature ids read as the field id")
    return exact


def _has_feature_ids(path: Path) -> bool:
    """Does a feature hold an ``id`` member? Asked when GDAL made no field ``id``, so such ids
    are numbers, and they may first appear after thousands of features without one (looking at
    the first 1,000 only lost them all). Most files hold no member ``id`` at all: a scan of the
    bytes settles them undecoded; the others are decoded up to the first feature holding one
    (to the end when the only ``id`` members are in properties' objects)."""
    with open(path, "rb") as handle:
        if not handle.seek(0, 2):
            return False
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if _ID_MEMBER.search(data) is None:
                return False
    return any("id" in feature for feature in _gdal_features(path))


def _gdal_features(path: Path) -> Iterator[dict[str, Any]]:
    """The features GDAL reads, in its order: the objects of ``features`` whose ``type`` is
    ``Feature``. GDAL skips any other element (``null``, ``{}``, a bare geometry), and a value
    read beside it must stay on its feature's row (with them counted, every later feature got
    the id of the one before it)."""
    return (feature for _, feature in _geojson_features(path)
            if isinstance(feature, dict) and feature.get("type") == "Feature")


def _feature_rows(path: Path, columns: list[Column]) -> Iterator[list[Any]]:
    """The values of the columns read from the features (``from_feature``), feature by feature:
    only those values are kept, not the decoded features (a batch of them, coordinates and all,
    held beside GDAL's took 140 MB more and 4x the time on the communes of France)."""
    readers = [c.from_feature for c in columns if c.from_feature is not None]
    return ([read(feature) for read in readers] for feature in _gdal_features(path))


def _long_integer_keys(path: Path) -> set[str]:
    """The keys holding an integer of 19 digits or more anywhere in the file: one scan of its
    bytes, with no decoding (most files hold none)."""
    with open(path, "rb") as handle:
        if not handle.seek(0, 2):
            return set()
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            keys = (_key_before(data[max(0, match.start() - 1000):match.start()])
                    for match in _LONG_INTEGER.finditer(data))
            return {key for key in keys if key is not None}


def _key_before(text: bytes) -> str | None:
    """The JSON string that ``text`` ends with (blanks aside): the key of the member whose colon
    follows; None when it ends otherwise (the colon was in a string). Read backwards, quote by
    quote: a regular expression over the 1,000 bytes before each colon took 120 µs a match,
    35 s for a 54 MB file of 300,000 such integers."""
    text = text.rstrip(b" \t\r\n")
    start = len(text) - 1
    if not text.endswith(b'"') or _escaped(text, start):
        return None
    while (start := text.rfind(b'"', 0, start)) >= 0:
        if not _escaped(text, start):
            try:
                key = json.loads(text[start:])
            except ValueError:
                return None
            return key if isinstance(key, str) else None
    return None


def _escaped(text: bytes, at: int) -> bool:
    """Is the character at ``at`` escaped (after an odd number of backslashes)?"""
    return (at - len(text[:at].rstrip(b"\\"))) % 2 == 1


def _feature_id(feature: Any) -> Any:
    return feature.get("id") if isinstance(feature, dict) else None


def _property(key: str) -> Callable[[Any], Any]:
    def value(feature: Any) -> Any:
        properties = feature.get("properties") if isinstance(feature, dict) else None
        return properties.get(key) if isinstance(properties, dict) else None

    return value


def _feature_values(values: list[Any], rows: int) -> pa.Array:
    """A column's values read from the features of a batch, as text as written: integers
    exact, strings bare, objects and arrays as JSON."""
    values = values + [None] * (rows - len(values))
    return pa.array([None if v is None else v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                     for v in values], pa.string())


def _text_column(f: pa.Field) -> Column:
    """A column of text for the loader to infer (a code keeps its zeros, a date is detected)."""
    return Column(f.name, f.name, None, pa.string(), _cast(pa.string()))


def _scalar_json(dataset: Dataset, fields: list[pa.Field], source: str) -> list[str]:
    """The GeoJSON properties GDAL typed as JSON that hold no object and no array: their values
    mix strings and numbers. GDAL hands the strings out bare, so a value counts as an object or
    an array when it starts with ``{`` or ``[``. One pass over those columns only, batch by batch."""
    candidates = [f.name for f in fields if dataset.driver == "GeoJSON" and isinstance(f.type, pa.BaseExtensionType)
                  and f.type.extension_name == "arrow.json"]
    if not candidates:
        return []
    scalar = set(candidates)
    with _opened(dataset, source, columns=candidates, read_geometry=False) as (_, reader):
        for batch in reader:
            for name in list(scalar):
                if pc.any(pc.match_substring_regex(_storage(batch.column(name)), r"^\s*[\[{]")).as_py():
                    scalar.discard(name)
            if not scalar:
                break
    return [name for name in candidates if name in scalar]


def _storage(array: pa.Array) -> pa.Array:
    return array.storage if isinstance(array, pa.ExtensionArray) else array


def _cast(target: pa.DataType) -> Converter:
    return lambda array: _storage(array).cast(target)


def _json_text(array: pa.Array) -> pa.Array:
    """GDAL's JSON fields mix JSON (``{"a": 1}``) and bare strings (``abc``): make all valid JSON."""
    return pa.array([v if v is None or _is_json(v) else json.dumps(v, ensure_ascii=False)
                     for v in _storage(array).to_pylist()], pa.string())


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _nested_json(array: pa.Array) -> pa.Array:
    return pa.array([None if v is None else json.dumps(v, ensure_ascii=False, default=str)
                     for v in array.to_pylist()], pa.string())


def _base64(array: pa.Array) -> pa.Array:
    return pa.array([None if v is None else base64.b64encode(v).decode("ascii")
                     for v in _storage(array).to_pylist()], pa.string())


# --- geometries ----------------------------------------------------------------------------

def _source_crs(crs_text: str | None, notes: list[str]) -> str | None:
    """The CRS to reproject from, or None when coordinates are already WGS84 (or declared none)."""
    if not crs_text:
        notes.append("no coordinate system declared: coordinates taken as WGS84 longitude/latitude")
        return None
    crs = CRS.from_user_input(crs_text)
    if crs.to_2d().equals(CRS.from_epsg(4326), ignore_axis_order=True):
        return None
    name = crs.to_string() if crs.to_epsg() else crs.name
    notes.append(f"reprojected from {name} to WGS84 (EPSG:4326)")
    return crs_text


def _geometries(wkb: pa.Array, offset: int, source: str) -> np.ndarray:
    values = _storage(wkb).to_numpy(zero_copy_only=False)
    try:
        return shapely.from_wkb(values)
    except shapely.errors.GEOSException:
        bad = next((i for i, v in enumerate(values)
                    if v is not None and shapely.from_wkb(v, on_invalid="ignore") is None), 0)
        raise IngestError(f"feature {offset + bad + 1}: unreadable geometry ({_wkb_problem(values[bad])})",
                          source=source, field="geo_shape") from None


def _wkb_problem(value: bytes) -> str:
    """Why GEOS refuses a geometry GDAL handed out (GDAL accepts an unclosed or too short ring):
    the first too short line or ring, or unclosed ring, found by walking the WKB; else GEOS's
    own message."""
    try:
        found = _walk_wkb(memoryview(value), 0)[1]
    except (IndexError, ValueError, struct.error):
        found = None
    if found:
        return found
    try:
        shapely.from_wkb(value)
    except shapely.errors.GEOSException as error:
        return re.sub(r"^\w+Exception:\s*", "", str(error).strip())[:300] or "invalid geometry"
    return "invalid geometry"


def _walk_wkb(data: memoryview, at: int) -> tuple[int, str | None]:
    """(the offset past the geometry at ``at``, its first problem or None), for ISO and EWKB."""
    order = "<" if data[at] == 1 else ">"
    (code,) = struct.unpack_from(order + "I", data, at + 1)
    at += 5
    dims = 2 + bool(code & 0x80000000) + bool(code & 0x40000000)
    if code & 0x20000000:  # EWKB SRID
        at += 4
    code &= 0x0FFFFFFF
    dims += {1: 1, 2: 1, 3: 2}.get(code // 1000, 0)
    kind = code % 1000
    step = 8 * dims
    if kind == 1:
        return at + step, None
    if kind == 2:
        (count,) = struct.unpack_from(order + "I", data, at)
        problem = f"a line needs at least 2 positions, this one has {count}" if count == 1 else None
        return at + 4 + count * step, problem
    if kind == 3:
        (rings,) = struct.unpack_from(order + "I", data, at)
        at += 4
        problem = None
        for _ in range(rings):
            (count,) = struct.unpack_from(order + "I", data, at)
            at += 4
            if problem is None and 0 < count < 4:
                problem = f"a polygon ring needs at least 4 positions, this one has {count}"
            elif problem is None and count and data[at:at + step] != data[at + (count - 1) * step:at + count * step]:
                problem = "a polygon ring is not closed: its first and last positions differ"
            at += count * step
        return at, problem
    if kind in (4, 5, 6, 7):
        (parts,) = struct.unpack_from(order + "I", data, at)
        at += 4
        problem = None
        for _ in range(parts):
            at, found = _walk_wkb(data, at)
            problem = problem or found
        return at, problem
    raise ValueError(f"WKB geometry type {code}")


def _check_polygons(geometries: np.ndarray, offset: int, source: str) -> None:
    """No polygon (alone, or a part of a multipolygon) whose outer ring has fewer than three
    distinct positions: ``[[2,48],[3,48],[2,48]]`` or one point repeated, which GDAL and GEOS read
    without complaint but which no map can draw."""
    polygonal = np.flatnonzero(np.isin(shapely.get_type_id(geometries), (3, 6, 7)))
    if not polygonal.size:
        return
    parts, owner = shapely.get_parts(geometries[polygonal], return_index=True)
    keep = (shapely.get_type_id(parts) == 3) & ~shapely.is_empty(parts)
    parts, owner = parts[keep], owner[keep]
    if not parts.size:  # empty polygons only ({"type": "Polygon", "coordinates": []}): nothing drawn, nothing wrong
        return
    coords, ring = shapely.get_coordinates(shapely.get_exterior_ring(parts), return_index=True)
    repeated = np.r_[False, (ring[1:] == ring[:-1]) & np.all(coords[1:] == coords[:-1], axis=1)]
    distinct = np.bincount(ring[~repeated], minlength=len(parts))  # the closing position included
    degenerate = distinct < 4
    if degenerate.any():
        index = int(polygonal[owner[int(np.argmax(degenerate))]])
        raise IngestError(f"feature {offset + index + 1}: degenerate polygon (its ring has fewer than three "
                          f"distinct positions)", source=source, field="geo_shape")


def _reproject(geometries: np.ndarray, transformer: Transformer) -> np.ndarray:
    def apply(coords: np.ndarray) -> np.ndarray:
        return np.column_stack(transformer.transform(*coords.T))

    return shapely.transform(geometries, apply, include_z=None)


#: Degrees a reprojected geometry may stray beyond its system's area of use (a layer of
#: Lambert-93 reaches over the borders, and out to sea).
AREA_MARGIN = 5.0


@functools.lru_cache(maxsize=16)
def _area_of_use(crs_text: str) -> tuple[float, float, float, float] | None:
    """(west, south, east, north) in degrees where a coordinate system is used, None when unknown."""
    area = CRS.from_user_input(crs_text).area_of_use
    return None if area is None else (area.west, area.south, area.east, area.north)


def _check_area(written: np.ndarray, geometries: np.ndarray, offset: int, source: str, crs_text: str | None) -> None:
    """No geometry written in degrees under a projected system: longitudes and latitudes
    declared as Lambert-93 (a ``.prj`` or a GeoJSON ``crs`` member left from another file)
    reproject without error into the Gulf of Guinea (``[2.35, 48.85]``: -1.36, -5.98), which
    the longitude/latitude check lets through. Refused where a geometry's ``written``
    coordinates read as degrees and its reprojection (``geometries``) lands far from the
    system's area of use: a system used on a narrow band (UTM zone 31N: 0 to 6° E) holds
    France-wide data in metres (Ouessant at -5° E), which was refused."""
    area = _area_of_use(crs_text) if crs_text else None
    if area is None or not len(geometries) or not CRS.from_user_input(crs_text).is_projected:
        return
    west, south, east, north = area
    raw, bounds = shapely.bounds(written), shapely.bounds(geometries)
    degrees = (np.abs(raw[:, [0, 2]]) <= 180).all(axis=1) & (np.abs(raw[:, [1, 3]]) <= 90).all(axis=1)
    outside = degrees & ((bounds[:, 0] < west - AREA_MARGIN) | (bounds[:, 2] > east + AREA_MARGIN)
                         | (bounds[:, 1] < south - AREA_MARGIN) | (bounds[:, 3] > north + AREA_MARGIN))
    if outside.any():
        index = int(np.argmax(outside))
        crs = CRS.from_user_input(crs_text)
        where = crs.area_of_use.name.rstrip(". ")
        raise IngestError(f"feature {offset + index + 1}: coordinates far outside where the declared coordinate system "
                          f"is used ({crs.to_string() if crs.to_epsg() else crs.name}: {where}); are they longitude/"
                          "latitude, or in another system?", source=source, field="geo_shape")


def _check_lonlat(geometries: np.ndarray, offset: int, source: str, declared: bool) -> None:
    """Every geometry within longitude -180..180 and latitude -90..90 once in WGS84: a file
    declaring no system may hold projected metres; one declaring WGS84 (GeoJSON always does)
    may still hold [500, -200], which no map can place."""
    bounds = shapely.bounds(geometries)
    outside = np.any((np.abs(bounds[:, [0, 2]]) > 180 + 1e-9) | (np.abs(bounds[:, [1, 3]]) > 90 + 1e-9), axis=1)
    if outside.any():
        index = int(np.argmax(outside))
        reason = ("coordinates outside longitude -180..180 and latitude -90..90" if declared else
                  "coordinates are not longitude/latitude and the file declares no coordinate system (missing .prj?)")
        raise IngestError(f"feature {offset + index + 1}: {reason}", source=source, field="geo_shape")


# --- staging -------------------------------------------------------------------------------

def _batches(dataset: Dataset, columns: list[Column], geometry: Geometry | None, schema: pa.Schema,
             source: str) -> Iterator[pa.RecordBatch]:
    """Runs whole in one thread (``in_python_thread``): a PROJ transformer must stay in the
    thread that created it."""
    transformer = None
    if geometry is not None and geometry.reproject_from:
        transformer = Transformer.from_crs(geometry.reproject_from, "EPSG:4326", always_xy=True)
    offset = 0
    failure: str | None = None  # GDAL's first failure, until the feature it concerns is found
    # the file's own features, beside GDAL's, for the columns GDAL cannot give exactly
    features = _feature_rows(dataset.path, columns) if any(c.from_feature for c in columns) else None
    with _opened(dataset, source) as (_, reader):
        while True:
            try:
                with gdal_failures() as failures:
                    batch = reader.read_next_batch()
            except StopIteration:
                break
            except Exception as error:
                raise IngestError(f"unreadable data after feature {offset} "
                                  f"({first_line(error, dataset.path.parent)})", source=source) from None
            failure = failure or next(iter(failures), None)
            if failure is not None:
                _check_failure(batch, geometry, offset, source, failure, dataset)
            # one tuple of values per column read from the features, in the columns' order
            read = zip(*islice(features, batch.num_rows)) if features is not None else iter(())
            arrays = [_feature_values(list(next(read, ())), batch.num_rows) if c.from_feature
                      else c.convert(batch.column(c.source)) for c in columns]
            if geometry is not None:
                arrays += _wkb(batch.column(geometry.source), geometry, transformer, offset, source)
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)
            offset += batch.num_rows
    if failure is not None:
        raise IngestError(f"unreadable data ({failure})", source=source)


def _check_failure(batch: pa.RecordBatch, geometry: Geometry | None, offset: int, source: str, failure: str,
                   dataset: Dataset) -> None:
    """Name the feature GDAL failed on: the first whose geometry came out null. GDAL's message
    does not say which feature it was, and GDAL parses ahead of the batches it hands out (a small
    GeoJSON whole, on the first batch), so the feature is looked for in this batch and the next
    ones; a file that also holds features without geometry may have one of those named instead.
    A GeoJSON geometry of an unknown type is found in the file itself, with its type."""
    if geometry is None:
        raise IngestError(f"unreadable data after feature {offset} ({failure})", source=source)
    if dataset.driver == "GeoJSON" and failure.startswith(DATA_LOST):
        found = _unknown_geojson_geometry(dataset.path)
        if found is not None:
            raise IngestError(f"feature {found[0] + 1}: unreadable geometry ({found[1]})", source=source,
                              field="geo_shape")
    lost = batch.column(geometry.source).is_null()
    if pc.any(lost).as_py():
        index = int(pc.index(lost, True).as_py())
        raise IngestError(f"feature {offset + index + 1}: unreadable geometry ({failure})", source=source,
                          field="geo_shape")


GEOJSON_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
                 "GeometryCollection")


def _unknown_geometry(geometry: Any) -> str | None:
    """What is wrong with a GeoJSON geometry GDAL does not know (None: a known type, or null)."""
    if geometry is None:
        return None
    if not isinstance(geometry, dict):
        return f"the geometry is not a JSON object but {json.dumps(geometry)[:60]}"
    kind = geometry.get("type")
    if kind is None:
        return 'the geometry has no "type"'
    if kind not in GEOJSON_TYPES:
        return f"unknown geometry type {json.dumps(kind)[:60]}; GeoJSON's are {', '.join(GEOJSON_TYPES)}"
    if kind == "GeometryCollection":
        return next(filter(None, map(_unknown_geometry, geometry.get("geometries") or [])), None)
    return None


def _unknown_geojson_geometry(path: Path) -> tuple[int, str] | None:
    """The first feature of a GeoJSON FeatureCollection whose geometry has a type GDAL does not
    know, and why: GDAL only warns that some feature "gets NULL geometry"."""
    for index, feature in _geojson_features(path):
        problem = _unknown_geometry(feature.get("geometry")) if isinstance(feature, dict) else None
        if problem:
            return index, problem
    return None


def _geojson_features(path: Path) -> Iterator[tuple[int, Any]]:
    """(index, feature) of a GeoJSON FeatureCollection, decoded one by one, the file read in chunks;
    it ends early, without error, where the features cannot be decoded (GDAL's reading reports that).
    For the error paths: GDAL, which reads the file, does not say which feature it was."""
    decoder = json.JSONDecoder()
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            buffer, pos = "", 0
            while (start := re.search(r'"features"\s*:\s*\[', buffer)) is None:
                chunk = handle.read(1 << 20)
                if not chunk or len(buffer) > 64 << 20:
                    return
                buffer += chunk
            pos, index, ended = start.end(), 0, False
            while True:
                while pos < len(buffer) and buffer[pos] in " \t\r\n,":
                    pos += 1
                if pos < len(buffer) and buffer[pos] == "]":
                    return
                try:
                    feature, end = decoder.raw_decode(buffer, pos)
                except json.JSONDecodeError:
                    if ended:
                        return
                    chunk = handle.read(max(1 << 20, len(buffer) - pos))
                    ended = not chunk
                    buffer, pos = buffer[pos:] + chunk, 0
                    continue
                yield index, feature
                index, pos = index + 1, end
    except OSError:
        return


def _check_case(path: Path, labels: list[str], source: str) -> None:
    """Refuse properties differing only by case, which GDAL reads as two fields (``Nom``, ``nom``:
    ``nom`` and ``nom_2``), naming the feature where the second spelling appears: the layer's
    fields tell whether there may be one (no cost otherwise), the file's features whether and where.
    A property ``ID`` beside the features' own string ``id`` (which GDAL also makes a field) is no
    such clash: it loads as before, ``id`` and ``id_2``."""
    lowered = [label.lower() for label in labels]
    if len(set(lowered)) == len(lowered):
        return
    first: dict[str, str] = {}
    for index, feature in _geojson_features(path):
        properties = feature.get("properties") if isinstance(feature, dict) else None
        for key in properties if isinstance(properties, dict) else ():
            seen = first.setdefault(key.lower(), key)
            if seen != key:
                refuse_case_clash(source, [seen, key], where=f"feature {index + 1}")


def _wkb(wkb: pa.Array, geometry: Geometry, transformer: Transformer | None, offset: int,
         source: str) -> list[pa.Array]:
    """geo_shape (and geo_point_2d, in two dimensions) as WKB in WGS84."""
    shapes = _geometries(wkb, offset, source)
    if transformer is not None:
        written = shapes
        shapes = _reproject(shapes, transformer)
        _check_area(written, shapes, offset, source, geometry.reproject_from)
    _check_lonlat(shapes, offset, source, declared=geometry.crs_known)
    _check_polygons(shapes, offset, source)
    arrays = [pa.array(shapely.to_wkb(shapes), pa.binary())]
    if geometry.points:
        arrays.append(pa.array(shapely.to_wkb(shapes, output_dimension=2), pa.binary()))
    return arrays
