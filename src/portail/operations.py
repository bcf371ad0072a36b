"""The use cases that span packages: load a file into a new version, publish, roll back,
delete with files, fetch a URL.

The CLI and the management API call these and nothing lower, so both behave the same. Each
step that changes the catalogue is its own short transaction; the long build runs outside
any transaction, under the dataset's build lock, so readers and other datasets never wait.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shlex
import shutil
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import sqlalchemy.exc
from sqlglot import exp
from sqlalchemy.orm import Session, sessionmaker

from portail import odsql
from portail.catalog import generation, open_catalog, services, transaction
from portail.catalog.db import NewerSchema, unique_violation
from portail.catalog.models import Dataset, DatasetVersion
from portail.config import Settings, SettingsError, load_settings
from portail.ingest.detect import check_options, fitting_options, open_source
from portail.ingest.errors import IngestError
from portail.ingest.load import BuildResult, IngestReport, Progress, build_version
from portail.ingest.types import ReadOptions
from portail.schema import RESERVED_NAMES, Field, FieldType, fields_from_json
from portail.sources.redaction import redacted_url, withheld
from portail.store import DuckDBStore, fulltext, open_store
from portail.store.duckdb_store import UNREADABLE_VERSION, Workspace, index_foldings, private_root
from portail.values import record_id_expression


@dataclass
class Instance:
    """One Portail instance: its settings, catalogue and store. Cheap to pass around."""

    settings: Settings
    catalog: sessionmaker[Session]
    store: DuckDBStore

    def session(self):
        return transaction(self.catalog)

    def generation(self) -> tuple[str, int]:
        """The catalogue's identity and change counter (``catalog.generation``): caches derived
        from the catalogue hold while both stay the same."""
        return generation.stamp(self.catalog)


def open_instance(settings: Settings | None = None) -> Instance:
    """The instance of these settings (by default ``PORTAIL_*``). A bad setting, a home that is
    not a folder, a catalogue that cannot be opened are a ``CatalogError`` naming the variable:
    every command says it in one line."""
    try:
        settings = settings or load_settings()
    except SettingsError as error:
        raise services.CatalogError(str(error), status=500, code="BadSetting") from None
    try:
        if not settings.home.exists():  # a mistyped or relative PORTAIL_HOME is a new, empty instance: said
            logging.getLogger("portail").warning("new instance home %s (PORTAIL_HOME)", settings.home.resolve())
        settings.home.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise services.CatalogError(f"PORTAIL_HOME={str(settings.home)!r}: not a usable folder ({error.strerror})",
                                    status=500, code="BadSetting") from None
    try:
        catalog = open_catalog(settings.sqlalchemy_url, settings.data_dir, settings.home)  # data_dir: ``open_store``'s
    except NewerSchema as error:
        variable = "PORTAIL_DATABASE_URL" if settings.database_url else "PORTAIL_HOME"
        raise services.CatalogError(f"{variable}: {error}", status=500, code="BadSetting") from None
    except (ImportError, sqlalchemy.exc.SQLAlchemyError) as error:
        variable = "PORTAIL_DATABASE_URL" if settings.database_url else "PORTAIL_HOME"
        detail = str(getattr(error, "orig", None) or error).strip().splitlines()[0][:300]
        raise services.CatalogError(f"{variable}: cannot open the catalogue ({type(error).__name__}: {detail})",
                                    status=500, code="BadSetting") from None
    attachments = settings.home / "attachments"
    if attachments.is_dir():  # a home of an earlier release kept it 0755 until the next attachment
        private_root(attachments)
    return Instance(settings, catalog, open_store(settings))


@dataclass(frozen=True)
class LoadResult:
    slug: str
    version: int
    published: bool
    report: IngestReport


#: The read options each version (and the dataset, for its last load) remembers, for reading
#: that source again.
REMEMBERED_OPTIONS = ("format", "encoding", "delimiter", "sheet", "header_row", "json_path", "layer")


@dataclass(frozen=True)
class Reread:
    """What a reload reads again, and how: a source, the options it was read with, and which
    load that was (for messages)."""

    source: str | None
    options: dict[str, Any]
    label: str
    version: int | None  # the load's version, whose kept source (an upload) a reload reads


def reread_of(dataset: Dataset) -> Reread:
    """The source a reload reads and its options, taken from one load so they always match:
    the version being served (after a rollback, the one rolled back to, not the newest loaded:
    its file read with another file's forced encoding or sheet would be garbled), else the last
    load. A version loaded before migration 0012 recorded no options: its file is detected
    afresh, as at a first load."""
    served = dataset.current
    if served is not None and served.source_name:
        return Reread(served.source_name, served.read_options or {}, f"version {served.number}", served.number)
    ready = [v.number for v in dataset.versions if v.status == "ready"]  # the last load is the newest made ready
    return Reread(dataset.source, dataset.read_options or {}, "its last load", max(ready, default=None))


def read_options(dataset: Dataset, overrides: ReadOptions | None, settings: Settings, *,
                 reread: bool = False) -> ReadOptions:
    """The options of a load: those given for it, over, when the same source is read again
    (``reread``: a reload), those it was read with (``reread_of``). A new file is detected
    afresh: an encoding or format forced for another file would garble it (cp1252 read as UTF-8…)."""
    stored = {k: v for k, v in reread_of(dataset).options.items() if k in REMEMBERED_OPTIONS} if reread else {}
    options = ReadOptions(**stored)
    if overrides is not None:
        for key, value in vars(overrides).items():
            if value is not None and key in REMEMBERED_OPTIONS:
                setattr(options, key, value)
    options.max_line_bytes = settings.max_line_bytes
    options.max_unzipped_bytes = settings.max_unzipped_bytes
    options.max_zip_ratio = settings.max_zip_ratio
    options.tmp_dir = settings.tmp_dir
    return options


def _remember_options(options: ReadOptions) -> dict[str, Any]:
    return {k: getattr(options, k) for k in REMEMBERED_OPTIONS if getattr(options, k) is not None}


def readable_file(path: Path) -> Path:
    """``path``, checked to be a file this process can read: a missing file, a folder or an
    unreadable one is an ``IngestError`` naming it, said before anything is created."""
    path = Path(path)
    if not path.exists():
        raise IngestError("no such file", source=str(path))
    if not path.is_file():
        raise IngestError("this is a folder, not a file" if path.is_dir() else "not a regular file", source=str(path))
    try:
        with open(path, "rb"):
            pass
    except OSError as error:
        raise IngestError(f"cannot be read ({error.strerror})", source=str(path)) from None
    return path


def load_file(instance: Instance, ref: str, path: Path, *, options: ReadOptions | None = None, publish: bool = False,
              progress: Progress | None = None, source: str | None = None, allow_empty: bool = False,
              reread: bool = False, keep_source: bool = False, reread_version: int | None = None) -> LoadResult:
    """Build a new version of a dataset from a file; publish it if asked. ``reread``: the file is
    the source of the version being served read again (a reload, ``reread_of``), read with the
    options that version was read with, ``reread_version`` the version whose source it is: a load
    published meanwhile (while the reload waited for the dataset's lock) refuses it, a 409, rather
    than publish the older file over the newer. ``keep_source``: the file is moved into the store
    as the version's source (an upload, which nothing else keeps), for reloads; a kept source read
    again is kept for the new version too, so a reload's version is as reloadable as the one it read.
    A URL ``source`` is recorded without its credentials (``redacted_url``): the version listings
    show it to every manager, and nothing reads it again with them (``reload_source``).

    On any failure the version is marked failed with its reason, its file goes, and nothing
    published changes; what a killed load left (its version still building, its file) goes at
    the next load of the dataset.
    A version of 0 records is not published over one that has records unless ``allow_empty``
    (a truncated export would empty the dataset): it is kept ready, and an ``IngestError`` says
    how to publish it.
    """
    from portail.auth.services import hidden_from_anyone

    source = redacted_url(source) if source else source
    kept_again = reread and instance.store.holds_source(path)
    if kept_again:  # recorded under its name, as at its upload: never the store's path
        source = Path(path).name
    if reread_version is None:  # said before the wait for the lock; a reload's, once its version is checked
        path = _loadable(instance, path)
    with instance.session() as session:
        dataset = services.get_dataset(session, ref)
        uid = dataset.uid
    with instance.store.lock(uid):
        with instance.session() as session:
            dataset = services.get_dataset(session, uid)
            if reread_version is not None:
                if reread_of(dataset).version != reread_version:  # its kept file maybe pruned since
                    raise services.CatalogError(f"Dataset {dataset.slug!r} changed while this reload waited (version "
                                                f"{dataset.current_version} is served now): reload it again",
                                                status=409, code="Conflict")
                path = _loadable(instance, path)
            opts = read_options(dataset, options, instance.settings, reread=reread)
            dropped: list[str] = []  # said in the load's report
            if reread:  # stored by a load that ignored them, made before they were refused (a reload gives none)
                opts, dropped = fitting_options(path, opts)
            check_options(path, opts)  # a sheet given for a CSV: refused before a version is started
            overrides = dict(dataset.field_overrides or {})
            pipeline = list(dataset.pipeline or [])
            timezone = dataset.timezone
            hidden = hidden_from_anyone(session, dataset)  # not a sort key: reads would rank by it
            version = services.start_version(session, dataset, source or path.name, _remember_options(opts))
            number = version.number
            counted = _counted_versions(dataset, version)
        instance.store.sweep_versions(uid, counted)
        raw = result = None
        try:
            try:
                raw = open_source(path, opts)
                # The build's workspace goes on to the version's index build (``_complete_load``).
                result = build_version(instance.store, uid, number, raw, overrides=overrides, timezone=timezone,
                                       progress=progress, pipeline=pipeline,
                                       locate=lambda ref: published_location(instance, ref), hidden=hidden,
                                       keep_workspace=True)
                result.report.notes.extend(dropped)
                if keep_source or kept_again:
                    instance.store.keep_source(uid, number, path, move=not kept_again)
            except IngestError as error:
                _fail_version(instance, uid, number, error.describe(), {"error": error.to_dict()})
                raise
            except BaseException as error:
                _fail_version(instance, uid, number, f"{type(error).__name__}: {error}")
                raise
            finally:
                for leftover in (raw.cleanup if raw else []):
                    Path(leftover).unlink(missing_ok=True) if Path(leftover).is_file() else shutil.rmtree(leftover, True)
            try:
                done = _complete_load(instance, uid, number, result, _remember_options(opts), source=source or str(path),
                                      publish=publish, allow_empty=allow_empty, progress=progress)
            except BaseException as error:  # its file is in place: unless the catalogue made it ready, it goes
                _fail_version(instance, uid, number, f"{type(error).__name__}: {error}")
                raise
        finally:  # the index build closed it, unless a failure came first
            if result is not None and result.workspace is not None:
                result.workspace.close()
    for location in done.stale:
        instance.store.drop_version(location)
    if done.emptied:
        raise IngestError(f"version {number} has 0 records: not published over version {done.served}, which has "
                          f"records and stays served (publish version {number} or load again, allowing an empty "
                          "version: --allow-empty on the command line, allow_empty=true in the management API)",
                          source=path.name)
    return LoadResult(done.slug, number, publish, result.report)


def _loadable(instance: Instance, path: Path) -> Path:
    """``path``, a file this process can read within the size allowed (``readable_file``)."""
    path = readable_file(path)
    if path.stat().st_size > instance.settings.max_upload_bytes:
        raise IngestError(f"the file is larger than the {instance.settings.max_upload_bytes:,} bytes allowed",
                          source=path.name)
    return path


@dataclass(frozen=True)
class _Completed:
    """How a built version's load ended (``_complete_load``)."""

    slug: str
    emptied: bool  # not published: 0 records over a served version that has records
    served: int | None  # the version served when it was decided
    stale: list[str]  # the files of the versions pruned


def _complete_load(instance: Instance, uid: str, number: int, result: BuildResult, options: dict[str, Any], *,
                   source: str, publish: bool, allow_empty: bool, progress: Progress | None) -> _Completed:
    """Index a built version, make it ready, publish it if asked and prune. A first version is
    served at once, its indexes written after; a reload replaces a version served with its
    indexes, so it is published once it has its own: swapped earlier, every full-text query
    scanned the new file while they were written (20 to 50 s a search on 2 M rows under load).
    Any version not served at once is made ready with its publication and the prune, in one
    transaction, once indexed: a load killed before (or whose catalogue refused the commit)
    leaves it building, failed by the next load, which removes its file. Made ready before its
    indexes, a killed reload's version took a ``keep_versions`` slot from a published one and
    was what a rollback served, never published and without indexes (fault hunt)."""
    with instance.session() as session:
        dataset = services.get_dataset(session, uid)
        at_once = publish and dataset.current is None
        if at_once:
            _make_ready(session, dataset, number, result, options, source)
            services.publish(session, dataset, number)
        slug = dataset.slug
    failure = index_version(instance, result.version.location, result.fields, progress, result.workspace)
    if failure:  # said in the version's report, where the CLI and the management API show it
        result.report.notes.append(f"{failure}; served without them until `portail dataset reindex {slug}`")
    with instance.session() as session:
        dataset = services.get_dataset(session, uid)
        _say_unhidden(session, dataset, result)
        if at_once:
            dataset.version(number).report = result.report.to_dict()
        else:
            _make_ready(session, dataset, number, result, options, source)
        served = dataset.current_version
        emptied = (publish and not at_once and not allow_empty and result.version.row_count == 0
                   and dataset.current is not None and (dataset.current.row_count or 0) > 0)
        if publish and not at_once and not emptied:
            services.publish(session, dataset, number, allow_empty)
        stale = services.prune_versions(session, dataset, instance.settings.keep_versions)
    return _Completed(slug, emptied, served, stale)


def _say_unhidden(session: Session, dataset: Dataset, result: BuildResult) -> None:
    """Note in the load's report the hidden fields this version does not have (a column a
    reload renamed): served, its records are refused to those rulesets' callers, and the
    publisher learns why at the load, not from them. And a field the records are sorted on that
    a rule saved during the build hides (``stored_order_warnings``)."""
    from portail.auth.services import hidden_fields_missing, stored_order_warnings

    for rule in hidden_fields_missing(session, dataset, [field.name for field in result.fields]):
        result.report.notes.append(f"access rule {rule}, which this version does not have: its callers' reads are "
                                   f"refused until `portail dataset-security {dataset.slug} --hide-fields` names its fields")
    # a rule saved while the version was built: the build could not leave its field out of the sort
    result.report.notes.extend(stored_order_warnings(session, dataset, result.report.sorted_by))


def _make_ready(session: Session, dataset: Dataset, number: int, result: BuildResult, options: dict[str, Any],
                source: str) -> None:
    """A built version ready to publish, and the dataset's last load remembered (for reloads)."""
    services.complete_version(session, dataset.version(number), location=result.version.location,
                              row_count=result.version.row_count, size_bytes=result.version.size_bytes,
                              fields=result.fields, report=result.report.to_dict())
    dataset.source = source
    dataset.read_options = options


def _counted_versions(dataset: Dataset, starting: DatasetVersion) -> dict[int, str | None]:
    """The versions still counting, with their files (``DuckDBStore.sweep_versions`` keeps
    those): the ready ones, and any other building (none, under the dataset's lock, once
    ``start_version`` failed the dead builds). Not the one ``starting``, which has no file yet:
    a file at its name is a stray, which would stop its build (a catalogue restored from a
    backup taken before a load numbered alike)."""
    return {v.number: v.location for v in dataset.versions
            if v.status in ("building", "ready") and v is not starting}


def _fail_version(instance: Instance, uid: str, number: int, error: str, report: dict[str, Any] | None = None) -> None:
    """Record that a load failed and remove its version's file (the caller holds the dataset's
    lock): a failure after the file's rename (the catalogue's commit refused, a full disk) left
    it behind for good. Only a version the catalogue says failed loses its file, never one it
    made ready (served, perhaps). A catalogue that cannot record it leaves the version building:
    the next load marks it failed and removes the file (``sweep_versions``); the load's own
    error is the one said."""
    try:
        with instance.session() as session:
            version = services.get_dataset(session, uid).version(number)
            if version.status == "building":
                services.fail_version(session, version, error, report)
            failed = version.status == "failed"
    except Exception:
        logging.getLogger(__name__).exception("failure of version %s of %s not recorded", number, uid)
        return
    if failed:
        instance.store.drop_version(str(instance.store.version_path(uid, number)))


def page_columns(fields: list[Field]) -> list:
    """What a page of records shows of each field (the outputs of a query without ``select``),
    for the version's page file (``store.pages``): pages that show these, or some of them,
    and list their rows when bound, are read from it."""
    return odsql.compile_plan(odsql.Query(), fields, None).select.expressions


def index_version(instance: Instance, location: str, fields: list[Field], progress: Progress | None = None,
                  workspace: Workspace | None = None) -> str | None:
    """Write a version's full-text and key indexes, once its records are built (a first version
    is already served; a reload is published after this): a failure leaves the version served
    without them (full text scans, keys are plain conditions), never unpublished. Returns what
    failed, for the caller to say. ``workspace``: the version's build's, which the index build
    uses and closes (``DuckDBStore.build_indexes``)."""
    if any(f.name in RESERVED_NAMES for f in fields):  # loaded before they were reserved: indexed, rows would be wrong
        return "indexes not built (a field named rowid shadows the engine's row id: load the dataset again, " \
               "the field becomes rowid_)"
    texts = [f for f in fields if f.type == FieldType.TEXT]
    searched = [f for f in fields if f.type in (FieldType.TEXT, FieldType.JSON)]  # full text reads json fields too
    if progress:
        progress("indexing", 0.0, None)
    failure = None
    try:
        instance.store.build_indexes(location, [f.name for f in searched],
                                     [f.name for f in texts if "multivalued" not in f.annotations],
                                     page_columns(fields) if instance.settings.page_files else (), workspace,
                                     id_expression=record_id_expression(fields))
    except (duckdb.Error, OSError) as error:  # the engine, or the file system (full disk, rename)
        logging.getLogger(__name__).exception("indexes of %s not built; its queries scan", location)
        failure = f"full-text and key indexes not built ({type(error).__name__}: {error})"
    if progress:
        progress("indexed", 1.0, None)
    return failure


def reindex(instance: Instance, ref: str, number: int | None = None) -> DatasetVersion:
    """Write again the index file of a dataset's current (or given) version: for a version built
    before index files, or whose index build failed (it is then served by scans)."""
    with instance.session() as session:
        dataset = services.get_dataset(session, ref)
        version = dataset.version(number) if number is not None else dataset.current
        if version is None or version.status != "ready":
            raise services.NotFound(f"Dataset {ref!r} has no such version to index")
        uid = dataset.uid
    with instance.store.lock(uid):
        failure = index_version(instance, version.location, fields_from_json(version.fields))
    if failure:
        raise services.CatalogError(f"Dataset {ref!r}, version {version.number}: {failure}", status=500,
                                    code="IndexNotBuilt")
    return version


@dataclass(frozen=True)
class StaleIndexes:
    """Ready versions, as (dataset_id, number), whose index is of another folding of words than
    this release's (``fulltext.FOLDED_WITH``: an upgrade changed how words are indexed) or
    missing (built before index files, or its build failed): their full-text, like and key
    searches scan the records until ``portail dataset reindex`` writes it. The published ones
    apart from the others kept (for a rollback, or not yet published). A version whose file is
    gone (removed by hand, a lost disk) is not one: it has no records to index, and counted, it
    was said after every ``reindex --all``, which failed on it each time, as still to write.
    Nor is one whose file is there but unreadable as a database (damaged): ``damaged`` lists
    them apart, for the operator to load again or roll away from; no reindex can help them."""

    published: list[tuple[str, int]]
    kept: list[tuple[str, int]]
    damaged: list[tuple[str, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.published) + len(self.kept)


def stale_indexes(instance: Instance) -> StaleIndexes:
    """The versions to index again (``StaleIndexes``): each index file's folding marker is read,
    never its records, so that ``portail migrate`` and ``portail serve`` say it at once."""
    with instance.session() as session:
        ready = [(d.slug, v.number, v.location, v.number == d.current_version)
                 for d in services.list_datasets(session) for v in sorted(d.versions, key=lambda v: v.number)
                 if v.status == "ready" and v.location and Path(v.location).is_file()]
    foldings = index_foldings(location for _, _, location, _ in ready)
    stale = [(slug, number, published) for slug, number, location, published in ready
             if foldings[location] not in (fulltext.FOLDED_WITH, UNREADABLE_VERSION)]
    return StaleIndexes([(slug, number) for slug, number, published in stale if published],
                        [(slug, number) for slug, number, published in stale if not published],
                        [(slug, number) for slug, number, location, _ in ready if foldings[location] == UNREADABLE_VERSION])


def current_locations(instance: Instance) -> list[str]:
    """The files of every dataset's published version: what a server keeps attached."""
    with instance.session() as session:
        return [d.current.location for d in services.list_datasets(session)
                if d.current is not None and d.current.status == "ready" and d.current.location]


def settled_stamp(instance: Instance) -> tuple[str, int]:
    """The catalogue's stamp (``Instance.generation``), having let go of the versions it no
    longer publishes (a reload's predecessor, a rolled-back version) the first time this
    process sees it change: their memory is freed and, once pruned, their files' disk space.
    API calls read the stamp through this; a server also calls it every ``SETTLE_EVERY``
    seconds, for a worker no call reaches."""
    stamp = instance.generation()
    if _SETTLED.get(instance.store) != stamp:
        _SETTLED[instance.store] = stamp
        instance.store.release(frozenset(current_locations(instance)))
    return stamp


#: The catalogue stamp under which each store last let go of superseded versions.
_SETTLED: weakref.WeakKeyDictionary[Any, tuple[str, int]] = weakref.WeakKeyDictionary()
#: Seconds between a server's own checks (``api.app``).
SETTLE_EVERY = 30.0


def published_location(instance: Instance, ref: str) -> str:
    """The file of a dataset's published version (for joins with reference datasets)."""
    with instance.session() as session:
        dataset = services.get_dataset(session, ref)
        if dataset.current is None:
            raise IngestError(f"dataset {ref!r} has no published version to join with")
        return dataset.current.location


def reload_source(instance: Instance, ref: str) -> tuple[str, int | None]:
    """The file or URL a reload reads (``reread_of``): that of the version being served (after a
    rollback, the one rolled back to, not the newest loaded), else the last one loaded; for an
    upload, the copy the store keeps (``DuckDBStore.keep_source``); with the version it is the
    source of. A source that cannot be read again (an upload made before sources were kept, a
    derived table, a URL whose credentials were not kept: ``sources.redaction``) is a
    ``CatalogError`` that says so."""
    with instance.session() as session:
        dataset = services.get_dataset(session, ref)
        reread, uid = reread_of(dataset), dataset.uid
    source, label = reread.source, reread.label
    if not source:
        raise services.CatalogError(f"Dataset {ref!r} has no source to reload")
    if is_url(source) and withheld(source):
        raise services.CatalogError(f"Dataset {ref!r}: {label} was loaded from {source}, whose credentials are not "
                                    "kept; load the URL with them again (`portail dataset ingest`, or the management "
                                    "API's data/url)")
    if is_url(source) or Path(source).is_absolute():
        return source, reread.version
    kept = instance.store.kept_source(uid, reread.version) if reread.version is not None else None
    if kept is None:
        raise services.CatalogError(f"Dataset {ref!r}: {label} was loaded from {source!r}, which cannot be read again; "
                                    "load a file with `portail dataset ingest`")
    return str(kept), reread.version


def reload(instance: Instance, ref: str, *, publish: bool = True, allow_empty: bool = False,
           progress: Progress | None = None) -> LoadResult:
    """Load the source of the version being served again (``reload_source``), with the options it
    was read with, the field overrides and the pipeline of now: how a change of either reaches
    the records. A URL is fetched again."""
    source, version = reload_source(instance, ref)
    path = fetch(instance, source) if is_url(source) else Path(source)
    try:
        return load_file(instance, ref, path, publish=publish, progress=progress, source=source,
                         allow_empty=allow_empty, reread=True, reread_version=version)
    finally:
        if is_url(source):
            path.unlink(missing_ok=True)


def check_pipeline(instance: Instance, ref: str, steps: Any) -> list[dict[str, Any]]:
    """A pipeline checked against the dataset's published schema and the reference datasets
    published now (``processors.check``); before a first version, for its shape only (its
    fields are then checked at the first load)."""
    from portail.processors import Plan, check, validate

    with instance.session() as session:
        fields = services.current_fields(services.get_dataset(session, ref))
    if not fields:
        return validate(steps)

    def reference(dataset_id: str, derive: Any = None) -> exp.Table:
        try:
            published_location(instance, dataset_id)  # refuses an unpublished reference
        except services.NotFound:
            raise IngestError(f"unknown reference dataset {dataset_id!r}") from None
        return exp.to_table(f"reference_{len(dataset_id)}")

    def schema_of(dataset_id: str) -> list[Field]:
        with instance.session() as session:
            return services.current_fields(services.get_dataset(session, dataset_id))

    query = exp.select(*[exp.column(f.name, quoted=True) for f in fields]).from_("records")
    return check(steps, Plan(query, fields, reference, schema_of))


def publish(instance: Instance, ref: str, number: int | None = None, allow_empty: bool = False) -> DatasetVersion:
    with instance.session() as session:
        dataset = services.get_dataset(session, ref)
        return services.publish(session, dataset, number, allow_empty)


def rollback(instance: Instance, ref: str, to: int | None = None, allow_empty: bool = False) -> DatasetVersion:
    with instance.session() as session:
        dataset = services.get_dataset(session, ref)
        return services.rollback(session, dataset, to, allow_empty)


def served_order_warnings(instance: Instance, ref: str) -> list[str]:
    """``stored_order_warnings`` of the version served now, said by ``publish`` and ``rollback``
    (CLI lines, management API warnings): a version loaded before a column rule is stored sorted
    on its field, and serving it again (a rollback, the operator's way out of a bad load) gave
    callers the records ranked by that field without a word, the save's warning undone."""
    from portail.auth.services import stored_order_warnings

    with instance.session() as session:
        return stored_order_warnings(session, services.get_dataset(session, ref))


@contextmanager
def created_for_first_load(instance: Instance, slug: str, title: str, *, actor: str | None = None, ip: str | None = None,
                           **metadata: Any) -> Iterator[CreatedDataset]:
    """A new dataset whose first load runs in the ``with`` block: all or nothing (CLI and
    management API alike). If the block fails, the dataset is removed, so the same call can be
    made again once the file is fixed, and a former id of a renamed dataset it took (its
    ``dataset_id``) is given back: applications built on that id keep reading the renamed one."""
    with instance.session() as session:
        owner = services.alias_owner(session, slug)
        try:
            dataset = services.create_dataset(session, slug, title, **metadata)
        except services.CatalogError as error:
            if error.code == "Conflict":
                _say_unfinished(session, slug)
            raise
        if dataset.owner:  # ownership opens the dataset: audited as any change of owner
            from portail.auth.services import owner_given

            owner_given(session, dataset, actor=actor, ip=ip)
        created = CreatedDataset(dataset.uid, owner.slug if owner else None)
        owner_uid = owner.uid if owner else None
    try:
        yield created
    except BaseException:
        delete(instance, created.uid, actor=actor, ip=ip)  # audited as the caller's, as its creation
        if owner_uid is not None:
            with instance.session() as session:
                services.restore_alias(session, slug, owner_uid)
        raise


def _say_unfinished(session: Session, slug: str) -> None:
    """Refuse a creation over a dataset whose first load never finished (a ``create --from``
    killed: its cleanup never ran) by saying how to finish it. Running the same creation again
    does not load into it: a dataset created empty on purpose, whose load then failed, looks
    the same, and the title, portals and description of the second call would be dropped or
    would overwrite the first's without a word; naming the two commands costs one line."""
    dataset = services.get_dataset(session, slug)
    if dataset.current_version is not None or not dataset.versions or \
            any(v.status not in ("building", "failed") for v in dataset.versions):
        return
    last = dataset.versions[-1]
    state = ("still marked building: its load was interrupted, or is running now" if last.status == "building"
             else f"failed: {last.error or 'no reason recorded'}")
    named = redacted_url(last.source_name or "")  # one recorded whole, before loads stopped keeping credentials
    rereadable = (is_url(named) and not withheld(named)) or Path(named).is_absolute()
    source = shlex.quote(named) if rereadable else "URL" if is_url(named) else "FILE"
    raise services.CatalogError(
        f"A dataset {slug!r} already exists, never published: its first load did not finish (version {last.number} "
        f"{state}). Load the file into it with `portail dataset ingest {slug} {source} --publish`, or start again "
        f"after `portail dataset delete {slug} --yes`", status=409, code="Conflict")


@dataclass(frozen=True)
class CreatedDataset:
    uid: str
    took_former_id_of: str | None  # the renamed dataset whose former id the new one now holds


def delete(instance: Instance, ref: str, *, actor: str | None = None, ip: str | None = None) -> None:
    """Delete a dataset, its versions and files, audited: its grants and rulesets go with it."""
    from portail.auth.audit import record

    with instance.session() as session:
        dataset = services.get_dataset(session, ref)
        uid = dataset.uid
        attachments = [a.path for a in dataset.attachments]
        record(session, "dataset.delete", actor=actor, target=f"dataset:{dataset.slug}", ip=ip, detail={"uid": uid})
        services.delete_dataset(session, dataset)
    with instance.store.lock(uid):  # after a load of it still building: its files go too (multi-node hunt)
        instance.store.drop_dataset(uid)
    for path in attachments:
        Path(path).unlink(missing_ok=True)


def attach(instance: Instance, ref: str, path: Path, *, title: str | None = None, mimetype: str | None = None,
           name: str | None = None) -> str:
    """Copy a file into the instance's attachments and list it on the dataset; returns its id."""
    import mimetypes

    path = readable_file(path)
    name = Path(name or path.name).name
    attachment_id = services.normalize_attachment_id(name)
    target_dir = instance.settings.home / "attachments"
    private_root(target_dir)  # a restricted dataset's notices: the version files' rule
    with instance.session() as session:
        dataset = services.get_dataset(session, ref)
        target = target_dir / f"{dataset.uid}-{attachment_id}"
        if any(a.attachment_id == attachment_id for a in dataset.attachments):
            raise services.CatalogError(f"Attachment {attachment_id!r} already exists", status=409, code="Conflict")
        # Copied beside its place, and moved there only once its row is written: a refused
        # attachment leaves no file, and of two nodes attaching one name at once, the loser's
        # copy neither overwrites nor, on failing, deletes the winner's file (multi-node hunt).
        partial = target.with_name(f"{target.name}.{secrets.token_hex(6)}.part")
        try:
            _copy(path, partial, target)
            services.add_attachment(session, dataset, services.AttachmentFile(
                attachment_id=attachment_id, title=title or name,
                mimetype=mimetype or mimetypes.guess_type(name)[0] or "application/octet-stream",
                path=str(target), size_bytes=partial.stat().st_size, filename=name))
            session.flush()  # the row, unique per dataset and id: a concurrent twin waits here, then fails
            os.replace(partial, target)
        except sqlalchemy.exc.IntegrityError as error:
            partial.unlink(missing_ok=True)
            if not unique_violation(error):
                raise
            raise services.CatalogError(f"Attachment {attachment_id!r} already exists", status=409,
                                        code="Conflict") from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return attachment_id


def detach(instance: Instance, ref: str, attachment_id: str) -> None:
    """Remove an attachment: its row, then its file (a crash between the two leaves a file that
    nothing names, never a row naming no file). The management API and the CLI both call it."""
    with instance.session() as session:
        path = services.remove_attachment(session, services.get_dataset(session, ref), attachment_id)
    Path(path).unlink(missing_ok=True)


def _copy(source: Path, partial: Path, target: Path) -> None:
    """Copy ``source`` to ``partial``; a copy the system refuses (a full disk) names ``target``,
    the place that could not take it: ``shutil`` names the file read, which was never at fault."""
    try:
        shutil.copyfile(source, partial)
    except OSError as error:
        if error.errno is None:
            raise
        raise OSError(error.errno, error.strerror, str(target)) from None


#: A URL of any scheme (``ftp://``, ``s3://``…): two characters at least, so that no Windows
#: drive (``C://data``) is taken for one.
_ANY_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+://")


def is_url(text: str) -> bool:
    """Whether ``text`` names a URL, not a file: an http(s) one, a malformed one too
    (``http://[::1``), or one of any other scheme (``ftp://``). ``fetch`` then says what is
    wrong with it (``urlparse`` raised here, a traceback on the command line; an ``ftp://`` URL
    read as a path was "…/ftp:/example.org/x.csv: no such file")."""
    scheme, colon, _ = text.partition(":")
    return bool(colon) and (scheme.lower() in ("http", "https") or _ANY_URL.match(text) is not None)


def fetch(instance: Instance, url: str) -> Path:
    """Download a URL to the uploads folder, streamed and size-capped, from public addresses and
    the networks and hosts ``fetch_allow`` lists (``sources.fetching``: no internal service is
    read for whoever holds a management token)."""
    from portail.sources.fetching import allowance, download  # httpx (~0.1 s with rich) only to fetch a URL

    settings = instance.settings
    return download(url, settings.uploads_dir, settings.max_upload_bytes, allowance(settings.fetch_allow),
                    settings.fetch_timeout)
