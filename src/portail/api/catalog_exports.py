"""Catalogue exports: DCAT-AP (RDF/XML, Turtle, JSON-LD) with Hydra paging, JSON, CSV, XLSX, RSS.

Thin: the DCAT graph comes from ``catalog.dcat``, dataset objects from ``api.serialize``. The
datasets are those ``visible_datasets`` hands the caller, already shaped for them (hidden
fields, their own records counts), so an export never shows more than the catalogue does.
"""

from __future__ import annotations

import csv
import io
from email.utils import format_datetime
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from portail.api.deps import portal_url, public_url
from portail.api.errors import not_found
from portail.api.explore_service import visible_datasets
from portail.api.params import Param, query_route
from portail.api.serialize import dataset_json
from portail.catalog.dcat import CatalogInfo, catalog_graph
from portail.exports import FORMATS, ExportOptions
from portail.schema import Field, FieldType

RDF_FORMATS = {
    "dcat": ("xml", "application/rdf+xml", "rdf"), "dcat_ap": ("xml", "application/rdf+xml", "rdf"),
    "rdf": ("xml", "application/rdf+xml", "rdf"), "ttl": ("turtle", "text/turtle", "ttl"),
    "turtle": ("turtle", "text/turtle", "ttl"), "jsonld": ("json-ld", "application/ld+json", "jsonld"),
}
CATALOG_FORMATS = sorted({*RDF_FORMATS, "json", "csv", "xlsx", "rss"})
CSV_COLUMNS = ["dataset_id", "dataset_uid", "title", "description", "theme", "keyword", "license", "publisher",
               "language", "modified", "data_processed", "records_count", "features"]


def _rows(datasets, base_url: str) -> list[dict]:
    rows = []
    for d in datasets:
        body = dataset_json(d, base_url)
        metas = body["metas"]["default"]
        rows.append({"dataset_id": d.slug, "dataset_uid": d.uid, "title": d.title, "description": d.description or "",
                     "theme": ", ".join(d.themes or []), "keyword": ", ".join(d.keywords or []), "license": d.license or "",
                     "publisher": d.publisher or "", "language": metas["language"], "modified": metas["modified"],
                     "data_processed": metas["data_processed"], "records_count": metas["records_count"],
                     "features": ", ".join(body["features"])})
    return rows


def _rss(datasets, info: CatalogInfo) -> str:
    items = []
    for d in sorted(datasets, key=lambda d: d.modified, reverse=True):
        link = f"{info.base_url}/explore/dataset/{d.slug}/"
        items.append(f"<item><title>{escape(d.title)}</title><link>{escape(link)}</link>"
                     f"<guid isPermaLink=\"false\">{d.uid}</guid><description>{escape(d.description or '')}</description>"
                     f"<pubDate>{format_datetime(d.modified)}</pubDate></item>")
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{escape(info.title)}</title>'
            f"<link>{escape(info.base_url)}/</link><description>{escape(info.description)}</description>"
            f"{''.join(items)}</channel></rss>")


#: The query parameters of a catalogue export (``api.params``).
EXPORT = (Param("page", int, 1), Param("page_size", int, 100), Param("include_exports"),
          Param("delimiter", default=";", choices=(";", ",", "\t", "|")), Param("with_bom", bool, True))


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

    @query_route(router, "/catalog/exports/{format}", EXPORT, summary="Export the catalogue (DCAT-AP, JSON, CSV, XLSX, RSS)")
    def export(request: Request, principal, format: str, *, page, page_size, include_exports, delimiter, with_bom):
        fmt = format.replace("-", "_")
        datasets = visible_datasets(request.app.state.instance, portal, principal)
        catalog = info(request)
        if fmt in RDF_FORMATS:
            serializer, media_type, extension = RDF_FORMATS[fmt]
            formats = [f.strip() for f in include_exports.split(",")] if include_exports else None
            graph = catalog_graph(catalog, datasets, page=max(page, 1), page_size=min(max(page_size, 1), 1000),
                                  formats=formats)
            return Response(graph.serialize(format=serializer), media_type=media_type,
                            headers={"Content-Disposition": f'inline; filename="catalog.{extension}"'})
        if fmt == "json":
            return [dataset_json(d, catalog.base_url) for d in datasets]
        if fmt == "rss":
            return Response(_rss(datasets, catalog), media_type="application/rss+xml")
        if fmt in ("csv", "xlsx"):
            rows = _rows(datasets, catalog.base_url)
            if fmt == "csv":
                buffer = io.StringIO()
                if with_bom:
                    buffer.write("\ufeff")
                writer = csv.DictWriter(buffer, CSV_COLUMNS, delimiter=delimiter, lineterminator="\r\n")
                writer.writeheader()
                writer.writerows(rows)
                return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8",
                                headers={"Content-Disposition": 'attachment; filename="catalog.csv"'})
            import pyarrow as pa

            fields = [Field(c, c, FieldType.INT if c == "records_count" else FieldType.TEXT) for c in CSV_COLUMNS]
            table = pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.int64() if c == "records_count" else pa.string())
                                                                for c in CSV_COLUMNS]))
            chunks = FORMATS["xlsx"].writer(fields, iter(table.to_batches()), ExportOptions())
            return StreamingResponse(chunks, media_type=FORMATS["xlsx"].media_type,
                                     headers={"Content-Disposition": 'attachment; filename="catalog.xlsx"'})
        raise not_found(f"Unknown catalog export format: {format}")

    return router
