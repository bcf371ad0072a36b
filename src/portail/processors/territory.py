"""Enrichment with the reference-data hub: administrative divisions from an INSEE code.

Joins the dataset with ``ref-communes`` (installed by ``portail refdata install``) inside the
engine. Codes are normalised first (zero padding lost by spreadsheets, lower-case Corsican
``2a``), and a former code is remapped to the current commune through
``ref-commune-successeurs``; unmatched and remapped codes are counted in the report.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from portail.processors.base import Outcome, Plan, count_where, processor, require
from portail.schema import Field, FieldType, normalize_name

#: Columns of ref-communes brought by admin_divisions: (column, suffix, label, type).
OUTPUTS = [
    ("code", "code", "Code commune (actuel)", FieldType.TEXT), ("nom", "nom", "Commune", FieldType.TEXT),
    ("dep_code", "dep_code", "Code département", FieldType.TEXT), ("dep_nom", "dep_nom", "Département", FieldType.TEXT),
    ("reg_code", "reg_code", "Code région", FieldType.TEXT), ("reg_nom", "reg_nom", "Région", FieldType.TEXT),
    ("epci_siren", "epci_siren", "SIREN de l'EPCI", FieldType.TEXT), ("epci_nom", "epci_nom", "EPCI", FieldType.TEXT),
    ("population", "population", "Population municipale", FieldType.INT),
]


def normalized_code(value: exp.Expression) -> exp.Expression:
    """``1001`` → ``01001``, ``2a004`` → ``2A004``, surrounding spaces dropped."""
    text = exp.func("upper", exp.func("trim", exp.cast(value, "VARCHAR")))
    padded = exp.Case(ifs=[exp.If(this=exp.func("regexp_full_match", text, exp.Literal.string("[0-9]{4}")),
                                  true=exp.func("concat", exp.Literal.string("0"), text.copy()))], default=text.copy())
    return padded


@processor("admin_divisions", "From an INSEE commune code, add the commune's current code and name, its département, "
           "région, EPCI and population (former codes are remapped to the commune they became).",
           {"field": "required: the field holding the INSEE code", "prefix": "prefix of the added fields (default commune)",
            "contour": "true to add the commune contour as a geo_shape",
            "reference": "dataset_id of the communes reference (default ref-communes)"},
           {"processor": "admin_divisions", "field": "code_commune", "prefix": "commune"})
def admin_divisions(plan: Plan, params: dict[str, Any], step: str) -> Outcome:
    source = plan.field(require(params, "field", step), step)
    prefix = normalize_name(params.get("prefix", "commune")) or "commune"
    communes = plan.table_of(params.get("reference", "ref-communes"), step)
    successors = plan.table_of("ref-commune-successeurs", step)
    code = normalized_code(exp.column(source.name, table="p", quoted=True))
    resolved = exp.func("coalesce", exp.column("code", table="s"), code.copy())
    outputs = [(c, s, label, t) for c, s, label, t in OUTPUTS]
    if params.get("contour"):
        outputs.append(("geo_shape", "contour", "Contour de la commune", FieldType.GEO_SHAPE))
    new_fields = [Field(f"{prefix}_{suffix}", label, kind) for _, suffix, label, kind in outputs]
    taken = set(plan.names()) & {f.name for f in new_fields}
    if taken:
        from portail.ingest.errors import IngestError

        raise IngestError(f"pipeline step {step}: the dataset already has a field {sorted(taken)[0]!r}; choose another prefix")
    projections = [exp.column(name, table="p", quoted=True) for name in plan.names()]
    projections += [exp.alias_(exp.column(column_name, table="c"), f.name, quoted=True)
                    for (column_name, *_), f in zip(outputs, new_fields)]
    query = (exp.select(*projections).from_(plan.query.subquery("p"))
             .join(successors.as_("s"), on=exp.EQ(this=exp.column("ancien_code", table="s"), expression=code), join_type="left")
             .join(communes.as_("c"), on=exp.EQ(this=exp.column("code", table="c"), expression=resolved), join_type="left"))
    after = Plan(query, [*plan.fields, *new_fields], plan.reference)
    present = exp.Not(this=exp.Is(this=exp.column(source.name, table="p", quoted=True), expression=exp.Null()))
    counters_plan = (exp.select(exp.alias_(count_where(exp.and_(present, exp.Is(this=exp.column("code", table="c"),
                                                                                     expression=exp.Null()))), "unmatched"),
                                exp.alias_(count_where(exp.Not(this=exp.Is(this=exp.column("code", table="s"),
                                                                           expression=exp.Null()))), "remapped"))
                     .from_(plan.query.subquery("p"))
                     .join(successors.copy().as_("s"), on=exp.EQ(this=exp.column("ancien_code", table="s"), expression=code.copy()),
                           join_type="left")
                     .join(communes.copy().as_("c"), on=exp.EQ(this=exp.column("code", table="c"), expression=resolved.copy()),
                           join_type="left"))
    return Outcome(after, {}, counters_query=counters_plan)
