"""What a processor is, and how a pipeline of them runs.

A processor maps a *plan* (a query over the records so far, and their schema) to a new plan.
Plans are relational: each step wraps the previous one as a subquery, so the whole pipeline is
one query the engine runs in parallel, streaming and spilling, without the records ever
becoming Python objects. This is a deliberate improvement on per-batch Python transforms:
joins with reference datasets and spatial lookups become engine joins with indexes instead of
lookups per batch. A step reports counts (values changed, failed) from one aggregate over its
own output, and a step that can miss (a code absent from a reference, a point outside every
polygon) lists the first ``LISTED`` such records in the report: it declares a condition over
its output in ``Outcome.listed`` and the runner does the rest, on the written records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from portail.ingest.errors import IngestError
from portail.schema import Field, FieldType


#: Builds, once per version, a file derived from a reference version's file (given its path),
#: holding a table ``records``, and returns its path: data a processor needs that depends on
#: that version only (``geo_index.ensure_index``).
Derive = Callable[[str], str]


@dataclass
class Plan:
    query: exp.Select
    fields: list[Field]
    #: Resolves a reference dataset (by dataset_id) to a table the query can join, or with a
    #: ``derive`` function to the table of a file derived from its published version; set by the loader.
    reference: Callable[[str, Derive | None], exp.Table] | None = None
    #: The schema of such a dataset's published version; set by the loader.
    schema_of: Callable[[str], list[Field]] | None = None

    def table_of(self, dataset_id: str, step: str, derive: Derive | None = None) -> exp.Table:
        """The records of a reference dataset's published version or, given ``derive``, the
        ``records`` of the file it derives from that version (an index built once per version)."""
        if self.reference is None:
            raise IngestError(f"pipeline step {step}: reference datasets are not available here")
        return self.reference(dataset_id, derive)

    def field(self, name: str, step: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise IngestError(f"pipeline step {step}: unknown field {name!r}; fields are: "
                          f"{', '.join(f.name for f in self.fields)}")

    def names(self) -> list[str]:
        return [f.name for f in self.fields]


@dataclass
class Outcome:
    plan: Plan
    # label -> aggregate evaluated over the *previous* plan, where old and new values both compute
    counters: dict[str, exp.Expression] = field(default_factory=dict)
    #: or a whole query returning one row of named counts (for steps that join)
    counters_query: exp.Select | None = None
    #: or counts over the step's own output columns, evaluated on the written records when those
    #: columns survive the later steps (no second run of a costly step), else on the step's output
    counters_after: dict[str, exp.Expression] = field(default_factory=dict)
    #: label -> condition over the step's output columns marking the records it could not handle
    #: (``unmatched``, ``outside``, ``failed``); the first ``LISTED`` are listed in the report
    #: under ``<label>_records``, taken like ``counters_after`` (on the written records if they can)
    listed: dict[str, exp.Expression] = field(default_factory=dict)


@dataclass(frozen=True)
class ProcessorSpec:
    name: str
    doc: str
    params: dict[str, str]  # parameter -> one-line description (required ones marked "required")
    apply: Callable[[Plan, dict[str, Any], str], Outcome]
    example: dict[str, Any]


REGISTRY: dict[str, ProcessorSpec] = {}

#: How many records a step lists for each of its ``listed`` conditions.
LISTED = 100

#: Counts that mean a record could not be handled: with ``on_error: fail`` any of them fails the load.
PROBLEMS = ("failed", "unmatched", "outside")


#: Parameters every step takes besides its own.
COMMON_PARAMS = {"on_error": "skip (default: failing values become null and are counted) or fail (the load fails, "
                             "the published version stays)"}


def processor(name: str, doc: str, params: dict[str, str], example: dict[str, Any]):
    def register(func: Callable[[Plan, dict[str, Any], str], Outcome]):
        REGISTRY[name] = ProcessorSpec(name, doc, params, func, example)
        return func

    return register


def column(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def wrap(plan: Plan, projections: list[exp.Expression], fields: list[Field], *, distinct: bool = False) -> Plan:
    """A new plan selecting ``projections`` from the previous plan as a subquery."""
    query = exp.select(*projections).from_(plan.query.subquery("p"))
    if distinct:
        query = query.distinct()
    return Plan(query, fields, plan.reference, plan.schema_of)


def replace_columns(plan: Plan, changes: dict[str, exp.Expression], *, types: dict[str, FieldType] | None = None,
                    added: list[Field] | None = None, drop: frozenset[str] = frozenset()) -> Plan:
    """Keep every field, replacing some expressions, dropping some, appending new ones."""
    types = types or {}
    projections, fields = [], []
    for f in plan.fields:
        if f.name in drop:
            continue
        projections.append(exp.alias_(changes.get(f.name, column(f.name)), f.name, quoted=True))
        fields.append(Field(f.name, f.label, types.get(f.name, f.type), f.description, dict(f.annotations)))
    for f in added or []:
        projections.append(exp.alias_(changes[f.name], f.name, quoted=True))
        fields.append(f)
    return wrap(plan, projections, fields)


def present(expression: exp.Expression) -> exp.Expression:
    return exp.Not(this=exp.Is(this=expression, expression=exp.Null()))


def absent(expression: exp.Expression) -> exp.Expression:
    return exp.Is(this=expression, expression=exp.Null())


def check_on_error(step: dict[str, Any], report: dict[str, Any]) -> None:
    """Fail the load when a step set to ``on_error: fail`` reports records it could not handle."""
    if step.get("on_error") != "fail":
        return
    for label in PROBLEMS:
        if report.get(label):
            raise IngestError(f"pipeline step {report['step']} ({report['processor']}): {report[label]:,} records "
                              f"{label} and the step is set to fail the load")


def count_where(condition: exp.Expression) -> exp.Expression:
    return exp.Filter(this=exp.func("count", exp.Star()), expression=exp.Where(this=condition))


def require(params: dict[str, Any], key: str, step: str, kind: type = str) -> Any:
    if key not in params or params[key] in (None, ""):
        raise IngestError(f"pipeline step {step}: parameter {key!r} is required")
    value = params[key]
    if kind is list and isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, kind):
        raise IngestError(f"pipeline step {step}: parameter {key!r} must be a {kind.__name__}")
    if kind is list and not value:  # refused when set, not at the next load with the engine's words
        raise IngestError(f"pipeline step {step}: parameter {key!r} needs at least one item")
    return value


def check_regex(pattern: str, step: str) -> None:
    """Refuse a regular expression the engine (RE2) would refuse at load time, when the step is set."""
    import duckdb

    try:
        duckdb.connect().execute("SELECT regexp_matches('', ?)", [pattern]).fetchone()
    except duckdb.Error as error:
        detail = str(error).strip().splitlines()[0]
        raise IngestError(f"pipeline step {step}: invalid regular expression {pattern!r} ({detail})") from None
