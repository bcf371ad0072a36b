"""Catalogue exports: DCAT-AP (RDF/XML, Turtle, JSON-LD) with Hydra paging, data.json (Project
Open Data v1.1), JSON, CSV, XLSX, RSS.

Thin: the DCAT graph comes from ``catalog.dcat``, data.json from ``catalog.datajson``, dataset objects from ``api.serialize``. The
datasets are those ``visible_datasets`` hands the caller, already shaped for them (hidden
fields, their own records counts), so an export never shows more than the catalogue does.
Which datasets, in which order, is the query of ``/catalog/datasets`` (``catalog_search``:
select, where, refine, exclude, group_by, order_by, limit, offset, lang, timezone), unpaged.
"""

from __future__ import annotations

import json
import sys
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape

import pyarrow as pa
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from portail.api.catalog_search import search_catalog
from portail.api.deps import portal_url, public_url
from portail.api.errors import invalid_parameter, not_found
from portail.api.explore_service import check_paging, dataset_access, visible_datasets
from portail.api.params import Param, query_route
from portail.api.serialize import dataset_json
from portail.auth import ANONYMOUS
from portail.catalog.datajson import catalog_json
from portail.catalog.dcat import CatalogInfo, catalog_graph
from portail.exports import FORMATS, ExportOptions
from portail.schema import Field, FieldType

RDF_FORMATS = {
    "dcat": ("xml", "application/rdf+xml", "rdf"), "dcat_ap": ("xml", "application/rdf+xml", "rdf"),
    "rdf": ("xml", "application/rdf+xml", "rdf"), "ttl": ("turtle", "text/turtle", "ttl"),
    "turtle": ("turtle", "text/turtle", "ttl"), "jsonld": ("json-ld", "application/ld+json", "jsonld"),
}
CATALOG_FORMATS = sorted({*RDF_FORMATS, "data.json", "json", "csv", "xlsx", "rss"})
#: The catalogue CSV's columns when no ``select`` names them (catalogue ODSQL fields).
CSV_COLUMNS = ["dataset_id", "dataset_uid", "title", "description", "theme", "keyword", "license", "publisher",
               "language", "modified", "data_processed", "records_count", "features"]


def _unbounded(limit: int, offset: int, **_: int) -> int:
    """An export's paging: every matching dataset by default (``limit=-1``), Opendatasoft's
    checks of limit and offset otherwise, no page cap (a catalogue is small)."""
    return check_paging(limit, offset, max_limit=sys.maxsize // 2, window=sys.maxsize)


def _table(rows: list[dict[str, Any]], list_separator: str) -> tuple[list[Field], pa.Table]:
    """Rows as the dataset exports' writers take them: integers and booleans typed, a
    multivalued value joined into one text cell, the rest text (so that the writers
    neutralise formulas in it)."""
    names = list(dict.fromkeys(name for row in rows for name in row))
    fields, columns = [], []
    for name in names:
        values = [row.get(name) for row in rows]
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, bool) for v in present):
            kind, array = FieldType.BOOLEAN, pa.array(values, pa.bool_())
        elif present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            kind, array = FieldType.INT, pa.array(values, pa.int64())
        else:
            cells = [None if v is None else list_separator.join(map(str, v)) if isinstance(v, list)
                     else v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in values]
            kind, array = FieldType.TEXT, pa.array(cells, pa.string())
        fields.append(Field(name, name, kind))
        columns.append(array)
    return fields, pa.table(columns, names=names)


def _rss(datasets, info: CatalogInfo) -> str:
    items = []
    for d in datasets:
        link = f"{info.base_url}/explore/dataset/{d.slug}/"
        items.append(f"<item><title>{escape(d.title)}</title><link>{escape(link)}</link>"
                     f"<guid isPermaLink=\"false\">{d.uid}</guid><description>{escape(d.description or '')}</description>"
                     f"<pubDate>{format_datetime(d.modified)}</pubDate></item>")
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{escape(info.title)}</title>'
            f"<link>{escape(info.base_url)}/</link><description>{escape(info.description)}</description>"
            f"{''.join(items)}</channel></rss>")


#: The query parameters of a catalogue export (``api.params``): the catalogue query of
#: ``/catalog/datasets`` (``limit`` -1, every dataset, by default), DCAT's and the CSV's own.
EXPORT = (Param("select"), Param("where", many=True), Param("group_by"), Param("order_by"), Param("limit", int, -1),
          Param("offset", int, 0), Param("refine", many=True), Param("exclude", many=True), Param("lang", default="fr"),
          Param("timezone", default="UTC"), Param("page", int, 1), Param("page_size", int, 100),
          Param("include_exports"), Param("use_labels_in_exports", bool, True), Param("delimiter", default=";", choices=(";", ",", "\t", "|")),
          Param("list_separator", default=","), Param("quote_all", bool, False), Param("with_bom", bool, True))
#: What DCAT's paging links carry over from the request (its query, not its credentials).
_PAGED = frozenset({"select", "where", "group_by", "order_by", "limit", "offset", "refine", "exclude", "lang",
                    "timezone", "include_exports", "use_labels_in_exports"})


def catalog_exports_router(portal: str) -> APIRouter:
    router = APIRouter(tags=["Explore API v2.1"])

    def info(request: Request) -> CatalogInfo:
        settings = request.app.state.instance.settings
        try:
            site = settings.portal(portal)
            title, description = site.title, site.description or settings.portal_description
        except KeyError:
            title, description = settings.portal_title, settings.portal_description
        return CatalogInfo(base_url=public_url(request, portal), title=title, description=description,
                           publisher=settings.publisher_name)

    @query_route(router, "/catalog/exports", summary="Catalogue export formats")
    def list_formats(request: Request, principal):
        href = f"{portal_url(request, portal)}/api/explore/v2.1/catalog/exports"
        return {"links": [{"rel": "self", "href": href}] + [{"rel": f, "href": f"{href}/{f}"} for f in CATALOG_FORMATS]}

    @query_route(router, "/catalog/exports/{format}", EXPORT, summary="Export the catalogue (DCAT-AP, data.json, JSON, CSV, XLSX, RSS)")
    def export(request: Request, principal, format: str, *, select, where, group_by, order_by, limit, offset, refine,
               exclude, lang, timezone, page, page_size, include_exports, use_labels_in_exports, delimiter,
               list_separator, quote_all, with_bom):
        fmt = format.replace("-", "_")
        if fmt not in CATALOG_FORMATS:
            raise not_found(f"Unknown catalog export format: {format}")
        catalog = info(request)
        datasets = visible_datasets(request.app.state.instance, portal, principal)
        objects = [dataset_json(d, catalog.base_url) for d in datasets]

        def search(select: str | None, group_by: str | None = None, order_by: str | None = order_by):
            """The catalogue query of ``/catalog/datasets``, unpaged."""
            return search_catalog(objects, select=select, where=where, group_by=group_by, order_by=order_by,
                                  limit=limit, offset=offset, refine=refine, exclude=exclude, lang=lang,
                                  timezone=timezone, check_paging=_unbounded)

        if fmt in RDF_FORMATS or fmt in ("rss", "data.json"):
            # These describe datasets in their own vocabulary: a query picks and orders them
            # (``select`` has nothing to narrow), it cannot turn them into groups.
            if group_by:
                raise invalid_parameter(f"The {format} export lists datasets: group_by is not available.")
            by_uid = {d.uid: d for d in datasets}
            found = search(None, order_by=order_by or ("modified desc" if fmt == "rss" else None))
            chosen = [by_uid[o["dataset_uid"]] for o in found.results]
            if fmt == "rss":
                return Response(_rss(chosen, catalog), media_type="application/rss+xml")
            formats = [f.strip() for f in include_exports.split(",")] if include_exports else None
            if fmt == "data.json":
                instance = request.app.state.instance
                restricted = frozenset(d.uid for d in chosen if dataset_access(instance, d.uid, ANONYMOUS).restricted)
                return JSONResponse(catalog_json(catalog, chosen, formats=formats, use_labels=use_labels_in_exports,
                                                 restricted=restricted),
                                    headers={"Content-Disposition": 'inline; filename="data.json"'})
            serializer, media_type, extension = RDF_FORMATS[fmt]
            carried = urlencode([(k, v) for k, v in request.query_params.multi_items() if k in _PAGED])
            graph = catalog_graph(catalog, chosen, page=max(page, 1), page_size=min(max(page_size, 1), 1000),
                                  formats=formats, query=carried, use_labels=use_labels_in_exports)
            return Response(graph.serialize(format=serializer), media_type=media_type,
                            headers={"Content-Disposition": f'inline; filename="catalog.{extension}"'})
        if fmt == "json":
            return search(select, group_by).results
        # CSV and XLSX are the dataset exports' writers over the catalogue's rows (formulas
        # neutralised, quoting, separators and BOM as for records).
        named = (select and select.strip()) or group_by  # else the catalogue's usual columns
        found = search(select if named else ",".join(CSV_COLUMNS), group_by)
        fields, table = _table(found.results, list_separator)
        options = ExportOptions(delimiter=delimiter, list_separator=list_separator, quote_all=quote_all,
                                with_bom=with_bom, timezone=timezone)
        chunks = FORMATS[fmt].writer(fields, iter(table.to_batches()), options)
        return StreamingResponse(chunks, media_type=FORMATS[fmt].media_type,
                                 headers={"Content-Disposition": f'attachment; filename="catalog.{FORMATS[fmt].extension}"'})

    return router
