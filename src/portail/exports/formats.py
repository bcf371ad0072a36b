"""The export formats and their writers.

Values are shaped as the Explore API shapes them (``api.serialize``) for the JSON family;
CSV follows Opendatasoft's conventions (``;`` by default, BOM by default, ``lat,lon`` for
points, GeoJSON text for shapes). Text cells that a spreadsheet would run as a formula
(``= + - @`` first, after spaces or not, or a tab, line end or NUL) are prefixed with ``'`` in CSV
and written with Excel's hidden quote prefix in XLSX.
An XLSX cell holds 32,767 characters: a longer value (a detailed shape's GeoJSON) is left out,
its cell empty with a comment giving its length, never cut into invalid text.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
import shutil
import tempfile
import threading
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from xml.sax.saxutils import escape

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlglot import exp

from portail.exports import isotext, jsontext, xlsx
from portail.exports.calendar import CALENDAR_TYPES, write_ical
from portail.exports.rdf import write_jsonld, write_ntriples, write_rdfxml, write_turtle
from portail.exports.waypoints import geometry_field, write_gpx, write_ov2
from portail.odsql.literals import zone
from portail.values import output_expression
from portail.schema import GEO_TYPES, Field, FieldType

CHUNK = 1 << 16
#: A cell a spreadsheet would run as a formula: ``= + - @`` (or their full-width forms) after any
#: leading spaces, which spreadsheets skip, or a tab, carriage return, line feed or NUL first
#: (ASVS 1.2.10). One pattern for Python's ``re`` and pyarrow's RE2, which has no ``\u`` escape:
#: the wide characters are written as themselves.
FORMULA = "^(?:[\\t\\r\\n\\x00]|[ \\f\\v\u00a0\u3000]*[=+\\-@\uff1d\uff0b\uff0d\uff20])"
_FORMULA = re.compile(FORMULA)


@dataclass
class ExportOptions:
    use_labels: bool = False
    delimiter: str = ";"
    list_separator: str = ","
    quote_all: bool = False
    with_bom: bool = True
    parquet_compression: str = "snappy"
    epsg: int = 4326
    filename: str = "export"
    dataset_url: str = ""  # the base of the records' IRIs in RDF exports (``exports.rdf``)
    #: datetimes are written in this zone (the request's ``timezone``, checked by the compiler)
    timezone: str = "UTC"
    #: the request asks an order (``order_by``): FlatGeobuf then goes without its spatial index,
    #: which writes the features in its own (packed Hilbert) order; without one it keeps the index
    #: that lets readers fetch a bounding box by range requests
    ordered: bool = False
    #: the geometry types of the records (``ST_GeometryType``'s names, ``NULL`` for records
    #: without one), asked before the file: GDAL otherwise declares a layer from its first
    #: feature (no geometry: a shapefile of polygons declared PolyLine). A record without one
    #: leaves FlatGeobuf without its spatial index, which cannot hold it (GDAL fails mid-file).
    geometry_kinds: tuple[str, ...] = ()
    #: rows of an XLSX sheet, header included: Excel's limit (Excel leaves out the rows beyond
    #: it, so the records go on in further sheets)
    xlsx_sheet_rows: int = 1_048_576
    #: GeoJSON datetimes as integer epoch milliseconds, as Explore API v2.0 wrote them (v2.1's
    #: changelog: "previously output as integer timestamps"), not ISO text
    epoch_datetimes: bool = False
    #: GPX and OV2: the field naming each waypoint; GPX: the fields its description lists, and
    #: whether every field goes in its extensions (``exports.waypoints``)
    name_field: str | None = None
    description_fields: tuple[str, ...] = ()
    use_extension: bool = True
    #: iCalendar: the fields each event starts and ends at (``exports.calendar``)
    start_field: str | None = None
    end_field: str | None = None


Writer = Callable[[list[Field], Iterator[pa.RecordBatch], ExportOptions], Iterator[bytes]]


@dataclass(frozen=True)
class ExportFormat:
    name: str
    media_type: str
    extension: str
    writer: Writer
    geometry: str = "geojson"  # how geo fields are read: geojson text, or wkb for geo formats
    #: the field types of which the records need one for this format to write them (a geometry
    #: for the geo formats, a date for the calendar); empty: any records
    needs: frozenset[FieldType] = frozenset()
    description: str = ""
    extra: dict = field(default_factory=dict)
    #: a text format: multivalued fields are written joined by ``list_separator`` (``joined_lists``),
    #: not as the source wrote them; the JSON family, RDF and Parquet write lists of their own
    joins_lists: bool = False
    #: ``json_format()`` writes JSON in it (the JSON family); elsewhere the text as it is
    writes_json: bool = False

    def fits(self, fields: list[Field]) -> bool:
        """Whether records of these fields can be written in this format: the listings offer
        only such formats, and an export in another answers 400."""
        return not self.needs or any(f.type in self.needs for f in fields)

    def write(self, fields: list[Field], batches: Iterator[pa.RecordBatch], options: ExportOptions) -> Iterator[bytes]:
        """The export's bytes: the writer over the engine's batches with its numbers made plain
        and, in a text format, its multivalued fields joined (``joins_lists``); the batches
        closed when the bytes end (``closing``)."""
        plain = (plain_numbers(batch) for batch in batches)
        if self.joins_lists:
            plain = (joined_lists(fields, batch, options.list_separator) for batch in plain)
        return closing(self.writer(fields, plain, options), batches)


def closing(chunks: Iterator[bytes], batches: Iterator[pa.RecordBatch]) -> Iterator[bytes]:
    """``chunks``, then ``batches`` closed, however the chunks end: all written, failed, or
    closed by a client gone. The writers close what they are handed, generators over the
    engine's batches (``ExportFormat.write``, CSV's and JSON's filter before ``pipelined``):
    closing one of those closes nothing beneath it, and the engine's cursor waited for the last
    reference to its generator to go, which a caller holding it or a failed writer's frame
    (kept by the error's traceback) held on to."""
    try:
        yield from chunks
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()


def plain_numbers(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Engine decimals as the numbers the API writes. DuckDB hands out ``sum()`` of integers
    (a HUGEINT) and decimal literals as Arrow decimals, which Python reads as ``Decimal``: the
    JSON family wrote them as strings, XLSX as text cells, Parquet as ``decimal128(38,0)``, and
    GDAL refuses them outright (precision > 19), mid-stream. ``/records`` writes an integral
    Decimal as an integer and any other as a float (``jsonable_encoder``): the same here, an
    integral value beyond int64 as a float rather than an error."""
    if not any(pa.types.is_decimal(kind) for kind in batch.schema.types):
        return batch
    return pa.RecordBatch.from_arrays([_plain_number(array) for array in batch.columns], names=batch.schema.names)


def _plain_number(array: pa.Array) -> pa.Array:
    if not pa.types.is_decimal(array.type):
        return array
    if array.type.scale == 0:
        try:
            return pc.cast(array, pa.int64())
        except pa.ArrowInvalid:  # beyond int64
            pass
    return pc.cast(array, pa.float64(), safe=False)


def columns_for(fields: list[Field], fmt: ExportFormat) -> list[exp.Expression]:
    """How each stored field is read for a format: as for the API, or geometries as WKB for geo formats."""
    return [exp.alias_(exp.func("ST_AsWKB", exp.column(f.name, quoted=True)) if f.type in GEO_TYPES and fmt.geometry == "wkb"
                       else output_expression(f), f.name, quoted=True) for f in fields]


def _arrow_type(f: Field, geometry: str) -> pa.DataType:
    """The Arrow type the engine hands out for a field read for a format (``columns_for``)."""
    if f.type in GEO_TYPES and geometry == "wkb":
        return pa.binary()
    return {FieldType.INT: pa.int64(), FieldType.DOUBLE: pa.float64(), FieldType.BOOLEAN: pa.bool_(),
            FieldType.DATE: pa.date32(), FieldType.DATETIME: pa.timestamp("us", tz="UTC"),
            FieldType.GEO_POINT_2D: pa.struct([("lon", pa.float64()), ("lat", pa.float64())])}.get(f.type, pa.string())


def _or_empty(fields: list[Field], batches: Iterator[pa.RecordBatch], geometry: str) -> Iterator[pa.RecordBatch]:
    """The batches, or one empty batch typed from the schema when the engine sends none (an
    empty result has no batch): formats that write a file still write a typed, empty one."""
    sent = False
    for batch in batches:
        sent = True
        yield batch
    if not sent:
        yield pa.RecordBatch.from_pylist([], schema=pa.schema([(f.name, _arrow_type(f, geometry)) for f in fields]))



#: Export names older APIs answer (v1, v2.0): ``xls`` was their spreadsheet, served as XLSX,
#: which every program that opened theirs opens.
LEGACY_NAMES = {"xls": "xlsx"}

_formatters: ThreadPoolExecutor | None = None
_formatters_lock = threading.Lock()


def _formatter_pool() -> ThreadPoolExecutor:
    """The threads that format export batches, shared by every export of the process: fifty
    slow downloads hold their few formatted batches, not a hundred idle threads."""
    global _formatters
    with _formatters_lock:
        if _formatters is None:
            _formatters = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="export")
        return _formatters


def pipelined(work: Callable[[pa.RecordBatch], bytes], batches: Iterator[pa.RecordBatch], depth: int = 2) -> Iterator[bytes]:
    """``work`` over each batch in the shared formatter pool, results in order, at most
    ``depth`` batches ahead. The engine computes the next batch while threads format earlier
    ones (DuckDB and pyarrow both release the GIL), so an export uses every core instead of
    alternating; memory stays a few batches deep. Closing the generator (client gone) cancels
    what is queued and closes ``batches`` (the engine's cursor is closed by ``closing``:
    ``batches`` is a generator over them)."""
    from collections import deque

    pool = _formatter_pool()
    pending: deque = deque()
    try:
        for batch in batches:
            pending.append(pool.submit(work, batch))
            if len(pending) > depth:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        close = getattr(batches, "close", None)
        if close is not None:
            close()


def _header(fields: list[Field], options: ExportOptions) -> list[str]:
    return unique_labels(fields) if options.use_labels else [f.name for f in fields]


def column_names(fields: list[Field], options: ExportOptions) -> dict[str, str]:
    """Each field's name in the file: its name, or with ``use_labels`` its label (``_header``)."""
    return dict(zip((f.name for f in fields), _header(fields, options)))


def unique_labels(fields: list[Field]) -> list[str]:
    """Labels as column names and keys: a label that several fields share is followed by each
    one's name (``Note (note)``, ``Note (lat)``), since a JSON object or a ``DictReader`` keeps
    the last of equal keys and Parquet readers refuse them; a number ends what still collides."""
    shared = Counter(f.label for f in fields)
    keys: list[str] = []
    for f in fields:
        key = f.label if shared[f.label] == 1 else f"{f.label} ({f.name})"
        unique, number = key, 1
        while unique in keys:
            number += 1
            unique = f"{key} ({number})"
        keys.append(unique)
    return keys


def _neutralise(text: str) -> str:
    return "'" + text if _FORMULA.match(text) else text


# -- CSV ----------------------------------------------------------------------------------------
def _csv_column(f: Field, array: pa.Array, options: ExportOptions) -> pa.Array:
    """One column as CSV text, vectorised: points as ``lat,lon``, formulas neutralised."""
    if f.type == FieldType.GEO_POINT_2D:
        return _point_text(array)
    if f.type == FieldType.BOOLEAN:
        return pc.if_else(array, "True", "False")
    if f.type == FieldType.DATETIME and pa.types.is_timestamp(array.type):
        return isotext.instants(array, zone(options.timezone))
    if pa.types.is_list(array.type):
        return pc.binary_join(pc.cast(array, pa.list_(pa.string())), options.list_separator)
    if f.type in (FieldType.TEXT, FieldType.JSON) and pa.types.is_string(array.type):
        risky = pc.match_substring_regex(array, FORMULA)
        if pc.any(risky).as_py():  # rare: rebuilding the column costs more than finding the cells
            return pc.if_else(risky, pc.binary_join_element_wise("'", array, ""), array)
    return array


def _multivalued(f: Field, array: pa.Array) -> bool:
    return f.type == FieldType.TEXT and "multivalued" in f.annotations and pa.types.is_string(array.type)


def joined_lists(fields: list[Field], batch: pa.RecordBatch, separator: str) -> pa.RecordBatch:
    """A batch with its multivalued texts (stored as written, ``a; b``) joined by the request's
    ``list_separator``: every text format writes the values the JSON output lists
    (``isotext.multivalued_lists``), joined alike. Columns beyond the fields (the record ids
    iCalendar asks, ``ExportFormat.extra``) are kept as they are."""
    if not any(_multivalued(f, array) for f, array in zip(fields, batch.columns)):
        return batch
    joined = [isotext.multivalued_joined(array, f.annotations["multivalued"], separator) if _multivalued(f, array)
              else array for f, array in zip(fields, batch.columns)]
    return pa.RecordBatch.from_arrays(joined + batch.columns[len(joined):], names=batch.schema.names)


def _point_text(array: pa.Array) -> pa.Array:
    """Points (``{lon, lat}`` structs) as ``lat,lon`` texts, vectorised (CSV, Parquet): a Python
    loop over the cells took 5.5 s of a 2 M-row Parquet export."""
    return pc.binary_join_element_wise(_coordinate(pc.struct_field(array, "lat")),
                                       _coordinate(pc.struct_field(array, "lon")), ",")


def _coordinate(array: pa.Array) -> pa.Array:
    """Degrees as text with a fraction always (``5.0``, as Python writes a float): pyarrow writes
    ``5``, and the point ``5,5`` read back as the decimal 5.5 (a French decimal comma)."""
    text = pc.cast(array, pa.string())
    return pc.replace_substring_regex(text, pattern=r"^(-?[0-9]+)$", replacement=r"\1.0")


def _plain_text(array: pa.Array) -> pa.Array:
    """Large or dictionary-encoded texts as plain ones: pyarrow's writer refuses an unquoted
    delimiter in a plain string column only (it wrote ``a;b`` unquoted from a large one)."""
    encoded = pa.types.is_dictionary(array.type)
    kind = array.type.value_type if encoded else array.type
    return array.cast(pa.string()) if pa.types.is_large_string(kind) or (encoded and pa.types.is_string(kind)) else array


def _minimal_cells(array: pa.Array, delimiter: str, lone: bool) -> pa.Array:
    """A column as CSV cells quoted only where they must be (Python's ``csv.QUOTE_MINIMAL``): a
    text holding the delimiter, a quote or a line break, its quotes doubled. A null is an empty
    cell, or ``""`` alone on its row (``lone``): pyarrow writes an empty line there, which
    readers skip (pandas, ``csv.DictReader``): the row was lost. Python's csv writes ``""``
    for a lone empty field for that reason."""
    text = array if pa.types.is_string(array.type) else pc.cast(array, pa.string())
    if pa.types.is_string(array.type):
        needs = pc.match_substring_regex(text, f"[{re.escape(delimiter)}\"\r\n]")
        if lone:
            needs = pc.or_(needs, pc.equal(pc.binary_length(text), 0))
        if pc.any(needs).as_py():
            quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
            text = pc.if_else(needs, quoted, text)
    return pc.fill_null(text, '""' if lone else "")


def _csv_rows(columns: list[pa.Array], delimiter: str) -> bytes:
    """Rows of CSV cells, each column quoted where it must be (:func:`_minimal_cells`), joined
    by pyarrow: the batches pyarrow's writer refuses to write unquoted."""
    lone = len(columns) == 1
    parts: list[str | pa.Array] = []
    for index, column in enumerate(columns):
        parts += ([delimiter] if index else []) + [_minimal_cells(column, delimiter, lone)]
    return jsontext.concatenated(jsontext.joined([*parts, "\r\n"], len(columns[0]) if columns else 0))


def write_csv(fields: list[Field], batches: Iterator[pa.RecordBatch], options: ExportOptions) -> Iterator[bytes]:
    """pyarrow's C++ CSV writer on each batch: no Python loop per row or cell. A cell is quoted
    only where it must be, as Opendatasoft's export (``quote_all`` false by default) and
    Python's ``csv.QUOTE_MINIMAL`` write it: a text holding the delimiter, a quote or a line
    break. pyarrow's writer quotes every text or none (``needed`` quotes every string: a script
    cutting the file on ``;`` read ``"Paris"``), so a batch is written unquoted, and a batch it
    refuses so (one of its texts must be quoted) has its cells quoted by :func:`_csv_rows`.
    ``quote_all`` quotes every value, numbers and booleans too, as Python's ``csv.QUOTE_ALL``
    does, and the header; an empty cell stays unquoted there: it is a null, where ``""`` is an
    empty text (``csv.QUOTE_ALL`` writes both as ``""``). The header is neutralised like the
    cells (labels are publisher text)."""
    write_options = pacsv.WriteOptions(include_header=False, delimiter=options.delimiter, eol="\r\n",
                                       quoting_style="all_valid" if options.quote_all else "none")
    header = io.StringIO()
    csv.writer(header, delimiter=options.delimiter, lineterminator="\r\n",
               quoting=csv.QUOTE_ALL if options.quote_all else csv.QUOTE_MINIMAL) \
        .writerow([_neutralise(title) for title in _header(fields, options)])
    opening = (("\ufeff" if options.with_bom else "") + header.getvalue()).encode("utf-8")
    names = [f.name for f in fields]

    def chunk(batch: pa.RecordBatch) -> bytes:
        columns = [_plain_text(_csv_column(f, batch.column(i), options)) for i, f in enumerate(fields)]
        if len(columns) == 1:  # a lone empty cell must be written "", or readers skip its row
            if not options.quote_all:
                return _csv_rows(columns, options.delimiter)
            if columns[0].null_count:  # all_valid quotes the empty text
                columns = [pc.fill_null(pc.cast(columns[0], pa.string()), "")]
        sink = io.BytesIO()
        try:
            pacsv.write_csv(pa.RecordBatch.from_arrays(columns, names=names), sink, write_options)
        except pa.ArrowInvalid:  # a text holding the delimiter, a quote or a line break
            return _csv_rows(columns, options.delimiter)
        return sink.getvalue()

    # The header goes out with the first batch's rows, as JSON's opening with its first records
    # (``_streamed``): the answer's status waits for its first chunk (``api.streaming``), and a
    # query failing at its first batch (out of memory: a 400 or a 503 with Retry-After) was
    # a 200 holding a header alone, a file of no record that scripts took for the answer.
    first = True
    for data in pipelined(chunk, (batch for batch in batches if batch.num_rows)):
        if first:
            data, first = opening + data, False
        yield data
    if first:  # no record: the header alone
        yield opening


# -- JSON family --------------------------------------------------------------------------------
# Each column is written as JSON text whole (``exports.jsontext``), the rows joined by pyarrow and
# a batch handed out as one piece, formatted in the pool like CSV's: the bytes Python's encoder
# wrote over each record's ``record_value`` dict, at several times the speed.
def _object(keys: list[str], columns: list[pa.Array]) -> list[str | pa.Array]:
    """The parts of each row's JSON object: its keys as a dict keeps them (a key given twice
    stays where it came first, with its last value), each before its column of JSON texts."""
    last: dict[str, pa.Array] = {}
    for k, column in zip(keys, columns):
        last[k] = column
    parts: list[str | pa.Array] = ["{"]
    for index, (k, column) in enumerate(last.items()):
        parts += [("," if index else "") + jsontext.key(k), column]
    return parts + ["}"]


def _json_rows(fields: list[Field], options: ExportOptions, before: str, after: str) -> Callable[[pa.RecordBatch], bytes]:
    """A batch's records as JSON objects, each between ``before`` and ``after``, end to end."""
    keys, tz = _header(fields, options), zone(options.timezone)

    def rows(batch: pa.RecordBatch) -> bytes:
        columns = [jsontext.column_json(f, batch.column(i), tz) for i, f in enumerate(fields)]
        return jsontext.concatenated(jsontext.joined([before, *_object(keys, columns), after], batch.num_rows))

    return rows


def _streamed(rows: Callable[[pa.RecordBatch], bytes], batches: Iterator[pa.RecordBatch], opening: str,
              closing: str, separated: bool) -> Iterator[bytes]:
    """``opening``, each batch's rows formatted in the pool (``pipelined``), ``closing``. With
    ``separated`` each row starts with a comma, which the first row of all drops."""
    first = True
    for data in pipelined(rows, (batch for batch in batches if batch.num_rows)):
        if first:
            data, first = opening.encode() + (data[1:] if separated else data), False
        yield data
    yield ((opening if first else "") + closing).encode()


def write_json(fields, batches, options) -> Iterator[bytes]:
    return _streamed(_json_rows(fields, options, ",", ""), batches, "[", "]", separated=True)


def write_jsonl(fields, batches, options) -> Iterator[bytes]:
    return _streamed(_json_rows(fields, options, "", "\n"), batches, "", "", separated=False)


def _epoch_milliseconds(fields: list[Field],
                        batches: Iterator[pa.RecordBatch]) -> tuple[list[Field], Iterator[pa.RecordBatch]]:
    """Datetime columns as integer milliseconds since the epoch (``ExportOptions.epoch_datetimes``):
    ints, written as numbers. Milliseconds: the unit of the timestamps v2.0 wrote for its date
    group keys (``odsql.Query.v20``), no source giving the unit of its GeoJSON's."""
    moments = {i for i, f in enumerate(fields) if f.type == FieldType.DATETIME}
    if not moments:
        return fields, batches

    def plain(i: int, array: pa.Array) -> pa.Array:
        if i not in moments or not pa.types.is_timestamp(array.type):
            return array
        return pc.cast(pc.cast(array, pa.timestamp("ms", tz=array.type.tz), safe=False), pa.int64())

    shaped = [replace(f, type=FieldType.INT) if i in moments else f for i, f in enumerate(fields)]
    return shaped, (pa.RecordBatch.from_arrays([plain(i, a) for i, a in enumerate(batch.columns)],
                                               names=batch.schema.names) for batch in batches)


def write_geojson(fields, batches, options) -> Iterator[bytes]:
    if options.epoch_datetimes:
        fields, batches = _epoch_milliseconds(fields, batches)
    geo = geometry_field(fields)
    keys, tz = _header(fields, options), zone(options.timezone)
    # a record is a dict of its fields' names: a name given twice holds its last column's value
    named = {f.name: i for i, f in enumerate(fields)}
    if geo is not None and fields[named[geo.name]] is not geo:
        raise ValueError(f"the geojson export cannot name two fields {geo.name!r}")
    shown = [(k, named[f.name]) for k, f in zip(keys, fields) if f is not geo]

    projected = _projection(options.epsg)

    def features(batch: pa.RecordBatch) -> bytes:
        columns = {i: jsontext.column_json(fields[i], batch.column(i), tz) for _, i in shown}
        geometry: str | pa.Array = "null"
        if geo is not None:
            geometry = _geometries(geo, batch.column(named[geo.name]), projected)
        parts = [',{"type":"Feature","geometry":', geometry, ',"properties":',
                 *_object([k for k, _ in shown], [columns[i] for _, i in shown]), "}"]
        return jsontext.concatenated(jsontext.joined(parts, batch.num_rows))

    # another system than WGS84 is named as GeoJSON's 2008 specification names it, which GDAL
    # and QGIS read (RFC 7946 allows WGS84 alone: a file in Lambert-93 must say so)
    crs = "" if projected is None else \
        f'"crs":{{"type":"name","properties":{{"name":"urn:ogc:def:crs:EPSG::{options.epsg}"}}}},'
    return _streamed(features, batches, '{"type":"FeatureCollection",' + crs + '"features":[', "]}", separated=True)


def _projection(epsg: int):
    """A transformer from WGS84 degrees (longitude first) to ``epsg``, or None for WGS84 itself."""
    if epsg == 4326:
        return None
    from pyproj import Transformer

    return Transformer.from_crs(4326, epsg, always_xy=True)


def _geometries(geo: Field, array: pa.Array, projected=None) -> pa.Array:
    """A feature's geometry as JSON text: a shape's GeoJSON as Python re-writes it, a point as a
    GeoJSON Point, ``null`` without one; its coordinates in ``projected``'s system when given
    (the ``epsg`` parameter, as shapefiles are written)."""
    if geo.type == FieldType.GEO_SHAPE:
        return jsontext.reencoded(array if projected is None else _projected_shapes(array, projected))
    return jsontext.points(array if projected is None else _projected_points(array, projected), geojson=True)


def _projected_points(array: pa.StructArray, projected) -> pa.StructArray:
    """Points with their ``lon``/``lat`` replaced by the projected x/y, computed for the whole
    column at once."""
    import numpy

    lon, lat = (pc.struct_field(array, name) for name in ("lon", "lat"))
    x, y = projected.transform(numpy.asarray(pc.fill_null(lon, numpy.nan)), numpy.asarray(pc.fill_null(lat, numpy.nan)))
    # a point the system cannot hold (a pole in Lambert-93: infinities) has no geometry there:
    # null, as a point without coordinates is, never Infinity, which no strict JSON reader takes
    lost = ~(numpy.isfinite(x) & numpy.isfinite(y))
    return pa.StructArray.from_arrays([pa.array(x, mask=lost), pa.array(y, mask=lost)], names=["lon", "lat"],
                                      mask=pa.array(lost | numpy.asarray(pc.fill_null(pc.is_null(array), True))))


def _projected_shapes(array: pa.Array, projected) -> pa.Array:
    """GeoJSON shapes with every coordinate projected (shapely reads and writes them, pyproj
    projects the coordinates of the whole column at once); a height is kept as it is, as the
    WGS84 export keeps it (``include_z=None``: each shape keeps its own dimensions)."""
    import numpy
    import shapely

    shapes = shapely.from_geojson(numpy.asarray(array.to_pylist(), dtype=object))
    return pa.array(shapely.to_geojson(_projected_geometries(shapes, projected, include_z=None)).tolist(), pa.string())


def _projected_geometries(shapes, projected, include_z: bool | None = False):
    """Shapely geometries (an array) with every coordinate projected, pyproj projecting the
    whole array's at once (``include_z``: shapely's, None keeping each one's height). A shape the
    system cannot hold (reaching a pole in Lambert-93: infinities) has no geometry there, None:
    GeoJSON wrote Infinity, which no strict reader takes, GDAL refused the whole shapefile (500)
    and FlatGeobuf wrote the infinities."""
    import numpy
    import shapely

    def project(coordinates: numpy.ndarray) -> numpy.ndarray:
        x, y = projected.transform(coordinates[:, 0], coordinates[:, 1])
        return numpy.column_stack([x, y, *coordinates.T[2:]])

    moved = shapely.transform(shapes, project, include_z=include_z)
    coordinates, owners = shapely.get_coordinates(moved, return_index=True)
    moved[numpy.unique(owners[~numpy.isfinite(coordinates).all(axis=1)])] = None
    return moved


# -- file-based formats -------------------------------------------------------------------------
def _plain_batch(fields: list[Field], batch: pa.RecordBatch, options: ExportOptions) -> pa.RecordBatch:
    """Parquet columns: geo as text (GeoJSON or "lat,lon"), instants in the request's zone (the
    same instants, the zone the readers show them in), multivalued texts as lists, everything
    else as stored."""
    arrays = []
    for f, array in zip(fields, batch.columns):
        if f.type == FieldType.GEO_POINT_2D:
            array = _point_text(array)
        elif pa.types.is_timestamp(array.type) and array.type.tz is not None:
            array = array.cast(pa.timestamp(array.type.unit, tz=options.timezone))
        elif _multivalued(f, array):  # a list of strings, as the JSON output lists its values
            array = isotext.multivalued_lists(array, f.annotations["multivalued"])
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, names=_header(fields, options))


#: Parquet bytes held before the first is handed out: an export that fails within them (a sum
#: past int64 in a later row group, which the column's type from the first cannot hold) is
#: answered with its error status, the answer starting with its first chunk
#: (``api.streaming``); a larger one is sent from there on, a row group at a time.
PARQUET_HELD = 8 << 20


def write_parquet(fields, batches, options) -> Iterator[bytes]:
    """Each batch written as a row group and handed out once written (the footer, written last,
    needs no seek back): a 2 M-row export's first byte after its first row groups, not after the
    whole file, and no file on disk. The first chunk is the first ``PARQUET_HELD`` bytes, or the
    whole of a smaller file; a failure past it cuts the answer, the file without its footer,
    which no reader opens. Every batch is cast to the first's schema (a sum past int64 is a
    float in its batch only)."""
    sink = xlsx.Drain()
    writer = None
    started = False
    try:
        for batch in _or_empty(fields, batches, "geojson"):
            plain = _plain_batch(fields, batch, options)
            if writer is None:
                writer = pq.ParquetWriter(sink, plain.schema, compression=options.parquet_compression)
            writer.write_table(pa.Table.from_batches([plain]).cast(writer.schema))
            if started or sink.held >= PARQUET_HELD:
                started = True
                yield sink.take()
        writer.close()
        yield sink.take()
    finally:
        close = getattr(batches, "close", None)
        if close is not None:  # the engine's cursor, released as soon as the answer ends
            close()


def write_xlsx(fields: list[Field], batches: Iterator[pa.RecordBatch], options: ExportOptions) -> Iterator[bytes]:
    """The workbook streamed as its rows are written (``exports.xlsx``), with the header and
    the formula pattern of the other text formats."""
    return xlsx.write_xlsx(_header(fields, options), fields, batches, timezone=options.timezone,
                           sheet_rows=options.xlsx_sheet_rows, formula=_FORMULA)


_OGR = {"shp": ("ESRI Shapefile", ".shp"), "kml": ("KML", ".kml"), "fgb": ("FlatGeobuf", ".fgb")}
#: The formats GDAL writes, a layer each: their records' geometry types are asked first
#: (``ExportOptions.geometry_kinds``).
OGR_FORMATS = frozenset(_OGR)
_LAYER_TYPES = {"POINT": "Point", "LINESTRING": "LineString", "POLYGON": "Polygon"}


def layer_geometry_type(kinds: tuple[str, ...]) -> str | None:
    """The type a shapefile layer of geometries of these kinds (``ExportOptions.geometry_kinds``)
    is declared with: their one family, multi when some are (a shapefile's polygon holds
    multipolygons too); ``Unknown`` for none; None when families mix (points and polygons, a
    collection), which one shapefile cannot hold."""
    families = {kind.removeprefix("MULTI") for kind in kinds if kind != "NULL"}
    if not families:
        return "Unknown"
    if len(families) > 1 or not families <= _LAYER_TYPES.keys():
        return None
    family = _LAYER_TYPES[families.pop()]
    return f"Multi{family}" if any(kind.startswith("MULTI") for kind in kinds) else family


def _declared_type(fmt: str, kinds: tuple[str, ...]) -> str:
    """The geometry type a layer is written with: a shapefile's one type (``layer_geometry_type``);
    elsewhere the records' one type, or ``Unknown`` (any), as FlatGeobuf refuses a polygon in a
    multipolygon layer."""
    solid = [kind for kind in kinds if kind != "NULL"]
    if fmt == "shp" or len(solid) == 1:
        return layer_geometry_type(kinds) or "Unknown"
    return "Unknown"


_OGR_OPTIONS = {
    "shp": {"layer_options": {"ENCODING": "UTF-8"}},
}


def layer_names(fmt: str, names: list[str]) -> list[str]:
    """Attribute names as GDAL can write them for ``fmt`` without losing a value: a shapefile's
    DBF names (``dbf_names``); elsewhere distinct without case (``distinct_names``: GDAL compares
    them so, and FlatGeobuf wrote the second one's values under the first, left empty, KML kept
    one of them); in KML with ``&``, ``<`` and ``"`` as XML references, as GDAL writes a name
    into the file's attributes as it is (a label ``R & D`` made a file no KML reader opens). Each
    name first as GDAL can write it (``_gdal_name``)."""
    names = [_gdal_name(fmt, name) for name in names]
    if fmt == "shp":
        return dbf_names(names)
    unique = distinct_names(names)
    return [escape(name, {'"': "&quot;"}) for name in unique] if fmt == "kml" else unique


#: Characters GDAL cannot write, per format, each written U+FFFD (as ``xmltext`` does): NUL ends
#: GDAL's C strings (a value or a name was cut there, two names so cut could collide), and KML,
#: XML 1.0, holds no other control character nor U+FFFE/U+FFFF, even escaped (``xmltext.NOT_XML``;
#: Arrow texts hold no lone surrogate): GDAL wrote them as they are, a 200 no KML reader opened.
_GDAL_TEXT = {"shp": re.compile("\x00"), "fgb": re.compile("\x00"),
              "kml": re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")}


#: The name GDAL takes an Arrow column of for the features' ids (``OGRLayer::WriteArrowBatch``),
#: exactly so written: an attribute so named that held text failed the file (500).
_ARROW_FID = "OGC_FID"


def _gdal_name(fmt: str, name: str) -> str:
    """An attribute name as GDAL writes it: its characters as ``_GDAL_TEXT`` writes values, and
    ``OGC_FID`` in lower case (``_ARROW_FID``; GDAL tells names apart by case there alone)."""
    name = _GDAL_TEXT[fmt].sub("\ufffd", name)
    return name.lower() if name == _ARROW_FID else name


def _gdal_text(fmt: str, array: pa.Array) -> pa.Array:
    """A text column with the characters GDAL cannot write for ``fmt`` as U+FFFD (``_GDAL_TEXT``),
    any other column as it is."""
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return array
    pattern = _GDAL_TEXT[fmt].pattern
    if not pc.any(pc.match_substring_regex(array, pattern)).as_py():  # rare: found before rebuilt
        return array
    return pc.replace_substring_regex(array, pattern, "\ufffd")


def dbf_names(names: list[str]) -> list[str]:
    """Shapefile attribute names: a DBF name holds 10 bytes (UTF-8 here, ``ENCODING``), compared
    without case; a name is cut on a character boundary (cut mid-character, GDAL could not open
    the file). Names that collide once cut end in ``_2``, ``_3``… within their 10 bytes: GDAL
    would rename the second one itself, and the values written under the first name were lost."""
    return distinct_names(names, size=10)


def distinct_names(names: list[str], size: int | None = None) -> list[str]:
    """``names`` cut to ``size`` UTF-8 bytes (None: whole), those equal to an earlier one but
    for case ending in ``_2``, ``_3``… (within ``size``)."""
    taken: set[str] = set()
    unique = []
    for name in names:
        candidate, number = _utf8_prefix(name, size), 1
        while candidate.lower() in taken:
            number += 1
            suffix = f"_{number}"
            candidate = _utf8_prefix(name, None if size is None else size - len(suffix)) + suffix
        taken.add(candidate.lower())
        unique.append(candidate)
    return unique


def _utf8_prefix(text: str, size: int | None) -> str:
    """The longest start of ``text`` of at most ``size`` UTF-8 bytes (None: all), whole characters only."""
    return text if size is None else text.encode()[:size].decode("utf-8", "ignore")


def _ogr_writer(fmt: str) -> Writer:
    def write(fields, batches, options) -> Iterator[bytes]:
        """The file built whole before its first byte is handed out: a failure is raised to the
        request, which answers its error status (``api.errors``, Opendatasoft's JSON), where a
        lazy writer failed after the 200 had gone and the client kept an empty or cut file."""
        if geometry_field(fields) is None:
            raise ValueError(f"the {fmt} export needs a geo_point_2d or geo_shape field")
        directory = Path(tempfile.mkdtemp(prefix="portail-export-"))
        try:
            # opened before its directory goes: the file lives as long as the handle, which the
            # answer closes (or the collector, when the answer is dropped before it starts)
            handle = open(_ogr_file(fmt, fields, batches, options, directory), "rb")
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return _handle_chunks(handle)

    return write


def _handle_chunks(handle) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def _ogr_file(fmt: str, fields: list[Field], batches: Iterator[pa.RecordBatch], options: ExportOptions,
              directory: Path) -> Path:
    """The records written by GDAL in ``directory`` (a shapefile's parts zipped): the path of the file.
    One layer written once from one stream of batches: appending batch by batch reopened the
    layer, which then declares the types its driver stored (FlatGeobuf has no date column: a
    date field came back a DateTime, and GDAL refused the next batch's dates)."""
    import pyogrio

    driver, extension = _OGR[fmt]
    target = directory / f"{options.filename}{extension}"
    # KML is WGS84 by definition: epsg does not apply to it (GDAL reprojected it back itself)
    epsg = 4326 if fmt == "kml" else options.epsg
    transformer = _projection(epsg)
    creation = _OGR_OPTIONS.get(fmt, {})
    tables = (_ogr_table(fmt, fields, batch, options, transformer) for batch in _or_empty(fields, batches, "wkb"))
    if fmt in _EXACT_INTEGERS:
        tables = _exact_integers(fmt, tables, directory)
    # its spatial index would put the features in its own order, and holds no feature without
    # a geometry (``_located``)
    indexed = fmt == "fgb" and not (options.ordered or "NULL" in options.geometry_kinds)
    if indexed:
        tables, indexed = _located(tables, directory)
    if fmt == "fgb" and not indexed:
        creation = {"layer_options": {"SPATIAL_INDEX": "NO"}}
    failures: list[BaseException] = []
    try:
        stream = _one_schema(tables, failures)
        pyogrio.write_arrow(stream, target, driver=driver, geometry_name=stream.schema.names[-1],
                            geometry_type=_declared_type(fmt, options.geometry_kinds), crs=f"EPSG:{epsg}", **creation)
    except Exception as error:
        if failures:  # GDAL says only that the stream failed: the log gets why
            raise failures[0] from error
        raise
    if fmt != "shp":
        return target
    archive = directory / f"{options.filename}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for part in directory.iterdir():
            if part != archive and part.suffix.lower() in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
                zipped.write(part, part.name)
    return archive


#: The integers a format's field holds as they are, (lowest, highest): KML has no 64-bit integer
#: (GDAL declared such a field a string) and GDAL writes a real with 15 significant digits, so an
#: integer is written there as a real below 10**15 in magnitude; a DBF integer is 18 characters
#: wide, its sign included (GDAL turned a field holding a longer one into reals: 10**18 + 7 came
#: back 10**18).
_EXACT_INTEGERS = {"kml": (-10 ** 15, 10 ** 15), "shp": (-10 ** 17, 10 ** 18)}


def _exact_integers(fmt: str, tables: Iterator[pa.Table], directory: Path) -> Iterator[pa.Table]:
    """The tables with their integer columns as the format holds them whole: as numbers (reals
    in KML) when every value of the export is within ``_EXACT_INTEGERS``, else as text, the
    digits kept (a double held 2**53 + 1 as 2**53, and KML's int64 → float64 cast refused it:
    a 500). The whole export decides a column's type, so the tables are spooled to an Arrow file
    in ``directory`` first, on disk rather than in memory, then read back a batch at a time."""
    first = next(tables)
    integers = [name for name, kind in zip(first.column_names, first.schema.types) if pa.types.is_int64(kind)]
    if not integers:
        yield first
        yield from tables
        return
    lowest, highest = _EXACT_INTEGERS[fmt]
    narrow = pa.float64() if fmt == "kml" else pa.int64()
    wide: set[str] = set()

    def look(table: pa.Table) -> None:
        for name in integers:
            column = table.column(name)
            if name not in wide and pc.any(pc.or_(pc.greater_equal(column, highest),
                                                  pc.less_equal(column, lowest))).as_py():
                wide.add(name)

    for table in _spooled(itertools.chain([first], tables), directory / "integers-spool.arrow", look):
        for name in integers:
            table = table.set_column(table.column_names.index(name), name,
                                     table.column(name).cast(pa.string() if name in wide else narrow))
        yield table


def _spooled(tables: Iterator[pa.Table], spool: Path, look: Callable[[pa.Table], None]) -> Iterator[pa.Table]:
    """The tables, typed as the first, written whole to the Arrow file ``spool`` (on disk rather
    than in memory), each shown to ``look`` on the way, then read back a batch at a time: for what
    the whole export decides before GDAL declares the layer. Eager: every table is seen before
    this returns. An empty export reads back as its empty first table."""
    first = next(tables)
    with pa.OSFile(str(spool), "wb") as sink, pa.ipc.new_file(sink, first.schema) as writer:
        for table in itertools.chain([first], tables):
            table = table.cast(first.schema)
            look(table)
            writer.write_table(table)
    return _spool_tables(spool, first.slice(0, 0))


def _spool_tables(spool: Path, empty: pa.Table) -> Iterator[pa.Table]:
    """The tables of ``spool`` a batch each, or ``empty`` when it holds none."""
    with pa.OSFile(str(spool), "rb") as source:
        reader = pa.ipc.open_file(source)
        count = reader.num_record_batches  # none for an empty export: its empty table then
        yield from (pa.Table.from_batches([reader.get_batch(i)]) for i in range(count)) if count else [empty]


def _located(tables: Iterator[pa.Table], directory: Path) -> tuple[Iterator[pa.Table], bool]:
    """The tables (spooled, ``_spooled``) and whether each feature has a geometry, which
    FlatGeobuf's spatial index needs: an empty one (``MULTIPOLYGON EMPTY``, written null by
    ``_ogr_table``) is none to GDAL, and failed the file (500) where the records' types
    (``ExportOptions.geometry_kinds``) named a polygon, not ``NULL``."""
    nulls = [0]

    def look(table: pa.Table) -> None:
        nulls[0] += table.column(table.num_columns - 1).null_count

    spooled = _spooled(tables, directory / "geometries-spool.arrow", look)
    return spooled, not nulls[0]


def _one_schema(tables: Iterator[pa.Table], failures: list[BaseException]) -> pa.RecordBatchReader:
    """The tables as one stream typed as the first: GDAL declares the layer's fields from the
    stream's schema, and a batch typed otherwise (a sum beyond int64 is a float in its batch
    only, ``plain_numbers``) is cast to it, or fails the file rather than a field. What fails
    while the stream is read (the cast, the engine) goes in ``failures``."""
    first = next(tables)

    def cast() -> Iterator[pa.RecordBatch]:
        try:
            yield from first.to_batches()
            for table in tables:
                yield from table.cast(first.schema).to_batches()
        except Exception as error:
            failures.append(error)
            raise

    return pa.RecordBatchReader.from_batches(first.schema, cast())


def _ogr_table(fmt: str, fields: list[Field], batch: pa.RecordBatch, options: ExportOptions, transformer) -> pa.Table:
    """A batch as GDAL writes it: its attributes under their shown (in a shapefile, DBF) names,
    geo fields other than the layer's left out, and the layer's geometry last, as WKB in ``epsg``."""
    import numpy
    import shapely

    geo, shown = geometry_field(fields), column_names(fields, options)
    arrays, names = [], []
    geometry = None
    for f, array in zip(fields, batch.columns):
        if f is geo:
            geometry = array
            continue
        if f.type in GEO_TYPES:
            continue
        if f.type == FieldType.DATETIME and pa.types.is_timestamp(array.type):
            # as /records and CSV write them (ISO 8601 in the request's zone): the
            # drivers' own datetime fields vary (none in a DBF) and drop the zone
            array = isotext.instants(array, zone(options.timezone))
        elif f.type == FieldType.DATETIME:
            array = array.cast(pa.string())
        elif fmt == "kml" and pa.types.is_date(array.type):
            # KML has no date type: GDAL wrote its own text (2024/03/01), not ISO 8601 as /records
            array = array.cast(pa.string())
        names.append(shown[f.name])
        arrays.append(_gdal_text(fmt, array))
    names = layer_names(fmt, names)
    wkb = geometry.to_pylist()
    if transformer is not None or fmt == "fgb":
        shapes = shapely.from_wkb(wkb)
        if transformer is not None:
            shapes = _projected_geometries(shapes, transformer)
        if fmt == "fgb":  # GDAL holds an empty one for none: said so, for its spatial index (``_located``)
            shapes = numpy.where(shapely.is_empty(shapes), None, shapes)
        wkb = shapely.to_wkb(shapes).tolist()
    arrays.append(pa.array(wkb, pa.binary()))
    names.append(geometry_column(names))
    return pa.table(arrays, names=names)


def geometry_column(names: list[str]) -> str:
    """The name of the WKB column GDAL draws the layer from: ``geometry``, or ``geometry_2``…
    when an attribute takes it, compared without case as GDAL compares them. An attribute named
    ``geometry`` failed the export (500), and one named ``Geometry`` crashed GDAL, taking the
    whole server process down: the file's attributes keep their names, this column has none
    in the formats written (a shapefile, KML and FlatGeobuf name no geometry column)."""
    return distinct_names([*names, "geometry"])[-1]


FORMATS: dict[str, ExportFormat] = {
    "csv": ExportFormat("csv", "text/csv; charset=utf-8", "csv", write_csv, joins_lists=True),
    "json": ExportFormat("json", "application/json", "json", write_json, writes_json=True),
    "jsonl": ExportFormat("jsonl", "application/jsonl", "jsonl", write_jsonl, writes_json=True),
    "geojson": ExportFormat("geojson", "application/geo+json", "geojson", write_geojson, needs=GEO_TYPES,
                            writes_json=True),
    "parquet": ExportFormat("parquet", "application/vnd.apache.parquet", "parquet", write_parquet),
    "xlsx": ExportFormat("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx", write_xlsx,
                         joins_lists=True),
    "shp": ExportFormat("shp", "application/zip", "zip", _ogr_writer("shp"), geometry="wkb", needs=GEO_TYPES,
                        joins_lists=True),
    "kml": ExportFormat("kml", "application/vnd.google-earth.kml+xml", "kml", _ogr_writer("kml"), geometry="wkb", needs=GEO_TYPES,
                        joins_lists=True),
    "gpx": ExportFormat("gpx", "application/gpx+xml", "gpx", write_gpx, geometry="wkb", needs=GEO_TYPES,
                        joins_lists=True),
    "ov2": ExportFormat("ov2", "application/octet-stream", "ov2", write_ov2, geometry="wkb", needs=GEO_TYPES,
                        joins_lists=True),
    "fgb": ExportFormat("fgb", "application/octet-stream", "fgb", _ogr_writer("fgb"), geometry="wkb", needs=GEO_TYPES,
                        joins_lists=True),
    "jsonld": ExportFormat("jsonld", "application/ld+json", "jsonld", write_jsonld, geometry="wkb", extra={"record_ids": True}),
    "turtle": ExportFormat("turtle", "text/turtle; charset=utf-8", "ttl", write_turtle, geometry="wkb", extra={"record_ids": True}),
    "rdfxml": ExportFormat("rdfxml", "application/rdf+xml", "rdf", write_rdfxml, geometry="wkb", extra={"record_ids": True}),
    "n3": ExportFormat("n3", "text/n3; charset=utf-8", "n3", write_ntriples, geometry="wkb", extra={"record_ids": True}),
    "ical": ExportFormat("ical", "text/calendar; charset=utf-8", "ics", write_ical, geometry="wkb", needs=CALENDAR_TYPES,
                         extra={"record_ids": True}, joins_lists=True),
}
