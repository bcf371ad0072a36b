"""JSON shapes exactly as Opendatasoft's Explore API v2.1 emits them.

The dataset object (``dataset_id``, ``dataset_uid``, ``metas.default``, ``fields``…) is shaped
here and nowhere else; record values are shaped by ``portail.values``, shared with exports.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from portail.catalog.models import Dataset
from portail.odsql.literals import zone
from portail.schema import Field, FieldType, fields_from_json
from portail.values import instant_text, record_value

if TYPE_CHECKING:
    from markdown_it import MarkdownIt


@cache
def markdown() -> MarkdownIt:
    """The renderer of dataset descriptions (API and pages), made at the first one: markdown-it
    (~0.02 s) is not imported by a process that never describes a dataset (the CLI, a server
    before its first)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False})


#: Every JSON answer's content type, as Opendatasoft sends it (reference §1): the charset named,
#: so that no client guesses Latin-1 for the é of a record.
JSON_MEDIA_TYPE = "application/json; charset=utf-8"


class JSONAnswer(JSONResponse):
    """FastAPI's JSON response under ``JSON_MEDIA_TYPE``: the app's default response class, and
    the errors' (``api.errors``)."""

    media_type = JSON_MEDIA_TYPE


#: Items of a long list written by one call of the C encoder, which holds the GIL until it
#: returns: ~2 ms for a hundred shapes, where 35,000 communes' would hold it 0.2 s, the event
#: loop (and every other request) waiting meanwhile although the writing runs in a worker thread.
_SLICE = 100


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=jsonable_encoder)
    except ValueError:  # a NaN or an infinity (a float column of a Parquet file, an aggregate of one)
        return json.dumps(_finite(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                          default=jsonable_encoder)


def _finite(value: Any) -> Any:
    """``value`` with its NaNs and infinities null, as the exports write them (``values.record_value``):
    JSON has no such numbers, and Python's encoder refused the whole answer (a 500)."""
    if type(value) is float:
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _written(value: Any, depth: int = 2) -> str:
    """``value`` as compact JSON, what ``_dumps`` writes, its long lists (the body's, or one of its
    keys', where records, clusters and shapes are) written ``_SLICE`` items at a time."""
    if depth and isinstance(value, list) and len(value) > _SLICE:
        return "[" + ",".join(_dumps(value[i:i + _SLICE])[1:-1] for i in range(0, len(value), _SLICE)) + "]"
    if depth and isinstance(value, dict) and all(type(k) is str for k in value) and \
            any(isinstance(v, list) and len(v) > _SLICE for v in value.values()):
        return "{" + ",".join(_dumps(k) + ":" + _written(v, depth - 1) for k, v in value.items()) + "}"
    return _dumps(value)


def json_response(body: Any) -> Response:
    """A body of plain JSON values (what ``records_json`` and the facets give) as a response,
    written once: FastAPI would first walk it with ``jsonable_encoder`` (0.2 ms for a page of
    10 records, 2 ms for 100). Anything else (a Decimal, a date) goes through that encoder,
    value by value. Written in slices (``_written``) so that a worker thread writing megabytes
    lets the event loop run."""
    return Response(_written(body).encode("utf-8"), media_type=JSON_MEDIA_TYPE)


def _iso(value: datetime | date | None, tz: ZoneInfo | None = None) -> str | None:
    """A date as is; an instant with its offset, in ``tz`` (the request's timezone, UTC by
    default), as record values are written: the catalogue stores instants in UTC, and some
    databases hand them back without their zone."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        return value.isoformat()
    return instant_text(value if value.tzinfo else value.replace(tzinfo=UTC), tz)


def features(fields: list[Field], has_records: bool) -> list[str]:
    found = []
    if has_records:
        found.append("analyze")
    if any(f.type in (FieldType.GEO_POINT_2D, FieldType.GEO_SHAPE) for f in fields):
        found.append("geo")
    if any(f.type in (FieldType.DATE, FieldType.DATETIME) for f in fields):
        found.append("timeserie")
    return found


#: Field types as Opendatasoft names them where ours differ: clients (the api-client's constants)
#: know a JSON field as ``json_blob``.
API_TYPES = {FieldType.JSON: "json_blob"}


def field_json(f: Field) -> dict[str, Any]:
    return {"name": f.name, "label": f.label, "type": API_TYPES.get(f.type, str(f.type)), "annotations": f.annotations,
            "description": f.description}


def default_metas(dataset: Dataset, tz: ZoneInfo | None = None) -> dict[str, Any]:
    return {
        "title": dataset.title,
        "description": markdown().render(dataset.description) if dataset.description else None,
        "theme": list(dataset.themes or []) or None,
        "keyword": list(dataset.keywords or []) or None,
        "license": dataset.license,
        "license_url": dataset.license_url,
        "language": dataset.language or "fr",
        "metadata_languages": [dataset.language or "fr"],
        "timezone": dataset.timezone,
        "modified": _iso(dataset.modified, tz),
        "modified_updates_on_data_change": True,
        "modified_updates_on_metadata_change": True,
        "data_processed": _iso(dataset.data_processed, tz),
        "metadata_processed": _iso(dataset.metadata_processed, tz),
        "publisher": dataset.publisher,
        "references": (dataset.extra_metas or {}).get("references"),
        "attributions": (dataset.extra_metas or {}).get("attributions"),
        "records_count": dataset.records_count if dataset.current_version else 0,
        "territory": (dataset.extra_metas or {}).get("territory"),
        "geographic_reference": (dataset.extra_metas or {}).get("geographic_reference"),
        "geographic_area": dataset.spatial_coverage,
        "federated": False,
        # Opendatasoft's other keys (federation, OAuth, automatic geography), which this portal has
        # no value for: present and null, as Opendatasoft writes a missing meta.
        **dict.fromkeys(("geographic_reference_auto", "geographic_area_mode", "oauth_scope", "parent_domain",
                         "shared_catalog", "source_dataset", "source_domain", "source_domain_address",
                         "source_domain_title")),
    }


#: Opendatasoft's ``explore`` application template (``include_app_metas``): usage counters.
#: Usage analytics do not exist yet, so each is ``null`` — Opendatasoft's value for a missing
#: meta — rather than a zero that would read as "never downloaded".
EXPLORE_METAS = ("download_count", "api_call_count", "popularity_score", "reuse_count",
                 "attachment_download_count", "file_field_download_count")


#: Where ``explore_service`` leaves, on the copy of a dataset it shapes for a caller, what that
#: caller is shown of its security (``Exposure``): the dataset object is written from it.
_EXPOSURE = "_portail_exposure"


@dataclass(frozen=True)
class Exposure:
    """``restricted``: the dataset is not for everyone (Opendatasoft's ``visibility:
    "restricted"``, else ``"domain"``); ``data_visible``: the caller may read its records."""

    restricted: bool = False
    data_visible: bool = True
    #: The extent of the records' geometries the caller may see (``metas.default.bbox``, a
    #: GeoJSON Feature, and ``geometry_types``), as Opendatasoft wrote them for a geo dataset:
    #: harvesters (data.gouv.fr's, GeoNetwork's) make it the dataset's spatial coverage.
    bbox: dict[str, Any] | None = None
    geometry_types: tuple[str, ...] = ()


def expose(dataset: Dataset, exposure: Exposure) -> None:
    setattr(dataset, _EXPOSURE, exposure)


def dataset_json(dataset: Dataset, base_url: str = "", include_links: bool = False,
                 include_app_metas: bool = False, timezone: str = "UTC") -> dict[str, Any]:
    """The dataset object; ``timezone`` (already checked: ``odsql.literals.zone``) writes its instants."""
    tz = zone(timezone or "UTC")
    version = dataset.current
    fields = fields_from_json(version.fields) if version else []
    exposure = getattr(dataset, _EXPOSURE, None) or Exposure()
    has_records = bool(version and (version.row_count or 0) > 0) and exposure.data_visible
    body: dict[str, Any] = {
        "visibility": "restricted" if exposure.restricted else "domain",
        "dataset_id": dataset.slug,
        "dataset_uid": dataset.uid,
        "has_records": has_records,
        "data_visible": exposure.data_visible,
        "features": features(fields, has_records),
        "attachments": [
            {"mimetype": a.mimetype, "url": a.url, "id": a.attachment_id, "title": a.title}
            for a in dataset.attachments
        ],
        "alternative_exports": [],
        "metas": {
            "default": default_metas(dataset, tz),
            "dcat": {
                "created": _iso(dataset.created_at, tz),
                "issued": _iso(dataset.created_at, tz),
                "creator": dataset.owner,
                "contact_name": dataset.contact_name,
                "contact_email": dataset.contact_email,
                "accrualperiodicity": dataset.update_frequency,
                "temporal_coverage_start": _iso(dataset.temporal_start),
                "temporal_coverage_end": _iso(dataset.temporal_end),
                # the same period as one ISO 8601 interval, which harvesters parse (data-fair's, GeoNetwork's)
                "temporal": f"{_iso(dataset.temporal_start)}/{_iso(dataset.temporal_end)}"
                if dataset.temporal_start and dataset.temporal_end else None,
                "spatial": dataset.spatial_coverage,
            },
        },
        "fields": [field_json(f) for f in fields],
    }
    if exposure.bbox is not None:
        body["metas"]["default"].update(bbox=exposure.bbox, geometry_types=list(exposure.geometry_types))
    if include_app_metas:
        body["metas"]["explore"] = dict.fromkeys(EXPLORE_METAS)
    if include_links:
        href = f"{base_url}/api/explore/v2.1/catalog/datasets/{dataset.slug}"
        body["_links"] = [{"rel": "self", "href": href}, {"rel": "records", "href": href + "/records"},
                          {"rel": "exports", "href": href + "/exports"},
                          {"rel": "attachments", "href": href + "/attachments"},
                          {"rel": "catalog", "href": f"{base_url}/api/explore/v2.1/catalog"}]
    return body


# -- records ----------------------------------------------------------------------------------
def records_json(fields: list[Field], rows: list[dict[str, Any]], timezone: str = "UTC") -> list[dict[str, Any]]:
    """Rows as Opendatasoft records; datetimes written in the request's ``timezone`` (already
    checked by the compiler, which reads dates in the same zone)."""
    tz = zone(timezone or "UTC")
    return [{f.name: record_value(f, row.get(f.name), tz) for f in fields} for row in rows]
