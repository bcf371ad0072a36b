"""v1's ``/api/records/1.0/analyze/``: the series behind ods-widgets' charts and many scripts
(``x=destination&y.count.func=COUNT``, ``x=date&precision=month&y.s.func=SUM&y.s.expr=n``).

One ODSQL group_by query through ``query_records`` (so the caller's hidden fields and row filter
hold, and ``q``, ``refine.``/``exclude.``/``disjunctive.`` and geofilters read as in the search):
the x values are its group keys, each ``y.<serie>`` its aggregates (``api.v1_series``). A date x
is cut by ``precision`` (``day`` by default) from the level ``periodic`` names (``year`` by
default) down, and comes as an object of integers (``{"year": 2002, "month": 1}``); ``periodic=
weekday`` gives ``{"weekday": 0}`` for Monday … 6 for Sunday and ignores ``precision``; a week is
ISO's (``{"year": 2020, "week": 53}``, the year being the week's). Several ``x`` give an object
per point (``{"last_name": …, "full_name": …}``).

What the documentation leaves open, chosen as its examples show: points come in ascending x
order unless ``sort`` names another (``x``, a serie, ``x.<field>``: descending; ``-`` first:
ascending, as v1's search sorts); ``y.<serie>.cumulative=true`` sums a serie along that order;
``maxpoints`` keeps the first points of it (0: all). Records whose x is null are left out (a
chart has no place for them). At most ``GROUP_WINDOW`` points are computed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response

from portail.api.catalog_exports import table_response
from portail.api.errors import invalid_parameter
from portail.api.explore_service import GROUP_WINDOW, get_visible_dataset, query_records
from portail.api.params import TRUE, Param, params_of, query_route
from portail.api.v1 import SEPARATORS, _conditions, _disjunctive, _padded, _padding, _prefixed
from portail.api.v1_query import _name
from portail.api.v1_series import Serie, read_series, select_items, serie_value
from portail.exports import ExportOptions
from portail.schema import Field, FieldType, fields_from_json

#: Date levels from the widest; ``periodic`` starts the key at one, ``precision`` ends it.
LEVELS = ("year", "month", "day", "hour", "minute")
PERIODIC = ("year", "month", "week", "weekday", "day", "hour", "minute")
PRECISION = ("year", "month", "week", "day", "hour", "minute")
ANALYZE = (Param("dataset", required=True), Param("q"), Param("x", many=True), Param("maxpoints", int, 0),
           Param("periodic", default="year", choices=PERIODIC), Param("precision", default="day", choices=PRECISION),
           Param("sort"), Param("timezone", default="UTC"), Param("format", default="json", choices=("json", "jsonp", "csv")),
           Param("callback"), Param("csv_separator", default=";", choices=SEPARATORS))
_DATES = (FieldType.DATE, FieldType.DATETIME)
#: The ODSQL of each level of a date field (``{f}``); ``int`` is applied to the key it gives.
_LEVEL_SQL = {"year": "year({f})", "month": "month({f})", "day": "day({f})", "hour": "hour({f})",
              "minute": "minute({f})", "weekday": "dayofweek({f})", "isoyear": 'date_format({f}, "x")',
              "week": 'date_format({f}, "w")'}


@dataclass(frozen=True)
class _Axis:
    """One ``x``: its field and the levels its key is made of (none for a plain value)."""

    field: Field
    levels: tuple[str, ...]


def _levels(field: Field, periodic: str, precision: str) -> tuple[str, ...]:
    """The levels of a date key; a 400 when ``periodic`` is finer than ``precision``."""
    if periodic == "weekday":
        return ("weekday",)
    if field.type == FieldType.DATE and precision in ("hour", "minute"):
        precision = "day"  # a date has no time of day to cut

    def finer() -> Exception:
        return invalid_parameter(f"Invalid value for periodic API parameter: {periodic!r} is finer than "
                                 f"precision={precision!r}.")

    if precision == "week":  # ISO weeks: the year is the week's
        if periodic not in ("year", "week"):
            raise finer()
        return ("isoyear", "week") if periodic == "year" else ("week",)
    if periodic == "week":  # within a week: its days, then their hours and minutes
        if precision in ("year", "month"):
            raise finer()
        return ("week", "weekday") + LEVELS[3:LEVELS.index(precision) + 1]
    start, end = LEVELS.index(periodic), LEVELS.index(precision)
    if start > end:
        raise finer()
    return LEVELS[start:end + 1]


def _axes(names: list[str], fields: list[Field], periodic: str, precision: str) -> list[_Axis]:
    if not names:
        raise invalid_parameter("Missing value for x API parameter: it is required (the field the series are cut by).")
    by_name = {f.name: f for f in fields}
    axes = []
    for name in names:
        field = by_name.get(name)
        if field is None:  # the caller's fields: a hidden one reads as one that does not exist
            raise invalid_parameter(f"Invalid value for x API parameter: unknown field {name!r}.")
        axes.append(_Axis(field, _levels(field, periodic, precision) if field.type in _DATES else ()))
    return axes


def _key_value(axis: _Axis, row: dict[str, Any], prefix: str) -> Any:
    """An x value as the answer writes it: the field's value, or its date levels as integers."""
    if not axis.levels:
        return row[prefix]
    shown = {}
    for i, level in enumerate(axis.levels):
        value = row[f"{prefix}_{i}"]
        value = None if value is None else int(value) - (1 if level == "weekday" else 0)
        shown["year" if level == "isoyear" else level] = value
    return shown


def _sort_key(axes: list[_Axis], series: list[Serie], sort: str | None) -> tuple[Callable[[dict[str, Any]], Any], bool]:
    """What points are ordered by (a point's value for it) and whether descending (module docstring)."""
    if not sort or not sort.strip("-").strip():
        return (lambda point: point["x"]), False
    name, descending = sort.strip().lstrip("-").strip(), not sort.strip().startswith("-")
    names = [a.field.name for a in axes]
    if name == "x":
        return (lambda point: point["x"]), descending
    if name.startswith("x.") and name[2:] in names and len(axes) > 1:
        field = name[2:]
        return (lambda point: point["x"][field]), descending
    if name in {s.name for s in series}:
        return (lambda point: point[name]), descending
    raise invalid_parameter(f"Invalid value for sort API parameter: {sort!r} was found but x, "
                            + ", ".join([f"x.{n}" for n in names if len(axes) > 1] + [s.name for s in series])
                            + " (with - first for ascending) is expected.")


def _ordered(points: list[dict[str, Any]], value_of: Callable[[dict[str, Any]], Any],
             descending: bool) -> list[dict[str, Any]]:
    """Points by ``value_of`` (an x object by its levels or fields, in order), nulls last."""
    def comparable(value: Any) -> Any:
        return tuple(comparable(v) for v in value.values()) if isinstance(value, dict) else value

    present = [p for p in points if value_of(p) is not None]
    return sorted(present, key=lambda p: comparable(value_of(p)), reverse=descending) + \
        [p for p in points if value_of(p) is None]


def analyze(request: Request, portal: str, principal, *, dataset: str, q: str | None, x: list[str], maxpoints: int,
            periodic: str, precision: str, sort: str | None, timezone: str, filters: dict[str, Any],
            conditions: Callable[[Any, str | None], tuple[list[str], str | None]]) -> list[dict[str, Any]]:
    """The points of an analysis. ``filters`` are the search's refine/exclude/disjunctive,
    ``conditions`` v1's reading of geofilters and ``q`` for a dataset."""
    if maxpoints < 0:
        raise invalid_parameter(f"Invalid value for maxpoints API parameter: {maxpoints} was found but a positive "
                                "integer (or 0 for every point) is expected.")
    instance = request.app.state.instance
    ds = get_visible_dataset(instance, portal, dataset, principal)
    axes = _axes(x, fields_from_json(ds.current.fields), periodic, precision)
    series = read_series(params_of(request))
    cumulative = {s.name for s in series
                  if params_of(request).get(f"y.{s.name}.cumulative", "").strip().lower() in TRUE}
    where, text = conditions(ds, q)
    keys: list[tuple[str, str]] = []  # (ODSQL, alias) of each group key
    prefixes = []
    for i, axis in enumerate(axes):
        column = _name(axis.field.name)
        where.append(f"{column} is not null")
        prefixes.append(f"x_{i}")
        if axis.levels:
            keys += [(_LEVEL_SQL[level].format(f=column), f"x_{i}_{j}") for j, level in enumerate(axis.levels)]
        else:
            keys.append((column, f"x_{i}"))
    aliases = [f"serie_{i}" for i in range(len(series))]
    select = [item for s, alias in zip(series, aliases) for item in select_items(s, alias)]
    page = query_records(instance, ds, select=", ".join([alias for _, alias in keys] + select),
                         group_by=", ".join(f"{sql} as {alias}" for sql, alias in keys), limit=GROUP_WINDOW, max_limit=GROUP_WINDOW, where=where, text=text,
                         timezone=timezone, principal=principal, **filters)
    points = []
    for row in page.results:
        shown = [_key_value(axis, row, prefix) for axis, prefix in zip(axes, prefixes)]
        point: dict[str, Any] = {"x": shown[0] if len(axes) == 1 else {a.field.name: v for a, v in zip(axes, shown)}}
        for serie, alias in zip(series, aliases):
            point[serie.name] = serie_value(serie, row, alias)
        points.append(point)
    points = _ordered(points, *_sort_key(axes, series, sort))
    for name in cumulative:
        total = 0
        for point in points:
            if point[name] is not None:
                total += point[name]
                point[name] = total
    return points[:maxpoints] if maxpoints else points


def _flat(name: str, value: Any) -> dict[str, Any]:
    """A point's entry as CSV columns: an object's members as ``name.member``."""
    if isinstance(value, dict):
        return {k: v for member, inner in value.items() for k, v in _flat(f"{name}.{member}", inner).items()}
    return {name: value}


def csv_answer(points: list[dict[str, Any]], separator: str, filename: str) -> Response:
    """The points as CSV: x flattened to columns (``x.year``…), then the series, written as the
    catalogue's CSV is (formulas neutralised, quoting and BOM as for records)."""
    rows = [{k: v for name, value in point.items() for k, v in _flat(name, value).items()} for point in points]
    return table_response(rows, "csv", ExportOptions(delimiter=separator), filename)


def add_analysis_route(router: APIRouter, portal: str) -> None:
    """Register analyze on v1's router for ``portal``."""

    @query_route(router, "/api/records/1.0/analyze/", ANALYZE, post=True, summary="v1 analysis (chart series)")
    def analyze_records(request: Request, principal, *, dataset, q, x, maxpoints, periodic, precision, sort, timezone,
                        format, callback, csv_separator):
        padded, principal = _padding(request, principal, format, callback)
        filters = {"refine": _prefixed(request, "refine."), "exclude": _prefixed(request, "exclude."),
                   "disjunctive": _disjunctive(request)}
        points = analyze(request, portal, principal, dataset=dataset, q=q, x=x, maxpoints=maxpoints, periodic=periodic,
                         precision=precision, sort=sort, timezone=timezone, filters=filters,
                         conditions=lambda ds, text: _conditions(request, ds, text))
        if format == "csv":
            return csv_answer(points, csv_separator, dataset)
        return _padded(points, callback) if padded else points
