"""Processors: named, parameterised transforms of a dataset's records, run at every load.

Public face: ``REGISTRY`` (name → spec with its documentation), ``validate(steps)`` (checks a
pipeline as a publisher wrote it) and ``run(plan, steps, execute)`` (applies it to a plan and
returns the counts each step reports). A pipeline is a list of ``{processor: name, …params}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlglot import exp

from portail.ingest.errors import IngestError
from portail.processors import generic, geo, territory  # noqa: F401 - registers the processors
from portail.processors.base import REGISTRY, Plan

__all__ = ["REGISTRY", "Plan", "finish_counts", "run", "validate"]


def _spec(step: dict[str, Any], index: int):
    if not isinstance(step, dict) or "processor" not in step:
        raise IngestError(f"pipeline step {index}: each step is a mapping with a 'processor' key")
    spec = REGISTRY.get(step["processor"])
    if spec is None:
        raise IngestError(f"pipeline step {index}: unknown processor {step['processor']!r}; "
                          f"known: {', '.join(sorted(REGISTRY))}")
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


def run(plan: Plan, steps: list[dict[str, Any]], execute: Callable[[exp.Expression], tuple]) -> tuple[Plan, list[dict], list]:
    """Apply the steps in order; ``execute(query) -> row`` runs each step's counters.

    Returns the final plan, the per-step reports, and the counts to take on the written
    records (``finish_counts`` fills them in)."""
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
        if step.get("on_error") == "fail" and counts.get("failed"):
            raise IngestError(f"pipeline step {index} ({spec.name}): {counts['failed']:,} records failed and "
                              f"the step is set to fail the load")
        report = {"step": index, "processor": spec.name, **counts}
        reports.append(report)
        if outcome.counters_after:
            deferred.append((report, outcome.counters_after, outcome.plan))
        plan = outcome.plan
    return plan, reports, deferred


def finish_counts(deferred: list, final_fields: list[str], records: exp.Expression,
                  execute: Callable[[exp.Expression], tuple]) -> None:
    """Take the deferred counts on the written records (or on the step's output if a later
    step removed the columns they read)."""
    for report, counters, step_plan in deferred:
        used = {c.name for e in counters.values() for c in e.find_all(exp.Column)}
        source = records if used <= set(final_fields) else step_plan.query.subquery("s")
        query = exp.select(*[exp.alias_(e, label) for label, e in counters.items()]).from_(source)
        report.update(zip(counters, execute(query)))
