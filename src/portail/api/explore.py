"""Explore API v2.1 routes (Opendatasoft-compatible): thin handlers over ``explore_service``.

Every route answers with and without a trailing slash, as real clients send both.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from portail.api.explore_service import (check_paging, get_visible_dataset, query_records, visible_datasets)
from portail.api.serialize import dataset_json


def both(router: APIRouter, path: str, **kwargs):
    """Register a GET route for ``path`` and ``path/``."""

    def decorator(func):
        router.add_api_route(path, func, methods=["GET"], **kwargs)
        router.add_api_route(path + "/", func, methods=["GET"], include_in_schema=False)
        return func

    return decorator


def explore_router(portal: str) -> APIRouter:
    router = APIRouter(tags=["Explore API v2.1"])

    def instance(request: Request):
        return request.app.state.instance

    def base_url(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    @both(router, "/catalog/datasets", summary="Search the catalogue")
    def list_datasets(request: Request, limit: Annotated[int, Query()] = 10, offset: Annotated[int, Query()] = 0,
                      include_links: bool = False):
        effective = check_paging(limit, offset)
        datasets = visible_datasets(instance(request), portal)
        page = datasets[offset:offset + effective]
        return {"total_count": len(datasets),
                "results": [dataset_json(d, base_url(request), include_links) for d in page]}

    @both(router, "/catalog/datasets/{dataset_id}", summary="A dataset's metadata and schema")
    def get_dataset(request: Request, dataset_id: str, include_links: bool = False):
        dataset = get_visible_dataset(instance(request), portal, dataset_id)
        return dataset_json(dataset, base_url(request), include_links)

    @both(router, "/catalog/datasets/{dataset_id}/records", summary="Query a dataset's records")
    def get_records(request: Request, dataset_id: str, select: str | None = None, order_by: str | None = None,
                    limit: Annotated[int, Query()] = 10, offset: Annotated[int, Query()] = 0):
        dataset = get_visible_dataset(instance(request), portal, dataset_id)
        page = query_records(instance(request), dataset, select=select, order_by=order_by, limit=limit, offset=offset)
        return {"total_count": page.total_count, "results": page.results}

    return router
