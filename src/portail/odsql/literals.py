"""Reading the values ODSQL writes inside literals, in plain Python: partial dates, geometries,
units, and the arithmetic of ``now(...)``.

Pure functions, no SQL: the compiler turns their results into sqlglot literals. Every
failure is a ``ValueError`` with a short reason, which the compiler words as an ODSQLError.
"""

from __future__ import annotations

import calendar
import functools
import json
import math
import re
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

if TYPE_CHECKING:  # shapely is imported where a geometry is read or written: not every process reads one
    import shapely


# ---- time zones -----------------------------------------------------------------------------


@functools.cache
def _zone_names() -> frozenset[str]:
    """The tz database's names. Python reads any file under the system's zoneinfo folder as a
    zone, ``localtime`` (the machine's own), ``posixrules`` and the ``posix/`` and ``right/``
    copies among them; the engine, which cuts date parts in the zone, knows none of those."""
    return frozenset(available_timezones()) - {"localtime"}


def zone(name: str) -> ZoneInfo:
    """The ``timezone`` parameter as a zone (``ValueError`` if unknown)."""
    if name not in _zone_names():
        raise ValueError(f"Unknown timezone: {name}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):  # OSError: a name too long for a file
        raise ValueError(f"Unknown timezone: {name}") from None


# ---- languages ------------------------------------------------------------------------------

#: The ``lang`` parameter's values (reference §3), which localise ``date_format``'s names.
LANGUAGES = ("en", "fr", "nl", "pt", "it", "ar", "de", "es", "ca", "eu", "sv")


def language(name: str) -> str:
    """The ``lang`` parameter as one of :data:`LANGUAGES`, read as clients send it: any case,
    and a region form naming its language (``fr-FR``, ``en_US``); ``ValueError`` otherwise."""
    code = re.split(r"[-_]", name.strip().lower(), maxsplit=1)[0]
    if code not in LANGUAGES:
        raise ValueError(f"unknown language: {name}")
    return code


# ---- dates ----------------------------------------------------------------------------------

_DATE = re.compile(
    r"""(?P<y>\d{4})
        (?:[-/](?P<m>\d{1,2})
          (?:[-/](?P<d>\d{1,2})
            (?:[T\s](?P<H>\d{1,2})(?::(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)?
               \s*(?P<tz>Z|z|[+-]\d{2}(?::?\d{2})?)?
            )?
          )?
        )?""",
    re.VERBOSE,
)
#: ISO 8601's basic format: ``20210909``, ``20210909T1430``, ``20210909T143000Z``.
_BASIC_DATE = re.compile(
    r"""(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})
        (?:T(?P<H>\d{2})(?:(?P<M>\d{2})(?:(?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)?
           (?P<tz>Z|z|[+-]\d{2}(?::?\d{2})?)?
        )?""",
    re.VERBOSE,
)


def parse_date(text: str, tz: ZoneInfo) -> date | datetime:
    """An ODSQL date: ISO 8601 (extended or basic format) or ``YYYY/MM/DD``, possibly partial
    (``2017``, ``2017-01``).

    A date without a time gives a ``date`` (the start of the period); with a time, an aware
    ``datetime``, read in ``tz`` unless it carries its own offset.
    """
    match = _DATE.fullmatch(text.strip()) or _BASIC_DATE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not a date: {text!r}")
    g = match.groupdict()
    year, month, day = int(g["y"]), int(g["m"] or 1), int(g["d"] or 1)
    if g["H"] is None:
        return date(year, month, day)
    fraction = (g["f"] or "0")[:6].ljust(6, "0")
    moment = datetime(year, month, day, int(g["H"]), int(g["M"] or 0), int(g["S"] or 0), int(fraction))
    offset = g["tz"]
    if offset is None:
        return settled(moment.replace(tzinfo=tz))
    if offset in ("Z", "z"):
        return moment.replace(tzinfo=timezone.utc)
    digits = offset[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    if delta >= timedelta(hours=24):
        raise ValueError(f"not a time zone offset: {offset}")
    return moment.replace(tzinfo=timezone(delta if offset[0] == "+" else -delta))


def settled(moment: datetime) -> datetime:
    """``moment`` as its zone's clock shows its instant. A wall-clock time skipped by a DST
    change (02:30 on the night clocks go forward) is held by Python with the offset before the
    change, so it names an instant (01:30 UTC in Paris) whose clock reads 03:30; left as it is,
    Python keeps answering 02:30 when asked the time in its own zone, and ``hour()`` gave 2
    where the value was written 03:30. A moment whose instant falls outside Python's years (the
    last hours of 9999 west of UTC) is left as it is: no DST change there, and writing it for the
    engine says it is out of range (``kinds.timestamptz_sql``)."""
    try:
        return moment.astimezone(timezone.utc).astimezone(moment.tzinfo)
    except OverflowError:
        return moment


def start_of_day(day: date, tz: ZoneInfo) -> datetime:
    """Midnight of ``day`` in ``tz``, as an aware datetime."""
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def utc_text(moment: datetime) -> str:
    """``2020-01-01 00:00:00.000000+00:00``: an aware moment as DuckDB reads a TIMESTAMPTZ."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f+00:00")


def iso_key(moment: datetime) -> str:
    """``2020-11-13T00:00:00.000Z``: how range() keys write a date bound."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


# ---- now(...) -------------------------------------------------------------------------------

_SET = ("year", "month", "day", "hour", "minute", "second", "microsecond", "weekday")
_ADD = ("years", "months", "weeks", "days", "hours", "minutes", "seconds", "microseconds")
WEEKDAYS = ("mondays", "tuesdays", "wednesdays", "thursdays", "fridays", "saturdays", "sundays")
NOW_PARAMETERS = frozenset(_SET + _ADD + WEEKDAYS)
_BOUNDS = {"year": (1, 9999), "month": (1, 12), "day": (1, 31), "hour": (0, 23), "minute": (0, 59),
           "second": (0, 59), "microsecond": (0, 999_999), "weekday": (0, 6)}


def shift_now(base: datetime, params: dict[str, int]) -> datetime:
    """``now(...)``: singular names set a component, plural names add (with carry-over).

    Order of application, dateutil's ``relativedelta``'s (whose names these are, and which v1's
    ``#now`` is): set year and month and add years and months, then set the day (the one given,
    or today's) clamped to that month's length, and the time; add weeks, days and smaller units;
    move to ``weekday`` (forward, today included); then to the n-th next or previous ``mondays``
    … ``sundays``. A name given twice keeps its last value (the caller's dict already does).
    """
    for name, value in params.items():
        if name not in NOW_PARAMETERS:
            raise ValueError(f"unknown now() parameter: {name}")
        low, high = _BOUNDS.get(name, (-100_000_000, 100_000_000))
        if not low <= value <= high:
            raise ValueError(f"now() parameter {name} out of range: {value}")
    months = params.get("years", 0) * 12 + params.get("months", 0)
    year, month = divmod(params.get("year", base.year) * 12 + params.get("month", base.month) - 1 + months, 12)
    if not 1 <= year <= 9999:
        raise ValueError("now() moves outside years 1 to 9999")
    day = min(params.get("day", base.day), calendar.monthrange(year, month + 1)[1])
    moment = base.replace(year=year, month=month + 1, day=day,
                          **{name: params[name] for name in ("hour", "minute", "second", "microsecond") if name in params})
    try:
        moment = moment + timedelta(weeks=params.get("weeks", 0), days=params.get("days", 0),
                                    hours=params.get("hours", 0), minutes=params.get("minutes", 0),
                                    seconds=params.get("seconds", 0), microseconds=params.get("microseconds", 0))
        if "weekday" in params:
            moment = moment + timedelta(days=(params["weekday"] - moment.weekday()) % 7)
        for index, name in enumerate(WEEKDAYS):
            count = params.get(name, 0)
            if count > 0:
                moment = moment + timedelta(days=(index - moment.weekday() - 1) % 7 + 1 + 7 * (count - 1))
            elif count < 0:
                moment = moment - timedelta(days=(moment.weekday() - index - 1) % 7 + 1 + 7 * (-count - 1))
    except OverflowError:
        raise ValueError("now() moves outside years 1 to 9999") from None
    return settled(moment)


# ---- geometry -------------------------------------------------------------------------------

_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")


class LatitudeError(ValueError):
    """A geometry with a latitude past a pole: lat and lon swapped, most often."""


def parse_geometry(text: str) -> shapely.Geometry:
    """A ``geom'…'`` literal: WKT, a GeoJSON geometry (or Feature), or hex WKB; lon before lat; a
    polygon's ring left open is closed, whichever the notation."""
    import shapely.geometry  # GEOS (~0.02 s) for a geom'…' literal, not at each start

    body = text.strip()
    try:
        if body.startswith("{"):
            data = json.loads(body)
            if isinstance(data, dict) and data.get("type") == "Feature":
                data = data.get("geometry")
            if not isinstance(data, dict):
                raise ValueError("not a GeoJSON geometry")
            geometry = shapely.geometry.shape(data)
        elif _HEX.fullmatch(body):
            geometry = shapely.from_wkb(bytes.fromhex(body), on_invalid="fix")
        else:
            # "fix" closes a ring left open (GEOS refuses one): Opendatasoft's own intersects(),
            # disjoint() and within() example ends 3 cm from where it starts, and GeoJSON's reader
            # takes it already. Text that is no geometry still gives None, refused below.
            geometry = shapely.from_wkt(body, on_invalid="fix")
    except Exception as error:  # shapely and json raise several kinds
        raise ValueError(f"not a geometry: {text!r}") from error
    if geometry is None or geometry.is_empty:
        raise ValueError(f"empty geometry: {text!r}")
    coordinates = shapely.get_coordinates(geometry)
    if not all(math.isfinite(c) and abs(c) <= MAX_COORDINATE for c in coordinates.ravel()):
        raise ValueError(f"geometry with coordinates that are no degrees: {text!r}")
    if (abs(coordinates[:, 1]) > 90).any():  # longitude first: a latitude past a pole is lat and lon swapped
        raise LatitudeError(f"geometry with a latitude beyond ±90 (longitude comes first, then latitude): {text!r}")
    if not geometry.is_valid:
        # A self-intersecting ring, or parts overlapping: the engine's predicates disagree on
        # such a shape (a point "within" it but not "intersecting" it, answers depending on the
        # plan). Repaired as GEOS does (a bow tie becomes its two triangles).
        geometry = shapely.make_valid(geometry)
    return geometry


#: The largest coordinate a literal may hold, in degrees: longitudes past ±180 wrap (a client
#: may write -358 for 2: a map's view past the antimeridian), but a value of 1e308 made
#: distances NaN, which JSON cannot carry. Latitudes stay within ±90 (``parse_geometry``).
MAX_COORDINATE = 1e6


def geometry_wkt(geometry: shapely.Geometry) -> str:
    """The WKT handed to the engine: written by shapely, never the user's text."""
    import shapely

    return shapely.to_wkt(geometry, rounding_precision=-1, output_dimension=2)


# ---- units ----------------------------------------------------------------------------------

#: Distance units of within_distance() / distance(), in metres.
DISTANCE_UNITS: dict[str, float] = {"mi": 1609.344, "yd": 0.9144, "ft": 0.3048, "m": 1.0, "cm": 0.01, "mm": 0.001,
                                    "km": 1000.0}

#: Interval units of range(date, <n><unit>) (case-sensitive: m is minute, M is month).
DURATION_UNITS: dict[str, str] = {
    **dict.fromkeys(("ms", "millisecond", "milliseconds"), "millisecond"),
    **dict.fromkeys(("s", "second", "seconds"), "second"),
    **dict.fromkeys(("m", "minute", "minutes"), "minute"),
    **dict.fromkeys(("h", "hour", "hours"), "hour"),
    **dict.fromkeys(("d", "day", "days"), "day"),
    **dict.fromkeys(("w", "week", "weeks"), "week"),
    **dict.fromkeys(("M", "month", "months"), "month"),
    **dict.fromkeys(("q", "quarter", "quarters"), "quarter"),
    **dict.fromkeys(("y", "year", "years"), "year"),
}

#: Calendar units whose multiple must be 1.
CALENDAR_UNITS = frozenset({"week", "month", "quarter", "year"})
