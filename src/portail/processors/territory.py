"""Enrichment with the reference-data hub: administrative divisions from an INSEE code.

Joins the dataset with ``ref-communes`` (installed by ``portail refdata install``) inside the
engine. Codes are normalised first (zero padding lost by spreadsheets, lower-case Corsican
``2a``), and a former code is remapped to the current commune through
``ref-commune-successeurs``; unmatched and remapped codes are counted in the report.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from portail.processors import geo_index
from portail.processors.base import Outcome, Plan, absent, column, count_where, present, processor, require
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
    after = Plan(query, [*plan.fields, *new_fields], plan.reference, plan.schema_of)
    source_column, found = column(source.name), column(new_fields[0].name)
    unmatched = exp.and_(present(source_column), absent(found))
    remapped = exp.and_(present(found.copy()), exp.NEQ(this=found.copy(), expression=normalized_code(source_column.copy())))
    return Outcome(after, counters_after={"unmatched": count_where(unmatched), "remapped": count_where(remapped)},
                   listed={"unmatched": unmatched.copy()})


#: Columns of ref-communes brought by geo_join (the commune carries its EPCI, département, région).
GEO_JOIN_OUTPUTS = [o for o in OUTPUTS if o[0] != "population"]


def _check_contours(plan: Plan, reference: str, step: str) -> None:
    """The reference must have the communes' columns and contours, said before its index is built."""
    from portail.ingest.errors import IngestError

    kinds = {f.name: f.type for f in (plan.schema_of(reference) if plan.schema_of else [])}
    if not kinds:
        return
    missing = [name for name, *_ in GEO_JOIN_OUTPUTS if name not in kinds]
    if missing or kinds.get("geo_shape") != FieldType.GEO_SHAPE:
        raise IngestError(f"pipeline step {step}: dataset {reference!r} has no "
                          f"{repr(missing[0]) if missing else 'geo_shape contour'} field; geo_join needs a reference with "
                          f"the columns of ref-communes ({', '.join(n for n, *_ in GEO_JOIN_OUTPUTS)}) and geo_shape")


@processor("geo_join", "For each point (or the centroid of each shape), add the commune that contains it, with its "
           "EPCI, département and région (codes and names). The reference's contours are indexed on a grid once per "
           "reference version (at install for ref-communes, else by the first load that needs it): looking up a "
           "million points takes about half a second.",
           {"field": "geo_point_2d or geo_shape field (default: the first geo field)",
            "prefix": "prefix of the added fields (default commune)",
            "reference": "dataset_id of the communes reference with contours (default ref-communes; another "
                         "reference needs its columns: code, nom, dep_code, dep_nom, reg_code, reg_nom, epci_siren, "
                         "epci_nom, geo_shape)"},
           {"processor": "geo_join", "field": "geo_point_2d", "prefix": "commune"})
def geo_join(plan: Plan, params: dict[str, Any], step: str) -> Outcome:
    from portail.ingest.errors import IngestError

    if params.get("field"):
        source = plan.field(params["field"], step)
    else:
        geo = [f for f in plan.fields if f.type in (FieldType.GEO_POINT_2D, FieldType.GEO_SHAPE)]
        if not geo:
            raise IngestError(f"pipeline step {step}: the dataset has no geo_point_2d or geo_shape field")
        source = geo[0]
    if source.type not in (FieldType.GEO_POINT_2D, FieldType.GEO_SHAPE):
        raise IngestError(f"pipeline step {step}: field {source.name!r} is not a geo field (build one with geopoint)")
    prefix = normalize_name(params.get("prefix", "commune")) or "commune"
    new_fields = [Field(f"{prefix}_{suffix}", label, kind) for _, suffix, label, kind in GEO_JOIN_OUTPUTS]
    taken = set(plan.names()) & {f.name for f in new_fields}
    if taken:
        raise IngestError(f"pipeline step {step}: the dataset already has a field {sorted(taken)[0]!r}; choose another prefix")
    reference = params.get("reference", "ref-communes")
    communes = plan.table_of(reference, step)
    _check_contours(plan, reference, step)
    cells = plan.table_of(reference, step, derive=geo_index.ensure_index)
    point = exp.column(source.name, table="q", quoted=True)
    if source.type == FieldType.GEO_SHAPE:
        point = exp.func("ST_Centroid", point)
    located = exp.select(exp.Star(), exp.alias_(point, "__pt")).from_(plan.query.subquery("q"))
    # One index row per cell, so the left joins keep one row per record; the commune's code
    # comes from the cell alone inside a commune, else from the one piece holding the point.
    at = exp.column("__pt", table="p")
    key = geo_index.cell_key(exp.func("ST_X", at.copy()), exp.func("ST_Y", at.copy()))
    projections = [exp.column(name, table="p", quoted=True) for name in plan.names()]
    projections += [exp.alias_(exp.column(column_name, table="c"), f.name, quoted=True)
                    for (column_name, *_), f in zip(GEO_JOIN_OUTPUTS, new_fields)]
    query = (exp.select(*projections).from_(located.subquery("p"))
             .join(cells.as_("g"), on=exp.EQ(this=exp.column("cell", table="g"), expression=key), join_type="left")
             .join(communes.as_("c"), on=exp.EQ(this=exp.column("code", table="c"), expression=geo_index.code_of("g", at)),
                   join_type="left"))
    after = Plan(query, [*plan.fields, *new_fields], plan.reference, plan.schema_of)
    outside = exp.and_(present(column(source.name)), absent(column(new_fields[0].name)))
    return Outcome(after, counters_after={"outside": count_where(outside)}, listed={"outside": outside.copy()})


@processor("join_dataset", "Left-join another published dataset on one or more key fields and bring chosen fields "
           "(the first match when several records share a key).",
           {"dataset": "required: dataset_id to join with", "keys": "required: local key field(s)",
            "remote_keys": "the other dataset's key field(s) (default: same names)",
            "fields": "required: fields to bring", "prefix": "prefix of the added fields (default: none)"},
           {"processor": "join_dataset", "dataset": "ref-communes", "keys": ["code_commune"], "remote_keys": ["code"],
            "fields": ["population"], "prefix": "commune_"})
def join_dataset(plan: Plan, params: dict[str, Any], step: str) -> Outcome:
    from portail.ingest.errors import IngestError
    from portail.schema import Field as SchemaField

    other_id = require(params, "dataset", step)
    keys = require(params, "keys", step, list)
    remote_keys = params.get("remote_keys") or keys
    remote_keys = [remote_keys] if isinstance(remote_keys, str) else remote_keys
    wanted = require(params, "fields", step, list)
    if len(keys) != len(remote_keys):
        raise IngestError(f"pipeline step {step}: keys and remote_keys must have the same length")
    for key in keys:
        plan.field(key, step)
    other = plan.table_of(other_id, step)
    other_fields = {f.name: f for f in (plan.schema_of(other_id) if plan.schema_of else [])}
    missing = [n for n in [*remote_keys, *wanted] if other_fields and n not in other_fields]
    if missing:
        raise IngestError(f"pipeline step {step}: dataset {other_id!r} has no field {missing[0]!r}")
    prefix = params.get("prefix", "")
    added = [SchemaField(normalize_name(prefix + name), (other_fields[name].label if name in other_fields else name),
                         other_fields[name].type if name in other_fields else FieldType.TEXT) for name in wanted]
    taken = set(plan.names()) & {f.name for f in added}
    if taken:
        raise IngestError(f"pipeline step {step}: the dataset already has a field {sorted(taken)[0]!r}; set a prefix")
    # One row per remote key: the first in the other dataset's storage order.
    remote = (exp.select(*[exp.alias_(exp.cast(exp.column(k, quoted=True), "VARCHAR"), f"__k{i}") for i, k in enumerate(remote_keys)],
                         *[exp.alias_(exp.func("first", exp.column(n, quoted=True)), f"__v{i}") for i, n in enumerate(wanted)])
              .from_(other).group_by(*[exp.cast(exp.column(k, quoted=True), "VARCHAR") for k in remote_keys]))
    condition = exp.and_(*[exp.EQ(this=exp.column(f"__k{i}", table="o"),
                                  expression=exp.cast(exp.column(k, table="p", quoted=True), "VARCHAR"))
                           for i, k in enumerate(keys)])
    projections = [exp.column(n, table="p", quoted=True) for n in plan.names()]
    projections += [exp.alias_(exp.column(f"__v{i}", table="o"), f.name, quoted=True) for i, f in enumerate(added)]
    query = exp.select(*projections).from_(plan.query.subquery("p")).join(remote.subquery("o"), on=condition, join_type="left")
    unmatched = exp.and_(*[present(column(k)) for k in keys], absent(column(added[0].name)))
    return Outcome(Plan(query, [*plan.fields, *added], plan.reference, plan.schema_of),
                   counters_after={"unmatched": count_where(unmatched)}, listed={"unmatched": unmatched.copy()})
