"""The catalogue as an ODSQL table: ``/catalog/datasets`` (select, where, group_by, order_by,
refine/exclude) and ``/catalog/facets``, over the datasets the caller may see.

One ODSQL, not two: the visible datasets are shaped by ``serialize.dataset_json`` (exactly what
the caller would read) and materialised as a small Arrow table whose columns are the
catalogue's ODSQL fields as Opendatasoft names them (``dataset_id``, ``has_records``,
``features``, ``title``, ``theme``, ``modified``, ``records_count``…, each metadata also as
``default.<name>`` and ``metas.default.<name>``); the records compiler runs over it in an
in-memory DuckDB, full text (bare strings, ``search()``) included, as a scan: a catalogue is
small; full text over every field reads the ``SEARCHED`` fields (``Query.searched``), with the
records' rules (a bare string's words whole, ``search()``'s fuzzy). ``features``, ``theme``
and ``keyword`` are multivalued (``"geo" in features``, and ``features='geo'`` as Opendatasoft
reads it on a list: membership); a
group_by on one of them counts each value once per dataset (the compiler unnests it, as for
records).

``refine``/``exclude`` filter the datasets before the query (a multivalued field matches when
any value does; ``modified:2024/05`` matches a date path; a theme is a whole value, unless a
facets call asks it as a tree, ``facet(name="theme", hierarchical=true)``: no catalogue field is
a hierarchy by default, as on Opendatasoft, where a theme "Urbanisme / Aménagement" is one
theme). Facets are counted in Python over the
filtered datasets, with Opendatasoft's entry shapes (``name``, ``value``, ``count``, ``state``,
nested ``facets`` under a refined date). Nothing here reads the store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import pickle
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timezone
from html.parser import HTMLParser
from typing import Any, Callable
from zoneinfo import ZoneInfo

import pyarrow as pa
from sqlglot import exp

from portail import odsql
from portail.odsql import ast
from portail.api.errors import ApiError, invalid_parameter
from portail.api.facets import (DEFAULT_LIMIT, FacetSpec, as_faceted, canonical, collapsed_path, hierarchy_separator,
                                list_excluded, parse_facets, parse_refinements, zone)
from portail.api.serialize import EXPLORE_METAS, records_json
from portail.api.text_search import text_condition
from portail.api.v1_query import q_conditions
from portail.catalog.generation import GenerationCache
from portail.odsql import multivalued_items
from portail.odsql.kinds import RECORDS
from portail.schema import Field, FieldType
from portail.store.engine import connect

#: Joins a multivalued field's values in one text column (never in a value): ODSQL splits the
#: column on it as it splits a dataset's multivalued field, so ``length(keyword)`` is the number
#: of keywords as ``length(tags)`` is the number of tags in records (``odsql.functions._length``).
SEPARATOR = "\x1f"
MULTIVALUED = {"multivalued": [SEPARATOR]}
#: A dataset's position in the table, read back to hand out its object; named ``rowid`` because
#: that is what the compiler reads as a row's identity (``random(seed)`` hashes it), and an
#: Arrow table has no rowid of its own.
_INDEX = "rowid"
_TYPES = {FieldType.TEXT: pa.string(), FieldType.INT: pa.int64(), FieldType.BOOLEAN: pa.bool_(),
          FieldType.DOUBLE: pa.float64(), FieldType.DATETIME: pa.timestamp("us", tz="UTC"), FieldType.DATE: pa.date32(),
          FieldType.JSON: pa.string()}


def _meta(name: str, type: FieldType = FieldType.TEXT, multivalued: bool = False) -> tuple[str, FieldType, bool, str]:
    return name, type, multivalued, "meta"


def _template(template: str, name: str, type: FieldType = FieldType.TEXT) -> tuple[str, FieldType, bool, str]:
    """A metadata of another template than ``default``: always named with its template."""
    return f"{template}.{name}", type, False, template


#: Templates other than ``default`` whose metadata are fields (``dcat.created``,
#: ``explore.download_count``, also under ``metas.``); ``explore`` is null until usage
#: analytics exist, so a condition on it keeps no dataset.
TEMPLATES = ("dcat", "explore")

#: (name, type, multivalued, where the value comes from: the dataset object, metas.default,
#: another template of metas, the texts of its fields, or its description's text)
_COLUMNS: list[tuple[str, FieldType, bool, str]] = [
    ("dataset_id", FieldType.TEXT, False, "top"), ("dataset_uid", FieldType.TEXT, False, "top"),
    ("has_records", FieldType.BOOLEAN, False, "top"), ("data_visible", FieldType.BOOLEAN, False, "top"),
    ("features", FieldType.TEXT, True, "top"), ("visibility", FieldType.TEXT, False, "top"),
    _meta("title"), _meta("description"), _meta("theme", multivalued=True), _meta("keyword", multivalued=True),
    _meta("license"), _meta("license_url"), _meta("language"), _meta("timezone"), _meta("publisher"),
    _meta("modified", FieldType.DATETIME), _meta("data_processed", FieldType.DATETIME),
    _meta("metadata_processed", FieldType.DATETIME), _meta("records_count", FieldType.INT),
    _meta("federated", FieldType.BOOLEAN), _meta("metadata_languages", multivalued=True),
    _meta("modified_updates_on_data_change", FieldType.BOOLEAN),
    _meta("modified_updates_on_metadata_change", FieldType.BOOLEAN), _meta("references"),
    _meta("attributions", multivalued=True), _meta("territory", multivalued=True),
    _meta("geographic_reference", multivalued=True), _meta("geographic_area"),
    _template("dcat", "created", FieldType.DATETIME), _template("dcat", "issued", FieldType.DATETIME),
    _template("dcat", "creator"), _template("dcat", "contact_name"), _template("dcat", "contact_email"),
    _template("dcat", "accrualperiodicity"), _template("dcat", "temporal_coverage_start", FieldType.DATE),
    _template("dcat", "temporal_coverage_end", FieldType.DATE), _template("dcat", "spatial"),
    *[_template("explore", name, FieldType.INT if name != "popularity_score" else FieldType.DOUBLE)
      for name in EXPLORE_METAS],
    ("fields", FieldType.JSON, False, "top"), ("attachments", FieldType.JSON, False, "top"),
    ("fields_text", FieldType.TEXT, True, "fields"), ("description_text", FieldType.TEXT, False, "text"),
    ("alternative_exports", FieldType.JSON, False, "top"), ("metas", FieldType.JSON, False, "top"),
]
#: Other names of a column: ``datasetid`` is v2.0's name of ``dataset_id``, which the QGIS plugin
#: still sends (``where=datasetid:"x"``).
ALIASES = {"datasetid": "dataset_id"}
#: What full text (a bare string, ``search(*, …)``, ``suggest``, ``startswith``) reads: what
#: people search a catalogue for. The other text columns (timezone, language, visibility,
#: features, licence, uid) hold a handful of values shared by most datasets: ``"Paris"`` would
#: match every dataset through ``Europe/Paris``. They stay fields that ``where`` can name.
#: ``fields_text`` (Portail's, not Opendatasoft's) holds the names, labels and descriptions of
#: the fields the caller sees, so that "siret" finds the datasets with such a column; and
#: ``description_text`` (Portail's too) the description's words, not its HTML (``description``,
#: as Opendatasoft writes it): "strong", "href", "amp" or "https" matched every dataset whose
#: description had bold, a link or an ampersand.
SEARCHED = ("dataset_id", "title", "description_text", "theme", "keyword", "publisher", "fields_text")
#: The facets of the catalogue when none is asked for.
DEFAULT_FACETS = ("features", "modified", "publisher", "keyword", "theme", "language")


def catalog_fields() -> list[Field]:
    """The catalogue's ODSQL schema: every column, metadata also under its template prefixes."""
    fields = []
    for name, type, multivalued, source in _COLUMNS:
        annotations = dict(MULTIVALUED) if multivalued else {}
        if name in DEFAULT_FACETS:
            annotations["facet"] = []
        fields.append(Field(name, name, type, annotations=annotations))
        if source == "meta":
            for prefix in ("default.", "metas.default."):
                fields.append(Field(prefix + name, prefix + name, type, annotations=dict(annotations)))
        elif source in TEMPLATES:
            fields.append(Field("metas." + name, "metas." + name, type, annotations=dict(annotations)))
    by_name = {f.name: f for f in fields}
    fields += [dataclasses.replace(by_name[name], name=alias, label=alias) for alias, name in ALIASES.items()]
    return fields


FIELDS = catalog_fields()
#: The fields full text reads (``SEARCHED``), for :class:`FullText`, which the compiler does not read.
_SEARCHED_FIELDS = [f for f in FIELDS if f.name in SEARCHED]


def _raw(obj: dict[str, Any], name: str, source: str) -> Any:
    if source == "meta":
        return obj["metas"]["default"].get(name)
    if source in TEMPLATES:
        return (obj["metas"].get(source) or {}).get(name.split(".", 1)[1])
    if source == "text":
        return html_text(obj["metas"]["default"].get("description"))
    if source == "fields":
        return [text for f in obj.get("fields") or [] for text in (f.get("name"), f.get("label"), f.get("description"))
                if text]
    return obj.get(name)


class _TextParser(HTMLParser):
    """The text of some HTML: its characters, entities decoded, a space at each block's edge."""

    INLINE = frozenset({"a", "abbr", "b", "code", "em", "i", "s", "small", "span", "strong", "sub", "sup", "u"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in self.INLINE:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        self.handle_starttag(tag, [])


def html_text(html: str | None) -> str | None:
    """The words of an HTML description as a reader sees them (``<p>Voir <a href="…">le
    site</a> &amp; Co</p>``: ``Voir le site & Co``), for full text."""
    if not html:
        return None
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    return " ".join("".join(parser.parts).split()) or None


def _cell(value: Any, type: FieldType, multivalued: bool) -> Any:
    if value is None:
        return None
    if multivalued:
        values = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        return SEPARATOR.join(values) if values else None
    if type == FieldType.DATETIME:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    if type == FieldType.DATE:
        return date.fromisoformat(value) if isinstance(value, str) else value
    if type == FieldType.JSON:
        return json.dumps(value)
    return value


def table(objects: list[dict[str, Any]]) -> pa.Table:
    """The catalogue table of some dataset objects, one row each."""
    rows: list[dict[str, Any]] = []
    for index, obj in enumerate(objects):
        row: dict[str, Any] = {_INDEX: index}
        for name, type, multivalued, source in _COLUMNS:
            row[name] = _cell(_raw(obj, name, source), type, multivalued)
        rows.append(row)
    columns: dict[str, list[Any]] = {_INDEX: [r[_INDEX] for r in rows]}
    types = [pa.field(_INDEX, pa.int64())]
    for f in FIELDS:
        source = _column(f.name)
        columns[f.name] = [r[source] for r in rows]
        types.append(pa.field(f.name, _TYPES[f.type]))
    return pa.Table.from_pydict(columns, schema=pa.schema(types))


def _column(name: str) -> str:
    """The column a catalogue field reads (``metas.default.title`` and ``default.title`` read ``title``)."""
    name = name.removeprefix("metas.").removeprefix("default.")
    return ALIASES.get(name, name)


# -- refine / exclude -------------------------------------------------------------------------
def _moment(raw: str, kind: FieldType, tz: ZoneInfo) -> datetime:
    """A catalogue date on the caller's calendar: a datetime (stored in UTC) in the ``timezone``
    asked, as dataset facets and refinements read theirs; a date as it is."""
    moment = datetime.fromisoformat(raw)
    if kind == FieldType.DATETIME:
        moment = (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(tz)
    return moment


def _matches(obj: dict[str, Any], f: Field, value: str, tz: ZoneInfo) -> bool:
    """Whether a dataset holds ``value`` in field ``f``: a date by its day's path, a value of a
    hierarchy (a field annotated ``hierarchical``, ``facets.hierarchy_separator``, as a dataset's
    refinements read theirs) as itself or anything below it."""
    name = _column(f.name)
    spec = next(c for c in _COLUMNS if c[0] == name)
    raw = _raw(obj, name, spec[3])
    if raw is None:
        return False
    if f.type in (FieldType.DATETIME, FieldType.DATE):
        path = _moment(raw, f.type, tz).strftime("%Y/%m/%d")
        wanted = value.strip().replace("-", "/")
        return path == wanted or path.startswith(wanted + "/")
    values = raw if isinstance(raw, list) else [raw]
    text = {"true" if v is True else "false" if v is False else str(v) for v in values}
    if (separator := hierarchy_separator(f)) is not None:
        wanted = collapsed_path(value, separator)
        return any(p == wanted or p.startswith(wanted + separator) for p in (collapsed_path(t, separator) for t in text))
    return value in text


def refined(objects: list[dict[str, Any]], refine: list[str], exclude: list[str],
            skip: str | None = None, timezone: str = "UTC", disjunctive: tuple[str, ...] = (),
            fields: list[Field] = FIELDS) -> list[dict[str, Any]]:
    """The dataset objects kept by ``refine`` (all must hold, but the values of a
    ``disjunctive`` field, one of which must: v1's ``disjunctive.<field>``, as ods-widgets'
    facets send it) and ``exclude`` (none may); ``skip`` ignores the refinements of one field
    (a disjunctive facet's own values); dates are the days of ``timezone``; a field of ``fields``
    annotated ``hierarchical`` (one a facets call asks as a tree: ``facets.as_faceted``) is
    refined by path."""
    rules = [r for r in parse_refinements(refine, fields, exclude=False) + parse_refinements(exclude, fields, exclude=True)
             if not (skip and r.field.name == skip and not r.exclude)]
    ored = [r for r in rules if r.field.name in disjunctive and not r.exclude]
    anded = [r for r in rules if r not in ored]
    tz = zone(timezone)

    # Each value as its facet entry writes it, as a dataset's refinements read theirs: a date
    # path 2026-3 is 2026/03, has_records:True is true, records_count:013 is 13; a value the
    # field cannot hold (a bad date path, has_records:yes) is their 400, not a silent empty
    # catalogue.
    wanted = {id(r): canonical(r) for r in rules}

    def holds(obj, r) -> bool:
        return _matches(obj, r.field, wanted[id(r)], tz)

    kept = []
    for obj in objects:
        if all(holds(obj, r) != r.exclude for r in anded) and \
                all(any(holds(obj, r) for r in ored if r.field.name == name) for name in {r.field.name for r in ored}):
            kept.append(obj)
    return kept


# -- queries ----------------------------------------------------------------------------------
_engine: Any = None
_engine_lock = threading.Lock()


def _execute(data: pa.Table, sql: str) -> list[dict[str, Any]]:
    """Run SQL over a catalogue table in a private cursor of one in-memory engine."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = connect()
        cursor = _engine.cursor()
    try:
        cursor.register(RECORDS, data)
        return cursor.execute(sql).to_arrow_table().to_pylist()
    finally:
        cursor.close()


# -- what is kept between calls ---------------------------------------------------------------
# A catalogue answer is a function of the datasets' objects (what the caller may see, shaped for
# them) and of the query's text. Both are kept, by what they are, never by who asks:
#  * compiled plans by their clauses (the catalogue's FIELDS never change), unless they read
#    the clock (``Plan.reads_clock``: ``now()`` is a constant of their SQL);
#  * the Arrow table of some dataset objects, by their content (the SHA-256 of their pickled
#    bytes: equal bytes unpickle to equal objects, so two callers share a table only when they
#    see the same datasets shaped the same way; the digest, not the bytes, is kept: a catalogue
#    of 2,000 datasets pickles to ~2 MB);
#  * the rows a plan's SQL gives over such a table when they are positions or counts (a plan
#    that read the clock is not kept): selected values (``select=metas``: ~3 MB for 2,000
#    datasets) are read again from the kept table, so that varying a where cannot fill memory.
#: clauses → _Prepared (a refusal is not kept: the clauses compile again, and are refused again)
_PLANS = GenerationCache(512)
#: digest of the pickled dataset objects → (token, table); tokens are never reused
_TABLES = GenerationCache(16)
#: (table token, SQL) → rows of positions, uids or group counts
_ROWS = GenerationCache(1024)
_TOKENS = itertools.count()


@dataclass(frozen=True)
class _Prepared:
    """A compiled catalogue query and the SQL text it runs as (never mutated once made)."""

    plan: odsql.Plan
    names: tuple[str, ...]
    #: the SQL this query runs; None when it keeps every dataset in table order (no condition,
    #: order, group or select: the engine has nothing to do)
    sql: str | None
    #: a select starting from every field (``_whole``)
    whole: bool
    #: are its rows small enough to keep (positions, uids, groups), not selected values?
    kept: bool = True


def _content(objects: list[dict[str, Any]]) -> bytes | None:
    try:
        return hashlib.sha256(pickle.dumps(objects, protocol=pickle.HIGHEST_PROTOCOL)).digest()
    except Exception:  # noqa: BLE001 — a value pickle cannot write: no caching, same answer
        return None


def _rows(objects: list[dict[str, Any]], prepared: _Prepared) -> list[dict[str, Any]]:
    """The rows of a prepared query over some dataset objects (fresh dicts: callers change them)."""
    if prepared.sql is None:
        return [{_INDEX: i} for i in range(len(objects))]
    sql = prepared.sql
    key = _content(objects)
    if key is None:
        return _execute(table(objects), sql)
    token, data = _TABLES.get(key, lambda: (next(_TOKENS), table(objects)))
    if prepared.plan.reads_clock or not prepared.kept:  # its SQL holds this call's instant, or values
        return _execute(data, sql)
    return [dict(r) for r in _ROWS.get((token, sql), lambda: _execute(data, sql))]


_LISTS = {f.name: f for f in FIELDS if "multivalued" in f.annotations}


#: Opendatasoft's catalogue-only semantic search, which needs embeddings this portal does not build.
_SEMANTIC = ("vector_similarity(", "vector_similarity_threshold(")


def _compile(where: list[str | FullText], **clauses: Any) -> odsql.Plan:
    """The clauses' plan, its ``where`` ODSQL and :class:`FullText` conditions ANDed."""
    try:
        plan = odsql.compile_plan(odsql.Query(**clauses, where=[w for w in where if isinstance(w, str)],
                                              searched=SEARCHED), FIELDS)
    except odsql.ODSQLError as error:
        if error.detail.startswith(_SEMANTIC):  # the compiler's word is for a dataset's records
            name = error.detail.split("(")[0]
            error = odsql.ODSQLError(f"{name}() (semantic search) is not implemented by this portal; "
                                     "search the catalogue with full text (a bare string or search()).", error.clause)
        raise ApiError(400, "ODSQLError", error.message) from None
    except ValueError as error:
        raise invalid_parameter(f"Invalid value for timezone API parameter: {error}") from None
    select = plan.select.transform(_per_value, copy=False)
    full_text = [c for w in where if isinstance(w, FullText) for c in text_condition(_SEARCHED_FIELDS, w.text)]
    return dataclasses.replace(plan, select=select.where(*full_text, copy=False) if full_text else select)


def _prepare(select: str | None, where: tuple[str | FullText, ...], group_by: str | None = None,
             order_by: str | None = None, lang: str = "fr", timezone: str = "UTC", v20: bool = False, uids: bool = False) -> _Prepared:
    """A compiled query and its SQL, kept by its clauses unless it read the clock. ``uids``:
    the facets' query (the matching datasets' uids), else the search's."""
    key = (select, where, group_by, order_by, lang, timezone, v20, uids)
    return _PLANS.get(key, lambda: _prepared(*key), keep=lambda p: not p.plan.reads_clock)


def _prepared(select: str | None, where: tuple[str | FullText, ...], group_by: str | None, order_by: str | None,
              lang: str, timezone: str, v20: bool, uids: bool) -> _Prepared:
    # The plan is compiled here for this entry alone: its tree is changed in place, not copied
    # (a deep copy of a hundred outputs cost as much as compiling them).
    if uids:
        plan = _compile(select="dataset_uid", where=list(where), timezone=timezone)
        return _Prepared(plan, (), odsql.to_sql(plan.select, owned=True), False)
    plan = _compile(select=select, where=list(where), group_by=group_by, order_by=order_by, lang=lang,
                    timezone=timezone, v20=v20)
    names = tuple(f.name for f in plan.columns)
    query = plan.select
    if plan.aggregated:
        if not (group_by and group_by.strip()):  # over every matching dataset: their number too
            query = query.select(exp.alias_(exp.Count(this=exp.Star()), _INDEX), copy=False)
        return _Prepared(plan, names, odsql.to_sql(query, owned=True), False)
    if select and select.strip():
        whole = _whole(select)
        return _Prepared(plan, names, odsql.to_sql(query.select(exp.column(_INDEX, quoted=True), copy=False),
                                                   owned=True), whole, kept=False)
    # every field (no select): only the rows' positions are read back (their objects are the
    # answer), so only they are selected; conditions and orderings read columns, not outputs
    query.set("expressions", [exp.column(_INDEX, quoted=True)])
    if not any(query.args.get(part) for part in ("where", "order", "group", "having", "joins", "limit", "offset",
                                                     "distinct", "qualify")):
        return _Prepared(plan, names, None, False)
    return _Prepared(plan, names, odsql.to_sql(query, owned=True), False)


def _listed(node: exp.Expression) -> bool:
    return isinstance(node, exp.Column) and node.name in _LISTS


def _values(column: exp.Column) -> exp.Expression:
    return multivalued_items(_LISTS[column.name], column.copy())


def _per_value(node: exp.Expression) -> exp.Expression:
    """``count(distinct f)``, ``min(f)`` and ``max(f)`` over a multivalued field read its values
    (``count(distinct keyword)`` counts keywords), not the joined text the table stores."""
    if isinstance(node, exp.Count) and isinstance(node.this, exp.Distinct) and len(node.this.expressions) == 1 \
            and _listed(node.this.expressions[0]):
        values = exp.Anonymous(this="flatten", expressions=[exp.Anonymous(this="list", expressions=[
            _values(node.this.expressions[0])])])
        return exp.Anonymous(this="list_unique", expressions=[values])
    if isinstance(node, (exp.Min, exp.Max)) and _listed(node.this):
        each = "list_min" if isinstance(node, exp.Min) else "list_max"
        return node.__class__(this=exp.Anonymous(this=each, expressions=[_values(node.this)]))
    return node


def _shaped(columns: list[Field], rows: list[dict[str, Any]], timezone: str) -> list[dict[str, Any]]:
    """Rows as JSON; a multivalued field as a list of its values (a group key over one holds a
    single value: its column is not multivalued), and so is a function of one (``lower(keyword)``
    gives each keyword lowered): the separator the table joins values with never leaves it."""
    results = records_json(columns, rows, timezone)
    for f in columns:
        if f.type == FieldType.TEXT:
            for r in results:
                value = r.get(f.name)
                if isinstance(value, str) and (SEPARATOR in value or "multivalued" in f.annotations):
                    r[f.name] = value.split(SEPARATOR)
    return results


@dataclass
class CatalogPage:
    total_count: int
    results: list[dict[str, Any]]
    aggregated: bool
    #: The selected columns' names, in order: a table export's header when no dataset matches.
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class FullText:
    """v1's plain full text (words and ``"phrases"``) as a condition of the catalogue's
    ``where``, read as ``api.text_search`` reads a dataset's ``q``: the last word a prefix,
    earlier ones fuzzy, a phrase's words whole and in a row in one value of one field (the
    rule of ODSQL's ``phrase()``, which a phrase among field queries becomes). Kept apart from
    ODSQL text, compiled by the records' builder (``_compile``), so that its words are bounded
    together, as a dataset's plain ``q``."""

    text: str


def catalog_where(where: list[str] | None, qv1: str | None) -> list[str | FullText]:
    """``where`` and ``qv1`` (v1's ``q``, as Opendatasoft's widgets send it) over the catalogue's
    fields: its field queries ODSQL conditions, its plain words and phrases :class:`FullText`
    (v1's rules, not a bare string's exact words)."""
    conditions, text = q_conditions(qv1, FIELDS)
    return [*(where or []), *conditions, *([FullText(text)] if text and text.strip() else [])]


def _given(where: list[str | FullText] | None) -> tuple[str | FullText, ...]:
    """The ``where`` conditions that say something (an empty ``where`` parameter says nothing)."""
    return tuple(w for w in where or [] if isinstance(w, FullText) or (w and w.strip()))


def search_catalog(objects: list[dict[str, Any]], *, select: str | None = None,
                   where: list[str | FullText] | None = None,
                   group_by: str | None = None, order_by: str | None = None, limit: int = 10, offset: int = 0,
                   refine: list[str] | None = None, exclude: list[str] | None = None, lang: str = "fr",
                   timezone: str = "UTC", check_paging: Callable[..., int],
                   disjunctive: tuple[str, ...] = (), v20: bool = False) -> CatalogPage:
    """A page of the catalogue: dataset objects (``select`` narrows them to the selected
    properties), or groups when the query aggregates. ``v20``: Explore API v2.0's ODSQL
    semantics (``odsql.Query.v20``: no null group, date keys as timestamps), as on records."""
    kept = refined(objects, refine or [], exclude or [], timezone=timezone, disjunctive=disjunctive)
    prepared = _prepare(select, _given(where), group_by, order_by, lang, timezone, v20)
    plan, names = prepared.plan, prepared.names
    if plan.aggregated:
        effective = check_paging(limit, offset, max_limit=20_000, window=20_000)
        rows = _rows(kept, prepared)
        if not (group_by and group_by.strip()):  # over every matching dataset: their number, as for records
            total = rows[0].pop(_INDEX) if rows else 0
            return CatalogPage(total, _shaped(list(plan.columns), rows[offset:offset + effective], timezone), True,
                               names)
        return CatalogPage(len(rows), _shaped(list(plan.columns), rows[offset:offset + effective], timezone), True,
                               names)
    effective = check_paging(limit, offset)
    rows = _rows(kept, prepared)
    page = rows[offset:offset + effective]
    if not (select and select.strip()):
        return CatalogPage(len(rows), [kept[r[_INDEX]] for r in page], False, names)
    shaped = _shaped(list(plan.columns), page, timezone)
    if prepared.whole:
        shaped = [_narrowed(kept[r[_INDEX]], set(names), values) for r, values in zip(page, shaped)]
        if objects:  # a dataset object's properties, not the catalogue table's columns (a header when none matches)
            names = tuple(_narrowed(objects[0], set(names), {n: None for n in names if n not in _NAMES}))
    # include_links adds each dataset's own links, whatever the select (the reference, §4.1)
    shaped = [{**values, "_links": kept[r[_INDEX]]["_links"]} if "_links" in kept[r[_INDEX]] else values
              for r, values in zip(page, shaped)]
    return CatalogPage(len(rows), shaped, False, names)


def _whole(select: str) -> bool:
    """Whether a select starts from every field (``*``, ``include()``, ``exclude()``): its
    datasets are then dataset objects, as without a select (whose default is ``*``), not rows
    of the catalogue table (which spells each metadata three times)."""
    return any(isinstance(item, ast.SelectStar)
               or (isinstance(item.expr, ast.Call) and item.expr.name in ("include", "exclude"))
               for item in odsql.parse("select", select).items)


_NAMES = frozenset(f.name for f in FIELDS)


def _narrowed(obj: dict[str, Any], names: set[str], values: dict[str, Any]) -> dict[str, Any]:
    """A dataset object without the properties a select left out (``exclude(fields)``), with
    the values it computed (``records_count * 2 as r2``)."""
    metas = {template: dict(values) if isinstance(values, dict) else values for template, values in obj["metas"].items()}
    body = {**obj, "metas": metas}
    for name, _, _, source in _COLUMNS:
        if name in names:
            continue
        if source == "meta":
            metas["default"].pop(name, None)
        elif source in TEMPLATES:
            (metas.get(source) or {}).pop(name.split(".", 1)[1], None)
        else:
            body.pop(name, None)
    if "metas" not in names:
        body.pop("metas", None)  # left out by the loop already when the select excludes it
    body.update((k, v) for k, v in values.items() if k not in _NAMES)
    return body


def _date_entries(moments: list[datetime], spec: FacetSpec, refined_paths: set[str], prefix: str = "",
                  level: int = 0) -> list[dict]:
    """A date facet's level (years, a refined year's months, a refined month's days), ordered
    and cut as ``spec`` says (``facet(name="modified", sort="-alphanum", limit=3)``), as the
    dataset facets order theirs: the years of a catalogue grow with every year it lives."""
    formats = ("%Y", "%m", "%d")
    counts = Counter(m.strftime(formats[level]) for m in moments)
    order = _in_order(counts, spec)
    entries = []
    for part, n in order:
        value = f"{prefix}/{part}" if prefix else part
        entry: dict[str, Any] = {"name": part, "value": value, "count": n, "state": "displayed"}
        if any(r == value or r.startswith(value + "/") for r in refined_paths):
            entry["state"] = "refined"
            if level < 2:
                entry["facets"] = _date_entries([m for m in moments if m.strftime(formats[level]) == part],
                                                spec, refined_paths, value, level + 1)
        entries.append(entry)
    return entries


def _path_entries(held: list[set[str]], spec, refined_paths: set[str], prefix: str = "") -> list[dict]:
    """A hierarchical facet over the datasets' paths (``held``: each dataset's set of paths): the
    segments under ``prefix``, each counting the datasets with a path through it; a refined
    segment lists the level below it, as the dataset facets do (``facets._path_entries``)."""
    separator = spec.separator
    depth = len(prefix.split(separator)) if prefix else 0
    counts: Counter[str] = Counter()
    for paths in held:
        segments = {p.split(separator)[depth] for p in paths
                    if (not prefix or p.startswith(prefix + separator)) and len(p.split(separator)) > depth}
        counts.update(segments)
    order = _in_order(counts, spec)
    entries = []
    for part, n in order:
        value = f"{prefix}{separator}{part}" if prefix else part
        entry: dict[str, Any] = {"name": part, "value": value, "count": n, "state": "displayed"}
        if any(r == value or r.startswith(value + separator) for r in refined_paths):
            entry["state"] = "refined"
            entry["facets"] = _path_entries(held, spec, refined_paths, value)
        entries.append(entry)
    return entries


def catalog_facets(objects: list[dict[str, Any]], *, facet: list[str] | None = None, refine: list[str] | None = None,
                   exclude: list[str] | None = None, where: list[str | FullText] | None = None,
                   timezone: str = "UTC", disjunctive: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Facet values with counts over the datasets kept by where, refine and exclude
    (``disjunctive``: fields whose refined values are ORed, as in ``refined``)."""
    specs = parse_facets(facet or list(DEFAULT_FACETS), FIELDS)
    tz = zone(timezone)
    given = _given(where)
    if given:
        uids = {r["dataset_uid"] for r in _rows(objects, _prepare(None, given, timezone=timezone, uids=True))}
        objects = [o for o in objects if o["dataset_uid"] in uids]
    # facet(…, disjunctive=true) ORs its field's refined values for every facet, as the v1
    # route's disjunctive.<field> does; facet(…, hierarchical=true) refines its field by path,
    # as the dataset facets read it (``as_faceted``)
    faceted = as_faceted(FIELDS, specs)
    rules = parse_refinements(refine or [], faceted, exclude=False) + parse_refinements(exclude or [], faceted, exclude=True)
    disjunctive = (*disjunctive, *(s.field.name for s in specs if s.disjunctive))
    out = []
    for spec in specs:
        f = spec.field
        name = _column(f.name)
        source = next(c for c in _COLUMNS if c[0] == name)
        kept = refined(objects, refine or [], exclude or [], skip=f.name if spec.disjunctive else None, timezone=timezone,
                       disjunctive=disjunctive, fields=faceted)
        mine = [r for r in rules if r.field.name == f.name]
        values = [_raw(o, name, source[3]) for o in kept]
        if f.type in (FieldType.DATETIME, FieldType.DATE):
            moments = [_moment(v, f.type, tz) for v in values if v]
            entries = _date_entries(moments, spec, {canonical(r) for r in mine if not r.exclude})
        elif spec.separator is not None:
            held = [{collapsed_path(str(i), spec.separator) for i in (v if isinstance(v, list) else [v]) if i is not None} - {""}
                    for v in values]
            entries = _path_entries(held, spec, {canonical(r) for r in mine if not r.exclude})
        else:
            counts: Counter[str] = Counter()
            for v in values:
                for item in (v if isinstance(v, list) else [v]):
                    if item is not None:
                        counts["true" if item is True else "false" if item is False else str(item)] += 1
            wanted = {canonical(r) for r in mine if not r.exclude}
            order = _in_order(counts, spec)
            entries = [{"name": v, "value": v, "count": n, "state": "refined" if v in wanted else "displayed"}
                       for v, n in order]
        # an excluded value at its level of the tree (a month under its refined year), as the
        # dataset facets list theirs, never a path among the years
        separator = "/" if f.type in (FieldType.DATETIME, FieldType.DATE) else spec.separator
        for r in mine:
            if r.exclude:
                list_excluded(entries, canonical(r), separator)
        out.append({"name": f.name, "facets": entries})
    return out


def _in_order(counts: Counter[str], spec: FacetSpec) -> list[tuple[str, int]]:
    """A facet level's (value, count) pairs in ``spec``'s order, cut at its limit: a date's
    years, a tree's level and a flat field's values alike."""
    return sorted(counts.items(), key=_facet_order(spec.sort), reverse=spec.sort == "-alphanum")[:spec.limit or DEFAULT_LIMIT]


def _facet_order(sort: str) -> Callable[[tuple[str, int]], Any]:
    if sort in ("count", "-count"):
        sign = -1 if sort == "-count" else 1
        return lambda item: (sign * item[1], item[0])
    if sort in ("num", "-num"):
        def numeric(item: tuple[str, int]) -> Any:
            try:
                return (0, float(item[0]) * (-1 if sort == "-num" else 1), item[0])
            except ValueError:
                return (1, 0.0, item[0])
        return numeric
    return lambda item: item[0]
