"""A dataset's schema: the vocabulary every package shares.

Field types are Opendatasoft's, so the API can emit them unchanged. The physical DuckDB type
of each lives here too, because the store, the ingest casts and the query compiler must agree
on it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class FieldType(StrEnum):
    TEXT = "text"
    INT = "int"
    DOUBLE = "double"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    GEO_POINT_2D = "geo_point_2d"
    GEO_SHAPE = "geo_shape"
    JSON = "json"
    FILE = "file"


#: How each field type is stored in a version file.
DUCKDB_TYPES: dict[FieldType, str] = {
    FieldType.TEXT: "VARCHAR",
    FieldType.INT: "BIGINT",
    FieldType.DOUBLE: "DOUBLE",
    FieldType.BOOLEAN: "BOOLEAN",
    FieldType.DATE: "DATE",
    FieldType.DATETIME: "TIMESTAMPTZ",
    FieldType.GEO_POINT_2D: "GEOMETRY",
    FieldType.GEO_SHAPE: "GEOMETRY",
    FieldType.JSON: "JSON",
    FieldType.FILE: "JSON",
}

GEO_TYPES = frozenset({FieldType.GEO_POINT_2D, FieldType.GEO_SHAPE})

#: Annotations a publisher may set on a field (Opendatasoft's names, values are argument lists).
KNOWN_ANNOTATIONS = frozenset(
    {"facet", "facetsort", "disjunctive", "hierarchical", "multivalued", "sortable", "id", "unit", "decimals", "timeserie_precision"}
)


@dataclass
class Field:
    name: str
    label: str
    type: FieldType = FieldType.TEXT
    description: str | None = None
    annotations: dict[str, list[Any]] = field(default_factory=dict)
    #: Storage, not schema: the version also holds this geo_point_2d's longitude and latitude as
    #: DOUBLE columns (:func:`lonlat_columns`), which queries read instead of decoding each point.
    #: Set by the loader; versions built before have none. Never shown to API clients.
    lonlat: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["type"] = str(self.type)
        if not self.lonlat:
            del d["lonlat"]  # the schema of every other field stays as it always was written
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Field":
        return cls(
            name=d["name"],
            label=d.get("label") or d["name"],
            type=FieldType(d.get("type", "text")),
            description=d.get("description"),
            annotations=dict(d.get("annotations") or {}),
            lonlat=bool(d.get("lonlat")),
        )


def lonlat_columns(name: str) -> tuple[str, str]:
    """The stored longitude and latitude columns of geo_point_2d field ``name``. Field names
    never start with ``_`` (:func:`normalize_name` strips it), so no field can take these, and
    the compiler only resolves schema names, so no query can name them."""
    return f"__lon__{name}", f"__lat__{name}"


def fields_to_json(fields: list[Field]) -> list[dict[str, Any]]:
    return [f.to_dict() for f in fields]


def fields_from_json(data: list[dict[str, Any]] | None) -> list[Field]:
    return [Field.from_dict(d) for d in data or []]


_NON_WORD = re.compile(r"[^a-z0-9]+")


#: Names the engine reads as its own in every table: a field named ``rowid`` shadowed DuckDB's
#: row id, which the key and full-text indexes, the page file and the record-id table are built
#: and read on (a text column of that name left a version without indexes; a column of numbers
#: was indexed as if its values were row ids).
RESERVED_NAMES = frozenset({"rowid"})


def normalize_name(label: str) -> str:
    """Opendatasoft-style field name: lowercase ASCII, words joined by underscores; a reserved
    name (``RESERVED_NAMES``) ends with an underscore, which no other normalized name does."""
    ascii_text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode("ascii")
    name = _NON_WORD.sub("_", ascii_text.lower()).strip("_")
    return f"{name}_" if name in RESERVED_NAMES else name


def unique_names(labels: list[str]) -> list[str]:
    """Normalized, unique, non-empty names for a list of headers, in order.

    Empty headers become ``field_<position>``; repeats get ``_2``, ``_3``… so a file with
    duplicate headers still loads and every column stays addressable.
    """
    names: list[str] = []
    seen: set[str] = set()
    for position, label in enumerate(labels, start=1):
        base = normalize_name(label or "") or f"field_{position}"
        name, n = base, 1
        while name in seen:
            n += 1
            name = f"{base}_{n}"
        seen.add(name)
        names.append(name)
    return names
