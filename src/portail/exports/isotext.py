"""Instants and multivalued texts as ``/records`` writes them (``values.record_value``), a column
at a time: the one writer of every export (the JSON family through ``exports.jsontext``, CSV,
XLSX, Parquet, the OGR formats, GPX).

- an instant is ``datetime.isoformat`` once in the request's zone (``astimezone``), a naive one
  as it is: ``2024-05-01T12:30:00+02:00``, a fraction only on the values that have one, an
  offset in seconds where the zone had one (Paris before 1911: ``+00:09:21``); in UTC
  (``+00:00``) where the zone's local time would leave years 1 to 9999
  (``values.instant_text``);
- a multivalued text is the list ``values.multivalued_list`` splits it into (Python's ``re`` on
  the separator and the spaces around it, after ``str.strip``).

pyarrow writes both for the whole column; Python writes each distinct zone offset once, and
the rare cells pyarrow writes otherwise (``values.record_value``, ``values.multivalued_list``):
the years in which pyarrow's zone data gives another offset than Python's ``zoneinfo``
(pyarrow knows only the changes a zone file lists, to 2037: Paris in the summer of 2038 is
``+01:00`` for pyarrow, ``+02:00`` for Python), texts holding whitespace that RE2 or pyarrow's
trim do not take for whitespace (``\\v``, ``\\x1c``–``\\x1f``, the Unicode spaces). No Python
per cell for ordinary data: CSV's speed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy
import pyarrow as pa
import pyarrow.compute as pc

from portail.schema import Field, FieldType
from portail.values import multivalued_list, record_value

_UTC = ZoneInfo("UTC")
_INSTANT = Field("instant", "instant", FieldType.DATETIME)
_US_PER_DAY = 86_400_000_000
#: Whitespace Python's ``str.strip`` and ``re``'s ``\s`` take and RE2's ``\s`` or pyarrow's trim
#: may not (``\v``, the information separators, the Unicode spaces): multivalued texts holding
#: one are split by Python (``values.multivalued_list``). Written for RE2 (``\x{…}``).
WIDE_SPACE = "[\\x0b\\x1c-\\x1f\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}]"
#: What ``str.strip`` takes that RE2 reads alike: the ASCII spaces but ``\v``.
_ASCII_SPACE = " \t\n\r\f"
_EPOCH, _MICROSECOND = datetime(1970, 1, 1), timedelta(microseconds=1)


# -- instants -----------------------------------------------------------------------------------
def python_instant(tz: ZoneInfo | None) -> Callable[[datetime], str]:
    """One instant as ``record_value`` writes it in ``tz``: the reference of ``instants``."""
    return lambda value: record_value(_INSTANT, value, tz)


def instants(array: pa.Array, tz: ZoneInfo | None) -> pa.Array:
    """A timestamp column as the ISO texts ``record_value`` writes (``datetime.isoformat`` in
    ``tz``, UTC when None; a naive timestamp as it is, without an offset), a null for a null.
    pyarrow writes each local wall time (its cast to text, ten times as fast as its
    ``strftime``) and each distinct offset is written once by Python (``+02:00``, a local mean
    time's ``+00:09:21``); Python (``python_instant``) writes the cells of the years in which
    pyarrow's zone data is not Python's (``_zone_agrees``), and the instants whose local time
    in the zone would leave years 1 to 9999 (``0001-01-01T00:00Z`` in New York), which
    ``values.instant_text`` writes in UTC (``+00:00``)."""
    tz = tz or _UTC
    if array.type.unit == "ns":
        try:
            array = array.cast(pa.timestamp("us", tz=array.type.tz))  # lossless, or Python
        except pa.ArrowInvalid:
            return _per_cell(array, python_instant(tz))
    array = array.cast(pa.timestamp("us", tz=array.type.tz))
    if array.type.tz is None:  # no zone to write in: the wall time as it is, without an offset
        return _wall_text(array)
    try:
        local = pc.local_timestamp(array.cast(pa.timestamp("us", tz=tz.key)))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowKeyError):  # a zone pyarrow lacks
        return _per_cell(_in_utc(array), python_instant(tz))
    offsets = pc.subtract(local.cast(pa.int64()), array.cast(pa.int64()))
    distinct = pc.unique(offsets)
    written = pa.array([None if offset is None else _offset_text(offset) for offset in distinct.to_pylist()],
                       pa.string())
    text = pc.binary_join_element_wise(_wall_text(local), written.take(pc.index_in(offsets, distinct)), "")
    odd, beyond = _odd_instants(array, tz.key), _beyond_python(array, tz)
    mask = beyond if odd is None else pc.or_(pc.fill_null(odd, False), beyond)
    return python_where(text, _in_utc(array), mask, python_instant(tz))


def _in_utc(array: pa.Array) -> pa.Array:
    """A zoned timestamp column (microseconds) read in UTC: what Python holds of each instant
    whatever its local year in the column's or the request's zone (``values.instant_text``)."""
    return array.cast(pa.timestamp("us", tz="UTC"))


def _wall_text(wall: pa.Array) -> pa.Array:
    """Naive timestamps (microseconds) as ``datetime.isoformat`` writes them: ``T`` between day
    and time, a fraction only where there is one."""
    text = pc.utf8_replace_slice(wall.cast(pa.string()), start=10, stop=11, replacement="T")
    return pc.replace_substring(text, ".000000", "")


@lru_cache(maxsize=1024)
def _offset_text(micros: int) -> str:
    """A zone offset (microseconds) as ``datetime.isoformat`` ends with it: ``+02:00``,
    ``+00:09:21``, ``-03:00``."""
    return datetime(2000, 1, 1, tzinfo=timezone(timedelta(microseconds=micros))).isoformat()[19:]


def wall_times(array: pa.Array, tz: ZoneInfo | None) -> pa.Array:
    """A timestamp column as the wall times (naive, microseconds) ``record_value``'s text shows
    in ``tz``, a naive one as it is: what a spreadsheet's date cell holds. pyarrow's
    ``local_timestamp`` but in the years its zone data gives another offset than Python's
    (``_zone_agrees``), where Python's offset is added."""
    array = array.cast(pa.timestamp("us", tz=array.type.tz))
    if array.type.tz is None:
        return array
    tz = tz or _UTC
    local = pc.local_timestamp(array.cast(pa.timestamp("us", tz=tz.key)))
    odd = _odd_instants(array, tz.key)
    if odd is None:
        return local
    odd = pc.and_(pc.fill_null(odd, False), pc.invert(_beyond_python(array, tz)))
    if not pc.any(odd).as_py():
        return local
    moments = array.filter(odd).to_pylist()
    offsets = pa.array([moment.astimezone(tz).utcoffset() // _MICROSECOND for moment in moments], pa.int64())
    shifted = pc.add(array.filter(odd).cast(pa.int64()), offsets).cast(pa.timestamp("us"))
    return pc.replace_with_mask(local, odd, shifted)


def _odd_instants(array: pa.Array, key: str) -> pa.Array | None:
    """Where pyarrow writes an instant otherwise than Python in zone ``key`` (None: nowhere): in
    the (UTC) years in which ``_zone_agrees`` finds another offset than Python's, the years
    read from the column's range when it is short, from each value else."""
    micros = array.cast(pa.int64())
    low, high = (value.as_py() for value in pc.min_max(micros).values())
    if low is None:
        return None
    first, last = _year_of(low), _year_of(high)
    if last - first <= 200:
        years: Iterable[int] = range(first, last + 1)
    else:
        years = [y for y in pc.unique(pc.year(array.cast(pa.timestamp("us")))).to_pylist() if y is not None]
    odd = [year for year in years if 1 <= year <= 9999 and not _zone_agrees(key, year)]
    mask = None
    for start, end in _spans(odd):
        inside = pc.and_(pc.greater_equal(micros, _micros(start)), pc.less(micros, _micros(end + 1)))
        mask = inside if mask is None else pc.or_(mask, inside)
    return mask


def _spans(years: list[int]) -> list[tuple[int, int]]:
    """Years as runs of consecutive years, the first and last of each."""
    spans: list[tuple[int, int]] = []
    for year in sorted(years):
        if spans and spans[-1][1] == year - 1:
            spans[-1] = (spans[-1][0], year)
        else:
            spans.append((year, year))
    return spans


def _year_of(micros: int) -> int:
    """The (UTC) year of an instant in microseconds from the epoch; 0 or 10000 beyond Python's."""
    if micros < _micros(1):
        return 0
    if micros >= _micros(10000):
        return 10000
    return (_EPOCH + timedelta(microseconds=micros)).year


def _micros(year: int) -> int:
    """The first microsecond of a (UTC) year from the epoch, for the years 1 to 10000."""
    if year > 9999:
        return (datetime(9999, 12, 31) - _EPOCH) // _MICROSECOND + _US_PER_DAY
    return (datetime(year, 1, 1) - _EPOCH) // _MICROSECOND


def _beyond_python(array: pa.Array, tz: ZoneInfo | None) -> pa.Array:
    """The instants (microseconds) Python cannot write in ``tz`` (None: a naive timestamp, as it
    is): out of its years 1 to 9999, once in the zone. Only the cells within two days of its
    bounds are tried, by Python."""
    micros = array.cast(pa.int64())
    near = pc.fill_null(pc.or_(pc.less(micros, _micros(1) + 2 * _US_PER_DAY),
                               pc.greater_equal(micros, _micros(10000) - 2 * _US_PER_DAY)), False)
    if not pc.any(near).as_py():
        return near
    return pa.array([n and _beyond(value, tz) for value, n in zip(micros.to_pylist(), near.to_pylist())], pa.bool_())


def _beyond(micros: int, tz: ZoneInfo | None) -> bool:
    """Whether Python fails to write an instant (microseconds from the epoch) in ``tz``."""
    try:
        if tz is None:
            (_EPOCH + timedelta(microseconds=micros)).isoformat()
        else:
            (datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=micros)).astimezone(tz).isoformat()
    except (OverflowError, ValueError):
        return True
    return False


@lru_cache(maxsize=4096)
def _zone_agrees(key: str, year: int) -> bool:
    """Whether pyarrow gives a zone the offsets Python's ``zoneinfo`` gives it over a (UTC) year,
    checked twice a day. pyarrow reads only the
    changes a zone file lists (to 2037 in a "fat" file, fewer in a "slim" one), where Python
    goes on with the rule the file ends with (Paris in the summer of 2038: pyarrow ``+01:00``,
    Python ``+02:00``). Python writes the years where they differ."""
    start = datetime(year, 1, 1, tzinfo=timezone.utc)
    moments = [start + timedelta(hours=12 * half) for half in range(730)]
    moments = [moment for moment in moments if moment.year == year]
    try:
        instants = pa.array(moments, pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us", tz=key))
        arrow = pc.subtract(pc.cast(pc.local_timestamp(instants), pa.int64()),
                            pc.cast(instants, pa.int64())).to_pylist()
        zone = ZoneInfo(key)
        python = [moment.astimezone(zone).utcoffset() // timedelta(microseconds=1) for moment in moments]
    except (OverflowError, ValueError, pa.ArrowException):
        return False
    return arrow == python


# -- multivalued texts --------------------------------------------------------------------------
def multivalued_lists(array: pa.Array, annotation: Any) -> pa.Array:
    """A multivalued text column as the lists of values ``values.multivalued_list`` gives (a
    list of strings per row, a null for a null): RE2 splits on the separator and the ASCII
    spaces around it; Python the cells holding other whitespace, which the two engines read
    differently, and every cell of a separator that is empty or holds a space."""
    separator = _separator(annotation)
    if not separator or any(c.isspace() for c in separator):
        return pa.array([None if v is None else multivalued_list(v, annotation) for v in array.to_pylist()],
                        pa.list_(array.type))
    parts = pc.split_pattern_regex(pc.utf8_trim(array, characters=_ASCII_SPACE), pattern=_pattern(separator))
    wide = pc.fill_null(pc.match_substring_regex(array, WIDE_SPACE), False)
    if not pc.any(wide).as_py():
        return parts
    rewritten = pa.array([multivalued_list(v, annotation) for v in array.filter(wide).to_pylist()], parts.type)
    # ``replace_with_mask`` has no list kernel: the rows taken from both, the rewritten ones after
    rank = pc.subtract(pc.cumulative_sum(wide.cast(pa.int64())), 1)
    rows = pc.if_else(wide, pc.add(rank, len(parts)), pa.array(numpy.arange(len(parts), dtype=numpy.int64)))
    return pa.concat_arrays([parts, rewritten]).take(rows)


def multivalued_joined(array: pa.Array, annotation: Any, separator: str) -> pa.Array:
    """A multivalued text column as its values (``multivalued_lists``) joined by ``separator``
    (the request's ``list_separator``): what the text formats write. The separators replaced
    in the text where RE2 splits as Python does (no list built), as ``multivalued_lists``
    decides it."""
    stored = _separator(annotation)
    if not stored or any(c.isspace() for c in stored):
        return pc.binary_join(multivalued_lists(array, annotation), separator)
    text = pc.replace_substring_regex(pc.utf8_trim(array, characters=_ASCII_SPACE), pattern=_pattern(stored),
                                      replacement=separator.replace("\\", "\\\\"))
    wide = pc.fill_null(pc.match_substring_regex(array, WIDE_SPACE), False)
    if not pc.any(wide).as_py():
        return text
    rewritten = [separator.join(multivalued_list(v, annotation)) for v in array.filter(wide).to_pylist()]
    return pc.replace_with_mask(text, wide, pa.array(rewritten, text.type))


def _separator(annotation: Any) -> str:
    return str(annotation[0]) if annotation else ","


def _pattern(separator: str) -> str:
    return r"\s*" + re.escape(separator) + r"\s*"


# -- helpers ------------------------------------------------------------------------------------
def _per_cell(array: pa.Array, write: Callable[[Any], str]) -> pa.Array:
    return pa.array([None if value is None else write(value) for value in array.to_pylist()], pa.string())


def python_where(text: pa.Array, source: pa.Array, mask: pa.Array, write: Callable[[Any], str]) -> pa.Array:
    """``text`` with the cells ``mask`` marks written by Python from ``source`` (``write`` of each
    non-null value): the rare cells a fast path writes otherwise than Python (``jsontext`` too)."""
    mask = pc.fill_null(mask, False)
    if not pc.any(mask).as_py():
        return text
    rewritten = [write(value) for value in source.filter(mask).to_pylist()]
    return pc.replace_with_mask(text, mask, pa.array(rewritten, text.type))
