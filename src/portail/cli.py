"""The ``portail`` command: every admin task, calling the same services as the APIs.

Errors print one line naming the file, line and field when known, and exit with status 1;
nothing already published changes when a command fails.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, NoReturn, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from portail.catalog import services
from portail.catalog.services import CatalogError
from portail.ingest.errors import IngestError
from portail.ingest.load import FieldReport
from portail.ingest.types import ReadOptions
from portail.operations import (Instance, LoadResult, StaleIndexes, check_pipeline, created_for_first_load, delete,
                                 fetch, is_url, load_file, open_instance, publish, readable_file, reindex, reload,
                                 rollback, served_order_warnings, stale_indexes)
from portail.terminal import fail, plain, stderr_console, stdout_console

app = typer.Typer(help="Portail open data portal: datasets, versions, server.", no_args_is_help=True)
dataset_app = typer.Typer(help="Create, load, publish and inspect datasets.", no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")
console = stderr_console()
out = stdout_console()


def _instance() -> Instance:
    """The instance of ``PORTAIL_*``; a bad setting is one line naming the variable."""
    with _errors():
        return open_instance()


@contextmanager
def _errors() -> Iterator[None]:
    """Every refusal as one red line and exit 1: the loader's (file, line, field), the
    catalogue's, a file the system would not give (``error.filename``: what was asked), and the
    server's own faults (a full disk, a catalogue that cannot be written), said as such."""
    from portail.auth.cli import server_fault
    from portail.ingest.errors import StorageFull
    from sqlalchemy.exc import OperationalError

    try:
        yield
    except IngestError as error:
        fail(error.describe())
    except CatalogError as error:
        fail(error.message)
    except (StorageFull, OperationalError) as error:
        fail(server_fault(error))
    except OSError as error:
        fail(server_fault(error) or (f"{error.filename}: {error.strerror}" if error.filename
                                      else f"{type(error).__name__}: {error}"))


@contextmanager
def _progress_bar(label: str) -> Iterator:
    """A bar fed by the loader's progress callback; prints rows/s when done."""
    started = time.monotonic()
    rows_seen: list[int] = [0]
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[rows]}"),
                  TimeElapsedColumn(), console=console, transient=False, disable=not console.is_terminal) as bar:
        task = bar.add_task(label, total=1.0, rows="")

        def update(phase: str, fraction: float, rows: int | None) -> None:
            if rows is not None:
                rows_seen[0] = rows
            elapsed = max(time.monotonic() - started, 1e-6)
            rate = f"{rows_seen[0]:,} rows, {rows_seen[0] / elapsed:,.0f} rows/s" if rows_seen[0] else ""
            bar.update(task, description=f"{label}: {phase}", completed=fraction, rows=rate)

        yield update


def _load(instance: Instance, slug: str, source: str, options: ReadOptions, publish_now: bool,
          allow_empty: bool = False) -> None:
    if not is_url(source):  # kept absolute: `dataset reload` runs from any folder
        source = str(Path(source).resolve())
    path = fetch(instance, source) if is_url(source) else Path(source)
    try:
        with _progress_bar(slug) as progress:
            result = load_file(instance, slug, path, options=options, publish=publish_now, progress=progress,
                               source=source, allow_empty=allow_empty)
    finally:
        if is_url(source):
            path.unlink(missing_ok=True)
    _say_loaded(slug, result)


def _say_loaded(slug: str, result: LoadResult) -> None:
    report = result.report
    rate = report.rows / report.seconds if report.seconds else 0
    state = "published" if result.published else "ready (not published: run `portail dataset publish`)"
    out.print(f"{slug}: version {result.version} {state}: {report.rows:,} records in {report.seconds:.2f} s "
              f"({rate:,.0f} rows/s); {', '.join(report.notes)}")
    for field in report.fields:
        if field.rejected:
            out.print(f"  [yellow]{escape(_rejected_said(report.source, field))}[/yellow]")
    for field in report.fields:  # how a field was read: codes kept as text, month-first dates, "N/A" markers
        if field.notes:
            out.print(f"  field {field.name!r}: {'; '.join(field.notes)}", highlight=False, markup=False)
    for line in _step_lines(report.processors):
        out.print(line)


def _rejected_said(source: str, field: FieldReport) -> str:
    """``dates.csv, line 3, field 'date': 1 value could not be read as date and became null
    (e.g. '31/02/2024')``: where to look first, as an error names file, line and field."""
    where = [source] + ([f"line {field.example_line}"] if field.example_line else []) + [f"field {field.name!r}"]
    count = f"{field.rejected:,} value{'s' if field.rejected > 1 else ''}"
    examples = f" (e.g. {', '.join(repr(v) for v in field.examples)})" if field.examples else ""
    return f"{', '.join(where)}: {count} could not be read as {field.type} and became null{examples}"


def _step_lines(steps: list[dict]) -> list[str]:
    """Each pipeline step's counts, and the first records it could not match (all 100 in `dataset show --json`)."""
    lines = []
    for step in steps:
        counts = {k: v for k, v in step.items() if k not in ("step", "processor") and not k.endswith("_records")}
        lines.append(f"  step {step['step']} ({step['processor']}): " + (", ".join(f"{k} {v:,}" for k, v in counts.items())
                                                                       or "done"))
        for key, records in step.items():
            if key.endswith("_records") and records:
                label = key.removesuffix("_records")
                shown = "; ".join(", ".join(f"{k}={v}" for k, v in r.items() if v is not None)[:160] for r in records[:3])
                lines.append(f"    [yellow]{label} (first {min(len(records), 3)} of {step.get(label, len(records)):,}): "
                             f"{escape(shown)}[/yellow]")
    return lines


def _options(ctx: typer.Context, format: str | None, encoding: str | None, delimiter: str | None,
             sheet: str | None) -> ReadOptions:
    """The read options typed; one that cannot apply (empty, or ``--sheet`` with ``--format csv``:
    ``option_misfit``) is a usage error before anything is done. With the format left to
    detection, the load refuses it before it starts a version (``detect.check_options``)."""
    from portail.ingest.detect import OPTION_FORMATS, option_misfit

    options = ReadOptions(format=format, encoding=encoding, delimiter=delimiter,
                          sheet=int(sheet) if sheet and sheet.isdecimal() else sheet)
    if (misfit := option_misfit(format.lower() if format else None, options)) is not None:
        _usage_error(ctx, [f"--{name}" for name in OPTION_FORMATS if getattr(options, name) is not None], misfit)
    return options


def _usage_error(ctx: typer.Context, options: list[str], message: str) -> NoReturn:
    """A command line that cannot mean anything, refused as a mistyped option is (the usage line,
    exit 2) before anything is done: an option silently ignored did something else than what
    was typed."""
    raise typer.BadParameter(message, ctx=ctx, param_hint=options)


def _format_checked(value: Optional[str]) -> Optional[str]:
    """``--format`` refused at once: a typo was found by the load, after a version was started,
    and each attempt left a failed version in the dataset's history."""
    from portail.ingest.readers import READERS

    if value is not None and value.lower() not in READERS:
        raise typer.BadParameter(f"unsupported format {value!r}; supported: {', '.join(sorted(READERS))}")
    return value


def _encoding_checked(value: Optional[str]) -> Optional[str]:
    """``--encoding`` refused at once, for the reason ``--format`` is. A text encoding, not only a
    codec Python knows: ``hex``, ``base64`` or ``rot13`` turn bytes into bytes (or text into
    text), which the CSV reader met after the version had started, with a traceback. The check is
    the load's own (``detect.encoding_misfit``), which the management API meets too."""
    from portail.ingest.detect import encoding_misfit

    if (misfit := encoding_misfit(value)) is not None:
        raise typer.BadParameter(misfit)
    return value


FormatOpt = typer.Option(None, "--format", callback=_format_checked,
                         help="Force the format (csv, xlsx, json, geojson, shp, parquet…).")
EncodingOpt = typer.Option(None, "--encoding", callback=_encoding_checked,
                           help="Force a CSV or TSV file's encoding (detected by default; other formats say their own).")
DelimiterOpt = typer.Option(None, "--delimiter", help="Force the CSV delimiter (sniffed by default).")
SheetOpt = typer.Option(None, "--sheet", help="Spreadsheet sheet name or index.")
AllowEmptyOpt = typer.Option(False, "--allow-empty", help="Publish a version of 0 records over one that has records "
                             "(refused by default: a truncated export would empty the dataset).")


@dataset_app.command("create")
def dataset_create(
    ctx: typer.Context, slug: str,
    title: str = typer.Option(..., "--title", help="Human title."),
    source: Optional[str] = typer.Option(None, "--from", help="File or URL to load as the first version."),
    portal: str = typer.Option("public", "--portal", help="public, internal or both."),
    description: Optional[str] = typer.Option(None, "--description", help="Markdown description."),
    publish_now: bool = typer.Option(True, "--publish/--no-publish", help="Publish the loaded version."),
    format: Optional[str] = FormatOpt, encoding: Optional[str] = EncodingOpt, delimiter: Optional[str] = DelimiterOpt,
    sheet: Optional[str] = SheetOpt,
):
    """Create a dataset, optionally loading a file or URL into its first version: all or nothing,
    as in the management API (a dataset whose first load fails is removed, so the same command
    can be run again once the file is fixed).

    Example: portail dataset create retraites --title "Âge de liquidation" --from retraites.csv --portal both"""
    options = _options(ctx, format, encoding, delimiter, sheet)
    if source is None and (given := [f"--{name}" for name, value in (("format", format), ("encoding", encoding),
                                     ("delimiter", delimiter), ("sheet", sheet)) if value is not None]):
        _usage_error(ctx, given, "read options apply to the file loaded: give it with --from")
    instance = _instance()
    with _errors():
        portals = services.portals_from_option(portal)
        with created_for_first_load(instance, slug, title, portals=portals,
                                    **({"description": description} if description else {})) as created:
            if source:
                _load(instance, slug, source, options, publish_now)
        out.print(f"created {slug} ({created.uid})")
        if created.took_former_id_of:
            out.print(f"note: {slug!r} was a former id of {created.took_former_id_of!r}: calls and links using it "
                      "now reach this new dataset")


@dataset_app.command("ingest")
def dataset_ingest(
    ctx: typer.Context, slug: str, source: str = typer.Argument(..., help="File or URL."),
    publish_now: bool = typer.Option(False, "--publish", help="Publish the new version at once."),
    format: Optional[str] = FormatOpt, encoding: Optional[str] = EncodingOpt, delimiter: Optional[str] = DelimiterOpt,
    sheet: Optional[str] = SheetOpt, allow_empty: bool = AllowEmptyOpt,
):
    """Load a file into a new version (the published one keeps being served).

    Example: portail dataset ingest retraites retraites-2025.csv --encoding cp1252 --publish"""
    options = _options(ctx, format, encoding, delimiter, sheet)
    with _errors():
        _load(_instance(), slug, source, options, publish_now, allow_empty)


@dataset_app.command("reload")
def dataset_reload(slug: str, publish_now: bool = typer.Option(True, "--publish/--no-publish"),
                   allow_empty: bool = AllowEmptyOpt):
    """Load the source of the version being served again (same options, same field overrides, the
    current pipeline): after a rollback, the file of the version rolled back to, not the newest one
    loaded. To load another file, use `portail dataset ingest`."""
    instance = _instance()
    with _errors():
        with _progress_bar(slug) as progress:
            result = reload(instance, slug, publish=publish_now, allow_empty=allow_empty, progress=progress)
        _say_loaded(slug, result)


@dataset_app.command("publish")
def dataset_publish(slug: str, version: Optional[int] = typer.Option(None, "--version", help="Version number."),
                    allow_empty: bool = AllowEmptyOpt):
    """Make the newest (or the given) loaded version the one served."""
    with _errors():
        instance = _instance()
        v = publish(instance, slug, version, allow_empty)
        warnings = served_order_warnings(instance, slug)
    out.print(f"{slug}: version {v.number} published ({v.row_count:,} records)")
    for warning in warnings:
        out.print(f"warning: {warning}", highlight=False, markup=False, soft_wrap=True)


@dataset_app.command("rollback")
def dataset_rollback(slug: str, to: Optional[int] = typer.Option(None, "--to", help="Version number."),
                     allow_empty: bool = AllowEmptyOpt):
    """Serve an earlier version again."""
    with _errors():
        instance = _instance()
        v = rollback(instance, slug, to, allow_empty)
        warnings = served_order_warnings(instance, slug)
    out.print(f"{slug}: rolled back to version {v.number} ({v.row_count:,} records)")
    for warning in warnings:
        out.print(f"warning: {warning}", highlight=False, markup=False, soft_wrap=True)


@dataset_app.command("reindex")
def dataset_reindex(ctx: typer.Context, slug: Optional[str] = typer.Argument(None, help="The dataset (or --all)."),
                    version: Optional[int] = typer.Option(None, "--version", help="Version number."),
                    every: bool = typer.Option(False, "--all", help="Every version whose index `portail migrate` "
                                               "counts as of an older word rule or missing: the published ones, then "
                                               "those kept for rollback. Their searches scan the records until then.")):
    """Write a version's full-text and key indexes again (the current one by default).

    --all writes those of every kept version, not only the published ones: a rollback is
    the operator's way out of a bad load, and the version it serves would otherwise scan (0.5
    to 8 s a search on 2 M rows) at that very moment, with nothing left to say so. Versions
    already of this release's rule are passed over, so that a run cut short resumes where it
    stopped; it ends saying how many are left (none)."""
    if every == (slug is not None) or (every and version is not None):
        _usage_error(ctx, ["SLUG", "--all"], "name one dataset (optionally with --version), or give --all")
    with _errors():
        instance = _instance()
        if not every:
            v = reindex(instance, slug, version)
            out.print(f"{slug}: version {v.number} indexed")
            return
        stale, failed = stale_indexes(instance), False
        for name, number in stale.published + stale.kept:  # the served first: they are searched now
            try:
                reindex(instance, name, number)
            except services.NotFound:  # pruned or deleted since the count: nothing left to index
                out.print(f"{name}: version {number} no longer kept, passed over")
                continue
            except CatalogError as error:  # said, and the others written all the same
                console.print(f"[red]Error:[/red] {escape(error.message)}", highlight=False, soft_wrap=True)
                failed = True
                continue
            out.print(f"{name}: version {number} indexed")
        out.print(_stale_said(stale_indexes(instance)), highlight=False, markup=False)
    if failed:
        raise typer.Exit(1)


@dataset_app.command("list")
def dataset_list(as_json: bool = typer.Option(False, "--json")):
    """All datasets, with their published version."""
    instance = _instance()
    with instance.session() as session:
        datasets = services.list_datasets(session)
        rows = [{"dataset_id": d.slug, "uid": d.uid, "title": d.title, "portals": d.portals,
                 "version": d.current_version, "records": d.records_count if d.current_version else None}
                for d in datasets]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("dataset_id", "uid", "title", "portals", "version", "records")
    for r in rows:
        table.add_row(*plain(r["dataset_id"], r["uid"], r["title"], ",".join(r["portals"]), str(r["version"] or "-"),
                             f"{r['records']:,}" if r["records"] is not None else "-"))
    out.print(table)


@dataset_app.command("show")
def dataset_show(slug: str, as_json: bool = typer.Option(False, "--json")):
    """Metadata, schema and version history of a dataset."""
    from portail.api.management import management_json

    instance = _instance()
    with _errors(), instance.session() as session:
        data = management_json(services.get_dataset(session, slug), instance.store)
        fields = services.current_fields(services.get_dataset(session, slug))
    if as_json:
        out.print_json(json.dumps(data, default=str))
        return
    out.print(f"[bold]{escape(data['title'])}[/bold]  {data['dataset_id']} ({data['dataset_uid']})  portals: {', '.join(data['portals'])}")
    out.print(f"published version: {data['current_version'] or '-'}   records: {data['records_count']:,}")
    schema = Table("field", "label", "type", "annotations")
    for f in fields:
        schema.add_row(*plain(f.name, f.label, str(f.type), ", ".join(
            name + "".join(f"={argument}" for argument in arguments) for name, arguments in f.annotations.items())))
    out.print(schema)
    versions = Table("version", "status", "records", "source", "created", "error")
    for v in data["versions"]:
        versions.add_row(*plain(str(v["version"]), v["status"], f"{v['records_count']:,}" if v["records_count"] is not None else "-",
                                v["source"] or "", v["created_at"][:19], (v["error"] or "")[:60]))
    out.print(versions)
    if data["attachments"]:
        attachments = Table("attachment", "title", "type", "bytes")
        for a in data["attachments"]:
            attachments.add_row(*plain(a["id"], a["title"], a["mimetype"], f"{a['size_bytes']:,}"))
        out.print(attachments)


def _annotations(items: list[str]) -> dict[str, list[str]]:
    """``--annotate`` values as a field's annotations: ``name`` or ``name=argument``."""
    annotations: dict[str, list[str]] = {}
    for item in items:
        key, given, argument = item.partition("=")
        annotations.setdefault(key.strip(), []).extend([argument] if given else [])
    return annotations


@dataset_app.command("field")
def dataset_field(
    ctx: typer.Context, slug: str, name: str,
    type: Optional[str] = typer.Option(None, "--type", help="text, int, double, boolean, date, datetime, geo_point_2d…"),
    label: Optional[str] = typer.Option(None, "--label"),
    description: Optional[str] = typer.Option(None, "--description"),
    annotate: Optional[list[str]] = typer.Option(
        None, "--annotate", metavar="NAME[=ARG]",
        help="An annotation, repeatable, replacing those set before: facet, disjunctive, hierarchical=/, "
             "multivalued=;, facetsort=-count, sortable, id, unit=€, decimals=2, timeserie_precision=day"),
    clear_annotations: bool = typer.Option(False, "--clear-annotations", help="Remove the field's annotations"),
    clear: bool = typer.Option(False, "--clear", help="Forget every override of the field (type, label, description, "
                               "annotations), e.g. one set on a misspelt name"),
):
    """Override a field's type, label, description or annotations (Opendatasoft's: a facet, its
    sort, a hierarchy, values split on a separator…); applies from the next load on.

    Example: portail dataset field communes insee_com --type text --label "Code INSEE"

    Example: portail dataset field communes nom_reg --annotate facet --annotate disjunctive"""
    if clear and (type or label or description or annotate or clear_annotations):
        _usage_error(ctx, ["--clear"], "it forgets every override of the field: give it alone, or the overrides to set")
    if not (clear or type or label or description or annotate or clear_annotations):
        _usage_error(ctx, ["--type", "--label", "--description", "--annotate", "--clear-annotations", "--clear"],
                     "none given: say what to override, or --clear to forget the field's overrides")
    instance = _instance()
    annotations = {} if clear_annotations else _annotations(annotate) if annotate else None
    with _errors(), instance.session() as session:
        dataset = services.get_dataset(session, slug)
        if clear:
            services.clear_field_override(session, dataset, name)
        else:
            try:
                services.set_field_override(session, dataset, name, type=type, label=label,
                                            description=description, annotations=annotations)
            except services.AnnotationRefused as error:  # a mistyped --annotate: nothing was recorded
                _usage_error(ctx, ["--annotate"], error.message)
        served = [f.name for f in services.current_fields(dataset)]
    out.print(f"{slug}.{name}: override {'removed' if clear else 'saved'}; run `portail dataset reload {slug}` to apply it")
    if served and name not in served and not clear:
        # kept (a later file may bring the field), but a misspelt name would be ignored at every load
        out.print(f"note: the served version has no field {name!r} (its fields: {', '.join(served)}); the override "
                  f"applies once a load has one; `--clear` removes it")


@dataset_app.command("meta")
def dataset_meta(
    slug: str,
    title: Optional[str] = typer.Option(None, "--title"),
    description: Optional[str] = typer.Option(None, "--description", help="Markdown."),
    theme: Optional[list[str]] = typer.Option(None, "--theme", help="Repeat for several."),
    keyword: Optional[list[str]] = typer.Option(None, "--keyword", help="Repeat for several."),
    license: Optional[str] = typer.Option(None, "--license"),
    license_url: Optional[str] = typer.Option(None, "--license-url"),
    publisher: Optional[str] = typer.Option(None, "--publisher"),
    owner: Optional[str] = typer.Option(None, "--owner", help="The data owner (a person)."),
    contact_name: Optional[str] = typer.Option(None, "--contact-name"),
    contact_email: Optional[str] = typer.Option(None, "--contact-email"),
    language: Optional[str] = typer.Option(None, "--language"),
    frequency: Optional[str] = typer.Option(None, "--frequency", help="daily, weekly, monthly, annual, irregular…"),
    temporal_start: Optional[str] = typer.Option(None, "--temporal-start", help="YYYY-MM-DD"),
    temporal_end: Optional[str] = typer.Option(None, "--temporal-end", help="YYYY-MM-DD"),
    spatial: Optional[str] = typer.Option(None, "--spatial", help="Spatial coverage, e.g. France métropolitaine."),
    portal: Optional[str] = typer.Option(None, "--portal", help="public, internal or both."),
    rename: Optional[str] = typer.Option(None, "--rename", help="New dataset_id (the uid never changes)."),
):
    """Change a dataset's metadata (only the options given).

    Example: portail dataset meta retraites --theme Retraites --keyword CNRACL --frequency annual"""
    values = {"title": title, "description": description, "themes": theme or None, "keywords": keyword or None,
              "license": license, "license_url": license_url, "publisher": publisher, "owner": owner,
              "contact_name": contact_name, "contact_email": contact_email, "language": language,
              "update_frequency": frequency, "temporal_start": temporal_start, "temporal_end": temporal_end,
              "spatial_coverage": spatial}
    values = {k: v for k, v in values.items() if v is not None}
    instance = _instance()
    with _errors(), instance.session() as session:
        dataset = services.get_dataset(session, slug)
        if portal:
            values["portals"] = services.portals_from_option(portal)
        if "owner" in values:  # ownership opens the dataset: audited as the management API audits it
            from portail.auth.services import owner_changed

            owner_changed(session, dataset, values["owner"])
        if values:
            services.update_metadata(session, dataset, **values)
        if rename:
            services.rename_dataset(session, dataset, rename)
    out.print(f"{rename or slug}: metadata saved")


@dataset_app.command("attach")
def dataset_attach(slug: str, file: Path, title: Optional[str] = typer.Option(None, "--title")):
    """Attach a file (documentation, notice…) to a dataset."""
    from portail.operations import attach

    with _errors():
        attachment_id = attach(_instance(), slug, file, title=title)
    out.print(f"{slug}: attached {file.name} as {attachment_id}")


@dataset_app.command("detach")
def dataset_detach(slug: str, attachment_id: str = typer.Argument(..., help="As `dataset show` lists it.")):
    """Remove an attachment from a dataset."""
    from portail.operations import detach

    with _errors():
        detach(_instance(), slug, attachment_id)
    out.print(f"{slug}: attachment {attachment_id} removed", highlight=False, markup=False)


@dataset_app.command("pipeline")
def dataset_pipeline(ctx: typer.Context, slug: str,
                     set_file: Optional[Path] = typer.Option(None, "--set", help="YAML or JSON list of steps, checked "
                                                             "against the published schema."),
                     clear: bool = typer.Option(False, "--clear", help="Remove the pipeline.")):
    """Show, set or clear the processors run at each load (applied at the next reload).

    Example: portail dataset pipeline retraites --set pipeline.yaml (steps such as
    `- {processor: rename, field: ageliq, to: age}`)"""
    import yaml

    if set_file is not None and clear:
        _usage_error(ctx, ["--set", "--clear"], "give one, not both")
    instance = _instance()
    with _errors():
        steps = _pipeline_file(instance, slug, set_file) if set_file is not None else None
        with instance.session() as session:
            dataset = services.get_dataset(session, slug)
            if steps is not None:
                services.set_pipeline(session, dataset, steps)
                said = (f"{slug}: pipeline of {len(steps)} step{'' if len(steps) == 1 else 's'} saved; "
                        f"run `portail dataset reload {slug}` to apply it")
            elif clear:
                services.set_pipeline(session, dataset, [])
                said = f"{slug}: pipeline removed"
            else:
                said = yaml.safe_dump(dataset.pipeline or [], allow_unicode=True, sort_keys=False) or "[]"
    out.print(said)  # once committed: a failed commit saved nothing


def _yaml_problem(error) -> str:
    """A YAML error as one line naming where it is (``line 3, column 6: mapping values are not
    allowed here``): PyYAML's own text names ``"<unicode string>"`` and spreads the snippet over
    lines that a one-line message flattens into noise."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None)
    if mark is None or not problem:
        return " ".join(str(error).split())
    context = getattr(error, "context", None)
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" + (f" ({context})" if context else "")


def _pipeline_file(instance: Instance, slug: str, path: Path) -> list[dict]:
    """The steps of a pipeline file, checked as the next load would run them (``check_pipeline``);
    any problem is said with the file's name."""
    import yaml

    try:
        return check_pipeline(instance, slug, yaml.safe_load(readable_file(path).read_text(encoding="utf-8")))
    except OSError as error:
        raise CatalogError(f"{path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise CatalogError(f"{path}: not UTF-8 text (byte {error.start:,})") from None
    except yaml.YAMLError as error:
        raise CatalogError(f"{path}: {_yaml_problem(error)}") from None
    except (IngestError, CatalogError) as error:
        raise CatalogError(f"{path}: {error.message}") from None


@dataset_app.command("delete")
def dataset_delete(slug: str, yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation.")):
    """Delete a dataset, all its versions and attachments."""
    instance = _instance()
    with _errors(), instance.session() as session:  # an unknown id said before a confirmation is asked
        services.get_dataset(session, slug)
    if not yes and not typer.confirm(f"Delete {slug} and all its versions?"):
        raise typer.Exit(1)
    with _errors():
        delete(instance, slug)
    out.print(f"{slug}: deleted")


@app.command("migrate")
def migrate_catalogue():
    """Bring the catalogue's schema to this release's: the explicit step of an upgrade, every
    server and worker stopped first (README, "Upgrading an instance"). Any command migrates it
    on opening; this one says what it did."""
    from portail.catalog.db import make_engine, schema_revision
    from portail.config import load_settings

    try:
        engine = make_engine(load_settings().sqlalchemy_url)
        try:
            before = schema_revision(engine)
        finally:
            engine.dispose()
    except Exception:  # noqa: BLE001 - no catalogue yet, or a bad setting: _instance says which, below
        before = None
    instance = _instance()
    now = schema_revision(instance.catalog.kw["bind"])
    out.print(f"catalogue schema {now}: up to date" if before == now else f"catalogue schema {before or '(new)'} → {now}",
              highlight=False, markup=False)
    with _errors():
        out.print(_stale_said(stale_indexes(instance)), highlight=False, markup=False)


def _stale_said(stale: StaleIndexes) -> str:
    """How many versions ``dataset reindex --all`` has to write indexes of (``stale_indexes``),
    and why: said by ``migrate``, ``serve`` (when some are) and ``reindex --all`` alike. A
    release that changes how words are indexed has no other way to tell the operator."""
    published, kept = len(stale.published), len(stale.kept)
    said = ("indexes of an older word rule or missing: 0 left" if not stale else
            f"indexes of an older word rule or missing: {published} published version{'s' * (published != 1)}, "
            f"{kept} other version{'s' * (kept != 1)} kept for history or rollback; their full-text, like and key "
            "searches scan the records until `portail dataset reindex --all`")
    if stale.damaged:  # no reindex can help these: said apart, else "left" forever
        said += ("\nversions whose file cannot be read as a database (damaged; no index can be written): "
                 + ", ".join(f"{slug} version {number}" for slug, number in stale.damaged)
                 + "; load the dataset again, or publish another version")
    return said


#: How long ``serve --workers N`` waits for a worker's first sign of life before starting another.
WORKER_START_SECONDS = 120


def _listen_refusal(host: str, port: int, workers: int = 1) -> Optional[str]:
    """Why this server could not listen at ``host:port``, or None, said before the application is
    built: uvicorn found out after, and said ``[Errno -2] Name or service not known`` between log
    lines, naming no host, with exit 3. The probe binds as uvicorn will: one worker's IPv6
    socket is IPv6 only (asyncio's ``create_server``), so an IPv4 server on the port does not
    stop ``--host ::``; several workers share one dual-stack socket (``Config.bind_socket``)."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            if family == socket.AF_INET6 and workers == 1:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            probe.bind(address)
    except OSError as error:
        return f"cannot listen on {f'[{host}]' if ':' in host else host}:{port}: {error.strerror or error}"
    return None


@app.command("serve")
def serve(host: Optional[str] = typer.Option(None, help="Address to listen on (default PORTAIL_HOST, else 127.0.0.1)."),
          port: Optional[int] = typer.Option(None, min=1, max=65535, help="Port (default PORTAIL_PORT, else 8000)."),
          workers: int = typer.Option(1, min=1, help="Server processes (each attaches version files read-only).")):
    """Serve the portals and APIs."""
    import uvicorn

    instance = _instance()  # migrate before workers start
    settings = instance.settings
    try:  # information only: a file it cannot read must not keep the server from starting
        if (stale := stale_indexes(instance)) or stale.damaged:  # once, not per worker
            logging.getLogger(__name__).warning(_stale_said(stale))
    except Exception as error:  # noqa: BLE001 - said, and the server starts as before the count
        logging.getLogger(__name__).warning("stale indexes not counted (%s): `portail migrate` counts them", error)
    host, port = host or settings.host, port or settings.port
    if (refusal := _listen_refusal(host, port, workers)) is not None:
        fail(refusal)
    if "base_url" not in settings.model_fields_set:
        # DCAT and RDF URIs are built from base_url, never from a request's host (they must stay
        # the same whatever name a harvester used): unset, it is where this server answers, not
        # the default port's address, which a server on another port would publish wrongly.
        from portail.config import local_url

        os.environ["PORTAIL_BASE_URL"] = local_url(host, port)  # the workers' (the options may differ from settings)
        out.print(f"PORTAIL_BASE_URL is not set: URIs in DCAT and RDF name {os.environ['PORTAIL_BASE_URL']} "
                  "(set it to the portal's public URL in production).", highlight=False)
    if not settings.management_token:
        from portail.auth.operator import management_token, token_path

        with _errors():
            management_token(settings)  # made now, so the operator can read it before the first call
        out.print(f"PORTAIL_MANAGEMENT_TOKEN is not set: the management API's token is in {token_path(settings)} "
                  "(send it as Authorization: Bearer …).", highlight=False)
    from portail.api.access_log import log_config

    uvicorn.run("portail.api.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="info",
                log_config=log_config(),  # API keys and tokens in URLs are masked in the access log
                timeout_graceful_shutdown=settings.shutdown_grace_seconds,
                # a worker builds its app in seconds, more on a busy machine: uvicorn's 5 s
                # restarted them for ever, and the server never answered
                timeout_worker_healthcheck=WORKER_START_SECONDS)


from portail.auth import cli as auth_cli  # noqa: E402 - the admin commands of accounts and access

app.add_typer(auth_cli.user_app, name="user")
app.add_typer(auth_cli.group_app, name="group")
app.add_typer(auth_cli.apikey_app, name="apikey")
app.add_typer(auth_cli.oauth_app, name="oauth-client")
app.command("dataset-security")(auth_cli.dataset_security)
app.add_typer(auth_cli.quota_app, name="quota")
app.command("audit")(auth_cli.audit_list)

refdata_app = typer.Typer(help="Reference datasets: communes, EPCI, départements, régions.", no_args_is_help=True)
app.add_typer(refdata_app, name="refdata")


@refdata_app.command("install")
def refdata_install(from_dir: Optional[Path] = typer.Option(None, "--from", help="Read the official files from this folder "
                                                                "instead of downloading them."),
                    only: Optional[str] = typer.Option(None, "--only", help="communes,epci,departements,regions"),
                    mirror: Optional[str] = typer.Option(None, "--mirror", help="Download from this base URL (laid out "
                                                         "like the reference folder) instead of the official URLs."),
                    force: bool = typer.Option(False, "--force", help="Reload every file, even one whose SHA-256 is "
                                               "that of the version served (after an upgrade that reads files differently).")):
    """Install or refresh the reference datasets (a new vintage publishes new versions; a file
    unchanged since it was installed keeps its version)."""
    from portail.refdata import install

    with _errors():
        for line in install(_instance(), from_dir, only.split(",") if only else None, mirror, force=force):
            out.print(line)


@refdata_app.command("sirene")
def refdata_sirene(source: str = typer.Argument(..., help="Sirene establishments stock file or URL (CSV or zipped CSV, "
                                                "e.g. StockEtablissement_utf8.zip)"),
                   vintage: str = typer.Option("", "--vintage", help="e.g. 2026-01")):
    """Load the Sirene register into the hub (ref-sirene, used by the sirene processor); streamed, never held in memory."""
    from portail.refdata import install_sirene

    with _errors():
        for line in install_sirene(_instance(), source, vintage):
            out.print(line)


@app.command("demo")
def demo(refdata: Path = typer.Option(Path("../shared/refdata"), help="Folder of reference files to load.")):
    """Load the demo datasets (idempotent)."""
    from portail.demo import load_demo

    with _errors():
        for line in load_demo(_instance(), refdata):
            out.print(line)


def _summaries_on_one_line(group: typer.Typer) -> None:
    """Each command's summary in its group's ``--help`` listing, as one paragraph: Typer lists a
    docstring's first paragraph with its source line breaks (``all or nothing,`` then ``as in the
    management API`` on a line of its own), where the command's own ``--help`` joins them."""
    import inspect

    for command in group.registered_commands:
        text = command.help or inspect.getdoc(command.callback) or ""
        if command.short_help is None and text:
            command.short_help = " ".join(text.split("\n\n")[0].split())
    for subgroup in group.registered_groups:
        if subgroup.typer_instance is not None:
            _summaries_on_one_line(subgroup.typer_instance)


_summaries_on_one_line(app)


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="portail")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
