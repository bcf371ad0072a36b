"""Value kinds and typed SQL fragments: what the compiler knows about each expression.

A :class:`Typed` is a sqlglot expression plus its ODSQL kind (text, int, date, point…),
whether it holds an aggregate, and, for constants, the Python value (so ``date < "2020"``,
``percentile(x, 90)`` or ``range(f, *, 10, *)`` can be checked and folded at compile time).
This module also owns the rules that make two kinds comparable (:func:`align`) and the few
SQL building blocks every part of the compiler shares. It never sees ODSQL text.
"""

from __future__ import annotations

import math
import string as string_module
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Callable
from zoneinfo import ZoneInfo

from sqlglot import exp

from portail.odsql import literals
from portail.odsql.ast import format_number
from portail.schema import Field, FieldType, lonlat_columns


class Kind(StrEnum):
    """The kind of an ODSQL value: a stored field's type (``schema.FieldType``, same values, so
    the two cannot drift: ``FIELD_KINDS`` and ``OUTPUT_TYPES`` are derived and checked at import),
    plus ``null`` for the literal. Files are read as JSON."""

    TEXT = FieldType.TEXT.value
    INT = FieldType.INT.value
    DOUBLE = FieldType.DOUBLE.value
    BOOLEAN = FieldType.BOOLEAN.value
    DATE = FieldType.DATE.value
    DATETIME = FieldType.DATETIME.value
    POINT = FieldType.GEO_POINT_2D.value
    SHAPE = FieldType.GEO_SHAPE.value
    JSON = FieldType.JSON.value
    NULL = "null"


NUMERIC = frozenset({Kind.INT, Kind.DOUBLE})
TEMPORAL = frozenset({Kind.DATE, Kind.DATETIME})
GEO = frozenset({Kind.POINT, Kind.SHAPE})
ANY = frozenset(Kind)

#: The kind of a stored field of each type (a file's metadata is JSON).
FIELD_KINDS: dict[FieldType, Kind] = {t: Kind(t.value) if t.value in {k.value for k in Kind} else Kind.JSON for t in FieldType}
assert set(FIELD_KINDS.values()) == ANY - {Kind.NULL}, "every kind but null is some field type's"

#: The schema type of an output column of each kind (how the API serialises it).
OUTPUT_TYPES: dict[Kind, FieldType] = {k: FieldType(k.value) if k is not Kind.NULL else FieldType.TEXT for k in Kind}


class _NoValue:
    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE: Any = _NoValue()


@dataclass(frozen=True)
class Typed:
    """A compiled expression: SQL, kind, and what the compiler may need to know about it."""

    sql: exp.Expression
    kind: Kind
    aggregate: bool = False
    value: Any = NO_VALUE  # the Python value of a constant
    field: Field | None = None  # the schema field, when the expression is a bare column (or its case changed)
    #: For an int: |value| <= 2**bits. Opendatasoft computes in floating point, so an int
    #: result must never overflow: this bound picks the engine type of int arithmetic
    #: (``int_type``), a BIGINT column's 63 by default.
    bits: int = 63

    @property
    def constant(self) -> bool:
        return self.value is not NO_VALUE


class LiteralError(ValueError):
    """A constant the engine cannot hold (NUL in a string, a number out of range); the
    compiler words it as an ODSQLError of the clause at hand."""


# ---- SQL building blocks --------------------------------------------------------------------

_OPERATORS = (exp.Binary, exp.Unary, exp.Predicate, exp.Connector)


def paren(e: exp.Expression) -> exp.Expression:
    """``e`` ready to be an operand: sqlglot writes trees as built, so precedence is ours.
    (Checked by operator class: sqlglot's AND/OR nodes are also ``Func``.)"""
    if isinstance(e, exp.Paren) or not isinstance(e, _OPERATORS):
        return e
    return exp.Paren(this=e)


def call(name: str, *args: exp.Expression) -> exp.Expression:
    """An engine function written as is (spatial and DuckDB-specific functions)."""
    return exp.Anonymous(this=name, expressions=list(args))


#: The table every compiled query reads (the store points it at a version's file).
RECORDS = "records"


def column(f: Field) -> exp.Column:
    """A field as a column qualified by its table: ``"records"."name"`` can never be taken for
    an output alias (DuckDB resolves bare names in ORDER BY and HAVING to aliases first)."""
    return exp.column(f.name, table=RECORDS, quoted=True)


def stored_lonlat(t: Typed) -> tuple[exp.Column, exp.Column] | None:
    """The longitude and latitude columns a version stores beside a bare geo_point_2d field
    (``schema.lonlat_columns``): plain doubles, where decoding the geometry of each row costs
    several times more. None for any other expression and for versions built before them."""
    f = t.field
    if f is None or not f.lonlat or t.kind is not Kind.POINT:
        return None
    lon, lat = lonlat_columns(f.name)
    return exp.column(lon, table=RECORDS, quoted=True), exp.column(lat, table=RECORDS, quoted=True)


def point_xy(t: Typed, stored: bool) -> tuple[exp.Expression, exp.Expression]:
    """A point's longitude and latitude: its stored columns if it has them and ``stored``
    allows (a group key must stay the grouped column), else ``ST_X``/``ST_Y`` (same values)."""
    columns = stored_lonlat(t) if stored else None
    return columns if columns is not None else (call("ST_X", t.sql.copy()), call("ST_Y", t.sql.copy()))


def multivalued_items(f: Field, sql: exp.Expression) -> exp.Expression | None:
    """The values of a multivalued field (annotation ``multivalued: [separator]``, ``,`` by
    default) as a list, blanks around each value dropped; ``None`` for a single-valued field.
    Membership (``"x" in f``), facets and refinements all split a value this way."""
    annotation = f.annotations.get("multivalued")
    if annotation is None:
        return None
    separator = str(annotation[0]) if annotation else ","
    escaped = "".join("\\" + ch if ch in string_module.punctuation else ch for ch in separator)  # RE2 syntax
    return call("regexp_split_to_array", exp.Trim(this=sql), string(r"\s*" + escaped + r"\s*"))


def holding(f: Field, sql: exp.Expression, value: Callable[[], exp.Expression]) -> exp.Expression | None:
    """Whether one of the values of ``sql``, a multivalued field's text, is ``value`` (called at
    each use: a placeholder is one parameter a use); ``None`` for a single-valued field. The
    text holding the value anywhere is tested first, as every value is a part of it: splitting
    every row (a regular expression) cost 1 s over 2 M records, and the test alone spares it
    on the records that cannot hold the value (an ordered page of a common value 1.0 -> 0.4 s,
    of a rare one 1.0 -> 0.1 s). In parentheses: callers negate it (``tags != "x"``)."""
    items = multivalued_items(f, sql)
    if items is None:
        return None
    return exp.Paren(this=exp.and_(call("contains", sql.copy(), value()), call("list_contains", items, value())))


def multivalued_values(f: Field, sql: exp.Expression) -> exp.Expression | None:
    """The values a record of a multivalued field counts in, as a list: its items without the
    blanks (``"a,,b"``, a trailing separator) and each value once, since Opendatasoft's facets
    and group_by (terms aggregations) count records, not occurrences. Facets and ODSQL's
    group_by both unnest this list, so their counts agree. ``None`` for a single-valued field."""
    items = multivalued_items(f, sql)
    if items is None:
        return None
    return call("list_distinct", call("list_filter", items, _filled()))


def field_extreme(t: Typed, largest: bool) -> exp.Expression | None:
    """The smallest (largest) value of ``t`` when it reads a multivalued text field, as order_by
    sorts it and min()/max() give it; None for any other expression (a group key over such a
    field is one value: its field has no annotation). Not an extreme of
    :func:`multivalued_values`: duplicates never change one, and a blank item is the smallest text,
    so the largest needs no filter at all (an order_by over 2 M records: ``list_distinct`` and
    the filter took 1.5 s of the 1.6, the split alone 0.5)."""
    if t.field is None or t.kind is not Kind.TEXT:
        return None
    items = multivalued_items(t.field, t.sql.copy())
    if items is None:
        return None
    if largest:
        return exp.Nullif(this=call("list_max", items), expression=string(""))
    return call("list_min", call("list_filter", items, _filled()))


def _filled() -> exp.Lambda:
    """``__item -> __item <> ''``: an item that is not blank."""
    item = exp.to_identifier("__item")  # field names never start with "_": no column is shadowed
    return exp.Lambda(this=exp.NEQ(this=item.copy(), expression=string("")), expressions=[item])


def string(value: str) -> exp.Literal:
    if "\x00" in value:
        raise LiteralError("a string holds a NUL character")
    return exp.Literal.string(value)


INT64 = (-(2**63), 2**63 - 1)


def int_type(bits: int) -> str | None:
    """The engine type that holds every int of magnitude up to ``2**bits`` (a BIGINT's top is
    2**63 - 1, a HUGEINT's 2**127 - 1); None past a HUGEINT: the value is computed as a DOUBLE."""
    return "BIGINT" if bits <= 62 else "HUGEINT" if bits <= 126 else None


def number(value: int | float) -> exp.Expression:
    """A numeric constant: BIGINT for integers, DOUBLE otherwise (never DECIMAL)."""
    if isinstance(value, bool):
        raise LiteralError("not a number")
    if isinstance(value, int):
        if not INT64[0] <= value <= INT64[1]:
            raise LiteralError(f"integer out of range: {value}")
        return exp.Literal.number(value) if value >= 0 else exp.Neg(this=exp.Literal.number(-value))
    if not math.isfinite(value):
        raise LiteralError(f"number out of range: {value}")
    literal = exp.cast(exp.Literal.number(repr(abs(value))), "DOUBLE")
    return literal if math.copysign(1, value) > 0 else exp.Neg(this=literal)


def date_sql(day: date) -> exp.Expression:
    return exp.cast(exp.Literal.string(day.isoformat()), "DATE")


def timestamptz_sql(moment: datetime) -> exp.Expression:
    try:
        text = literals.utc_text(moment)
    except OverflowError:  # 9999-12-31T23:00-05:00 is in year 10000 in UTC, which Python cannot write
        raise LiteralError(f"date out of range: {moment.isoformat()}") from None
    return exp.cast(exp.Literal.string(text), "TIMESTAMPTZ")


def in_zone(moment: datetime, tz: ZoneInfo) -> datetime:
    """``moment`` on the clock of ``tz``: a moment of year 1 or 9999 near midnight UTC falls
    outside Python's years once moved to a zone far from UTC (year 0 in St John's, 10000 in
    Kiritimati), said as a literal out of range (an ODSQL 400), not an OverflowError (a 500)."""
    try:
        return moment.astimezone(tz)
    except OverflowError:
        raise LiteralError(f"date out of range in time zone {tz.key}: {moment.isoformat()}") from None


def timestamp_sql(moment: datetime) -> exp.Expression:
    """A naive wall-clock TIMESTAMP (for comparing with DATE columns in the query's zone)."""
    return exp.cast(exp.Literal.string(moment.replace(tzinfo=None).isoformat(sep=" ")), "TIMESTAMP")


def constant(value: Any, tz: ZoneInfo) -> Typed:
    """A Python constant as a typed literal."""
    if value is None:
        return Typed(exp.Null(), Kind.NULL, value=None)
    if isinstance(value, bool):
        return Typed(exp.true() if value else exp.false(), Kind.BOOLEAN, value=value)
    if isinstance(value, int):
        return Typed(number(value), Kind.INT, value=value, bits=abs(value).bit_length())
    if isinstance(value, float):
        return Typed(number(value), Kind.DOUBLE, value=value)
    if isinstance(value, str):
        return Typed(string(value), Kind.TEXT, value=value)
    if isinstance(value, datetime):
        return Typed(timestamptz_sql(value), Kind.DATETIME, value=value)
    if isinstance(value, date):
        return Typed(date_sql(value), Kind.DATE, value=value)
    raise TypeError(f"no literal for {value!r}")


def local_time(t: Typed, tz: ZoneInfo) -> exp.Expression:
    """The wall-clock time of a temporal value in the query's zone (a naive TIMESTAMP, or
    the DATE itself): date parts, date_format and range() buckets read this."""
    if t.kind is Kind.DATETIME:
        if t.constant:
            return timestamp_sql(in_zone(t.value, tz))
        return call("timezone", exp.Literal.string(tz.key), t.sql)
    return t.sql


def as_moment(t: Typed, tz: ZoneInfo) -> exp.Expression:
    """A temporal value as a TIMESTAMPTZ (a DATE is midnight in the query's zone)."""
    if t.kind is Kind.DATE:
        if t.constant:
            return timestamptz_sql(literals.start_of_day(t.value, tz))
        return call("timezone", exp.Literal.string(tz.key), exp.cast(t.sql, "TIMESTAMP"))
    return t.sql


def output(t: Typed, geometry: str = "geojson", grouped: bool = False) -> exp.Expression:
    """How a value leaves the engine for the API: points as ``{lon, lat}`` structs, shapes
    as GeoJSON text, JSON as text (the same shapes as ``portail.values``). With
    ``geometry="wkb"`` (geo file exports) points and shapes leave as WKB. ``grouped``: the
    query aggregates, so a point is a group key and is read from the grouped column."""
    if geometry == "wkb" and t.kind in (Kind.POINT, Kind.SHAPE):
        return call("ST_AsWKB", t.sql)
    if t.kind is Kind.POINT:
        lon, lat = point_xy(t, stored=not grouped)
        return exp.func("struct_pack", exp.PropertyEQ(this=exp.to_identifier("lon"), expression=lon),
                        exp.PropertyEQ(this=exp.to_identifier("lat"), expression=lat))
    if t.kind is Kind.SHAPE:
        return call("ST_AsGeoJSON", t.sql)
    if t.kind is Kind.JSON:
        return exp.cast(t.sql, "VARCHAR")
    return t.sql


# ---- making two values comparable -----------------------------------------------------------

def _reinterpret(text: Typed, kind: Kind, tz: ZoneInfo) -> Typed:
    """A string constant read as another kind (``date < "2020-01-01"``, ``pop = "12"``)."""
    value = text.value
    if kind in TEMPORAL:
        return constant(literals.parse_date(value, tz), tz)
    if kind in NUMERIC:
        try:
            parsed: int | float = int(value.strip())
        except ValueError:
            try:
                parsed = float(value.strip())
            except ValueError:
                parsed = math.nan
            if not math.isfinite(parsed):
                raise ValueError(f"not a number: {value!r}") from None
        return constant(parsed, tz)
    if kind is Kind.BOOLEAN and value.strip().lower() in ("true", "false"):
        return constant(value.strip().lower() == "true", tz)
    raise ValueError(f"cannot read {value!r} as {kind}")


def _mixed_dates(day: Typed, moment: Typed, tz: ZoneInfo) -> tuple[Typed, Typed]:
    """A DATE against a DATETIME, keeping plain column comparisons where possible."""
    if moment.constant:
        local = in_zone(moment.value, tz)
        if local.time() == datetime.min.time():  # midnight: compare as dates
            return day, constant(local.date(), tz)
        return (Typed(exp.cast(day.sql, "TIMESTAMP"), Kind.DATETIME, day.aggregate),
                Typed(timestamp_sql(local), Kind.DATETIME, value=moment.value))
    return Typed(as_moment(day, tz), Kind.DATETIME, day.aggregate, day.value), moment


def align(a: Typed, b: Typed, tz: ZoneInfo, fail: Callable[[str], Exception]) -> tuple[Typed, Typed]:
    """Two values made comparable, or ``fail(reason)`` raised."""
    if a.kind is Kind.NULL or b.kind is Kind.NULL or a.kind is b.kind:
        return a, b
    if a.kind in NUMERIC and b.kind in NUMERIC:
        return a, b
    readable = NUMERIC | TEMPORAL | {Kind.BOOLEAN}
    # a year as a number against a date (``modified > 2015``, v2.0's catalogue documentation):
    # read as the text "2015" is, the start of that year
    if a.kind in TEMPORAL and b.kind is Kind.INT and b.constant and isinstance(b.value, int):
        b = constant(str(b.value), tz)
    elif b.kind in TEMPORAL and a.kind is Kind.INT and a.constant and isinstance(a.value, int):
        a = constant(str(a.value), tz)
    try:
        if a.kind is Kind.TEXT and a.constant and b.kind in readable:
            a = _reinterpret(a, b.kind, tz)
        elif b.kind is Kind.TEXT and b.constant and a.kind in readable:
            b = _reinterpret(b, a.kind, tz)
        else:
            readable = frozenset()
    except ValueError as error:
        raise fail(str(error)) from None
    if readable:
        return align(a, b, tz, fail)
    if a.kind is Kind.TEXT and b.kind in NUMERIC and b.constant:
        return a, constant(format_number(b.value), tz)
    if b.kind is Kind.TEXT and a.kind in NUMERIC and a.constant:
        return constant(format_number(a.value), tz), b
    if a.kind is Kind.DATE and b.kind is Kind.DATETIME:
        return _mixed_dates(a, b, tz)
    if a.kind is Kind.DATETIME and b.kind is Kind.DATE:
        day, moment = _mixed_dates(b, a, tz)
        return moment, day
    raise fail(f"cannot compare a {a.kind} value with a {b.kind} value")
