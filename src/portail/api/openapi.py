"""The OpenAPI description served at ``/api/explore/v2.1/swagger.json``: FastAPI's generated
document, completed with what clients and schemathesis need and the route functions don't say.

Why a post-processing step rather than response models on each route: the routes return plain
dicts shaped like Opendatasoft's (their keys vary with ``select``/``group_by``), and several
modules own routes; one table here documents the shapes once, keyed by path, so a route added
elsewhere is still described (``describe`` falls back to the generic JSON object) and
``tests/api/test_openapi.py`` fails when a public route is missing from the document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR = {"type": "object", "required": ["error_code", "message"],
         "properties": {"error_code": {"type": "string", "examples": ["InvalidRESTParameterError"]},
                        "message": {"type": "string"}}}
LINK = {"type": "object", "properties": {"rel": {"type": "string"}, "href": {"type": "string"}}}
LINKS = {"type": "array", "items": {"$ref": "#/components/schemas/Link"}}
FIELD = {"type": "object", "required": ["name", "type"],
         "properties": {"name": {"type": "string"}, "label": {"type": ["string", "null"]},
                        "type": {"type": "string", "examples": ["text", "int", "double", "date", "datetime",
                                                                "geo_point_2d", "geo_shape", "boolean", "file"]},
                        "description": {"type": ["string", "null"]},
                        "annotations": {"type": ["object", "array", "null"]}}}
DATASET = {"type": "object", "required": ["dataset_id", "fields", "metas"],
           "properties": {"dataset_id": {"type": "string"}, "dataset_uid": {"type": "string"},
                          "has_records": {"type": "boolean"}, "features": {"type": "array", "items": {"type": "string"}},
                          "fields": {"type": "array", "items": {"$ref": "#/components/schemas/Field"}},
                          "metas": {"type": "object", "properties": {
                              "default": {"type": "object"}, "dcat": {"type": "object"},
                              "explore": {"type": "object", "description": "with include_app_metas: usage counters "
                                          "(null until usage analytics exist)"}}},
                          "attachments": {"type": "array"}, "_links": LINKS}}
RECORDS = {"type": "object", "required": ["results"],
           "description": "`total_count` is absent from some grouped answers, as on Opendatasoft.",
           "properties": {"total_count": {"type": "integer", "minimum": 0},
                          "results": {"type": "array", "items": {"type": "object"}}, "_links": LINKS}}
DATASETS = {"type": "object", "required": ["results"],
            "properties": {"total_count": {"type": "integer", "minimum": 0},
                           "results": {"type": "array", "items": {"type": "object"}}, "_links": LINKS}}
FACET_VALUE = {"type": "object", "required": ["name", "count"],
               "properties": {"name": {"type": "string"}, "value": {"type": "string"}, "count": {"type": "integer"},
                              "state": {"type": "string", "enum": ["displayed", "refined", "excluded"]},
                              "facets": {"type": "array", "items": {"$ref": "#/components/schemas/FacetValue"}}}}
FACETS = {"type": "object", "required": ["facets"],
          "properties": {"links": LINKS, "facets": {"type": "array", "items": {
              "type": "object", "required": ["name", "facets"],
              "properties": {"name": {"type": "string"},
                             "facets": {"type": "array", "items": {"$ref": "#/components/schemas/FacetValue"}}}}}}}
ATTACHMENTS = {"type": "object", "properties": {"links": LINKS, "attachments": {"type": "array", "items": {
    "type": "object", "properties": {"href": {"type": "string"}, "metas": {"type": "object"}}}}}}
EXPORT_LINKS = {"type": "object", "properties": {"links": LINKS}}
SCHEMAS = {"Error": ERROR, "Link": LINK, "Field": FIELD, "Dataset": DATASET, "Records": RECORDS,
           "Datasets": DATASETS, "FacetValue": FACET_VALUE, "Facets": FACETS, "Attachments": ATTACHMENTS,
           "ExportLinks": EXPORT_LINKS}

#: Path suffix (after the API prefix) → schema of the 200 JSON answer.
JSON_ANSWERS = {
    "/catalog/datasets": "Datasets", "/catalog/datasets/{dataset_id}": "Dataset",
    "/catalog/datasets/{dataset_id}/records": "Records", "/catalog/datasets/{dataset_id}/records/{record_id}": None,
    "/catalog/datasets/{dataset_id}/facets": "Facets", "/catalog/facets": "Facets",
    "/catalog/datasets/{dataset_id}/attachments": "Attachments", "/catalog/datasets/{dataset_id}/exports": "ExportLinks",
    "/catalog/exports": "ExportLinks",
}
#: Media types a file-like answer may have (exports and attachments): anything the format table holds.
FILE_ANSWERS = ("/exports/{format}", "/attachments/{attachment_id}")
ERRORS = {"400": "Invalid parameter or malformed ODSQL", "401": "Missing or invalid credentials",
          "404": "Unknown dataset, record or attachment", "429": "Too many requests"}


def _file_media_types() -> list[str]:
    from portail.api.catalog_exports import RDF_FORMATS
    from portail.exports import FORMATS

    kinds = {fmt.media_type for fmt in FORMATS.values()} | {media for _, media, _ in RDF_FORMATS.values()}
    return sorted(kinds | {"application/json", "text/csv", "application/rss+xml", "application/gzip",
                           "application/octet-stream",
                           "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})


def _describe(path: str, operation: dict[str, Any], media_types: list[str]) -> None:
    responses = operation.setdefault("responses", {})
    suffix = next((path[i:] for i in range(len(path)) if path[i:] in JSON_ANSWERS), None)
    if path.endswith(FILE_ANSWERS):
        responses["200"] = {"description": "The file, streamed",
                            "content": {m: {"schema": {}} for m in media_types}}
    elif suffix is not None:
        schema = {"$ref": f"#/components/schemas/{JSON_ANSWERS[suffix]}"} if JSON_ANSWERS[suffix] else {"type": "object"}
        responses["200"] = {"description": "Successful answer", "content": {"application/json": {"schema": schema}}}
    responses.pop("422", None)  # FastAPI's validation answer: ours is a 400 with the Opendatasoft shape
    for status, text in ERRORS.items():
        responses.setdefault(status, {"description": text,
                                      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})


def build_openapi(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components.update(SCHEMAS)
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    media_types = _file_media_types()
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method == "get" and "/api/explore/" in path or path.startswith("/api/records/"):
                _describe(path, operation, media_types)
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve ``build_openapi``'s document, computed once on first request."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
