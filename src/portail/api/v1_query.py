"""v1's ``q`` language, translated to an ODSQL condition for the one compiler.

v1 apps write ``q`` as words and ``"phrases"`` (full text), field queries (``annee:2010``,
``annee>=2010``, ``nom=="Paris"``, ``insee_dep-01`` or ``siren=552100554`` (exact, as
Opendatasoft's query language documents ``==``, ``-`` (written without spaces, after a field
name: ``jean-pierre`` stays words) and ``=``; scripts looking a company up send it),
``date:[2019 TO 2020]`` (``*`` an open bound, as in Lucene's ranges: ``[2019 TO *]``), dates
as ``YYYY[/MM[/DD]]``; ``ville:lyon`` on a text field is a search of its words, case and
accents aside, as Opendatasoft's query language documents it ("a normalized token query") and
ods-widgets' text search restricted to a field sends what the reader typed),
``AND``/``OR``/``NOT`` with parentheses (adjacent terms are ANDed; a dangling one, ``q=OR``, is
a word: ``_operator``) and the functions
``#null(f)``, ``#exact(f, "v")``, ``#search(f, "v")`` and ``#startswith(f, "v")``, and the
geographic ones Opendatasoft's search help documents, ``#distance(lat, lon, metres)`` and
``#polygon(field, "(lat,lon),(lat,lon),…")``, which the ``geofilter.*`` parameters share.

A date may be ``#now(…)`` (``date>=#now(days=-1)``, ``date:[#now(weeks=-1) TO #now()]``), with
the parameters Opendatasoft's v1 documentation lists, which are dateutil's ``relativedelta``'s
and mean what they mean there: plural names add (``years``, ``months``, ``weeks``, ``days``,
``hours``, ``minutes``, ``seconds``, ``microseconds``), singular ones set (``year`` … ``microsecond``;
the day is clamped to the month's length after both), and ``weekday`` moves to a day of the week,
``0``–``6`` (Monday to Sunday) or ``MO`` … ``SU``, forward with today included, ``MO(2)`` the
second such day (the Monday after next, on a Tuesday), ``MO(-1)`` backward (the last Monday, today
included). It becomes ODSQL's ``now(…)`` (``weekday`` as its ``weekday``, ``weeks`` and
``mondays``…), read in the request's timezone. Any other parameter, or another ``#function`` as a
value (``#today``: Opendatasoft documents none), is refused with a 400 naming what is accepted.

A ``q`` of words and phrases only stays a plain full-text search (``api.text_search``, which
the version's index answers); anything else becomes one ODSQL ``where``, words as
``search(*, …)`` (v1's full text, not a bare string's exact words) and phrases as Portail's
``phrase(*, …)``, their words whole and in a row in one value, as in plain full text (a phrase
beside a field query, or under ``NOT``, was a search of its words anywhere); ``ville:"…"`` on a
text field is ``phrase(ville, …)``, Lucene's field phrase, and ``acheteur:sdis`` on a JSON field
a phrase of its text too (the words plain full text finds in it; a comparison has no meaning there).
A ``name:value`` whose name is not one of the caller's fields is a word like any other (``http://…``
stays a search), so a field hidden from the caller reads exactly as one that does not exist.
Values are written as ODSQL literals (strings escaped, numbers and dates parsed), names in
backquotes: the text of ``q`` never reaches the compiler as syntax.
"""

from __future__ import annotations

import math
import re

from portail import odsql
from portail.api.errors import ApiError, invalid_parameter
from portail.api.facets import period
from portail.api.v1_series import odsql_number
from portail.odsql import RECORD_ID
from portail.odsql.ast import quote_name, quote_string
from portail.odsql.functions import MisplacedStar, misplaced_star, star_terms
from portail.odsql.literals import WEEKDAYS
from portail.schema import GEO_TYPES, Field, FieldType

_STRING = r'"(?:[^"\\]|\\.)*"'
_CLOSED = re.compile(_STRING, re.DOTALL)
#: A function call as a field's value, with one level of parentheses inside (``#now(weekday=MO(2))``).
_CALL = r"\#\w+\((?:[^()]|\([^()]*\))*\)"
_TOKENS = re.compile(rf"""
    (?P<space>\s+)
  | (?P<open>\()
  | (?P<close>\))
  | (?P<func>\#(?P<fname>\w+)\((?P<args>(?:{_STRING}|[^()"])*)\))
  | (?P<query>(?P<field>[A-Za-z_][\w.]*)(?P<op>\s*(?:==|>=|<=|>|<|:|=)\s*|-(?=[^\s()]))
        (?P<value>{_STRING}|\[[^\]]*\]|{_CALL}|[^\s()]+))
  | (?P<phrase>{_STRING})
  | (?P<word>[^\s()]+)
""", re.VERBOSE)
_OPERATORS = {"AND": "and", "OR": "or", "NOT": "not"}
#: A term that matches everything: ``*``, and Lucene's ``*:*`` (any field, any value) and ``**``.
_MATCH_ALL = re.compile(r"\*+(?::\*+)?")
#: ``recordid:'…'``: ods-widgets' map asks for a clicked shape's record so, quoted either way.
QUOTES = "'\""
_NUMERIC = (FieldType.INT, FieldType.DOUBLE)
_TEMPORAL = (FieldType.DATE, FieldType.DATETIME)
_DATE = re.compile(r"\d{4}(?:[-/]\d{1,2}(?:[-/]\d{1,2})?)?(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
#: Whole numbers ODSQL reads as integers lie within ±this (the engine's BIGINT).
_INTEGERS = 2 ** 63
#: A number as ODSQL's grammar writes one (no exponent, no bare point), kept as given: every digit.
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?", re.ASCII)
#: ``name=number``, or ``weekday=MO``, ``weekday=MO(2)``, ``weekday=MO(-1)``.
_NOW_ARG = re.compile(r"\s*(\w+)\s*=\s*(?:([+-]?\d+)|([A-Za-z]{2})\s*(?:\(\s*([+-]?\d+)\s*\))?)\s*")
#: v1's ``#now`` parameters that add to the moment, and those that set a component of it.
_NOW_ADD = ("years", "months", "weeks", "days", "hours", "minutes", "seconds", "microseconds")
_NOW_SET = ("year", "month", "day", "hour", "minute", "second", "microsecond")
#: ``weekday``'s day names, as dateutil writes them (Monday first, as ODSQL's ``WEEKDAYS``).
_DAY_NAMES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_VALUE_CALL = re.compile(r"\#(\w+)\((.*)\)", re.DOTALL)
_PARTIAL = re.compile(r"(\d{4})(?:[-/](\d{1,2})(?:[-/](\d{1,2}))?)?")
_RANGE = re.compile(rf"\[\s*({_CALL}|\S+)\s+TO\s+({_CALL}|\S+)\s*\]", re.IGNORECASE)


def _unquoted(text: str) -> str:
    """A ``"…"`` token's text, its escapes read; a quote left open (``nom:"Dup``, a search box
    sending what the reader is still typing) is dropped, not the value's last character with it
    (``code_sexe:"F`` was a phrase of no word, which every record matched)."""
    if _CLOSED.fullmatch(text):
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text[1:] if text.startswith('"') else text


def _bad_now(args: str) -> Exception:
    return invalid_parameter(
        f"Invalid value for q API parameter: #now({args}) is not a date of v1's query language. #now() takes "
        f"integers: {', '.join(_NOW_ADD)} (added), {', '.join(_NOW_SET)} (set), and weekday (0 to 6 from Monday, "
        "or MO, TU, WE, TH, FR, SA, SU, with a count: MO(2) the second Monday from today, MO(-1) the last one), "
        "each once, e.g. #now(days=-1) or #now(years=-1, month=1, day=1).")


def _now(args: str) -> str:
    """v1's ``#now(…)`` as ODSQL's ``now(…)`` (module docstring). relativedelta's ``weekday``
    (forward, today included, then ``n - 1`` weeks on; or backward, today included, for a
    negative ``n``) is ODSQL's ``weekday`` plus ``weeks``, or its ``mondays=-n``… (strictly
    before) from the day after."""
    params: dict[str, int] = {}
    weekday: tuple[int, int] | None = None
    for part in args.split(",") if args.strip() else []:
        match = _NOW_ARG.fullmatch(part)
        if match is None or match.group(1) in params or (match.group(1) == "weekday" and weekday is not None):
            raise _bad_now(args)
        name, number, day, count = match.groups()
        if name in _NOW_ADD + _NOW_SET and number is not None:
            params[name] = int(number)
        elif name == "weekday" and number is not None and 0 <= int(number) <= 6:
            weekday = (int(number), 1)
        elif name == "weekday" and day is not None and day.upper() in _DAY_NAMES and int(count or 1) != 0:
            weekday = (_DAY_NAMES.index(day.upper()), int(count or 1))
        else:
            raise _bad_now(args)
    if weekday is not None:
        index, count = weekday
        if count > 0:
            params["weekday"] = index
            if count > 1:
                params["weeks"] = params.get("weeks", 0) + count - 1
        else:
            params["days"] = params.get("days", 0) + 1
            params[WEEKDAYS[index]] = count
    return "now(" + ", ".join(f"{name}={value}" for name, value in params.items()) + ")"


def _number(raw: str) -> str:
    """A number of ``q`` (``_NUMBER``: ``1e2``, ``.5``, ``5.`` too) as ODSQL writes one: given
    as they were, ``1e2`` was read as a field name ("Unknown field: 1e2") and ``.5`` refused.
    One ODSQL reads (``_PLAIN_NUMBER``) stays as given, every digit kept (an integer past the
    engine's range is the compiler's 400); past a float's range, a 400 naming ``q``. A whole
    number with an exponent past an integer's range (``1e20``, ``1.5e20``) is written as a
    decimal, which ODSQL reads as the float it was: as an integer it was refused ("integer out
    of range"), a double field's value included (review)."""
    if _PLAIN_NUMBER.fullmatch(raw):
        return raw
    value = float(raw)
    if not math.isfinite(value):
        raise invalid_parameter(f"Invalid value for q API parameter: {raw} is not a finite number.")
    if value.is_integer() and not -_INTEGERS <= value < _INTEGERS:
        return f"{int(value)}.0"
    return odsql_number(value)


def _value(f: Field, text: str) -> str:
    """A v1 value as an ODSQL literal of the field's kind."""
    call = _VALUE_CALL.fullmatch(text)
    if call is not None and call.group(1).lower() == "now":
        return _now(call.group(2))
    if call is not None or (f.type in _TEMPORAL and text.startswith("#")):
        raise invalid_parameter(f"Invalid value for q API parameter: {text} is not a value of v1's query language: "
                                "a moment relative to now is written #now(…), e.g. #now(days=-1), or "
                                "#now(hour=0, minute=0, second=0, microsecond=0) for the start of today.")
    raw = _unquoted(text)
    if f.type in _NUMERIC and not text.startswith('"') and _NUMBER.fullmatch(raw):
        return _number(raw)
    if f.type in _TEMPORAL and _DATE.fullmatch(raw):
        return "date'" + raw.replace("/", "-") + "'"
    return quote_string(raw)


def _period(f: Field, text: str) -> tuple[str, str | None] | None:
    """A partial date (``2020``, ``2020/01``, ``2020-01-15``) on a date field as the ODSQL
    literals of its first day and of the day after its last (None past 9999-12-31: no day comes
    after it): v1 reads it as that period."""
    match = _PARTIAL.fullmatch(_unquoted(text))
    if f.type not in _TEMPORAL or match is None:
        return None
    try:
        start, end = period(*(int(g) if g else None for g in match.groups()))
    except (ValueError, OverflowError):  # 2020-13; a year past a C int
        raise invalid_parameter(f"Invalid value for q API parameter: {text!r} is not a date.") from None
    return f"date'{start.isoformat()}'", f"date'{end.isoformat()}'" if end else None


def _field_query(f: Field, op: str, value: str) -> str:
    name = quote_name(f.name)
    ranged = _RANGE.fullmatch(value)
    if ranged and op == ":":  # inclusive bounds; a partial date bound spans its period; ``*`` is open (Lucene's)
        first, last = (None if part == "*" else _period(f, part) for part in ranged.groups())
        low = None if ranged.group(1) == "*" else first[0] if first else _value(f, ranged.group(1))
        high = None if ranged.group(2) == "*" or (last and last[1] is None) else \
            f"< {last[1]}" if last else f"<= {_value(f, ranged.group(2))}"  # a period to the end of time: open
        bounds = [f"{name} >= {low}"] * (low is not None) + [f"{name} {high}"] * (high is not None)
        return f"({' and '.join(bounds)})" if bounds else f"({name} is not null)"
    period = _period(f, value)
    if period is not None:
        start, end = period
        if end is None:  # the period runs to the last day there is: nothing comes after it
            return {":": f"{name} >= {start}", "==": f"{name} >= {start}", "=": f"{name} >= {start}",
                    ">=": f"{name} >= {start}", ">": "false", "<": f"{name} < {start}", "<=": f"{name} is not null"}[op]
        within = f"({name} >= {start} and {name} < {end})"
        return {":": within, "==": within, "=": within, ">=": f"{name} >= {start}", ">": f"{name} >= {end}", "<": f"{name} < {start}", "<=": f"{name} < {end}"}[op]
    # a phrase, as in full text; on a JSON value, its text's words, as the full text finds them
    if op == ":" and (f.type == FieldType.JSON or (f.type == FieldType.TEXT and value.startswith('"'))):
        return f"phrase({name}, {quote_string(stars_checked(_unquoted(value)))})"
    if op == ":" and f.type == FieldType.TEXT:  # words of the field, case and accents aside (``==`` is exact)
        return f"{name} like {quote_string(stars_checked(_unquoted(value)))}"
    return f"{name} {'=' if op == '==' else op} {_value(f, value)}"  # ':' is ODSQL's equality too


_PAIR = re.compile(r"\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)")
#: A list of points inside brackets of its own, as Opendatasoft's records API documents
#: ``geofilter.polygon``: ``((lat1, lon1), (lat2, lon2), (lat3, lon3))``.
_BRACKETED = re.compile(r"\s*\(\s*(\(.*\))\s*\)\s*", re.DOTALL)


def parsed_numbers(text: str, parameter: str, count: int) -> list[float]:
    """``count`` finite numbers separated by commas (the whole parameter is refused otherwise)."""
    try:
        numbers = [float(part) for part in text.split(",")]
    except ValueError:
        numbers = []
    if len(numbers) != count or not all(math.isfinite(n) for n in numbers):
        raise invalid_parameter(f"Invalid value for {parameter} API parameter: {text!r} was found but "
                                f"{count} comma-separated numbers are expected.")
    return numbers


def geo_field_of(fields: list[Field], name: str | None = None) -> Field | None:
    """The field v1's geo parameters apply to: the one ``name`` (a call's ``geo_field``) names on a
    dataset with several (a choropleth layer's ``layerConfig.geoField``, which ods-widgets send to
    geopolygon), else the first point field, else the first shape. One rule, so that a map's
    clusters and its geofilters read the same field: a map filtered by its view draws what it
    filtered. A name that is no geo field of the caller's (a hidden one reads as absent) is a 400."""
    if name is None or not name.strip():
        return next((f for f in fields if f.type == FieldType.GEO_POINT_2D), None) or \
            next((f for f in fields if f.type == FieldType.GEO_SHAPE), None)
    geo = next((f for f in fields if f.name == name.strip() and f.type in GEO_TYPES), None)
    if geo is None:
        raise invalid_parameter(f"Invalid value for geo_field API parameter: {name!r} was found but the name of a geo "
                                "field (geo_point_2d or geo_shape) of the dataset is expected.")
    return geo


def check_latitudes(latitudes: list[float], text: str, parameter: str) -> None:
    """A 400 naming ``parameter`` (the one the caller sent: ``geofilter.distance``, ``q``…) for a
    latitude past a pole: the compiler refuses it too, but as an error of the ``where`` clause,
    which no v1 caller wrote."""
    if not all(-90 <= lat <= 90 for lat in latitudes):
        raise invalid_parameter(f"Invalid value for {parameter} API parameter: {text!r} was found but latitudes "
                                "from -90 to 90 are expected (latitude first, then longitude).")


def distance_condition(column: str, text: str, parameter: str) -> str:
    """``lat,lon,metres`` as ODSQL's ``within_distance`` on ``column`` (a quoted name), built from
    the numbers it parses to, once they are a point and a radius (a 400 naming ``parameter``)."""
    lat, lon, metres = parsed_numbers(text, parameter, 3)
    check_latitudes([lat], text, parameter)
    if metres < 0:
        raise invalid_parameter(f"Invalid value for {parameter} API parameter: {text!r} was found but "
                                "lat,lon,metres with metres from 0 is expected.")
    return f"within_distance({column}, geom'POINT({lon!r} {lat!r})', {odsql_number(metres)})"


def polygon_condition(column: str, text: str, parameter: str) -> str:
    """``(lat,lon),(lat,lon),…`` (three points at least; the ring is closed here) as ODSQL's
    ``intersects`` on ``column``; the list may be bracketed, ``((lat,lon),…)``, as the records API's
    documentation writes ``geofilter.polygon`` (and scripts copy it so)."""
    bracketed = _BRACKETED.fullmatch(text)
    listed = bracketed.group(1) if bracketed else text
    pairs = _PAIR.findall(listed)
    if len(pairs) < 3 or _PAIR.sub("", listed).strip(" ,"):
        raise invalid_parameter(f"Invalid value for {parameter} API parameter: {text!r} was found but "
                                f"at least three points (lat,lon),(lat,lon),… are expected.")
    points = [parsed_numbers(f"{a},{b}", parameter, 2) for a, b in pairs]
    check_latitudes([lat for lat, _ in points], text, parameter)
    ring = points + points[:1] if points[0] != points[-1] else points
    wkt = ", ".join(f"{lon!r} {lat!r}" for lat, lon in ring)
    return f"intersects({column}, geom'POLYGON(({wkt}))')"


def _geo_function(name: str, parts: list[str], fields: dict[str, Field], geo_name: str | None) -> str | None:
    """The search help's geographic functions: ``#distance(lat, lon, metres)`` (or
    ``#distance("lat,lon", metres)``) on the call's geo field (``geo_field_of``: the one
    ``geo_name`` names, else the dataset's first), and ``#polygon(field, "(lat,lon),(lat,lon),…")``
    (the field may be left out: the same one); None when ``parts`` fit neither."""
    if name == "distance" and len(parts) in (2, 3):
        geo = geo_field_of(list(fields.values()), geo_name)
        if geo is None:
            raise invalid_parameter("Invalid value for q API parameter: this dataset has no geo field for #distance.")
        return distance_condition(quote_name(geo.name), ",".join(_unquoted(p) for p in parts), "q")
    if name == "polygon" and len(parts) in (1, 2) and parts[-1].startswith('"'):
        geo = fields.get(parts[0]) if len(parts) == 2 else geo_field_of(list(fields.values()), geo_name)
        if geo is None or geo.type not in (FieldType.GEO_POINT_2D, FieldType.GEO_SHAPE):
            raise invalid_parameter(f"Invalid value for q API parameter: #polygon({', '.join(parts)}) names no geo "
                                    "field of this dataset.")
        return polygon_condition(quote_name(geo.name), _unquoted(parts[-1]), "q")
    return None


def _function(name: str, args: str, fields: dict[str, Field], geo_name: str | None) -> str:
    parts = [p.strip() for p in re.findall(rf'\s*{_STRING}\s*|[^,]+', args)]  # a quoted part may hold commas
    geo = _geo_function(name, parts, fields, geo_name)
    if geo is not None:
        return geo
    f = fields.get(parts[0]) if parts else None
    if name == "null" and len(parts) == 1 and f is not None:
        return f"{quote_name(f.name)} is null"
    if name in ("exact", "search", "startswith") and len(parts) == 2 and f is not None:
        text = _unquoted(parts[1])
        value = quote_string(stars_checked(text) if name == "search" else text)  # startswith, exact: a star is one
        return f"{quote_name(f.name)} = {value}" if name == "exact" else f"{name}({quote_name(f.name)}, {value})"
    raise invalid_parameter(f"Invalid value for q API parameter: #{name}({args}) is not a function of a known field "
                            "(#null(field), #exact(field, \"value\"), #search(field, \"value\"), "
                            "#startswith(field, \"value\"), #distance(lat, lon, metres), "
                            "#polygon(field, \"(lat,lon),(lat,lon),…\")).")


def _token(match: re.Match[str]) -> tuple[str, re.Match[str]]:
    """A token of ``q`` with its kind (the name of the group it matched)."""
    kind = next(k for k in ("space", "open", "close", "func", "query", "phrase", "word") if match.group(k) is not None)
    return kind, match


def stars_checked(text: str, parameter: str = "q") -> str:
    """``text`` (a word, a phrase, a text field's ``:`` value, ``#search``'s text) when its stars
    are where every full-text form takes them (``odsql.functions.star_terms``: ``film*`` a
    prefix, ``\\*`` a star itself); a 400 naming ``parameter`` otherwise, which the caller wrote
    (``q``; v2.0's ``search``: ``api.explore_v20.beta_where``), and not the ``like``,
    ``search()`` or ``suggest()`` it becomes (whose own refusal named them, in a ``where`` no
    caller sent). Plain full text is checked here too: every ``q`` is read by :func:`v1_where` first."""
    try:
        star_terms(text)
    except MisplacedStar as error:
        raise invalid_parameter(f"Invalid value for {parameter} API parameter: "
                                f"{misplaced_star(parameter, error.term)}") from None
    return text


def _operator(tokens: list[tuple[str, re.Match[str]]], i: int, parts: list[str]) -> bool:
    """Whether the word ``tokens[i]`` is an operator: ``AND``/``OR`` between two terms, ``NOT``
    before one. A dangling one (``q=OR``, ``foo AND``, ``(NOT)``) is a word, as a lenient search
    box reads it (Elasticsearch's ``simple_query_string``, which ignores what it cannot parse):
    a box sends what the reader is still typing, and ``OR`` is French for gold; ODSQL read it as
    a field name and answered "unknown field"."""
    word = tokens[i][1].group(0)
    if word not in _OPERATORS:
        return False
    following = tokens[i + 1] if i + 1 < len(tokens) else None
    starts_term = following is not None and following[0] != "close" and following[1].group(0) not in ("AND", "OR")
    after_term = bool(parts) and parts[-1] not in ("and", "or", "not", "(")
    return starts_term and (word == "NOT" or after_term)


def searched_terms(q: str) -> list[str]:
    """The words and phrases of ``q`` a text should hold, read by the same tokens as
    :func:`v1_where`: not its field queries, functions, operators, parentheses, nor the term a
    ``NOT`` excludes (the catalogue page's relevance order reads them)."""
    terms: list[str] = []
    excluded = False
    for kind, match in map(_token, _TOKENS.finditer(q.replace("\x00", " "))):
        text = match.group(0)
        if kind in ("space", "open", "close") or text in ("AND", "OR"):
            continue
        if text == "NOT":
            excluded = True
            continue
        if kind in ("word", "phrase") and not excluded:
            terms.append(_unquoted(text))
        excluded = False
    return terms


def v1_where(q: str | None, fields: list[Field], geo_name: str | None = None) -> str | None:
    """``q`` as an ODSQL condition over ``fields`` (the caller's visible fields), or None when it
    is plain full text (words and phrases only). ``geo_name``: the call's ``geo_field``."""
    if not q or not q.strip():
        return None
    known = {f.name: f for f in fields}
    parts: list[str] = []
    syntax = False
    tokens = [(kind, match) for kind, match in map(_token, _TOKENS.finditer(q.replace("\x00", " "))) if kind != "space"]
    for i, (kind, match) in enumerate(tokens):
        if kind == "query" and match.group("field") == RECORD_ID and RECORD_ID not in known:
            piece, syntax = f"{RECORD_ID} = {quote_string(match.group('value').strip(QUOTES))}", True
        elif kind == "query" and match.group("field") in known:
            op = match.group("op").strip()  # "-", documented beside ":" and "==", is exact as "==" is
            piece, syntax = _field_query(known[match.group("field")], "==" if op == "-" else op, match.group("value")), True
        elif kind == "func":
            piece, syntax = _function(match.group("fname").lower(), match.group("args"), known, geo_name), True
        elif kind in ("open", "close"):
            piece, syntax = match.group(kind), True
        elif kind == "word" and _MATCH_ALL.fullmatch(match.group(kind)):
            piece = "true"  # ``* AND theme:x``: every dataset of the theme, not a search for "*"
        elif kind == "word" and _operator(tokens, i, parts):
            piece, syntax = _OPERATORS[match.group(kind)], True
        elif kind == "phrase":
            piece = f"phrase(*, {quote_string(stars_checked(_unquoted(match.group(0))))})"
        else:  # a word, or name:value on a name that is no field of the caller's
            piece = f"search(*, {quote_string(stars_checked(match.group(0)))})"
        if parts and parts[-1] not in ("and", "or", "not", "(") and piece not in ("and", "or", ")"):
            parts.append("and")  # adjacent terms are ANDed
        parts.append(piece)
    return " ".join(parts) if syntax else None


def q_conditions(q: str | None, fields: list[Field], geo_name: str | None = None) -> tuple[list[str], str | None]:
    """``q`` (v1's language: v1's ``q``, and ``qv1`` on the Explore API, which Opendatasoft's
    widgets and its export links send) as the ODSQL conditions it sets and the plain full text
    it leaves: a ``q`` of words and phrases only stays full text, which the index answers. A
    ``q`` of ``*`` alone is everything, as in Opendatasoft's search boxes (its v1 search engine
    read it as a match-all), not a search for a word that no text holds; so are Lucene's
    match-all forms, ``*:*`` and ``**``, on which Opendatasoft's search is built."""
    if q is not None and _MATCH_ALL.fullmatch(q.strip()):
        return [], None
    condition = v1_where(q, fields, geo_name)
    return ([condition], None) if condition is not None else ([], q and _plain(q))


def _plain(q: str) -> str:
    """A ``q`` of words and phrases only as ``api.text_search`` reads it, which takes a ``"…"``'s
    text as it stands: each phrase's escapes read, as :func:`v1_where` reads them beside syntax,
    a quote it holds punctuation. Passed raw, ``"pa\\*"`` was the whole word pa alone and the
    prefix pa* beside a field query or an ``OR``."""
    return "".join('"' + _unquoted(m.group(0)).replace('"', " ") + '"' if kind == "phrase" else m.group(0)
                   for kind, m in map(_token, _TOKENS.finditer(q)))


def checked(fields: list[Field], parameter: str, **clause) -> None:
    """A clause of v1 (``where=[…]`` from ``q``, ``order_by`` from ``sort``, ``select`` from
    ``fields``) compiled alone over ``fields``: an ``ODSQLError`` naming ``parameter`` as its
    clause if the compiler refuses it. Compiled with the call's other clauses, it was an error of
    ``where``, ``order_by`` or ``select``, which no v1 caller wrote (``q=annee>abc``: "not a
    number"; ``sort=nope``: an unknown field). Run only once the call's own compile failed
    (``api.params.on_refusal``): compiling each clause twice cost ~0.3–0.6 ms a call. Dates read
    in UTC here: the call's own compile reads them in its ``timezone``."""
    try:
        odsql.compile_plan(odsql.Query(**clause), fields)
    except odsql.ODSQLError as error:
        raise ApiError(400, "ODSQLError", odsql.ODSQLError(error.detail, parameter).message) from None


def joined_q(values: list[str]) -> str | None:
    """Repeated ``q`` parameters as one ``q``, ANDed: ods-widgets send one per filter of a
    context (the search box, a time range, a calendar's bounds…), and Opendatasoft ANDs them."""
    given = [v for v in values if v and v.strip()]
    if len(given) <= 1:
        return given[0] if given else None
    return " AND ".join(f"({v})" for v in given)
