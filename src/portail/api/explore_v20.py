"""Explore API v2.0 routes (Opendatasoft), next to v2.1: apps written against v2.0 call
``/api/v2/catalog/...`` and ``/api/explore/v2.0/catalog/...`` and read its shapes, which v2.1
flattened. Thin handlers over the same services as ``api.explore`` (so the same access control:
hidden fields, row filters, private datasets) and its helpers; they only reshape the answers.

Where the shapes come from:

- Opendatasoft's v2.0 OpenAPI document (servers ``…/api/v2``; its examples ``datasets``,
  ``dataset``, ``records``, ``group_by_country``, ``record``, ``facets``, ``attachments``):
  every item wrapped with its links (``{"links", "dataset"}``, ``{"links", "record": {"id",
  "timestamp", "size", "fields"}}``), the rows of a grouped query flat in ``records``, link
  relations ``self``, ``first``, ``last``, ``next``, ``dataset``, ``catalog`` (and ``prev`` here,
  past the first page: the 2019 beta described a previous-page link, under no name a source
  gives; ``prev`` is IANA's), the export formats (``xls`` among them).
- The v2 documentation (``ods-documentation-explore-api``, ``source/includes/v2``): the
  ``aggregates`` endpoints and their ``{"aggregations": [...]}`` (``_dataset.md``,
  ``_deprecated.md``: "moved to records?group_by, which are equivalent"), the facets' ``self``
  and ``source`` links (``_facets.md``).
- v2.1's changelog (the reference's §1.1, its [D20] lines): v2.0 dropped the null group, wrote
  date group keys as timestamps and ``year()``…``second()`` as text (``odsql.Query.v20``, on
  records, aggregates and the catalogue's ODSQL alike), wrote CSV without a BOM, XLS where v2.1
  writes XLSX, and GeoJSON datetimes "as integer timestamps" (epoch milliseconds here, the unit
  of its date group keys: ``ExportOptions.epoch_datetimes``).
- The v2 documentation's "Dataset technical fields" (``_dataset.md``): ``datasetid``,
  ``record_timestamp``, ``recordid``, ``record_size`` in select, where, group_by and order_by
  (``odsql.technical``), equal to the wrapped record's ``id``, ``timestamp`` and ``size``. Not
  on v2.1, whose ODSQL reference names none (``recordid`` excepted, which v1 also reads).

Not reproduced: the technical fields and v2.0's ODSQL semantics in its exports, which compile
v2.1's ODSQL. Its exports take v2.1's ``offset``, which v2.0's OpenAPI document does not list
(nor does v2.1's) but live portals honour.

The 2021 ``query`` routes (``/catalog/query``, ``/catalog/datasets/<id>/query``), which
Opendatasoft's QGIS plugin and api-client before v21 call, answer v2.1's flat bodies (v2.1
renamed them ``datasets`` and ``records``).

The 2019 beta's ``rows``/``start`` are read where ``limit``/``offset`` are not given
(Opendatasoft's advanced widgets send ``rows``), and so are its ``search`` and ``sort``
(``public.opendatasoft.com/api/v2/swagger.json``, whose v2.0 clients still send them:
``search``, repeated, "a prefixed text search for each provided terms in all visible fields",
each ANDed as ODSQL's ``suggest(*, …)``; ``sort``, "deprecated, use order_by", field names
each "possibly prefixed with a minus" for descending, read where ``order_by`` is not given).
Ignoring them answered every record in storage order, as if the client's filter had matched.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from portail import odsql
from portail.odsql import ast
from portail.api.catalog_search import catalog_facets, catalog_where
from portail.api.deps import portal_url
from portail.api.errors import ApiError, invalid_parameter
from portail.api.explore import RECORDS as V21_RECORDS
from portail.api.explore import (CATALOG_FACETS, DATASET, DATASETS, EXPORT, EXPORT_NOTES, FACETS, LANGUAGE, PAGE, QUERY, RECORD,
                                 attachment_file, attachments_answer, catalog_page, dataset_object, datasets_answer,
                                 export_answer, export_links, offset_links, page_size, records_answer, with_qv1)
from portail.api.explore_service import (check_records_access, dataset_facets, get_record, get_visible_dataset,
                                         query_records, visible_datasets)
from portail.api.params import Param, defaulting, params_of, query_route
from portail.api.serialize import dataset_json, json_response
from portail.api.v1_query import stars_checked
from portail.auth import Principal
from portail.catalog.models import Dataset
from portail.exports import LEGACY_NAMES

#: Where v2.0 is served under each portal's root: its first path, and the one of the
#: ``explore`` family that v2.1 joined (both seen in public apps).
V20_PREFIXES = ("/api/v2", "/api/explore/v2.0")


def _without(params: tuple[Param, ...], *names: str) -> tuple[Param, ...]:
    """A v2.1 parameter table less the parameters v2.0 did not have."""
    return tuple(p for p in params if p.name not in names)


#: The 2019 beta's names of limit and offset, which Opendatasoft's advanced widgets still send.
BETA_PAGE = (Param("rows", int, description="The 2019 beta's limit, read when limit is not given"),
             Param("start", int, description="The 2019 beta's offset, read when offset is not given"))
#: The 2019 beta's full text, ANDed with where (``beta_where``).
BETA_SEARCH = (Param("search", many=True, description="The 2019 beta's full text: words starting with each term, "
                                                        "in any visible field (suggest(*, …)); ANDed with where"),)
#: The 2019 beta's sort (``beta_order``).
BETA_SORT = (Param("sort", many=True, description="The 2019 beta's sort, deprecated for order_by: field names, "
                                                  "-name for descending; read when order_by is not given"),)
#: v2.0's parameters: v2.1's tables (``api.explore``) less what v2.1 added.
RECORDS = (*QUERY, *PAGE, *BETA_PAGE, *BETA_SEARCH, *BETA_SORT, *LANGUAGE)
#: The aggregates routes page their groups as records do (v2.0's OpenAPI lists offset, and
#: refine/exclude on the catalogue's too).
AGGREGATES = (*QUERY, Param("limit", int, -1), Param("offset", int, 0), *LANGUAGE)
CATALOG_DATASETS = (*_without(DATASETS, "include_links"), *BETA_PAGE, *BETA_SEARCH, *BETA_SORT)
CATALOG_AGGREGATES = AGGREGATES
DATASET_LOOKUP = _without(DATASET, "include_links")
#: v2.0's exports wrote CSV without a BOM (v2.1's changelog) and could not group (v2.1 added it).
EXPORT_FILE = (*defaulting(_without(EXPORT, "group_by"), "with_bom", False), *BETA_SEARCH, *BETA_SORT)
#: The facets took the beta's search too (its swagger's ``getRecordsFacets``, ``getDatasetsFacets``).
FACETS_V20 = (*FACETS, *BETA_SEARCH)
CATALOG_FACETS_V20 = (*CATALOG_FACETS, *BETA_SEARCH)

# -- the OpenAPI description of the answers (the components are ``api.openapi``'s) ------------
_LINKS = {"type": "array", "items": {"$ref": "#/components/schemas/Link"}}
_OBJECTS = {"type": "array", "items": {"type": "object"}}
_RECORD = {"type": "object", "required": ["record"], "properties": {
    "links": _LINKS, "record": {"type": "object", "required": ["id", "fields"], "properties": {
        "id": {"type": "string"}, "timestamp": {"type": "string"}, "size": {"type": "integer"},
        "fields": {"type": "object"}}}}}
_ANSWERS: dict[str, dict[str, Any]] = {
    "records": {"type": "object", "required": ["links", "records"],
                "description": "Each record wrapped with its links; the rows of a grouped query flat, without "
                               "total_count.",
                "properties": {"total_count": {"type": "integer", "minimum": 0}, "links": _LINKS,
                               "records": _OBJECTS}},
    "record": _RECORD,
    "datasets": {"type": "object", "required": ["links", "datasets"],
                 "properties": {"total_count": {"type": "integer", "minimum": 0}, "links": _LINKS,
                                "datasets": _OBJECTS}},
    "dataset": {"type": "object", "required": ["links", "dataset"], "properties": {
        "links": _LINKS,
        "dataset": {"type": "object", "description": "The dataset object (v2.1's), narrowed by select"}}},
    "aggregations": {"type": "object", "required": ["aggregations"], "properties": {"aggregations": _OBJECTS}},
    "facets": {"$ref": "#/components/schemas/Facets"},
    "attachments": {"$ref": "#/components/schemas/Attachments"},
    "links": {"$ref": "#/components/schemas/Links"},
}


def _answer(name: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": "Successful answer", "content": {"application/json": {"schema": _ANSWERS[name]}}}}


# -- shapes -----------------------------------------------------------------------------------
def published_at(dataset: Dataset) -> datetime:
    """When the current version's records were published (processed), an aware instant: v2.0's
    ``record_timestamp``, "the publishing date", of every record of the version."""
    moment = dataset.data_processed or dataset.modified
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def technical_fields(dataset: Dataset) -> odsql.Technical:
    """The values of v2.0's technical fields in ODSQL (``datasetid``, ``record_timestamp``;
    ``record_size`` is computed per record): the same as the wrapped records show."""
    return odsql.Technical(dataset_id=dataset.slug, timestamp=published_at(dataset))


def wrapped_record(fields: dict[str, Any], record_id: str, size: int, timestamp: str,
                   dataset_href: str) -> dict[str, Any]:
    """One record as v2.0 wrote it: its links (itself, its dataset) and ``record``. ``size`` is
    the engine's (``odsql.record_size_expression``: the length in bytes of the whole record
    written as compact JSON, whatever the select), so that it equals ODSQL's ``record_size``."""
    return {"links": [{"rel": "self", "href": f"{dataset_href}/records/{record_id}"},
                      {"rel": "dataset", "href": dataset_href}],
            "record": {"id": record_id, "timestamp": timestamp, "size": size, "fields": fields}}


def paging(request: Request, limit: int | None, offset: int, rows: int | None, start: int | None,
           group_by: str | None) -> tuple[int, int]:
    """limit and offset, or the 2019 beta's rows and start where limit and offset are not given
    (ods-widgets' advanced results send ``rows``: every page was 10 records); neither: v2.1's
    default (``explore.page_size``: 10 records, or every group)."""
    given = params_of(request)
    return (page_size(rows if rows is not None and "limit" not in given else limit, group_by),
            start if start is not None and "offset" not in given else offset)


def beta_where(where: list[str], search: list[str]) -> list[str]:
    """``where`` and the 2019 beta's ``search`` values ANDed: each value's words must each start
    a word of some visible field, as its swagger describes ("a prefixed text search for each
    provided terms"), which ODSQL's ``suggest(*, …)`` is. An empty value says nothing. A star
    before a word's end is a 400 naming ``search``, which the caller wrote (``suggest()``'s own
    refusal named a ``where`` clause it never sent)."""
    return [*where, *(f"suggest(*, {ast.quote_string(stars_checked(text, 'search'))})"
                      for text in search if text.strip())]


def beta_order(order_by: str | None, sort: list[str]) -> str | None:
    """``order_by``, or where it is not given the 2019 beta's ``sort`` as one: comma-separated
    field names (repeated too), a leading ``-`` for descending. Names, not expressions: each is
    quoted, so an unknown one is refused as such (400 ``ODSQLError``)."""
    if order_by and order_by.strip():
        return order_by
    items = [item.strip() for text in sort for item in text.split(",") if item.strip()]
    return ", ".join(f"{ast.quote_name(item[1:].strip())} desc" if item.startswith("-") else ast.quote_name(item)
                     for item in items) or order_by


def dataset_links(href: str, catalog: str) -> list[dict[str, str]]:
    """A dataset's links in v2.0 (the OpenAPI document's ``getDataset``: its records,
    attachments, catalog), each a route served here."""
    return [{"rel": "self", "href": href}, {"rel": "records", "href": f"{href}/records"},
            {"rel": "exports", "href": f"{href}/exports"}, {"rel": "attachments", "href": f"{href}/attachments"},
            {"rel": "catalog", "href": catalog}]


def explore_router(portal: str, prefix: str = V20_PREFIXES[0]) -> APIRouter:
    """The Explore API v2.0 of one portal (by id), mounted at ``prefix`` under its root: the
    links it writes stay under the prefix the client called."""
    router = APIRouter(tags=["Explore API v2.0"])

    def instance(request: Request):
        return request.app.state.instance

    def root(request: Request) -> str:
        return f"{portal_url(request, portal)}{prefix}"

    def dataset_href(request: Request, slug: str) -> str:
        return f"{root(request)}/catalog/datasets/{slug}"

    @query_route(router, "/catalog/datasets/{dataset_id}/records", RECORDS, summary="Query a dataset's records (v2.0)",
                 responses=_answer("records"))
    def get_records(request: Request, principal: Principal, dataset_id: str, *, select, group_by, order_by, where,
                    qv1, refine, exclude, limit, offset, rows, start, search, sort, lang, timezone) -> Response:
        """v2.1's records query with v2.0's ODSQL semantics, each record wrapped; a grouped
        query's rows flat, as v2.0's ``group_by_country`` example shows them."""
        limit, offset = paging(request, limit, offset, rows, start, group_by)
        dataset = get_visible_dataset(instance(request), portal, dataset_id, principal)
        where, text = with_qv1(dataset, beta_where(where, search), qv1)
        order_by = beta_order(order_by, sort)
        page = query_records(instance(request), dataset, select=select, group_by=group_by, order_by=order_by,
                             where=where, text=text, refine=refine, exclude=exclude, limit=limit, offset=offset,
                             lang=lang, timezone=timezone, with_ids=True, principal=principal, v20=True,
                             technical=technical_fields(dataset))
        links = offset_links(request.url, offset, limit, page.total_count, grouped=page.aggregated, previous=True)
        if page.aggregated:
            return json_response({"links": links, "records": page.results})
        href, timestamp = dataset_href(request, dataset.slug), published_at(dataset).isoformat()
        records = [wrapped_record(r, r.pop("_id"), r.pop("_size"), timestamp, href) for r in page.results]
        return json_response({"total_count": page.total_count, "links": links, "records": records})

    @query_route(router, "/catalog/datasets/{dataset_id}/records/{record_id}", RECORD,
                 summary="One record by id (v2.0)", responses=_answer("record"))
    def get_one_record(request: Request, principal: Principal, dataset_id: str, record_id: str, *, select, lang,
                       timezone) -> Response:
        dataset = get_visible_dataset(instance(request), portal, dataset_id, principal)
        fields = get_record(instance(request), dataset, record_id, select=select, lang=lang, timezone=timezone,
                            principal=principal, v20=True, technical=technical_fields(dataset))
        return json_response(wrapped_record(fields, record_id, fields.pop("_size"), published_at(dataset).isoformat(),
                                            dataset_href(request, dataset.slug)))

    @query_route(router, "/catalog/datasets/{dataset_id}/aggregates", AGGREGATES,
                 summary="Aggregate a dataset's records (v2.0, deprecated by Opendatasoft for records?group_by)",
                 responses=_answer("aggregations"))
    def get_aggregates(request: Request, principal: Principal, dataset_id: str, *, select, group_by, order_by, where,
                       qv1, refine, exclude, limit, offset, lang, timezone) -> Response:
        """The records query grouped, every group by default (``limit=-1``, up to 20,000)."""
        dataset = get_visible_dataset(instance(request), portal, dataset_id, principal)
        where, text = with_qv1(dataset, where, qv1)
        page = query_records(instance(request), dataset, select=select, group_by=group_by, order_by=order_by,
                             where=where, text=text, refine=refine, exclude=exclude, limit=limit, offset=offset,
                             lang=lang,
                             timezone=timezone, principal=principal, v20=True, technical=technical_fields(dataset))
        if not page.aggregated:
            raise _not_aggregating()
        return json_response({"aggregations": page.results})

    @query_route(router, "/catalog/datasets/{dataset_id}/facets", FACETS_V20,
                 summary="Facet values with counts (v2.0)", responses=_answer("facets"))
    def get_facets(request: Request, principal: Principal, dataset_id: str, *, facet, refine, exclude, where, qv1,
                   search, timezone, lang) -> Response:
        dataset = get_visible_dataset(instance(request), portal, dataset_id, principal)
        href = dataset_href(request, dataset.slug)
        where, text = with_qv1(dataset, beta_where(where, search), qv1)
        facets = dataset_facets(instance(request), dataset, facet=facet, refine=refine, exclude=exclude, where=where,
                                text=text, timezone=timezone, principal=principal)
        return json_response({"links": [{"rel": "self", "href": f"{href}/facets"}, {"rel": "dataset", "href": href}],
                              "facets": facets})

    @query_route(router, "/catalog/datasets/{dataset_id}", DATASET_LOOKUP, summary="A dataset's metadata (v2.0)",
                 responses=_answer("dataset"))
    def get_dataset(request: Request, principal: Principal, dataset_id: str, *, select, lang, timezone,
                    include_app_metas) -> dict:
        dataset, body = dataset_object(instance(request), portal, root(request), principal, dataset_id, select=select,
                                       lang=lang, timezone=timezone, include_links=False,
                                       include_app_metas=include_app_metas)
        href = dataset_href(request, dataset.slug)
        return {"links": dataset_links(href, f"{root(request)}/catalog"), "dataset": body}

    @query_route(router, "/catalog/datasets", CATALOG_DATASETS, summary="Search the catalogue (v2.0)",
                 responses=_answer("datasets"))
    def list_datasets(request: Request, principal: Principal, *, select, where, qv1, group_by, order_by, refine,
                      exclude, limit, offset, rows, start, search, sort, lang, timezone, include_app_metas) -> dict:
        """``limit=0`` counts the datasets (``total_count``), as scripts do. v2.0's ODSQL
        semantics, as on records: a group_by has no null group."""
        limit, offset = paging(request, limit, offset, rows, start, group_by)
        page = catalog_page(instance(request), portal, root(request), principal, include_links=False,
                            include_app_metas=include_app_metas, timezone=timezone, select=select,
                            where=catalog_where(beta_where(where, search), qv1),
                            group_by=group_by, order_by=beta_order(order_by, sort), limit=limit, offset=offset,
                            refine=refine, exclude=exclude, lang=lang, v20=True)
        links = offset_links(request.url, offset, limit, page.total_count, grouped=page.aggregated, previous=True)
        if page.aggregated:
            return {"links": links, "datasets": page.results}
        catalog = f"{root(request)}/catalog"
        return {"total_count": page.total_count, "links": links, "datasets": [
            {"links": dataset_links(f"{catalog}/datasets/{d['dataset_id']}", catalog) if "dataset_id" in d else [],
             "dataset": d} for d in page.results]}

    @query_route(router, "/catalog/aggregates", CATALOG_AGGREGATES,
                 summary="Aggregate the catalogue (v2.0, deprecated by Opendatasoft for datasets?group_by)",
                 responses=_answer("aggregations"))
    def catalog_aggregates(request: Request, principal: Principal, *, select, group_by, order_by, where, qv1, refine,
                           exclude, limit, offset, lang, timezone) -> dict:
        """The catalogue search grouped (``api.catalog_search``) with v2.0's ODSQL semantics, as
        the dataset aggregates: no null group ("no group exists for null values in v2.0", v2.1's
        ODSQL reference), date keys as timestamps, year()… as text."""
        page = catalog_page(instance(request), portal, root(request), principal, include_links=False,
                            include_app_metas=False, timezone=timezone, select=select, where=catalog_where(where, qv1),
                            group_by=group_by, order_by=order_by, limit=limit, offset=offset, refine=refine,
                            exclude=exclude, lang=lang, v20=True)
        if not page.aggregated:
            raise _not_aggregating()
        return {"aggregations": page.results}

    @query_route(router, "/", summary="The API's sources (v2.0)", responses=_answer("links"))
    def api_root(request: Request, principal: Principal) -> dict:
        api = root(request)
        return {"links": [{"rel": "self", "href": api}, {"rel": "catalog", "href": f"{api}/catalog"}]}

    @query_route(router, "/catalog/", summary="The catalogue's sub-resources (v2.0)", responses=_answer("links"))
    def catalog_root(request: Request, principal: Principal) -> dict:
        catalog = f"{root(request)}/catalog"
        names = ("datasets", "exports", "facets", "aggregates")
        return {"links": [{"rel": "self", "href": catalog}] + [{"rel": name, "href": f"{catalog}/{name}"}
                                                               for name in names]}

    @query_route(router, "/catalog/facets", CATALOG_FACETS_V20, summary="Facet values of the catalogue (v2.0)",
                 responses=_answer("facets"))
    def catalog_facets_route(request: Request, principal: Principal, *, facet, refine, exclude, where, qv1,
                             search, timezone) -> dict:
        """Links ``self`` and ``source`` (the catalogue), as v2.0's facets documentation shows."""
        objects = [dataset_json(d, root(request)) for d in visible_datasets(instance(request), portal, principal)]
        catalog = f"{root(request)}/catalog"
        return {"links": [{"rel": "self", "href": f"{catalog}/facets"}, {"rel": "source", "href": catalog}],
                "facets": catalog_facets(objects, facet=facet, refine=refine, exclude=exclude,
                                         where=catalog_where(beta_where(where, search), qv1), timezone=timezone)}

    @query_route(router, "/catalog/datasets/{dataset_id}/attachments", summary="Files attached to a dataset (v2.0)",
                 responses=_answer("attachments"))
    def list_attachments(request: Request, principal: Principal, dataset_id: str) -> dict:
        dataset = get_visible_dataset(instance(request), portal, dataset_id, principal)
        check_records_access(instance(request), dataset, principal)
        return attachments_answer(dataset, f"{dataset_href(request, dataset.slug)}/attachments")

    @query_route(router, "/catalog/datasets/{dataset_id}/attachments/{attachment_id}",
                 summary="Download an attachment (v2.0)")
    def get_attachment(request: Request, principal: Principal, dataset_id: str, attachment_id: str) -> FileResponse:
        dataset = get_visible_dataset(instance(request), portal, dataset_id, principal)
        check_records_access(instance(request), dataset, principal)
        return attachment_file(dataset, attachment_id)

    @query_route(router, "/catalog/datasets/{dataset_id}/exports", summary="Export formats of a dataset (v2.0)",
                 responses=_answer("links"))
    def list_exports(request: Request, principal: Principal, dataset_id: str) -> dict:
        dataset = get_visible_dataset(instance(request), portal, dataset_id, principal)
        return export_links(dataset, f"{dataset_href(request, dataset.slug)}/exports", extra=("xls",))

    @query_route(router, "/catalog/datasets/{dataset_id}/exports/{format}", EXPORT_FILE,
                 summary="Export records (v2.0: CSV without BOM by default; xls answers the xlsx file; "
                         "GeoJSON datetimes as epoch milliseconds)",
                 description=EXPORT_NOTES)
    def export(request: Request, principal: Principal, dataset_id: str, format: str, *, search: list[str],
               sort: list[str], where: list[str], order_by: str | None, **params: Any) -> StreamingResponse:
        """v2.1's export with v2.0's defaults. ``xls`` (v2.0's SpreadsheetML, which v2.1 replaced
        by XLSX) answers the XLSX file, named ``.xlsx``: the spreadsheets that opened v2.0's file
        open it, and pandas' ``read_excel`` reads it by its content; a 400 pointing at xlsx would
        break the app for a format it can still read. GeoJSON datetimes are integers (v2.1's
        changelog: "datetimes in GeoJSON exports are now output as isoformat strings, they were
        previously output as integer timestamps")."""
        return export_answer(request, principal, portal, dataset_id, LEGACY_NAMES.get(format, format),
                             group_by=None, epoch_datetimes=True, where=beta_where(where, search),
                             order_by=beta_order(order_by, sort), **params)

    @query_route(router, "/catalog/query", DATASETS,
                 summary="Search the catalogue, flat as in v2.1 (the 2021 query route, Opendatasoft's QGIS plugin's)")
    def query_datasets(request: Request, principal: Principal, **params: Any) -> dict:
        """The ``query`` routes of 2021, which v2.1 renamed ``datasets`` and ``records`` and whose
        flat answers it kept (``total_count``, ``results``): Opendatasoft's QGIS plugin lists and
        describes datasets only here, and api-client before v21 called them (``.query()``)."""
        return datasets_answer(request, principal, portal, **params)

    @query_route(router, "/catalog/datasets/{dataset_id}/query", V21_RECORDS,
                 summary="Query a dataset's records, flat as in v2.1 (the 2021 query route)")
    def query_records_flat(request: Request, principal: Principal, dataset_id: str, **params: Any) -> Response:
        """The 2021 ``query`` of a dataset's records (``query_datasets``): QGIS reads its first record."""
        return records_answer(request, principal, portal, dataset_id, **params)

    return router


def _not_aggregating() -> ApiError:
    """The aggregates endpoints' refusal of a query that does not aggregate (v2.0's documentation:
    a plain field in select must be in group_by)."""
    return invalid_parameter("An aggregation needs aggregate functions in select (count(*), sum(f)…) or a group_by; "
                             "select plain fields on /records.")
