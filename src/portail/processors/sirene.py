"""Enrichment with the Sirene register of the hub (``ref-sirene``, see ``refdata.sirene``).

A SIRET (14 digits) finds its establishment; a SIREN (9 digits) finds the company's head
office (or, when the hub has no head office for it, one of its establishments, active ones
first). Spaces and dots typed inside the numbers are ignored; numbers that a spreadsheet
turned into integers get their leading zeros back. One engine join per kind of key;
unmatched numbers are counted and listed in the report.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from portail.ingest.errors import IngestError
from portail.processors.base import Outcome, Plan, absent, column, count_where, present, processor, require
from portail.schema import Field, FieldType, normalize_name

#: Columns of ref-sirene brought by the processor: (column, label).
OUTPUTS = [("siret", "SIRET (Sirene)"), ("nom", "Nom ou raison sociale"), ("naf", "Activité principale (NAF)"),
           ("adresse", "Adresse"), ("code_postal", "Code postal"), ("commune", "Commune"), ("code_commune", "Code commune INSEE")]


def _key(value: exp.Expression, kind: FieldType) -> exp.Expression:
    """The digits of a SIREN/SIRET. A number read from a spreadsheet lost its leading zeros:
    below 10⁹ it is a SIREN (padded to 9 digits), else a SIRET (padded to 14)."""
    if kind in (FieldType.INT, FieldType.DOUBLE):
        digits = exp.cast(exp.cast(value, "BIGINT"), "VARCHAR")
        width = exp.Case(ifs=[exp.If(this=exp.LT(this=value.copy(), expression=exp.Literal.number(10**9)),
                                     true=exp.Literal.number(9))], default=exp.Literal.number(14))
        return exp.func("lpad", digits, width, exp.Literal.string("0"))
    text = exp.RegexpReplace(this=exp.cast(value, "VARCHAR"), expression=exp.Literal.string("[^0-9]"),
                             replacement=exp.Literal.string(""), modifiers=exp.Literal.string("g"))
    return exp.func("nullif", text, exp.Literal.string(""))


@processor("sirene", "From a SIREN or SIRET field, add the company's name, NAF activity and address from the Sirene "
           "register of the hub (a SIREN gives the head office).",
           {"field": "required: the field holding SIREN or SIRET numbers", "prefix": "prefix of the added fields (default sirene)",
            "reference": "dataset_id of the Sirene reference (default ref-sirene, installed by `portail refdata sirene`)"},
           {"processor": "sirene", "field": "siret_titulaire", "prefix": "titulaire"})
def sirene(plan: Plan, params: dict[str, Any], step: str) -> Outcome:
    source = plan.field(require(params, "field", step), step)
    prefix = normalize_name(params.get("prefix", "sirene")) or "sirene"
    register = plan.table_of(params.get("reference", "ref-sirene"), step)
    new_fields = [Field(f"{prefix}_{name}", label, FieldType.TEXT) for name, label in OUTPUTS]
    taken = set(plan.names()) & {f.name for f in new_fields}
    if taken:
        raise IngestError(f"pipeline step {step}: the dataset already has a field {sorted(taken)[0]!r}; choose another prefix")
    key = _key(exp.column(source.name, table="p", quoted=True), source.type)
    width = exp.func("length", key.copy())
    row = exp.func("struct_pack", *[exp.PropertyEQ(this=exp.to_identifier(name), expression=exp.column(name, quoted=True))
                                    for name, _ in OUTPUTS])
    rank = exp.func("concat", exp.cast(exp.func("coalesce", exp.column("siege"), exp.false()), "INT"),
                    exp.cast(exp.func("coalesce", exp.column("actif"), exp.false()), "INT"), exp.column("siret"))
    # One establishment per SIREN: the head office, else an active one, else any (highest SIRET).
    companies = (exp.select(exp.alias_(exp.column("siren"), "k"), exp.alias_(exp.func("arg_max", row, rank), "v"))
                 .from_(register.copy()).group_by(exp.column("siren")))
    query = (exp.select(*[exp.column(n, table="p", quoted=True) for n in plan.names()],
                        *[exp.alias_(exp.func("coalesce", exp.column(name, table="e", quoted=True),
                                              exp.Dot(this=exp.column("v", table="h"), expression=exp.to_identifier(name))),
                                     f.name, quoted=True) for (name, _), f in zip(OUTPUTS, new_fields)])
             .from_(plan.query.subquery("p"))
             .join(register.as_("e"), join_type="left", on=exp.and_(exp.EQ(this=width, expression=exp.Literal.number(14)),
                                                                    exp.EQ(this=exp.column("siret", table="e"), expression=key)))
             .join(companies.subquery("h"), join_type="left",
                   on=exp.and_(exp.EQ(this=width.copy(), expression=exp.Literal.number(9)),
                               exp.EQ(this=exp.column("k", table="h"), expression=key.copy()))))
    unmatched = exp.and_(present(column(source.name)), absent(column(new_fields[0].name)))
    return Outcome(Plan(query, [*plan.fields, *new_fields], plan.reference, plan.schema_of),
                   counters_after={"unmatched": count_where(unmatched)}, listed={"unmatched": unmatched.copy()})
