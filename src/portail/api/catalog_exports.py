"""Catalogue exports: DCAT-AP (RDF/XML, Turtle, JSON-LD) with Hydra paging, Dublin Core (RDF/XML),
data.json (Project Open Data v1.1), JSON, CSV, XLSX, RSS.

Thin: the DCAT graph comes from ``catalog.dcat``, Dublin Core's from ``catalog.dublin_core``,
data.json from ``catalog.datajson``, dataset objects from ``api.serialize``. The
datasets are those ``visible_datasets`` hands the caller, already shaped for them (hidden
fields, their own records counts), so an export never shows more than the catalogue does.
Which datasets, in which order, is the query of ``/catalog/datasets`` (``catalog_search``:
select, where, refine, exclude, group_by, order_by, limit, offset, lang, timezone), unpaged.

Opendatasoft's national DCAT-AP profiles (``dcat_ap_ch``…, activated per domain) are not served:
this portal keeps none of the national metadata they require, so a feed claiming one would fail
the national portal's checks. Asking for one answers a 404 that names the profile and points to
``dcat`` (a client stops there, as the profile will not appear by retrying; a 400 would blame a
request the spec allows); ``/catalog/exports`` lists only what is served.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pyarrow as pa
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from portail.api.catalog_search import search_catalog
from portail.api.deps import portal_url, public_url
from portail.api.streaming import ClosingStreamingResponse
from portail.api.errors import ApiError, invalid_parameter, not_found
from portail.api.explore_service import check_paging, dataset_access, visible_datasets
from portail.api.feeds import Entry, Feed, feed_response
from portail.api.params import LANG, TIMEZONE, Param, defaulting, query_route
from portail.api.serialize import dataset_json
from portail.auth import ANONYMOUS
from portail.catalog.datajson import catalog_json
from portail.catalog.distributions import CatalogInfo
from portail.catalog.models import Dataset
from portail.exports import FORMATS, LEGACY_NAMES, ExportOptions
from portail.schema import Field, FieldType

RDF_FORMATS = {
    "dcat": ("xml", "application/rdf+xml", "rdf"), "dcat_ap": ("xml", "application/rdf+xml", "rdf"),
    "rdf": ("xml", "application/rdf+xml", "rdf"), "ttl": ("turtle", "text/turtle", "ttl"),
    "turtle": ("turtle", "text/turtle", "ttl"), "jsonld": ("json-ld", "application/ld+json", "jsonld"),
}
CATALOG_FORMATS = sorted({*RDF_FORMATS, "dublin_core", "data.json", "json", "csv", "xlsx", "rss"})
#: Opendatasoft's national DCAT-AP profiles (the JS client's ``dcat-ap-v1`` is Flanders'), which
#: a domain serves once activated: not on this portal (module docstring).
NATIONAL_PROFILES = {
    "dcat_ap_ch": "DCAT-AP-CH (Switzerland)", "dcat_ap_de": "DCAT-AP.de (Germany)", "dcat_ap_se": "DCAT-AP-SE (Sweden)",
    "dcat_ap_sp": "DCAT-AP-ES (Spain)", "dcat_ap_it": "DCAT-AP_IT (Italy)", "dcat_ap_vl": "DCAT-AP-VL (Flanders)",
    "dcat_ap_v1": "DCAT-AP-VL (Flanders)", "dcat_ap_benap": "DCAT-AP for BENAP (Belgium)",
}
#: The catalogue CSV's columns when no ``select`` names them (catalogue ODSQL fields).
CSV_COLUMNS = ["dataset_id", "dataset_uid", "title", "description", "theme", "keyword", "license", "publisher",
               "language", "modified", "data_processed", "records_count", "features"]


def _unbounded(limit: int, offset: int, **_: int) -> int:
    """An export's paging: every matching dataset by default (``limit=-1``), Opendatasoft's
    checks of limit and offset otherwise, no page cap (a catalogue is small)."""
    return check_paging(limit, offset, max_limit=sys.maxsize // 2, window=sys.maxsize)


def _int64(value: int | float | Decimal) -> bool:
    """An integer value a 64-bit column holds (the engine hands ``sum()`` of integers as an integral Decimal)."""
    return not isinstance(value, float) and value == int(value) and -2**63 <= value < 2**63


def _nested(value: Any) -> bool:
    """An object, or a list holding objects or lists: a value that only JSON writes as one cell."""
    return isinstance(value, dict) or isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value)


def _text_cell(value: Any, list_separator: str, as_json: bool) -> str | None:
    """One value as a text cell: a list of scalars joined by ``list_separator``, unless its column
    is written as JSON (``_text_cells``); an object or a number in a text column as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and not as_json:
        return list_separator.join("" if item is None else str(item) for item in value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _text_cells(values: list[Any], list_separator: str) -> list[str | None]:
    """A column's values as text cells: lists of scalars (keywords, themes) joined by
    ``list_separator``, as the records exports join a multivalued text; a column holding objects
    (``fields``, ``metas``, ``attachments``) as JSON throughout, its empty lists ``[]``, as the
    records exports write a JSON field. ``str()`` wrote Python's repr of a list of objects (single
    quotes, ``None``, no brackets), which no client reads back."""
    as_json = any(_nested(v) for v in values)
    return [_text_cell(v, list_separator, as_json) for v in values]


def _table(rows: list[dict[str, Any]], list_separator: str, selected: tuple[str, ...] = ()) -> tuple[list[Field], pa.Table]:
    """Rows as the dataset exports' writers take them: numbers and booleans typed, a
    multivalued value joined into one text cell, an object as JSON (``_text_cells``), the rest text (so that the writers
    neutralise formulas in it). No row: the ``selected`` columns, so that the header is
    written as for a dataset export that matches nothing."""
    names = list(dict.fromkeys(name for row in rows for name in row)) if rows else list(selected)
    fields, columns = [], []
    for name in names:
        values = [row.get(name) for row in rows]
        present = [v for v in values if v is not None]
        numbers = [v for v in present if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool)]
        if present and all(isinstance(v, bool) for v in present):
            kind, array = FieldType.BOOLEAN, pa.array(values, pa.bool_())
        elif present and len(numbers) == len(present) and all(_int64(v) for v in numbers):
            kind, array = FieldType.INT, pa.array([None if v is None else int(v) for v in values], pa.int64())
        elif present and len(numbers) == len(present):  # sum(), avg(), a decimal the engine hands as Decimal
            kind, array = FieldType.DOUBLE, pa.array([None if v is None else float(v) for v in values], pa.float64())
        else:
            kind, array = FieldType.TEXT, pa.array(_text_cells(values, list_separator), pa.string())
        fields.append(Field(name, name, kind))
        columns.append(array)
    return fields, pa.table(columns, names=names)


def table_response(rows: list[dict[str, Any]], fmt: str, options: ExportOptions,
                   filename: str = "catalog", selected: tuple[str, ...] = ()) -> StreamingResponse:
    """Catalogue rows as CSV or XLSX, written by the dataset exports' writers (formulas
    neutralised, quoting, separators and BOM as for records)."""
    fields, table = _table(rows, options.list_separator, selected)
    chunks = FORMATS[fmt].writer(fields, iter(table.to_batches()), options)
    return ClosingStreamingResponse(chunks, media_type=FORMATS[fmt].media_type,
                             headers={"Content-Disposition": f'attachment; filename="{filename}.{FORMATS[fmt].extension}"'})


def rss_response(datasets: list[Dataset], info: CatalogInfo) -> Response:
    """An RSS 2.0 channel of the catalogue (``api.feeds``), an item per dataset in the order given."""
    channel = Feed(title=info.title, link=f"{info.base_url}/", description=info.description)
    return feed_response("rss", channel, [
        Entry(id=d.uid, title=d.title, link=f"{info.base_url}/explore/dataset/{d.slug}/", description=d.description or "",
              updated=d.modified) for d in datasets])


#: The query parameters of a catalogue export (``api.params``): the catalogue query of
#: ``/catalog/datasets`` (``limit`` -1, every dataset, by default), DCAT's and the CSV's own.
EXPORT = (Param("select"), Param("where", many=True), Param("group_by"), Param("order_by"), Param("limit", int, -1),
          Param("offset", int, 0), Param("refine", many=True), Param("exclude", many=True), LANG,
          TIMEZONE, Param("page", int, 1), Param("page_size", int, 100),
          Param("include_exports"), Param("use_labels_in_exports", bool, True), Param("delimiter", default=";", choices=(";", ",", "\t", "|")),
          Param("list_separator", default=","), Param("quote_all", bool, False), Param("with_bom", bool, True))
#: What DCAT's paging links carry over from the request (its query, not its credentials).
_PAGED = frozenset({"select", "where", "group_by", "order_by", "limit", "offset", "refine", "exclude", "lang",
                    "timezone", "include_exports", "use_labels_in_exports"})


def catalog_info(request: Request, portal: str) -> CatalogInfo:
    """What a catalogue-wide export says of the portal itself (title, description, publisher, URL)."""
    settings = request.app.state.instance.settings
    try:
        site = settings.portal(portal)
        title, description = site.title, site.description or settings.portal_description
    except KeyError:
        title, description = settings.portal_title, settings.portal_description
    return CatalogInfo(base_url=public_url(request, portal), title=title, description=description,
                       publisher=settings.publisher_name)


def _not_activated(request: Request, portal: str, format: str) -> ApiError:
    """The answer to a national DCAT-AP profile (module docstring): a 404 naming the profile and
    the export to harvest instead."""
    dcat = f"{portal_url(request, portal)}/api/explore/v2.1/catalog/exports/dcat"
    return not_found(f"The {NATIONAL_PROFILES[format.replace('-', '_')]} catalog export ({format}) is not activated on "
                     f"this portal, which describes its datasets in DCAT-AP 2.1.1: harvest {dcat} instead.")


#: v2.0's CSV had no BOM (v2.1's changelog added it) and its spreadsheet was named ``xls``.
EXPORT_V20 = defaulting(EXPORT, "with_bom", False)


def catalog_exports_router(portal: str, prefix: str = "/api/explore/v2.1") -> APIRouter:
    """The catalogue exports under an API prefix: v2.1's, or one of v2.0's (its own links, its
    CSV without a BOM, ``xls`` for the spreadsheet)."""
    v20 = prefix != "/api/explore/v2.1"
    router = APIRouter(tags=["Explore API v2.0" if v20 else "Explore API v2.1"])

    @query_route(router, "/catalog/exports", summary="Catalogue export formats")
    def list_formats(request: Request, principal):
        href = f"{portal_url(request, portal)}{prefix}/catalog/exports"
        return {"links": [{"rel": "self", "href": href}] + [{"rel": f, "href": f"{href}/{f}"} for f in CATALOG_FORMATS]}

    @query_route(router, "/catalog/exports/{format}", EXPORT_V20 if v20 else EXPORT,
                 summary="Export the catalogue (DCAT-AP, Dublin Core, data.json, JSON, CSV, XLSX, RSS)")
    def export(request: Request, principal, format: str, *, select, where, group_by, order_by, limit, offset, refine,
               exclude, lang, timezone, page, page_size, include_exports, use_labels_in_exports, delimiter,
               list_separator, quote_all, with_bom):
        fmt = format.replace("-", "_")
        if v20:
            fmt = LEGACY_NAMES.get(fmt, fmt)
        if fmt in NATIONAL_PROFILES:
            raise _not_activated(request, portal, format)
        if fmt not in CATALOG_FORMATS:
            raise not_found(f"Unknown catalog export format: {format}")
        catalog = catalog_info(request, portal)
        datasets = visible_datasets(request.app.state.instance, portal, principal)
        # instants in the asked timezone, as /catalog/datasets writes them (a whole object's metas too)
        objects = [dataset_json(d, catalog.base_url, timezone=timezone) for d in datasets]

        def search(select: str | None, group_by: str | None = None, order_by: str | None = order_by):
            """The catalogue query of ``/catalog/datasets``, unpaged."""
            return search_catalog(objects, select=select, where=where, group_by=group_by, order_by=order_by,
                                  limit=limit, offset=offset, refine=refine, exclude=exclude, lang=lang,
                                  timezone=timezone, check_paging=_unbounded)

        if fmt in RDF_FORMATS or fmt in ("rss", "data.json", "dublin_core"):
            # These describe datasets in their own vocabulary: a query picks and orders them
            # (``select`` has nothing to narrow), it cannot turn them into groups.
            if group_by:
                raise invalid_parameter(f"The {format} export lists datasets: group_by is not available.")
            by_uid = {d.uid: d for d in datasets}
            found = search(None, order_by=order_by or ("modified desc" if fmt == "rss" else None))
            chosen = [by_uid[o["dataset_uid"]] for o in found.results]
            if fmt == "rss":
                return rss_response(chosen, catalog)
            formats = [f.strip() for f in include_exports.split(",")] if include_exports else None
            if fmt == "dublin_core":
                from portail.catalog import dublin_core  # rdflib (~0.05 s) when an RDF export is asked, not at start

                graph = dublin_core.catalog_graph(catalog, chosen, formats=formats, use_labels=use_labels_in_exports)
                return Response(graph.serialize(format="xml"), media_type="application/rdf+xml",
                                headers={"Content-Disposition": 'inline; filename="dublin_core.rdf"'})
            if fmt == "data.json":
                instance = request.app.state.instance
                restricted = frozenset(d.uid for d in chosen if dataset_access(instance, d.uid, ANONYMOUS).restricted)
                return JSONResponse(catalog_json(catalog, chosen, formats=formats, use_labels=use_labels_in_exports,
                                                 restricted=restricted),
                                    headers={"Content-Disposition": 'inline; filename="data.json"'})
            from portail.catalog.dcat import catalog_graph  # rdflib (~0.05 s) when an RDF export is asked, not at start

            serializer, media_type, extension = RDF_FORMATS[fmt]
            carried = urlencode([(k, v) for k, v in request.query_params.multi_items() if k in _PAGED])
            graph = catalog_graph(catalog, chosen, page=max(page, 1), page_size=min(max(page_size, 1), 1000),
                                  formats=formats, query=carried, use_labels=use_labels_in_exports,
                                  export_url=f"{catalog.base_url}{prefix}/catalog/exports/{format}")
            return Response(graph.serialize(format=serializer), media_type=media_type,
                            headers={"Content-Disposition": f'inline; filename="catalog.{extension}"'})
        if fmt == "json":
            return search(select, group_by).results
        named = (select and select.strip()) or group_by  # else the catalogue's usual columns
        found = search(select if named else ",".join(CSV_COLUMNS), group_by)
        return table_response(found.results, fmt, ExportOptions(delimiter=delimiter, list_separator=list_separator,
                                                                quote_all=quote_all, with_bom=with_bom, timezone=timezone),
                              selected=found.names)

    return router
