"""Build one dataset version from a reader's table: stage, infer, cast, store.

The flow is one DuckDB workspace per build (the store's ``VersionBuild``): the raw values are
staged in a temporary table (spilling to disk past the memory limit), types are inferred
over all of it, and the typed records are written to the new version file in one statement,
sorted on the dataset's facet fields so that zone maps prune row groups, each geo_point_2d
with its longitude and latitude beside it as plain doubles (:func:`with_lonlat`). Its indexes
(full text and keys) are written after publication, into an index file beside it
(``DuckDBStore.build_indexes``, called by ``operations.load_file``). A processor pipeline
rewrites that statement (``processors``): it stays one query, joins with reference datasets
included, which are attached read-only to the build.

Any failure aborts the build: the new file disappears and whatever was published stays.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import duckdb
from sqlglot import exp

from portail.ingest.errors import IngestError, StorageFull, storage_full, written_path
from portail.ingest.infer import (Inferred, cast_expression, count_values, declared_cast, infer_types, override_cast,
                                  rejected_values)
from portail.ingest.types import RawTable
from portail.schema import GEO_TYPES, Field, FieldType, fields_from_json, lonlat_columns
from portail.store.duckdb_store import DuckDBStore, VersionInfo, Workspace
from portail.store.engine import uses_spatial

STAGING = "staging"
#: The most columns one statement of a build casts. The engine reserves a few vectors per column
#: and thread in a statement (the scanner's, each cast's intermediates, the target's segments),
#: whatever the rows: a single write of ~2,000 cast columns (INSEE's communal bases have 1,900 to
#: 5,000) ran out of the load's 512 MB even on a few rows (``cast_in_parts``).
COLUMNS_PER_WRITE = 500
Progress = Callable[[str, float, int | None], None]  # (phase, fraction done, rows so far or None)


@dataclass
class FieldReport:
    name: str
    label: str
    type: str
    values: int  # non-empty raw values
    rejected: int  # raw values that could not be read as the field's type (became null)
    notes: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)  # a few of the rejected values, as written (trimmed)
    example_line: int | None = None  # the file's line holding the first example, where the reader can tell


@dataclass
class IngestReport:
    source: str
    rows: int
    seconds: float
    notes: list[str]
    fields: list[FieldReport]
    processors: list[dict[str, Any]] = field(default_factory=list)  # per pipeline step: its counts
    #: The fields the records are stored sorted on (``sort_keys``): what a read without
    #: ``order_by`` follows, checked when a column rule is saved (``auth.services.stored_order_warnings``).
    sorted_by: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> dict[str, int]:
        return {f.name: f.rejected for f in self.fields if f.rejected}

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rejected": self.rejected}


@dataclass
class BuildResult:
    version: VersionInfo
    fields: list[Field]
    report: IngestReport
    #: The build's workspace, for the version's index build, when asked (``build_version``'s
    #: ``keep_workspace``): the caller closes it.
    workspace: Workspace | None = None


def _watch_progress(con, phase: str, progress: Progress | None, done: threading.Event) -> threading.Thread | None:
    """DuckDB reports the progress of a running statement; relay it to the caller."""
    if progress is None:
        return None

    def poll() -> None:
        while not done.wait(0.2):
            try:
                fraction = con.query_progress()
            except Exception:  # the statement finished between two polls
                return
            if fraction is not None and fraction >= 0:
                progress(phase, min(fraction / 100.0, 1.0), None)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    return thread


def unnamed_and_empty(raw: RawTable, inferred: dict[str, Inferred], overrides: dict[str, dict[str, Any]]) -> list[str]:
    """The columns without a header and without a value in any row, which a load leaves out: a
    spreadsheet's export ending every line with a ``;`` made a ``field_3`` of nulls in every
    dataset. One the publisher named (an override) stays."""
    empty = [name for name, label in zip(raw.names, raw.labels)
             if not (label or "").strip() and name in inferred and inferred[name].nonnull == 0
             and inferred[name].tokens == 0 and name not in overrides]
    return empty if len(empty) < len(raw.names) else []  # a version keeps a column


def staged_naive(con, raw: RawTable) -> set[str]:
    """The declared datetimes staged as a TIMESTAMP without zone: wall times (``declared_cast``)."""
    if FieldType.DATETIME not in raw.declared.values():
        return set()
    types = {row[0]: row[1] for row in con.execute(f'DESCRIBE "{STAGING}"').fetchall()}
    return {name for name, kind in raw.declared.items() if kind == FieldType.DATETIME
            and types.get(name, "").upper().startswith("TIMESTAMP") and "TIME ZONE" not in types.get(name, "").upper()}


def plan_fields(raw: RawTable, inferred: dict[str, Inferred], overrides: dict[str, dict[str, Any]],
                timezone: str, left_out: Collection[str] = (), naive: Collection[str] = ()) \
        -> tuple[list[Field], list[exp.Expression]]:
    """The schema and the cast of each column (but those ``left_out``), publisher overrides
    applied; ``naive``: the declared datetimes staged as wall times (``staged_naive``)."""
    fields: list[Field] = []
    selects: list[exp.Expression] = []
    for name, label in zip(raw.names, raw.labels):
        if name in left_out:
            continue
        override = overrides.get(name, {})
        declared = raw.declared.get(name)
        detected = declared or inferred[name].type
        chosen = FieldType(override["type"]) if override.get("type") else detected
        if chosen != detected:
            cast = override_cast(name, chosen, timezone, staged_as_text=declared is None)
        elif declared is not None:
            cast = declared_cast(name, declared, timezone, naive=name in naive)
        else:
            cast = cast_expression(name, inferred[name], timezone)
        selects.append(exp.alias_(cast, name, quoted=True, copy=False))  # a fresh cast, this alias's alone
        fields.append(Field(name=name, label=override.get("label") or label or name, type=chosen,
                            description=override.get("description"), annotations=dict(override.get("annotations") or {})))
    return fields, selects


def described_outputs(fields: list[Field], read: set[str], overrides: dict[str, dict[str, Any]]) -> list[Field]:
    """The fields processor steps made (not ``read`` from the file) with the publisher's label,
    description and annotations, as :func:`plan_fields` gives a file's (a step decides their
    type): an enrichment's EPCI name can then be a facet and have a label; its override was
    ignored."""
    def described(f: Field) -> Field:
        override = overrides.get(f.name) if f.name not in read else None
        if not override:
            return f
        return replace(f, label=override.get("label") or f.label, description=override.get("description") or f.description,
                       annotations={**f.annotations, **(override.get("annotations") or {})})

    return [described(f) for f in fields]


def sort_keys(fields: list[Field], hidden: Collection[str] = frozenset()) -> list[str]:
    """Facet fields first (the usual filters), at most three, never geometries, never a field
    ``hidden`` from some caller: every read without ``order_by`` (records, cursors, exports, v1,
    the web table) comes back in the stored order, which would rank the records by that field
    for the very callers it is hidden from."""
    keys = [f.name for f in fields if "facet" in f.annotations and f.type not in GEO_TYPES and f.name not in hidden]
    return keys[:3]


def with_lonlat(query: exp.Expression, fields: list[Field]) -> exp.Expression:
    """The records query with each geo_point_2d's longitude and latitude beside it as DOUBLE
    columns (``schema.lonlat_columns``): bbox and distance filters then compare doubles, which
    the engine vectorises and prunes row groups on, instead of decoding a geometry per row.
    ``try``: a point field holding another kind of geometry gets nulls there rather than
    failing the build (and :func:`flag_lonlat` then drops its columns)."""
    points = [f for f in fields if f.type == FieldType.GEO_POINT_2D]
    if not points:
        return query
    projections: list[exp.Expression] = [exp.column(f.name, table="q", quoted=True) for f in fields]
    for f in points:
        point = exp.column(f.name, table="q", quoted=True)
        for name, coordinate in zip(lonlat_columns(f.name), ("ST_X", "ST_Y")):
            value = exp.Anonymous(this="try", expressions=[exp.Anonymous(this=coordinate, expressions=[point.copy()])])
            projections.append(exp.alias_(exp.cast(value, "DOUBLE"), name, quoted=True))
    return exp.select(*projections).from_(query.subquery("q"))


def _lonlat_exact(con, f: Field) -> bool:
    """Do the stored columns of point field ``f`` hold every point's coordinates, null exactly
    where the point is (no empty point, no other kind of geometry), all within ±180 / ±90?
    The compiler then reads them as the point itself, and its box prefilters rely on the range
    (the great-circle distance reads an out-of-range point modulo the sphere: no box finds it)."""
    lon, lat = lonlat_columns(f.name)  # field names are normalized: [a-z0-9_]
    wrong = con.execute(f'SELECT count(*) FROM build.records WHERE NOT ("{lon}" BETWEEN -180 AND 180 AND '
                        f'"{lat}" BETWEEN -90 AND 90) OR ("{lon}" IS NULL AND "{f.name}" IS NOT NULL)').fetchone()[0]
    return wrong == 0


def flag_lonlat(con, fields: list[Field]) -> list[Field]:
    """The fields, each point whose stored coordinates are exact flagged ``lonlat`` (the
    compiler then reads them) and every other field not (whatever a processor copied from a
    reference schema); the columns of an inexact point are dropped from the version."""
    flagged = []
    for f in fields:
        exact = f.type == FieldType.GEO_POINT_2D and _lonlat_exact(con, f)
        if f.type == FieldType.GEO_POINT_2D and not exact:
            for name in lonlat_columns(f.name):
                con.execute(f'ALTER TABLE build.records DROP COLUMN "{name}"')
        flagged.append(replace(f, lonlat=exact))
    return flagged


def cast_in_parts(con, selects: list[exp.Expression], source: str, scratch: str) -> exp.Select:
    """The records query over tables of the ``scratch`` database (``VersionBuild.scratch``)
    each holding at most ``COLUMNS_PER_WRITE`` of the cast ``selects``, put side by side again
    (``POSITIONAL JOIN``): the final write then only copies values, which costs the engine far
    less per column than casting them. Each part is written in the source's order, so that its
    rows line up with the others'."""
    parts: list[exp.Table] = []
    con.execute("SET preserve_insertion_order = true")
    try:
        for start in range(0, len(selects), COLUMNS_PER_WRITE):
            part = exp.table_(f"part{len(parts)}", db=scratch, quoted=True)
            # One copy of the part's casts (the caller keeps ``selects``: the report's casts), and
            # none more: the builders and ``sql()`` copied each part's casts twice again.
            cast = exp.select(*[s.copy() for s in selects[start:start + COLUMNS_PER_WRITE]]) \
                .from_(exp.to_table(source, quoted=True), copy=False)
            con.execute(exp.Create(this=part.copy(), kind="TABLE", expression=cast).sql(dialect="duckdb", copy=False))
            parts.append(part)
    finally:
        con.execute("SET preserve_insertion_order = false")  # the build's setting (``DuckDBStore.begin_version``)
    joined = exp.select("*").from_(parts[0].copy())
    for part in parts[1:]:
        joined = joined.join(exp.Join(this=part.copy(), method="POSITIONAL"))
    return joined


def build_version(store: DuckDBStore, uid: str, number: int, raw: RawTable, *,
                  overrides: dict[str, dict[str, Any]] | None = None, timezone: str = "Europe/Paris",
                  progress: Progress | None = None, pipeline: list[dict[str, Any]] | None = None,
                  locate: Callable[[str], str] | None = None, hidden: Collection[str] = frozenset(),
                  keep_workspace: bool = False) -> BuildResult:
    """``hidden``: the fields some column rule of the dataset hides from someone, which the records
    are not stored sorted on (``sort_keys``). ``keep_workspace``: the result holds the build's
    workspace, emptied, for the version's index build (``VersionBuild.finish``); the caller closes it."""
    started = time.monotonic()
    overrides = overrides or {}
    # The spatial extension only where geometry is met: staged typed, a pipeline, geo fields written
    # (and ``infer_types`` checking a geo decision past its sample).
    build = store.begin_version(uid, number, spatial=False, narrow=len(raw.names) > COLUMNS_PER_WRITE)
    try:
        con = build.con
        if any(kind in GEO_TYPES for kind in raw.declared.values()):
            build.use_spatial()  # a typed reader's geometry (GeoParquet reprojected while staged)
        raw.stage(con, STAGING)
        if progress:
            progress("analysing", 0.0, None)
        to_infer = [n for n in raw.names if n not in raw.declared]
        inferred = infer_types(con, STAGING, to_infer)
        left_out = unnamed_and_empty(raw, inferred, overrides)
        fields, selects = plan_fields(raw, inferred, overrides, timezone, left_out, staged_naive(con, raw))
        count_values(con, STAGING, inferred, [f.name for f in fields if f.type != FieldType.TEXT
                                              and f.name in inferred and inferred[f.name].sampled])
        casts = {s.alias: s.this for s in selects if s.alias in inferred}  # the file's text columns' casts
        if not pipeline and len(selects) > COLUMNS_PER_WRITE:
            if uses_spatial(selects):
                build.use_spatial()  # the parts cast the geometries
            query = cast_in_parts(con, selects, STAGING, build.scratch())
        else:  # built only where it is written (``from_`` copies every cast)
            query = exp.select(*selects).from_(exp.to_table(STAGING, quoted=True))
        steps: list[dict] = []
        deferred: list = []
        execute = lambda q: con.execute(q.sql(dialect="duckdb")).fetchone()  # noqa: E731
        if pipeline:
            from portail.processors import Plan, run

            build.use_spatial()  # processors join shapes, find centroids…
            reference = _reference_attacher(con, locate)
            read_as_typed, base_fields = query.copy(), fields
            plan, steps, deferred = run(Plan(query, fields, reference, _reference_schema(con, reference)), pipeline, execute)
            query, fields = plan.query, described_outputs(plan.fields, set(raw.names), overrides)
        done = threading.Event()
        watcher = _watch_progress(con, "writing", progress, done)
        written = with_lonlat(query, fields)
        if any(f.type in GEO_TYPES for f in fields) or uses_spatial([written]):
            build.use_spatial()
        try:
            sorted_by = sort_keys(fields, hidden)
            build.create_records(written, sort_by=sorted_by)
        finally:
            done.set()
            if watcher:
                watcher.join()
        fields = flag_lonlat(con, fields)
        rows = con.execute("SELECT count(*) FROM build.records").fetchone()[0]
        if deferred:
            from portail.processors import finish_counts

            finish_counts(deferred, [f.name for f in fields],
                          exp.Table(this=exp.to_identifier("records"), db=exp.to_identifier("build")), execute,
                          lambda q: con.execute(q.sql(dialect="duckdb")).to_arrow_table().to_pylist())
        # with steps, what the file's values read as is counted before them: they may drop rows or change a column
        read = _typed_counts(con, read_as_typed, [f.name for f in base_fields if f.type != FieldType.TEXT]) \
            if pipeline else None
        field_reports = _field_reports(con, fields, inferred, read)
        _name_rejected(con, field_reports, casts, raw)
        _refuse_unread_fields(field_reports, inferred, raw.source, overrides)
        left = [f"{len(left_out)} column(s) without a header nor any value left out"] if left_out else []
        report = IngestReport(source=raw.source, rows=rows, seconds=round(time.monotonic() - started, 3),
                              notes=list(raw.notes) + left, fields=field_reports, processors=steps,
                              sorted_by=sorted_by)
        info = build.finish({"fields": [f.to_dict() for f in fields], "report": report.to_dict()}, keep=keep_workspace)
        if progress:
            progress("done", 1.0, rows)
        return BuildResult(info, fields, report, build.workspace)
    except IngestError as error:
        build.abort()
        _refuse_full_disk(error, raw.source)
        raise
    except duckdb.Error as error:
        build.abort()
        _refuse_full_disk(error, raw.source)
        if raw.diagnose is not None:
            raise raw.diagnose(error) from None
        raise IngestError(f"could not read the data: {str(error).splitlines()[0][:300]}", source=raw.source) from None
    except Exception as error:
        build.abort()
        _refuse_full_disk(error, raw.source)
        raise IngestError(f"could not build the version: {str(error).splitlines()[0][:300]}", source=raw.source) from error


def _refuse_full_disk(error: BaseException, source: str) -> None:
    """A full disk met while staging or writing is the server's fault: ``StorageFull``, not the
    ``IngestError`` blaming the file (a 400) that the engine's error would become; a reader's
    diagnosis (raised ``from None``) still holds the engine's error as its context. The file
    read (``source``) is named unquoted by some engine errors: its name is never the words."""
    full = storage_full(error, source)
    if full is not None:
        raise StorageFull(written_path(full)) from error


def _reference_attacher(con, locate: Callable[[str], str] | None) -> Callable[..., exp.Table] | None:
    """Attach a reference dataset's published version read-only to the build, once; or, with a
    ``derive`` function (``processors.base.Derive``), the file it derives from that version
    (located once per build, so that a version published meanwhile cannot mix with it)."""
    if locate is None:
        return None
    located: dict[str, str] = {}
    attached: dict[tuple[str, Callable[[str], str] | None], str] = {}

    def reference(dataset_id: str, derive: Callable[[str], str] | None = None) -> exp.Table:
        if (dataset_id, derive) not in attached:
            alias = f"ref{len(attached)}"
            if dataset_id not in located:
                located[dataset_id] = locate(dataset_id)
            version = located[dataset_id]
            location = (version if derive is None else derive(version)).replace("'", "''")
            con.execute(f"ATTACH '{location}' AS {alias} (READ_ONLY)")
            attached[dataset_id, derive] = alias
        return exp.Table(this=exp.to_identifier("records"), db=exp.to_identifier("main"),
                         catalog=exp.to_identifier(attached[dataset_id, derive]))

    return reference


def _reference_schema(con, reference) -> Callable[[str], list[Field]] | None:
    """The schema recorded in an attached reference version (its ``portail_version`` table)."""
    if reference is None:
        return None

    def schema(dataset_id: str) -> list[Field]:
        import json

        table = reference(dataset_id)
        meta = con.execute(f"SELECT meta FROM {table.catalog}.main.portail_version").fetchone()[0]
        return fields_from_json(json.loads(meta)["fields"])

    return schema


def _refuse_unread_fields(reports: list[FieldReport], inferred: dict[str, Inferred], source: str,
                          overrides: dict[str, dict[str, Any]]) -> None:
    """Refuse a version in which a field with values has none left: every value failed the
    type a publisher's override forced on it, or the type their shape suggested (dates that
    are none, ``31/02/2024``), and publishing it would serve the column empty.
    Some values failing is counted and said; all of them is a mistake. (A pipeline's
    ``set_type`` step has its own ``on_error: fail``.) The advice names the override only
    where there is one: the publisher of an inferred type has none to check."""
    for r in reports:
        markers = inferred[r.name].tokens if r.name in inferred else 0
        if r.rejected and r.rejected + markers >= r.values:
            advice = ("; check the type its override gives it" if (overrides.get(r.name) or {}).get("type")
                      else ", the type their shape suggests; give the field another (text keeps them as written)")
            raise IngestError(f"none of its {r.rejected:,} values reads as {r.type}{_examples_said(r)}{advice} "
                              "(`portail dataset field`)", source=source, field=r.name, line=r.example_line)  # the field named in the API's detail too


def _name_rejected(con, reports: list[FieldReport], casts: dict[str, exp.Expression], raw: RawTable) -> None:
    """Give each report with rejected values a few of them and, where the reader can find it,
    the line of the first: the guide's "a message naming file, line and field" for values
    that became null, which the publisher otherwise searched the file for."""
    found = rejected_values(con, STAGING, {r.name: casts[r.name] for r in reports if r.rejected and r.name in casts})
    for r in reports:
        r.examples = found.get(r.name, [])
    wanted = {r.name: r.examples[0] for r in reports if r.examples}
    if wanted and raw.locate_values is not None:
        lines = raw.locate_values(wanted)
        for r in reports:
            r.example_line = lines.get(r.name)


def _examples_said(report: FieldReport) -> str:
    """`` (e.g. '31/02/2024')``: what a refusal adds about a field's rejected values (the
    error names the line of the first itself)."""
    return f" (e.g. {', '.join(repr(v) for v in report.examples)})" if report.examples else ""


def _typed_counts(con, query: exp.Select, names: list[str]) -> dict[str, int]:
    """The non-null values of each of ``names`` in ``query``'s rows, in one scan."""
    # ``query`` copied once (``subquery``); the rest is fresh and written once, in place.
    counted = exp.select(*[exp.func("count", exp.column(n, quoted=True), copy=False) for n in names]) \
        .from_(query.subquery("counted"), copy=False)
    return dict(zip(names, con.execute(counted.sql(dialect="duckdb", copy=False)).fetchone())) if names else {}


def _field_reports(con, fields: list[Field], inferred: dict[str, Inferred], read: dict[str, int] | None) -> list[FieldReport]:
    """Raw non-empty values vs the values read as their type: the difference was rejected,
    apart from the "no value" markers (``N/A``, ``-``…), which say the value is missing and are
    nulls by intent; a note counts them instead. ``read``: with processor steps, the typed
    fields' values counted before the steps (a ``skip`` dropping half the rows rejected
    nothing; a field a step made has no file values to compare with); None: the stored ones."""
    stored = _typed_counts(con, exp.select("*").from_(exp.Table(this=exp.to_identifier("records"),
                                                                  db=exp.to_identifier("build"))), [f.name for f in fields])
    read = {f.name: stored[f.name] for f in fields if f.type != FieldType.TEXT} if read is None else read
    reports = []
    for f in fields:
        info = inferred.get(f.name)
        notes = list(info.notes) if info else []
        compared = info is not None and f.name in read
        values = info.nonnull if compared else stored[f.name]
        markers = info.tokens if compared else 0
        rejected = max(values - markers - read[f.name], 0) if compared else 0
        if markers:
            notes.append(f"{markers:,} 'no value' marker(s) (N/A, -, nd…) read as null")
        reports.append(FieldReport(name=f.name, label=f.label, type=str(f.type), values=values, rejected=rejected,
                                   notes=notes))
    return reports
