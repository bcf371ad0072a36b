"""Facets and the ``refine``/``exclude`` filters they drive, as Opendatasoft serves them.

``refine=field:value`` keeps records whose field equals the value (for dates the value is a
path ``YYYY[/MM[/DD]]``); ``exclude`` removes them. Facets count the values of a field under
all current filters; a disjunctive facet ignores the refinements of its own field so that the
other values stay listed, and the values refined on a disjunctive field are ORed (for records
and for the other facets); date facets nest year → month → day, a level's children appearing
once its value is refined, and so do hierarchical text facets (``a/b/c`` paths, annotation
``hierarchical`` or ``facet(…, hierarchical=true, separator="/")``, refine by a path keeping
everything below it); a multivalued field counts, refines and excludes each of its values
(split as ODSQL's ``"x" in f`` splits them). Values are compared as the field's type, so a
refinement can never inject SQL or match across types.
"""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass, replace
from dataclasses import field as attribute
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlglot import exp

from portail.api.errors import ApiError, invalid_parameter
from portail.odsql import holding, literals, multivalued_items, multivalued_values
from portail.schema import GEO_TYPES, Field, FieldType

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_REFINE = re.compile(r'^\s*(`(?:[^`\\]|\\.)+`|[^:]+?)\s*:\s*(.*)$', re.DOTALL)
_FACET_CALL = re.compile(r"^\s*facet\s*\((.*)\)\s*$", re.IGNORECASE | re.DOTALL)
_FACET_ARG = re.compile(r'\s*(\w+)\s*=\s*("(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|[^,"\'\s]+)\s*(?:,|$)')
_FACET_ARGS = ("name", "disjunctive", "hierarchical", "separator", "sort", "limit")
DATE_LEVELS = ("year", "month", "day")
#: A date path: a year, then a month and a day, ``/`` or ``-`` between them (one after it too).
_DATE_PATH = re.compile(r"\d+(?:[/-]\d+){0,2}[/-]?", re.ASCII)


class Given(str):
    """A ``refine``/``exclude`` value (``field:value``) the caller sent in a parameter of another
    name, which its refusals name: v1's ``refine.<field>=<value>`` (``api.v1._prefixed``) is the
    ``Given("annee:2020", "refine.annee")``. A plain string is v2.1's ``refine``/``exclude``.
    Equal to the plain string of the same text, which means the same (``exact``): caches keyed
    on refinements serve both APIs alike; only a refusal's wording differs, and refusals are
    not cached."""

    parameter: str

    def __new__(cls, text: str, parameter: str) -> Given:
        given = super().__new__(cls, text)
        given.parameter = parameter
        return given


@dataclass(frozen=True)
class Refinement:
    field: Field
    value: str
    exclude: bool = False
    timezone: str = "UTC"  # where a datetime field's date paths start and end (a day in Auckland is not one in UTC)
    #: The v1 parameter that carried it (``Given``), which a refusal of its value names; None for
    #: v2.1's ``refine``/``exclude``, whose refusals keep Opendatasoft's wording.
    parameter: str | None = attribute(default=None, compare=False)


@dataclass(frozen=True)
class FacetSpec:
    field: Field
    disjunctive: bool = False
    sort: str = "-count"
    limit: int = DEFAULT_LIMIT
    separator: str | None = None  # a hierarchical facet's path separator ("a/b/c" nests a → b → c)


def hierarchy_separator(f: Field) -> str | None:
    """The path separator of a field annotated ``hierarchical`` (``/`` by default), or None."""
    annotation = f.annotations.get("hierarchical")
    if annotation is None or f.type != FieldType.TEXT:
        return None
    return str(annotation[0]) if annotation else "/"


def path_of(column: exp.Expression, separator: str) -> exp.Expression:
    """A path value without empty segments (``/fr//ara/`` is ``fr/ara``): a hierarchy's levels
    skip them, so that such a record still counts under ``fr`` and ``fr/ara``."""
    run = f"(?:{re.escape(separator)})"
    replacement = separator.replace("\\", "\\\\")  # RE2 reads backslashes in a replacement
    collapsed = exp.Anonymous(this="regexp_replace", expressions=[column, exp.Literal.string(run + "+"),
                                                                  exp.Literal.string(replacement), exp.Literal.string("g")])
    return exp.Anonymous(this="regexp_replace", expressions=[collapsed, exp.Literal.string(f"^{run}|{run}$"),
                                                             exp.Literal.string(""), exp.Literal.string("g")])


def exact(field: str, value: str) -> str:
    """``field:value`` as ``refine``/``exclude`` read it back to exactly ``value``: quoted (its
    quotes escaped) where ``_unquote`` would change it, a space at an end or quotes around it.
    v1's ``refine.<field>=<value>`` and the pages' filters have no quoting: the value is the
    facet's path as the widgets send it back (``B `` and ``"X"`` are facet values of their own).
    One text for one meaning, so v1 and v2.1 calls share the caches keyed on it."""
    if value == value.strip() and not (len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'`"):
        return f"{field}:{value}"
    return f'{field}:"{value.replace(chr(34), chr(92) + chr(34))}"'


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
        return text[1:-1].replace("\\" + text[0], text[0])
    return text


def zone(name: str) -> ZoneInfo:
    """The ``timezone`` parameter as a zone; 400 as the records endpoint answers (ODSQL's check)."""
    try:
        return literals.zone(name)
    except ValueError as error:
        raise invalid_parameter(f"Invalid value for timezone API parameter: {error}") from None


def parse_refinements(values: list[str], fields: list[Field], *, exclude: bool, timezone: str = "UTC") -> list[Refinement]:
    by_name = {f.name: f for f in fields}
    refinements = []
    for raw in values:
        given = raw.parameter if isinstance(raw, Given) else None
        parameter = given or ("exclude" if exclude else "refine")
        match = _REFINE.match(raw)
        if not match:
            raise invalid_parameter(f"Invalid value for {parameter} API parameter: {raw!r} was found but "
                                    f"'<field>:<value>' is expected.")
        name, value = _unquote(match.group(1)), _unquote(match.group(2))
        if name not in by_name:
            raise ApiError(400, "ODSQLError", f"ODSQL query is malformed: Unknown field: {name} "
                                              f"Clause(s) containing the error(s): {parameter}.")
        if "\x00" in value:
            # Facet queries and the key index's lookups carry values as SQL literals, which the
            # engine's parser ends at a NUL (a 500); ODSQL refuses such a literal alike.
            raise invalid_parameter(f"Invalid value for {parameter} API parameter: the value holds a NUL character.")
        refinements.append(Refinement(by_name[name], value, exclude, timezone, given))
    return refinements


def _sent_in(parameter: str | None) -> str:
    """Where a refused refinement value was sent, when a v1 parameter carried it (``Given``)."""
    return f" in the {parameter} API parameter" if parameter else ""


def _typed_value(f: Field, value: str, parameter: str | None = None) -> str | int | float | bool:
    """A refinement's value as the field's type (a refinement never matches across types)."""
    try:
        if f.type == FieldType.INT:
            integer = int(value)
            if not -2**127 <= integer < 2**127:  # past the engine's widest integer: no stored value, no parameter
                raise ValueError(value)
            return integer
        if f.type == FieldType.DOUBLE:
            number = float(value)
            if not math.isfinite(number):  # nan, inf, 1e400: no stored value, and no SQL literal
                raise ValueError(value)
            return number
        if f.type == FieldType.BOOLEAN:
            lowered = value.lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return lowered in ("true", "1")
    except ValueError:
        raise invalid_parameter(f"Invalid value {value!r} for field {f.name} of type {f.type}{_sent_in(parameter)}.") \
            from None
    return value


def canonical(refinement: Refinement) -> str:
    """A refinement's value written as its facet entry's ``value`` (``n:01`` is ``1``, ``b:True``
    is ``true``, ``d:2015-3`` is ``2015/03``): the entry it filters on is then marked refined."""
    f, value = refinement.field, refinement.value
    if f.type in (FieldType.DATE, FieldType.DATETIME):
        _date_range(value, refinement.parameter)  # a valid path, or the 400 its filter gives
        year, *rest = [int(p) for p in re.split(r"[/-]", value.strip()) if p]
        return "/".join([str(year), *(f"{p:02d}" for p in rest)])
    if f.type in (FieldType.INT, FieldType.DOUBLE, FieldType.BOOLEAN):
        return _value_text(_typed_value(f, value, refinement.parameter))
    if (separator := hierarchy_separator(f)) is not None:
        return collapsed_path(value, separator)
    return value


def collapsed_path(value: str, separator: str) -> str:
    """A path without empty segments (``/fr//ara/`` is ``fr/ara``), as ``path_of`` reads a
    hierarchy's values: a refinement ``fr/`` refines ``fr``."""
    return separator.join(part for part in value.split(separator) if part)


def _constant(value: str | int | float | bool, params: list | None) -> exp.Expression:
    """A refinement's value in its condition: a literal, or with ``params`` a placeholder whose
    value is appended to them (in the order placeholders appear in the SQL)."""
    if params is not None:
        params.append(value)
        return exp.Placeholder()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    return exp.Literal.string(value)


def _date_range(value: str, parameter: str | None = None) -> tuple[date, date | None]:
    """The first day of a date path and the first day after it (``period``); ``parameter``: the
    v1 parameter that sent it (``Refinement.parameter``)."""
    if _DATE_PATH.fullmatch(value.strip()):  # not -1, read as year 1 when empty parts were dropped
        try:
            return period(*[int(p) for p in re.split(r"[/-]", value.strip()) if p])
        except (ValueError, OverflowError):  # 2020/13; a year past a C int
            pass
    raise invalid_parameter(f"Invalid date path {value!r}{_sent_in(parameter)}: YYYY, YYYY/MM or YYYY/MM/DD is expected.")


def period(year: int, month: int | None = None, day: int | None = None) -> tuple[date, date | None]:
    """The first day of a year, a month or a day and the first day after it (None after
    9999-12-31, which Python cannot hold: ``_day_text``), as refine paths and v1's partial dates
    read them. ``ValueError`` (or ``OverflowError``) when there is no such period."""
    start = date(year, month or 1, day or 1)
    last = start if day else date(year, month, calendar.monthrange(year, month)[1]) if month else date(year, 12, 31)
    return start, None if last == date.max else last + timedelta(days=1)


#: The day after 9999-12-31, which Python cannot hold and the engine reads.
AFTER_LAST_DAY = "10000-01-01"


def _day_text(day: date | None) -> str:
    """A day as the engine reads it, None being the day after the last one Python holds."""
    return AFTER_LAST_DAY if day is None else day.isoformat()


def _instant_text(day: date | None, tz: ZoneInfo) -> str:
    """A day's first instant in ``tz`` as the engine reads it (None: the day after 9999-12-31,
    with the offset ``tz`` has on that last day)."""
    if day is not None:
        return datetime(day.year, day.month, day.day, tzinfo=tz).isoformat()
    return AFTER_LAST_DAY + "T00:00:00" + datetime(9999, 12, 31, tzinfo=tz).isoformat()[19:]


def refinement_condition(refinement: Refinement, params: list | None = None) -> exp.Expression:
    """The condition of a refinement (or exclusion); with ``params``, its values are
    placeholders appended to them, so that every value of a field gives the same SQL."""
    f = refinement.field
    column = exp.column(f.name, quoted=True)
    if not facetable(f):  # no value to match as a facet's
        raise invalid_parameter(f"Field {f.name} of type {f.type} cannot be refined.")
    if f.type in (FieldType.DATE, FieldType.DATETIME):
        start, end = _date_range(refinement.value, refinement.parameter)
        if f.type == FieldType.DATETIME:  # the path's first and next instants in the caller's zone
            tz = zone(refinement.timezone)
            low = exp.cast(_constant(datetime(start.year, start.month, start.day, tzinfo=tz).isoformat(), params),
                           "TIMESTAMPTZ")
            high = exp.cast(_constant(_instant_text(end, tz), params), "TIMESTAMPTZ")
        else:
            low = exp.cast(_constant(start.isoformat(), params), "DATE")
            high = exp.cast(_constant(_day_text(end), params), "DATE")
        # Two placeholders whatever the path: calls of one shape share one plan (_refinement_values).
        condition: exp.Expression = exp.and_(column >= low, column < high)
    elif (separator := hierarchy_separator(f)) is not None:  # a path: the value or anything below it
        if (items := multivalued_items(f, column.copy())) is None:
            condition = _on_path(column.copy(), separator, refinement.value, params)
        else:  # one of its values on that path
            value = exp.to_identifier("__path")
            on_path = _on_path(exp.column(value.copy()), separator, refinement.value, params)
            each = exp.Anonymous(this="list_transform", expressions=[items, exp.Lambda(this=on_path, expressions=[value])])
            condition = exp.Coalesce(this=exp.Anonymous(this="list_bool_or", expressions=[each]), expressions=[exp.false()])
    elif (held := holding(f, column.copy(), lambda: _constant(refinement.value, params))) is not None:
        condition = held  # one of the values of a multivalued field
    else:
        condition = exp.EQ(this=column, expression=_constant(_typed_value(f, refinement.value, refinement.parameter),
                                                             params))
    if refinement.exclude:
        # Excluding a value keeps the records where the field is null, as Opendatasoft does.
        return exp.or_(exp.Not(this=exp.paren(condition)), exp.Is(this=column.copy(), expression=exp.Null()))
    return condition


def _on_path(value: exp.Expression, separator: str, path: str, params: list | None) -> exp.Expression:
    """Whether a path value is ``path`` or below it."""
    path = collapsed_path(path, separator)
    collapsed = path_of(value, separator)
    equal = exp.EQ(this=collapsed, expression=_constant(path, params))
    below = exp.Anonymous(this="starts_with", expressions=[collapsed.copy(), _constant(path + separator, params)])
    return exp.or_(equal, below)


def disjunctive_fields(fields: list[Field]) -> frozenset[str]:
    """The fields annotated ``disjunctive``: several values refined on one of them are ORed."""
    return frozenset(f.name for f in fields if "disjunctive" in f.annotations)


def conditions_for(refinements: list[Refinement], skip_field: str | None = None,
                   params: list | None = None, disjunctive: frozenset[str] = frozenset()) -> list[exp.Expression]:
    """The conditions of refinements (but those of ``skip_field``: a disjunctive facet's own),
    their values as placeholders appended to ``params`` when given. The refinements of a field
    in ``disjunctive`` make one condition, their values ORed, at the place of the first (so
    that placeholders stay in the order of ``params``); elsewhere two values of one field ask
    for records holding both, as on Opendatasoft without ``disjunctive``."""
    groups: dict[object, list[Refinement]] = {}
    for i, r in enumerate(refinements):
        if skip_field and r.field.name == skip_field and not r.exclude:
            continue
        ored = not r.exclude and r.field.name in disjunctive
        groups.setdefault(r.field.name if ored else i, []).append(r)
    conditions = []
    for group in groups.values():
        built = [refinement_condition(r, params) for r in group]
        conditions.append(built[0] if len(built) == 1 else exp.paren(exp.or_(*built)))
    return conditions


def facetable(f: Field) -> bool:
    """Whether a field's values can be listed as facet values: geometries and JSON documents
    cannot (their values would be binary or serialised text that no refinement can use)."""
    return f.type not in GEO_TYPES and f.type not in (FieldType.JSON, FieldType.FILE)


SORTS = ("count", "-count", "alphanum", "-alphanum", "num", "-num")


def annotated_sort(f: Field) -> str:
    """The order of a field's facet values its ``facetsort`` annotation sets, or by default
    Opendatasoft's: a date's years (a year's months, a month's days) in calendar order, as its
    documented answers list them (``2020/11`` of 2 datasets before ``2020/12`` of 6), any other
    field's values most used first."""
    given = f.annotations.get("facetsort") or []
    if given and str(given[0]) in SORTS and _sort_fits(f, str(given[0])):
        return str(given[0])
    return "alphanum" if f.type in (FieldType.DATE, FieldType.DATETIME) else "-count"


def _facet_field(by_name: dict[str, Field], name: str | None) -> Field:
    if name not in by_name:
        raise ApiError(400, "ODSQLError", f"ODSQL query is malformed: Unknown field: {name} Clause(s) containing the error(s): facet.")
    f = by_name[name]
    if not facetable(f):
        raise invalid_parameter(f"Field {f.name} of type {f.type} cannot be a facet.")
    return f


def _facet_args(text: str, body: str) -> dict[str, str]:
    """The ``name=value`` arguments of ``facet(…)``, each known, the whole text read (a missing
    comma or a stray word is an error, not an argument silently dropped)."""
    args: dict[str, str] = {}
    position = 0
    while body[position:].strip():
        match = _FACET_ARG.match(body, position)
        if match is None or match.end() == position:
            raise invalid_parameter(f"Invalid value for facet API parameter: {text!r} was found but "
                                    f"facet(name=\"<field>\", <argument>=<value>, …) is expected.")
        key = match.group(1).lower()
        if key not in _FACET_ARGS:
            raise invalid_parameter(f"Invalid value for facet API parameter: unknown argument {key!r} "
                                    f"(expected one of {', '.join(_FACET_ARGS)}).")
        args[key] = _unquote(match.group(2))
        position = match.end()
    if "name" not in args:
        raise invalid_parameter(f"Invalid value for facet API parameter: {text!r} names no field (name=\"<field>\").")
    return args


def _flag(args: dict[str, str], key: str, default: bool) -> bool:
    value = args.get(key)
    if value is None:
        return default
    if value.lower() not in ("true", "false"):
        raise invalid_parameter(f"Invalid value for facet {key} argument: {value!r} was found but true or false is expected.")
    return value.lower() == "true"


def _sort_fits(f: Field, sort: str) -> bool:
    """Opendatasoft's orders by type: by count for any field, alphanumerically for text and
    dates, numerically for numbers."""
    kind = sort.lstrip("-")
    if kind == "alphanum":
        return f.type in (FieldType.TEXT, FieldType.DATE, FieldType.DATETIME)
    if kind == "num":
        return f.type in (FieldType.INT, FieldType.DOUBLE)
    return True


def parse_facet(text: str, fields: list[Field]) -> FacetSpec:
    by_name = {f.name: f for f in fields}
    call = _FACET_CALL.match(text)
    if not call:
        return _annotated_spec(_facet_field(by_name, _unquote(text)))
    args = _facet_args(text, call.group(1))
    f = _facet_field(by_name, args["name"])
    sort = args.get("sort", annotated_sort(f))
    if sort not in SORTS:
        raise invalid_parameter(f"Invalid facet sort {sort!r}.")
    if not _sort_fits(f, sort):
        raise invalid_parameter(f"Invalid facet sort {sort!r} for field {f.name} of type {f.type}.")
    try:
        limit = int(args.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise invalid_parameter(f"Invalid facet limit {args.get('limit')!r}.") from None
    if limit < 1:
        raise invalid_parameter(f"Invalid facet limit {limit}: at least 1 is expected.")
    annotated = hierarchy_separator(f)
    hierarchical = _flag(args, "hierarchical", annotated is not None)
    if args.get("separator") == "" or "\x00" in args.get("separator", ""):
        raise invalid_parameter("Invalid facet separator: an empty separator splits nothing, and a NUL character "
                                "cannot be one.")
    separator = (args.get("separator") or annotated or "/") if hierarchical and f.type == FieldType.TEXT else None
    # Beyond MAX_LIMIT values a facet is an export: bounded, as Opendatasoft bounds its facets.
    return FacetSpec(f, disjunctive=_flag(args, "disjunctive", "disjunctive" in f.annotations), sort=sort,
                     limit=min(limit, MAX_LIMIT),
                     separator=separator)


def parse_facets(texts: list[str], fields: list[Field]) -> list[FacetSpec]:
    """The facets asked for, each field once, with its first occurrence's options: the answer
    names each facet by its field only, so a second ``facet=x`` (a widget's two controls on one
    field, ``x`` then ``facet(name="x", sort=…)``) listed two groups of one name, which a client
    keyed by name cannot tell apart, and computed the field twice. Every occurrence is still
    checked: a refused one is the same 400 wherever it stands."""
    specs: dict[str, FacetSpec] = {}
    for text in texts:
        spec = parse_facet(text, fields)
        specs.setdefault(spec.field.name, spec)
    return list(specs.values())


def _annotated_spec(f: Field) -> FacetSpec:
    """A field's facet as its annotations configure it (disjunctive, hierarchical, facetsort)."""
    return FacetSpec(f, disjunctive="disjunctive" in f.annotations, sort=annotated_sort(f), separator=hierarchy_separator(f))


def as_faceted(fields: list[Field], specs: list[FacetSpec]) -> list[Field]:
    """The fields as the refinements of a facets call read them: a field faceted as a hierarchy
    (``facet(name="f", hierarchical=true, separator="/")``) refines by path, the value or
    anything below it, as one annotated ``hierarchical`` does, so that the tree's own values
    (``fr`` above ``fr/idf/paris``) refine to the records the tree counted under them."""
    paths = {s.field.name: s.separator for s in specs if s.separator is not None}
    return [replace(f, annotations={**f.annotations, "hierarchical": [paths[f.name]]}) if f.name in paths else f
            for f in fields]


def default_facets(fields: list[Field]) -> list[FacetSpec]:
    return [_annotated_spec(f) for f in fields if "facet" in f.annotations and facetable(f)]


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _order(spec: FacetSpec) -> list[exp.Ordered]:
    key = {"count": "n", "-count": "n", "alphanum": "v", "-alphanum": "v", "num": "v", "-num": "v"}[spec.sort]
    descending = spec.sort.startswith("-")
    first = exp.Ordered(this=exp.column(key), desc=descending)
    return [first, exp.Ordered(this=exp.column("v"), desc=False)]


def _bucket(spec: FacetSpec, level: int = -1, within: tuple[date, date | None] | None = None,
            timezone: str = "UTC") -> tuple[exp.Expression, list[exp.Expression]]:
    """A flat facet's value (``level`` a date field's bucket, a datetime one's by its wall-clock
    date in ``timezone``) and the conditions of the records it counts beyond the filters."""
    column = exp.column(spec.field.name, quoted=True)
    value: exp.Expression = column
    moment: exp.Expression = column.copy()
    if level >= 0 and spec.field.type == FieldType.DATETIME:
        moment = exp.func("timezone", exp.Literal.string(zone(timezone).key), column.copy())
    if level >= 0:
        value = exp.func("date_part", exp.Literal.string(DATE_LEVELS[level]), moment.copy())
    conditions: list[exp.Expression] = [exp.Not(this=exp.Is(this=column.copy(), expression=exp.Null()))]
    if within:
        conditions += [moment.copy() >= exp.cast(exp.Literal.string(within[0].isoformat()), "DATE"),
                       moment.copy() < exp.cast(exp.Literal.string(_day_text(within[1])), "DATE")]
    return value, conditions


def facet_query(spec: FacetSpec, filters: list[exp.Expression], *, level: int = -1,
                within: tuple[date, date | None] | None = None, timezone: str = "UTC") -> exp.Select:
    """Value counts of one facet under the filters; ``level`` buckets a date field (a datetime
    one by its wall-clock date in ``timezone``)."""
    column = exp.column(spec.field.name, quoted=True)
    value, own = _bucket(spec, level, within, timezone)
    conditions = [*filters, *own]
    items = multivalued_values(spec.field, column.copy()) if level < 0 else None
    if items is not None:  # a multivalued field: each value counts the records holding it (as group_by does)
        values = exp.select(exp.alias_(exp.Anonymous(this="unnest", expressions=[items]), "v")).from_("records")
        values = values.where(exp.and_(*conditions))
        query = exp.select(exp.column("v"), exp.alias_(exp.func("count", exp.Star()), "n")).from_(values.subquery("items"))
        return query.group_by(exp.column("v")).order_by(*_order(spec)).limit(exp.Literal.number(spec.limit))
    query = exp.select(exp.alias_(value, "v"), exp.alias_(exp.func("count", exp.Star()), "n")).from_("records")
    query = query.where(exp.and_(*conditions)).group_by(exp.column("v")).order_by(*_order(spec))
    return query.limit(exp.Literal.number(spec.limit))


#: A facet's value counts already known, by (level, prefix) of its tree (level -1: a flat
#: facet's), as ``facets_values`` counts them in one pass.
Known = dict[tuple[int, str], list[dict]]


def facet_filters(spec: FacetSpec, refinements: list[Refinement], base: list[exp.Expression],
                  disjunctive: frozenset[str] = frozenset()) -> list[exp.Expression]:
    """The conditions of the records a facet counts: ``base`` and the refinements (but its own
    when it is disjunctive)."""
    return base + conditions_for(refinements, spec.field.name if spec.disjunctive else None, disjunctive=disjunctive)


def _refined_values(spec: FacetSpec, refinements: list[Refinement]) -> set[str]:
    """The values refined (not excluded) on the facet's field, canonical: its entries in state
    ``refined``, and the tree levels they open."""
    return {canonical(r) for r in refinements if r.field.name == spec.field.name and not r.exclude}


def facet_values(run, spec: FacetSpec, refinements: list[Refinement], base: list[exp.Expression],
                 disjunctive: frozenset[str] = frozenset(), timezone: str = "UTC", known: Known | None = None) -> list[dict]:
    """The facet's entries: ``run(query) -> list[dict]`` executes a query on the version;
    ``disjunctive`` names the fields whose refined values are ORed (``conditions_for``);
    a datetime field's years, months and days are those of ``timezone``; ``known``, counts
    already read (``facets_values``), which are not asked again."""
    known = known or {}
    filters = facet_filters(spec, refinements, base, disjunctive)
    refined = _refined_values(spec, refinements)
    excluded = [canonical(r) for r in refinements if r.field.name == spec.field.name and r.exclude]
    separator = None
    if spec.field.type in (FieldType.DATE, FieldType.DATETIME):
        entries = _date_entries(run, spec, filters, refined, level=0, prefix="", within=None, timezone=timezone,
                                known=known)
        separator = "/"
    elif spec.separator is not None:
        entries = _path_entries(run, spec, filters, refined, level=0, prefix="", known=known)
        separator = spec.separator
    else:
        rows = known[(-1, "")] if (-1, "") in known else run(facet_query(spec, filters))
        entries = [{"name": _value_text(row["v"]), "value": _value_text(row["v"]), "count": row["n"],
                    "state": "refined" if _value_text(row["v"]) in refined else "displayed"}
                   for row in rows]
    for value in excluded:
        list_excluded(entries, value, separator)
    return entries


def list_excluded(entries: list[dict], value: str, separator: str | None) -> None:
    """List an excluded value (without count) at its level of the tree: a month under its
    year when that year's months are listed (it is refined), nowhere when they are not, so that
    a level only ever holds values of that level."""
    level, prefix = entries, ""
    segments = value.split(separator) if separator else [value]
    for segment in segments[:-1]:
        prefix = f"{prefix}{separator}{segment}" if prefix else segment
        parent = next((e for e in level if e["value"] == prefix), None)
        if parent is None or "facets" not in parent:
            return
        level = parent["facets"]
    if not any(e["value"] == value for e in level):
        level.append({"name": segments[-1], "value": value, "state": "excluded"})


def _segment(spec: FacetSpec, level: int, prefix: str) -> tuple[exp.Expression, list[exp.Expression]]:
    """A hierarchical facet's segment at ``level`` (of its values' paths, or of the paths a
    multivalued field's values are) and its conditions (a segment, below ``prefix``)."""
    column = exp.column(spec.field.name, quoted=True)
    separator = spec.separator or "/"
    path = path_of(column.copy(), separator)
    segment = exp.Anonymous(this="split_part", expressions=[path, exp.Literal.string(separator),
                                                            exp.Literal.number(level + 1)])
    conditions = [exp.Not(this=exp.Is(this=column.copy(), expression=exp.Null())),
                  exp.NEQ(this=segment.copy(), expression=exp.Literal.string(""))]
    if prefix:
        conditions.append(exp.Anonymous(this="starts_with", expressions=[path.copy(), exp.Literal.string(prefix + separator)]))
    return segment, conditions


def _path_entries(run, spec: FacetSpec, filters, refined: set[str], *, level: int, prefix: str,
                  known: Known | None = None) -> list[dict]:
    """A hierarchical facet: the path segments at ``level`` under ``prefix``; a refined
    segment lists the next level below it (like date facets)."""
    column = exp.column(spec.field.name, quoted=True)
    separator = spec.separator or "/"
    if known and (level, prefix) in known:
        rows = known[(level, prefix)]
    else:
        items = multivalued_values(spec.field, column.copy())
        counted: exp.Expression = exp.Star()
        source: exp.Expression = exp.to_table("records")
        outer = filters  # the records' conditions: on the paths' rows, or on the records they are unnested from
        if items is not None:  # each value a path; a record counts once under a segment its values share
            record = exp.to_identifier("__record")
            source = exp.select(exp.alias_(exp.column("rowid"), record.copy()),
                                exp.alias_(exp.Anonymous(this="unnest", expressions=[items]), spec.field.name, quoted=True)) \
                .from_("records").where(exp.and_(*filters) if filters else None).subquery("items")
            counted, outer = exp.Distinct(expressions=[exp.column(record)]), []
        segment, own = _segment(spec, level, prefix)
        query = exp.select(exp.alias_(segment, "v"), exp.alias_(exp.Count(this=counted), "n")).from_(source)
        query = query.where(exp.and_(*outer, *own)).group_by(exp.column("v")).order_by(*_order(spec))
        rows = run(query.limit(exp.Literal.number(spec.limit)))
    entries = []
    for row in rows:
        value = f"{prefix}{separator}{row['v']}" if prefix else row["v"]
        entry = {"name": row["v"], "value": value, "count": row["n"], "state": "displayed"}
        if any(r == value or r.startswith(value + separator) for r in refined):
            entry["state"] = "refined"
            entry["facets"] = _path_entries(run, spec, filters, refined, level=level + 1, prefix=value, known=known)
        entries.append(entry)
    return entries


def _date_entries(run, spec: FacetSpec, filters, refined: set[str], *, level: int, prefix: str,
                  within: tuple[date, date | None] | None, timezone: str, known: Known | None = None) -> list[dict]:
    entries = []
    if known and (level, prefix) in known:
        rows = known[(level, prefix)]
    else:
        rows = run(facet_query(spec, filters, level=level, within=within, timezone=timezone))
    for row in rows:
        part = f"{int(row['v']):02d}" if level else str(int(row["v"]))
        value = f"{prefix}/{part}" if prefix else part
        entry = {"name": part, "value": value, "count": row["n"], "state": "displayed"}
        if any(r == value or r.startswith(value + "/") for r in refined):
            entry["state"] = "refined"
            if level + 1 < len(DATE_LEVELS):
                entry["facets"] = _date_entries(run, spec, filters, refined, level=level + 1, prefix=value,
                                                within=_date_range(value), timezone=timezone, known=known)
        entries.append(entry)
    return entries


# -- every facet of a call in one pass ------------------------------------------------------
#
# Each facet's counts are a query over the records its filters keep. When those filters cost
# more than the counting (a full-text search: a semi-join on the word's postings, or a scan of
# the records for a list of row ids; a ``like``; a function of the values), every facet paid
# them again: five facets of a search for a word in two million records, five semi-joins
# (~3 s). ``facets_values`` counts the flat facets (plain and date fields, and hierarchical
# ones' path segments: not a multivalued field's unnested values) in one query: the filters
# shared by every count are tested once, each facet's value is a grouping set of one
# aggregate, and the conditions a count adds (a disjunctive facet's refinements left out, a
# date level's period, a path's prefix) are FILTER clauses; each facet's values are then
# ordered and limited as its own query would. The refined levels of date and path trees are
# counted in the same pass (the refined paths name them in advance). Filters a scan tests for
# free (columns against constants) keep one query per facet: a single pass would not spare
# them, and grouping sets count a little slower than plain GROUP BYs.


@dataclass
class _Count:
    """One count of the pass: a facet's values at a level of its tree, under its conditions
    (beyond the shared filters), ordered and limited as ``spec`` says."""

    facet: int
    key: tuple[int, str]
    spec: FacetSpec
    value: exp.Expression
    conditions: list[exp.Expression]


#: The nodes of a condition the engine tests on each row while scanning, at no cost worth
#: sparing (a column against constants).
_PLAIN = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Is, exp.Between, exp.In, exp.And, exp.Or, exp.Not,
          exp.Paren, exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Cast, exp.DataType,
          exp.Placeholder, exp.Neg)


def _costly(conditions: list[exp.Expression]) -> bool:
    """Whether the shared filters cost more than scanning (full-text matches, subqueries,
    functions of the values)."""
    return any(not isinstance(node, _PLAIN) for condition in conditions for node in condition.walk())


def _counts(spec: FacetSpec, facet: int, refined: set[str], timezone: str) -> list[_Count] | None:
    """The counts a facet's entries read: its values (a date or path tree's first level, and
    the levels its refined paths open), or ``None`` for a multivalued field (its values are
    unnested, a query of its own). A value is null where its field is, and the pass drops null
    values: the bucket's first condition (the field is not null) is left out, so that facets
    without conditions of their own share one aggregate."""
    def count(key: tuple[int, str], value: exp.Expression, conditions: list[exp.Expression]) -> _Count:
        return _Count(facet, key, spec, value, conditions[1:])

    if spec.field.type in (FieldType.DATE, FieldType.DATETIME):
        counts = [count((0, ""), *_bucket(spec, 0, None, timezone))]
        for path in sorted(refined):  # canonical paths: 2015, 2015/03, 2015/03/07
            parts = path.split("/")
            for level in range(1, min(len(parts) + 1, len(DATE_LEVELS))):  # a refined period lists its next level
                prefix = "/".join(parts[:level])
                counts.append(count((level, prefix), *_bucket(spec, level, _date_range(prefix), timezone)))
        return counts
    if multivalued_values(spec.field, exp.column(spec.field.name, quoted=True)) is not None:
        return None
    if spec.separator is None:
        return [count((-1, ""), *_bucket(spec))]
    counts = [count((0, ""), *_segment(spec, 0, ""))]
    for path in sorted(refined):  # each prefix of a refined path may be a listed, refined segment
        parts = path.split(spec.separator)
        for level in range(1, len(parts) + 1):
            prefix = spec.separator.join(parts[:level])
            counts.append(count((level, prefix), *_segment(spec, level, prefix)))
    return counts


def facets_values(run, specs: list[FacetSpec], refinements: list[Refinement], base: list[exp.Expression],
                  disjunctive: frozenset[str] = frozenset(), timezone: str = "UTC") -> list[list[dict]]:
    """Each facet's entries (``facet_values``), the flat facets counted in one pass when the
    filters ``base`` cost more than a scan (see above)."""
    known: list[Known] = [{} for _ in specs]
    if base and _costly(base):
        counts: list[_Count] = []
        for i, spec in enumerate(specs):
            found = _counts(spec, i, _refined_values(spec, refinements), timezone)
            if found is not None:
                refining = facet_filters(spec, refinements, [], disjunctive)  # beyond the shared base
                counts += [replace(c, conditions=[*refining, *c.conditions]) for c in found]
        if len({c.facet for c in counts}) > 1:  # one facet alone: its own query is the pass
            for count, rows in zip(counts, _one_pass(run, counts, base)):
                known[count.facet][count.key] = rows
    return [facet_values(run, spec, refinements, base, disjunctive, timezone, known[i]) for i, spec in enumerate(specs)]


def _one_pass(run, counts: list[_Count], base: list[exp.Expression]) -> list[list[dict]]:
    """The rows (``v``, ``n``) of each count, from one query: the records ``base`` and the
    conditions every count shares keep, grouped by each distinct value (a grouping set), with
    one aggregate per distinct set of remaining conditions (``count(*) FILTER``); each count
    then keeps its value's groups with rows under its aggregate, ordered and limited. Refinement
    and bucket conditions are built from constants alone, so their SQL tells them apart."""
    texts = [[c.sql(dialect="duckdb") for c in count.conditions] for count in counts]
    shared = set(texts[0]).intersection(*texts[1:])
    common = list(base) + [c for c, text in zip(counts[0].conditions, texts[0]) if text in shared]
    common = list({id(c): c for c in common}.values())
    values: dict[str, int] = {}
    aggregates: dict[tuple[str, ...], int] = {}
    picks = []
    for count, conditions in zip(counts, texts):
        value = values.setdefault(count.value.sql(dialect="duckdb"), len(values))
        own = tuple(dict.fromkeys(t for t in conditions if t not in shared))
        aggregate = aggregates.setdefault(own, len(aggregates))
        picks.append((value, aggregate, [c for c, t in zip(count.conditions, conditions) if t not in shared]))
    by_value = {index: next(c.value for c, (v, _, _) in zip(counts, picks) if v == index) for index in values.values()}
    by_aggregate = {index: next(own for c, (_, a, own) in zip(counts, picks) if a == index) for index in aggregates.values()}
    outputs: list[exp.Expression] = []
    for index, value in by_value.items():
        outputs.append(exp.alias_(exp.Grouping(expressions=[value.copy()]), f"g{index}"))
        outputs.append(exp.alias_(value.copy(), f"c{index}"))
    for index, own in by_aggregate.items():
        counted: exp.Expression = exp.Count(this=exp.Star())
        if own:
            counted = exp.Filter(this=counted, expression=exp.Where(this=exp.and_(*[c.copy() for c in own])))
        outputs.append(exp.alias_(counted, f"n{index}"))
    grouped = exp.select(*outputs, copy=False).from_("records", copy=False)
    if common:
        grouped = grouped.where(exp.and_(*[c.copy() for c in common], copy=False), copy=False)
    grouped.set("group", exp.Group(expressions=[exp.GroupingSets(expressions=[
        exp.paren(value.copy()) for value in by_value.values()])]))
    branches = []
    for i, (count, (value, aggregate, _)) in enumerate(zip(counts, picks)):
        rows = exp.select(exp.alias_(exp.column(f"c{value}"), "v"), exp.alias_(exp.column(f"n{aggregate}"), "n")) \
            .from_("grouped", copy=False).where(exp.column(f"g{value}").eq(0), exp.column(f"c{value}").is_(exp.null()).not_(),
                                                exp.column(f"n{aggregate}") > 0, copy=False)
        # Each value in a column of its own (typed as the value), null in the other values' rows.
        columns = [exp.alias_(exp.column("v") if j == value else exp.null(), f"v{j}") for j in by_value]
        kept = rows.order_by(*_order(count.spec), copy=False).limit(exp.Literal.number(count.spec.limit), copy=False)
        # Ranked once limited: the window orders at most ``limit`` rows (the order is total, ``v``
        # being unique in its grouping set), and the union keeps no order of its own.
        ranked = exp.select(exp.alias_(exp.Literal.number(i), "f"), *columns, exp.column("n"),
                            exp.alias_(exp.Window(this=exp.Anonymous(this="row_number"),
                                                  order=exp.Order(expressions=_order(count.spec))), "r"))
        branches.append(ranked.from_(kept.subquery(f"b{i}", copy=False), copy=False))
    union = branches[0]
    for branch in branches[1:]:
        union = exp.union(union, branch, distinct=False, copy=False)  # no copy: k² nodes copied otherwise
    query = exp.select("*").from_(exp.Subquery(this=union, alias=exp.TableAlias(this=exp.to_identifier("counts")))) \
        .order_by(exp.column("f"), exp.column("r"), copy=False).with_("grouped", as_=grouped, materialized=True, copy=False)
    answers: list[list[dict]] = [[] for _ in counts]
    for row in run(query):
        answers[row["f"]].append({"v": row[f"v{picks[row['f']][0]}"], "n": row["n"]})
    return answers
