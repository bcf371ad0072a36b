"""Field and record transforms: rename, delete, set type, replace, concatenate, normalize,
deduplicate, normalize dates, add a field or skip records with ODSQL, split, transpose. Each is
a relational rewrite of the plan (see ``base``); ODSQL text goes through the ODSQL compiler,
never into SQL."""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from portail.ingest.errors import IngestError
from portail.ingest.infer import override_cast
from portail.processors.base import (Outcome, Plan, check_regex, column, count_where, processor, replace_columns, require,
                                     wrap)
from portail.schema import Field, FieldType, normalize_name


def _changed(old: exp.Expression, new: exp.Expression) -> exp.Expression:
    return count_where(exp.NullSafeNEQ(this=old, expression=new))


def _failed(source: exp.Expression, result: exp.Expression) -> exp.Expression:
    """Values present before the step and null after it."""
    return count_where(exp.and_(exp.Not(this=exp.Is(this=source, expression=exp.Null())),
                                exp.Is(this=result.copy(), expression=exp.Null())))


@processor("rename", "Rename a field (its label follows unless given).",
           {"field": "required: current name", "to": "required: new name", "label": "new label"},
           {"processor": "rename", "field": "code_insee", "to": "com", "label": "Code commune"})
def rename(plan: Plan, params: dict[str, Any], step: str) -> Outcome:
    old = plan.field(require(params, "field", step), step)
    new = normalize_name(require(params, "to", step))
    if not new or (new != old.name and new in plan.names()):
        raise IngestError(f"pipeline step {step}: cannot rename {old.name!r} to {params['to']!r} (empty or taken)")
    projections, fields = [], []
    for f in plan.fields:
        if f is old:
            projections.append(exp.alias_(column(f.name), new, quoted=True))
            fields.append(Field(new, params.get("label") or (f.label if f.label != f.name else new), f.type, f.description,
                                dict(f.annotations)))
        else:
            projections.append(column(f.name))
            fields.append(f)
    return Outcome(wrap(plan, projections, fields))


@processor("delete", "Delete one or several fields.", {"fields": "required: a name or a list of names"},
           {"processor": "delete", "fields": ["commentaires"]})
def delete(plan: Plan, params: dict[str, Any], step: str) -> Outcome:
    names = params.get("fields") or params.get("field")
    names = [names] if isinstance(names, str) else names
    if not names:
        raise IngestError(f"pipeline step {step}: parameter 'fields' is required")
    for name in names:
        plan.field(name, step)
    if len(set(names)) == len(plan.fields):
        raise IngestError(f"pipeline step {step}: a dataset needs at least one field")
    return Outcome(replace_columns(plan, {}, drop=frozenset(names)))


@processor("set_type", "Change a field's type; values that cannot be read become null and are counted.",
           {"field": "required", "type": "required: text, int, double, boolean, date, datetime, geo_point_2d, geo_shape, json"},
           {"processor": "set_type", "field": "annee", "type": "text"})
def set_type(plan: Plan, params: dict[str, Any], step: str) -> Outcome:
    f = plan.field(require(params, "field", step), step)
    try:
        target = FieldType(require(params, "type", step))
    except ValueError:
        raise IngestError(f"pipeline step {step}: unknown type {params['type']!r}") from None
    cast = override_cast(f.name, target, staged_as_text=f.type == FieldType.TEXT)
    outcome = Outcome(replace_columns(plan, {f.name: cast}, types={f.name: target}))
    outcome.counters["failed"] = _failed(column(f.name), cast)
    return outcome


@processor("replace", "Replace text in a field, literally or by regular expression (RE2 syntax).",
           {"field": "required", "find": "required: text or pattern", "replace": "replacement (default empty); "
            "\\1 refers to a group", "regex": "true to read `find` as a regular expression"},
           {"processor": "replace", "field": "adresse", "find": "\\s+", "replace": " ", "regex": True})
def replace(plan: Plan, params: dict[str, Any], step: str) -> Outcome:
    f = plan.field(require(params, "field", step), step)
    find = exp.Literal.string(require(params, "find", step))
    by = exp.Literal.string(str(params.get("replace", "")))
    source = column(f.name) if f.type == FieldType.TEXT else exp.cast(column(f.name), "VARCHAR")
    if params.get("regex"):
        check_regex(find.this, step)
        new = exp.func("regexp_replace", source, find, by, exp.Literal.string("g"))
    else:
        new = exp.func("replace", source, find, by)
    outcome = Outcome(replace_columns(plan, {f.name: new}, types={f.name: FieldType.TEXT}))
    outcome.counters["changed"] = _changed(source.copy(), new)
    return outcome


@processor("concat", "Concatenate fields into a new (or existing) text field, skipping nulls.",
           {"fields": "required: list of names", "output": "required: name of the result", "separator": "default one space"},
           {"processor": "concat", "fields": ["numero", "voie"], "output": "adresse", "separator": " "})
def concat(plan: Plan, params: dict[str, Any], step: str) -> Outcome:
    names = require(params, "fields", step, list)
    for name in names:
        plan.field(name, step)
    output = normalize_name(require(params, "output", step))
    parts = [exp.cast(column(n), "VARCHAR") for n in names]
    # Anonymous: sqlglot's ConcatWs would turn one null part into a null result.
    value = exp.Anonymous(this="concat_ws", expressions=[exp.Literal.string(str(params.get("separator", " "))), *parts])
    value = exp.func("nullif", value, exp.Literal.string(""))
    if output in plan.names():
        return Outcome(replace_columns(plan, {output: value}, types={output: FieldType.TEXT}))
    added = Field(output, params.get("label") or output, FieldType.TEXT)
    return Outcome(replace_columns(plan, {output: value}, added=[added]))


@processor("normalize", "Trim spaces, change case, strip accents of a text field.",
           {"field": "required", "trim": "default true (also folds inner runs of spaces)", "case": "lower or upper",
            "accents": "strip to remove them"},
           {"processor": "normalize", "field": "commune", "case": "upper", "accents": "strip"})
def normalize(plan: Plan, params: dict[str, Any], step: str) -> Outcome:
    f = plan.field(require(params, "field", step), step)
    value: exp.Expression = column(f.name) if f.type == FieldType.TEXT else exp.cast(column(f.name), "VARCHAR")
    if params.get("trim", True):
        value = exp.func("regexp_replace", exp.func("trim", value), exp.Literal.string(r"\s+"), exp.Literal.string(" "),
                         exp.Literal.string("g"))
    if params.get("accents") == "strip":
        value = exp.func("strip_accents", value)
    case = params.get("case")
    if case in ("lower", "upper"):
        value = exp.func(case, value)
    elif case is not None:
        raise IngestError(f"pipeline step {step}: case must be lower or upper")
    outcome = Outcome(replace_columns(plan, {f.name: value}, types={f.name: FieldType.TEXT}))
    outcome.counters["changed"] = _changed(exp.cast(column(f.name), "VARCHAR"), value)
    return outcome


@processor("deduplicate", "Keep one record of each set of identical records (or identical on the given fields).",
           {"fields": "names that define a duplicate (default: all fields)"},
           {"processor": "deduplicate", "fields": ["siret"]})
def deduplicate(plan: Plan, params: dict[str, Any], step: str) -> Outcome:
    names = params.get("fields")
    if not names:
        outcome = Outcome(wrap(plan, [column(n) for n in plan.names()], list(plan.fields), distinct=True))
        outcome.counters["removed"] = exp.Sub(this=exp.func("count", exp.Star()), expression=exp.func(
            "count", exp.Distinct(expressions=[exp.func("row", *[column(n) for n in plan.names()])])))
        return outcome
    names = [names] if isinstance(names, str) else names
    for name in names:
        plan.field(name, step)
    keys = [column(n) for n in names]
    numbered = exp.select(*[column(n) for n in plan.names()],
                          exp.alias_(exp.Window(this=exp.func("row_number"), partition_by=keys), "__n")
                          ).from_(plan.query.subquery("p"))
    query = exp.select(*[column(n) for n in plan.names()]).from_(numbered.subquery("d")).where(
        exp.EQ(this=exp.column("__n"), expression=exp.Literal.number(1)))
    outcome = Outcome(Plan(query, list(plan.fields), plan.reference, plan.schema_of))
    outcome.counters["removed"] = exp.Sub(this=exp.func("count", exp.Star()), expression=exp.func(
        "count", exp.Distinct(expressions=[exp.func("row", *keys)])))
    return outcome


@processor("date_normalize", "Read a text field as a date (or datetime) with the given strptime formats, tried in order.",
           {"field": "required", "formats": "required: list of formats such as %d/%m/%Y, %Y%m%d, or excel for "
            "spreadsheet serial numbers (days since 1899-12-30)", "type": "date (default) or datetime"},
           {"processor": "date_normalize", "field": "date_acte", "formats": ["%Y%m%d", "%d/%m/%Y", "excel"]})
def date_normalize(plan: Plan, params: dict[str, Any], step: str) -> Outcome:
    f = plan.field(require(params, "field", step), step)
    formats = require(params, "formats", step, list)
    target = FieldType(params.get("type", "date"))
    if target not in (FieldType.DATE, FieldType.DATETIME):
        raise IngestError(f"pipeline step {step}: type must be date or datetime")
    text = exp.func("trim", exp.cast(column(f.name), "VARCHAR"))
    patterns = [x for x in formats if x != "excel"]
    parsed = (exp.func("try_strptime", text, exp.Array(expressions=[exp.Literal.string(x) for x in patterns]))
              if patterns else exp.cast(exp.Null(), "TIMESTAMP"))
    if "excel" in formats:  # a serial number of days (fraction: time of day) between 1900 and 9999
        serial = exp.TryCast(this=exp.func("replace", text.copy(), exp.Literal.string(","), exp.Literal.string(".")),
                             to=exp.DataType.build("DOUBLE"))
        days = exp.Add(this=exp.cast(exp.Literal.string("1899-12-30"), "TIMESTAMP"), expression=exp.func(
            "to_microseconds", exp.cast(exp.func("round", exp.Mul(this=serial, expression=exp.Literal.number(86_400_000_000))),
                                        "BIGINT")))
        in_range = exp.Between(this=serial.copy(), low=exp.Literal.number(1), high=exp.Literal.number(2_958_465))
        parsed = exp.func("coalesce", parsed, exp.Case(ifs=[exp.If(this=in_range, true=days)]))
    value = exp.cast(parsed, "DATE") if target == FieldType.DATE else exp.cast(parsed, "TIMESTAMPTZ")
    outcome = Outcome(replace_columns(plan, {f.name: value}, types={f.name: target}))
    outcome.counters["failed"] = _failed(column(f.name), value)
    return outcome


def _odsql(plan: Plan, step: str, **clauses: Any):
    """Compile publisher text with the ODSQL compiler against the records so far: names resolve
    against the schema and constants become literals, so the text never reaches SQL. The
    compiled expressions read the table ``records``: the previous plan is aliased so."""
    from portail.odsql import ODSQLError, Query, compile_plan
    from portail.store.fulltext import with_scans

    try:
        compiled = compile_plan(Query(geometry="wkb", **clauses), plan.fields)
    except ODSQLError as error:
        raise IngestError(f"pipeline step {step}: {error.detail} (in {error.clause})") from None
    with_scans(compiled.select)  # the load's engine has no full-text index: text matches scan the rows
    return compiled


@processor("add_field", "Add a field computed from an ODSQL expression of the other fields (as in the `select` "
           "parameter of the Explore API); its type follows the expression.",
           {"output": "required: name of the new field", "expression": "required: ODSQL expression",
            "label": "label of the new field"},
           {"processor": "add_field", "output": "montant_ttc", "expression": "montant_ht * 1.2"})
def add_field(plan: Plan, params: dict[str, Any], step: str) -> Outcome:
    output = normalize_name(require(params, "output", step))
    if not output or output in plan.names():
        raise IngestError(f"pipeline step {step}: the dataset already has a field {output!r}")
    compiled = _odsql(plan, step, select=str(require(params, "expression", step)))
    if compiled.aggregated or len(compiled.columns) != 1:
        raise IngestError(f"pipeline step {step}: the expression must give one value per record (no aggregate, no *)")
    value = compiled.select.expressions[0].unalias()
    kind = compiled.columns[0].type
    if kind in (FieldType.GEO_POINT_2D, FieldType.GEO_SHAPE):
        value = exp.func("ST_GeomFromWKB", value)
    projections = [column(n) for n in plan.names()] + [exp.alias_(value, output, quoted=True)]
    added = Field(output, params.get("label") or output, kind)
    query = exp.select(*projections).from_(plan.query.subquery("records"))
    return Outcome(Plan(query, [*plan.fields, added], plan.reference, plan.schema_of),
                   counters_after={"null": count_where(exp.Is(this=column(output), expression=exp.Null()))})


@processor("skip", "Drop the records matching an ODSQL filter (as in the `where` parameter of the Explore API); "
           "they are counted.",
           {"where": "required: ODSQL condition"},
           {"processor": "skip", "where": "montant <= 0 or siret is null"})
def skip(plan: Plan, params: dict[str, Any], step: str) -> Outcome:
    compiled = _odsql(plan, step, where=[str(require(params, "where", step))])
    condition = compiled.select.args["where"].this
    matched = exp.func("coalesce", condition, exp.false())
    query = (exp.select(*[column(n) for n in plan.names()]).from_(plan.query.subquery("records"))
             .where(exp.Not(this=matched.copy())))
    counters = exp.select(exp.alias_(count_where(matched), "skipped")).from_(plan.query.subquery("records"))
    return Outcome(Plan(query, list(plan.fields), plan.reference, plan.schema_of), counters_query=counters)


def _separator_pattern(separator: str) -> exp.Expression:
    """The separator with the spaces around it, as an RE2 pattern."""
    import re

    return exp.Literal.string(r"\s*" + re.escape(separator) + r"\s*")


@processor("split", "Split a text field on a separator, into several fields or into one multivalued field "
           "(searchable with `\"x\" in field`).",
           {"field": "required", "separator": "required: the text between values", "into": "list of new field names "
            "(the parts in order; missing parts are null)", "multivalued": "true to keep one field and mark it multivalued"},
           {"processor": "split", "field": "coordonnees", "separator": ",", "into": ["latitude", "longitude"]})
def split(plan: Plan, params: dict[str, Any], step: str) -> Outcome:
    f = plan.field(require(params, "field", step), step)
    separator = str(require(params, "separator", step))
    text = exp.func("trim", exp.cast(column(f.name), "VARCHAR"))
    pattern = _separator_pattern(separator)
    has_separator = count_where(exp.func("regexp_matches", text.copy(), pattern.copy()))
    if params.get("multivalued"):
        if params.get("into"):
            raise IngestError(f"pipeline step {step}: give either into or multivalued, not both")
        value = exp.RegexpReplace(this=text, expression=pattern, replacement=exp.Literal.string(separator),
                                  modifiers=exp.Literal.string("g"))
        changed = replace_columns(plan, {f.name: value}, types={f.name: FieldType.TEXT})
        target = changed.fields[plan.names().index(f.name)]
        target.annotations["multivalued"] = [separator]
        return Outcome(changed, {"changed": has_separator})
    into = [normalize_name(n) for n in require(params, "into", step, list)]
    taken = [n for n in into if n in plan.names() and n != f.name]
    if taken or len(set(into)) != len(into):
        raise IngestError(f"pipeline step {step}: field {(taken or into)[0]!r} already exists")
    parts = exp.func("regexp_split_to_array", text, pattern)
    changes = {name: exp.func("nullif", exp.Anonymous(this="list_extract", expressions=[parts.copy(), exp.Literal.number(i)]),
                              exp.Literal.string(""))
               for i, name in enumerate(into, start=1)}
    kept = [n for n in into if n == f.name]
    added = [Field(n, n, FieldType.TEXT) for n in into if n != f.name]
    outcome = Outcome(replace_columns(plan, changes, types={n: FieldType.TEXT for n in kept}, added=added),
                      {"changed": has_separator})
    outcome.counters["extra_parts"] = count_where(exp.GT(this=exp.func("len", parts.copy()), expression=exp.Literal.number(len(into))))
    return outcome


@processor("transpose", "Turn columns into rows: each record gives one record per listed field that has a value, "
           "with the field's name in `key` and its value in `value` (the other fields are repeated).",
           {"fields": "required: the fields to turn into rows", "key": "name of the field holding the former field "
            "name (default variable)", "value": "name of the field holding the value (default valeur)",
            "use_labels": "true to put the fields' labels in `key` instead of their names"},
           {"processor": "transpose", "fields": ["pop_2019", "pop_2020", "pop_2021"], "key": "annee", "value": "population"})
def transpose(plan: Plan, params: dict[str, Any], step: str) -> Outcome:
    moved = [plan.field(n, step) for n in require(params, "fields", step, list)]
    key, value = normalize_name(params.get("key", "variable")), normalize_name(params.get("value", "valeur"))
    kept = [f for f in plan.fields if f not in moved]
    if key == value or {key, value} & {f.name for f in kept}:
        raise IngestError(f"pipeline step {step}: key and value must be two new field names")
    kinds = {f.type for f in moved}
    kind = kinds.pop() if len(kinds) == 1 else FieldType.TEXT
    def cast(e: exp.Expression) -> exp.Expression:  # mixed types travel as text
        return e if kind != FieldType.TEXT else exp.cast(e, "VARCHAR")

    names = [(f.label if params.get("use_labels") else f.name) for f in moved]
    keys = exp.Array(expressions=[exp.Literal.string(n) for n in names])
    values = exp.Array(expressions=[cast(column(f.name)) for f in moved])
    # Two unnests in one SELECT advance together: one row per (name, value) pair.
    unnested = exp.select(*[column(f.name) for f in kept], exp.alias_(exp.Unnest(expressions=[keys]), key, quoted=True),
                          exp.alias_(exp.Unnest(expressions=[values]), value, quoted=True)).from_(plan.query.subquery("p"))
    query = (exp.select(*[column(f.name) for f in [*kept]], column(key), column(value)).from_(unnested.subquery("t"))
             .where(exp.Not(this=exp.Is(this=column(value), expression=exp.Null()))))
    fields = [*kept, Field(key, key, FieldType.TEXT), Field(value, value, kind)]
    counters = {"records_in": exp.func("count", exp.Star()),
                "records_out": exp.func("coalesce", exp.func("sum", exp.func("list_count", values.copy())), exp.Literal.number(0))}
    return Outcome(Plan(query, fields, plan.reference, plan.schema_of), counters)
