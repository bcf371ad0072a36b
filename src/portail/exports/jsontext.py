"""Arrow columns as JSON text, a whole column at a time: the JSON family's exports.

Each value is written as ``json.dumps(values.record_value(f, v, tz), ensure_ascii=False,
separators=(",", ":"), default=str)`` writes it (what the exports always wrote, byte for byte),
but by pyarrow compute over the column instead of Python over each cell: a cell through Python
cost ~1 µs, and a 2 M-row export took 12–16 times as long as its CSV. Python still writes the
few cells whose text pyarrow writes otherwise (floats in exponent form, strings with control
characters, historical zone offsets in seconds), the JSON and geo_shape texts (re-read as
Python re-wrote them), and any column of a type not listed here (``record_value`` on each
cell): the fast paths are proven equal to it by ``tests/api/test_export_json_columnar.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from portail.exports import isotext
from portail.schema import Field, FieldType
from portail.values import record_value

TEXT = pa.large_string()  # large offsets: a batch of detailed shapes may pass 2 GB of text


@cache
def null() -> pa.Scalar:
    """JSON's ``null`` as a text scalar. Made on first use, not at import: any Python value pyarrow
    converts (``pa.scalar``, ``pa.array``) makes it import pandas (~0.2 s), which the server and
    the CLI would otherwise pay at every start."""
    return pa.scalar("null", TEXT)


#: Characters JSON escapes as ``\uXXXX`` or ``\n``: rare in data, written by Python's encoder.
_CONTROL = "[\\x00-\\x1f]"


def dumps(value: Any) -> str:
    """One value as the JSON family writes it: compact, UTF-8, anything else as its ``str``."""
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def key(name: str) -> str:
    """An object key as ``json.dumps`` writes it in an object: a JSON string and a colon."""
    return dumps(name) + ":"


def column_json(f: Field, array: pa.Array, tz: ZoneInfo) -> pa.Array:
    """Each value of a field's column as its JSON text (``null`` for a null), as ``dumps`` of
    ``record_value`` writes it; the type's fast path where there is one, else Python per cell."""
    def python(value: Any) -> str:
        return dumps(record_value(f, value, tz))

    if f.type == FieldType.GEO_SHAPE and _is_text(array.type):
        return pc.if_else(pc.is_valid(array), _wrapped('{"type":"Feature","geometry":', reencoded(array),
                                                        ',"properties":{}}'), null())
    if f.type == FieldType.GEO_POINT_2D and _is_point(array.type):
        return points(array, geojson=False)
    if f.type in (FieldType.JSON, FieldType.FILE) and _is_text(array.type):
        return reencoded(array)
    if f.type in (FieldType.GEO_SHAPE, FieldType.GEO_POINT_2D, FieldType.JSON, FieldType.FILE):
        return per_cell(array, python)
    if "multivalued" in f.annotations and _is_text(array.type):
        return multivalued(array, f.annotations["multivalued"], python)
    fast = _FAST.get(_kind(array.type))
    text = fast(array, python, tz) if fast is not None else None
    return text if text is not None else per_cell(array, python)


def per_cell(array: pa.Array, python: Callable[[Any], str]) -> pa.Array:
    """The column through Python cell by cell (``python``: ``record_value`` and the encoder): the
    reference every fast path is tested against, and what types without one take."""
    return pa.array(["null" if value is None else python(value) for value in array.to_pylist()], TEXT)


def joined(parts: Sequence[str | pa.Array], rows: int) -> pa.Array:
    """Row by row, the texts of ``parts`` (constant text, or a column of ``rows`` texts without
    nulls) end to end."""
    merged: list[str | pa.Array] = []
    for part in parts:  # fewer, longer constants: one copy each per row
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    if not any(isinstance(part, pa.Array) for part in merged):
        return pa.array(["".join(merged)] * rows, TEXT)
    return pc.binary_join_element_wise(*[pa.scalar(p, TEXT) if isinstance(p, str) else p.cast(TEXT) for p in merged],
                                       pa.scalar("", TEXT))


def concatenated(array: pa.Array) -> bytes:
    """A column of texts without nulls as one piece of UTF-8, read from its data buffer: no
    Python string per row."""
    array = array.cast(TEXT)
    if not len(array):
        return b""
    offsets = array.buffers()[1]
    start, end = (int.from_bytes(offsets[8 * i:8 * i + 8].to_pybytes(), "little", signed=True)
                  for i in (array.offset, array.offset + len(array)))
    return array.buffers()[2][start:end].to_pybytes()


# -- the fast paths: each takes the column, the Python writer of one value, the zone -----------
def strings(array: pa.Array, python: Callable[[Any], str] = dumps, tz: ZoneInfo | None = None) -> pa.Array:
    """Texts as JSON strings: ``\\`` and ``"`` escaped by pyarrow; the rare texts holding a control
    character (escaped ``\\n`` or ``\\u001f`` by Python, lower-case hex) by Python's encoder."""
    array = array.cast(TEXT)
    escaped = pc.replace_substring(pc.replace_substring(array, "\\", "\\\\"), '"', '\\"')
    text = pc.fill_null(_wrapped('"', escaped, '"'), null())
    return isotext.python_where(text, array, pc.match_substring_regex(array, _CONTROL), python)


def integers(array: pa.Array, python: Callable[[Any], str] = dumps, tz: ZoneInfo | None = None) -> pa.Array:
    """Integers as their decimal digits, as Python writes an ``int``."""
    return pc.fill_null(pc.cast(array, TEXT), null())


def booleans(array: pa.Array, python: Callable[[Any], str] = dumps, tz: ZoneInfo | None = None) -> pa.Array:
    return pc.fill_null(pc.if_else(array, pa.scalar("true", TEXT), pa.scalar("false", TEXT)), null())


def floats(array: pa.Array, python: Callable[[Any], str] = dumps, tz: ZoneInfo | None = None) -> pa.Array:
    """Doubles as ``float.__repr__`` writes them (the shortest digits that read back, ``5.0``,
    ``-0.0``), which pyarrow writes too (its shortest digits are the same) but for a missing
    ``.0`` (added here). Where Python takes the exponent form (below 1e-4, from 1e16) or a name
    (``NaN``, ``Infinity``: not JSON, but what the exports always wrote), Python writes it."""
    array = pc.cast(array, pa.float64())  # a float32's exact value, as Python reads it
    text = pc.cast(array, TEXT)
    text = pc.if_else(pc.match_substring(text, "."), text, _wrapped("", text, ".0"))
    size = pc.abs(array)
    odd = pc.or_kleene(pc.or_kleene(pc.is_nan(array), pc.greater_equal(size, 1e16)),
                       pc.and_kleene(pc.less(size, 1e-4), pc.not_equal(array, 0.0)))
    odd = pc.or_kleene(odd, pc.match_substring(text, "e"))
    return isotext.python_where(pc.fill_null(text, null()), array, odd, python)


def dates(array: pa.Array, python: Callable[[Any], str] = dumps, tz: ZoneInfo | None = None) -> pa.Array | None:
    """Days as ``date.isoformat`` writes them (``2024-05-01``); None (Python per cell) for a
    column with a day outside Python's years 1–9999."""
    if not _python_years(pc.year(array)):
        return None
    return pc.fill_null(_wrapped('"', pc.cast(array, TEXT), '"'), null())


def datetimes(array: pa.Array, python: Callable[[Any], str] = dumps, tz: ZoneInfo | None = None) -> pa.Array | None:
    """Instants as ``datetime.isoformat`` writes them once in the request's zone (naive ones as
    they are): ``2024-05-01T12:30:00+02:00``, microseconds only where a value has some; the
    text every export writes (``isotext.instants``, which writes in UTC the instants whose local
    time would leave years 1 to 9999: ``values.instant_text``), quoted. None (Python per cell)
    at a unit finer than microseconds."""
    if array.type.unit == "ns":
        return None
    return pc.fill_null(_wrapped('"', isotext.instants(array, tz), '"'), null())


def points(array: pa.StructArray, *, geojson: bool) -> pa.Array:
    """geo_point_2d values as ``{"lon":…,"lat":…}`` (``record_value``), or with ``geojson`` as a
    GeoJSON Point's ``{"type":"Point","coordinates":[lon,lat]}``; a point without a longitude
    is null, as ``record_value`` has it."""
    lon, lat = pc.struct_field(array, "lon"), pc.struct_field(array, "lat")
    present = pc.fill_null(pc.and_(pc.is_valid(array), pc.is_valid(lon)), False)
    if geojson:
        text = joined(['{"type":"Point","coordinates":[', floats(lon), ",", floats(lat), "]}"], len(array))
    else:
        text = joined(['{"lon":', floats(lon), ',"lat":', floats(lat), "}"], len(array))
    return pc.if_else(present, text, null())


def reencoded(array: pa.Array) -> pa.Array:
    """JSON texts (json fields, GeoJSON geometries) read and written again by Python, cell by
    cell, as the exports always did: the engine's spacing and number forms are not Python's."""
    return pa.array(["null" if text is None else dumps(json.loads(text)) for text in array.to_pylist()], TEXT)


def multivalued(array: pa.Array, annotation: Any, python: Callable[[Any], str]) -> pa.Array:
    """A multivalued text as its JSON array of values, the values every export writes
    (``isotext.multivalued_lists``: ``values.multivalued_list``'s)."""
    parts = isotext.multivalued_lists(array.cast(TEXT), annotation)
    items = strings(pc.list_flatten(parts))
    text = pc.binary_join(pa.LargeListArray.from_arrays(_list_offsets(parts), items), pa.scalar(",", TEXT))
    return pc.if_else(pc.is_valid(array), _wrapped("[", text, "]"), null())


# -- helpers ------------------------------------------------------------------------------------
def _list_offsets(parts: pa.Array) -> pa.Array:
    """The offsets of a list array as int64 from zero (``list_flatten`` drops null lists' items)."""
    lengths = pc.fill_null(pc.list_value_length(parts), 0).cast(pa.int64())
    return pa.concat_arrays([pa.array([0], pa.int64()), pc.cumulative_sum(lengths)])


def _wrapped(before: str, array: pa.Array, after: str) -> pa.Array:
    return pc.binary_join_element_wise(pa.scalar(before, TEXT), array.cast(TEXT), pa.scalar(after, TEXT),
                                       pa.scalar("", TEXT))


def _python_years(years: pa.Array) -> bool:
    """Whether every year is one Python's ``date`` holds (1–9999): else Python per cell, which
    fails as the exports always did rather than write what Python cannot."""
    low, high = pc.min_max(years).values()
    return low.as_py() is None or (low.as_py() >= 1 and high.as_py() <= 9999)


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _is_point(kind: pa.DataType) -> bool:
    return (pa.types.is_struct(kind) and kind.num_fields == 2 and {kind.field(i).name for i in range(2)} == {"lon", "lat"}
            and all(pa.types.is_float64(kind.field(i).type) for i in range(2)))


def _kind(kind: pa.DataType) -> str | None:
    if _is_text(kind):
        return "text"
    if pa.types.is_boolean(kind):
        return "bool"
    if pa.types.is_integer(kind):
        return "int"
    if pa.types.is_float64(kind) or pa.types.is_float32(kind):
        return "float"
    if pa.types.is_date32(kind):
        return "date"
    if pa.types.is_timestamp(kind):
        return "datetime"
    return None


_FAST: dict[str | None, Callable[..., pa.Array | None]] = {
    "text": strings, "bool": booleans, "int": integers, "float": floats, "date": dates, "datetime": datetimes}
