"""Explore API v2.1 routes (Opendatasoft-compatible): thin handlers over ``explore_service``.

Every route answers with and without a trailing slash, as real clients send both.
"""

from __future__ import annotations

from typing import Annotated

import zlib
from collections.abc import Iterator
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, StreamingResponse

from portail.api.catalog_search import catalog_facets, search_catalog
from portail.api.deps import caller, portal_url
from portail.api.explore_service import (check_paging, check_records_access, dataset_facets, export_stream, get_record,
                                         get_visible_dataset, query_records, visible_datasets)
from portail.api.errors import not_found
from portail.auth import Principal
from portail.api.serialize import dataset_json, json_response
from portail.exports import FORMATS, ExportOptions


#: The caller of a route (the one way to get it: ``deps.request_principal``, through ``deps.caller``).
Caller = Annotated[Principal, Depends(caller)]


def gzipped(chunks: Iterator[bytes]) -> Iterator[bytes]:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    for chunk in chunks:
        if out := compressor.compress(chunk):
            yield out
    yield compressor.flush()


def both(router: APIRouter, path: str, **kwargs):
    """Register a GET route for ``path`` and ``path/``."""

    def decorator(func):
        router.add_api_route(path, func, methods=["GET"], **kwargs)
        router.add_api_route(path + "/", func, methods=["GET"], include_in_schema=False)
        return func

    return decorator


def explore_router(portal: str) -> APIRouter:
    """The Explore API of one portal (by id). Every route takes the caller (``request_principal``)
    and hands it to the services, which decide what exists and what is visible."""
    router = APIRouter(tags=["Explore API v2.1"])

    def instance(request: Request):
        return request.app.state.instance

    def base_url(request: Request) -> str:
        return portal_url(request, portal)

    @both(router, "/catalog/datasets", summary="Search the catalogue")
    def list_datasets(request: Request, principal: Caller, limit: Annotated[int, Query()] = 10, offset: Annotated[int, Query()] = 0,
                      include_links: bool = False, select: str | None = None, where: Annotated[list[str], Query()] = [],
                      group_by: str | None = None, order_by: str | None = None,
                      refine: Annotated[list[str], Query()] = [], exclude: Annotated[list[str], Query()] = [],
                      lang: str = "fr", timezone: str = "UTC", include_app_metas: bool = False):
        """ODSQL over the catalogue's own fields (``api.catalog_search``)."""
        datasets = visible_datasets(instance(request), portal, principal)
        objects = [dataset_json(d, base_url(request), include_links, include_app_metas) for d in datasets]
        page = search_catalog(objects, select=select, where=where, group_by=group_by, order_by=order_by, limit=limit,
                              offset=offset, refine=refine, exclude=exclude, lang=lang, timezone=timezone,
                              check_paging=check_paging)
        body = {"total_count": page.total_count, "results": page.results}
        if include_links:
            body["_links"] = [{"rel": "self", "href": str(request.url)}]
        return body

    @both(router, "/catalog/facets", summary="Facet values of the catalogue")
    def catalog_facets_route(request: Request, principal: Caller, facet: Annotated[list[str], Query()] = [],
                             refine: Annotated[list[str], Query()] = [], exclude: Annotated[list[str], Query()] = [],
                             where: Annotated[list[str], Query()] = [], timezone: str = "UTC"):
        objects = [dataset_json(d, base_url(request)) for d in visible_datasets(instance(request), portal, principal)]
        return {"links": [{"rel": "self", "href": f"{base_url(request)}/api/explore/v2.1/catalog/facets"}],
                "facets": catalog_facets(objects, facet=facet, refine=refine, exclude=exclude, where=where,
                                         timezone=timezone)}

    @both(router, "/catalog/datasets/{dataset_id}", summary="A dataset's metadata and schema")
    def get_dataset(request: Request, dataset_id: str, principal: Caller, include_links: bool = False,
                    include_app_metas: bool = False):
        dataset = get_visible_dataset(instance(request), portal, dataset_id, principal)
        return dataset_json(dataset, base_url(request), include_links, include_app_metas)

    @both(router, "/catalog/datasets/{dataset_id}/records", summary="Query a dataset's records")
    def get_records(request: Request, dataset_id: str, principal: Caller, select: str | None = None, order_by: str | None = None,
                    limit: Annotated[int, Query()] = 10, offset: Annotated[int, Query()] = 0,
                    refine: Annotated[list[str], Query()] = [], exclude: Annotated[list[str], Query()] = [],
                    include_links: bool = False, where: Annotated[list[str], Query()] = [],
                    group_by: str | None = None, lang: str = "fr", timezone: str = "UTC",
                    after: Annotated[str | None, Query(description="Beyond Opendatasoft: walk all records with a "
                                                       "cursor (start with after=, then follow _links next).")] = None):
        dataset = get_visible_dataset(instance(request), portal, dataset_id, principal)
        page = query_records(instance(request), dataset, select=select, order_by=order_by, limit=limit, offset=offset,
                             refine=refine, exclude=exclude, after=after, with_ids=include_links, where=where,
                             group_by=group_by, lang=lang, timezone=timezone, principal=principal)
        body = {"total_count": page.total_count, "results": page.results}
        if include_links or after is not None:
            links = [{"rel": "self", "href": str(request.url)}]
            if page.next_cursor:
                links.append({"rel": "next", "href": str(request.url.include_query_params(after=page.next_cursor))})
            elif after is None and offset + len(page.results) < page.total_count and page.results:
                links.append({"rel": "next", "href": str(request.url.include_query_params(offset=offset + len(page.results)))})
            body["_links"] = links
        return json_response(body)

    @both(router, "/catalog/datasets/{dataset_id}/records/{record_id}", summary="One record by id")
    def get_one_record(request: Request, dataset_id: str, record_id: str, principal: Caller, select: str | None = None,
                       lang: str = "fr", timezone: str = "UTC"):
        dataset = get_visible_dataset(instance(request), portal, dataset_id, principal)
        return get_record(instance(request), dataset, record_id, select=select, lang=lang, timezone=timezone,
                          principal=principal)

    @both(router, "/catalog/datasets/{dataset_id}/facets", summary="Facet values with counts")
    def get_facets(request: Request, dataset_id: str, principal: Caller, facet: Annotated[list[str], Query()] = [],
                   refine: Annotated[list[str], Query()] = [], exclude: Annotated[list[str], Query()] = [],
                   where: Annotated[list[str], Query()] = [], timezone: str = "UTC"):
        dataset = get_visible_dataset(instance(request), portal, dataset_id, principal)
        href = f"{base_url(request)}/api/explore/v2.1/catalog/datasets/{dataset.slug}/facets"
        return json_response({"links": [{"rel": "self", "href": href}],
                              "facets": dataset_facets(instance(request), dataset, facet=facet, refine=refine,
                                                       exclude=exclude, where=where, timezone=timezone, principal=principal)})

    @both(router, "/catalog/datasets/{dataset_id}/attachments", summary="Files attached to a dataset")
    def list_attachments(request: Request, dataset_id: str, principal: Caller):
        dataset = get_visible_dataset(instance(request), portal, dataset_id, principal)
        check_records_access(instance(request), dataset, principal)
        href = f"{base_url(request)}/api/explore/v2.1/catalog/datasets/{dataset.slug}/attachments"
        return {"links": [{"rel": "self", "href": href}], "attachments": [
            {"href": f"{href}/{a.attachment_id}",
             "metas": {"mime-type": a.mimetype, "title": a.title, "url": f"odsfile://{a.attachment_id}", "id": a.attachment_id}}
            for a in dataset.attachments]}

    @router.get("/catalog/datasets/{dataset_id}/attachments/{attachment_id}", summary="Download an attachment")
    def get_attachment(request: Request, dataset_id: str, attachment_id: str, principal: Caller):
        dataset = get_visible_dataset(instance(request), portal, dataset_id, principal)
        check_records_access(instance(request), dataset, principal)
        attachment = next((a for a in dataset.attachments if a.attachment_id == attachment_id), None)
        if attachment is None:
            raise not_found(f"Unknown attachment: {attachment_id}")
        return FileResponse(attachment.path, media_type=attachment.mimetype, filename=attachment.title)

    @both(router, "/catalog/datasets/{dataset_id}/exports", summary="Export formats of a dataset")
    def list_exports(request: Request, dataset_id: str, principal: Caller):
        get_visible_dataset(instance(request), portal, dataset_id, principal)
        href = f"{base_url(request)}/api/explore/v2.1/catalog/datasets/{dataset_id}/exports"
        return {"links": [{"rel": "self", "href": href}] + [{"rel": name, "href": f"{href}/{name}"} for name in FORMATS]}

    @both(router, "/catalog/datasets/{dataset_id}/exports/{format}", summary="Export records (streamed, no row cap)")
    def export(request: Request, dataset_id: str, format: str, principal: Caller, select: str | None = None, order_by: str | None = None,
               limit: int = -1, use_labels: bool = False, compressed: bool = False,
               delimiter: Literal[";", ",", "\t", "|"] = ";", list_separator: str = ",", quote_all: bool = False,
               with_bom: bool = True, parquet_compression: Literal["snappy", "zstd"] = "snappy", epsg: int = 4326,
               refine: Annotated[list[str], Query()] = [], exclude: Annotated[list[str], Query()] = [],
               where: Annotated[list[str], Query()] = [], timezone: str = "UTC", group_by: str | None = None):
        dataset = get_visible_dataset(instance(request), portal, dataset_id, principal)
        options = ExportOptions(use_labels=use_labels, delimiter=delimiter, list_separator=list_separator,
                                quote_all=quote_all, with_bom=with_bom, parquet_compression=parquet_compression,
                                epsg=epsg, filename=dataset.slug, timezone=timezone)
        fmt, chunks = export_stream(instance(request), dataset, format, select=select, order_by=order_by, limit=limit,
                                    options=options, refine=refine, exclude=exclude, where=where, timezone=timezone,
                                    group_by=group_by, principal=principal,
                                    ip=request.client.host if request.client else None)
        filename = f"{dataset.slug}.{fmt.extension}"
        media_type = fmt.media_type
        if compressed:
            chunks, filename, media_type = gzipped(chunks), filename + ".gzip", "application/gzip"
        return StreamingResponse(chunks, media_type=media_type,
                                 headers={"Content-Disposition": f'attachment; filename="{filename}"'})

    return router
