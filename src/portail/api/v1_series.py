"""v1's analytical series, ``y.<serie>.func`` and ``y.<serie>.expr``, as ODSQL aggregates.

The v1 APIs that aggregate (geocluster, analyze) name each series freely and give its function
(``COUNT``, ``AVG``, ``SUM``, ``MIN``, ``MAX``, ``STDDEV``, ``SUMSQUARES``) and the expression it
aggregates: a numeric field or arithmetic over fields and numbers (``sqrt(population)*2`` in
Opendatasoft's documentation). The expression is rebuilt token by token: numbers as written,
names as backquoted field names (the compiler then resolves them against the caller's fields, so
a hidden field reads as one that does not exist), operators, parentheses, and the documented
functions as the ODSQL functions that compute them (``sin``, ``sqrt``, ``log`` as ``ln``…: null
where Java gave NaN or an infinity); nothing else of the request reaches the query.
Series names never do either: the aggregates carry positional aliases.

``STDDEV`` has no ODSQL aggregate: it is the population standard deviation (as Elasticsearch's
``extended_stats``, which Opendatasoft's v1 ran on) computed from the means of the values and of
their squares.

``QUANTILES`` is no documented function, but ods-widgets' charts send it (their "Percentile"):
the percentiles ``y.<serie>.subsets`` names (``50`` by default, or several: ``25,75``) of the
expression, as an object keyed by percentile written as a decimal (``{"50.0": 12.5}``), which is
how the charts read it back. Only analyze takes it (``read_series(functions=…)``): the map's
geocluster wants one number per series.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams

from portail.api.errors import invalid_parameter
from portail.odsql.ast import format_number, quote_name

FUNCTIONS = ("COUNT", "AVG", "SUM", "MIN", "MAX", "STDDEV", "SUMSQUARES")
QUANTILES = "QUANTILES"
#: v1's expression functions (Java's ``Math``, names case-insensitive) and the ODSQL function
#: each is; the rest of the documented list (``time``, ``random``, ``ulp``, ``IEEEremainder``) is
#: refused by name. ``max``/``min`` of two numbers are ODSQL's ``greatest``/``least`` (ODSQL's
#: ``max``/``min`` aggregate). Java's ``round`` is ``floor(x + 0.5)`` (``-2.5`` → ``-2``), which
#: ``_CLOSING`` completes; ODSQL's ``round`` would take halves away from zero.
_CALLABLE = {**{name: name for name in ("abs", "floor", "ceil", "round", "sqrt", "cbrt", "pow", "exp", "log10", "sin",
                                        "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "rint",
                                        "hypot")},
             "log": "ln", "todegrees": "degrees", "toradians": "radians", "signum": "sign", "max": "greatest",
             "min": "least", "round": "floor"}
#: What a call's closing parenthesis is preceded by, per v1 name (``round(x)``: ``floor(x + 0.5)``).
_CLOSING = {"round": ["+", "0.5"]}
_TOKEN = re.compile(r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_]\w*)|(?P<op>[-+*/(),]))")


@dataclass(frozen=True)
class Serie:
    """One requested series: its name as the client gave it, its function, its expression as
    ODSQL (None for ``COUNT``)."""

    name: str
    func: str
    expr: str | None
    subsets: tuple[float, ...] = ()  # QUANTILES' percentiles


def odsql_number(value: float) -> str:
    """A finite number as ODSQL text (``ast.format_number``), an integral one as an integer
    (``2``, not ``2.0``: an INT to the compiler, as the client wrote it)."""
    if not math.isfinite(value):
        raise ValueError(value)
    return format_number(int(value) if value.is_integer() else value)


def odsql_expression(text: str, parameter: str) -> str:
    """A v1 series expression as ODSQL text; a 400 naming ``parameter`` for anything else."""
    def refuse(detail: str) -> Exception:
        return invalid_parameter(f"Invalid value for {parameter} API parameter: {text!r} was found but {detail}.")

    out: list[str] = []
    calls: list[list[str] | None] = []  # per open parenthesis: None, or a call's (what its ")" follows)
    called: list[str] | None = None  # the call whose "(" comes next
    position, end = 0, len(text.rstrip())
    while position < end:
        match = _TOKEN.match(text, position)
        if match is None:
            raise refuse("an arithmetic expression over numeric fields is expected")
        position = match.end()
        if match["number"]:
            try:
                out.append(odsql_number(float(match["number"])))
            except ValueError:
                raise refuse("finite numbers are expected") from None
        elif match["name"]:
            following = _TOKEN.match(text, position)
            if following is not None and following["op"] == "(":
                if match["name"].lower() not in _CALLABLE:
                    raise refuse(f"{match['name']}() is not available; the functions are {', '.join(sorted(_CALLABLE))}")
                out.append(_CALLABLE[match["name"].lower()])
                called = _CLOSING.get(match["name"].lower(), [])
            else:
                out.append(quote_name(match["name"]))
        else:
            op = match["op"]
            if op == "(":
                calls.append(called)
                called = None
            elif op == ")":
                if not calls:
                    raise refuse("balanced parentheses are expected")
                closing = calls.pop() or []
                if closing and out[-1] == "(":  # round(): completed, it would read "floor(+ 0.5)"
                    raise refuse("round() takes one argument")
                out.extend(closing)
            elif op == "," and calls and calls[-1]:  # a completed call (round) takes one argument, as Java's
                raise refuse("round() takes one argument")
            elif op == "," and not (calls and calls[-1] is not None):
                raise refuse("commas only between a function's arguments are expected")
            out.append(op)
    if calls or not out:
        raise refuse("a complete expression is expected")
    return " ".join(out)


def _subsets(text: str | None, name: str) -> tuple[float, ...]:
    """The percentiles of ``y.<name>.subsets``: numbers from 0 to 100, comma-separated."""
    try:
        subsets = tuple(float(part) for part in (text or "50").split(","))
    except ValueError:
        subsets = ()
    if not subsets or not all(0 <= p <= 100 for p in subsets):
        raise invalid_parameter(f"Invalid value for y.{name}.subsets API parameter: {text!r} was found but "
                                "comma-separated percentiles from 0 to 100 are expected.")
    return tuple(dict.fromkeys(subsets))


def read_series(params: QueryParams, functions: tuple[str, ...] = FUNCTIONS) -> list[Serie]:
    """The ``y.<serie>.func``/``y.<serie>.expr`` pairs of a request, in the order they come."""
    given: dict[str, dict[str, str]] = {}
    for key, value in params.multi_items():
        if key.startswith("y.") and key.count(".") >= 2:
            name, attribute = key[2:].rsplit(".", 1)
            if attribute in ("func", "expr", "subsets") and name:
                given.setdefault(name, {})[attribute] = value
    series = []
    for name, parts in given.items():
        func = parts.get("func", "").strip().upper()
        if "func" not in parts:
            raise invalid_parameter(f"Missing value for y.{name}.func API parameter: it is required with y.{name}.expr.")
        if func not in functions:
            raise invalid_parameter(f"Invalid value for y.{name}.func API parameter: {parts['func']!r} was found but "
                                    f"one of {', '.join(functions)} is expected.")
        expr = parts.get("expr", "").strip()
        if func != "COUNT" and not expr:
            raise invalid_parameter(f"Missing value for y.{name}.expr API parameter: {func} aggregates an expression.")
        subsets = _subsets(parts.get("subsets"), name) if func == QUANTILES else ()
        series.append(Serie(name, func, None if func == "COUNT" else odsql_expression(expr, f"y.{name}.expr"), subsets))
    return series


def _percentile_key(p: float) -> str:
    """A percentile as the charts look it up: ``50.0``."""
    return repr(float(p))


def select_items(serie: Serie, alias: str) -> list[str]:
    """The ODSQL select items that compute ``serie``, named ``alias`` (STDDEV adds ``alias``_sq,
    QUANTILES names each percentile ``alias``_p<i>)."""
    x = f"({serie.expr})"
    if serie.func == QUANTILES:
        return [f"percentile({x}, {odsql_number(p)}) as {alias}_p{i}" for i, p in enumerate(serie.subsets)]
    items = {"COUNT": ["count(*)"], "AVG": [f"avg{x}"], "SUM": [f"sum{x}"], "MIN": [f"min{x}"], "MAX": [f"max{x}"],
             "SUMSQUARES": [f"sum({x} * {x})"], "STDDEV": [f"avg{x}", f"avg({x} * {x})"]}[serie.func]
    return [f"{item} as {alias}" if i == 0 else f"{item} as {alias}_sq" for i, item in enumerate(items)]


def serie_value(serie: Serie, row: dict[str, Any], alias: str) -> Any:
    """The value of ``serie`` in a result row of ``select_items``."""
    if serie.func == QUANTILES:
        return {_percentile_key(p): row.get(f"{alias}_p{i}") for i, p in enumerate(serie.subsets)}
    value = row.get(alias)
    if serie.func != "STDDEV" or value is None:
        return value
    squares = row.get(f"{alias}_sq")
    return None if squares is None else math.sqrt(max(0.0, squares - value * value))
