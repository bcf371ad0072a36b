"""The iCalendar export (RFC 5545): a record as an event, which a calendar application imports
or subscribes to (an agenda of public events, the meetings of a council, the closing dates of
calls for tenders).

Opendatasoft's JavaScript client lists an ``ical`` export, and v2.0 offered one on datasets its
publishers had set up a calendar view for, naming the fields that start and end each event and
the one that titles it. Here any dataset with a date or datetime field has it:

- ``start_field``: the field each event starts at; by default the first date or datetime field
  exported. A record without one is left out (an event needs its start);
- ``end_field``: the field it ends at; none by default (a date then is a one-day event, an
  instant an event of no duration). An end that is not after its start is left out (RFC 5545
  wants DTEND later than DTSTART), not written as an event a calendar would refuse;
- ``name_field`` (the waypoint exports' parameter): the event's title, by default the first text
  field; ``description_field_list``: the fields its description lists, a line
  ``field: value`` each (its label with ``use_labels``), by default every other field holding a value;
- a point or shape gives the event its ``GEO`` (a shape's centroid).

Dates are all-day values (``VALUE=DATE``, an end date included in the event, hence written as
the next day: RFC 5545's end is exclusive); instants are written in UTC. The end takes the
start's type, as the RFC requires: after a start date, an instant ends the event on its day in
the request's zone; after a start instant, an end date at the end of that day. Each event's ``UID`` is
its record's URL, stable across exports while the record's values are; ``DTSTAMP`` is the
export's own time, as the RFC asks of a published calendar.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from portail.exports.waypoints import as_text, geometry_field
from portail.schema import GEO_TYPES, Field, FieldType

#: Field types an event can start or end at.
CALENDAR_TYPES = frozenset({FieldType.DATE, FieldType.DATETIME})
#: Octets of a content line before it is folded (RFC 5545, 3.1), line break excluded.
LINE_OCTETS = 75


@dataclass(frozen=True)
class CalendarFields:
    """The fields an export's events are made of (module docstring)."""

    start: str
    end: str | None
    title: str | None
    described: tuple[str, ...]


def calendar_fields(columns: list[Field], options: Any) -> CalendarFields:
    """The fields of the events, checked before the first byte: ``ValueError(parameter, detail)``
    names the parameter at fault, for the API to answer 400."""
    dated = [f.name for f in columns if f.type in CALENDAR_TYPES]
    for parameter in ("start_field", "end_field"):
        name = getattr(options, parameter)
        if name and name not in dated:
            raise ValueError(parameter, f"{name!r} is not a date or datetime field of this export")
    start = options.start_field or (dated[0] if dated else None)
    if start is None:
        raise ValueError("format", "the ical export needs a date or datetime field")
    texts = [f.name for f in columns if f.type == FieldType.TEXT]
    title = options.name_field or (texts[0] if texts else None)
    described = options.description_fields or tuple(
        f.name for f in columns if f.type not in GEO_TYPES and f.name not in (start, options.end_field, title))
    return CalendarFields(start, options.end_field, title, described)


def write_ical(fields: list[Field], batches: Iterator[pa.RecordBatch], options: Any) -> Iterator[bytes]:
    """An iCalendar file written as the batches come: one VEVENT per record holding a start. The
    record's id is each batch's last column (``FORMATS["ical"].extra``)."""
    import shapely

    from portail.exports.formats import column_names

    chosen = calendar_fields(fields, options)
    shown = column_names(fields, options)
    index = {f.name: i for i, f in enumerate(fields)}
    all_day = next(f.type for f in fields if f.name == chosen.start) == FieldType.DATE  # DTEND takes DTSTART's type
    zone = ZoneInfo(options.timezone)
    geo = geometry_field(fields)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = options.dataset_url.rstrip("/")
    yield _lines(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Portail//Explore API//FR", "CALSCALE:GREGORIAN",
                  "METHOD:PUBLISH", f"X-WR-CALNAME:{_text(options.filename)}"])
    for batch in batches:
        ids = batch.column(batch.num_columns - 1).to_pylist()
        starts = batch.column(index[chosen.start]).to_pylist()
        ends = batch.column(index[chosen.end]).to_pylist() if chosen.end else [None] * batch.num_rows
        titles = _texts(batch.column(index[chosen.title]), options) if chosen.title else [None] * batch.num_rows
        described = {n: _texts(batch.column(index[n]), options) for n in chosen.described}
        points = (shapely.centroid(shapely.from_wkb(batch.column(index[geo.name]).to_pylist())) if geo is not None
                  else [None] * batch.num_rows)
        lines: list[str] = []
        for i, start in enumerate(starts):
            if start is None:
                continue
            lines += ["BEGIN:VEVENT", f"UID:{base}/records/{ids[i]}", f"DTSTAMP:{stamp}",
                      _property("DTSTART", begins := _bound(start, all_day, zone, end=False))]
            if ends[i] is not None and (finishes := _bound(ends[i], all_day, zone, end=True)) is not None \
                    and finishes > begins:
                lines.append(_property("DTEND", finishes))
            if titles[i] is not None:
                lines.append(f"SUMMARY:{_text(titles[i])}")
            description = "\n".join(f"{shown[n]}: {values[i]}" for n, values in described.items()
                                    if values[i] is not None)
            if description:
                lines.append(f"DESCRIPTION:{_text(description)}")
            point = points[i]
            if point is not None and not shapely.is_empty(point):
                lines.append(f"GEO:{point.y!r};{point.x!r}")
            lines.append("END:VEVENT")
        if lines:
            yield _lines(lines)
    yield _lines(["END:VCALENDAR"])


def _texts(array: pa.Array, options: Any) -> list[str | None]:
    """A column's values as text, instants in the request's zone as the JSON output writes them."""
    return as_text(array, options.list_separator, options.timezone).to_pylist()


def _instant(value: date | datetime) -> datetime:
    """A date as its midnight UTC; an instant without its zone as UTC (as the catalogue keeps them)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _bound(value: date | datetime, all_day: bool, zone: ZoneInfo, end: bool) -> date | datetime | None:
    """DTSTART's or DTEND's value: a day (an instant's, in the request's zone, or in UTC where
    the zone's day would leave years 1 to 9999, as ``values.instant_text`` writes it), else an
    instant (a date's midnight UTC); an end date is the event's last day, and DTEND is
    exclusive: the next day, the next midnight. None for an end after 9999-12-31, which the
    format cannot write (the event then has no DTEND)."""
    try:
        if all_day:
            day = _day(value, zone) if isinstance(value, datetime) else value
            return day + timedelta(days=1) if end else day
        moment = _instant(value)
        return moment + timedelta(days=1) if end and not isinstance(value, datetime) else moment
    except OverflowError:
        return None


def _day(value: datetime, zone: ZoneInfo) -> date:
    try:
        return value.astimezone(zone).date()
    except OverflowError:
        return value.astimezone(UTC).date()


def _property(name: str, value: date | datetime) -> str:
    """A DTSTART or DTEND line; the year in four digits (``strftime``'s ``%Y`` writes year 1 as ``1``)."""
    if isinstance(value, datetime):
        moment = value.astimezone(UTC)
        return f"{name}:{moment.date().isoformat().replace('-', '')}T{moment.strftime('%H%M%S')}Z"
    return f"{name};VALUE=DATE:{value.isoformat().replace('-', '')}"


def _text(value: str) -> str:
    """A TEXT value escaped (RFC 5545, 3.3.11); control characters the format cannot hold dropped."""
    value = "".join(ch for ch in value if ch in "\n\t" or ord(ch) >= 0x20 and ord(ch) != 0x7F)
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _lines(lines: list[str]) -> bytes:
    return b"".join(_folded(line) for line in lines)


def _folded(line: str) -> bytes:
    """A content line folded at 75 octets, never inside a UTF-8 character, ended by CRLF."""
    data = line.encode()
    if len(data) <= LINE_OCTETS:
        return data + b"\r\n"
    parts, width, start = [], LINE_OCTETS, 0
    while start < len(data):
        cut = min(start + width, len(data))
        while cut < len(data) and (data[cut] & 0xC0) == 0x80:  # a continuation byte: step back
            cut -= 1
        parts.append(data[start:cut])
        start, width = cut, LINE_OCTETS - 1  # continuation lines open with a space
    return b"\r\n ".join(parts) + b"\r\n"
