"""How stored values are read out of a version and shaped as JSON, the Opendatasoft way.

One place for it, shared by the Explore API, the exports and (later) the HTML portal:
geo_point_2d as ``{lon, lat}``, geo_shape as a GeoJSON Feature, dates as ISO strings, and
datetimes as ISO 8601 with the offset of the request's ``timezone`` (Opendatasoft writes
``"2025-01-23T15:33:29+01:00"`` for ``timezone=Europe/Paris``): the engine hands out instants,
the zone is only a way of writing them, so the conversion is done here and nowhere else.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlglot import exp

from portail.schema import Field, FieldType


_UTC = ZoneInfo("UTC")


def output_expression(f: Field) -> exp.Expression:
    """How a stored column is read for JSON output (geometry needs converting in the engine)."""
    column = exp.column(f.name, quoted=True)
    if f.type == FieldType.GEO_POINT_2D:
        return exp.func("struct_pack", exp.PropertyEQ(this=exp.to_identifier("lon"), expression=exp.func("ST_X", column)),
                        exp.PropertyEQ(this=exp.to_identifier("lat"), expression=exp.func("ST_Y", column)))
    if f.type == FieldType.GEO_SHAPE:
        return exp.func("ST_AsGeoJSON", column)
    if f.type in (FieldType.JSON, FieldType.FILE):
        return exp.cast(column, "VARCHAR")
    return column


def record_value(f: Field, value: Any, tz: ZoneInfo | None = None) -> Any:
    """A stored value as JSON; datetimes written in ``tz`` (UTC when not given). A NaN or an
    infinity (a Parquet file's missing float, as pandas writes it) is null: JSON has no such
    number, and ``/records`` writes null too (``api.serialize``)."""
    if value is None or (type(value) is float and not math.isfinite(value)):
        return None
    if f.type == FieldType.GEO_SHAPE:
        return {"type": "Feature", "geometry": json.loads(value), "properties": {}}
    if f.type == FieldType.GEO_POINT_2D:
        return {"lon": value["lon"], "lat": value["lat"]} if value.get("lon") is not None else None
    if f.type in (FieldType.JSON, FieldType.FILE):
        return json.loads(value)
    if isinstance(value, str) and "multivalued" in f.annotations:
        return multivalued_list(value, f.annotations["multivalued"])
    if isinstance(value, datetime):
        return instant_text(value, tz)
    if isinstance(value, date):
        return value.isoformat()
    return value


def instant_text(value: datetime, tz: ZoneInfo | None = None) -> str:
    """An instant as ISO 8601 in ``tz`` (UTC when not given), a naive one as it is: the one rule
    every writer follows (``/records``, v1, every export through ``exports.isotext``). Where the
    zone's local time would leave Python's years 1 to 9999 (``0001-01-01T00:00Z`` in New York,
    ``9999-12-31T23:00Z`` in Kolkata), the instant is written in UTC (``+00:00``) instead: the
    same instant, still a four-digit ISO 8601 year every client reads, rather than an error or a
    year ``0`` or ``10000`` no parser takes. The loader keeps every stored instant within years
    1 to 9999 UTC (``ingest.infer``), so the UTC text always exists."""
    if value.tzinfo is None:
        return value.isoformat()
    try:
        return value.astimezone(tz or _UTC).isoformat()
    except OverflowError:
        return value.astimezone(_UTC).isoformat()


def multivalued_list(value: str, annotation: Any) -> list[str]:
    """A multivalued text as Opendatasoft returns it, a JSON array; split exactly as ODSQL's
    membership test and the facets split it (``odsql.kinds.multivalued_items``)."""
    separator = str(annotation[0]) if annotation else ","
    return re.split(r"\s*" + re.escape(separator) + r"\s*", value.strip())


def record_id_expression(fields: list[Field]) -> exp.Expression:
    """A record's id: the SHA-1 of its values (like Opendatasoft's), or of the fields annotated
    ``id`` when the publisher chose a key. Computed when asked, not stored: it costs nothing at
    load time, and a page of records or one lookup computes it in the engine."""
    keys = [f for f in fields if "id" in f.annotations] or fields
    parts = [exp.func("coalesce", exp.cast(exp.column(f.name, quoted=True), "VARCHAR"), exp.func("chr", exp.Literal.number(0)))
             for f in keys]
    return exp.func("sha1", exp.func("concat_ws", exp.func("chr", exp.Literal.number(31)), *parts))
