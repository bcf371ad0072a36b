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

from portail.api.serialize import JSON_MEDIA_TYPE

ERROR = {"type": "object", "required": ["error_code", "message"],
         "properties": {"error_code": {"type": "string", "examples": ["InvalidRESTParameterError"]},
                        "message": {"type": "string"}}}
LINK = {"type": "object", "properties": {"rel": {"type": "string"}, "href": {"type": "string"}}}
LINKS = {"type": "array", "items": {"$ref": "#/components/schemas/Link"}}
FIELD = {"type": "object", "required": ["name", "type"],
         "properties": {"name": {"type": "string"}, "label": {"type": ["string", "null"]},
                        "type": {"type": "string", "examples": ["text", "int", "double", "date", "datetime", "geo_point_2d",
                                                                "geo_shape", "boolean", "file", "json_blob"]},
                        "description": {"type": ["string", "null"]},
                        "annotations": {"type": ["object", "array", "null"]}}}
DATASET = {"type": "object", "required": ["dataset_id", "fields", "metas"],
           "properties": {"dataset_id": {"type": "string"}, "dataset_uid": {"type": "string"},
                          "has_records": {"type": "boolean"}, "features": {"type": "array", "items": {"type": "string"}},
                          "visibility": {"type": "string", "enum": ["domain", "restricted"]},
                          "data_visible": {"type": "boolean", "description": "whether the caller may read the records"},
                          "alternative_exports": {"type": "array", "items": {"type": "object"}},
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
RECORD = {"type": "object", "description": "A record: its fields (or the selected expressions) by name or alias.",
          "additionalProperties": True}
#: A dataset's answer: the dataset, or with ``select`` only the items selected (ODSQL over the
#: catalogue's fields), each under its name or alias, whatever its type.
DATASET_ANSWER = {"anyOf": [{"$ref": "#/components/schemas/Dataset"},
                            {"type": "object", "description": "With select: the selected items by name or alias."}]}
SCHEMAS = {"Error": ERROR, "Link": LINK, "Field": FIELD, "Dataset": DATASET, "DatasetAnswer": DATASET_ANSWER,
           "Records": RECORDS, "Datasets": DATASETS, "FacetValue": FACET_VALUE, "Facets": FACETS, "Attachments": ATTACHMENTS,
           "ExportLinks": EXPORT_LINKS, "Record": RECORD, "Links": EXPORT_LINKS}
#: How callers authenticate (§8.1 of the reference): Opendatasoft's spec names its scheme ``apikey``.
SECURITY_SCHEMES = {
    "apikey": {"type": "apiKey", "in": "query", "name": "apikey", "description": "An API key as a query parameter."},
    "apikeyHeader": {"type": "apiKey", "in": "header", "name": "Authorization",
                     "description": "`Authorization: Apikey <key>` (the scheme is case-insensitive)."},
    "oauth2": {"type": "oauth2", "description": "An application registered by the portal's administrator "
                                                "(`portail oauth-client create`) acting for a user who agreed: "
                                                "`Authorization: Bearer <token>` or `?access_token=<token>`.",
               "flows": {"authorizationCode": {
                   "authorizationUrl": "/oauth2/authorize/", "tokenUrl": "/oauth2/token/",
                   "refreshUrl": "/oauth2/token/",
                   "scopes": {"read": "Read what the user may read (the default).",
                              "all": "Everything the user may do, management included (Opendatasoft's scope)."}}}},
}
#: Anonymous calls are allowed (``{}``): a key or a token shows what its user may see.
SECURITY = [{}, {"apikey": []}, {"apikeyHeader": []}, {"oauth2": ["read"]}]

#: Path suffix (after the API prefix) → schema of the 200 JSON answer.
JSON_ANSWERS = {
    "/catalog/datasets": "Datasets", "/catalog/datasets/{dataset_id}": "DatasetAnswer",
    "/catalog/datasets/{dataset_id}/records": "Records", "/catalog/datasets/{dataset_id}/records/{record_id}": "Record",
    "/catalog/datasets/{dataset_id}/facets": "Facets", "/catalog/facets": "Facets",
    "/catalog/datasets/{dataset_id}/attachments": "Attachments", "/catalog/datasets/{dataset_id}/exports": "ExportLinks",
    "/catalog/exports": "ExportLinks", "/": "Links", "/catalog/": "Links",
}
#: Path suffix → Opendatasoft's operationId (reference §2), given to the root portal's routes
#: only: an operationId is unique in a document, and each portal serves the same routes.
OPERATION_IDS = {
    "/catalog/datasets": "getDatasets", "/catalog/datasets/{dataset_id}": "getDataset",
    "/catalog/datasets/{dataset_id}/records": "getRecords",
    "/catalog/datasets/{dataset_id}/records/{record_id}": "getRecord",
    "/catalog/datasets/{dataset_id}/exports": "listDatasetExportFormats",
    "/catalog/datasets/{dataset_id}/exports/{format}": "exportRecords",
    "/catalog/datasets/{dataset_id}/facets": "getRecordsFacets",
    "/catalog/datasets/{dataset_id}/attachments": "getDatasetAttachments",
    "/catalog/datasets/{dataset_id}/attachments/{attachment_id}": "getDatasetAttachment",
    "/catalog/exports": "listExportFormats", "/catalog/exports/{format}": "exportDatasets",
    "/catalog/facets": "getDatasetsFacets", "/": "getApiRoot", "/catalog/": "getCatalogRoot",
}
EXPLORE = "/api/explore/v2.1"
#: Media types a file-like answer may have (exports and attachments): anything the format table holds.
FILE_ANSWERS = ("/exports/{format}", "/attachments/{attachment_id}")
ERRORS = {"400": "Invalid parameter or malformed ODSQL", "401": "Missing or invalid credentials",
          "403": "Forbidden: the dataset's records are restricted (metadata only), or its access rules cannot be "
                 "applied (SecurityError)",
          "404": "Unknown dataset, record or attachment", "429": "Too many requests"}
#: Statuses of some routes only, by path suffix.
MORE_ERRORS = {"/catalog/datasets/{dataset_id}/records": {"410": "CursorExpired: the version an after= cursor "
                                                                 "walks is no longer kept"}}


def _error(text: str) -> dict[str, Any]:
    return {"description": text, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _file_media_types() -> list[str]:
    from portail.api.catalog_exports import RDF_FORMATS
    from portail.exports import FORMATS

    kinds = {fmt.media_type for fmt in FORMATS.values()} | {media for _, media, _ in RDF_FORMATS.values()}
    return sorted(kinds | {"application/json", "text/csv", "application/rss+xml", "application/gzip",
                           "application/octet-stream",
                           "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})


def _describe(path: str, operation: dict[str, Any], media_types: list[str]) -> None:
    responses = operation.setdefault("responses", {})
    suffix = path.split(EXPLORE, 1)[1] if EXPLORE in path else None  # after any portal's prefix
    if path.endswith(FILE_ANSWERS):
        responses["200"] = {"description": "The file, streamed",
                            "content": {m: {"schema": {}} for m in media_types}}
    elif suffix in JSON_ANSWERS:
        schema = {"$ref": f"#/components/schemas/{JSON_ANSWERS[suffix]}"}
        responses["200"] = {"description": "Successful answer", "content": {"application/json": {"schema": schema}}}
    for status, text in {**ERRORS, **MORE_ERRORS.get(suffix or "", {})}.items():
        responses.setdefault(status, _error(text))
    if path.startswith(EXPLORE) and suffix in OPERATION_IDS:
        operation["operationId"] = OPERATION_IDS[suffix]


def build_openapi(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(SCHEMAS)
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    components["securitySchemes"] = SECURITY_SCHEMES
    document["security"] = SECURITY
    media_types = _file_media_types()
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            for answer in responses.values():  # the answers name their charset; generators expect the bare type
                content = answer.get("content", {})
                if JSON_MEDIA_TYPE in content:
                    content.setdefault("application/json", content.pop(JSON_MEDIA_TYPE))
            # FastAPI's validation answer (422, with the schema dropped above): ours is a 400
            # with the Opendatasoft shape (``errors.install_handlers``), on every route.
            if responses.pop("422", None) is not None:
                responses.setdefault("400", _error(ERRORS["400"]))
            if method == "get" and ("/api/explore/" in path or "/api/records/" in path or "/api/v2/" in path):
                _describe(path, operation, media_types)
            elif method == "get" and "/api/datasets/1.0/" in path:  # v1's lookups
                for status in ("400", "404"):
                    responses.setdefault(status, _error(ERRORS[status]))
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve ``build_openapi``'s document, computed once on first request."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
