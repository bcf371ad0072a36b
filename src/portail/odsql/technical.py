"""Explore API v2.0's technical fields: ODSQL names every record answers to beside its
dataset's fields (v2.0's documentation, "Dataset technical fields": ``datasetid``,
``record_timestamp``, ``recordid``, ``record_size``), usable in select, where, group_by and
order_by like any field.

``recordid`` is resolved on every API (``compiler.RECORD_ID``: v1 and ods-widgets' map ask by
it). The other three only when the query carries their values (``Query.technical``), which
Explore API v2.0 does: v2.1's ODSQL reference names no technical field. A dataset field of
the same name wins, as for ``recordid``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlglot import exp

from portail.odsql.kinds import (FIELD_KINDS, Kind, Typed, call, column, multivalued_items, number, output, paren,
                                 point_xy)
from portail.schema import Field

DATASET_ID = "datasetid"
RECORD_TIMESTAMP = "record_timestamp"
RECORD_SIZE = "record_size"


@dataclass(frozen=True)
class Technical:
    """The values of the technical fields that every record of a version shares: its dataset's
    id (``datasetid``) and when its records were published (``record_timestamp``, "the
    publishing date", an aware instant). Part of a compiled plan's identity: a plan is kept
    per version, and publishing the same version again (a rollback) stamps a new instant."""

    dataset_id: str
    timestamp: datetime


def record_size_expression(fields: list[Field]) -> exp.Expression:
    """A record's size: the length in bytes of its fields written as compact JSON, each value
    as the API writes it (``values.record_value``; datetimes in UTC, whatever the request's
    zone), so a record's size does not depend on who asks it how. v2.0's ``record.size`` and
    ODSQL's ``record_size`` are this one expression (Opendatasoft documents "Size of the
    record", with no unit). Computed in the engine from each value's own text, so that where
    and order_by can read it; ``fields`` are those the caller sees, as for the record's id."""
    if not fields:
        return number(2)  # {}
    keys = sum(len(json.dumps(f.name, ensure_ascii=False).encode()) + 1 for f in fields)  # "name":
    values = [exp.func("coalesce", _json_length(f), number(4)) for f in fields]  # null
    framing = 2 + len(fields) - 1  # braces and commas
    return exp.Add(this=number(framing + keys), expression=call("list_sum", call("list_value", *values)))


def _bytes(e: exp.Expression) -> exp.Expression:
    return call("strlen", exp.cast(e, "VARCHAR"))


def _json_length(f: Field) -> exp.Expression:
    """The bytes of one stored value written as JSON (null when it is null). The engine's
    text of a number is Python's (``1e+20``, ``100.0``), its ``to_json`` escapes text as
    Python's ``json`` does and writes a stored JSON value minified."""
    t = Typed(column(f), FIELD_KINDS[f.type], field=f)
    if t.kind is Kind.TEXT:
        items = multivalued_items(f, t.sql)  # a multivalued text is a JSON array of its values
        return _bytes(call("to_json", items if items is not None else t.sql))
    if t.kind in (Kind.INT, Kind.DOUBLE, Kind.BOOLEAN):
        return _bytes(t.sql)
    if t.kind in (Kind.DATE, Kind.JSON):
        return _bytes(call("to_json", t.sql))
    if t.kind is Kind.DATETIME:  # "2020-01-01T10:00:00+00:00", ".ffffff" before the offset if any
        fraction = exp.NEQ(this=paren(exp.Mod(this=call("epoch_us", t.sql), expression=number(1_000_000))),
                           expression=number(0))
        return exp.Add(this=number(27), expression=exp.Mul(this=number(7), expression=exp.cast(fraction, "BIGINT")))
    if t.kind is Kind.POINT:  # {"lon":…,"lat":…}
        lon, lat = point_xy(t, stored=True)
        return exp.Add(this=number(15), expression=exp.Add(this=_bytes(lon), expression=_bytes(lat)))
    # a shape: {"type":"Feature","geometry":…,"properties":{}}, its geometry the engine's GeoJSON
    return exp.Add(this=number(46), expression=call("strlen", output(t)))
