"""Processors: named, parameterised transforms of a dataset's records, run at every load.

Public face: ``REGISTRY`` (name → spec with its documentation), ``validate(steps)`` (checks a
pipeline as a publisher wrote it) and ``run(plan, steps, execute)`` (applies it to a plan and
returns the counts each step reports; ``finish_counts`` completes them on the written records,
with the first ``LISTED`` unmatched records of each enrichment step). A pipeline is a list of
``{processor: name, …params}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlglot import exp

from portail.ingest.errors import IngestError
from portail.processors import generic, geo, sirene, territory  # noqa: F401 - registers the processors
from portail.processors.base import LISTED, REGISTRY, Plan, check_on_error
from portail.schema import FieldType

__all__ = ["LISTED", "REGISTRY", "Plan", "check", "finish_counts", "run", "validate"]


def _spec(step: dict[str, Any], index: int):
    if not isinstance(step, dict) or "processor" not in step:
        raise IngestError(f"pipeline step {index}: each step is a mapping with a 'processor' key")
    spec = REGISTRY.get(step["processor"])
    if spec is None:
        raise IngestError(f"pipeline step {index}: unknown processor {step['processor']!r}; "
                          f"known: {', '.join(sorted(REGISTRY))}")
    if step.get("on_error", "skip") not in ("skip", "fail"):
        raise IngestError(f"pipeline step {index} ({spec.name}): on_error must be skip or fail")
    unknown = set(step) - set(spec.params) - {"processor", "label", "on_error"}
    if unknown:
        raise IngestError(f"pipeline step {index} ({spec.name}): unknown parameter {sorted(unknown)[0]!r}; "
                          f"it takes {', '.join(spec.params)}")
    return spec


def validate(steps: Any) -> list[dict[str, Any]]:
    """A pipeline's steps, checked for shape (names, parameters); fields are checked at load time."""
    if not isinstance(steps, list):
        raise IngestError("a pipeline is a list of steps")
    for index, step in enumerate(steps, start=1):
        _spec(step, index)
    return steps


def check(steps: Any, plan: Plan) -> list[dict[str, Any]]:
    """A pipeline checked as a load would run it, without running it: each step applied in
    order to ``plan`` (a published schema, references resolved by the caller), so a missing or
    ill-typed parameter, an unknown field, value, EPSG code or reference, an ODSQL expression
    that does not compile, are said when the pipeline is set rather than at the next reload."""
    steps = validate(steps)
    for index, step in enumerate(steps, start=1):
        spec = _spec(step, index)
        params = {k: v for k, v in step.items() if k != "processor"}
        try:
            plan = spec.apply(plan, params, f"{index} ({spec.name})").plan
        except IngestError as error:  # a reference's own refusal does not know the step
            if error.message.startswith("pipeline step"):
                raise
            raise IngestError(f"pipeline step {index} ({spec.name}): {error.message}") from None
        except (TypeError, ValueError, AttributeError) as error:  # a parameter of the wrong kind (a list for a number…)
            raise IngestError(f"pipeline step {index} ({spec.name}): a parameter has the wrong type or value "
                              f"({type(error).__name__}: {error})") from None
    return steps


def run(plan: Plan, steps: list[dict[str, Any]], execute: Callable[[exp.Expression], tuple]) -> tuple[Plan, list[dict], list]:
    """Apply the steps in order; ``execute(query) -> row`` runs each step's counters.

    Returns the final plan, the per-step reports, and the counts and listings to take on the
    written records (``finish_counts`` fills them in)."""
    reports, deferred = [], []
    for index, step in enumerate(steps, start=1):
        spec = _spec(step, index)
        params = {k: v for k, v in step.items() if k != "processor"}
        outcome = spec.apply(plan, params, f"{index} ({spec.name})")
        counts: dict[str, int] = {}
        if outcome.counters:
            query = exp.select(*[exp.alias_(e, label) for label, e in outcome.counters.items()]).from_(plan.query.subquery("p"))
            counts = dict(zip(outcome.counters, execute(query)))
        elif outcome.counters_query is not None:
            counts = dict(zip([e.alias_or_name for e in outcome.counters_query.expressions], execute(outcome.counters_query)))
        report = {"step": index, "processor": spec.name, **counts}
        check_on_error(step, report)
        reports.append(report)
        if outcome.counters_after or outcome.listed:
            deferred.append(Deferred(report, step, outcome.counters_after, outcome.listed, outcome.plan))
        plan = outcome.plan
    return plan, reports, deferred


@dataclass
class Deferred:
    """Counts and listings of one step, taken once the records are written."""

    report: dict[str, Any]
    step: dict[str, Any]
    counters: dict[str, exp.Expression]
    listed: dict[str, exp.Expression]
    plan: Plan


def finish_counts(deferred: list[Deferred], final_fields: list[str], records: exp.Expression,
                  execute: Callable[[exp.Expression], tuple],
                  fetch: Callable[[exp.Expression], list[dict[str, Any]]] | None = None) -> None:
    """Take the deferred counts and listings on the written records (or on the step's output if
    a later step removed the columns they read), then apply each step's ``on_error``."""
    final = set(final_fields)
    for item in deferred:
        def source(expressions) -> tuple[exp.Expression, list[str]]:
            used = {c.name for e in expressions for c in e.find_all(exp.Column)}
            if used <= final:
                return records.copy(), list(final_fields)
            return item.plan.query.subquery("s"), item.plan.names()

        if item.counters:
            table, _ = source(item.counters.values())
            query = exp.select(*[exp.alias_(e, label) for label, e in item.counters.items()]).from_(table)
            item.report.update(zip(item.counters, execute(query)))
        if fetch is not None:
            kinds = {f.name: f.type for f in item.plan.fields}
            for label, condition in item.listed.items():
                table, names = source([condition])
                columns = [_listed_column(n, kinds.get(n)) for n in names if kinds.get(n) != FieldType.GEO_SHAPE]
                query = exp.select(*columns).from_(table).where(condition.copy()).limit(LISTED)
                item.report[f"{label}_records"] = [{k: _plain(v) for k, v in row.items()} for row in fetch(query)]
        check_on_error(item.step, item.report)


def _listed_column(name: str, kind: FieldType | None) -> exp.Expression:
    """Listed records carry their fields as plain values (points as WKT, contours left out)."""
    value = exp.column(name, quoted=True)
    if kind == FieldType.GEO_POINT_2D:
        value = exp.func("ST_AsText", value)
    elif kind == FieldType.JSON:
        value = exp.cast(value, "VARCHAR")
    return exp.alias_(value, name, quoted=True)


def _plain(value: Any) -> Any:
    """A value the report (JSON in the catalogue) can hold."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (date, datetime, time)):
        return value.isoformat()
    return str(value)
