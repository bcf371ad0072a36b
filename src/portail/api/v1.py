"""The v1 search API (deprecated by Opendatasoft, still used by older apps and widgets):
``/api/records/1.0/search/``, ``/api/datasets/1.0/search/``, ``/api/datasets/1.0/<id>/``.

Built on the same services as v2.1 (refinements, facets, record ids, text search); only the
response shapes differ (``nhits``, ``records[].fields``, ``facet_groups``, points as ``[lat, lon]``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlglot import exp

from portail.api.errors import invalid_parameter
from portail.api.explore_service import (dataset_facets, filters, get_visible_dataset, parse_order_by, parse_select,
                                         visible_datasets)
from portail.api.serialize import dataset_json
from portail.api.text_search import text_condition
from portail.schema import FieldType, fields_from_json
from portail.values import output_expression, record_id_expression, record_value

MAX_WINDOW = 10_000


def _prefixed(request: Request, prefix: str) -> list[str]:
    """``refine.<field>=<value>`` parameters as v2.1's ``field:value``."""
    return [f"{key[len(prefix):]}:{value}" for key, value in request.query_params.multi_items() if key.startswith(prefix)]


def _v1_value(field_type: str, value: Any) -> Any:
    if field_type == FieldType.GEO_POINT_2D and value is not None:
        return [value["lat"], value["lon"]]
    return value


def v1_router() -> APIRouter:
    router = APIRouter(tags=["v1 API (legacy)"])

    def instance(request: Request):
        return request.app.state.instance

    @router.get("/api/records/1.0/search/", summary="v1 record search")
    @router.get("/api/records/1.0/search", include_in_schema=False)
    def search_records(request: Request, dataset: str, q: str | None = None, rows: int = 10, start: int = 0,
                       sort: str | None = None, fields: str | None = None, timezone: str = "UTC"):
        if rows < 0 or start < 0 or start + rows > MAX_WINDOW:
            raise invalid_parameter(f"Invalid value for rows/start: start + rows must be <= {MAX_WINDOW}.")
        ds = get_visible_dataset(instance(request), "public", dataset)
        version = ds.current
        schema = fields_from_json(version.fields)
        chosen = parse_select(fields, schema)
        refine, exclude = _prefixed(request, "refine."), _prefixed(request, "exclude.")
        _, conditions = filters(schema, refine, exclude)
        conditions += text_condition(schema, q)
        ordering = parse_order_by(f"{sort.lstrip('-')} {'asc' if sort.startswith('-') else 'desc'}", schema) if sort else []
        where = exp.and_(*conditions) if conditions else None
        count = exp.select("count(*) AS n").from_("records")
        total = instance(request).store.query(version.location, count.where(where) if where else count).column("n")[0].as_py()
        query = exp.select(*[exp.alias_(output_expression(f), f.name, quoted=True) for f in chosen],
                           exp.alias_(record_id_expression(schema), "__id")).from_("records")
        if where:
            query = query.where(where.copy())
        if ordering:
            query = query.order_by(*ordering)
        rows_data = instance(request).store.query(version.location, query.limit(rows).offset(start)).to_pylist()
        geo = next((f for f in chosen if f.type in (FieldType.GEO_POINT_2D, FieldType.GEO_SHAPE)), None)
        stamp = (ds.data_processed or ds.modified).isoformat()
        records = []
        for row in rows_data:
            values = {f.name: record_value(f, row[f.name]) for f in chosen}
            record = {"datasetid": ds.slug, "recordid": row["__id"],
                      "fields": {name: _v1_value(f.type, v) for (name, v), f in zip(values.items(), chosen) if v is not None},
                      "record_timestamp": stamp}
            if geo is not None and values.get(geo.name) is not None:
                value = values[geo.name]
                record["geometry"] = value["geometry"] if geo.type == FieldType.GEO_SHAPE else \
                    {"type": "Point", "coordinates": [value["lon"], value["lat"]]}
            records.append(record)
        facets = request.query_params.getlist("facet")
        groups = []
        if facets:
            for facet in dataset_facets(instance(request), ds, facet=facets, refine=refine, exclude=exclude):
                groups.append({"name": facet["name"], "facets": [
                    {"name": e["name"], "path": e["value"], **({"count": e["count"]} if "count" in e else {}), "state": e["state"]}
                    for e in facet["facets"]]})
        parameters: dict[str, Any] = {"dataset": ds.slug, "rows": rows, "start": start, "format": "json", "timezone": timezone}
        if q:
            parameters["q"] = q
        if facets:
            parameters["facet"] = facets
        if refine:
            parameters["refine"] = dict(r.split(":", 1) for r in refine)
        if sort:
            parameters["sort"] = [sort]
        body = {"nhits": total, "parameters": parameters, "records": records}
        if facets:
            body["facet_groups"] = groups
        return body

    def _v1_dataset(request: Request, d) -> dict[str, Any]:
        v2 = dataset_json(d, str(request.base_url).rstrip("/"))
        metas = v2["metas"]["default"]
        return {"datasetid": d.slug, "has_records": v2["has_records"], "features": v2["features"], "fields": v2["fields"],
                "attachments": v2["attachments"],
                "metas": {**{k: v for k, v in metas.items() if v is not None}, "domain": "default",
                          "license": metas["license"], "records_count": metas["records_count"]}}

    @router.get("/api/datasets/1.0/search/", summary="v1 catalogue search")
    @router.get("/api/datasets/1.0/search", include_in_schema=False)
    def search_datasets(request: Request, q: str | None = None, rows: int = 10, start: int = 0):
        datasets = visible_datasets(instance(request), "public")
        words = [w.lower() for w in (q or "").split()]
        if words:
            datasets = [d for d in datasets if all(w in " ".join([d.slug, d.title, d.description or "",
                                                                   *(d.keywords or []), *(d.themes or [])]).lower()
                                                   for w in words)]
        return {"nhits": len(datasets), "parameters": {"rows": rows, "start": start, "format": "json", **({"q": q} if q else {})},
                "datasets": [_v1_dataset(request, d) for d in datasets[start:start + rows]]}

    @router.get("/api/datasets/1.0/{dataset_id}/", summary="v1 dataset lookup")
    @router.get("/api/datasets/1.0/{dataset_id}", include_in_schema=False)
    def lookup(request: Request, dataset_id: str):
        return _v1_dataset(request, get_visible_dataset(instance(request), "public", dataset_id))

    return router
