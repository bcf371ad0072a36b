"""v1's ``/api/records/1.0/analyze/``: the series behind ods-widgets' charts, cross tables and
aggregations, and many scripts (``x=destination&y.count.func=COUNT``).

One ODSQL query through ``query_records`` (so the caller's hidden fields and row filter hold, and
``q``, ``refine.``/``exclude.``/``disjunctive.`` and geofilters read as in the search): the x
values are its group keys, each ``y.<serie>`` its aggregates (``api.v1_series``: the documented
functions, and ``QUANTILES``, which ods-widgets' charts send for percentiles).

What x may be, and how a point writes it:

- a field: its values;
- a date or datetime field: cut by ``precision`` (``day`` by default) from the level ``periodic``
  names (``year`` by default), an object of integers (``{"year": 2002, "month": 1}``);
  ``periodic=weekday`` gives ``{"weekday": 0}`` for Monday … 6, as documented, and ignores
  ``precision``; a week is ISO's (``{"year": 2020, "week": 53}``, the year being the week's);
- ``<date field>.<part>``, repeated for several parts, as ods-widgets' charts and cross tables
  ask for their timescales (``x=d.year&x=d.month``): the same object, of the parts given
  (``year``, ``month``, ``day``, ``hour``, ``minute``, ``weekday``, ``yearday``), each its usual
  number, which is how the widgets' date helpers read them back (``weekday``: ISO's 1 for Monday
  … 7; ``yearday``: 1 … 366);
- several fields: an object keyed by field (``{"last_name": …, "d": {"year": …}}``);
- none: one point over every record (``x`` null), which ods-widgets' ``odsAggregation`` asks for.

A datetime is cut in ``output_timezone`` when the call gives one, else in ``timezone``: the zone
the x date parts are written in. ods-widgets' charts send ``output_timezone=UTC`` beside the
page's ``timezone`` for their hour and minute timescales (``highcharts.js``, ``requestData``,
``shouldOutputUTC``) and read the parts back as UTC (``getDateFromXObject``: ``Date.UTC(x.year,
…, x.hour)``), which Highcharts then shows in the reader's zone. The request's own dates (those
of ``q``, its ``#now(…)``, and ``refine.``) stay read in ``timezone``, as Opendatasoft reads
them: a chart refined on 2 May in Paris counts the records of 2 May in Paris, in UTC hours.

``sort`` is a comma-separated list of keys, the first deciding: ``x`` (every x), ``x.<field>``
and ``x.<field>.<part>`` (or ``x.<part>`` for one date x) are ascending, ``-`` first descending;
a serie (``<serie>``, ``y.<serie>``, or ``y`` for the first) is descending, ``-`` first ascending
(top values first, as documented and as ods-widgets' ``odsAnalysis`` uses it for a top 10).
Without ``sort`` points come in ascending x order (scripts take the point before as the day
before). The documentation says x would be descending unless ``-``; its clients say otherwise:
ods-widgets sorts its time series and cross tables with ``x.<field>.<part>`` and draws them oldest
first, documents ``x`` as the sort and ``-x`` as the reverse one, and scripts read ``-x`` answers
newest first. A key that names none of these is left out, as Opendatasoft's was (ods-widgets'
contexts pass their own ``sort`` of a field along, its ``odsAnalysis`` example sorts on one).
Null values of a serie come last either way.

``maxpoints`` keeps the first points of that order (0 or empty, as the charts send it: all);
``y.<serie>.cumulative=true`` sums a serie along x ascending, whatever ``sort`` (``serie(x) =
serie(x) + serie(x-1)``, as documented), before ``sort`` orders the points and ``maxpoints``
keeps some (so a newest-first chart shows the same running totals as an oldest-first one). Records whose x is null are left out (a
chart has no place for them). At most ``GROUP_WINDOW`` points are computed; past that the answer
carries ``ODS-Analyze-Truncated: true``, which ods-widgets reports to the reader.

``agg.<name>.expr=<serie>`` with ``agg.<name>.func`` sums a serie up over the answered points
(``aggregations``); the answer is then ``{"results": [...], "aggregations": {...}}``.
``join.<name>.*`` replaces each point's x by another dataset's records whose key holds it
(``api.v1_join``), before the cumulative sums, ``maxpoints`` and the aggregations; on a dataset
without a geo field, the geofilters then keep the joined records (the shapes in a map's view).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response

from portail.api.catalog_exports import table_response
from portail.api.errors import invalid_parameter
from portail.api.explore_service import GROUP_WINDOW, get_visible_dataset, query_records
from portail.api.params import TIMEZONE, TRUE, Param, params_of, query_route, timezone_name
from portail.api.serialize import json_response
from portail.api.v1 import (Q, SEPARATORS, _conditions, _disjunctive, _padded, _padding, _prefixed, _query,
                             _series_named, geofiltered)
from portail.api.v1_join import Join, joined_points, read_join
from portail.api.v1_query import geo_field_of
from portail.api.v1_series import FUNCTIONS, QUANTILES, Serie, read_series, select_items, serie_value
from portail.exports import ExportOptions
from portail.odsql.ast import quote_name
from portail.schema import Field, FieldType, fields_from_json

#: Date levels from the widest; ``periodic`` starts the key at one, ``precision`` ends it.
LEVELS = ("year", "month", "day", "hour", "minute")
PERIODIC = ("year", "month", "week", "weekday", "day", "hour", "minute")
PRECISION = ("year", "month", "week", "day", "hour", "minute")
#: ``output_timezone``: the zone the x date parts are cut and written in (``timezone``'s unless
#: given; see the module docstring).
OUTPUT_TIMEZONE = Param("output_timezone", parse=timezone_name)
#: ``maxpoints`` is read by ``_maxpoints``: the charts send it empty.
ANALYZE = (Param("dataset", required=True), Q, Param("x", many=True), Param("maxpoints"),
           Param("periodic", default="year", choices=PERIODIC), Param("precision", default="day", choices=PRECISION),
           Param("sort"), TIMEZONE, OUTPUT_TIMEZONE, Param("format", default="json", choices=("json", "jsonp", "csv")),
           Param("callback"), Param("csv_separator", default=";", choices=SEPARATORS))
TRUNCATED = "ODS-Analyze-Truncated"
_DATES = (FieldType.DATE, FieldType.DATETIME)
#: Series ODSQL can order groups by (STDDEV and QUANTILES are finished here, not in the engine).
_ORDERABLE = frozenset(FUNCTIONS) - {"STDDEV"}


@dataclass(frozen=True)
class _Cut:
    """One integer of a date key: the member it is shown as, its ODSQL over the field (``{f}``),
    what is added to the engine's number, and whether the engine orders it as a number (a
    ``date_format`` cut is text to it, ``"10"`` before ``"9"``: points are ordered by it here only)."""

    member: str
    sql: str
    shift: int = 0
    orderable: bool = True


_LEVEL_CUTS = {"year": _Cut("year", "year({f})"), "month": _Cut("month", "month({f})"), "day": _Cut("day", "day({f})"),
               "hour": _Cut("hour", "hour({f})"), "minute": _Cut("minute", "minute({f})"),
               "weekday": _Cut("weekday", "dayofweek({f})", -1),  # periodic=weekday: 0 is Monday
               "isoyear": _Cut("year", 'date_format({f}, "x")', orderable=False),
               "week": _Cut("week", 'date_format({f}, "w")', orderable=False)}
#: The parts of ``x=<date field>.<part>``.
PARTS = {**{level: _LEVEL_CUTS[level] for level in LEVELS}, "weekday": _Cut("weekday", "dayofweek({f})"),
         "yearday": _Cut("yearday", 'date_format({f}, "D")', orderable=False)}


@dataclass(frozen=True)
class _Axis:
    """One x field: the cuts its key is made of (none: the field's values)."""

    field: Field
    cuts: tuple[_Cut, ...] = ()


@dataclass(frozen=True)
class _Key:
    """One key of ``sort``: a point's value for it, its direction, the group aliases it orders
    by in ODSQL (None: ordered here only), and whether those are aggregates (a serie)."""

    value: Callable[[dict[str, Any]], Any]
    descending: bool
    aliases: tuple[str, ...] | None
    aggregate: bool = False


def _levels(field: Field, periodic: str, precision: str) -> tuple[_Cut, ...]:
    """The cuts of a date x by ``periodic`` and ``precision``; a 400 when ``periodic`` is finer."""
    if periodic == "weekday":
        return (_LEVEL_CUTS["weekday"],)
    if field.type == FieldType.DATE and precision in ("hour", "minute"):
        precision = "day"  # a date has no time of day to cut

    def finer() -> Exception:
        return invalid_parameter(f"Invalid value for periodic API parameter: {periodic!r} is finer than "
                                 f"precision={precision!r}.")

    if precision == "week":  # ISO weeks: the year is the week's
        if periodic not in ("year", "week"):
            raise finer()
        names: tuple[str, ...] = ("isoyear", "week") if periodic == "year" else ("week",)
    elif periodic == "week":  # within a week: its days, then their hours and minutes
        if precision in ("year", "month"):
            raise finer()
        names = ("week", "weekday") + LEVELS[3:LEVELS.index(precision) + 1]
    else:
        start, end = LEVELS.index(periodic), LEVELS.index(precision)
        if start > end:
            raise finer()
        names = LEVELS[start:end + 1]
    return tuple(_LEVEL_CUTS[name] for name in names)


def _axes(names: list[str], fields: list[Field], periodic: str, precision: str) -> list[_Axis]:
    """The x fields in the order they first come, each with its cuts (module docstring)."""
    by_name = {f.name: f for f in fields}  # the caller's fields: a hidden one reads as one that does not exist
    plain: dict[str, Field] = {}
    parts: dict[str, list[_Cut]] = {}
    order: list[str] = []
    for name in (n.strip() for n in names):
        if not name:
            continue
        field, part = by_name.get(name), None
        if field is None and "." in name:
            base, part = name.rsplit(".", 1)
            field = by_name.get(base)
        if field is None:
            raise invalid_parameter(f"Invalid value for x API parameter: unknown field {name!r}.")
        if part is not None and (field.type not in _DATES or part not in PARTS):
            raise invalid_parameter(f"Invalid value for x API parameter: {name!r} was found but a date field's "
                                    f"{', '.join(PARTS)} is expected after the dot.")
        cut = PARTS[part] if part is not None else None
        if field.name in plain or (cut is None and field.name in parts) or cut in parts.get(field.name, ()):
            raise invalid_parameter(f"Invalid value for x API parameter: {name!r} is asked for twice.")
        if field.name not in order:
            order.append(field.name)
        if cut is None:
            plain[field.name] = field
        else:
            parts.setdefault(field.name, []).append(cut)
    axes = []
    for name in order:
        field = by_name[name]
        if name in parts:
            axes.append(_Axis(field, tuple(parts[name])))
        else:
            axes.append(_Axis(field, _levels(field, periodic, precision) if field.type in _DATES else ()))
    return axes


def _aliases(axes: list[_Axis]) -> list[tuple[str, ...]]:
    """The group aliases of each axis: ``x_<i>``, or ``x_<i>_<j>`` for its cuts."""
    return [tuple(f"x_{i}_{j}" for j in range(len(a.cuts))) if a.cuts else (f"x_{i}",) for i, a in enumerate(axes)]


def _x_value(axis: _Axis, aliases: tuple[str, ...], row: dict[str, Any]) -> Any:
    """An axis' value as the answer writes it: the field's value, or its cuts as integers."""
    if not axis.cuts:
        return row[aliases[0]]
    return {cut.member: None if row[alias] is None else int(row[alias]) + cut.shift
            for cut, alias in zip(axis.cuts, aliases)}


def _sort_keys(sort: str | None, axes: list[_Axis], series: list[Serie]) -> list[_Key]:
    """``sort``'s keys (module docstring); x ascending when it names none."""
    aliases = _aliases(axes)
    every = tuple(a for group in aliases for a in group)
    single = len(axes) == 1

    def of_axis(i: int) -> Callable[[dict[str, Any]], Any]:
        name = axes[i].field.name
        return (lambda p: p["x"]) if single else (lambda p: p["x"][name])

    def of_cut(i: int, member: str) -> Callable[[dict[str, Any]], Any]:
        axis = of_axis(i)
        return lambda p: axis(p)[member]

    def orderable(axis: _Axis, names: tuple[str, ...]) -> tuple[str, ...] | None:
        return names if all(c.orderable for c in axis.cuts) else None

    all_x = every if all(c.orderable for a in axes for c in a.cuts) else None

    def x_key(name: str, descending: bool) -> _Key | None:
        if name == "x":
            return _Key(lambda p: p["x"], descending, all_x) if axes else None
        for i, axis in enumerate(axes):
            field = axis.field.name
            if name == f"x.{field}":
                return _Key(of_axis(i), descending, orderable(axis, aliases[i]))
            members = [c.member for c in axis.cuts]
            for prefix in (f"x.{field}.", "x.") if single else (f"x.{field}.",):
                member = name.removeprefix(prefix)
                if name.startswith(prefix) and member in members:
                    j = members.index(member)
                    return _Key(of_cut(i, member), descending, aliases[i][j:j + 1] if axis.cuts[j].orderable else None)
        return None

    def serie_key(name: str, descending: bool) -> _Key | None:
        wanted = series[0].name if name == "y" and series else name.removeprefix("y.") if name.startswith("y.") else name
        for i, serie in enumerate(series):
            if serie.name == wanted:
                return _Key(lambda p, n=serie.name: p[n], descending,
                            (f"serie_{i}",) if serie.func in _ORDERABLE else None, aggregate=True)
        return None

    keys = []
    for given in (part.strip() for part in (sort or "").split(",")):
        name = given.lstrip("-").strip()
        minus = given.startswith("-")
        key = x_key(name, minus) if name == "x" or name.startswith("x.") else None
        key = key or serie_key(name, not minus)
        if key is not None:
            keys.append(key)
    return keys or ([_Key(lambda p: p["x"], False, all_x)] if axes else [])


def _comparable(value: Any) -> Any:
    """A value Python can order: an object by its members in order, a null member first."""
    if isinstance(value, dict):
        return tuple((v is not None, _comparable(v)) if v is not None else (False, 0) for v in value.values())
    return value


def _ordered(points: list[dict[str, Any]], keys: list[_Key]) -> list[dict[str, Any]]:
    """Points by ``keys``, the first deciding (stable sorts from the last), nulls last. Values
    Python cannot compare (geometries of different kinds as x) are ordered by their JSON text."""
    for key in reversed(keys):
        present = [p for p in points if key.value(p) is not None]
        try:
            present.sort(key=lambda p: _comparable(key.value(p)), reverse=key.descending)
        except TypeError:
            present.sort(key=lambda p: json.dumps(key.value(p), default=str), reverse=key.descending)
        points = present + [p for p in points if key.value(p) is None]
    return points


def _order_by(keys: list[_Key], every: tuple[str, ...]) -> tuple[str, bool]:
    """The ODSQL order of the groups and whether it is the answer's whole order (then the engine
    may stop at ``maxpoints``); else the x keys, so that a truncated answer is the first x values.
    ODSQL orders by aggregates first only: a serie after an x key is ordered here."""
    aggregates = [k.aggregate for k in keys]
    if any(k.aliases is None for k in keys) or aggregates != sorted(aggregates, reverse=True):
        return ", ".join(every), False
    items, seen = [], set()
    for key in keys:
        for alias in key.aliases or ():
            if alias not in seen:
                seen.add(alias)
                items.append(f"{alias} {'desc' if key.descending else 'asc'}")
    items += [alias for alias in every if alias not in seen]
    return ", ".join(items), True


def _maxpoints(text: str | None) -> int:
    """``maxpoints``: a count of points, 0 or empty for all of them."""
    text = (text or "").strip()
    if not text:
        return 0
    if not text.isdecimal():
        raise invalid_parameter(f"Invalid value for maxpoints API parameter: {text!r} was found but a positive "
                                "integer (or 0 for every point) is expected.")
    return int(text)


@dataclass(frozen=True)
class Analysis:
    """The points of an analysis, and whether the group window cut them short."""

    points: list[dict[str, Any]]
    truncated: bool


def analyze(request: Request, portal: str, principal, *, dataset: str, q: list[str], x: list[str],
            maxpoints: str | None, periodic: str, precision: str, sort: str | None, timezone: str,
            filters: dict[str, Any],
            conditions: Callable[[Any, str | None, bool], tuple[list[str], str | None]],
            output_timezone: str | None = None) -> Analysis:
    """The points of an analysis. ``filters`` are the search's refine/exclude/disjunctive,
    ``conditions`` v1's reading of geofilters and ``q`` for a dataset (the geofilters left out
    when they apply to a join's dataset instead: ``_geofilters_remote``); ``output_timezone``
    the zone x's date parts are cut in, ``timezone`` the one the request's dates are read in."""
    limit = _maxpoints(maxpoints)
    instance = request.app.state.instance
    ds = get_visible_dataset(instance, portal, dataset, principal)
    params = params_of(request)
    join = read_join(params)
    if join is not None:
        x = _join_x(x, join)
    axes = _axes(x, fields_from_json(ds.current.fields), periodic, precision)
    if join is not None and axes[0].cuts:
        raise invalid_parameter(f"Invalid value for join.{join.name}.localkey API parameter: {join.local_key!r} is a "
                                "date field, whose values no remote key holds.")
    series = read_series(params, FUNCTIONS + (QUANTILES,))
    _series_named(request, ds, series)
    if not axes and not series:
        raise invalid_parameter("Missing value for x API parameter: an x field or a y.<serie>.func is expected.")
    cumulative = [s.name for s in series if params.get(f"y.{s.name}.cumulative", "").strip().lower() in TRUE]
    remote_geo = _geofilters_remote(params, join, fields_from_json(ds.current.fields))
    where, text = conditions(ds, _query(request, q), remote_geo)
    aliases = _aliases(axes)
    keys = []  # "<ODSQL> as <alias>" of each group key
    for axis, names in zip(axes, aliases):
        column = quote_name(axis.field.name)
        where.append(f"{column} is not null")
        keys += [f"{cut.sql.format(f=column)} as {a}" for cut, a in zip(axis.cuts, names)] if axis.cuts else \
            [f"{column} as {names[0]}"]
    every = tuple(a for names in aliases for a in names)
    serie_aliases = [f"serie_{i}" for i in range(len(series))]
    select = [item for s, alias in zip(series, serie_aliases) for item in select_items(s, alias)]
    sort_keys = _sort_keys(sort, axes, series)
    order_by, whole = _order_by(sort_keys, every) if axes else ("", False)
    # the engine stops at maxpoints only when nothing runs over the points left out (sums, a join)
    window = min(limit, GROUP_WINDOW) if limit and whole and join is None and not cumulative else GROUP_WINDOW
    page = query_records(instance, ds, select=", ".join(list(every) + select), group_by=", ".join(keys) or None,
                         order_by=order_by or None, limit=window, max_limit=GROUP_WINDOW, where=where, text=text,
                         timezone=timezone, cut_timezone=output_timezone, principal=principal, **filters)
    points = []
    for row in page.results:
        shown = [_x_value(axis, names, row) for axis, names in zip(axes, aliases)]
        point: dict[str, Any] = {"x": None if not axes else shown[0] if len(axes) == 1 else
                                 {a.field.name: v for a, v in zip(axes, shown)}}
        for serie, alias in zip(series, serie_aliases):
            point[serie.name] = serie_value(serie, row, alias)
        points.append(point)
    remote = None
    if join is not None:  # before the sums and maxpoints: they run over the points that match
        matched = joined_points(request, portal, principal, join, points, geofiltered=remote_geo)
        points, remote = [p for p, _ in matched], {id(p): records for p, records in matched}
    _cumulate(_ordered(points, _sort_keys(None, axes, series)), cumulative)  # along x ascending
    points = _ordered(points, sort_keys)  # a serie's order reads its running totals
    if remote is not None:  # x, the key the points were ordered by, becomes the remote records
        points = [{**p, "x": remote[id(p)]} for p in points]
    truncated = bool(axes) and window == GROUP_WINDOW and page.total_count > GROUP_WINDOW  # no x: one point
    return Analysis(points[:limit] if limit else points, truncated)


def _cumulate(points: list[dict[str, Any]], names: list[str]) -> None:
    """``y.<serie>.cumulative=true`` for each serie of ``names``: each point's value plus those of
    the points before it in ``points`` (x ascending: ``serie(x) = serie(x) + serie(x-1)``, the
    records API says, whatever order the answer then takes); a null value adds nothing."""
    for name in names:
        total = 0
        for point in points:
            if isinstance(point[name], (int, float)):
                total += point[name]
                point[name] = total


def _geofilters_remote(params, join: Join | None, fields: list[Field]) -> bool:
    """Whether the call's geofilters keep the joined dataset's records rather than this one's:
    with a join, on a dataset without a geo field (``api.v1_join``), as ods-widgets' joined map
    layer sends its view's ``geofilter.bbox`` over a table of figures per code."""
    return join is not None and geofiltered(params) and geo_field_of(fields, params.get("geo_field")) is None


def _join_x(x: list[str], join: Join) -> list[str]:
    """A join's x: its local key, which ``x`` may name and may not contradict."""
    given = [n.strip() for n in x if n.strip()]
    if given and given != [join.local_key]:
        raise invalid_parameter(f"Invalid value for x API parameter: with join.{join.name}, x is its localkey "
                                f"({join.local_key!r}), not {', '.join(map(repr, given))}.")
    return [join.local_key]


def _flat(name: str, value: Any) -> dict[str, Any]:
    """A point's entry as CSV columns: an object's members as ``name.member``."""
    if isinstance(value, dict):
        return {k: v for member, inner in value.items() for k, v in _flat(f"{name}.{member}", inner).items()}
    return {name: value}


def _joined_first(point: dict[str, Any]) -> dict[str, Any]:
    """A joined point (x a list of remote records) as a row: its first record's fields as x, a
    geometry or list as its JSON text."""
    if not isinstance(point["x"], list):
        return point
    fields = point["x"][0]["fields"]
    return {**point, "x": {k: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v
                           for k, v in fields.items()}}


def csv_answer(points: list[dict[str, Any]], separator: str, filename: str) -> Response:
    """The points as CSV: x flattened to columns (``x.year``…), then the series, written as the
    catalogue's CSV is (formulas neutralised, quoting and BOM as for records)."""
    rows = [{k: v for name, value in _joined_first(point).items() for k, v in _flat(name, value).items()}
            for point in points]
    return table_response(rows, "csv", ExportOptions(delimiter=separator), filename)


#: ``agg.<name>.func``: what may sum up a serie over the points (several, comma-separated).
_OVER_POINTS: dict[str, Callable[[list[float]], float]] = {
    "SUM": sum, "AVG": lambda v: sum(v) / len(v), "MIN": min, "MAX": max, "COUNT": len}


def aggregations(params, points: list[dict[str, Any]]) -> dict[str, Any] | None:
    """``agg.<name>.expr=<serie>`` with ``agg.<name>.func=SUM`` (or ``MIN,MAX``): a serie summed
    up over the answered points, as ods-widgets' ``odsAnalysis`` (its totals) and its joined map
    layers (``aggregations.agg1.min``/``max``) read it; one function gives its value, several an
    object keyed by function. None when none is asked for (the answer stays a plain list)."""
    given: dict[str, dict[str, str]] = {}
    for key, value in params.multi_items():
        if key.startswith("agg.") and key.count(".") >= 2:
            name, attribute = key[4:].rsplit(".", 1)
            if attribute in ("func", "expr") and name:
                given.setdefault(name, {})[attribute] = value.strip()
    if not given:
        return None
    out: dict[str, Any] = {}
    for name, parts in given.items():
        funcs = [f.strip().upper() for f in parts.get("func", "").split(",") if f.strip()]
        serie = parts.get("expr", "")
        if not funcs or any(f not in _OVER_POINTS for f in funcs) or not serie or (points and serie not in points[0]):
            raise invalid_parameter(f"Invalid value for agg.{name} API parameters: a serie of this analysis as expr "
                                    f"and one or more of {', '.join(_OVER_POINTS)} as func are expected.")
        values = [p[serie] for p in points if isinstance(p.get(serie), (int, float)) and not isinstance(p[serie], bool)]
        results = {f.lower(): (_OVER_POINTS[f](values) if values or f == "COUNT" else None) for f in funcs}
        out[name] = next(iter(results.values())) if len(funcs) == 1 else results
    return out


def add_analysis_route(router: APIRouter, portal: str) -> None:
    """Register analyze on v1's router for ``portal``."""

    @query_route(router, "/api/records/1.0/analyze/", ANALYZE, post=True, summary="v1 analysis (chart series)")
    def analyze_records(request: Request, principal, *, dataset, q, x, maxpoints, periodic, precision, sort, timezone,
                        output_timezone, format, callback, csv_separator):
        padded, principal = _padding(request, principal, format, callback)
        filters = {"refine": _prefixed(request, "refine."), "exclude": _prefixed(request, "exclude."),
                   "disjunctive": _disjunctive(request)}
        analysis = analyze(request, portal, principal, dataset=dataset, q=q, x=x, maxpoints=maxpoints,
                           periodic=periodic, precision=precision, sort=sort, timezone=timezone,
                           output_timezone=output_timezone, filters=filters,
                           conditions=lambda ds, text, elsewhere: _conditions(request, ds, text,
                                                                             geofilters_elsewhere=elsewhere))
        totals = aggregations(params_of(request), analysis.points)
        body = analysis.points if totals is None else {"results": analysis.points, "aggregations": totals}
        if format == "csv":
            response = csv_answer(analysis.points, csv_separator, dataset)
        elif padded:
            response = _padded(body, callback)
        else:
            response = json_response(body)
        if analysis.truncated:
            response.headers[TRUNCATED] = "true"
        return response
