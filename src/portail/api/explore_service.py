"""What the Explore API answers, without HTTP: resolve a dataset a portal may show, check
paging parameters as Opendatasoft does, build the query, run it in the store.

The HTML portal calls these functions too. Queries are sqlglot expressions over ``records``;
field names come from the dataset schema, never from request text.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from portail.api.errors import ApiError, invalid_parameter, not_found
from portail.api.facets import conditions_for, default_facets, facet_values, parse_facet, parse_refinements
from portail.api.serialize import records_json
from portail.values import output_expression, record_id_expression
from portail.catalog import services
from portail.catalog.models import Dataset
from portail.operations import Instance
from portail.schema import Field, fields_from_json

MAX_LIMIT = 100
MAX_WINDOW = 10_000


def check_paging(limit: int, offset: int, *, max_limit: int = MAX_LIMIT, window: int = MAX_WINDOW) -> int:
    """Opendatasoft's bounds and messages; returns the effective limit (-1 means the maximum)."""
    if limit < -1 or limit > max_limit:
        raise invalid_parameter(f"Invalid value for limit API parameter: {limit} was found but -1 <= limit <= {max_limit} is expected.")
    if offset < 0:
        raise invalid_parameter(f"Invalid value for offset API parameter: {offset} was found but offset >= 0 is expected.")
    effective = max_limit if limit == -1 else limit
    if offset + effective > window:
        raise invalid_parameter(f"Invalid value for sum of offset + limit API parameter: {offset + effective} was found "
                                f"but <= {window} is expected.")
    return effective


def odsql_error(message: str, clause: str) -> ApiError:
    return ApiError(400, "ODSQLError", f"ODSQL query is malformed: {message} Clause(s) containing the error(s): {clause}.")


def visible_datasets(instance: Instance, portal: str) -> list[Dataset]:
    with instance.session() as session:
        return [d for d in services.list_datasets(session, portal) if d.current_version is not None]


def get_visible_dataset(instance: Instance, portal: str, dataset_id: str) -> Dataset:
    with instance.session() as session:
        try:
            dataset = services.get_dataset(session, dataset_id)
        except services.NotFound:
            dataset = None
    if dataset is None or portal not in (dataset.portals or []) or dataset.current_version is None:
        raise not_found(f"Unknown dataset: {dataset_id}")
    return dataset


_ORDER_ITEM = re.compile(r"^\s*(`(?:[^`\\]|\\.)+`|[A-Za-z_][A-Za-z0-9_]*)\s*(asc|desc)?\s*$", re.IGNORECASE)


def parse_order_by(text: str | None, fields: list[Field]) -> list[exp.Ordered]:
    """``field [asc|desc], …`` over the schema (the full ODSQL order_by arrives with odsql/)."""
    if not text or not text.strip():
        return []
    by_name = {f.name: f for f in fields}
    ordered = []
    for item in text.split(","):
        match = _ORDER_ITEM.match(item)
        if not match:
            raise odsql_error(f"invalid order_by expression {item.strip()!r}.", "order_by")
        name = match.group(1).strip("`").replace("\\`", "`")
        if name not in by_name:
            raise odsql_error(f"Unknown field: {name}", "order_by")
        descending = (match.group(2) or "asc").lower() == "desc"
        ordered.append(exp.Ordered(this=exp.column(name, quoted=True), desc=descending, nulls_first=False))
    return ordered


def parse_select(text: str | None, fields: list[Field]) -> list[Field]:
    if not text or text.strip() == "*":
        return fields
    by_name = {f.name: f for f in fields}
    chosen = []
    for item in text.split(","):
        name = item.strip().strip("`")
        if name == "*":
            chosen.extend(fields)
        elif name in by_name:
            chosen.append(by_name[name])
        else:
            raise odsql_error(f"Unknown field: {name}", "select")
    return chosen


@dataclass
class RecordsPage:
    total_count: int
    results: list[dict[str, Any]]
    next_cursor: str | None = None


CURSOR_MAX_LIMIT = 10_000


def filters(fields: list[Field], refine: list[str] | None, exclude: list[str] | None) -> tuple[list, list[exp.Expression]]:
    """The refinements and the conditions every records, facets and export query applies."""
    refinements = parse_refinements(refine or [], fields, exclude=False) + parse_refinements(exclude or [], fields, exclude=True)
    return refinements, conditions_for(refinements)


def _where(query: exp.Select, conditions: list[exp.Expression]) -> exp.Select:
    return query.where(exp.and_(*conditions)) if conditions else query


def encode_cursor(version: int, rowid: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([version, rowid]).encode()).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[int | None, int]:
    """``""`` starts a walk; otherwise (version, last rowid seen)."""
    if not text:
        return None, -1
    try:
        version, rowid = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        return int(version), int(rowid)
    except (ValueError, TypeError):
        raise invalid_parameter("Invalid value for after API parameter: not a cursor returned by this API.") from None


GROUP_WINDOW = 20_000


def compile_odsql(fields: list[Field], **clauses: Any):
    """An ODSQL query compiled over the schema, its errors as Opendatasoft's 400s."""
    from portail.odsql import ODSQLError, Query, compile_plan

    try:
        return compile_plan(Query(**clauses), fields)
    except ODSQLError as error:
        raise ApiError(400, "ODSQLError", error.message) from None
    except ValueError as error:
        raise invalid_parameter(f"Invalid value for timezone API parameter: {error}") from None


def where_condition(fields: list[Field], where: list[str] | None, timezone: str = "UTC") -> list[exp.Expression]:
    """The ODSQL ``where`` parameters (ANDed) as one condition, or nothing."""
    if not any(w and w.strip() for w in where or []):
        return []
    plan = compile_odsql(fields, where=list(where), timezone=timezone)
    condition = plan.select.args.get("where")
    return [condition.this] if condition is not None else []


def query_records(instance: Instance, dataset: Dataset, *, select: str | None = None, order_by: str | None = None,
                  limit: int = 10, offset: int = 0, refine: list[str] | None = None,
                  exclude: list[str] | None = None, after: str | None = None, with_ids: bool = False,
                  extra_conditions: list[exp.Expression] | None = None, where: list[str] | None = None,
                  group_by: str | None = None, lang: str = "fr", timezone: str = "UTC") -> RecordsPage:
    """A page of records, or of groups when the query aggregates (ODSQL select/where/group_by/
    order_by). With ``after`` (beyond Opendatasoft), pages follow a cursor instead of an
    offset: no 10,000-record window, pages of up to 10,000 records, and every page comes from
    the version the walk started on, even if a newer one is published meanwhile."""
    version = dataset.current
    if after is not None:
        if offset or order_by or group_by:
            raise invalid_parameter("The after API parameter walks the records in storage order: "
                                    "it cannot be combined with offset, order_by or group_by.")
        number, last_rowid = decode_cursor(after)
        if number is not None:
            version = dataset.version(number)
            if version is None or version.status != "ready":
                raise ApiError(410, "CursorExpired", "The version this cursor walks is no longer kept; start again.")
    fields = fields_from_json(version.fields)
    _, conditions = filters(fields, refine, exclude)
    conditions += where_condition(fields, where, timezone) + list(extra_conditions or [])
    plan = compile_odsql(fields, select=select, group_by=group_by, order_by=order_by if after is None else None,
                         lang=lang, timezone=timezone)
    query = _where(plan.select, conditions)
    columns = list(plan.columns)
    if plan.aggregated:
        effective = check_paging(limit, offset, max_limit=GROUP_WINDOW, window=GROUP_WINDOW)
        count = exp.select("count(*) AS n").from_(query.subquery("g"))
        total = min(instance.store.query(version.location, count).column("n")[0].as_py(), GROUP_WINDOW)
        rows = instance.store.query(version.location, query.limit(effective).offset(offset)).to_pylist() if effective else []
        return RecordsPage(total, records_json(columns, rows))
    if conditions:
        count = _where(exp.select("count(*) AS n").from_("records"), conditions)
        total = instance.store.query(version.location, count).column("n")[0].as_py()
    else:  # an unfiltered count is known since the version was built
        total = version.row_count or 0
    if with_ids:
        query = query.select(exp.alias_(record_id_expression(fields), "_id"))
    if after is not None:
        effective = check_paging(limit, 0, max_limit=CURSOR_MAX_LIMIT, window=CURSOR_MAX_LIMIT)
        if effective == 0:
            return RecordsPage(total, [])
        rowid = exp.column("rowid")
        query = _where(query.select(exp.alias_(rowid, "__rowid")), [rowid > exp.Literal.number(last_rowid)])
        rows = instance.store.query(version.location, query.order_by(rowid.copy()).limit(effective)).to_pylist()
        following = encode_cursor(version.number, rows[-1]["__rowid"]) if len(rows) == effective else None
        return RecordsPage(total, _with_ids(columns, rows, with_ids), following)
    effective = check_paging(limit, offset)
    if effective == 0:
        return RecordsPage(total, [])
    rows = instance.store.query(version.location, query.limit(effective).offset(offset)).to_pylist()
    return RecordsPage(total, _with_ids(columns, rows, with_ids))


def _with_ids(fields: list[Field], rows: list[dict[str, Any]], with_ids: bool) -> list[dict[str, Any]]:
    records = records_json(fields, rows)
    if with_ids:
        for record, row in zip(records, rows):
            record["_id"] = row["_id"]
    return records


def get_record(instance: Instance, dataset: Dataset, record_id: str, *, select: str | None = None) -> dict[str, Any]:
    version = dataset.current
    fields = fields_from_json(version.fields)
    chosen = parse_select(select, fields)
    if not re.fullmatch(r"[0-9a-f]{40}", record_id):
        raise not_found(f"Unknown record: {record_id}")
    query = exp.select(*[exp.alias_(output_expression(f), f.name, quoted=True) for f in chosen]).from_("records").where(
        exp.EQ(this=record_id_expression(fields), expression=exp.Literal.string(record_id))).limit(1)
    rows = instance.store.query(version.location, query).to_pylist()
    if not rows:
        raise not_found(f"Unknown record: {record_id}")
    return records_json(chosen, rows)[0]


def dataset_facets(instance: Instance, dataset: Dataset, *, facet: list[str] | None = None,
                   refine: list[str] | None = None, exclude: list[str] | None = None,
                   where: list[str] | None = None, timezone: str = "UTC") -> list[dict[str, Any]]:
    version = dataset.current
    fields = fields_from_json(version.fields)
    specs = [parse_facet(text, fields) for text in facet] if facet else default_facets(fields)
    refinements, _ = filters(fields, refine, exclude)
    base = where_condition(fields, where, timezone)

    def run(query: exp.Select) -> list[dict[str, Any]]:
        return instance.store.query(version.location, query).to_pylist()

    return [{"name": spec.field.name, "facets": facet_values(run, spec, refinements, base)} for spec in specs]


def export_stream(instance: Instance, dataset: Dataset, fmt_name: str, *, select: str | None = None,
                  order_by: str | None = None, limit: int = -1, options=None, refine: list[str] | None = None,
                  exclude: list[str] | None = None, where: list[str] | None = None, timezone: str = "UTC"):
    """The bytes of an export, streamed: (format, iterator). Checks happen before the first byte."""
    from portail.exports import FORMATS, ExportOptions, columns_for

    fmt = FORMATS.get(fmt_name)
    if fmt is None:
        raise not_found(f"Unknown export format: {fmt_name}")
    if limit < -1:
        raise invalid_parameter(f"Invalid value for limit API parameter: {limit} was found but limit >= -1 is expected.")
    version = dataset.current
    fields = parse_select(select, fields_from_json(version.fields))
    if fmt.needs_geo and not any(f.type in ("geo_point_2d", "geo_shape") for f in fields):
        raise ApiError(400, "InvalidRESTParameterError", f"The {fmt_name} export needs a geo_point_2d or geo_shape field.")
    _, conditions = filters(fields_from_json(version.fields), refine, exclude)
    conditions += where_condition(fields_from_json(version.fields), where, timezone)
    query = _where(exp.select(*columns_for(fields, fmt)).from_("records"), conditions)
    ordering = parse_order_by(order_by, fields_from_json(version.fields))
    if ordering:
        query = query.order_by(*ordering)
    if limit >= 0:
        query = query.limit(limit)
    options = options or ExportOptions()
    if options.epsg != 4326:
        from pyproj import CRS
        from pyproj.exceptions import CRSError

        try:
            CRS.from_epsg(options.epsg)
        except CRSError:
            raise invalid_parameter(f"Invalid value for epsg API parameter: {options.epsg} is not a known EPSG code.") from None
    batches = instance.store.stream(version.location, query)
    return fmt, fmt.writer(fields, batches, options)
