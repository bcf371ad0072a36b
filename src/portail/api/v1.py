"""The v1 search API (deprecated by Opendatasoft, still used by older apps and widgets):
``/api/records/1.0/search/``, ``/api/records/1.0/download/``, ``/api/datasets/1.0/search/``,
``/api/datasets/1.0/<id>/``, ``/api/datasets/1.0/<id>/records/<recordid>``, the dataset pages'
legacy download link ``/explore/dataset/<id>/download/`` (odsclient's way in) and an empty
``/api/reuses/``; the map's ``/api/records/1.0/geocluster/``, ``…/geopreview/``,
``…/boundingbox/`` and ``…/geopolygon/`` (``api.v1_geo``); the charts'
``/api/records/1.0/analyze/`` (``api.v1_analysis``).

Built on the same services as v2.1 (refinements, facets, record ids, text search); only the
response shapes differ (``nhits``, ``records[].fields``, ``facet_groups``, points as ``[lat, lon]``).

The record search answers the formats Opendatasoft's v1 documentation lists for it: ``json``,
``jsonp``, ``geojson``, ``geojsonp``, ``rss`` and ``atom`` (the JSON answer's records as a feed,
``api.v1_feeds``), and ``csv`` (its page as the download writes it: the download's query with
the search's ``rows``/``start`` window, its writer and conventions, ``;`` or ``csv_separator``,
a BOM, ``use_labels_for_header``).

Every records route (search, download, analyze and the map's) reads the geofilters
(``geofilter.distance``/``polygon``/``bbox``, a bbox's longitudes read around the globe), ``q``'s
``#distance``/``#polygon`` and ``geo_digest`` on one geo field: the one ``geo_field`` names on a dataset with several, else
the first point, else the first shape (``v1_query.geo_field_of``); a bare ``geo_digest`` without
``geo_field`` matches a shape held by any of them.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute

from portail.api.catalog_exports import CSV_COLUMNS, catalog_info, rss_response, table_response
from portail.api.catalog_search import catalog_facets, catalog_where, search_catalog
from portail.api.deps import dataset_url, in_worker, portal_url, public_url
from portail.api.streaming import ClosingStreamingResponse
from portail.api.errors import invalid_parameter
from portail.api.explore import attachment_file
from portail.api.explore_service import (check_records_access, dataset_facets, export_batches, get_record,
                                         get_visible_dataset, query_records, visible_datasets)
from portail.api.facets import SORTS, Given, exact
from portail.api.params import TIMEZONE, TRUE, Param, on_refusal, params_of, query_route
from portail.api.serialize import dataset_json
from portail.api.text_search import words_checked
from portail.api.v1_feeds import FEEDS, records_feed
from portail.api.v1_query import (check_latitudes, checked, distance_condition, geo_field_of, joined_q,
                                  parsed_numbers, polygon_condition, q_conditions)
from portail.api.v1_series import Serie, odsql_number, select_items
from portail.auth import ANONYMOUS
from portail.auth.principal import has_credentials
from portail.exports import FORMATS, LEGACY_NAMES, ExportOptions
from portail.exports.formats import closing, plain_numbers
from portail.exports.waypoints import geometry_field
from portail.odsql import RECORD_ID
from portail.odsql.ast import quote_name, quote_string
from portail.odsql.literals import zone
from portail.schema import GEO_TYPES, Field, FieldType, fields_from_json
from portail.values import record_value

MAX_WINDOW = 10_000
#: The v1 routes, all read-only, which v1 clients may POST to (form fields as parameters), under
#: any portal's prefix. ``api.guard`` runs a POST to them that carries no valid CSRF token as an
#: anonymous caller instead of refusing it: a forged form then reads only what anyone may read,
#: and changes nothing.
READ_BY_POST = re.compile(r"(?:^|/)api/(?:records/1\.0/(?:search|download|analyze|geocluster|geopreview|boundingbox|geopolygon)|datasets/1\.0/(?:search|[^/]+|[^/]+/records/[^/]+))/?$")
#: v1's ``q``, repeated as ods-widgets send it (one per filter of a context), and their ``q.<name>``
#: beside it: ANDed (``_query``).
Q = Param("q", many=True)
PAGE = (Param("rows", int, 10), Param("start", int, 0))
#: v1's ``sort`` on records, repeatable: ``sort=a&sort=-b`` orders by ``a``, then ``b`` among equal
#: ``a`` (``_order_by``). Opendatasoft's documentation speaks of one field; a repeated parameter
#: kept only its last value here, which no caller can have meant.
SORT = Param("sort", many=True)
#: v1's ``csv_separator``: "any ASCII character", its documentation says; here the tab and the
#: punctuation that no unquoted cell holds (numbers, dates and instants are written bare, with
#: ``.-+:``; the quote is CSV's own).
SEPARATORS = ("\t", *(c for c in string.punctuation if c not in '".-+:'))
#: The CSV options of v1's download, which the record search's CSV page takes too.
CSV_OPTIONS = (Param("csv_separator", default=";", choices=SEPARATORS), Param("use_labels_for_header", bool, False))
#: ``refine.<field>`` and ``exclude.<field>`` are read by prefix (``_prefixed``), ``facet`` repeated;
#: a page as JSON, GeoJSON, those two as JSONP, an RSS or Atom feed, or CSV (with the download's
#: ``CSV_OPTIONS``).
SEARCH = (Param("dataset", required=True), Q, *PAGE, SORT, Param("fields"), TIMEZONE,
          Param("facet", many=True),
          Param("format", default="json", choices=("json", "jsonp", "geojson", "geojsonp", *FEEDS, "csv")),
          Param("callback"),
          *CSV_OPTIONS)
#: v1's catalogue search: v2.1's catalogue fields (``theme``, ``keyword``, ``publisher``,
#: ``modified``…) for ``refine.<field>``, ``exclude.<field>``, ``facet`` and ``sort``; its page
#: as JSON, JSONP (``callback``), CSV or RSS.
DATASETS = (Q, *PAGE, Param("sort"), Param("facet", many=True), TIMEZONE,
            Param("format", default="json", choices=("json", "jsonp", "csv", "rss")), Param("callback"))
#: v1's download: every matching record (no window), as CSV (its default), JSON (v1 records) or
#: GeoJSON, those two also as JSONP; the search's filters, ``csv_separator`` and
#: ``use_labels_for_header``. ``rows`` (-1, the default: all) and ``start`` cut it as they cut the
#: search's page: ods-widgets' raw map layer (``MapRenderingRaw.render``) and map tooltip
#: (``refresh``) download ``rows=1000`` and read ``data.length >= rows`` as "there is more".
DOWNLOAD = (Param("dataset", required=True), Q, Param("rows", int, -1), Param("start", int, 0), SORT,
            Param("fields"), TIMEZONE,
            Param("format", default="csv", choices=("csv", "json", "jsonp", "geojson", "geojsonp")), Param("callback"),
            *CSV_OPTIONS)
#: v1's lookups (a dataset, a record): JSON, or JSONP through ``callback`` as every v1 route.
LOOKUP = (Param("format", default="json", choices=("json", "jsonp")), Param("callback"))
#: What a lookup answers, for the OpenAPI description.
LOOKED_UP = {200: {"content": {media: {"schema": {}} for media in ("application/json", "application/javascript")}}}
#: The padded formats: JSON or GeoJSON inside a callback.
_JSONP = ("jsonp", "geojsonp")
#: The dataset pages' legacy download link (``/explore/dataset/<id>/download/``): v1's download,
#: and every export format besides, as Opendatasoft's pages linked them: data.gouv.fr's harvesters
#: publish its ``format=shp`` as the Shapefile of every geo dataset they copy (``xls`` is the
#: XLSX file, as on v2.0).
LEGACY_DOWNLOAD = tuple(
    Param("format", default="csv", choices=tuple(dict.fromkeys(("csv", "json", "jsonp", "geojson", "geojsonp",
                                                               *FORMATS, "xls")))) if p.name == "format" else p
    for p in DOWNLOAD[1:])
#: What a download answers, for the OpenAPI description; the page's link, any export's file too.
DOWNLOADED = {200: {"content": {media: {"schema": {}} for media in
                                ("text/csv", "application/json", "application/geo+json", "application/javascript")}}}
PAGE_DOWNLOADED = {200: {"content": {**DOWNLOADED[200]["content"],
                                     **{fmt.media_type: {"schema": {}} for fmt in FORMATS.values()}}}}
#: A JSONP callback: a JavaScript name or dotted path, nothing a page could run as code.
_CALLBACK = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*")


def _given(request: Request, prefix: str) -> list[tuple[str, str]]:
    """``refine.<field>=<value>`` parameters (``prefix`` ``refine.`` or ``exclude.``) as the
    ``(field, value)`` pairs sent, ``recordid`` aside (``_record_ids``): what ``_prefixed``
    filters by, and what the ``parameters`` echo writes back unchanged."""
    return [(key[len(prefix):], value) for key, value in params_of(request).multi_items()
            if key.startswith(prefix) and key != prefix + RECORD_ID]


def _prefixed(request: Request, prefix: str) -> list[str]:
    """``refine.<field>=<value>`` parameters (``_given``) as v2.1's ``field:value``, each
    carrying its parameter (``Given``), which a refusal of it names (``refine.annee``, not
    v2.1's ``refine``, which the caller did not send)."""
    return [Given(exact(name, value), prefix + name) for name, value in _given(request, prefix)]


def _record_ids(request: Request) -> list[str]:
    """``refine.recordid=<id>`` (one record: an Opendatasoft Paris app fetches its articles so)
    and ``exclude.recordid=<id>`` as ODSQL conditions on ``recordid``: the technical field, or a
    dataset's own field of that name, which ODSQL resolves first."""
    params = params_of(request)
    refined = params.getlist(f"refine.{RECORD_ID}")
    excluded = params.getlist(f"exclude.{RECORD_ID}")
    conditions = [f"{RECORD_ID} in ({', '.join(quote_string(v.strip()) for v in refined)})"] if refined else []
    return conditions + [f"{RECORD_ID} != {quote_string(v.strip())}" for v in excluded]


def _disjunctive(request: Request) -> tuple[str, ...]:
    """The fields of ``disjunctive.<field>=true``: their refined values are ORed (v2.1's
    ``facet(name=…, disjunctive=true)``, as the widgets translate it)."""
    prefix = "disjunctive."
    return tuple(key[len(prefix):] for key, value in params_of(request).multi_items()
                 if key.startswith(prefix) and value.strip().lower() == "true")


def _geofilters(request: Request, fields: list[Field], *, elsewhere: bool = False) -> list[str]:
    """``geofilter.*`` (``geofilter_conditions``) on the call's geo field (``geo_field_of``:
    ``geo_field``'s, else the dataset's first), and the ``geo_digest`` ones. ``elsewhere``: the
    geofilters apply to another dataset's geometries, not to these fields (v1 analyze's join,
    on a dataset without a geo field: ``v1_join``), and are left out here."""
    params = params_of(request)
    named = params.get("geo_field")
    named = named if named and named.strip() else None
    geo = geo_field_of(fields, named)  # a bad geo_field is a 400 whatever else the call asks
    digests = _digests(params, fields, geo if named else None)
    if elsewhere or not geofiltered(params):
        return digests
    if geo is None:
        raise invalid_parameter("This dataset has no geo field: geofilter parameters cannot apply.")
    return geofilter_conditions(params, quote_name(geo.name)) + digests


def geofiltered(params) -> bool:
    """Whether a call gives any of ``geofilter.distance``, ``.polygon`` or ``.bbox``."""
    return any(params.get(f"geofilter.{name}") is not None for name in ("distance", "polygon", "bbox"))


def geofilter_conditions(params, column: str) -> list[str]:
    """``geofilter.distance=lat,lon,metres`` (``lat,lon`` alone: within a metre, the points stacked
    there, which ods-widgets' map asks for a clicked marker), ``geofilter.polygon=(lat,lon),…`` and
    ``geofilter.bbox=lat1,lon1,lat2,lon2`` (which ods-widgets' map sends with its view's bounds)
    as ODSQL conditions on ``column`` (a quoted geo field name), built from the numbers they parse
    to (``v1_query``, which ``q``'s ``#distance``/``#polygon`` share): no text of the request
    reaches the query."""
    distance, polygon, bbox = (params.get(f"geofilter.{name}") for name in ("distance", "polygon", "bbox"))
    conditions = []
    if distance is not None:  # lat,lon alone: the records at that point (ods-widgets' click on a marker)
        conditions.append(distance_condition(column, distance if distance.count(",") != 1 else distance + ",1",
                                             "geofilter.distance"))
    if polygon is not None:
        conditions.append(polygon_condition(column, polygon, "geofilter.polygon"))
    if bbox is not None:
        corners = parsed_numbers(bbox, "geofilter.bbox", 4)
        check_latitudes(corners[::2], bbox, "geofilter.bbox")
        conditions.append(_bbox_condition(column, corners))
    return conditions


def _bbox_condition(column: str, corners: list[float]) -> str:
    """``in_bbox`` of two opposite corners ``lat1, lon1, lat2, lon2`` (in either order, as
    Leaflet's bounds give them), its longitudes read around the globe: a map panned across the
    antimeridian sends its view's bounds as Leaflet keeps them, past 180° (170 to 190: 170 to
    180 and -180 to -170), and a map zoomed out wider than the world, more than 360° of them."""
    lat1, lon1, lat2, lon2 = corners
    west, east = min(lon1, lon2), max(lon1, lon2)
    if east - west >= 360:
        west, east = -180.0, 180.0
    elif west < -180 or east > 180:
        turns = math.floor((west + 180) / 360)
        west, east = west - 360 * turns, east - 360 * turns  # west in [-180, 180)
    boxes = [(west, min(east, 180.0))] + ([(-180.0, east - 360)] if east > 180 else [])
    tests = [f"in_bbox({column}, {odsql_number(lat1)}, {odsql_number(w)}, {odsql_number(lat2)}, {odsql_number(e)})"
             for w, e in boxes]
    return tests[0] if len(tests) == 1 else f"({' or '.join(tests)})"


_DIGEST = re.compile(r"[0-9a-f]{32}")


def _digests(params, fields: list[Field], named: Field | None) -> list[str]:
    """``geo_digest=<id>`` and ``geo_digest.<field>=<id>``: the records of the shape geopolygon
    named so (ODSQL's ``geo_digest()``), which ods-widgets ask for when a shape of an aggregation
    or choropleth layer is clicked: ``geo_digest.<field>`` to refine another context, a bare
    ``geo_digest`` (with the context's parameters only, no ``geo_field``) for the tooltip. So a
    bare one reads the field ``geo_field`` names if the call names one (``named``), else every
    geo field of the dataset: a choropleth of its second geo field finds the clicked shape's
    records there (a digest is a shape's own: another field holding it holds the same shape)."""
    conditions = []
    for key, value in params.multi_items():
        if key != "geo_digest" and not key.startswith("geo_digest."):
            continue
        name = key.partition(".")[2]
        if name:
            geos = [f for f in fields if f.name == name and f.type in GEO_TYPES]
        else:
            geos = [named] if named is not None else [f for f in fields if f.type in GEO_TYPES]
        if not geos or not _DIGEST.fullmatch(value.strip()):
            raise invalid_parameter(f"Invalid value for {key} API parameter: {value!r} was found but a shape's "
                                    "geo_digest (as geopolygon gives it) on a geo field is expected.")
        tests = [f"geo_digest({quote_name(g.name)}) = {quote_string(value.strip())}" for g in geos]
        conditions.append(tests[0] if len(tests) == 1 else f"({' or '.join(tests)})")
    return conditions


def _named_q(request: Request) -> list[tuple[str, str]]:
    """``q.<name>=<expression>`` (``q.timerange``, ``q.mapfilter``, ``q.geofilter``…): ods-widgets
    send one per filter of a context beside ``q``, each a ``q`` expression, and AND them with it
    (``APIParamsV1ToV2``); blank ones set nothing."""
    return [(key, value) for key, value in params_of(request).multi_items() if key.startswith("q.") and value.strip()]


def _query(request: Request, q: list[str]) -> str | None:
    """The ``q`` of a v1 call: its ``q`` parameters and its ``q.<name>`` ones (``_named_q``),
    ANDed (``joined_q``)."""
    return joined_q([*q, *(value for _, value in _named_q(request))])


def _conditions(request: Request, ds, q: str | None, *,
                geofilters_elsewhere: bool = False) -> tuple[list[str], str | None]:
    """The ODSQL conditions of a records call (geofilters, unless ``geofilters_elsewhere``
    (``_geofilters``), and ``q`` when it uses v1's query syntax) and what remains a plain
    full-text search, over the caller's visible fields."""
    fields = fields_from_json(ds.current.fields)  # the caller's copy: hidden fields are not in it
    conditions, text = q_conditions(q, fields, params_of(request).get("geo_field"))
    if conditions:
        on_refusal(request, partial(checked, fields, "q", where=conditions))
    if text is not None:
        on_refusal(request, partial(words_checked, text, "q"))
    return [*_geofilters(request, fields, elsewhere=geofilters_elsewhere), *_record_ids(request), *conditions], text


def _series_named(request: Request, ds, series: list[Serie]) -> None:
    """A refusal of a serie's expression names its ``y.<serie>.expr`` (``api.params.on_refusal``),
    not the ``select`` it becomes, over the caller's visible fields."""
    fields = fields_from_json(ds.current.fields)
    for serie in series:
        if serie.expr is not None:
            on_refusal(request, partial(checked, fields, f"y.{serie.name}.expr",
                                        select=", ".join(select_items(serie, "serie"))))


def _download_window(rows: int, start: int) -> dict[str, int]:
    """A download's ``rows``/``start`` as its export's ``limit``/``offset`` (``rows=-1``: every
    record, the download's default); a 400 naming them for any other negative value."""
    if rows < -1 or start < 0:
        raise invalid_parameter(f"Invalid value for rows/start: rows >= 0 (or -1 for every record) and start >= 0 "
                                f"are expected, rows={rows} and start={start} were found.")
    return {"limit": rows, "offset": start}


def _facetsorts(request: Request) -> dict[str, str]:
    """``facetsort.<field>=<order>``, as the v1 widgets send it beside ``disjunctive.<field>``."""
    prefix = "facetsort."
    orders = {key[len(prefix):]: value.strip() for key, value in params_of(request).multi_items() if key.startswith(prefix)}
    for name, order in orders.items():
        if order not in SORTS:
            raise invalid_parameter(f"Invalid value for facetsort.{name} API parameter: {order!r} was found but "
                                    f"one of {', '.join(SORTS)} is expected.")
    return orders


def _asked_facets(request: Request, facets: list[str], disjunctive: tuple[str, ...]) -> list[str]:
    """The facets a v1 call asks for, each with its per-field options (``disjunctive.``,
    ``facetsort.``) as a ``facet(…)`` call: the records' and the catalogue's searches alike.
    Each once: ``facet=x&facet=x`` (a widget's two controls on one field) gave two groups alike."""
    orders = _facetsorts(request)
    return [_facet_call(f, f in disjunctive, orders.get(f)) if f in disjunctive or f in orders else f
            for f in dict.fromkeys(facets)]


def _facet_call(name: str, disjunctive: bool, sort: str | None) -> str:
    """v1's per-field facet options as v2.1's ``facet(…)``, as the widgets translate them: a
    disjunctive field's facet lists its other values too."""
    escaped = name.replace('"', '\\"')
    return f'facet(name="{escaped}"' + (", disjunctive=true" if disjunctive else "") + (f', sort="{sort}")' if sort else ")")


def _script_caller(request: Request, principal):
    """Who a JSONP call runs as: any page can load it in a script tag, with the visitor's
    cookies, and read the answer, so a session does not count (an API key, which no page
    holds, does, and so does an OAuth2 token)."""
    return principal if has_credentials(request.headers, request.query_params) else ANONYMOUS


def _padding(request: Request, principal, format: str, callback: str | None) -> tuple[bool, Any]:
    """Whether a v1 answer is JSONP (``jsonp``/``geojsonp``, or a ``callback`` beside a JSON
    format), and who it is then read as (``_script_caller``); a bad callback fails before any work."""
    if format not in _JSONP and (callback is None or format not in ("json", "geojson")):
        return False, principal
    _padded({}, callback)
    return True, _script_caller(request, principal)


def _padded(body: Any, callback: str | None) -> Response:
    """JSONP: the body as the argument of ``callback``."""
    if callback is None or not _CALLBACK.fullmatch(callback):
        raise invalid_parameter(f"Invalid value for callback API parameter: {callback!r} was found but "
                                f"a JavaScript function name is expected.")
    # ASCII: U+2028 in a string breaks older JavaScript. Plain values written as they are, as
    # ``serialize.json_response`` does: walking the body with the encoder first is most of the time.
    payload = json.dumps(body, default=jsonable_encoder)
    return Response(f"/**/{callback}({payload});", media_type="application/javascript",
                    headers={"X-Content-Type-Options": "nosniff"})


def _streamed_padding(chunks: Iterator[bytes], callback: str) -> Iterator[bytes]:
    """A streamed JSON body as JSONP (``_padded`` for a download): U+2028 and U+2029, valid in
    JSON strings but line ends to older JavaScript, escaped (they can only be inside strings)."""
    yield f"/**/{callback}(".encode()
    for chunk in chunks:
        yield chunk.replace("\u2028".encode(), b"\\u2028").replace("\u2029".encode(), b"\\u2029")
    yield b");"


def _echo(given: Iterable[Sequence[str]]) -> dict[str, Any]:
    """``(name, value)`` pairs (``refine``/``exclude``'s fields, ``q.<name>``) as the parameters
    echo writes them: a name's value, or its values when it is repeated."""
    values: dict[str, list[str]] = {}
    for name, value in given:
        values.setdefault(name, []).append(value)
    return {name: found[0] if len(found) == 1 else found for name, found in values.items()}


def _parameters(request: Request, base: dict[str, Any], *, q: list[str], facet: list[str] | None,
                sort: str | Sequence[str] | None, disjunctive: tuple[str, ...] = ()) -> dict[str, Any]:
    """The ``parameters`` echo of a v1 search (records and catalogue alike): ``base`` and what
    the call gave of the rest; ``q.<name>`` as given, beside ``q`` (Opendatasoft documents no
    echo of them); ``refine.<field>``/``exclude.<field>`` values as sent (``_given``: the
    quoted ``field:"B "`` they are read as echoed ``"B "``); ``disjunctive.<field>=true`` as
    ``{"disjunctive": {field: true}}``."""
    parameters = dict(base)
    given_q = joined_q(q)
    if given_q:
        parameters["q"] = given_q
    parameters.update(_echo(_named_q(request)))
    if facet:
        parameters["facet"] = facet
    for name in ("refine", "exclude"):
        if given := _given(request, f"{name}."):
            parameters[name] = _echo(given)
    if given_sort := [key for key in _sort_keys(sort) if key]:
        parameters["sort"] = given_sort  # each key as given, in order
    if disjunctive:
        parameters["disjunctive"] = {f: True for f in disjunctive}
    for name in ("distance", "polygon", "bbox"):  # as given, as Opendatasoft echoes them
        if given_filter := params_of(request).get(f"geofilter.{name}"):
            parameters[f"geofilter.{name}"] = given_filter
    return parameters


def _v1_facet(entry: dict[str, Any]) -> dict[str, Any]:
    """A v2.1 facet entry in v1's shape (``path`` for ``value``), with the levels below a refined
    date or hierarchical value, which widgets drill down through."""
    shaped = {"name": entry["name"], "path": entry["value"], **({"count": entry["count"]} if "count" in entry else {}),
              "state": entry["state"]}
    if "facets" in entry:
        shaped["facets"] = [_v1_facet(e) for e in entry["facets"]]
    return shaped


def _v1_value(field_type: str, value: Any) -> Any:
    """A field's value as v1 wrote it: a point as ``[lat, lon]``, a shape as its bare GeoJSON
    geometry (v2.1 wraps it in a Feature)."""
    if field_type == FieldType.GEO_POINT_2D and value is not None:
        return [value["lat"], value["lon"]]
    if field_type == FieldType.GEO_SHAPE and isinstance(value, dict) and value.get("type") == "Feature":
        return value.get("geometry")
    return value


def _processed(ds) -> datetime:
    """When the records were processed (their ``record_timestamp``), with its offset: the
    catalogue keeps UTC instants without one, which a strict ISO parser would read as local time."""
    moment = ds.data_processed or ds.modified
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _timestamp(ds) -> str:
    """A record's ``record_timestamp`` as v1 writes it (``_processed``)."""
    return _processed(ds).isoformat()


def _record_geometry(fields: list[Field]) -> Field | None:
    """The field a v1 record's ``geometry`` is drawn from: its first geo field."""
    return next((f for f in fields if f.type in GEO_TYPES), None)


def _fields_named(request: Request, fields: str | None, visible: list[Field]) -> str | None:
    """v1's ``fields`` (the search's and the download's), which a refusal of the ``select`` it
    becomes names (``api.params.on_refusal``)."""
    if fields and fields.strip():
        on_refusal(request, partial(checked, visible, "fields", select=fields))
    return fields


def _geometry_kept(fields: str | None, dataset_fields: list[Field], geo: Field | None) -> tuple[str | None, str | None]:
    """v1's ``fields`` as a select that keeps the records' geometry: ``geo``, the field it is
    drawn from, added when ``fields`` names no geo field; and the name of the field so added,
    which the records' ``fields`` (GeoJSON's properties) leave out. ``fields`` "restricts the
    fields to retrieve", Opendatasoft's records API says; a record's ``geometry`` (a feature's)
    is no field of it but its own member, which maps and GeoJSON files cannot do without."""
    if not fields or not fields.strip() or geo is None:
        return fields, None
    names = {name.strip().strip("`") for name in fields.split(",")}
    if any(f.name in names for f in dataset_fields if f.type in GEO_TYPES):
        return fields, None
    return f"{fields}, {quote_name(geo.name)}", geo.name


def _v1_record(ds, columns: list[Field], row: dict[str, Any], record_id: str,
               geometry_only: str | None = None, dist: bool = False) -> dict[str, Any]:
    """A record as v1 writes it (search and lookup alike): its non-null fields, and the geometry
    of its first geo field (``_record_geometry``); ``geometry_only`` names a column selected for
    the geometry alone (``_geometry_kept``), which ``fields`` leaves out; with ``dist``, the
    ``dist`` column is the distance ``_with_dist`` added, written as ``_dist_value``."""
    geo = _record_geometry(columns)
    record = {"datasetid": ds.slug, "recordid": record_id,
              "fields": {f.name: _v1_value(f.type, row[f.name]) for f in columns
                         if row.get(f.name) is not None and f.name != geometry_only},
              "record_timestamp": _timestamp(ds)}
    if dist and record["fields"].get(DIST) is not None:
        record["fields"][DIST] = _dist_value(record["fields"][DIST])
    if geo is not None and row.get(geo.name) is not None:
        value = row[geo.name]
        record["geometry"] = value["geometry"] if geo.type == FieldType.GEO_SHAPE else \
            {"type": "Point", "coordinates": [value["lon"], value["lat"]]}
    return record


def _v1_feature(record: dict[str, Any]) -> dict[str, Any]:
    """A v1 record as a GeoJSON feature, as v1's search and download write them: its geometry,
    its fields (points ``[lat, lon]``, shapes among them) as properties."""
    return {"type": "Feature", "geometry": record.get("geometry"), "properties": record["fields"]}


def _v1_records_json(ds, columns: list[Field], batches, timezone: str,
                     geometry_only: str | None = None, geojson: bool = False, dist: bool = False) -> Iterator[bytes]:
    """A JSON array of v1 records (``_v1_record``, ``geometry_only`` as there), written a batch at
    a time; each batch's last column is the record's id (``export_batches(record_ids=True)``).
    With ``geojson``, a FeatureCollection of them as v1's search writes its GeoJSON page (points
    ``[lat, lon]``, shapes among the properties): v2's writer shaped the download otherwise."""
    tz = zone(timezone)
    yield b'{"type": "FeatureCollection", "features": [' if geojson else b"["
    first = True
    for batch in batches:
        batch = plain_numbers(batch)  # as every export writes them: decimals and wide integers as numbers
        rows = zip(*(batch.column(i).to_pylist() for i in range(batch.num_columns)))
        parts = []
        for *values, record_id in rows:
            row = {f.name: record_value(f, v, tz) for f, v in zip(columns, values)}
            record = _v1_record(ds, columns, row, record_id, geometry_only, dist)
            if geojson:
                record = _v1_feature(record)
            parts.append(("" if first else ",") + json.dumps(record, ensure_ascii=False, default=str))
            first = False
        if parts:
            yield "".join(parts).encode()
    yield b"]}" if geojson else b"]"


def _sort_keys(sort: str | Sequence[str] | None) -> list[str]:
    """``sort`` as its list of keys: the records routes read it repeated (``SORT``), the
    catalogue's search as one value."""
    return [] if sort is None else [sort] if isinstance(sort, str) else list(sort)


def _order_by(sort: str | Sequence[str] | None, fields: list[Field] | None = None,
              dist: str | None = None, request: Request | None = None) -> str | None:
    """v1's ``sort`` as an ODSQL order_by: each key (``_sort_key``) in the order given, the first
    deciding and the next ones ordering its ties; blank keys set nothing. Records equal on every
    key keep the compiler's last tie-break (their row), so pages never overlap. With the records
    route's ``request``, a refusal of it names ``sort`` (``api.params.on_refusal``)."""
    keys = (_sort_key(one, fields, dist) for one in _sort_keys(sort))
    order_by = ", ".join(key for key in keys if key) or None
    if order_by is not None and request is not None:  # a records route's: a refusal names sort, not order_by
        on_refusal(request, partial(checked, fields, "sort", order_by=order_by))
    return order_by


def _sort_key(sort: str, fields: list[Field] | None = None, dist: str | None = None) -> str | None:
    """One key of v1's ``sort``: ``field`` (descending) or ``-field`` (ascending); on a text field
    of ``fields`` the other way round, A to Z without ``-``, as ods-widgets' table
    sorts text (its first click, its arrows) and scripts page names in alphabetical order.
    ``dist`` (``_dist_expression``): the distance ``sort=dist`` (farthest first) and ``sort=-dist``
    (nearest first) order by, as any number, on a records call whose dataset has no ``dist``
    field of its own; without ``geofilter.distance`` such a sort is a 400 naming what it needs."""
    if not sort or not sort.strip("-").strip():
        return None
    name = sort.lstrip("-").strip()
    if name == DIST and fields is not None and not any(f.name == DIST for f in fields):
        if dist is None:
            raise invalid_parameter("Invalid value for sort API parameter: dist orders the records by their distance "
                                    "from the centre of geofilter.distance=lat,lon,metres, which this call does not "
                                    "give (sort=-dist: nearest first).")
        return f"{dist} {'asc' if sort.startswith('-') else 'desc'}"
    text = any(f.name == name and f.type == FieldType.TEXT for f in fields or ())
    return f"{quote_name(name)} {'asc' if sort.startswith('-') != text else 'desc'}"


#: v1's distance from ``geofilter.distance``'s centre: a ``sort`` key, and a field of each record.
DIST = "dist"


def _dist_expression(request: Request, fields: list[Field]) -> str | None:
    """With ``geofilter.distance=lat,lon,metres``, the ODSQL distance in metres of each record's
    geo field (the filter's: ``geo_field_of``) from the circle's centre, built from the numbers it
    parses to (no text of the request reaches the query), which ``sort=dist``/``-dist`` orders by
    and which v1's JSON records carry as ``fields.dist`` (``_dist_value``). The centre read is the
    one the filter applies (``params.get``: the last given, if the parameter is repeated). None
    without the parameter or a geo field (the filter's 400 then), or when the dataset has a
    ``dist`` field of its own: a real field is never shadowed.

    Opendatasoft's behaviour, read from apps written against its v1 answers (its v1
    documentation says nothing of ``dist``): ``sort=-dist`` lists the nearest first, as any
    number sorts ascending with ``-`` (ODRE's ``bornes-irve`` charging-station finders take
    ``records[0]`` of ``rows=1&sort=-dist&geofilter.distance=…`` as the nearest, e.g. the
    ``odre.opendatasoft.com`` call in a public ``list_bornes`` script; opendata.paris.fr's Vélib
    code sends ``sort=-dist&geofilter.distance=48.870986,2.3353436,500``); each record's
    ``fields.dist`` is the distance in metres, as a string (a TypeScript type generated from a
    real answer of the fuel-price dataset declares ``dist: string``; Vélib apps show
    ``Math.round(fields.dist) + 'm'``, charging-station ones ``parseFloat(fields.dist)``)."""
    params = params_of(request)
    given = params.get("geofilter.distance")
    if given is None or any(f.name == DIST for f in fields):
        return None
    named = params.get("geo_field")
    geo = geo_field_of(fields, named if named and named.strip() else None)
    if geo is None:
        return None
    lat, lon, _ = parsed_numbers(given if given.count(",") != 1 else given + ",1", "geofilter.distance", 3)
    return f"distance({quote_name(geo.name)}, geom'POINT({lon!r} {lat!r})')"


def _with_dist(select: str | None, dist: str | None) -> str | None:
    """A records select with the distance added as the ``dist`` column (every field when
    ``select`` is None), or ``select`` itself without one."""
    return select if dist is None else f"{select if select and select.strip() else '*'}, {dist} as {DIST}"


def _dist_value(metres: float) -> str:
    """A record's ``fields.dist``: metres as a string, with the 12 significant digits v1 wrote
    the floats it computed with (a saved v1 answer, FlamFilo/learn-react-native's
    ``src/Exo4/mock/velib-emplacement-des-stations.js``, has the point ``48.8959473685`` beside
    the source's ``lat`` ``48.89594736851349``); the digits of ``dist`` itself are not attested."""
    return format(metres, ".12g")


def _indented(response: Response) -> Response:
    """``response`` indented, for ``pretty_print=true``: a JSON or JSONP (``_padded``) answer read
    and written again; any other as it is. Blocking work (a geopolygon answer is megabytes), which
    ``_PrettyRoute`` runs in a worker thread."""
    body = bytes(response.body)
    media = response.media_type or ""
    if media.startswith("application/json"):
        text = json.dumps(json.loads(body), ensure_ascii=False, indent=2)
    elif media.startswith("application/javascript") and body.startswith(b"/**/"):  # _padded's shape
        head, _, rest = body.partition(b"(")
        text = head.decode() + "(" + json.dumps(json.loads(rest[:-2]), indent=2) + ");"
    else:
        return response
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(text.encode(), status_code=response.status_code, headers=headers, media_type=media)


class _PrettyRoute(APIRoute):
    """A v1 route that honours ``pretty_print=true`` (every v1 JSON and JSONP answer takes it):
    the answer indented after the fact (``_indented``, off the event loop), so that no handler
    has to know of it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def pretty(request: Request) -> Response:
            response = await handler(request)
            if params_of(request).get("pretty_print", "").strip().lower() not in TRUE or \
                    isinstance(response, StreamingResponse):
                return response
            return await in_worker(_indented, response)

        return pretty


def v1_router(portal: str = "public") -> APIRouter:
    router = APIRouter(tags=["v1 API (legacy)"], route_class=_PrettyRoute)

    def instance(request: Request):
        return request.app.state.instance

    @query_route(router, "/api/records/1.0/search/", SEARCH, post=True, summary="v1 record search",
                 responses={200: {"content": {media: {"schema": {}} for media in
                                              ("application/geo+json", "application/javascript", "text/csv",
                                               "application/rss+xml", "application/atom+xml")}}})
    def search_records(request: Request, principal, *, dataset, q, rows, start, sort, fields, timezone, facet, format,
                       callback, csv_separator, use_labels_for_header):
        if rows == -1:  # "all": apps listing a city's stations send it; as many as the window holds
            rows = max(MAX_WINDOW - start, 0)
        for name, value, expected in (("rows", rows, "a number from 0, or -1 for all,"), ("start", start, "a number from 0")):
            if value < 0:  # said as such: "start + rows must be <= 10000" read as a window too wide
                raise invalid_parameter(f"Invalid value for {name} API parameter: {value} was found but {expected} "
                                        "is expected.")
        if start + rows > MAX_WINDOW:
            raise invalid_parameter(f"Invalid value for rows/start: start + rows must be <= {MAX_WINDOW}.")
        if len(params_of(request).getlist("dataset")) > 1:
            raise invalid_parameter("Invalid value for dataset API parameter: one dataset is expected "
                                    "(this portal searches the records of one dataset at a time).")
        if format == "csv":  # the page as the download writes it: its query and writer, the search's window
            return _download(request, principal, dataset=dataset, q=q, sort=sort, fields=fields, timezone=timezone,
                             format=format, callback=callback, csv_separator=csv_separator,
                             use_labels_for_header=use_labels_for_header, limit=rows, offset=start)
        padded, principal = _padding(request, principal, format, callback)
        ds = get_visible_dataset(instance(request), portal, dataset, principal)
        refine, exclude = _prefixed(request, "refine."), _prefixed(request, "exclude.")
        disjunctive = _disjunctive(request)
        where, text = _conditions(request, ds, _query(request, q))
        visible = fields_from_json(ds.current.fields)
        select, geometry_only = _geometry_kept(_fields_named(request, fields, visible), visible, _record_geometry(visible))
        dist = _dist_expression(request, visible)
        with_dist = dist is not None and format not in FEEDS  # JSON and GeoJSON records carry it
        page = query_records(instance(request), ds, select=_with_dist(select, dist if with_dist else None),
                             limit=rows, offset=start, order_by=_order_by(sort, visible, dist, request),
                             refine=refine, exclude=exclude, with_ids=True, text=text, timezone=timezone, where=where,
                             principal=principal, max_limit=MAX_WINDOW, disjunctive=disjunctive)
        records = [_v1_record(ds, list(page.columns), row, row["_id"], geometry_only, with_dist) for row in page.results]
        if format in FEEDS:  # the same records, as a feed (facets have no place in one)
            return records_feed(format, records, [f for f in page.columns if f.name != geometry_only],
                                title=ds.title, description=ds.description or "",
                                page_link=f"{public_url(request, portal)}/explore/dataset/{ds.slug}/",
                                dataset_link=dataset_url(request, portal, ds.slug),
                                publisher=ds.publisher or catalog_info(request, portal).publisher,
                                updated=_processed(ds))
        facets = facet
        groups = []
        if facets:
            asked = _asked_facets(request, facets, disjunctive)
            for facet in dataset_facets(instance(request), ds, facet=asked, refine=refine, exclude=exclude, text=text,
                                        where=where, timezone=timezone, principal=principal, disjunctive=disjunctive):
                groups.append({"name": facet["name"], "facets": [_v1_facet(e) for e in facet["facets"]]})
        parameters = _parameters(request, {"dataset": ds.slug, "rows": rows, "start": start, "format": format, "timezone": timezone},
                                 q=q, facet=facets, sort=sort, disjunctive=disjunctive)
        body: dict[str, Any] = {"nhits": page.total_count, "parameters": parameters, "records": records}
        if facets:
            body["facet_groups"] = groups
        if format.startswith("geojson"):
            body = {"type": "FeatureCollection", "features": [_v1_feature(r) for r in records]}
        return _padded(body, callback) if padded else body

    @query_route(router, "/api/records/1.0/download/", DOWNLOAD, post=True, summary="v1 record download (streamed)",
                 responses=DOWNLOADED)
    def download_records(request: Request, principal, *, dataset, q, rows, start, sort, fields, timezone, format,
                         callback, csv_separator, use_labels_for_header):
        """Every matching record (or ``rows`` of them from ``start``), streamed like a v2.1 export
        (the same compiler, filters and writers): the download links older pages and scripts
        still hold."""
        return _download(request, principal, dataset=dataset, q=q, sort=sort, fields=fields, timezone=timezone,
                         format=format, callback=callback, csv_separator=csv_separator,
                         use_labels_for_header=use_labels_for_header, **_download_window(rows, start))

    @query_route(router, "/explore/dataset/{dataset_id}/download/", LEGACY_DOWNLOAD,
                 summary="Legacy download link of a dataset page (v1 download)", responses=PAGE_DOWNLOADED)
    def download_page(request: Request, principal, dataset_id: str, *, q, rows, start, sort, fields, timezone, format,
                      callback, csv_separator, use_labels_for_header):
        """Opendatasoft's dataset pages linked their exports as ``/explore/dataset/<id>/download/
        ?format=csv…``, which is the only way odsclient (PyPI) downloads, and which scripts hold:
        the v1 download, served here rather than as a page (odsclient reads an HTML answer as
        "no rights"), behind the APIs' gate, with their JSON errors."""
        return _download(request, principal, dataset=dataset_id, q=q, sort=sort, fields=fields, timezone=timezone,
                         format=format, callback=callback, csv_separator=csv_separator,
                         use_labels_for_header=use_labels_for_header, **_download_window(rows, start))

    def _download(request: Request, principal, *, dataset, q, sort, fields, timezone, format, callback,
                  csv_separator, use_labels_for_header, limit: int = -1, offset: int = 0):
        padded, principal = _padding(request, principal, format, callback)
        if len(params_of(request).getlist("dataset")) > 1:
            raise invalid_parameter("Invalid value for dataset API parameter: one dataset is expected.")
        ds = get_visible_dataset(instance(request), portal, dataset, principal)
        options = ExportOptions(use_labels=use_labels_for_header, delimiter=csv_separator, filename=ds.slug, timezone=timezone,
                                dataset_url=dataset_url(request, portal, ds.slug))
        where, text = _conditions(request, ds, _query(request, q))
        written = {"jsonp": "json", "geojsonp": "geojson", **LEGACY_NAMES}.get(format, format)
        visible = fields_from_json(ds.current.fields)
        fields = _fields_named(request, fields, visible)
        select, geometry_only = fields, None
        # v1 records, or their features, each with its geometry, as v1's search writes them
        v1_records = written in ("json", "geojson")
        if v1_records:
            select, geometry_only = _geometry_kept(fields, visible, _record_geometry(visible))
        elif written in FORMATS and FORMATS[written].needs == GEO_TYPES:  # features, drawn from their writer's field
            select, geometry_only = _geometry_kept(fields, visible, geometry_field(visible))
        dist = _dist_expression(request, visible)
        # v1 records are written by their own writer, features or not: as v1's search writes its
        # GeoJSON page, a record without a geometry is a feature whose geometry is null (the
        # export writer's GeoJSON refuses a dataset without a geo field: the two answered apart).
        fmt, columns, batches, options = export_batches(
            instance(request), ds, "json" if v1_records else written,
            select=_with_dist(select, dist if v1_records else None),
            order_by=_order_by(sort, visible, dist, request),
            options=options,
            refine=_prefixed(request, "refine."), exclude=_prefixed(request, "exclude."), where=where, text=text,
            timezone=timezone, disjunctive=_disjunctive(request),
            principal=principal, ip=request.client.host if request.client else None, record_ids=v1_records,
            limit=limit, offset=offset)
        # closed however it ends, as every export's (``closing``): a failed writer's traceback held the cursor
        chunks = closing(_v1_records_json(ds, columns, batches, timezone, geometry_only, geojson=written == "geojson",
                                          dist=v1_records and dist is not None), batches) \
            if v1_records else fmt.write(columns, batches, options)
        if padded:
            return ClosingStreamingResponse(_streamed_padding(chunks, callback), media_type="application/javascript",
                                     headers={"X-Content-Type-Options": "nosniff"})
        fmt = FORMATS[written]
        return ClosingStreamingResponse(chunks, media_type=fmt.media_type,
                                 headers={"Content-Disposition": f'attachment; filename="{ds.slug}.{fmt.extension}"'})

    def _configured_facets(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The fields annotated ``facet``, in their order, as the back office's facet settings
        (``field_name``, and ``disjunctive``/``sort`` when annotated): what ods-widgets list."""
        facets = []
        for f in fields:
            annotations = f.get("annotations") or {}
            if "facet" in annotations:
                sort = annotations.get("facetsort")
                facets.append({"field_name": f["name"], **({"disjunctive": True} if "disjunctive" in annotations else {}),
                               **({"sort": sort[0]} if sort else {})})
        return facets

    def _v1_dataset(v2: dict[str, Any]) -> dict[str, Any]:
        """A dataset as v1 writes it, from its v2.1 object (``dataset_json``): its fields'
        annotations as v1's list of ``{name, args}`` (ods-widgets' value formatter filters it
        as a list, and throws on v2.1's object: a table stopped at its first date column)."""
        metas = v2["metas"]["default"]
        fields = [{**f, "annotations": [{"name": name, **({"args": args} if args else {})}
                                        for name, args in (f.get("annotations") or {}).items()]}
                  for f in v2["fields"]]
        return {"datasetid": v2["dataset_id"], "has_records": v2["has_records"], "features": v2["features"], "fields": fields,
                "attachments": v2["attachments"], "data_visible": v2["data_visible"],
                "alternative_exports": v2["alternative_exports"],
                # ods-widgets read extra_metas.visualization unguarded (a calendar's tooltip threw),
                # and a dataset's facets from asset_content_configuration (a bare <ods-facets> was empty)
                "extra_metas": {"visualization": {}, "explore": dict(v2["metas"].get("explore") or {}),
                                "asset_content_configuration": {"facets": _configured_facets(v2["fields"])}},
                # harvesters (data.gouv.fr's, GeoNetwork's) read creation, frequency, contact and
                # coverage there, as Opendatasoft wrote them (metas left out when unknown, as in metas)
                "interop_metas": {"dcat": {k: v for k, v in v2["metas"]["dcat"].items() if v is not None}},
                # bbox as v1 wrote it: the Polygon itself, where v2 wraps it in a Feature
                "metas": {**{k: v for k, v in metas.items() if v is not None}, "domain": "default",
                          "records_count": metas["records_count"],
                          **({"bbox": metas["bbox"]["geometry"]} if metas.get("bbox") else {})}}

    @query_route(router, "/api/datasets/1.0/search/", DATASETS, post=True, summary="v1 catalogue search",
                 responses={200: {"content": {media: {"schema": {}} for media in
                                              ("application/javascript", "text/csv", "application/rss+xml")}}})
    def search_datasets(request: Request, principal, *, q, rows, start, sort, facet, timezone, format, callback):
        """The catalogue search of v2.1 (``api.catalog_search``: full text over descriptive
        metadata, refinements, facets, order) in v1's shapes; CSV and RSS are the same page
        written by the catalogue exports' writers (their columns, their feed; newest first
        in RSS unless ``sort`` says otherwise, as the RSS export)."""
        padded, principal = _padding(request, principal, format, callback)
        datasets = visible_datasets(instance(request), portal, principal)
        if rows == -1:  # "all", as harvesters listing a portal's datasets send it
            rows = len(datasets)
        if rows < 0 or start < 0:
            raise invalid_parameter("Invalid value for rows/start: both must be >= 0 (or rows=-1 for all).")
        objects = [dataset_json(d, portal_url(request, portal)) for d in datasets]
        refine, exclude = _prefixed(request, "refine."), _prefixed(request, "exclude.")
        disjunctive = _disjunctive(request)
        where = catalog_where([], _query(request, q))  # words a full-text search; field queries on the catalogue's fields
        page = search_catalog(objects, select=",".join(CSV_COLUMNS) if format == "csv" else None, where=where,
                              order_by=_order_by(sort) or ("modified desc" if format == "rss" else None), limit=rows,
                              offset=start, refine=refine, exclude=exclude, timezone=timezone,
                              check_paging=lambda limit, offset, **_: limit, disjunctive=disjunctive)
        if format == "csv":
            return table_response(page.results, "csv", ExportOptions(timezone=timezone), selected=page.names)
        if format == "rss":
            by_uid = {d.uid: d for d in datasets}
            return rss_response([by_uid[o["dataset_uid"]] for o in page.results], catalog_info(request, portal))
        parameters = _parameters(request, {"rows": rows, "start": start, "format": format, "timezone": timezone},
                                 q=q, facet=facet, sort=sort, disjunctive=disjunctive)
        body: dict[str, Any] = {"nhits": page.total_count, "parameters": parameters,
                                "datasets": [_v1_dataset(o) for o in page.results]}
        if facet:
            asked = _asked_facets(request, facet, disjunctive)
            body["facet_groups"] = [{"name": group["name"], "facets": [_v1_facet(e) for e in group["facets"]]}
                                    for group in catalog_facets(objects, facet=asked, refine=refine, exclude=exclude,
                                                                where=where, timezone=timezone, disjunctive=disjunctive)]
        return _padded(body, callback) if padded else body

    @query_route(router, "/api/datasets/1.0/{dataset_id}/records/{record_id}", (TIMEZONE, *LOOKUP),
                 post=True, summary="v1 record lookup", responses=LOOKED_UP)
    def lookup_record(request: Request, principal, dataset_id: str, record_id: str, *, timezone, format, callback):
        padded, principal = _padding(request, principal, format, callback)
        ds = get_visible_dataset(instance(request), portal, dataset_id, principal)
        row = get_record(instance(request), ds, record_id, timezone=timezone, principal=principal)
        body = _v1_record(ds, fields_from_json(ds.current.fields), row, record_id)
        return _padded(body, callback) if padded else body

    @query_route(router, "/api/datasets/1.0/{dataset_id}/attachments/{attachment_id}", summary="v1 attachment")
    def v1_attachment(request: Request, principal, dataset_id: str, attachment_id: str):
        """An attachment at v1's address: data.gouv.fr's harvesters publish it as the resource
        of every attachment they copy (``/api/datasets/1.0/<id>/attachments/<attachment id>``)."""
        ds = get_visible_dataset(instance(request), portal, dataset_id, principal)
        check_records_access(instance(request), ds, principal)
        return attachment_file(ds, attachment_id)

    @query_route(router, "/api/datasets/1.0/{dataset_id}/", LOOKUP, post=True, summary="v1 dataset lookup",
                 responses=LOOKED_UP)
    def lookup(request: Request, principal, dataset_id: str, *, format, callback):
        padded, principal = _padding(request, principal, format, callback)
        body = _v1_dataset(dataset_json(get_visible_dataset(instance(request), portal, dataset_id, principal),
                                        portal_url(request, portal)))
        return _padded(body, callback) if padded else body

    @query_route(router, "/api/reuses/", (Param("rows", int, 10), Param("start", int, 0), Param("sort"),
                                            TIMEZONE), summary="v1 reuses (none kept here)")
    def list_reuses(request: Request, principal, *, rows, start, sort, timezone) -> list:
        """ods-widgets' reuse feeds ask for them; this portal keeps no reuses, so the answer is
        none, not an error notice on the page."""
        return []

    from portail.api.v1_analysis import add_analysis_route  # here: those modules read this one's filters
    from portail.api.v1_geo import add_geo_routes
    add_geo_routes(router, portal)
    add_analysis_route(router, portal)
    return router
