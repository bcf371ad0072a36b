"""ODSQL syntax trees → one sqlglot ``SELECT`` over the ``records`` table of a dataset version.

Owns the meaning of a query: name resolution against the dataset schema (hidden fields
resolve as unknown), kinds and coercions, null semantics, the shape of aggregated queries
(group keys, output names, "aggregates first" in order_by), and the caller's security filter.
Functions are looked up in the registry (``functions.py``); this module never builds SQL
from text: identifiers come from the schema as quoted columns, constants become sqlglot
literals, aliases become quoted identifiers.

Semantics worth knowing:

* ``where``: a comparison involving null is false, also under ``not`` (two-valued logic):
  every atomic condition under an odd number of ``not`` is wrapped in ``COALESCE(…, FALSE)``;
  positive positions are left bare so the engine can still prune on them.
* ``a / b`` is null when ``b`` is 0; ``+ - * /`` take numbers only. Int arithmetic never
  overflows: each int carries a bound of its magnitude (``Typed.bits``) that picks BIGINT,
  HUGEINT or, past it, DOUBLE for the result.
* ``order_by`` puts nulls last in both directions (sqlglot writes ``NULLS LAST`` where the
  dialect needs it; DuckDB's default already is). Groups are sorted by their keys, after the
  requested order if any, so that pages of groups never overlap. Constants are not sort keys.
  Without ``order_by``, groups come in ascending key order with the null group *first*, as
  live Opendatasoft portals answer (data.education.gouv.fr's département list, recorded with
  ``{"libelle_departement": null}`` as its first group; data.economie.gouv.fr alike).
* ``group_by`` over a multivalued text field groups each of its values, as Opendatasoft's
  terms aggregations do: records are joined to their values (``LEFT JOIN unnest(…)``), so a
  record holding [a, b] counts in group a and in group b, one holding none in the null group;
  ``where`` and the row filter still test the records, before they are joined.
* Output names: the alias, else the field name, else the expression as written (trimmed),
  so ``count(*)`` and ``RANGE(capacity,15)`` are keys as Opendatasoft writes them. Columns are
  qualified (``"records"."f"``) so an alias can never capture a field of the same name.
* Dates: literals and ``now()`` are computed in Python in the query's ``timezone``; date
  parts, ``date_format`` and ``range()`` buckets read datetimes as wall-clock time in that zone,
  or in ``cut_timezone`` when given (v1 analyze's ``output_timezone``).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field as dataclass_field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from sqlglot import exp

from portail.odsql import ast, functions, kinds, literals
from portail.odsql.errors import ODSQLError
from portail.odsql.functions import GROUP_BY, ORDER_BY, REGISTRY, SELECT, WHERE, WHERE_FORMS, GroupKey, Role
from portail.odsql.kinds import GEO, NUMERIC, RECORDS, Kind, Typed, column, paren
from portail.odsql.parser import parse
from portail.odsql.technical import DATASET_ID, RECORD_SIZE, RECORD_TIMESTAMP, Technical, record_size_expression
from portail.schema import Field, FieldType
from portail.store.fulltext import with_scans
from portail.values import record_id_expression

#: The technical field every dataset has (unless one of its fields is so named): a record's id.
RECORD_ID = "recordid"


@dataclass
class Query:
    """The ODSQL parameters of one Explore API request (clauses as the client wrote them)."""

    select: str | None = None
    where: list[str | ast.Node] = dataclass_field(default_factory=list)  # repeated where parameters, ANDed (text, or parsed)
    group_by: str | None = None
    order_by: str | None = None
    limit: int | None = None  # None or negative: no LIMIT
    offset: int | None = None
    lang: str = "fr"
    timezone: str = "UTC"
    #: The zone date parts, ``date_format`` and ``range()`` date buckets read datetimes in, when
    #: it is not ``timezone`` (None): v1 analyze writes its x parts in ``output_timezone`` while
    #: the request's dates (literals, ``now()``, refinements) stay read in ``timezone``.
    cut_timezone: str | None = None
    now: datetime | None = None  # the instant now() reads; None: the current time
    geometry: str = "geojson"  # how geo outputs leave the engine: "geojson" (API shapes) or "wkb" (geo exports)
    #: Explore API v2.0's semantics, which its changelog to v2.1 lists: no null group, date
    #: group keys as timestamps (epoch milliseconds), year()…second() outputs as text.
    v20: bool = False
    #: The values of v2.0's technical fields ``datasetid``, ``record_timestamp`` and
    #: ``record_size`` (``technical.py``); None: they are unknown fields, as on v2.1.
    technical: Technical | None = None
    #: The fields full text over every field (a bare string, ``search(*, …)``, ``suggest``,
    #: ``startswith``) reads, among the visible ones; None: every visible field. The catalogue
    #: narrows it to what people search a catalogue for (``api.catalog_search.SEARCHED``).
    searched: tuple[str, ...] | None = None
    #: Whether ``json_format()`` gives JSON (the API's answers, the JSON family of exports) or
    #: the text as it is (the other exports: reference §5.7, "returns the original text in
    #: non-JSON exports"; a CSV cell held ``"(vide)"``, quotes and all).
    json_values: bool = True


@dataclass(frozen=True)
class Security:
    """What the caller may see: a filter ANDed into every query (compiled against the whole
    schema, so it may use hidden fields), and fields that must not exist for the caller."""

    row_filter: ast.Node | str | None = None
    hidden_fields: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Plan:
    """A compiled query: the SELECT, and its output columns as schema fields (in order),
    which tell the API how to serialise each value."""

    select: exp.Select
    columns: tuple[Field, ...]
    aggregated: bool
    #: ``now()`` was compiled (in the query or the row filter): its instant is a constant of
    #: the SQL, so the plan holds for this call only and must not be kept.
    reads_clock: bool = False


@dataclass(frozen=True)
class _Key:
    name: str
    node: ast.Node
    key: GroupKey
    typed: Typed


@dataclass(frozen=True)
class _Output:
    name: str
    typed: Typed
    node: ast.Node | None = None
    aliased: bool = False
    fresh: bool = False  # its expression was built for this output alone (a field's own)


_COMPARISONS: dict[str, type[exp.Binary]] = {"=": exp.EQ, ":": exp.EQ, "!=": exp.NEQ, "<": exp.LT, "<=": exp.LTE,
                                            ">": exp.GT, ">=": exp.GTE}
_ARITHMETIC: dict[str, type[exp.Binary]] = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul}
_PHYSICAL = {Kind.TEXT: "VARCHAR", Kind.INT: "BIGINT", Kind.DOUBLE: "DOUBLE", Kind.BOOLEAN: "BOOLEAN",
             Kind.DATE: "DATE", Kind.DATETIME: "TIMESTAMPTZ", Kind.POINT: "GEOMETRY", Kind.SHAPE: "GEOMETRY",
             Kind.JSON: "JSON"}
_NULL_STAND_IN = (Kind.TEXT, Kind.DOUBLE, Kind.INT, Kind.DATE, Kind.DATETIME, Kind.SHAPE, Kind.POINT, Kind.BOOLEAN,
                  Kind.JSON)


class _Compiler:
    """Compiles nodes for one query; implements the registry's ``Context``."""

    def __init__(self, fields: list[Field], hidden: frozenset[str], query: Query, now: datetime) -> None:
        self.visible = [f for f in fields if f.name not in hidden]
        self.by_name = {f.name: f for f in self.visible}
        self.searched = self.visible if query.searched is None else [f for f in self.visible if f.name in query.searched]
        self.technical = query.technical
        self.tz = literals.zone(query.timezone or "UTC")
        self.cut_tz = literals.zone(query.cut_timezone) if query.cut_timezone else self.tz
        self.lang = (query.lang or "fr").lower()
        self.json_values = query.json_values
        self._now = now
        self.read_clock = False
        self.clause = WHERE
        self.groups: dict[ast.Node, _Key] | None = None  # set once the query is known to aggregate
        self.group_aliases: dict[str, _Key] = {}
        self.in_aggregate = False
        self.grouped = False
        self.group_outputs: list[exp.Expression] = []
        self.unnested: dict[str, str] = {}  # multivalued field read in group_by → alias of its values

    # -- the Context protocol ------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        """The query's instant; reading it marks the plan as time-dependent."""
        self.read_clock = True
        return self._now

    def field(self, name: str) -> Field:
        f = self.by_name.get(name)
        if f is None:
            raise self.error(f"Unknown field: {name}")
        return f

    def visible_fields(self) -> list[Field]:
        return list(self.visible)

    def searched_fields(self) -> list[Field]:
        return list(self.searched)

    def error(self, detail: str) -> ODSQLError:
        return ODSQLError(detail, self.clause)

    def align(self, a: Typed, b: Typed) -> tuple[Typed, Typed]:
        return kinds.align(a, b, self.tz, self.error)

    @contextmanager
    def in_clause(self, clause: str) -> Iterator[None]:
        previous, self.clause = self.clause, clause
        try:
            yield
        finally:
            self.clause = previous

    # -- values --------------------------------------------------------------------------------

    def value(self, node: ast.Node) -> Typed:
        if self.groups is not None and not self.in_aggregate:
            key = self.groups.get(node)
            if key is None and isinstance(node, ast.Field):
                key = self.group_aliases.get(node.name)
            if key is not None:
                return replace(key.typed, sql=key.typed.sql.copy())  # sqlglot nodes have one parent
            if isinstance(node, ast.Field):
                self.field(node.name)  # an unknown name is reported as such first
                raise self.error(f"Field {node.name} must be in group_by or inside an aggregate.")
        try:
            result = _VALUES[type(node)](self, node)
        except kinds.LiteralError as error:
            raise self.error(f"Invalid literal: {error}.") from None
        if isinstance(result, GroupKey):
            raise self.error(f"{node.name}() is a group_by item of its own.")  # type: ignore[attr-defined]
        return result

    def _constant(self, value: Any) -> Typed:
        return kinds.constant(value, self.tz)

    def _string(self, node: ast.String) -> Typed:
        return self._constant(node.value)

    def _number(self, node: ast.Number) -> Typed:
        return self._constant(node.value)

    def _date(self, node: ast.DateLiteral) -> Typed:
        try:
            return self._constant(literals.parse_date(node.text, self.tz))
        except ValueError:
            raise self.error(f"Invalid date literal: {node.text!r}") from None

    def _geom(self, node: ast.GeomLiteral) -> Typed:
        try:
            geometry = literals.parse_geometry(node.text)
        except literals.LatitudeError:
            raise self.error("Invalid geometry literal: a latitude beyond -90 to 90 (longitude comes first, "
                             "then latitude).") from None
        except ValueError:
            raise self.error("Invalid geometry literal: expected WKT, GeoJSON or WKB, longitude first.") from None
        wkt = literals.geometry_wkt(geometry)
        kind = Kind.POINT if geometry.geom_type == "Point" else Kind.SHAPE
        return Typed(kinds.call("ST_GeomFromText", kinds.string(wkt)), kind, value=wkt)

    def _field(self, node: ast.Field, whole: bool = False) -> Typed:
        if node.name not in self.by_name and (technical := self._technical(node.name)) is not None:
            return technical
        f = self.field(node.name)
        if not whole and self.clause == GROUP_BY and f.type == FieldType.TEXT and "multivalued" in f.annotations:
            return self._one_value(f)
        return Typed(column(f), kinds.FIELD_KINDS[f.type], field=f)

    def _technical(self, name: str) -> Typed | None:
        """A technical field (``technical.py``) no dataset field has taken, or None. Not
        constants: they are group keys and sort keys like fields (each is a cast, which the
        engine takes in ORDER BY, where it refuses a bare string)."""
        if name == RECORD_ID:
            # v2.0's and v1's technical field: a record's id, as the API gives it (its visible
            # values hashed), which ods-widgets' map asks by (q=recordid:'…' for a clicked shape)
            return Typed(record_id_expression(list(self.visible)), Kind.TEXT)
        if self.technical is None:
            return None
        if name == DATASET_ID:
            return Typed(exp.cast(kinds.string(self.technical.dataset_id), "VARCHAR"), Kind.TEXT)
        if name == RECORD_TIMESTAMP:
            return Typed(kinds.timestamptz_sql(self.technical.timestamp), Kind.DATETIME)
        if name == RECORD_SIZE:
            return Typed(record_size_expression(list(self.visible)), Kind.INT)
        return None

    def _one_value(self, f: Field) -> Typed:
        """A multivalued field read in group_by: one of its values, each record joined to the
        values it holds (``_values_join``), so that a record holding [a, b] counts in group a
        and in group b, and one holding none in the null group, as Opendatasoft's terms
        aggregations count. The key is a single text value: no multivalued annotation."""
        alias = self.unnested.setdefault(f.name, f"__values_{len(self.unnested)}")
        single = replace(f, annotations={k: v for k, v in f.annotations.items() if k != "multivalued"})
        return Typed(exp.column(_VALUE, table=alias, quoted=True), Kind.TEXT, field=single)

    def _misplaced(self, detail: str) -> Callable[[ast.Node], Typed]:
        def fail(node: ast.Node) -> Typed:
            raise self.error(detail)
        return fail

    def _numeric(self, t: Typed, what: str) -> Typed:
        if t.kind not in NUMERIC and t.kind is not Kind.NULL:
            raise self.error(f"{what} applies to numbers, not to a {t.kind} value.")
        return t

    def _negate(self, node: ast.Negate) -> Typed:
        t = self._numeric(self.value(node.operand), "The minus sign")
        if t.constant and t.value is not None:
            return self._constant(-t.value)
        if t.kind is Kind.INT and kinds.int_type(t.bits) != "BIGINT":  # -(-2**63) is no BIGINT
            return Typed(exp.Neg(this=exp.cast(t.sql, "HUGEINT")), Kind.INT, t.aggregate, bits=t.bits)
        kind = t.kind if t.kind is not Kind.NULL else Kind.DOUBLE
        return Typed(exp.Neg(this=paren(t.sql)), kind, t.aggregate, bits=t.bits)

    def _arithmetic(self, node: ast.Arithmetic) -> Typed:
        a = self._numeric(self.value(node.left), f"The operator {node.op}")
        b = self._numeric(self.value(node.right), f"The operator {node.op}")
        aggregate = a.aggregate or b.aggregate
        if node.op == "/":  # division by zero gives null
            divisor = exp.func("nullif", b.sql, exp.Literal.number(0))
            return Typed(exp.Div(this=paren(a.sql), expression=divisor), Kind.DOUBLE, aggregate)
        if a.kind is not Kind.INT or b.kind is not Kind.INT:
            sql: exp.Expression = _ARITHMETIC[node.op](this=paren(a.sql), expression=paren(b.sql))
            return Typed(sql, Kind.DOUBLE, aggregate)
        # Ints are computed in a type that holds any result their bounds allow, so that they never
        # overflow (no error, no null): exact ints up to a HUGEINT, past it a double, as
        # Opendatasoft's floating point would give. A constant is cast too: the engine types a
        # small literal as a 32-bit INTEGER, and folds 5642 * 380625 in that type (an error).
        bits = a.bits + b.bits if node.op == "*" else max(a.bits, b.bits) + 1
        engine = kinds.int_type(bits)
        left = a.sql if engine == "BIGINT" and not a.constant else exp.cast(a.sql, engine or "DOUBLE")
        sql = _ARITHMETIC[node.op](this=paren(left), expression=paren(b.sql))
        return Typed(sql, Kind.INT, aggregate, bits=bits) if engine else Typed(sql, Kind.DOUBLE, aggregate)

    def _comparable(self, a: Typed, b: Typed, op: str) -> tuple[Typed, Typed]:
        a, b = self.align(a, b)
        for t in (a, b):
            if t.kind in GEO or t.kind is Kind.JSON:
                raise self.error(f"A {t.kind} value cannot be compared with {op}.")
        if Kind.BOOLEAN in (a.kind, b.kind) and op not in ("=", ":", "!="):
            raise self.error(f"Booleans compare with = or != only, not {op}.")
        return a, b

    def _compare(self, node: ast.Compare) -> Typed:
        left, right = self.value(node.left), self.value(node.right)
        if node.op in ("=", ":", "!="):
            member = self._any_value(left, right, [right]) or self._any_value(right, left, [left])
            if member is not None:
                return Typed(exp.Not(this=member) if node.op == "!=" else member, Kind.BOOLEAN)
        else:
            compare = _COMPARISONS[node.op]
            some = (self._some_value(left, [right], node.op, lambda item, v: compare(this=item, expression=v))
                    or self._some_value(right, [left], node.op, lambda item, v: compare(this=v, expression=item)))
            if some is not None:
                return Typed(some, Kind.BOOLEAN)
        a, b = self._comparable(left, right, node.op)
        sql = _COMPARISONS[node.op](this=paren(a.sql), expression=paren(b.sql))
        return Typed(sql, Kind.BOOLEAN, a.aggregate or b.aggregate)

    def _any_value(self, target: Typed, other: Typed, values: list[Typed]) -> exp.Expression | None:
        """``tags = "parc"``, ``tags:"parc"``, ``tags in ("parc", "bois")`` over a multivalued
        field: whether one of its values is one of ``values``, as on Opendatasoft, whose
        multivalued values are arrays (uMap asks the catalogue for ``features in ("geo")``, the
        QGIS plugin for ``features='geo'``). None when ``target`` is no multivalued field, or
        is compared with itself."""
        parts = kinds.multivalued_items(target.field, target.sql) if target.field is not None else None
        if parts is None or other.field is target.field or target.kind is not Kind.TEXT:
            return None
        texts = [_as_text(self._comparable(v, Typed(exp.Null(), Kind.TEXT), "=")[0]) for v in values]
        if len(texts) == 1:
            return kinds.holding(target.field, target.sql, texts[0].copy)
        return kinds.call("list_has_any", parts, exp.Array(expressions=texts))

    def _some_value(self, target: Typed, others: list[Typed], op: str,
                    test: Callable[..., exp.Expression]) -> exp.Expression | None:
        """``tags > "m"``, ``tags in ["a".."c"]`` over a multivalued field: whether one of its
        values passes ``test(value, *others)``, as a range query over Opendatasoft's arrays of
        values matches a record by any of them (as ``=`` does, ``_any_value``), not by the
        text that joins them. None when ``target`` is no multivalued text field, or is compared
        with itself."""
        parts = kinds.multivalued_items(target.field, target.sql) if target.field is not None else None
        if parts is None or target.kind is not Kind.TEXT or any(o.field is target.field for o in others):
            return None
        bounds = [_as_text(self._comparable(o, Typed(exp.Null(), Kind.TEXT), op)[0]) for o in others]
        item = exp.to_identifier("__item")  # field names never start with "_": no column is shadowed
        passing = kinds.call("list_filter", parts, exp.Lambda(this=test(item, *bounds), expressions=[item.copy()]))
        return exp.GT(this=kinds.call("len", passing), expression=exp.Literal.number(0))

    def _like(self, node: ast.Like) -> Typed:
        return functions.like(self, self.value(node.operand), self.value(node.pattern))

    def _in_range(self, node: ast.InRange) -> Typed:
        operand, low_value, high_value = self.value(node.operand), self.value(node.low), self.value(node.high)
        low_op, high_op = (exp.GTE if node.low_inclusive else exp.GT), (exp.LTE if node.high_inclusive else exp.LT)
        some = self._some_value(operand, [low_value, high_value], "in [..]", lambda item, lo, hi: exp.and_(
            low_op(this=item.copy(), expression=lo), high_op(this=item.copy(), expression=hi)))
        if some is not None:
            return Typed(some, Kind.BOOLEAN)
        a, low = self._comparable(operand, low_value, "in [..]")
        b, high = self._comparable(operand, high_value, "in [..]")
        lower = low_op(this=paren(a.sql), expression=paren(low.sql))
        upper = high_op(this=paren(b.sql.copy()), expression=paren(high.sql))
        return Typed(exp.and_(lower, upper), Kind.BOOLEAN, operand.aggregate)

    def _in_list(self, node: ast.InList) -> Typed:
        operand = self.value(node.operand)
        if not node.items:
            return Typed(exp.false(), Kind.BOOLEAN, value=False)
        values = [self.value(item) for item in node.items]
        member = self._any_value(operand, Typed(exp.Null(), Kind.NULL), values)
        if member is not None:
            return Typed(member, Kind.BOOLEAN)
        pairs = [self._comparable(operand, value, "in (…)") for value in values]
        left = next((a for a, _ in pairs if a.kind is not Kind.NULL), pairs[0][0])
        items = [b.sql for _, b in pairs]
        return Typed(exp.In(this=paren(left.sql), expressions=items), Kind.BOOLEAN, operand.aggregate)

    def _member(self, node: ast.Member) -> Typed:
        # In group_by, "x" in f asks about the record's whole list, not about one of its values.
        target = self._field(node.field, whole=True) if self.clause == GROUP_BY else self.value(node.field)
        item = self.value(node.value)
        parts = kinds.multivalued_items(target.field, target.sql) if target.field else None
        if parts is None:  # a single-valued field: plain equality
            a, b = self._comparable(item, target, "in")
            return Typed(exp.EQ(this=paren(b.sql), expression=paren(a.sql)), Kind.BOOLEAN)
        a, _ = self._comparable(item, Typed(exp.Null(), Kind.TEXT), "in")
        return Typed(kinds.holding(target.field, target.sql, _as_text(a).copy), Kind.BOOLEAN)

    def _is_null(self, node: ast.IsNull) -> Typed:
        t = self.value(node.operand)
        sql: exp.Expression = exp.Is(this=paren(t.sql), expression=exp.Null())
        return Typed(exp.Not(this=sql) if node.negated else sql, Kind.BOOLEAN, t.aggregate)

    def _is_bool(self, node: ast.IsBool) -> Typed:
        t = self.value(node.operand)
        if t.kind not in (Kind.BOOLEAN, Kind.NULL):
            raise self.error(f"is {'true' if node.value else 'false'} applies to booleans, not to a {t.kind} value.")
        sql: exp.Expression = exp.Is(this=paren(t.sql), expression=exp.true() if node.value else exp.false())
        return Typed(exp.Not(this=sql) if node.negated else sql, Kind.BOOLEAN, t.aggregate)

    def _boolean_operand(self, node: ast.Node) -> Typed:
        t = self.value(node)
        if t.kind not in (Kind.BOOLEAN, Kind.NULL):
            raise self.error(f"and/or/not combine conditions, not a {t.kind} value.")
        return t

    def _not(self, node: ast.Not) -> Typed:
        t = self._boolean_operand(node.operand)
        return Typed(exp.Not(this=paren(t.sql)), Kind.BOOLEAN, t.aggregate)

    def _connective(self, node: ast.And | ast.Or) -> Typed:
        parts = [self._boolean_operand(o) for o in node.operands]
        combine = exp.and_ if isinstance(node, ast.And) else exp.or_
        return Typed(combine(*[p.sql for p in parts]), Kind.BOOLEAN, any(p.aggregate for p in parts))

    # -- function calls ------------------------------------------------------------------------

    def _call(self, node: ast.Call) -> Typed | GroupKey:
        spec = (WHERE_FORMS.get(node.name) if self.clause == WHERE else None) or REGISTRY.get(node.name)
        if spec is None:
            raise self.error(f"{node.name}()")  # as Opendatasoft words it (reference §7)
        if self.clause not in spec.clauses:
            allowed = ", ".join(c for c in (SELECT, WHERE, GROUP_BY, ORDER_BY) if c in spec.clauses)
            raise self.error(f"{node.name}() is not allowed in {self.clause} (only in {allowed}).")
        count = len(node.args)
        if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
            expected = (f"{spec.min_args}" if spec.min_args == spec.max_args else
                        f"at least {spec.min_args}" if spec.max_args is None else f"{spec.min_args} to {spec.max_args}")
            raise self.error(f"{node.name}() takes {expected} argument(s), {count} given.")
        if node.distinct and spec.name != "count":
            raise self.error(f"distinct is only allowed in count(distinct …), not in {node.name}().")
        aggregate = spec.role is Role.AGGREGATE
        if aggregate and self.in_aggregate:
            raise self.error("Aggregates cannot be nested.")
        outer, self.in_aggregate = self.in_aggregate, self.in_aggregate or aggregate
        try:
            args = [self._argument(spec, i, a) for i, a in enumerate(node.args)]
            result = spec.build(self, node, args)
        finally:
            self.in_aggregate = outer
        if isinstance(result, Typed):
            inner = any(isinstance(a, Typed) and a.aggregate for a in args)
            result = replace(result, aggregate=aggregate or inner or result.aggregate)
        return result

    def _argument(self, spec: functions.Function, index: int, node: ast.Node) -> Any:
        accepted = spec.param(index)
        if accepted is functions.RAW:
            return node
        t = self.value(node)
        if t.kind is Kind.NULL and accepted != kinds.ANY:
            stand_in = next(k for k in _NULL_STAND_IN if k in accepted)
            return Typed(exp.cast(exp.Null(), _PHYSICAL[stand_in]), stand_in, value=None)
        if t.kind not in accepted:
            expected = " or ".join(sorted(str(k) for k in accepted))
            raise self.error(f"Argument {index + 1} of {spec.name}() must be {expected}, not {t.kind}.")
        return t

    # -- conditions ----------------------------------------------------------------------------

    def condition(self, node: ast.Node, negated: bool = False) -> exp.Expression:
        """A where expression as SQL with two-valued logic (see the module docstring)."""
        if isinstance(node, ast.And):
            return exp.and_(*[self.condition(o, negated) for o in node.operands])
        if isinstance(node, ast.Or):
            return exp.or_(*[self.condition(o, negated) for o in node.operands])
        if isinstance(node, ast.Not):
            return exp.Not(this=paren(self.condition(node.operand, not negated)))
        if isinstance(node, ast.String):  # a bare string: full text
            try:
                sql = functions.fulltext(self, node.value)
            except kinds.LiteralError as error:
                raise self.error(f"Invalid literal: {error}.") from None
        else:
            t = self.value(node)
            if t.kind not in (Kind.BOOLEAN, Kind.NULL):
                raise self.error(f"A {t.kind} value is not a condition.")
            if isinstance(node, (ast.IsNull, ast.IsBool)) or t.constant:
                return t.sql
            sql = t.sql
        return exp.Coalesce(this=sql, expressions=[exp.false()]) if negated else sql

    # -- clauses -------------------------------------------------------------------------------

    def group_keys(self, clause: ast.GroupByClause) -> list[_Key]:
        keys = []
        with self.in_clause(GROUP_BY):
            for item in clause.items:
                compiled = self._call(item.expr) if isinstance(item.expr, ast.Call) else self.value(item.expr)
                if isinstance(compiled, GroupKey):
                    key, typed = compiled, Typed(compiled.output, compiled.kind)
                else:
                    if compiled.aggregate:
                        raise self.error("group_by cannot hold an aggregate.")
                    if compiled.constant:  # the engine would read GROUP BY 2 as a column position
                        raise self.error(f"Cannot group by the constant {item.text or ast.to_text(item.expr)}.")
                    key = GroupKey((compiled.sql,), compiled.sql, compiled.kind, (compiled.sql,))
                    typed = compiled
                name = _output_name(item.alias, item.expr, item.text, self)
                keys.append(_Key(name, item.expr, key, typed))
        return keys

    def outputs(self, clause: ast.SelectClause, keys: list[_Key], aggregated: bool) -> list[_Output]:
        outputs = [_Output(k.name, k.typed, k.node, True) for k in keys]
        key_nodes = {k.name: k.node for k in keys}
        with self.in_clause(SELECT):
            # A select that opens with exclude() and includes nothing starts from every field;
            # an include() names its fields but those any exclude() names, before it or after.
            excluded = {name for item in clause.items if _is_directive(item, "exclude") and not aggregated
                        for name in self._matched(item.expr)}
            includes = any(_is_directive(item, "include") for item in clause.items)
            if _is_directive(clause.items[0], "exclude") and not includes and not aggregated:
                outputs = [self._field_output(f) for f in self.visible]
            for item in clause.items:
                if isinstance(item, ast.SelectStar):
                    if aggregated:
                        # A select of * alone (the default) lists the groups; beside other items
                        # it would select fields out of group_by, which Opendatasoft refuses.
                        if keys and len(clause.items) == 1:
                            continue
                        raise self.error("* cannot be selected together with aggregates or beside group_by items: a "
                                         "selected field must be in group_by; select the group_by items and "
                                         "aggregates instead.")
                    outputs.extend(self._field_output(f) for f in self.visible)
                elif _is_directive(item, "include") or _is_directive(item, "exclude"):
                    outputs = self._directive(item, outputs, aggregated, excluded)
                else:
                    typed = self.value(item.expr)
                    name = _output_name(item.alias, item.expr, item.text, self)
                    if name in key_nodes:  # the group key itself, selected again: it is already an output
                        if item.expr != key_nodes[name] and item.expr != ast.Field(name):
                            raise self.error(f"Two select items are named {name}; give one an alias.")
                        continue
                    outputs.append(_Output(name, typed, item.expr, item.alias is not None))
            return _deduplicated(outputs, self)

    def _field_output(self, f: Field) -> _Output:
        return _Output(f.name, Typed(column(f), kinds.FIELD_KINDS[f.type], field=f), ast.Field(f.name), fresh=True)

    def _directive(self, item: ast.SelectItem, outputs: list[_Output], aggregated: bool,
                   excluded: set[str]) -> list[_Output]:
        call_node: ast.Call = item.expr  # type: ignore[assignment]
        if aggregated:
            raise self.error(f"{call_node.name}() cannot be used with aggregates.")
        if item.alias is not None:
            raise self.error(f"{call_node.name}() takes no alias.")
        names = self._matched(call_node)
        if call_node.name == "exclude":
            return [o for o in outputs if not (isinstance(o.node, ast.Field) and not o.aliased and o.name in names)]
        present = {o.name for o in outputs}
        return outputs + [self._field_output(f) for f in self.visible
                          if f.name in names and f.name not in present and f.name not in excluded]

    def _matched(self, call_node: ast.Call) -> set[str]:
        """The names of the fields an include() or exclude() names."""
        if not call_node.args:
            raise self.error(f"{call_node.name}() takes at least one pattern.")
        matched: list[Field] = []
        for arg in call_node.args:
            if isinstance(arg, ast.Pattern):
                prefix = arg.text[:-1]
                matched.extend(f for f in self.visible if f.name.startswith(prefix))
            elif isinstance(arg, ast.Field):
                matched.append(self.field(arg.name))
            elif isinstance(arg, ast.Star):
                matched.extend(self.visible)
            else:
                raise self.error(f"{call_node.name}() takes field names or patterns like name_*.")
        return {f.name for f in matched}

    def ordering(self, clause: ast.OrderByClause | None, outputs: list[_Output], keys: list[_Key],
                 aggregated: bool) -> list[exp.Ordered]:
        if clause is None:  # groups by their keys, the null group first, as Opendatasoft answers them
            return [exp.Ordered(this=e.copy(), desc=False, nulls_first=True) for k in keys for e in k.key.order]
        aliases = {o.name: o for o in outputs if o.aliased}
        key_aliases = {k.name: k for k in keys}
        ordered: list[exp.Ordered] = []
        plain_seen = False
        with self.in_clause(ORDER_BY):
            for item in clause.items:
                expr, descending = item.expr, bool(item.descending)
                if item.descending is None and isinstance(expr, ast.Negate) and isinstance(expr.operand, ast.Field):
                    expr, descending = expr.operand, True  # the v1 habit: order_by=-field
                key = None
                if self.groups is not None:
                    key = self.groups.get(expr)
                    if key is None and isinstance(expr, ast.Field):
                        key = key_aliases.get(expr.name)
                if key is not None:
                    sqls, is_aggregate, kind = [e.copy() for e in key.key.order], False, Kind.INT
                else:
                    t = aliases[expr.name].typed if isinstance(expr, ast.Field) and expr.name in aliases else self.value(expr)
                    if t.constant:  # no effect on the order (ORDER BY 2 would mean a column position, 'x' is refused)
                        continue
                    sqls, is_aggregate, kind = [_sort_value(t, descending)], t.aggregate, t.kind
                if kind in GEO:
                    raise self.error("Geo values cannot be sorted; sort by distance() instead.")
                if is_aggregate and not aggregated:
                    raise self.error("An aggregate in order_by needs an aggregated select or a group_by.")
                if is_aggregate and plain_seen:
                    raise self.error("Aggregates must come first in order_by.")
                plain_seen = plain_seen or not is_aggregate
                ordered.extend(exp.Ordered(this=s, desc=descending, nulls_first=False) for s in sqls)
        # Groups, or records, that tie on the requested order keep a stable order: pages must not
        # overlap (a record tied at a page's edge came back twice and its twin never).
        ordered.extend(exp.Ordered(this=e.copy(), desc=False, nulls_first=False) for k in keys for e in k.key.order)
        if ordered and not aggregated:
            ordered.append(exp.Ordered(this=exp.column("rowid", table=RECORDS, quoted=True), desc=False, nulls_first=False))
        return ordered


#: The column of a multivalued field's values joined to each record (``_values_join``). Field
#: names never start with "_": the API's unqualified conditions (refine, text) stay unambiguous.
_VALUE = "__value"


def _values_join(f: Field, alias: str) -> exp.Join:
    """``LEFT JOIN unnest(<values of f>) AS alias(__value) ON TRUE``: each record once per value
    it holds, a record holding none once with a null value (the null group). A join, not a
    derived table: ``records`` stays the table of the query, so the conditions the caller and
    the API add to WHERE (row filter, refine, full text by row id) still read the records
    themselves, before they are multiplied, and the engine splits each distinct text once."""
    values = kinds.multivalued_values(f, column(f))
    unnest = exp.Unnest(expressions=[values], alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True),
                                                                   columns=[exp.to_identifier(_VALUE, quoted=True)]))
    return exp.Join(this=unnest, side="LEFT", on=exp.true())


def _sort_value(t: Typed, descending: bool) -> exp.Expression:
    """What a record sorts by. A multivalued text field holds a list of values: it sorts by its
    smallest value ascending and its largest descending, as the search engine behind
    Opendatasoft sorts a field holding several values (Elasticsearch's default sort modes), a
    record holding none last; not by the text joining them (``"a, c"`` came before ``"a,b"``,
    and an empty one first)."""
    extreme = kinds.field_extreme(t, largest=descending)
    return t.sql.copy() if extreme is None else extreme


def _as_text(t: Typed) -> exp.Expression:
    return t.sql if t.kind is Kind.TEXT else exp.cast(t.sql, "VARCHAR")


def _output_name(alias: str | None, expr: ast.Node, text: str, compiler: _Compiler) -> str:
    name = alias if alias is not None else expr.name if isinstance(expr, ast.Field) else text
    if not name or "\x00" in name:
        raise compiler.error("An alias must be a non-empty name without NUL characters.")
    return name


def _is_directive(item: ast.Node, name: str) -> bool:
    return isinstance(item, ast.SelectItem) and isinstance(item.expr, ast.Call) and item.expr.name == name


def _deduplicated(outputs: list[_Output], compiler: _Compiler) -> list[_Output]:
    seen: dict[str, _Output] = {}
    for o in outputs:
        if o.name in seen:
            # The same field or expression named twice by default is one output; two aliases
            # alike name two outputs the client meant apart.
            if seen[o.name].node != o.node or o.aliased:
                raise compiler.error(f"Two select items are named {o.name}; give one an alias.")
            continue
        seen[o.name] = o
    if not seen:
        raise compiler.error("The select clause selects nothing.")
    return list(seen.values())


_VALUES: dict[type, Callable[[_Compiler, Any], Any]] = {
    ast.String: _Compiler._string,
    ast.Number: _Compiler._number,
    ast.Boolean: lambda c, n: c._constant(n.value),
    ast.Null: lambda c, n: c._constant(None),
    ast.DateLiteral: _Compiler._date,
    ast.GeomLiteral: _Compiler._geom,
    ast.Quantity: lambda c, n: c._misplaced(
        f"{ast.to_text(n)} (a number with a unit) is only an argument of within_distance() or range().")(n),
    ast.Star: lambda c, n: c._misplaced("* is only an argument of count(*), search(*, …), suggest(*, …), phrase(*, …) or range().")(n),
    ast.Steps: lambda c, n: c._misplaced(f"{ast.to_text(n)} (bracketed steps) is only an argument of range().")(n),
    ast.Pattern: lambda c, n: c._misplaced(f"{n.text} is only an argument of include() or exclude().")(n),
    ast.Field: _Compiler._field,
    ast.Call: _Compiler._call,
    ast.Negate: _Compiler._negate,
    ast.Arithmetic: _Compiler._arithmetic,
    ast.Compare: _Compiler._compare,
    ast.Like: _Compiler._like,
    ast.InRange: _Compiler._in_range,
    ast.InList: _Compiler._in_list,
    ast.Member: _Compiler._member,
    ast.IsNull: _Compiler._is_null,
    ast.IsBool: _Compiler._is_bool,
    ast.Not: _Compiler._not,
    ast.And: _Compiler._connective,
    ast.Or: _Compiler._connective,
}


# ---- the face -------------------------------------------------------------------------------

def _given(text: str | None) -> bool:
    return text is not None and bool(text.strip())


def _has_aggregate(node: ast.Node) -> bool:
    return any(isinstance(n, ast.Call) and n.name in REGISTRY and REGISTRY[n.name].role is Role.AGGREGATE
               for n in ast.walk(node))


def _output_field(o: _Output) -> Field:
    source = o.typed.field  # a group key over a multivalued field has a single-valued one (_one_value)
    if source is not None and not o.aliased and source.name == o.name:
        return source
    kind_type = kinds.OUTPUT_TYPES[o.typed.kind]
    if source is not None:
        return Field(name=o.name, label=o.name, type=source.type, annotations=dict(source.annotations))
    return Field(name=o.name, label=o.name, type=kind_type)


#: The date functions whose results v2.0 wrote as text ("now return integers, instead of
#: strings", v2.1's changelog).
_V20_TEXT_PARTS = frozenset({"year", "month", "day", "hour", "minute", "second"})


def _v20_output(o: _Output, is_key: bool) -> _Output:
    """An output as Explore API v2.0 wrote it (``Query.v20``): a date part as text, a date or
    datetime group key as its instant in epoch milliseconds (v2.1's changelog: "previously as
    timestamps"; milliseconds are the unit of the Elasticsearch date keys v2.0 answered, a
    date's instant its midnight UTC)."""
    if isinstance(o.node, ast.Call) and o.node.name in _V20_TEXT_PARTS and not o.typed.aggregate:
        return replace(o, typed=Typed(exp.cast(o.typed.sql.copy(), "VARCHAR"), Kind.TEXT))
    if is_key and o.typed.kind in (Kind.DATE, Kind.DATETIME):
        moment = exp.cast(o.typed.sql.copy(), "TIMESTAMP") if o.typed.kind is Kind.DATE else o.typed.sql.copy()
        return replace(o, typed=Typed(kinds.call("epoch_ms", moment), Kind.INT))
    return o


#: What a row filter is read with: the defaults it was checked with when saved (UTC, French names;
#: ``auth.services``), never the caller's ``timezone``, ``lang`` or v2.0 technical fields. Read
#: in the caller's zone, ``instant < date'2024-01-01'`` let ``timezone=Etc/GMT+12`` see twelve
#: hours past the cut, and ``date_format(jour, "MMMM") != "janvier"`` let ``lang=en`` see January.
ROW_FILTER_QUERY = Query()


def compile_plan(query: Query, fields: list[Field], security: Security | None = None) -> Plan:
    """Compile a query into a :class:`Plan` (the SELECT and its output columns).

    Raises :class:`ODSQLError` for anything Opendatasoft would reject with ODSQLError, and
    ``ValueError`` for an unknown ``timezone``.
    """
    security = security or Security()
    now = query.now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    c = _Compiler(fields, frozenset(security.hidden_fields), query, now)

    wheres = [query.where] if isinstance(query.where, str) else list(query.where or [])
    conditions = [c.condition(text if isinstance(text, ast.Node) else parse(WHERE, text)) for text in wheres
                  if isinstance(text, ast.Node) or _given(text)]
    filter_compiler = None
    if security.row_filter is not None:
        row_filter = security.row_filter
        node = parse(WHERE, row_filter) if isinstance(row_filter, str) else row_filter
        filter_compiler = _Compiler(fields, frozenset(), ROW_FILTER_QUERY, now)
        conditions.append(filter_compiler.condition(node))

    select_node = parse(SELECT, query.select) if _given(query.select) else ast.SelectClause((ast.SelectStar(),))
    group_node = parse(GROUP_BY, query.group_by) if _given(query.group_by) else None
    order_node = parse(ORDER_BY, query.order_by) if _given(query.order_by) else None
    aggregated = group_node is not None or _has_aggregate(select_node)

    keys = c.group_keys(group_node) if group_node is not None else []
    if aggregated:
        c.groups = {k.node: k for k in keys}
        c.group_aliases = {k.name: k for k in keys}
        c.grouped = True
        c.group_outputs = [k.typed.sql for k in keys]
    outputs = c.outputs(select_node, keys, aggregated)
    ordered = c.ordering(order_node, outputs, keys, aggregated)
    if query.v20:  # after the ordering, which keeps sorting the values themselves
        outputs = [_v20_output(o, i < len(keys)) for i, o in enumerate(outputs)]

    # A field's output is built afresh for this query (``_field_output``): aliased as it is. Any
    # other output may share nodes with group keys, havings or orderings: aliased on a copy.
    select = exp.Select(expressions=[exp.alias_(kinds.output(o.typed, query.geometry, aggregated), o.name, quoted=True,
                                                copy=not (o.fresh and not aggregated))
                                     for o in outputs])
    select = select.from_(exp.Table(this=exp.to_identifier(RECORDS)), copy=False)
    for name, alias in c.unnested.items():
        select = select.join(_values_join(c.by_name[name], alias), copy=False)
    if conditions:
        select = select.where(exp.and_(*conditions) if len(conditions) > 1 else conditions[0], copy=False)
    if keys:
        select = select.group_by(*[e.copy() for k in keys for e in k.key.group_by], copy=False)
        havings = [k.key.having for k in keys if k.key.having is not None]
        if query.v20:  # v2.0 left the records without a value out of the groups
            havings += [exp.Not(this=exp.Is(this=e.copy(), expression=exp.Null())) for k in keys for e in k.key.group_by]
        if havings:
            select = select.having(exp.and_(*havings) if len(havings) > 1 else havings[0], copy=False)
    if ordered:
        select = select.order_by(*ordered, copy=False)
    if query.limit is not None and query.limit >= 0:
        select = select.limit(exp.Literal.number(query.limit), copy=False)
    if query.offset:
        select = select.offset(exp.Literal.number(query.offset), copy=False)
    reads_clock = c.read_clock or (filter_compiler is not None and filter_compiler.read_clock)
    return Plan(select, tuple(_output_field(o) for o in outputs), aggregated, reads_clock)


def compile_query(query: Query, fields: list[Field], security: Security | None = None) -> exp.Select:
    """Compile a query into one sqlglot SELECT over the ``records`` table."""
    return compile_plan(query, fields, security).select


def to_sql(expression: exp.Expression, dialect: str = "duckdb", owned: bool = False) -> str:
    """SQL text for a compiled expression, its text matches in their scan form (a store with a
    full-text index generates its own SQL, the matches it can answer replaced by lookups).
    ``owned``: the caller hands the tree over (it is changed, not copied: the catalogue's
    hundred outputs cost as much to copy as to compile)."""
    return with_scans(expression if owned else expression.copy()).sql(dialect=dialect, copy=False)
