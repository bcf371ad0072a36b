"""Management API v1: the JSON twin of the ``portail dataset …`` commands.

Same service functions as the CLI (``catalog.services`` and ``operations``), so a script, the
CLI and the coming back office behave identically. Until accounts and API keys exist, the
routes answer only with the instance's management token, or to loopback clients when no
token is configured.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request, Response, UploadFile
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field as PydanticField, ValidationInfo, field_validator

from portail.api.errors import ApiError, invalid_parameter
from portail.auth.services import owner_changed
from portail.catalog import services
from portail.catalog.models import Dataset
from portail.ingest.types import ReadOptions
from portail.operations import (Instance, attach, check_pipeline, created_for_first_load, delete, detach, fetch,
                                load_file, publish, reindex, rollback, served_order_warnings)
from portail.operations import LoadResult, reload as reload_dataset
from portail.schema import FieldType
from portail.sources.redaction import redacted_url
from portail.store.duckdb_store import DuckDBStore, remove_leftover


def require_manager(request: Request) -> None:
    """The operator (management token, or a local request without one: ``accounts.caller``
    decides), or an admin signed in by session or by an API key with the ``manage`` scope
    (``auth.can``)."""
    from portail.api.accounts import OPERATOR, caller
    from portail.auth import can

    who = caller(request)
    if who is not OPERATOR and not can(who, "manage_users"):  # the admins' right, said as what it opens here
        raise ApiError(403, "Forbidden", "The management API is for the instance's administrators: an admin's "
                                         "session or API key (with the manage scope), or the management token.")


class ManagerFirst(APIRoute):
    """A management route that refuses its caller (``require_manager``) before reading the
    request's body. FastAPI reads the body (a multipart upload parsed and spooled to disk, up
    to the size cap) before it runs any dependency, so an unauthenticated caller could make the
    server parse a whole upload, or learn that it was malformed, before being told 401."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def manager_first(request: Request) -> Response:
            await run_in_threadpool(require_manager, request)  # the guard's principal, or a key's look-up
            return await handler(request)

        return manager_first


def _storable(value: Any, where: str) -> None:
    """Refuse what the catalogue would store but no JSON answer can carry back (Python's parser
    takes ``NaN`` and ``\\ud800``): a NaN or an infinity broke every listing of the management
    API (a 500 on each dataset), a lone surrogate the creation itself, a NUL the database."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: {value} is not a number JSON can carry")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{where}: a NUL character is not text")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{where}: a lone surrogate (\\ud800-\\udfff) is not text") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key, where)
            _storable(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for item in value:
            _storable(item, where)


def storable(value: Any, where: str) -> Any:
    """``value`` if the catalogue may store it (``_storable``), else a 400 naming ``where``: for
    what comes in without a body model (a pipeline's steps, an attachment's title)."""
    try:
        _storable(value, where)
    except ValueError as error:
        raise invalid_parameter(str(error)) from None
    return value


class Storable(BaseModel):
    """A body whose values are stored and served again: text and JSON numbers only. Checked
    before pydantic's own validation: a length limit (``column_text``) made pydantic read a lone
    surrogate as "unable to parse raw data", hiding the field's own reason."""

    @field_validator("*", mode="before")
    @classmethod
    def _check_storable(cls, value: Any, info: ValidationInfo) -> Any:
        _storable(value, info.field_name)
        return value


def column_text(column: Any, default: Any = None, **extra: Any) -> Any:
    """A text of at most ``column``'s length (a model's ``String(n)``): a 400 naming the field
    and its limit, where PostgreSQL failed the write (a 500) and SQLite kept it. The body being
    ``Storable``, a NUL is refused too."""
    return PydanticField(default, max_length=column.type.length, **extra)


class Metadata(Storable):
    model_config = ConfigDict(extra="forbid")
    title: str | None = column_text(Dataset.title)
    description: str | None = None
    themes: list[str] | None = None
    keywords: list[str] | None = None
    license: str | None = column_text(Dataset.license)
    license_url: str | None = column_text(Dataset.license_url)
    publisher: str | None = column_text(Dataset.publisher)
    owner: str | None = column_text(Dataset.owner)
    contact_name: str | None = column_text(Dataset.contact_name)
    contact_email: str | None = column_text(Dataset.contact_email, description="An email address; empty clears it.",
                                            examples=["donnees@example.org"])
    language: str | None = column_text(Dataset.language, description="An ISO 639-1 code (read in lower case); empty "
                                       "clears it.", examples=["fr"])
    update_frequency: str | None = column_text(Dataset.update_frequency)
    temporal_start: date | None = None
    temporal_end: date | None = None
    spatial_coverage: str | None = column_text(Dataset.spatial_coverage)
    portals: list[str] | None = None
    extra_metas: dict[str, Any] | None = None


class DatasetCreate(Metadata):
    dataset_id: str
    title: str = column_text(Dataset.title, ...)
    source_url: str | None = None


class DatasetUpdate(Metadata):
    dataset_id: str | None = PydanticField(default=None, description="New slug; the uid never changes.")


class FieldOverride(Storable):
    model_config = ConfigDict(extra="forbid")
    type: FieldType | None = None
    label: str | None = None
    description: str | None = None
    annotations: dict[str, list[Any]] | None = None


class VersionChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int | None = PydanticField(None, ge=1, le=2**62, strict=True)  # SQLite's integers; true is no version


class PublishChoice(VersionChoice):
    allow_empty: bool = False  # serve a version of 0 records over one that has records


class ReloadChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    publish: bool = True  # as `portail dataset reload`
    allow_empty: bool = False  # publish a version of 0 records over one that has records


class SourceUrl(Storable):
    url: str
    publish: bool = False
    allow_empty: bool = False  # publish a version of 0 records over one that has records


def version_json(v, store: DuckDBStore | None = None) -> dict[str, Any]:
    """A version as the management API and ``dataset show`` list it. A version ``building`` that
    no load holds the dataset's lock for is ``interrupted`` (a load killed: the next load marks it
    failed and removes what it left); it read "building" for good, and its operator waited."""
    status = v.status
    if status == "building" and store is not None and not store.loading(v.dataset.uid):
        status = "interrupted"
    return {"version": v.number, "status": status, "source": _shown_source(v.source_name),
            "read_options": v.read_options,  # what a reload of this version's source reads it with
            "records_count": v.row_count,
            "size_bytes": v.size_bytes, "created_at": v.created_at.isoformat(),
            "finished_at": v.finished_at.isoformat() if v.finished_at else None, "error": v.error, "report": v.report}


def _shown_source(source: str | None) -> str | None:
    """A recorded source as shown: a URL without its credentials, those recorded before loads
    stopped keeping them (``operations.load_file``) included."""
    return redacted_url(source) if source else source


def loaded_json(result: LoadResult) -> dict[str, Any]:
    """The answer to a load (upload, URL, reload)."""
    return {"dataset_id": result.slug, "version": result.version, "published": result.published,
            "report": result.report.to_dict()}


def management_json(d: Dataset, store: DuckDBStore | None = None) -> dict[str, Any]:
    return {
        "dataset_id": d.slug, "dataset_uid": d.uid, "title": d.title, "description": d.description,
        "themes": d.themes, "keywords": d.keywords, "license": d.license, "license_url": d.license_url,
        "publisher": d.publisher, "owner": d.owner, "contact_name": d.contact_name, "contact_email": d.contact_email,
        "language": d.language, "update_frequency": d.update_frequency,
        "temporal_start": d.temporal_start.isoformat() if d.temporal_start else None,
        "temporal_end": d.temporal_end.isoformat() if d.temporal_end else None,
        "spatial_coverage": d.spatial_coverage, "portals": d.portals, "extra_metas": d.extra_metas,
        "source": _shown_source(d.source), "field_overrides": d.field_overrides, "pipeline": d.pipeline,
        "current_version": d.current_version,
        "records_count": d.records_count, "created_at": d.created_at.isoformat(), "modified": d.modified.isoformat(),
        "versions": [version_json(v, store) for v in d.versions],
        "attachments": [{"id": a.attachment_id, "title": a.title, "mimetype": a.mimetype, "size_bytes": a.size_bytes}
                        for a in d.attachments],
    }


#: The longest name an upload is saved under, in bytes: file systems refuse more than 255.
MAX_UPLOAD_NAME_BYTES = 120


def _upload_name(filename: str | None) -> str:
    """The name an upload is saved under: the name sent, without its folders, shortened to
    ``MAX_UPLOAD_NAME_BYTES`` keeping its extension (readers detect formats by it)."""
    name = Path((filename or "").replace("\x00", "")).name
    if name in ("", ".", ".."):
        return "upload"
    if len(name.encode()) <= MAX_UPLOAD_NAME_BYTES:
        return name
    suffix = Path(name).suffix if len(Path(name).suffix.encode()) <= 16 else ""
    stem = name[:len(name) - len(suffix)].encode()[:MAX_UPLOAD_NAME_BYTES - len(suffix.encode())]
    return (stem.decode(errors="ignore") or "upload") + suffix


async def one_file_part(request: Request) -> None:
    """Refuse a multipart body holding several ``file`` parts, before anything is saved: the
    form parser keeps the last one, so a client sending two had the second loaded (or
    attached) and the first silently dropped. The form is the one FastAPI already parsed
    (Starlette keeps it on the request)."""
    count = len((await request.form()).getlist("file"))
    if count > 1:
        raise invalid_parameter(f"The request holds {count} parts named `file`: send one file per request.")


#: An upload's folder (``upload-*``) or a download (``fetch-*``, ``operations.fetch``) older than
#: this is a killed process's leftover: each lives only while its load runs.
STALE_UPLOAD_SECONDS = 24 * 3600


def sweep_stale_uploads(folder: Path, now: float | None = None) -> None:
    """Remove what a process killed mid-upload or mid-load left in the uploads folder (a 2 GB
    upload stays there otherwise). Only entries of the two kinds it writes, and only past
    ``STALE_UPLOAD_SECONDS``: another process's upload under way is younger."""
    now = time.time() if now is None else now
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:
        return
    for entry in entries:
        if not entry.name.startswith(("upload-", "fetch-")):
            continue
        try:
            stale = now - entry.lstat().st_mtime > STALE_UPLOAD_SECONDS
        except FileNotFoundError:
            continue
        if stale:
            remove_leftover(entry)


def _save_upload(instance: Instance, upload: UploadFile) -> Path:
    """Copy an upload to the instance's uploads folder in chunks, enforcing the size limit. On
    any failure the upload's folder is removed: nothing is left behind (and a killed process's
    leftovers go at the next upload: ``sweep_stale_uploads``)."""
    limit = instance.settings.max_upload_bytes
    instance.settings.uploads_dir.mkdir(parents=True, exist_ok=True)
    sweep_stale_uploads(instance.settings.uploads_dir)
    # A folder of its own, the file under its own name: errors and reports name the file sent.
    folder = Path(tempfile.mkdtemp(prefix="upload-", dir=instance.settings.uploads_dir))
    target = folder / _upload_name(upload.filename)
    size = 0
    try:
        with open(target, "wb") as out:
            while chunk := upload.file.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, "PayloadTooLarge", f"The file is larger than the {limit:,} bytes allowed.")
                out.write(chunk)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return target


def _audited(request: Request) -> dict[str, str | None]:
    """Who an audited change is by: the caller's login and address (``actor``, ``ip``)."""
    from portail.api.accounts import caller  # accounts imports this module: read at call time

    return {"actor": caller(request).login, "ip": request.client.host if request.client else None}


def management_router() -> APIRouter:
    router = APIRouter(prefix="/api/management/v1", tags=["Management API v1"], route_class=ManagerFirst)

    def inst(request: Request) -> Instance:
        return request.app.state.instance

    def shown(instance: Instance, ref: str) -> dict[str, Any]:
        """The dataset as the management API shows it (``management_json``)."""
        with instance.session() as session:
            return management_json(services.get_dataset(session, ref), instance.store)

    @router.get("/datasets", summary="All datasets, every portal, with their versions")
    def list_all(request: Request):
        with inst(request).session() as session:
            datasets = services.list_datasets(session)
            return {"total_count": len(datasets), "results": [management_json(d, inst(request).store) for d in datasets]}

    @router.post("/datasets", status_code=201, summary="Create a dataset (optionally loading a URL)")
    def create(request: Request, body: DatasetCreate):
        instance = inst(request)
        metadata = body.model_dump(exclude_none=True, exclude={"dataset_id", "title", "source_url"})
        # A creation from a URL is all or nothing: the file is fetched first, and a dataset whose
        # first load fails is removed (the client would otherwise find an empty dataset holding
        # the id it will retry with, and a 409).
        path = fetch(instance, body.source_url) if body.source_url else None
        try:
            with created_for_first_load(instance, body.dataset_id, body.title, **_audited(request), **metadata):
                if path is not None:
                    load_file(instance, body.dataset_id, path, source=body.source_url)
        finally:
            if path is not None:
                path.unlink(missing_ok=True)
        return shown(instance, body.dataset_id)

    @router.get("/datasets/{ref}", summary="A dataset by dataset_id or uid")
    def show(request: Request, ref: str):
        return shown(inst(request), ref)

    @router.patch("/datasets/{ref}", summary="Change metadata (or the dataset_id)")
    def update(request: Request, ref: str, body: DatasetUpdate):
        instance = inst(request)
        values = body.model_dump(exclude_unset=True, exclude={"dataset_id"})
        with instance.session() as session:
            dataset = services.get_dataset(session, ref)
            if "owner" in values:  # ownership opens the dataset: audited in the change's transaction
                owner_changed(session, dataset, values["owner"], **_audited(request))
            if values:
                services.update_metadata(session, dataset, **values)
            if body.dataset_id is not None and body.dataset_id != dataset.slug:  # "" is an invalid id, not "unchanged"
                services.rename_dataset(session, dataset, body.dataset_id)
            uid = dataset.uid
        return shown(instance, uid)

    @router.delete("/datasets/{ref}", status_code=204, summary="Delete a dataset, its versions and files")
    def remove(request: Request, ref: str):
        delete(inst(request), ref, **_audited(request))

    @router.post("/datasets/{ref}/data", summary="Upload a file as a new version (multipart field `file`)",
                 dependencies=[Depends(one_file_part)])
    def upload(request: Request, ref: str, file: UploadFile, publish_now: bool = False, format: str | None = None,
               encoding: str | None = None, delimiter: str | None = None, sheet: str | None = None,
               allow_empty: bool = False):
        instance = inst(request)
        path = _save_upload(instance, file)
        try:
            # an empty field is one not given, as an HTML form sends it (``sheet=&delimiter=``)
            options = ReadOptions(format=format or None, encoding=encoding or None, delimiter=delimiter or None,
                                  sheet=sheet or None)
            # recorded under the name it was saved under, never a path (a name sent as "/etc/…"
            # made `dataset reload` publish that server file); the store keeps the file for reloads
            result = load_file(instance, ref, path, options=options, publish=publish_now, source=path.name,
                               allow_empty=allow_empty, keep_source=True)
        finally:
            shutil.rmtree(path.parent, ignore_errors=True)  # the upload's own folder
        return loaded_json(result)

    @router.post("/datasets/{ref}/reload", summary="Load the source of the version served again (a new version)")
    def do_reload(request: Request, ref: str, body: ReloadChoice | None = None):
        """As `portail dataset reload`: the file, upload or URL of the version being served, read
        with the same options, through the field overrides and the pipeline of now."""
        body = body or ReloadChoice()
        return loaded_json(reload_dataset(inst(request), ref, publish=body.publish, allow_empty=body.allow_empty))

    @router.post("/datasets/{ref}/data/url", summary="Load a URL as a new version")
    def load_url(request: Request, ref: str, body: SourceUrl):
        instance = inst(request)
        path = fetch(instance, body.url)
        try:
            result = load_file(instance, ref, path, publish=body.publish, source=body.url, allow_empty=body.allow_empty)
        finally:
            path.unlink(missing_ok=True)
        return loaded_json(result)

    @router.get("/datasets/{ref}/versions", summary="Version history")
    def versions(request: Request, ref: str):
        return shown(inst(request), ref)["versions"]

    @router.post("/datasets/{ref}/publish", summary="Publish the newest (or a given) ready version")
    def do_publish(request: Request, ref: str, body: PublishChoice | None = None):
        version = publish(inst(request), ref, body.version if body else None, body.allow_empty if body else False)
        return {"dataset_id": ref, "current_version": version.number,
                "warnings": served_order_warnings(inst(request), ref)}  # a version sorted on a field hidden since

    @router.post("/datasets/{ref}/rollback", summary="Go back to an earlier version")
    def do_rollback(request: Request, ref: str, body: PublishChoice | None = None):
        version = rollback(inst(request), ref, body.version if body else None, body.allow_empty if body else False)
        return {"dataset_id": ref, "current_version": version.number,
                "warnings": served_order_warnings(inst(request), ref)}  # a version sorted on a field hidden since

    @router.post("/datasets/{ref}/reindex", summary="Write a version's index file again (full text, keys)")
    def do_reindex(request: Request, ref: str, body: VersionChoice | None = None):
        version = reindex(inst(request), ref, body.version if body else None)
        return {"dataset_id": ref, "version": version.number, "indexed": True}

    @router.put("/datasets/{ref}/fields/{name}", summary="Override a field's type, label, description, annotations")
    def override_field(request: Request, ref: str, name: str, body: FieldOverride):
        instance = inst(request)
        with instance.session() as session:
            dataset = services.get_dataset(session, ref)
            services.set_field_override(session, dataset, name, **body.model_dump(exclude_none=True))
            uid = dataset.uid
        return shown(instance, uid)

    @router.put("/datasets/{ref}/pipeline", summary="Set the processor pipeline (list of {processor, …params})")
    def set_pipeline(request: Request, ref: str, steps: list[dict[str, Any]]):
        instance = inst(request)
        steps = check_pipeline(instance, ref, storable(steps, "pipeline"))  # against the published schema, as the CLI does
        with instance.session() as session:
            dataset = services.get_dataset(session, ref)
            services.set_pipeline(session, dataset, steps)
            uid = dataset.uid
        return shown(instance, uid)

    @router.get("/processors", summary="Every processor, its parameters and an example")
    def processors():
        from portail.processors import REGISTRY

        return [{"processor": p.name, "doc": p.doc, "params": p.params, "example": p.example} for p in REGISTRY.values()]

    @router.post("/datasets/{ref}/attachments", status_code=201, summary="Attach a file to a dataset",
                 dependencies=[Depends(one_file_part)])
    def attach_file(request: Request, ref: str, file: UploadFile, title: str | None = None):
        instance = inst(request)
        saved = _save_upload(instance, file)
        try:
            attach(instance, ref, saved, title=storable(title, "title"), mimetype=file.content_type, name=saved.name)
        finally:
            shutil.rmtree(saved.parent, ignore_errors=True)  # the upload's own folder
        return shown(instance, ref)

    @router.delete("/datasets/{ref}/attachments/{attachment_id}", status_code=204, summary="Remove an attachment")
    def remove_attachment(request: Request, ref: str, attachment_id: str):
        detach(inst(request), ref, attachment_id)

    return router
