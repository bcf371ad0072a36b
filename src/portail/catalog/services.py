"""Every change to the catalogue, as functions on a session.

The CLI, the management API and (later) the back office call these, so a rule written here
holds everywhere. They touch only the database: files are the store's business, and the
cross-package flows (ingest, delete with files) live in ``portail.operations``.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from portail.catalog.generation import LOCK_ONLY
from portail.catalog.languages import ISO_639_1
from portail.catalog.models import Attachment, Dataset, DatasetAlias, DatasetVersion, RetiredUid
from portail.emails import EXAMPLE as EMAIL_EXAMPLE, plausible_email
from portail.schema import KNOWN_ANNOTATIONS, Field, FieldType, fields_from_json, fields_to_json, normalize_name

PORTALS = ("public", "internal")
SLUG_MAX = 200
SLUG = re.compile(rf"^[a-z0-9][a-z0-9_\-]{{0,{SLUG_MAX - 1}}}$")
_UID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"

#: Metadata a publisher may set, with the Python type each takes.
METADATA_FIELDS: dict[str, type] = {
    "title": str, "description": str, "themes": list, "keywords": list, "license": str, "license_url": str,
    "publisher": str, "owner": str, "contact_name": str, "contact_email": str, "language": str,
    "update_frequency": str, "temporal_start": date, "temporal_end": date, "spatial_coverage": str,
    "portals": list, "extra_metas": dict,
}

#: The longest text each metadata column holds (``Dataset``'s ``String(n)``): PostgreSQL refuses
#: more (a 500 on the write), SQLite kept it, so both are told the limit first.
METADATA_LENGTHS: dict[str, int] = {
    name: Dataset.__table__.c[name].type.length for name in METADATA_FIELDS
    if getattr(Dataset.__table__.c[name].type, "length", None)}

#: Update frequencies, as the EU "frequency" vocabulary names them (used by DCAT later).
FREQUENCIES = ("continuous", "daily", "weekly", "monthly", "quarterly", "annual", "irregular", "never", "unknown")


class CatalogError(Exception):
    """A request the catalogue refuses; ``status`` tells the API which HTTP code fits."""

    def __init__(self, message: str, status: int = 400, code: str = "CatalogError"):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class NotFound(CatalogError):
    def __init__(self, message: str):
        super().__init__(message, status=404, code="NotFound")


def now() -> datetime:
    return datetime.now(UTC)


def text_problem(value: str, where: str, limit: int | None = None) -> str | None:
    """Why a text cannot be stored as ``where`` (a column of ``limit`` characters at most, or of
    any length), or None: one rule for every name and description the catalogue keeps. A NUL
    is no text for PostgreSQL (SQLite stored it), and a longer text than the column's an error
    there (SQLite kept it whole)."""
    if "\x00" in value:
        return f"{where}: a NUL character is not text"
    if limit is not None and len(value) > limit:
        return f"{where}: at most {limit:,} characters ({len(value):,} given)"
    return None


def may_name(ref: str) -> bool:
    """Can ``ref`` (an id, a login, a name sent by a client) name a row at all? One holding a NUL
    never can: asked for on PostgreSQL it failed the query (a 500) where SQLite found nothing,
    so it is unknown without asking."""
    return "\x00" not in ref


def _new_uid(session: Session) -> str:
    while True:
        uid = "da_" + "".join(secrets.choice(_UID_ALPHABET) for _ in range(8))
        taken = session.scalar(select(func.count()).select_from(Dataset).where(Dataset.uid == uid))
        retired = session.get(RetiredUid, uid)
        if not taken and retired is None:
            return uid


def _check_metadata(values: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in values.items():
        if key not in METADATA_FIELDS:
            raise CatalogError(f"Unknown metadata {key!r}; known: {', '.join(sorted(METADATA_FIELDS))}")
        expected = METADATA_FIELDS[key]
        if value is not None and expected is date and isinstance(value, str):
            try:
                value = date.fromisoformat(value)
            except ValueError as error:
                raise CatalogError(f"Metadata {key!r} must be a date YYYY-MM-DD, got {value!r}") from error
        if value is not None and not isinstance(value, expected):
            raise CatalogError(f"Metadata {key!r} must be a {expected.__name__}")
        clean[key] = value
    if "portals" in clean:
        unknown = set(clean["portals"] or []) - set(PORTALS)
        if unknown or not clean["portals"]:
            raise CatalogError(f"Portals must be a non-empty subset of {', '.join(PORTALS)}")
    if clean.get("update_frequency") not in (None, *FREQUENCIES):
        raise CatalogError(f"update_frequency must be one of {', '.join(FREQUENCIES)}")
    for key in ("themes", "keywords"):  # "none" is an empty list, as a new dataset's
        if key in clean and clean[key] is None:
            clean[key] = []
    if "title" in clean and (clean["title"] is None or not clean["title"].strip()):
        raise CatalogError("A dataset needs a title")
    if clean.get("license_url") is not None:
        clean["license_url"] = clean["license_url"].strip() or None
        if clean["license_url"] is not None and not is_web_url(clean["license_url"]):
            # a javascript: or data: link on the dataset page would run in every visitor's browser
            raise CatalogError(f"license_url must be an http(s) URL, not {clean['license_url']!r}")
    if "contact_email" in clean:
        clean["contact_email"] = _contact_email(clean["contact_email"])
    if "language" in clean:
        clean["language"] = _language(clean["language"])
    for key, value in clean.items():
        problem = text_problem(value, key, METADATA_LENGTHS.get(key)) if isinstance(value, str) else None
        if problem:
            raise CatalogError(problem)
    return clean


def _contact_email(value: str | None) -> str | None:
    """A dataset's contact address, under the accounts' rule (``portail.emails``): DCAT and
    data.json publish it as a ``mailto:`` link harvesters follow. Empty clears it."""
    email = (value or "").strip() or None
    if email is not None and not plausible_email(email):
        raise CatalogError(f"contact_email must be an address such as {EMAIL_EXAMPLE}, not {value!r}")
    return email


def _language(value: str | None) -> str | None:
    """A dataset's language as ISO 639-1 writes it: two lowercase letters. ``FR`` is read as
    ``fr`` (the same language, and the case the exports' lookups and Opendatasoft use); a name
    or a region form (``français``, ``fr-FR``) is refused. Empty clears it (the portal's then)."""
    code = (value or "").strip().lower() or None
    if code is not None and code not in ISO_639_1:
        raise CatalogError(f"language must be a two-letter ISO 639-1 code such as 'fr' or 'en', not {value!r}")
    return code


def is_web_url(text: str) -> bool:
    """An absolute http(s) URL with a host: what the pages may link to and DCAT may name."""
    parts = urlsplit(text)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc) and not any(c in text for c in "\r\n\t")


def portals_from_option(option: str) -> list[str]:
    if option == "both":
        return list(PORTALS)
    if option not in PORTALS:
        raise CatalogError(f"--portal must be public, internal or both, not {option!r}")
    return [option]


# -- datasets -------------------------------------------------------------------------------
def _check_slug(slug: str) -> None:
    """Refuse an invalid dataset_id, saying which rule it breaks (a 300-character id made of
    valid letters is refused for its length, not its letters)."""
    if len(slug) > SLUG_MAX:
        raise CatalogError(f"Invalid dataset_id {slug[:40]!r}…: at most {SLUG_MAX} characters ({len(slug)} given)")
    if not SLUG.match(slug):
        raise CatalogError(f"Invalid dataset_id {slug!r}: lowercase letters, digits, '-' and '_' only, "
                           "starting with a letter or a digit")
    if slug.startswith("da_"):  # a dataset is found by its uid (``da_…``) under the same name
        raise CatalogError(f"Invalid dataset_id {slug!r}: 'da_' starts the datasets' uids, not their ids")


def create_dataset(session: Session, slug: str, title: str, **metadata: Any) -> Dataset:
    _check_slug(slug)
    if session.scalar(select(Dataset.id).where(Dataset.slug == slug)) is not None:
        raise CatalogError(f"A dataset {slug!r} already exists", status=409, code="Conflict")
    metadata.setdefault("portals", ["public"])
    clean = _check_metadata({"title": title, **metadata})
    _check_period(clean.get("temporal_start"), clean.get("temporal_end"))
    _release_alias(session, slug)
    stamp = now()
    defaults = {"themes": [], "keywords": [], "extra_metas": {}}
    dataset = Dataset(uid=_new_uid(session), slug=slug, created_at=stamp, modified=stamp, metadata_processed=stamp,
                      read_options={}, field_overrides={}, pipeline=[], records_count=0, **{**defaults, **clean})
    session.add(dataset)
    session.flush()
    return dataset


def get_dataset(session: Session, ref: str) -> Dataset:
    """A dataset by slug (dataset_id) or uid (da_…)."""
    if not may_name(ref):
        raise NotFound(f"Unknown dataset: {ref}")
    column = Dataset.uid if ref.startswith("da_") else Dataset.slug
    loaded = (selectinload(Dataset.versions), selectinload(Dataset.attachments))
    dataset = session.scalar(select(Dataset).where(column == ref).options(*loaded))
    if dataset is None and not ref.startswith("da_"):  # a former id of a renamed dataset
        dataset = session.scalar(select(Dataset).join(DatasetAlias, DatasetAlias.dataset_id == Dataset.id)
                                 .where(DatasetAlias.slug == ref).options(*loaded))
    if dataset is None:
        raise NotFound(f"Unknown dataset: {ref}")
    return dataset


def list_datasets(session: Session, portal: str | None = None) -> list[Dataset]:
    """Every dataset (of ``portal``), by dataset_id in code point order: sorted here, not in SQL,
    where PostgreSQL's collation (``en_US``: ``-`` and ``_`` ignored) ordered them otherwise than SQLite."""
    datasets = session.scalars(
        select(Dataset).options(selectinload(Dataset.versions), selectinload(Dataset.attachments))
    ).all()
    return sorted((d for d in datasets if portal is None or portal in (d.portals or [])), key=lambda d: d.slug)


def update_metadata(session: Session, dataset: Dataset, **values: Any) -> Dataset:
    clean = _check_metadata(values)
    _locked(session, dataset)
    if "temporal_start" in clean or "temporal_end" in clean:  # an older reversed period blocks no other edit
        _check_period(clean.get("temporal_start", dataset.temporal_start), clean.get("temporal_end", dataset.temporal_end))
    for key, value in clean.items():
        setattr(dataset, key, value)
    dataset.modified = dataset.metadata_processed = now()
    return dataset


def _check_period(start: date | None, end: date | None) -> None:
    """A temporal coverage ends after it starts (DCAT's ``dct:temporal`` would say otherwise)."""
    if start is not None and end is not None and end < start:
        raise CatalogError(f"temporal_end ({end.isoformat()}) is before temporal_start ({start.isoformat()})")


def rename_dataset(session: Session, dataset: Dataset, new_slug: str) -> Dataset:
    """Change the human id; the uid (and so every URI built on it) stays."""
    _check_slug(new_slug)
    _locked(session, dataset)
    if session.scalar(select(Dataset.id).where(Dataset.slug == new_slug, Dataset.id != dataset.id)) is not None:
        raise CatalogError(f"A dataset {new_slug!r} already exists", status=409, code="Conflict")
    if new_slug == dataset.slug:
        return dataset
    # the former id keeps answering for this dataset (links, widgets, scripts built on it)
    for alias in [a for a in dataset.aliases if a.slug == new_slug]:
        dataset.aliases.remove(alias)
    _release_alias(session, new_slug)
    dataset.aliases.append(DatasetAlias(slug=dataset.slug, created_at=now()))
    dataset.slug = new_slug
    dataset.modified = dataset.metadata_processed = now()
    return dataset


def alias_owner(session: Session, slug: str) -> Dataset | None:
    """The renamed dataset ``slug`` is a former id of, if any."""
    alias = session.get(DatasetAlias, slug)
    return None if alias is None else session.get(Dataset, alias.dataset_id)


def restore_alias(session: Session, slug: str, owner_uid: str) -> None:
    """Give a former id back to its renamed dataset (a creation under it that failed)."""
    owner = session.scalar(select(Dataset).where(Dataset.uid == owner_uid))
    if owner is not None and session.get(DatasetAlias, slug) is None and \
            session.scalar(select(Dataset.id).where(Dataset.slug == slug)) is None:
        owner.aliases.append(DatasetAlias(slug=slug, created_at=now()))
        session.flush()


def _release_alias(session: Session, slug: str) -> None:
    """A dataset created or renamed to a former id of another takes that id back."""
    alias = session.get(DatasetAlias, slug)
    if alias is not None:
        session.delete(alias)
        session.flush()


def delete_dataset(session: Session, dataset: Dataset) -> list[str]:
    """Remove the dataset's rows, retire its uid; returns the version files to delete."""
    locations = [v.location for v in dataset.versions if v.location]
    session.add(RetiredUid(uid=dataset.uid, slug=dataset.slug, retired_at=now()))
    session.delete(dataset)
    return locations


# -- schema ---------------------------------------------------------------------------------
def set_field_override(session: Session, dataset: Dataset, name: str, **changes: Any) -> Dataset:
    """Record a publisher's choice for one field; it is applied at every later load."""
    _locked(session, dataset)
    allowed = {"type", "label", "description", "annotations"}
    unknown = set(changes) - allowed
    if unknown:
        raise CatalogError(f"Unknown field property {sorted(unknown)[0]!r}; use type, label, description, annotations")
    if "type" in changes and changes["type"] is not None:
        try:
            changes["type"] = str(FieldType(changes["type"]))
        except ValueError as error:
            raise CatalogError(f"Unknown field type {changes['type']!r}; use one of {', '.join(t.value for t in FieldType)}") from error
    overrides = dict(dataset.field_overrides or {})
    if "annotations" in changes and changes["annotations"] is not None:
        stored = (overrides.get(name) or {}).get("annotations") or {}
        for annotation, arguments in changes["annotations"].items():
            check_annotation(annotation, arguments, field=name, stored=stored.get(annotation))
    entry = {**overrides.get(name, {}), **{k: v for k, v in changes.items() if v is not None}}
    overrides[name] = entry
    dataset.field_overrides = overrides
    dataset.modified = dataset.metadata_processed = now()
    return dataset


class AnnotationRefused(CatalogError):
    """An annotation a field cannot take (``check_annotation``): the command line's
    ``--annotate`` refuses it as a mistyped option (exit 2), the API as any catalogue's 400."""


#: The annotations that take no argument (flags), and what the one argument of each other is.
_FLAGS = frozenset({"facet", "disjunctive", "sortable", "id"})
_ARGUMENT_OF = {"hierarchical": "its path separator, e.g. hierarchical=/", "multivalued": "its separator, e.g. "
                "multivalued=;", "unit": "the unit, e.g. unit=€", "decimals": "a number of digits, e.g. decimals=2",
                "facetsort": "the order, e.g. facetsort=-count", "timeserie_precision": "e.g. timeserie_precision=day"}
#: Opendatasoft's time series precisions (its Automation API's ``timeserie_precision``).
TIMESERIE_PRECISIONS = ("year", "month", "day", "hour", "minute")
#: The most digits the pages write after a number's decimal separator (``web.routes.number_format``).
MAX_DECIMALS = 20


def check_annotation(name: str, arguments: Any, *, field: str | None = None, stored: Any = None) -> None:
    """Refuse an annotation whose arguments are not what its name takes (``hierarchical``
    without its separator, ``facet=x=y``), or whose value Portail cannot honour (``facetsort=foo``,
    ``decimals=deux``, ``timeserie_precision=week``), naming it as written: kept, it was read with
    a default at every query, or its argument ignored, and nothing said why. The value the field's
    override holds already (``stored``, recorded before values were checked) passes as it is: an
    override sent back whole with one change (a form, a script's read-modify-write) is not refused
    for what it did not change; where Portail reads it, it is ignored as before (``api.facets``)."""
    if name not in KNOWN_ANNOTATIONS:
        raise AnnotationRefused(f"Unknown annotation {name!r}")
    if not isinstance(arguments, list) or any(isinstance(a, (list, dict)) for a in arguments):
        raise AnnotationRefused(f"Annotation {name!r}: its arguments must be a list of values, not {arguments!r}")
    written = name + "".join(f"={a}" for a in arguments)
    if name in _FLAGS:
        if arguments:
            raise AnnotationRefused(f"Annotation {written!r}: {name} takes no argument")
    elif len(arguments) != 1 or str(arguments[0]) == "":
        hint = _ARGUMENT_OF.get(name)
        raise AnnotationRefused(f"Annotation {written!r}: {name} takes one argument" + (f", {hint}" if hint else ""))
    elif arguments != stored and (accepted := _value_misfit(name, arguments[0])) is not None:
        of_field = f" of field {field!r}" if field is not None else ""
        raise AnnotationRefused(f"Annotation {written!r}{of_field}: {name} takes {accepted}")


def _value_misfit(name: str, argument: Any) -> str | None:
    """What the argument of annotation ``name`` may be, if ``argument`` is none of it (None: it
    fits). The values are those Portail reads: the facets' orders (``api.facets.SORTS``), the
    pages' units and decimals (``web.routes.number_format``), Opendatasoft's time series
    precisions. A JSON null or boolean is no annotation's argument: recorded, ``unit: [null]``
    was read as the unit "None" (``web.routes.number_format``)."""
    from portail.api.facets import SORTS  # imported here: the API's modules import this one

    if argument is None or isinstance(argument, bool):
        return f"a text or a number, not {json.dumps(argument)}"
    value = str(argument)
    stripped = value.strip()
    if name == "facetsort" and value not in SORTS:
        return f"one of {', '.join(SORTS)}"
    if name == "timeserie_precision" and value not in TIMESERIE_PRECISIONS:
        return f"one of {', '.join(TIMESERIE_PRECISIONS)}"
    if name == "decimals" and not (stripped.isdecimal() and len(stripped.lstrip("0")) <= 2 and int(stripped) <= MAX_DECIMALS):
        return f"a whole number of digits from 0 to {MAX_DECIMALS}, e.g. decimals=2"
    if name == "unit" and not stripped:
        return "a unit that is not blank, e.g. unit=€"
    return None


def clear_field_override(session: Session, dataset: Dataset, name: str) -> Dataset:
    """Forget every choice recorded for one field (a misspelt name's included)."""
    overrides = dict(dataset.field_overrides or {})
    if name not in overrides:
        raise CatalogError(f"No override is recorded for field {name!r} of {dataset.slug!r}"
                           + (f"; overrides: {', '.join(sorted(overrides))}" if overrides else ""), status=404, code="NotFound")
    del overrides[name]
    dataset.field_overrides = overrides
    dataset.modified = dataset.metadata_processed = now()
    return dataset


def current_fields(dataset: Dataset) -> list[Field]:
    version = dataset.current
    return fields_from_json(version.fields) if version else []


def set_pipeline(session: Session, dataset: Dataset, steps: list[dict[str, Any]]) -> Dataset:
    """Store a processor pipeline (checked for shape); it runs from the next load on."""
    _locked(session, dataset)
    from portail.ingest.errors import IngestError
    from portail.processors import validate

    try:
        dataset.pipeline = validate(steps)
    except IngestError as error:
        raise CatalogError(error.message) from None
    dataset.modified = dataset.metadata_processed = now()
    return dataset


# -- versions -------------------------------------------------------------------------------
def start_version(session: Session, dataset: Dataset, source_name: str | None,
                  read_options: dict[str, Any] | None = None) -> DatasetVersion:
    """Allocate the next version number, recording its source and the options it is read with
    (what a reload of this version reads again, and how). Call with the dataset's build lock
    held: any version still marked building then belongs to a build that died, and is marked
    failed."""
    for stale in dataset.versions:
        if stale.status == "building":
            stale.status = "failed"
            stale.error = stale.error or "build interrupted"
            stale.finished_at = now()
    number = max((v.number for v in dataset.versions), default=0) + 1
    version = DatasetVersion(dataset=dataset, number=number, status="building", source_name=source_name,
                             read_options=read_options, created_at=now(), fields=[], report={})
    session.add(version)
    session.flush()
    return version


def complete_version(session: Session, version: DatasetVersion, *, location: str, row_count: int, size_bytes: int,
                     fields: list[Field], report: dict[str, Any]) -> DatasetVersion:
    version.status = "ready"
    version.location = location
    version.row_count = row_count
    version.size_bytes = size_bytes
    version.fields = fields_to_json(fields)
    version.report = report
    version.finished_at = now()
    return version


def fail_version(session: Session, version: DatasetVersion, error: str, report: dict[str, Any] | None = None) -> None:
    version.status = "failed"
    version.error = error
    version.report = report or {}
    version.finished_at = now()


def _locked(session: Session, dataset: Dataset) -> None:
    """Hold ``dataset``'s row until the transaction ends, then read its state and its versions'
    again: what another process committed meanwhile is what the caller decides on. Publishes,
    rollbacks and prunes on several API nodes each read the versions, then wrote them: a load
    pruning the version a rollback had just made current left it served from deleted files (a
    500 on every node, found by a multi-node hunt); two field overrides made at once kept one,
    and a rename of a dataset deleted meanwhile was a 500 (a second hunt). An UPDATE is the lock
    both catalogues take (a row lock on PostgreSQL, the database's write lock on SQLite)."""
    session.execute(update(Dataset).where(Dataset.id == dataset.id).values(current_version=Dataset.current_version)
                    .execution_options(synchronize_session=False, **LOCK_ONLY))
    if session.execute(select(Dataset).where(Dataset.id == dataset.id).options(selectinload(Dataset.versions))
                       .execution_options(populate_existing=True)).scalar_one_or_none() is None:
        raise NotFound(f"Unknown dataset: {dataset.slug}")  # deleted meanwhile, by another node


def publish(session: Session, dataset: Dataset, number: int | None = None, allow_empty: bool = False) -> DatasetVersion:
    """Make a ready version current: one row update, so readers switch atomically. A version of
    0 records is not served over one that has records unless ``allow_empty``: the newest version
    may be a load that read nothing (a truncated export, a wrong delimiter), and publishing it
    would empty the dataset, as a reload of it would (``operations.load_file``)."""
    _locked(session, dataset)
    ready = [v for v in dataset.versions if v.status == "ready"]
    if not ready:
        raise CatalogError(f"Dataset {dataset.slug!r} has no loaded version to publish", status=409, code="Conflict")
    version = max(ready, key=lambda v: v.number) if number is None else dataset.version(number)
    if version is None or version.status != "ready":
        raise CatalogError(f"Version {number} of {dataset.slug!r} is not available", status=404, code="NotFound")
    served = dataset.current
    if not allow_empty and not version.row_count and served is not None and served.number != version.number \
            and (served.row_count or 0) > 0:
        raise CatalogError(f"Version {version.number} of {dataset.slug!r} has 0 records: not published over version "
                           f"{served.number}, which has {served.row_count:,} and stays served (allow an empty version: "
                           "--allow-empty on the command line, allow_empty=true in the management API)",
                           status=409, code="Conflict")
    dataset.current_version = version.number
    dataset.records_count = version.row_count or 0
    dataset.modified = dataset.data_processed = version.published_at = now()
    for newer in dataset.versions:  # going back withdraws what was published after
        if newer.number > version.number:
            newer.published_at = None
    return version


def rollback(session: Session, dataset: Dataset, to: int | None = None, allow_empty: bool = False) -> DatasetVersion:
    """Go back to an older ready version, under ``publish``'s rule for an empty version. By
    default the version served before: the newest older one published and not withdrawn since
    (a draft loaded and never published, or a version left over from an interrupted reload,
    was never served and is skipped); failing one, the newest older ready one (versions
    published before ``published_at`` existed, or loaded and published by hand)."""
    _locked(session, dataset)
    if to is None:
        older = [v for v in dataset.versions if v.status == "ready" and v.number < (dataset.current_version or 0)]
        if not older:
            raise CatalogError(f"Dataset {dataset.slug!r} has no earlier version to roll back to", status=409, code="Conflict")
        served = [v for v in older if v.published_at is not None]
        to = max(served or older, key=lambda v: v.number).number
    return publish(session, dataset, to, allow_empty)


def prune_versions(session: Session, dataset: Dataset, keep: int) -> list[str]:
    """Mark ready versions beyond the ``keep`` to keep as pruned (never the current one); returns
    their file locations for the store to delete. Kept first: the current version, then, newest
    first, the versions a rollback or a publish may serve (published and not withdrawn, or newer
    than the current one); an older one not published (a draft passed over, or a version whose
    publication a rollback withdrew) comes last: it never takes the place of one that was served."""
    _locked(session, dataset)
    ready = [v for v in dataset.versions if v.status == "ready"]

    def rank(version: DatasetVersion) -> tuple[bool, bool, int]:
        current = version.number == dataset.current_version
        servable = version.published_at is not None or version.number > (dataset.current_version or 0)
        return current, servable, version.number

    locations = []
    for version in sorted(ready, key=rank, reverse=True)[keep:]:
        if version.number == dataset.current_version:
            continue
        version.status = "pruned"
        if version.location:
            locations.append(version.location)
    return locations


# -- attachments ----------------------------------------------------------------------------
@dataclass(frozen=True)
class AttachmentFile:
    attachment_id: str
    title: str
    mimetype: str
    path: str
    size_bytes: int
    filename: str | None = None  # as uploaded: the dataset object's odsfile:// URL names it


def normalize_attachment_id(filename: str) -> str:
    """Opendatasoft-style attachment id: the file name, lowercased ASCII, other characters as ``_``."""
    return normalize_name(filename) or "attachment"


def add_attachment(session: Session, dataset: Dataset, file: AttachmentFile) -> Attachment:
    for where, value in (("title", file.title), ("mimetype", file.mimetype)):  # a client's Content-Type included
        problem = text_problem(value, where, Attachment.__table__.c[where].type.length)
        if problem:
            raise CatalogError(problem)
    if any(a.attachment_id == file.attachment_id for a in dataset.attachments):
        raise CatalogError(f"Attachment {file.attachment_id!r} already exists", status=409, code="Conflict")
    attachment = Attachment(dataset=dataset, attachment_id=file.attachment_id, title=file.title, mimetype=file.mimetype,
                            path=file.path, size_bytes=file.size_bytes, filename=file.filename, created_at=now())
    session.add(attachment)
    dataset.modified = dataset.metadata_processed = now()
    return attachment


def remove_attachment(session: Session, dataset: Dataset, attachment_id: str) -> str:
    for attachment in dataset.attachments:
        if attachment.attachment_id == attachment_id:
            dataset.attachments.remove(attachment)
            dataset.modified = dataset.metadata_processed = now()
            return attachment.path
    raise NotFound(f"Unknown attachment: {attachment_id}")
