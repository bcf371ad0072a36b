"""What the Explore API answers, without HTTP: resolve a dataset a portal may show to a caller,
check paging parameters as Opendatasoft does, build the query, run it in the store.

Security lives here, in the query path, not in the routes: every function takes the caller's
``Principal`` (default: anonymous, so a forgotten argument hides data rather than leaking it)
and applies ``auth.can`` (which datasets exist for the caller) and ``auth.security_for`` (the
row filter and hidden fields, compiled by ``odsql`` into every query: records, record by id,
counts, facets, aggregates, exports). Hidden fields behave as unknown fields everywhere,
error messages included. A restricted dataset the caller may not read is "Unknown dataset",
exactly like a missing one, unless its metadata is public (then its records are refused).

The datasets handed out (``visible_datasets``, ``get_visible_dataset``) are detached copies
shaped for the caller: hidden fields are gone from their schema, ``records_count`` counts the
rows the caller may see (one count query per dataset with a row filter), and a caller without
record access sees no count and no attachments. Catalogue, catalogue exports, v1 and the web
pages serialise those, so none of them can show more than the caller may see.

The HTML portal calls these functions too. Queries are sqlglot expressions over ``records``;
field names come from the dataset schema, never from request text.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select as sql_select
from sqlglot import exp

from portail import odsql
from portail.odsql.ast import quote_name
from portail.api.cursors import cursor_version, open_cursor, seal, version_key
from portail.api.errors import ApiError, invalid_parameter, not_found
from portail.api.facets import (as_faceted, conditions_for, default_facets, disjunctive_fields, facets_values, parse_facets,
                                 parse_refinements, zone)
from portail.api.serialize import Exposure, expose, records_json
from portail.api.text_search import text_condition
from portail.auth import ANONYMOUS, DatasetRef, Principal, can, security_for
from portail.auth import services as auth_services
from portail.auth.audit import record as audit
from portail.auth.models import DatasetSecurity
from portail.store import Prepared
from portail.store.fulltext import rowids_condition
from portail.values import record_id_expression
from portail.catalog import services
from portail.catalog.generation import GenerationCache
from portail.catalog.models import Dataset, DatasetVersion
from portail.operations import Instance, settled_stamp
from portail.schema import Field, FieldType, fields_from_json

MAX_LIMIT = 100
MAX_WINDOW = 10_000


def check_paging(limit: int, offset: int, *, max_limit: int = MAX_LIMIT, window: int = MAX_WINDOW) -> int:
    """Opendatasoft's bounds and messages; returns the effective limit (-1: as many as the page
    size and the window allow from ``offset``, the reference leaving it undocumented)."""
    if limit < -1 or limit > max_limit:
        bound = f"-1 <= limit <= {max_limit}" if max_limit < 2**53 else "limit >= -1"  # no internal bound shown
        raise invalid_parameter(f"Invalid value for limit API parameter: {limit} was found but {bound} is expected.")
    if offset < 0:
        raise invalid_parameter(f"Invalid value for offset API parameter: {offset} was found but offset >= 0 is expected.")
    if limit == -1:  # what the window has left after offset, a page at most (-1 is no count to add)
        if offset > window:
            raise invalid_parameter(f"Invalid value for sum of offset + limit API parameter: {offset} was found "
                                    f"but <= {window} is expected.")
        return min(max_limit, window - offset)
    effective = limit
    if offset + effective > window:
        raise invalid_parameter(f"Invalid value for sum of offset + limit API parameter: {offset + effective} was found "
                                f"but <= {window} is expected.")
    return effective


# -- who sees what ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Access:
    """What one caller may see of one dataset (loaded afresh, whole schema)."""

    dataset: Dataset
    ref: DatasetRef
    records: bool  # may the caller read its records (and attachments)?
    security: odsql.Security  # row filter + hidden fields, for the compiler
    restricted: bool  # anything held back from someone (restricted, filtered or hidden): exports are audited
    schema: tuple[dict[str, Any], ...] = ()  # the current version's whole schema, kept before any shaping

    def fields(self, version=None) -> list[Field]:
        """The whole schema of a version (the row filter may use hidden fields)."""
        if version is None or version.number == self.dataset.current_version:
            return fields_from_json(list(self.schema))
        return fields_from_json(version.fields)

    def visible(self, version=None) -> list[Field]:
        """The schema as the caller knows it: hidden fields do not exist."""
        return [f for f in self.fields(version) if f.name not in self.security.hidden_fields]


def _access(dataset: Dataset, ref: DatasetRef, row: DatasetSecurity | None, principal: Principal) -> Access:
    granted = security_for(principal, ref, row)
    security = odsql.Security(row_filter=granted.where_text(), hidden_fields=frozenset(granted.hidden_fields))
    restricted = ref.visibility != "public" or bool(row and (row.record_filters or row.hidden_fields))
    schema = tuple(dataset.current.fields) if dataset.current is not None else ()
    return Access(dataset, ref, can(principal, "read_records", ref), security, restricted, schema)


def _security_rows(session, datasets: list[Dataset]) -> dict[int, DatasetSecurity]:
    ids = [d.id for d in datasets]
    return {row.dataset_id: row for row in session.scalars(sql_select(DatasetSecurity).where(DatasetSecurity.dataset_id.in_(ids)))}


def dataset_access(instance: Instance, dataset: Dataset | str, principal: Principal = ANONYMOUS) -> Access:
    """The caller's access to a dataset, from the catalogue (never from a shaped copy)."""
    with instance.session() as session:
        try:
            fresh = services.get_dataset(session, dataset if isinstance(dataset, str) else dataset.uid)
        except services.NotFound:
            raise not_found(f"Unknown dataset: {dataset if isinstance(dataset, str) else dataset.slug}") from None
        ref = auth_services.dataset_ref(session, fresh)
        row = auth_services.get_security(session, fresh)
        return _access(fresh, ref, row, principal)


#: Where ``get_visible_dataset`` leaves the access it computed on the copy it hands out, so that
#: the query of the same request does not read the catalogue again (only for the same caller).
_ACCESS = "_portail_access"


def known_access(instance: Instance, dataset: Dataset, principal: Principal) -> Access:
    """The caller's access to ``dataset``: the one ``get_visible_dataset`` computed for the copy
    it handed out to this same caller, else read from the catalogue (``dataset_access``)."""
    cached = getattr(dataset, _ACCESS, None)
    return cached[1] if cached is not None and cached[0] == principal else dataset_access(instance, dataset, principal)


def _records_access(instance: Instance, dataset: Dataset, principal: Principal) -> Access:
    access = known_access(instance, dataset, principal)
    if not can(principal, "read_catalog", access.ref) or access.dataset.current is None:
        raise not_found(f"Unknown dataset: {dataset.slug}")
    if not access.records:
        if not principal.is_authenticated:  # credentials may open them (Opendatasoft documents 401, not 403)
            raise ApiError(401, "Unauthorized", f"The records of dataset {dataset.slug} are restricted: "
                                                "send an API key (Authorization: Apikey <key>) or sign in.")
        raise ApiError(403, "Forbidden", f"The records of dataset {dataset.slug} are restricted.")
    if not _hides_all(access):
        # A field to hide that the published version does not have: renamed by a reload, it
        # would be served under its new name. Refused, as a broken row filter is.
        raise ApiError(403, "SecurityError", "The access rules of this dataset cannot be applied; ask its administrator.")
    return access


def _hides_all(access: Access, version=None) -> bool:
    """Whether the caller's rules still hide what they hid in ``version`` (the published one by
    default): a hidden field renamed by a reload is served under its other name. A cursor walks
    the version it started on for a day after a newer one is published, with the rules of
    today: renamed in the new version, and the rule following it, the old name was served.
    A hidden name the version lacks is harmless unless the version has a field new to it
    (``_renamed_away``): a column dropped on purpose, or a rule written before the first load
    naming no field, blanked the dataset for a whole group."""
    hidden = access.security.hidden_fields
    if not hidden:  # most calls: no schema read
        return True
    present = {f.name for f in access.fields(version)}
    return not any(_renamed_away(access, name, present) for name in hidden - present)


def _renamed_away(access: Access, name: str, present: set[str]) -> bool:
    """May the field ``name`` be among ``present`` under another name? Yes when some version of
    the dataset had it and ``present`` holds a field never seen beside it (its new name,
    perhaps: a reload cannot tell a rename from a column dropped and another added); no when it
    is no version's field (a typo, or a rule for columns to come) or every present field was
    already beside it (it was dropped). Versions keep their schema once pruned; the published
    one's is read whole (``Access.schema``: a shaped copy lists no hidden field). Names only: on
    every call of a dataset whose rule names a dropped field, over all its versions."""
    current = access.dataset.current_version
    schemas = ({f["name"] for f in (access.schema if v.number == current else v.fields or ())}
               for v in access.dataset.versions)
    beside = [schema for schema in schemas if name in schema]
    return bool(beside) and bool(present - set().union(*beside))


def _count(instance: Instance, access: Access) -> tuple[int, bool]:
    """How many rows the caller may see of the current version, and whether the count read the
    clock (a row filter with ``now()``: the count holds for this call only)."""
    version = access.dataset.current
    if access.security.row_filter is None:
        return version.row_count or 0, False
    conditions, reads_clock = where_clause(access.fields(), [], "UTC", access.security)
    query = _where(_count_of(), conditions)
    return instance.store.query(version.location, query).column("n")[0].as_py(), reads_clock


def _shaped(instance: Instance, access: Access) -> Dataset:
    """The dataset as the caller may see it (a detached object, never written back)."""
    dataset, version = access.dataset, access.dataset.current
    # A hidden field renamed by a reload: its records are refused (``_records_access``), and as
    # which field it became is unknown, the schema shows none (it listed the hidden one's new name).
    intact = _hides_all(access)
    readable = access.records and intact
    if not readable:
        dataset.records_count, version.row_count = 0, 0
        dataset.attachments = []
    elif access.security.row_filter is not None:
        try:
            dataset.records_count, reads_clock = _count(instance, access)
            version.row_count = dataset.records_count
            setattr(dataset, _CLOCK, reads_clock)
        except ApiError:  # a broken filter: show nothing of the data, keep the catalogue up
            dataset.records_count = version.row_count = 0
    if access.security.hidden_fields:  # last: the count above may filter on a hidden field
        version.fields = [f for f in version.fields if f["name"] not in access.security.hidden_fields] if intact else []
    bbox, types = _extent(instance, access) if readable else (None, ())
    expose(dataset, Exposure(restricted=access.ref.visibility != "public", data_visible=readable, bbox=bbox,
                             geometry_types=types))
    return dataset


#: The extent of a version's geometries, per (version file, geo field): version files never change.
_EXTENTS: dict[tuple[str, str], tuple[dict[str, Any] | None, tuple[str, ...]]] = {}


def _extent(instance: Instance, access: Access) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
    """The bounding box (a GeoJSON Feature, ODSQL's ``bbox()``) and the geometry types of a
    dataset's records, on its first visible point field, else shape (v1's geo field), for a
    caller who may read all of its records: under a row filter it would outline the rows the
    filter holds back, so nothing is said."""
    version = access.dataset.current
    visible = access.visible()
    geo = next((f for f in visible if f.type == FieldType.GEO_POINT_2D), None) or \
        next((f for f in visible if f.type == FieldType.GEO_SHAPE), None)
    if geo is None or version is None or not access.records or access.security.row_filter is not None:
        return None, ()
    key = (version.location, geo.name)
    if key not in _EXTENTS:
        name = quote_name(geo.name)
        box = compile_odsql(visible, select=f"bbox({name}) as b")
        types = compile_odsql(visible, select="count(*) as n", group_by=f"geometry_type({name}) as t")
        rows = records_json(list(box.columns), instance.store.query(version.location, box.select).to_pylist())
        kinds = instance.store.query(version.location, types.select).column("t").to_pylist()
        _EXTENTS[key] = (rows[0]["b"] if rows else None, tuple(sorted(k for k in kinds if k)))
    return _EXTENTS[key]


#: What callers may see of the catalogue, kept while the catalogue's generation is unchanged
#: (``catalog.generation``): resolving a dataset and the caller's access costs more ORM work
#: than a small query. Entries are shaped, detached copies that nothing writes to.
_SEEN = GenerationCache()
#: Set on a shaped dataset whose count read the clock: it is not kept in ``_SEEN``.
_CLOCK = "_portail_reads_clock"


def _timeless(shaped: Dataset | tuple[Dataset, ...]) -> bool:
    return not any(getattr(d, _CLOCK, False) for d in (shaped if isinstance(shaped, tuple) else (shaped,)))


def visible_datasets(instance: Instance, portal: str, principal: Principal = ANONYMOUS) -> list[Dataset]:
    """The published datasets of a portal that the caller may see in the catalogue, shaped for them."""
    return list(_SEEN.get(("all", portal, principal), lambda: _visible_datasets(instance, portal, principal),
                          stamp=settled_stamp(instance), keep=_timeless))


def _visible_datasets(instance: Instance, portal: str, principal: Principal) -> tuple[Dataset, ...]:
    with instance.session() as session:
        datasets = [d for d in services.list_datasets(session, portal) if d.current_version is not None]
        refs = auth_services.dataset_refs(session, datasets)
        rows = _security_rows(session, datasets)
    accesses = [_access(d, refs[d.uid], rows.get(d.id), principal) for d in datasets]
    return tuple(_shaped(instance, a) for a in accesses if can(principal, "read_catalog", a.ref))


def get_visible_dataset(instance: Instance, portal: str, dataset_id: str, principal: Principal = ANONYMOUS) -> Dataset:
    """One dataset of a portal as the caller may see it; "Unknown dataset" when it does not exist
    for them (missing, not on this portal, unpublished, or restricted without public metadata)."""
    key, stamp = ("one", portal, dataset_id, principal), settled_stamp(instance)
    if _UNSEEN.peek(key, stamp) is None:
        shaped = _SEEN.get(key, lambda: _get_visible_dataset(instance, portal, dataset_id, principal), stamp=stamp,
                           keep=lambda found: found is not None and _timeless(found))
        if shaped is not None:
            return shaped
        _UNSEEN.put(key, True, stamp)
    raise not_found(f"Unknown dataset: {dataset_id}")


#: The names a caller asked for that do not exist for them, under the catalogue stamp that said
#: so: the leak matrix's callers without a grant, apps polling a removed dataset and crawlers
#: each paid the whole lookup again (~2 ms of ORM work: the dataset, its grants, its rules).
#: Apart from ``_SEEN``: names nobody publishes must not push real datasets out of it.
_UNSEEN = GenerationCache()


def _get_visible_dataset(instance: Instance, portal: str, dataset_id: str, principal: Principal) -> Dataset | None:
    """The shaped dataset, or None: it does not exist for this caller (``get_visible_dataset``)."""
    with instance.session() as session:
        try:
            dataset = services.get_dataset(session, dataset_id)
        except services.NotFound:
            dataset = None
        if dataset is not None:
            access = _access(dataset, auth_services.dataset_ref(session, dataset), auth_services.get_security(session, dataset),
                             principal)
    if (dataset is None or portal not in (dataset.portals or []) or dataset.current_version is None
            or not can(principal, "read_catalog", access.ref)):
        return None
    shaped = _shaped(instance, access)
    setattr(shaped, _ACCESS, (principal, access))
    return shaped


def check_records_access(instance: Instance, dataset: Dataset, principal: Principal = ANONYMOUS) -> None:
    """Refuse a caller who may see a dataset's metadata but not its records (or attachments)."""
    _records_access(instance, dataset, principal)


@dataclass
class RecordsPage:
    total_count: int
    results: list[dict[str, Any]]
    next_cursor: str | None = None
    columns: tuple[Field, ...] = ()  # the output columns, as schema fields
    aggregated: bool = False  # rows are groups (group_by or aggregates in select), not records


CURSOR_MAX_LIMIT = 10_000


def filters(fields: list[Field], refine: list[str] | None, exclude: list[str] | None,
            params: list | None = None, disjunctive: tuple[str, ...] = (),
            timezone: str = "UTC") -> tuple[list, list[exp.Expression]]:
    """The refinements and the conditions every records, facets and export query applies (their
    values as placeholders appended to ``params`` when given). The values refined on a
    disjunctive field (annotated, or named in ``disjunctive``: v1's ``disjunctive.<field>``) are
    ORed; date paths on datetime fields are days, months and years of ``timezone``."""
    refinements = parse_refinements(refine or [], fields, exclude=False, timezone=timezone) + \
        parse_refinements(exclude or [], fields, exclude=True, timezone=timezone)
    ored = disjunctive_fields(fields) | frozenset(disjunctive)
    return refinements, conditions_for(refinements, params=params, disjunctive=ored)


def _count_of(source: exp.Expression | None = None) -> exp.Select:
    """``SELECT count(*) AS n FROM source`` (the records by default), built rather than parsed:
    sqlglot's parser costs ~0.7 ms for it, as much as a selective count on two million rows."""
    source = source if source is not None else exp.Table(this=exp.to_identifier("records"))
    return exp.Select(expressions=[exp.alias_(exp.Count(this=exp.Star()), "n")]).from_(source, copy=False)


def _where(query: exp.Select, conditions: list[exp.Expression], *, in_place: bool = False) -> exp.Select:
    """``query`` with ``conditions`` ANDed to its WHERE: on copies of both, or ``in_place`` on
    a query the caller owns (a plan's SELECT is a page's whole tree: copying it costs as much
    as a selective count), the conditions still copied, as callers use them again."""
    if not conditions:
        return query
    if in_place:
        return query.where(exp.and_(*[c.copy() for c in conditions], copy=False), copy=False)
    return query.where(exp.and_(*conditions))


GROUP_WINDOW = 20_000


def compile_odsql(fields: list[Field], security: odsql.Security | None = None, **clauses: Any) -> odsql.Plan:
    """An ODSQL query compiled over the schema with the caller's security, its errors as
    Opendatasoft's 400s (hidden fields are unknown fields, so errors cannot reveal them)."""
    try:
        return odsql.compile_plan(odsql.Query(**clauses), fields, security)
    except odsql.ODSQLError as error:
        if security is not None and security.row_filter is not None:
            # Whose error is it? The caller's query is compiled alone (hidden fields still
            # unknown); if it is fine, the dataset's row filter is broken: refuse the data,
            # without a word about the filter.
            compile_odsql(fields, odsql.Security(hidden_fields=security.hidden_fields), **clauses)
            raise ApiError(403, "SecurityError", "The access rules of this dataset cannot be applied; "
                                                 "ask its administrator.") from None
        raise ApiError(400, "ODSQLError", error.message) from None
    except ValueError as error:
        raise invalid_parameter(f"Invalid value for timezone API parameter: {error}") from None


def where_clause(fields: list[Field], where: list[str] | None, timezone: str = "UTC",
                 security: odsql.Security | None = None) -> tuple[list[exp.Expression], bool]:
    """The ODSQL ``where`` parameters (ANDed) and the caller's row filter as one condition (or
    nothing), and whether it read the clock (``now()``: what derives from it is not kept)."""
    given = [w for w in where or [] if w and w.strip()]
    if not given and (security is None or security.row_filter is None):
        return [], False
    plan = compile_odsql(fields, security, where=given, timezone=timezone)
    condition = plan.select.args.get("where")
    return ([condition.this] if condition is not None else []), plan.reads_clock


def _filters(access: Access, version, refine, exclude, text: str | None = None,
             params: list | None = None, disjunctive: tuple[str, ...] = (), timezone: str = "UTC") -> list[exp.Expression]:
    """The refinements and text search of a records or export query, over the visible fields
    (the ``where`` parameters and the row filter are compiled into the plan itself)."""
    visible = access.visible(version)
    _, conditions = filters(visible, refine, exclude, params, disjunctive, timezone)
    return conditions + text_condition(visible, text)


def _refinement_values(instance: Instance, access: Access, version, r: _PageRequest) -> tuple[list, tuple[str, ...]] | None:
    """For a call whose only conditions are refinements on fields the version's indexes do not
    resolve (``Store.resolved_fields``), their values (as the SQL's placeholders take them) and
    their shape (fields and kinds): every call of that shape shares one plan, run with its own
    values. A client walking facet values (a count per value, a dashboard's cross-filters)
    then costs the engine's work only, not a new plan (~0.45 ms of Python, twice that on a
    machine woken by the call). ``None``: the call is planned with its values."""
    if not (r.refine or r.exclude) or r.where or r.text is not None or r.cursor or access.security.row_filter is not None:
        return None
    params: list = []
    refinements, _ = filters(access.visible(version), list(r.refine), list(r.exclude), params, r.disjunctive, r.timezone)
    if {ref.field.name for ref in refinements} & instance.store.resolved_fields(version.location):
        return None
    return params, tuple(f"{ref.field.name}:{'exclude' if ref.exclude else 'refine'}" for ref in refinements)


class _ValueDependent(Exception):
    """A plan with placeholders came out bound to constants, or would read them twice (merged
    geo_cluster()s): then planned with its values."""


def _plan_where(plan: odsql.Plan) -> list[exp.Expression]:
    """The plan's condition, the kept plan's own node: to be copied by whoever builds on it."""
    condition = plan.select.args.get("where")
    return [condition.this] if condition is not None else []


def _id_expression(access: Access, version=None) -> exp.Expression:
    """Record ids hash the fields the caller sees: an id never confirms a guess at a hidden value."""
    return record_id_expression(access.visible(version))


def _size_expression(access: Access, version=None) -> exp.Expression:
    """A record's size counts the fields the caller sees, as its id hashes them."""
    return odsql.record_size_expression(access.visible(version))


def query_records(instance: Instance, dataset: Dataset, *, select: str | None = None, order_by: str | None = None,
                  limit: int = 10, offset: int = 0, refine: list[str] | None = None,
                  exclude: list[str] | None = None, after: str | None = None, with_ids: bool = False,
                  where: list[str] | None = None, group_by: str | None = None, lang: str = "fr", timezone: str = "UTC",
                  principal: Principal = ANONYMOUS, text: str | None = None, max_limit: int = MAX_LIMIT,
                  window: int | None = MAX_WINDOW, disjunctive: tuple[str, ...] = (), v20: bool = False,
                  technical: odsql.Technical | None = None, cut_timezone: str | None = None) -> RecordsPage:
    """A page of records, or of groups when the query aggregates (ODSQL select/where/group_by/
    order_by), of the rows and fields ``principal`` may see. ``text`` is v1's ``q``;
    ``cut_timezone``: the zone date parts are cut in (``odsql.Query.cut_timezone``). With
    ``after`` (beyond Opendatasoft), pages follow a cursor instead of an
    offset: no 10,000-record window, pages of up to 10,000 records, and every page comes from
    the version the walk started on, even if a newer one is published meanwhile. ``window``
    bounds offset + limit as Opendatasoft does on its API; ``None`` lifts it for the portal's own
    table, which renders deep pages itself (an engine OFFSET, not a client walking pages).
    ``v20``: Explore API v2.0's ODSQL semantics (``odsql.Query.v20``); ``technical``: the values
    of its technical fields (``odsql.Technical``), with which each record shown with its id
    also carries its size (``_size``: v2.0's ``record.size``, ODSQL's ``record_size``)."""
    access = _records_access(instance, dataset, principal)
    version = access.dataset.current
    last_rowid = -1
    if after is not None:
        if offset or order_by or group_by:
            raise invalid_parameter("The after API parameter walks the records in storage order: "
                                    "it cannot be combined with offset, order_by or group_by.")
        if after:  # a cursor names its version: never one the portal does not serve
            number = cursor_version(after)
            version = access.dataset.version(number)
            if not access.dataset.walkable(number, datetime.now(UTC)):
                raise ApiError(410, "CursorExpired", "The version this cursor walks is no longer kept; start again.")
            if not _hides_all(access, version):
                raise ApiError(410, "CursorExpired", "The version this cursor walks no longer matches the dataset's "
                                                     "access rules; start again.")
            last_rowid = open_cursor(after, version_key(instance.catalog, version))
    request = _PageRequest(select, order_by, limit, offset, tuple(refine or ()), tuple(exclude or ()), after is not None,
                           with_ids, tuple(where or ()), group_by, lang, timezone, text, max_limit, window,
                           disjunctive=tuple(sorted(set(disjunctive))), v20=v20, technical=technical,
                           cut_timezone=cut_timezone)
    # Keyed on the index too: a plan made before the version's index file appeared scans.
    indexed = instance.store.has_index(version.location)
    values = _refinement_values(instance, access, version, request)
    page, params = None, None
    if values is not None:  # one plan per shape of refinements, run with this call's values
        shaped = dataclasses.replace(request, refine=values[1], exclude=(), parameterized=True)
        try:
            page = _PAGES.get((version.location, indexed, access.security, shaped),
                              lambda: _page_plan(instance, access, version, request, parameterized=True),
                              keep=lambda plan: not plan.reads_clock)
            params = values[0]
        except _ValueDependent:
            pass
    if page is None:
        page = _PAGES.get((version.location, indexed, access.security, request),
                          lambda: _page_plan(instance, access, version, request),
                          keep=lambda plan: not plan.reads_clock)
    store = instance.store
    rows = []
    if page.rows_query is not None:
        rows = store.rows(version.location, page.rows_query, [last_rowid] if page.cursor else params)
    if page.aggregated and rows:
        total = min(rows[0][_TOTAL], page.count_cap)
    elif page.count_query is None:  # an unfiltered count is known since the version was built
        total = version.row_count or 0
    else:
        total = min(_records_count(instance, version.location, page, params), page.count_cap)
    if page.aggregated:
        return RecordsPage(total, records_json(list(page.columns), rows, timezone), columns=page.columns, aggregated=True)
    following = None
    if page.cursor and rows and len(rows) == page.effective:
        following = seal(version.number, version_key(instance.catalog, version), rows[-1]["__rowid"])
    return RecordsPage(total, _with_ids(list(page.columns), rows, with_ids, timezone), following, page.columns)


@dataclass(frozen=True)
class _PageRequest:
    """The parameters of a records call that shape its SQL (hashable: the key of ``_PAGES``)."""

    select: str | None
    order_by: str | None
    limit: int
    offset: int
    refine: tuple[str, ...]
    exclude: tuple[str, ...]
    cursor: bool
    with_ids: bool
    where: tuple[str, ...]
    group_by: str | None
    lang: str
    timezone: str
    text: str | None
    max_limit: int
    window: int | None
    parameterized: bool = False  # refine holds the refinements' shape; their values are parameters
    disjunctive: tuple[str, ...] = ()  # fields whose refined values are ORed, beyond the annotated ones
    v20: bool = False  # Explore API v2.0's ODSQL semantics (odsql.Query.v20)
    technical: odsql.Technical | None = None  # v2.0's technical fields (odsql.Query.technical)
    cut_timezone: str | None = None  # the zone date parts are cut in (odsql.Query.cut_timezone)


@dataclass(frozen=True)
class _PagePlan:
    """The SQL of one records call on one version, ready for the store: compiling ODSQL and
    generating SQL cost as much as a small query, and clients repeat the same calls (a map, a
    widget, a dashboard polling), so plans are kept per (version, caller's security, request)."""

    columns: tuple[Field, ...]
    aggregated: bool
    count_query: Prepared | None  # None: the version's row count is the answer
    count_cap: int
    rows_query: Prepared | None  # None: no rows wanted (limit 0)
    effective: int
    cursor: bool  # rows_query takes the last rowid seen as its one parameter
    reads_clock: bool = False  # now() is a constant of the SQL: compiled again at every call


_TOTAL = "__portail_total"


#: Plans of records calls, keyed on the version file (which never changes: no stamp needed).
_PAGES = GenerationCache(4096)

#: Counts of filtered records, keyed on the version file and a digest of the count's SQL (which
#: holds the conditions and the caller's row filter): a version never changes, and a client
#: paging through a filtered set, a map or a widget polling it ask the same count at every
#: call, each a scan of the filtered columns. A count that read the clock is not kept: its SQL
#: holds the instant, so no later call asks it again.
_COUNTS = GenerationCache(16384)


def _records_count(instance: Instance, location: str, page: _PagePlan, params: list | None = None) -> int:
    def run() -> int:
        return instance.store.rows(location, page.count_query, params)[0]["n"]

    if page.reads_clock:
        return run()
    digest = hashlib.blake2b(page.count_query.sql.encode(), digest_size=16).digest()
    return _COUNTS.get((location, digest, tuple(params or ())), run)


#: Compiled ODSQL of records calls, keyed on the version file, the caller's security and the
#: ODSQL parameters: calls that differ in their refinements, page or limit only (a table's next
#: page, a count per facet value) compile once (0.37 ms; a copy of the plan costs 0.11). A plan
#: that read the clock is not kept. Entries are never changed: each call copies what it extends.
_COMPILED = GenerationCache(1024)


def _compiled(access: Access, version, r: _PageRequest) -> odsql.Plan:
    order_by = r.order_by if not r.cursor else None
    return _COMPILED.get((version.location, access.security, r.select, r.where, r.group_by, order_by, r.lang, r.timezone,
                          r.v20, r.technical, r.cut_timezone),
                         lambda: compile_odsql(access.fields(version), access.security, select=r.select, where=list(r.where),
                                               group_by=r.group_by, order_by=order_by, lang=r.lang, timezone=r.timezone,
                                               v20=r.v20, technical=r.technical, cut_timezone=r.cut_timezone),
                         keep=lambda plan: not plan.reads_clock)


def _page_plan(instance: Instance, access: Access, version, r: _PageRequest, parameterized: bool = False) -> _PagePlan:
    """The plan of a records call; ``parameterized``: its refinements' values are placeholders
    (``_refinement_values``), so the plan serves every call of the same shape."""
    plan = _compiled(access, version, r)
    filtering = _filters(access, version, list(r.refine), list(r.exclude), r.text, [] if parameterized else None,
                         r.disjunctive, r.timezone)
    conditions = filtering + _plan_where(plan)  # the kept plan's node: copied by _where below
    columns = tuple(plan.columns)

    def page_query() -> exp.Select:
        """The plan's SELECT with the refinements, a copy of this call's own (a count of a
        filtered set, ``limit=0``, needs none); geo_cluster()'s clusters merged over the rows
        all of its conditions keep."""
        query = _where(plan.select.copy(), filtering, in_place=True)
        if parameterized and odsql.merges_clusters(query):  # its placeholders would be read twice
            raise _ValueDependent()
        return odsql.merge_clusters(query, heaviest=GROUP_WINDOW)  # as many cells as groups shown: bounded work

    def sql(q: exp.Expression) -> Prepared:
        prepared = instance.store.prepare(version.location, q, owned=True)  # every q below is built for it
        if parameterized and (prepared.known is not None or prepared.rowids is not None):
            raise _ValueDependent()
        return prepared

    def records_count() -> Prepared | None:
        """The count of the matching records; None when nothing filters them (the version's
        row count answers). Each condition copied once (a text match's scan form is ~90 nodes:
        0.2 ms a copy)."""
        return sql(_where(_count_of(), conditions, in_place=True)) if conditions else None

    if plan.aggregated:
        effective = check_paging(r.limit, r.offset, max_limit=GROUP_WINDOW, window=GROUP_WINDOW)
        query = page_query()
        if not (r.group_by and r.group_by.strip()):
            # Aggregates over every matching record (one row): Opendatasoft's total_count is the
            # number of those records, which apps read (a map's count of trees in its view, with
            # limit=0, before downloading them); it then repeated the row for each, which is not
            # reproduced. The count rides along with the row; without a row, the records' count.
            count = records_count()
            total = exp.alias_(exp.Count(this=exp.Star()), _TOTAL)
            rows = sql(query.select(total).limit(exp.Literal.number(effective)).offset(exp.Literal.number(r.offset))) if effective else None
            return _PagePlan(columns, True, count, 2**63, rows, effective, False, plan.reads_clock)
        count = sql(_count_of(query.subquery("g")))
        # The number of groups rides along with the page (a window over the groups, evaluated
        # before LIMIT): one grouping pass instead of two; ``count`` serves past the last group.
        total = exp.alias_(exp.Window(this=exp.Count(this=exp.Star())), _TOTAL)
        rows = sql(query.select(total).limit(exp.Literal.number(effective)).offset(exp.Literal.number(r.offset))) if effective else None
        return _PagePlan(columns, True, count, GROUP_WINDOW, rows, effective, False, plan.reads_clock)

    def shown() -> exp.Select:
        query = page_query()
        if not r.with_ids:
            return query
        query = query.select(exp.alias_(_id_expression(access, version), "_id"), copy=False)
        if r.technical is not None:
            query = query.select(exp.alias_(_size_expression(access, version), "_size"), copy=False)
        return query

    if r.cursor:
        effective = check_paging(r.limit, 0, max_limit=CURSOR_MAX_LIMIT, window=CURSOR_MAX_LIMIT)
        rowid = exp.column("rowid")
        rows = None
        if effective:
            query = _where(shown().select(exp.alias_(rowid, "__rowid"), copy=False), [rowid > exp.Placeholder()], in_place=True)
            rows = sql(query.order_by(rowid.copy(), copy=False).limit(exp.Literal.number(effective), copy=False))
        return _PagePlan(columns, False, records_count(), 2**63, rows, effective, True, plan.reads_clock)
    bound = max(MAX_WINDOW, r.max_limit) if r.window is not None else r.offset + r.max_limit
    effective = check_paging(r.limit, r.offset, max_limit=r.max_limit, window=bound)
    # The page's SELECT is this call's own copy: paged in place, not copied twice.
    rows = sql(shown().limit(exp.Literal.number(effective), copy=False).offset(exp.Literal.number(r.offset), copy=False)) if effective else None
    if rows is not None and rows.total is not None:
        # A page read from a row-id list knows the count: binding the count too walked and
        # resolved the same conditions again (a quarter of a new search's time).
        count = Prepared(f"SELECT {rows.total} AS n", known=({"n": rows.total},))  # a constant, as the index's counts
    else:
        count = records_count()
    return _PagePlan(columns, False, count, 2**63, rows, effective, False, plan.reads_clock)


def _with_ids(fields: list[Field], rows: list[dict[str, Any]], with_ids: bool, timezone: str = "UTC") -> list[dict[str, Any]]:
    records = records_json(fields, rows, timezone)
    if with_ids:
        for record, row in zip(records, rows):
            record["_id"] = row["_id"]
            if "_size" in row:
                record["_size"] = row["_size"]
    return records


def get_record(instance: Instance, dataset: Dataset, record_id: str, *, select: str | None = None, lang: str = "fr",
               timezone: str = "UTC", principal: Principal = ANONYMOUS, v20: bool = False,
               technical: odsql.Technical | None = None) -> dict[str, Any]:
    """One record's fields; with ``technical`` (``query_records``), its size too, as ``_size``."""
    access = _records_access(instance, dataset, principal)
    version = access.dataset.current
    plan = compile_odsql(access.fields(), access.security, select=select, lang=lang, timezone=timezone, v20=v20,
                         technical=technical)
    if plan.aggregated:
        raise invalid_parameter("A record lookup cannot aggregate: select fields or expressions only.")
    if not re.fullmatch(r"[0-9a-f]{40}", record_id):
        raise not_found(f"Unknown record: {record_id}")
    identity = _id_expression(access)
    conditions = [exp.EQ(this=identity, expression=exp.Literal.string(record_id))]
    # The version's id table (``store.record_ids``) names the rows that may hold it, when the
    # caller's id is the one indexed: the full condition re-tests them, in place of every row.
    candidates = instance.store.record_rows(version.location, identity, record_id)
    if candidates is not None:
        if not candidates:
            raise not_found(f"Unknown record: {record_id}")
        conditions.insert(0, rowids_condition(frozenset(candidates), "records"))
    query = _where(plan.select, conditions).limit(exp.Literal.number(1))
    if technical is not None:
        query = query.select(exp.alias_(_size_expression(access), "_size"), copy=False)
    rows = instance.store.query(version.location, query).to_pylist()
    if not rows:
        raise not_found(f"Unknown record: {record_id}")
    record = records_json(list(plan.columns), rows, timezone)[0]
    if technical is not None:
        record["_size"] = rows[0]["_size"]
    return record


def dataset_facets(instance: Instance, dataset: Dataset, *, facet: list[str] | None = None,
                   refine: list[str] | None = None, exclude: list[str] | None = None,
                   where: list[str] | None = None, timezone: str = "UTC", principal: Principal = ANONYMOUS,
                   text: str | None = None, disjunctive: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Facet values with counts over the rows the caller may see; hidden fields are no facets.
    The values refined on a disjunctive field (annotated, in ``disjunctive``, or faceted with
    ``disjunctive=true``) are ORed, for every facet."""
    access = _records_access(instance, dataset, principal)
    version = access.dataset.current

    def run(query: exp.Select) -> list[dict[str, Any]]:
        return instance.store.query(version.location, query).to_pylist()

    def compute() -> tuple[list[dict[str, Any]], bool]:
        visible = access.visible()
        specs = parse_facets(facet, visible) if facet else default_facets(visible)
        zone(timezone)  # an unknown zone is a 400, as on /records, whether or not a field needs it
        refinements, _ = filters(as_faceted(visible, specs), refine, exclude, timezone=timezone)
        ored = disjunctive_fields(visible) | frozenset(disjunctive) | {s.field.name for s in specs if s.disjunctive}
        condition, reads_clock = where_clause(access.fields(), where, timezone, access.security)
        base = text_condition(visible, text) + condition
        entries = facets_values(run, specs, refinements, base, ored, timezone)
        return [{"name": spec.field.name, "facets": found} for spec, found in zip(specs, entries)], reads_clock

    # A version never changes, so neither do its facet counts for the same request and caller
    # (unless the where clause or the row filter reads the clock).
    key = (version.location, access.security, tuple(facet or ()), tuple(refine or ()), tuple(exclude or ()),
           tuple(where or ()), timezone, text, tuple(sorted(set(disjunctive))))
    return copy.deepcopy(_FACETS.get(key, compute, keep=lambda answer: not answer[1])[0])


def _geometry_kinds(instance: Instance, access: Access, query: exp.Select, columns: list[Field]) -> tuple[str, ...]:
    """The geometry types (``ST_GeometryType``'s names) of the records an export writes, ``NULL``
    among them when a record has none (``ExportOptions.geometry_kinds``): asked first, as the
    file is written from the first batch on and its layer declares one type. Without any
    record, the stored field's types (unless a row filter hides some records from the caller,
    whose types it would tell): an empty polygon export is still a polygon layer."""
    from portail.exports.waypoints import geometry_field

    geo, location = geometry_field(columns), access.dataset.current.location
    column = exp.column(geo.name, table="exported", quoted=True)
    if geo.type == FieldType.GEO_POINT_2D:  # points all: whether one lacks its point is the question
        found = exp.select("1").from_(query.subquery("exported")).where(column.is_(exp.null())).limit(1)
        return ("NULL", "POINT") if instance.store.query(location, found).num_rows else ("POINT",)
    kind = exp.alias_(exp.func("ST_GeometryType", exp.func("ST_GeomFromWKB", column)), "kind")
    found = exp.select(kind).from_(query.subquery("exported")).distinct()
    kinds = instance.store.query(location, found).column("kind").to_pylist()
    if not any(kinds) and access.security.row_filter is None and \
            any(f.name == geo.name and f.type == geo.type for f in access.visible()):
        stored = exp.column(geo.name, quoted=True)
        found = exp.select(exp.alias_(exp.func("ST_GeometryType", stored), "kind")).from_("records") \
            .where(stored.is_(exp.null()).not_()).distinct()
        kinds += instance.store.query(location, found).column("kind").to_pylist()
    return tuple(sorted(str(k) if k is not None else "NULL" for k in kinds))


#: Facet answers, keyed on the version file (immutable) and everything that shapes them.
_FACETS = GenerationCache(1024)


#: More rows than any version holds, and within the engine's 64-bit LIMIT and OFFSET.
EXPORT_ROWS_MAX = 2**62


def export_stream(instance: Instance, dataset: Dataset, fmt_name: str, *, options=None, **query: Any):
    """The bytes of an export, streamed: (format, iterator), compiled by ODSQL like records (any
    select, where, group_by, order_by) with the caller's security (``export_batches``)."""
    fmt, columns, batches, options = export_batches(instance, dataset, fmt_name, options=options, **query)
    return fmt, fmt.write(columns, batches, options)


def export_batches(instance: Instance, dataset: Dataset, fmt_name: str, *, select: str | None = None,
                   order_by: str | None = None, limit: int = -1, options=None, refine: list[str] | None = None,
                   exclude: list[str] | None = None, where: list[str] | None = None, lang: str = "fr",
                   timezone: str = "UTC", group_by: str | None = None, principal: Principal = ANONYMOUS,
                   ip: str | None = None, text: str | None = None, record_ids: bool = False,
                   disjunctive: tuple[str, ...] = (), offset: int = 0):
    """What an export writes: (format, columns, the engine's batches, options). Checks happen
    before the first batch; an export of restricted data is written to the audit log. ``text``
    is a full-text search (v1's ``q``), ``disjunctive`` v1's fields whose refined values are
    ORed; with ``record_ids`` (or a format naming its records) each batch carries the record's
    id as its last column. ``offset`` skips the first rows (records or groups) as ``/records``
    does: the reference says exports take none, but live portals honour it, and scripts that
    download in chunks otherwise got the first chunk again and again."""
    from portail.exports import FORMATS, OGR_FORMATS, ExportOptions, layer_geometry_type
    from portail.exports.calendar import calendar_fields
    from portail.exports.waypoints import check_waypoint_fields

    fmt = FORMATS.get(fmt_name)
    if fmt is None:
        raise not_found(f"Unknown export format: {fmt_name}")
    if limit < -1:
        raise invalid_parameter(f"Invalid value for limit API parameter: {limit} was found but limit >= -1 is expected.")
    if offset < 0:
        raise invalid_parameter(f"Invalid value for offset API parameter: {offset} was found but offset >= 0 is expected.")
    # Past any table's rows, which the engine's 64-bit LIMIT and OFFSET could not take (the
    # export failed after its 200): every row, or none.
    limit, offset = min(limit, EXPORT_ROWS_MAX), min(offset, EXPORT_ROWS_MAX)
    access = _records_access(instance, dataset, principal)
    version = access.dataset.current
    plan = compile_odsql(access.fields(), access.security, select=select, where=list(where or []), group_by=group_by,
                         order_by=order_by, lang=lang, timezone=timezone, limit=limit if limit >= 0 else None,
                         geometry=fmt.geometry, json_values=fmt.writes_json)
    columns = list(plan.columns)
    if not fmt.fits(columns):
        needed = " or ".join(sorted(str(t) for t in fmt.needs))
        raise ApiError(400, "InvalidRESTParameterError", f"The {fmt_name} export needs a {needed} field.")
    query = _where(plan.select, _filters(access, version, refine, exclude, text, disjunctive=tuple(disjunctive),
                                         timezone=timezone))
    if odsql.merges_clusters(query):  # geo_cluster()'s clusters merged over the rows all of its conditions keep
        query = odsql.merge_clusters(query.copy() if query is plan.select else query, heaviest=GROUP_WINDOW)
    if offset:  # a copy: without filters ``query`` is still the plan's own, maybe shared, SELECT
        query = query.offset(exp.Literal.number(offset))
    if record_ids or fmt.extra.get("record_ids"):  # RDF: each record is named by its id, the writer's last column
        if plan.aggregated:
            raise invalid_parameter(f"The {fmt_name} export writes records, each named by its id: it cannot group or "
                                    "aggregate (group_by, aggregate functions in select).")
        # A copy (no ``copy=False``): without filters ``query`` is still the plan's own, maybe shared, SELECT.
        query = query.select(exp.alias_(_id_expression(access, version), "__record_id", quoted=True))
    options = options or ExportOptions()
    missing = check_waypoint_fields(columns, options.name_field, options.description_fields)
    if missing is not None:
        parameter = "name_field" if missing == options.name_field else "description_field_list"
        raise invalid_parameter(f"Invalid value for {parameter} API parameter: {missing!r} is not a field of this "
                                "export.")
    if fmt.name == "ical":
        try:
            calendar_fields(columns, options)
        except ValueError as error:
            parameter, detail = error.args
            raise invalid_parameter(f"Invalid value for {parameter} API parameter: {detail}.") from None
    if fmt.name in OGR_FORMATS:
        kinds = _geometry_kinds(instance, access, query, columns)
        if layer_geometry_type(kinds) is None and fmt.name == "shp":
            geo = next(f.name for f in columns if f.type == FieldType.GEO_SHAPE)  # points are all points
            mixed = ", ".join(k for k in kinds if k != "NULL")
            raise invalid_parameter(f"A shapefile holds one geometry type, and these records mix {mixed}: export them "
                                    "as geojson, fgb or kml, or one type at a time with a where on geometry_type(), e.g. "
                                    f"geometry_type({quote_name(geo)}) = 'Polygon'.")
        options = dataclasses.replace(options, geometry_kinds=kinds)
    if options.epsg != 4326:
        from pyproj import CRS
        from pyproj.exceptions import CRSError

        try:
            crs = CRS.from_epsg(options.epsg)
        except CRSError:
            raise invalid_parameter(f"Invalid value for epsg API parameter: {options.epsg} is not a known EPSG code.") from None
        if not (crs.is_projected or crs.is_geographic) or len(crs.axis_info) != 2:
            # a height (5773) or an earth-centred system (4978) holds no map coordinates: the
            # export wrote degrees swapped or dropped a coordinate, under that system's name
            raise invalid_parameter(f"Invalid value for epsg API parameter: {options.epsg} ({crs.name}) is not a "
                                    "two-dimensional map system; e.g. 2154 (Lambert-93), 3857 or 4326.")
    if access.restricted:
        with instance.session() as session:
            audit(session, "export.restricted", actor=principal.login, target=f"dataset:{access.dataset.slug}", ip=ip,
                  detail={"format": fmt.name, "key": principal.key_id,
                          "row_filter": access.security.row_filter is not None,
                          "hidden_fields": sorted(access.security.hidden_fields)})
    return fmt, columns, instance.store.stream(version.location, query, batch_size=export_batch_rows(version)), options


#: About this many bytes of a version file per export batch (the rows' average size read from
#: the catalogue): a batch is formatted whole and a download holds a few, so 65,536 rows of
#: commune contours (one batch: the whole 14 MB file) cost a slow client ~36 MB of server memory.
EXPORT_BATCH_BYTES = 2 << 20


def export_batch_rows(version: DatasetVersion) -> int:
    """Rows per export batch: 65,536 for narrow rows, fewer for wide ones (shapes, long texts)."""
    if not version.row_count or not version.size_bytes:
        return 65536
    return int(min(65536, max(256, EXPORT_BATCH_BYTES * version.row_count / version.size_bytes)))
