"""Query parameters of the API routes, declared once: read from the query string and described
in the OpenAPI document from the same table; ``query_route`` registers a handler with its table.

Why not FastAPI's own parameter parsing: it validates each declared parameter through pydantic
at every call, ~1 ms for the 12 parameters of ``/records`` on this project's machine, as much as
the engine takes to count 2 M rows, and issue #3 bounds an API call at the raw query + 2 ms.
Reading a ``QueryParams`` multidict against a small table costs a few microseconds. Errors keep
the Opendatasoft shape of ``api.errors``: 400 ``InvalidRESTParameterError`` naming the parameter.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl
from dataclasses import dataclass, replace
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.datastructures import QueryParams

from portail.api.deps import caller, in_worker
from portail.api.errors import ApiError, invalid_parameter
from portail.api.serialize import json_response
from portail.odsql.literals import LANGUAGES, language, zone

#: What pydantic (hence FastAPI) accepts as a boolean in a query string, case-insensitive.
TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
_INTEGER = re.compile(r"[+-]?\d+")
_PATH_PARAMETER = re.compile(r"{(\w+)}")


@dataclass(frozen=True)
class Param:
    """One query parameter: ``kind`` is ``str``, ``int`` or ``bool``; ``many`` for a repeated
    one (``refine=a&refine=b``, read as a list); ``choices`` for a closed set of strings, which
    ``parse`` may read more loosely (a ``ValueError`` for a value it refuses)."""

    name: str
    kind: type = str
    default: Any = None
    many: bool = False
    choices: tuple[str, ...] = ()
    description: str | None = None
    required: bool = False
    parse: Callable[[str], Any] | None = None


def _invalid(name: str, value: str, expected: str) -> ApiError:
    return invalid_parameter(f"Invalid value for {name} API parameter: {value!r} was found but {expected} is expected.")


def _value(param: Param, text: str) -> Any:
    if param.kind is int:
        if _INTEGER.fullmatch(text.strip()) is None:
            raise _invalid(param.name, text, "an integer")
        return int(text)
    if param.kind is bool:
        folded = text.strip().lower()
        if folded in TRUE or folded in FALSE:
            return folded in TRUE
        raise _invalid(param.name, text, "true or false")
    if param.parse is not None:
        try:
            return param.parse(text)
        except ValueError as error:
            if not param.choices:
                raise invalid_parameter(f"Invalid value for {param.name} API parameter: {error}") from None
            raise _invalid(param.name, text, "one of " + ", ".join(repr(c) for c in param.choices)) from None
    if param.choices and text not in param.choices:
        raise _invalid(param.name, text, "one of " + ", ".join(repr(c) for c in param.choices))
    return text


def timezone_name(text: str) -> str:
    """The ``timezone`` parameter: a known zone's name, or UTC when sent empty, as clients
    with an unset option send it (``timezone=``); ``ValueError`` for an unknown zone."""
    if not text.strip():
        return "UTC"
    zone(text)
    return text


#: ``timezone`` and ``lang`` as every route reads them: one check, so an unknown zone or
#: language is the same 400 wherever it is sent, and an empty zone the same UTC.
TIMEZONE = Param("timezone", default="UTC", parse=timezone_name)
LANG = Param("lang", default="fr", choices=LANGUAGES, parse=language)


def defaulting(params: tuple[Param, ...], name: str, default: Any) -> tuple[Param, ...]:
    """A parameter table with ``name``'s default changed (an older API's, e.g. v2.0's files
    without a BOM)."""
    return tuple(replace(p, default=default) if p.name == name else p for p in params)


def read(query: QueryParams, params: tuple[Param, ...]) -> dict[str, Any]:
    """The declared parameters' values (defaults for the absent ones; the last of a repeated
    single-valued one, as FastAPI did); undeclared parameters are ignored, as Opendatasoft does."""
    values: dict[str, Any] = {}
    for param in params:
        if param.many:
            values[param.name] = [_value(param, text) for text in query.getlist(param.name)]
        else:
            text = query.get(param.name)
            if text is None and param.required:
                raise invalid_parameter(f"Missing value for {param.name} API parameter: it is required.")
            values[param.name] = param.default if text is None else _value(param, text)
    return values


def _schema(param: Param) -> dict[str, Any]:
    scalar: dict[str, Any] = {"type": {str: "string", int: "integer", bool: "boolean"}[param.kind]}
    if param.choices:
        scalar["enum"] = list(param.choices)
    if param.many:
        return {"type": "array", "items": scalar, "default": []}
    if param.default is not None:
        scalar["default"] = param.default
    return scalar


def openapi_parameters(path: str, params: tuple[Param, ...]) -> list[dict[str, Any]]:
    """The OpenAPI ``parameters`` of a route: its path parameters, then the query table."""
    described = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                 for name in _PATH_PARAMETER.findall(path)]
    for param in params:
        item: dict[str, Any] = {"name": param.name, "in": "query", "required": param.required, "schema": _schema(param)}
        if param.many:
            item.update(style="form", explode=True)
        if param.description:
            item["description"] = param.description
        described.append(item)
    return described


async def request_params(request: Request) -> QueryParams:
    """The parameters of a request: its query string, then for a POST its URL-encoded form
    fields (v1 clients post the same parameters they would put in the URL)."""
    if request.method != "POST":
        return request.query_params
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return request.query_params
    form = parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    return QueryParams([*request.query_params.multi_items(), *form])


def params_of(request: Request) -> QueryParams:
    """What ``query_route`` read the handler's parameters from (form fields of a POST included):
    for handlers that read parameters by prefix, such as v1's ``refine.<field>``."""
    return getattr(request.state, "params", None) or request.query_params


def answered(handler: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Response:
    """``handler``'s answer as a response, a plain body (a dict, a list) written here, in the
    worker thread the handler ran in: returned as is, FastAPI would walk it with
    ``jsonable_encoder`` and dump it on the event loop, where a 6 MB geopolygon answer held every
    other request (``/api/health`` included) for 2 s."""
    answer = handler(*args, **kwargs)
    return answer if isinstance(answer, Response) else json_response(answer)


def on_refusal(request: Request, check: Callable[[], None]) -> None:
    """Keep ``check`` for this call: should the compiler refuse its query (``ODSQLError``), the
    kept checks run in turn and the first refusal among them is the answer. v1 keeps one per
    parameter it turns into a clause (``q`` into ``where``, ``sort`` into ``order_by``, ``fields``
    into ``select``), so a refusal names what the caller sent, at no cost to calls that compile."""
    checks = getattr(request.state, "refusal_checks", None)
    if checks is None:
        checks = request.state.refusal_checks = []
    checks.append(check)


def _answered_naming(handler: Callable[..., Any], request: Request, /, *args: Any, **kwargs: Any) -> Response:
    """``answered``, a refusal of the compiler named by the kept checks (``on_refusal``): in the
    worker thread, as compiling a long refused ``q`` again costs what its first compile did
    (~0.1 s for a thousand conditions), which the event loop must not hold."""
    try:
        return answered(handler, request, *args, **kwargs)
    except ApiError as error:
        named = _named(request, error)
        if named is error:
            raise
        raise named from None


def _named(request: Request, error: ApiError) -> ApiError:
    if error.error_code == "ODSQLError":
        for check in getattr(request.state, "refusal_checks", ()):
            try:
                check()
            except ApiError as named:
                return named
    return error


def query_route(router: APIRouter, path: str, params: tuple[Param, ...] = (), *, post: bool = False, **kwargs: Any):
    """Register ``handler(request, principal, **path_parameters, **query_parameters)`` as a GET
    route for ``path``, and without (or with) its trailing slash, as real clients send both: its
    query parameters read from ``params``, run in a worker thread (it reads the catalogue and the
    engine), its answer written there too (``answered``). The caller comes from ``deps.caller``,
    the one way to get it. ``post``: the route answers POST too, reading form fields as parameters
    (read-only routes only: ``api.guard`` lets a POST without CSRF token through to them as an
    anonymous caller: ``api.v1.READ_BY_POST``)."""
    methods = ["GET", "POST"] if post else ["GET"]

    def decorator(handler: Callable) -> Callable:
        async def endpoint(request: Request):
            principal = await caller(request)
            query = await request_params(request)
            request.state.params = query
            values = read(query, params)
            return await in_worker(_answered_naming, handler, request, principal, watched=request,
                                   **request.path_params, **values)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        extra = {"parameters": openapi_parameters(path, params)}
        for method in methods:  # a route each: one route with two methods gives both one operationId
            router.add_api_route(path, endpoint, methods=[method], openapi_extra=extra, **kwargs)
        other = path[:-1] if path.endswith("/") else path + "/"
        router.add_api_route(other, endpoint, methods=methods, include_in_schema=False)
        return handler

    return decorator
