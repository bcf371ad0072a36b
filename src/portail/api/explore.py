"""Explore API v2.1 routes (Opendatasoft-compatible): thin handlers over ``explore_service``.

Every route answers with and without a trailing slash, as real clients send both. Handlers are
plain functions of ``(request, principal, path parameters, query parameters)``: ``api.params.query_route``
reads their query parameters from a table (the same table describes them in the OpenAPI document)
and runs them in a worker thread (``deps.in_worker``).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from starlette.datastructures import URL

from portail.api.catalog_search import CatalogPage, catalog_facets, catalog_where, search_catalog
from portail.api.deps import dataset_url, portal_url
from portail.api.explore_service import (GROUP_WINDOW, MAX_LIMIT, MAX_WINDOW, check_paging, check_records_access,
                                         dataset_facets, export_stream, get_record, get_visible_dataset, query_records,
                                         visible_datasets)
from portail.api.streaming import ClosingStreamingResponse
from portail.api.errors import invalid_parameter, not_found
from portail.api.params import LANG, TIMEZONE, Param, query_route
from portail.api.serialize import dataset_json, json_response
from portail.api.v1_query import q_conditions
from portail.auth import Principal
from portail.catalog.models import Dataset
from portail.exports import FORMATS, ExportOptions
from portail.operations import Instance
from portail.schema import GEO_TYPES, fields_from_json

#: The query parameters of the routes (``api.params``), by what they do.
FILTERS = (Param("where", many=True), Param("refine", many=True), Param("exclude", many=True),
           Param("qv1", description="Beyond the v2.1 specification: a v1 q (words, field:value, AND/OR…), as "
                                    "Opendatasoft's widgets and export links send it; ANDed with where."))
CLOCK = (TIMEZONE,)
LANGUAGE = (LANG, *CLOCK)
PAGE = (Param("limit", int, description="Default 10; with group_by, every group (up to 20,000), as Opendatasoft "
                                         "answers"), Param("offset", int, 0))
QUERY = (Param("select"), Param("group_by"), Param("order_by"), *FILTERS)
DATASETS = (*QUERY, *PAGE, *LANGUAGE, Param("include_links", bool, False), Param("include_app_metas", bool, False))
DATASET = (Param("select"), *LANGUAGE, Param("include_links", bool, False), Param("include_app_metas", bool, False))
RECORDS = (*QUERY, *PAGE, *LANGUAGE, Param("include_links", bool, False),
           Param("after", description="Beyond Opendatasoft: walk all records with a cursor (start with after=, "
                                      "then follow _links next)."))
RECORD = (Param("select"), *LANGUAGE)
CATALOG_FACETS = (Param("facet", many=True), *FILTERS, *CLOCK)
#: A dataset's facets take ``lang`` in Opendatasoft's spec (the catalogue's do not): checked as
#: everywhere, though no facet value is localised.
FACETS = (*CATALOG_FACETS, LANG)
EXPORT = (*QUERY, *LANGUAGE, Param("limit", int, -1),
          Param("offset", int, 0, description="Beyond the v2.1 specification, as live portals honour it: rows skipped "
                                              "first, for downloads in chunks"),
          Param("use_labels", bool, False), Param("compressed", bool, False),
          Param("delimiter", default=";", choices=(";", ",", "\t", "|")), Param("list_separator", default=","),
          Param("quote_all", bool, False,
                description="csv: quote every value, the header too. An empty text is then written \"\" and a null "
                            "an empty cell; without it, both are an empty cell, as Python's csv.QUOTE_MINIMAL "
                            "writes them (\"\" alone on its row, which readers would skip empty)"),
          Param("with_bom", bool, True),
          Param("parquet_compression", default="snappy", choices=("snappy", "zstd")), Param("epsg", int, 4326),
          Param("name_field", description="gpx, ov2, ical: the field naming each waypoint or event (ov2, ical: the "
                                          "first text field by default)"),
          Param("description_field_list", description="gpx, ical: the fields, comma-separated, written in each "
                                                      "waypoint's or event's description, a line 'field: value' each"),
          Param("use_extension", bool, True, description="gpx: every field in the waypoint's extensions; false: "
                                                        "none, and the description holds them all"),
          Param("start_field", description="ical: the date or datetime field each event starts at (the first "
                                           "one by default); name_field titles the events, description_field_list "
                                           "describes them"),
          Param("end_field", description="ical: the date or datetime field each event ends at (none by default)"))

#: What the formats cannot hold, said where clients read the route (the OpenAPI document).
EXPORT_NOTES = ("xlsx: an Excel cell holds 32,767 characters; a longer value (a detailed shape's GeoJSON) "
                "is left out, its cell empty with a comment giving its length. gpx, kml, ov2: WGS84 by definition, "
                "epsg does not apply. geojson in another epsg than 4326: projected, the collection naming its "
                "system in a crs member (GeoJSON's 2008 specification, which GDAL and QGIS read). fgb: with order_by, written without a spatial index, which would "
                "reorder the features.")


def gzipped(chunks: Iterator[bytes]) -> Iterator[bytes]:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    for chunk in chunks:
        if out := compressor.compress(chunk):
            yield out
    yield compressor.flush()


def page_size(limit: int | None, group_by: str | None) -> int:
    """``limit`` as given; else 10 records, or every group (-1: up to the 20,000-group window)
    when the query groups. Live Opendatasoft portals answer a group_by without limit with all
    its groups (data.education.gouv.fr's list of 103 départements, recorded with no limit sent),
    and ods-widgets' ``odsAdvAnalysis`` sends a limit only when its author sets one: a chart of
    more than 10 categories was silently cut to 10."""
    if limit is not None:
        return limit
    return -1 if group_by and group_by.strip() else 10


def offset_links(url: URL, offset: int, limit: int, total: int, grouped: bool = False,
                 previous: bool = False) -> list[dict[str, str]]:
    """``self``, ``first``, ``next`` and ``last`` of an offset-paged answer (v2.0's pagination
    links), each a request the server accepts: pages stop at Opendatasoft's window (offset +
    limit ≤ 10,000, 20,000 for groups), so ``next`` is left out at the window, as at the end,
    and a page that would cross it is shortened. Past the window, the ``after`` cursor walks.
    ``previous``: a ``prev`` link too, past the first page (``api.explore_v20``)."""
    window, largest = (GROUP_WINDOW, GROUP_WINDOW) if grouped else (MAX_WINDOW, MAX_LIMIT)
    size = largest if limit == -1 else limit
    links = [{"rel": "self", "href": str(url)}]
    if size <= 0:
        return links

    def at(rel: str, start: int) -> dict[str, str]:
        return {"rel": rel, "href": str(url.include_query_params(offset=start, limit=min(size, window - start)))}

    reachable = min(total, window)
    links.append(at("first", 0))
    if previous and offset > 0:
        links.append(at("prev", max(offset - size, 0)))
    if offset + size < reachable:
        links.append(at("next", offset + size))
    links.append(at("last", (max(reachable - 1, 0) // size) * size))
    return links


def with_qv1(dataset: Dataset, where: list[str] | None, qv1: str | None) -> tuple[list[str], str | None]:
    """``where`` and ``qv1`` over the caller's fields (its dataset copy's): the conditions to
    AND, and the plain full text ``qv1`` leaves (``api.v1_query.q_conditions``). Ignoring
    ``qv1`` answered every record: an app reading the first record of its station's export got
    another station."""
    if qv1 is None:  # most calls: no schema to read (~5 % of a kept answer's time)
        return list(where or []), None
    conditions, text = q_conditions(qv1, fields_from_json(dataset.current.fields if dataset.current else []))
    return [*(where or []), *conditions], text


def dataset_object(instance: Instance, portal: str, base: str, principal: Principal, dataset_id: str, *,
                   select: str | None, lang: str, timezone: str, include_links: bool,
                   include_app_metas: bool) -> tuple[Dataset, dict]:
    """A dataset and its object as the caller may see it; ``select`` narrows the object as on
    the catalogue (one ODSQL: ``api.catalog_search``). v2.1's lookup, and v2.0's inside its wrapper."""
    dataset = get_visible_dataset(instance, portal, dataset_id, principal)
    body = dataset_json(dataset, base, include_links, include_app_metas, timezone)
    if not (select and select.strip()):
        return dataset, body
    page = search_catalog([body], select=select, lang=lang, timezone=timezone, check_paging=check_paging)
    if page.aggregated:
        raise invalid_parameter("A dataset lookup cannot aggregate: select properties or expressions only.")
    return dataset, page.results[0]


def catalog_page(instance: Instance, portal: str, base: str, principal: Principal, *, include_links: bool,
                 include_app_metas: bool, timezone: str, **query) -> CatalogPage:
    """ODSQL over the catalogue's own fields (``api.catalog_search``), the datasets the caller may
    see: v2.1's search, and v2.0's inside its wrappers."""
    datasets = visible_datasets(instance, portal, principal)
    objects = [dataset_json(d, base, include_links, include_app_metas, timezone) for d in datasets]
    return search_catalog(objects, timezone=timezone, check_paging=check_paging, **query)


def records_answer(request: Request, principal: Principal, portal: str, dataset_id: str, *, select: str | None,
                   order_by: str | None, limit: int | None, offset: int, refine: list[str], exclude: list[str],
                   include_links: bool, where: list[str], qv1: str | None, group_by: str | None, lang: str,
                   timezone: str, after: str | None) -> Response:
    """v2.1's records answer, flat (``total_count``, ``results``): its route's, and the one the
    2021 ``…/query`` routes gave (``explore_v20``), which Opendatasoft's QGIS plugin reads."""
    instance = request.app.state.instance
    dataset = get_visible_dataset(instance, portal, dataset_id, principal)
    where, text = with_qv1(dataset, where, qv1)
    limit = page_size(limit, group_by)
    page = query_records(instance, dataset, select=select, order_by=order_by, limit=limit, offset=offset,
                         refine=refine, exclude=exclude, after=after, with_ids=include_links, where=where, text=text,
                         group_by=group_by, lang=lang, timezone=timezone, principal=principal)
    body = {"total_count": page.total_count, "results": page.results}
    if include_links:  # each record's own links (the record schema's _links), beside its _id
        href = f"{portal_url(request, portal)}/api/explore/v2.1/catalog/datasets/{dataset.slug}"
        for record in page.results:
            if "_id" in record:
                record["_links"] = [{"rel": "self", "href": f"{href}/records/{record['_id']}"},
                                    {"rel": "dataset", "href": href}]
    if after is not None:
        links = [{"rel": "self", "href": str(request.url)}]
        if page.next_cursor:
            links.append({"rel": "next", "href": str(request.url.include_query_params(after=page.next_cursor))})
        body["_links"] = links
    elif include_links:
        body["_links"] = offset_links(request.url, offset, limit, page.total_count, grouped=bool(group_by))
    return json_response(body)


def datasets_answer(request: Request, principal: Principal, portal: str, *, limit: int | None, offset: int,
                    include_links: bool, select: str | None, where: list[str], qv1: str | None, group_by: str | None,
                    order_by: str | None, refine: list[str], exclude: list[str], lang: str, timezone: str,
                    include_app_metas: bool) -> dict:
    """v2.1's catalogue answer, flat: its route's, and the 2021 ``/catalog/query``'s (``explore_v20``)."""
    limit = page_size(limit, group_by)
    page = catalog_page(request.app.state.instance, portal, portal_url(request, portal), principal,
                        include_links=include_links, include_app_metas=include_app_metas, timezone=timezone,
                        select=select, where=catalog_where(where, qv1), group_by=group_by, order_by=order_by,
                        limit=limit, offset=offset, refine=refine, exclude=exclude, lang=lang)
    body = {"total_count": page.total_count, "results": page.results}
    if include_links:
        body["_links"] = offset_links(request.url, offset, limit, page.total_count, grouped=page.aggregated)
    return body


def attachments_answer(dataset: Dataset, href: str) -> dict:
    """The attachments of a dataset (already checked: ``check_records_access``), each at ``href``/its id."""
    return {"links": [{"rel": "self", "href": href}], "attachments": [
        {"href": f"{href}/{a.attachment_id}",
         "metas": {"mime-type": a.mimetype, "title": a.title, "url": a.url, "id": a.attachment_id}}
        for a in dataset.attachments]}


def attachment_file(dataset: Dataset, attachment_id: str) -> FileResponse:
    """One attachment of a dataset (already checked: ``check_records_access``), or 404."""
    attachment = next((a for a in dataset.attachments if a.attachment_id == attachment_id), None)
    if attachment is None:
        raise not_found(f"Unknown attachment: {attachment_id}")
    return FileResponse(attachment.path, media_type=attachment.mimetype, filename=attachment.title)


def export_links(dataset: Dataset, href: str, extra: tuple[str, ...] = ()) -> dict:
    """The formats a client can follow, at ``href``/format: those the dataset's fields fit
    (``ExportFormat.fits``: a geo format needs a geometry, the calendar a date), as the others
    answer 400; ``extra``: names a
    version of the API serves beside ``FORMATS``."""
    fields = fields_from_json(dataset.current.fields if dataset.current else [])
    names = [name for name, fmt in FORMATS.items() if fmt.fits(fields)] + list(extra)
    return {"links": [{"rel": "self", "href": href}] + [{"rel": name, "href": f"{href}/{name}"} for name in names]}


def export_answer(request: Request, principal: Principal, portal: str, dataset_id: str, format: str, *,
                  select: str | None, order_by: str | None, limit: int, offset: int, use_labels: bool,
                  compressed: bool, delimiter: str, list_separator: str, quote_all: bool, with_bom: bool,
                  parquet_compression: str, epsg: int, refine: list[str], exclude: list[str], where: list[str], qv1: str | None, lang: str,
                  timezone: str, group_by: str | None, name_field: str | None = None,
                  description_field_list: str | None = None, use_extension: bool = True,
                  start_field: str | None = None, end_field: str | None = None,
                  epoch_datetimes: bool = False) -> StreamingResponse:
    """A dataset's records as a file, streamed (``export_stream``): v2.1's export, and v2.0's
    with its defaults (``epoch_datetimes``: its GeoJSON's, ``ExportOptions``)."""
    instance = request.app.state.instance
    dataset = get_visible_dataset(instance, portal, dataset_id, principal)
    where, text = with_qv1(dataset, where, qv1)
    options = ExportOptions(use_labels=use_labels, delimiter=delimiter, list_separator=list_separator,
                            quote_all=quote_all, with_bom=with_bom, parquet_compression=parquet_compression,
                            epsg=epsg, filename=dataset.slug, timezone=timezone, ordered=order_by is not None,
                            epoch_datetimes=epoch_datetimes, name_field=(name_field or "").strip() or None,
                            description_fields=tuple(n.strip() for n in (description_field_list or "").split(",")
                                                     if n.strip()),
                            use_extension=use_extension, start_field=(start_field or "").strip() or None,
                            end_field=(end_field or "").strip() or None,
                            dataset_url=dataset_url(request, portal, dataset.slug))
    fmt, chunks = export_stream(instance, dataset, format, select=select, order_by=order_by, limit=limit,
                                offset=offset, options=options, refine=refine, exclude=exclude, where=where, text=text, lang=lang,
                                timezone=timezone, group_by=group_by, principal=principal,
                                ip=request.client.host if request.client else None)
    filename = f"{dataset.slug}.{fmt.extension}"
    media_type = fmt.media_type
    if compressed:
        chunks, filename, media_type = gzipped(chunks), filename + ".gzip", "application/gzip"
    return ClosingStreamingResponse(chunks, media_type=media_type,
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def explore_router(portal: str) -> APIRouter:
    """The Explore API of one portal (by id). Every route takes the caller (``request_principal``)
    and hands it to the services, which decide what exists and what is visible."""
    router = APIRouter(tags=["Explore API v2.1"])

    def instance(request: Request):
        return request.app.state.instance

    def base_url(request: Request) -> str:
        return portal_url(request, portal)

    # The most asked first: routes are tried in order.
    @query_route(router, "/catalog/datasets/{dataset_id}/records", RECORDS, summary="Query a dataset's records")
    def get_records(request: Request, principal, dataset_id: str, **params: Any):
        return records_answer(request, principal, portal, dataset_id, **params)

    @query_route(router, "/catalog/datasets/{dataset_id}/records/{record_id}", RECORD, summary="One record by id")
    def get_one_record(request: Request, principal, dataset_id: str, record_id: str, *, select, lang, timezone):
        dataset = get_visible_dataset(instance(request), portal, dataset_id, principal)
        return get_record(instance(request), dataset, record_id, select=select, lang=lang, timezone=timezone,
                          principal=principal)

    @query_route(router, "/catalog/datasets/{dataset_id}/facets", FACETS, summary="Facet values with counts")
    def get_facets(request: Request, principal, dataset_id: str, *, facet, refine, exclude, where, qv1, timezone, lang):
        dataset = get_visible_dataset(instance(request), portal, dataset_id, principal)
        href = f"{base_url(request)}/api/explore/v2.1/catalog/datasets/{dataset.slug}/facets"
        where, text = with_qv1(dataset, where, qv1)
        return json_response({"links": [{"rel": "self", "href": href}],
                              "facets": dataset_facets(instance(request), dataset, facet=facet, refine=refine,
                                                       exclude=exclude, where=where, text=text, timezone=timezone,
                                                       principal=principal)})

    @query_route(router, "/catalog/datasets/{dataset_id}", DATASET, summary="A dataset's metadata and schema")
    def get_dataset(request: Request, principal, dataset_id: str, *, select, lang, timezone, include_links,
                    include_app_metas):
        """``select`` narrows the object as on the catalogue (one ODSQL: ``api.catalog_search``)."""
        return dataset_object(instance(request), portal, base_url(request), principal, dataset_id, select=select,
                              lang=lang, timezone=timezone, include_links=include_links,
                              include_app_metas=include_app_metas)[1]

    @query_route(router, "/catalog/datasets", DATASETS, summary="Search the catalogue")
    def list_datasets(request: Request, principal, **params: Any):
        """ODSQL over the catalogue's own fields (``api.catalog_search``)."""
        return datasets_answer(request, principal, portal, **params)

    @query_route(router, "/", summary="The API's sources (v2.0's links, which clients still read)")
    def api_root(request: Request, principal):
        root = f"{base_url(request)}/api/explore/v2.1"
        return {"links": [{"rel": "self", "href": root}, {"rel": "catalog", "href": f"{root}/catalog"}]}

    @query_route(router, "/catalog/", summary="The catalogue's sub-resources (v2.0's links)")
    def catalog_root(request: Request, principal):
        root = f"{base_url(request)}/api/explore/v2.1/catalog"
        return {"links": [{"rel": "self", "href": root}] + [{"rel": name, "href": f"{root}/{name}"}
                                                            for name in ("datasets", "exports", "facets")]}

    @query_route(router, "/catalog/facets", CATALOG_FACETS, summary="Facet values of the catalogue")
    def catalog_facets_route(request: Request, principal, *, facet, refine, exclude, where, qv1, timezone):
        objects = [dataset_json(d, base_url(request)) for d in visible_datasets(instance(request), portal, principal)]
        return {"links": [{"rel": "self", "href": f"{base_url(request)}/api/explore/v2.1/catalog/facets"}],
                "facets": catalog_facets(objects, facet=facet, refine=refine, exclude=exclude,
                                         where=catalog_where(where, qv1), timezone=timezone)}

    @query_route(router, "/catalog/datasets/{dataset_id}/attachments", summary="Files attached to a dataset")
    def list_attachments(request: Request, principal, dataset_id: str):
        dataset = get_visible_dataset(instance(request), portal, dataset_id, principal)
        check_records_access(instance(request), dataset, principal)
        return attachments_answer(dataset, f"{base_url(request)}/api/explore/v2.1/catalog/datasets/{dataset.slug}/attachments")

    @query_route(router, "/catalog/datasets/{dataset_id}/attachments/{attachment_id}", summary="Download an attachment")
    def get_attachment(request: Request, principal, dataset_id: str, attachment_id: str):
        dataset = get_visible_dataset(instance(request), portal, dataset_id, principal)
        check_records_access(instance(request), dataset, principal)
        return attachment_file(dataset, attachment_id)

    @query_route(router, "/catalog/datasets/{dataset_id}/exports", summary="Export formats of a dataset")
    def list_exports(request: Request, principal, dataset_id: str):
        """The formats a client can follow: the geo formats only for a dataset with a geo field
        (the caller's schema), as they answer 400 otherwise; at the dataset's id, not a former one
        it was asked by (a rename), as its other links."""
        dataset = get_visible_dataset(instance(request), portal, dataset_id, principal)
        return export_links(dataset, f"{base_url(request)}/api/explore/v2.1/catalog/datasets/{dataset.slug}/exports")

    @query_route(router, "/catalog/datasets/{dataset_id}/exports/{format}", EXPORT,
                 summary="Export records (streamed, no row cap)", description=EXPORT_NOTES)
    def export(request: Request, principal, dataset_id: str, format: str, **params: Any) -> StreamingResponse:
        return export_answer(request, principal, portal, dataset_id, format, **params)

    return router
