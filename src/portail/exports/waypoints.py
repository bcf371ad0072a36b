"""The waypoint exports, GPX and TomTom's OV2: a record as a point with a name (and, in GPX, a
description), which a GPS or a navigation device lists by it.

Opendatasoft's GPX export takes ``name_field`` (the field written as each waypoint's
``<name>``), ``description_field_list`` (the fields written in its ``<desc>``, a line
``field: value`` each) and ``use_extension`` (true by default in v2.1: every field in the
waypoint's ``<extensions>``; false: none there, and the description, without a list, holds them
all). OV2 holds a point and one name: ``name_field``'s, else the first text field's. Both are
WGS84 by definition; a shape is written as its centroid.

OV2 (TomTom's POI file, as its SDK documents it): a record per point, type byte 2, its length as
a little-endian int32 (13 bytes and the name's), longitude and latitude as int32 hundred-
thousandths of a degree, then the name, NUL-terminated. The name is in Windows-1252, which the
devices display (a character it lacks is written ``?``).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from portail.exports import isotext
from portail.exports.xmltext import xml_text
from portail.odsql.literals import zone
from portail.schema import GEO_TYPES, Field, FieldType


def geometry_field(fields: list[Field]) -> Field | None:
    """The field geo exports draw: the first shape, else the first point (a shape says more)."""
    shapes = [f for f in fields if f.type == FieldType.GEO_SHAPE]
    points = [f for f in fields if f.type == FieldType.GEO_POINT_2D]
    return (shapes or points or [None])[0]


def check_waypoint_fields(columns: list[Field], name_field: str | None, description_fields: tuple[str, ...]) -> str | None:
    """The first of ``name_field`` and ``description_fields`` that is not an exported column (a
    geometry is none: the waypoint is its place), or None: asked before the first byte, so that
    a bad name is a 400 and not a broken file."""
    names = {f.name for f in columns if f.type not in GEO_TYPES}
    return next((n for n in (name_field, *description_fields) if n and n not in names), None)


def as_text(array: pa.Array, list_separator: str = ", ", timezone: str | None = None) -> pa.Array:
    """A column as text: a list joined, instants in ``timezone`` as the JSON output writes them
    (given one), anything else cast (a date as ISO text)."""
    if timezone is not None and pa.types.is_timestamp(array.type):
        return isotext.instants(array, zone(timezone))
    if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
        return pc.binary_join(pc.cast(array, pa.list_(pa.string())), list_separator)
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return array
    return pc.cast(array, pa.string())


_GPX_HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="Portail" '
             'xmlns="http://www.topografix.com/GPX/1/1" xmlns:ogr="http://osgeo.org/gdal" '
             'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
             'xsi:schemaLocation="http://www.topografix.com/GPX/1/1 http://www.topografix.com/GPX/1/1/gpx.xsd">\n')


def _tag(name: str) -> str:
    """A field's name as an XML element name (``ogr:<name>``, which GDAL reads back as the
    field ``ogr_<name>``)."""
    tag = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return tag if re.match(r"[A-Za-z_]", tag) else f"_{tag}"


def _described(columns: dict[str, pa.Array], names: tuple[str, ...], shown: dict[str, str]) -> list[str | None] | None:
    """Each row's description: a line ``field: value`` per field of ``names`` holding a value,
    the field as ``shown`` names it (its label with ``use_labels``)."""
    if not names:
        return None
    lines = [pc.binary_join_element_wise(f"{shown[n]}: ", columns[n], "", null_handling="emit_null") for n in names]
    return pc.binary_join_element_wise(*lines, "\n", null_handling="skip").to_pylist()


def write_gpx(fields: list[Field], batches: Iterator[pa.RecordBatch], options) -> Iterator[bytes]:
    """GPX 1.1 waypoints (module docstring), written as the batches come: GDAL's GPX driver
    cannot append to a file (a second batch failed after the 200) nor create a field named
    ``name`` or ``desc`` from Arrow. Extensions are written in GDAL's namespace, as GDAL wrote
    them, so that its readers (QGIS) find each field again (``ogr_<name>``)."""
    import shapely

    from portail.exports.formats import column_names, distinct_names

    geo = geometry_field(fields)
    if geo is None:
        raise ValueError("the gpx export needs a geo_point_2d or geo_shape field")
    index = {f.name: i for i, f in enumerate(fields)}
    attributes = [f for f in fields if f.type not in GEO_TYPES]
    described = options.description_fields or (
        () if options.use_extension else tuple(f.name for f in attributes if f.name != options.name_field))
    shown = column_names(fields, options)
    # distinct: names alike once made XML names (``Surface m²``, ``Surface m³``) kept the last value only
    tags = list(zip([f.name for f in attributes], distinct_names([_tag(shown[f.name]) for f in attributes]))) \
        if options.use_extension else []
    yield _GPX_HEAD.encode()
    for batch in batches:
        columns = {f.name: as_text(batch.column(index[f.name]), options.list_separator, options.timezone)
                   for f in attributes}  # instants as /records writes them
        points = shapely.centroid(shapely.from_wkb(batch.column(index[geo.name]).to_pylist()))
        names = columns[options.name_field].to_pylist() if options.name_field else None
        descriptions = _described(columns, described, shown)
        values = {name: columns[name].to_pylist() for name, _ in tags}
        parts = []
        for i, point in enumerate(points):
            if point is None or shapely.is_empty(point):
                continue
            parts.append(f'<wpt lat="{point.y!r}" lon="{point.x!r}">')
            if names is not None and names[i] is not None:
                parts.append(f"<name>{xml_text(names[i])}</name>")
            if descriptions is not None and descriptions[i]:
                parts.append(f"<desc>{xml_text(descriptions[i])}</desc>")
            extensions = "".join(f"<ogr:{tag}>{xml_text(values[name][i])}</ogr:{tag}>" for name, tag in tags
                                 if values[name][i] is not None)
            if extensions:
                parts.append(f"<extensions>{extensions}</extensions>")
            parts.append("</wpt>\n")
        if parts:
            yield "".join(parts).encode()
    yield b"</gpx>\n"


_RECORD = struct.Struct("<Biii")


def write_ov2(fields: list[Field], batches: Iterator[pa.RecordBatch], options) -> Iterator[bytes]:
    """TomTom's OV2 (module docstring), a batch at a time; a record without a geometry is left out."""
    import shapely

    geo = geometry_field(fields)
    if geo is None:
        raise ValueError("the ov2 export needs a geo_point_2d or geo_shape field")
    name_field = options.name_field or next((f.name for f in fields if f.type == FieldType.TEXT), None)
    index = {f.name: i for i, f in enumerate(fields)}
    for batch in batches:
        points = shapely.centroid(shapely.from_wkb(batch.column(index[geo.name]).to_pylist()))
        names = as_text(batch.column(index[name_field])).to_pylist() if name_field else [None] * batch.num_rows
        parts = []
        for point, name in zip(points, names):
            if point is None or shapely.is_empty(point):
                continue
            text = (name or "").replace("\0", " ").encode("cp1252", errors="replace") + b"\0"
            parts.append(_RECORD.pack(2, _RECORD.size + len(text), round(point.x * 100_000), round(point.y * 100_000)))
            parts.append(text)
        if parts:
            yield b"".join(parts)
