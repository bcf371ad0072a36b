"""The ODSQL syntax tree: small frozen dataclasses, one per construct of the language.

The parser builds these nodes; the compiler reads them; :func:`to_text` writes them back as
ODSQL text (so ``parse(clause, to_text(node)) == node``: security filters can be stored as
trees and shown as text, and the property tests generate trees rather than strings).

Nodes carry no schema knowledge and no positions, so two spellings of the same expression
(``COUNT(*)`` and ``count( * )``) are equal nodes: the compiler relies on that to match a
``select`` item against a ``group_by`` item. Clause items keep their source text on the side
(excluded from equality), because aggregation keys are named after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, Union


class Node:
    """Base class of every syntax-tree node."""

    __slots__ = ()


# ---- literals -------------------------------------------------------------------------------

@dataclass(frozen=True)
class String(Node):
    value: str


@dataclass(frozen=True)
class Number(Node):
    value: int | float


@dataclass(frozen=True)
class Quantity(Node):
    """A number with a unit: a distance (``10km``) or a duration (``1d``, ``3M``)."""

    value: int | float
    unit: str


@dataclass(frozen=True)
class Boolean(Node):
    value: bool


@dataclass(frozen=True)
class Null(Node):
    pass


@dataclass(frozen=True)
class DateLiteral(Node):
    """``date'2017-01'``: the text between the quotes, unparsed (the compiler reads it)."""

    text: str


@dataclass(frozen=True)
class GeomLiteral(Node):
    """``geom'POINT(2.35 48.85)'``: WKT, GeoJSON or hex WKB, unparsed."""

    text: str


# ---- names and calls ------------------------------------------------------------------------

@dataclass(frozen=True)
class Field(Node):
    """A name: a field of the dataset, an alias, or a keyword argument of a function."""

    name: str


@dataclass(frozen=True)
class Star(Node):
    """``*`` as a function argument: ``count(*)``, ``search(*, "x")``, ``range(f, *, 10)``."""


@dataclass(frozen=True)
class Steps(Node):
    """The v2.0 documentation's static steps of ``range()``: ``]10, 50, 100[``, ``[20.5[``,
    ``[1, 2, 3]``. A bracket turned outwards opens that side (``]`` first: a group below the
    first step; ``[`` last: one above the last), as ``*`` does in v2.1's ``range(f, *, 10, *)``."""

    values: tuple[Node, ...]
    open_low: bool
    open_high: bool


@dataclass(frozen=True)
class Pattern(Node):
    """``nom_*`` inside ``include()`` / ``exclude()``."""

    text: str


@dataclass(frozen=True)
class Call(Node):
    """A function call; ``name`` is lower-cased. Named arguments (``now(days=-1)``) are
    ``Compare("=", Field(name), value)`` arguments, read as such by the functions that take them."""

    name: str
    args: tuple[Node, ...] = ()
    distinct: bool = False


# ---- operators ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Negate(Node):
    operand: Node


@dataclass(frozen=True)
class Arithmetic(Node):
    op: str  # + - * /
    left: Node
    right: Node


@dataclass(frozen=True)
class Compare(Node):
    op: str  # = != < <= > >= :   (``<>`` is read as ``!=``)
    left: Node
    right: Node


@dataclass(frozen=True)
class Like(Node):
    operand: Node
    pattern: Node


@dataclass(frozen=True)
class InRange(Node):
    """``x in [low..high]``; a ``]`` on the left or ``[`` on the right excludes that bound."""

    operand: Node
    low: Node
    high: Node
    low_inclusive: bool = True
    high_inclusive: bool = True


@dataclass(frozen=True)
class InList(Node):
    operand: Node
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Member(Node):
    """``"Paris" in multivalued_field``."""

    value: Node
    field: Field


@dataclass(frozen=True)
class IsNull(Node):
    operand: Node
    negated: bool = False


@dataclass(frozen=True)
class IsBool(Node):
    operand: Node
    value: bool
    negated: bool = False


@dataclass(frozen=True)
class Not(Node):
    operand: Node


@dataclass(frozen=True)
class And(Node):
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or(Node):
    operands: tuple[Node, ...]


# ---- clauses --------------------------------------------------------------------------------

@dataclass(frozen=True)
class SelectStar(Node):
    """``*`` as a select item: every visible field."""


@dataclass(frozen=True)
class SelectItem(Node):
    expr: Node
    alias: str | None = None
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class SelectClause(Node):
    items: tuple[SelectStar | SelectItem, ...]


@dataclass(frozen=True)
class GroupItem(Node):
    expr: Node
    alias: str | None = None
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class GroupByClause(Node):
    items: tuple[GroupItem, ...]


@dataclass(frozen=True)
class OrderItem(Node):
    expr: Node
    descending: bool | None = None  # None: no direction written (ascending)
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class OrderByClause(Node):
    items: tuple[OrderItem, ...]


Clause = Union[SelectClause, GroupByClause, OrderByClause, Node]


# ---- walking --------------------------------------------------------------------------------

def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-nodes of a node, in source order."""
    out: list[Node] = []
    for value in vars(node).values():
        if isinstance(value, Node):
            out.append(value)
        elif isinstance(value, tuple):
            out.extend(v for v in value if isinstance(v, Node))
    return tuple(out)


def walk(node: Node):
    """Every node of the tree, parents first (iterative: deep trees are fine)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))


def depth(node: Node) -> int:
    """The height of the tree (iterative)."""
    best, stack = 0, [(node, 1)]
    while stack:
        current, level = stack.pop()
        best = max(best, level)
        stack.extend((child, level + 1) for child in children(current))
    return best


# ---- writing ODSQL back ---------------------------------------------------------------------

#: Words a bare name must not be: the grammar's keywords and Opendatasoft's reserved list.
KEYWORDS = frozenset(
    "and or not in is like as to distinct asc desc true false null "
    "avg by count date_format day dayofweek equi group hour ifnull limit lower max millisecond min minute "
    "month quarter range search second select sum top upper where year".split()
)
_BARE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def quote_name(name: str) -> str:
    """A name as ODSQL text: bare when it can be, else backquoted with ``\\`` escapes."""
    if _BARE_NAME.fullmatch(name) and name.lower() not in KEYWORDS:
        return name
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def quote_string(value: str, quote: str = '"') -> str:
    return quote + value.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote


def format_number(value: int | float) -> str:
    """Plain decimal notation (the grammar has no exponent)."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, int):
        return str(value)
    text = format(Decimal(repr(value)), "f")
    return text if "." in text else text + ".0"


def _atomic(node: Node) -> bool:
    return isinstance(node, (String, Number, Quantity, Boolean, Null, DateLiteral, GeomLiteral, Field, Call,
                             Star, Pattern, Steps))


def _wrap(node: Node) -> str:
    text = to_text(node)
    return text if _atomic(node) else f"({text})"


def _call(node: Call) -> str:
    if node.distinct:
        return f"{node.name}(distinct {to_text(node.args[0])})"
    return f"{node.name}({', '.join(_arg(a) for a in node.args)})"


def _arg(node: Node) -> str:
    # Named arguments stay unparenthesised so they read as ``days=-1``.
    if isinstance(node, Compare) and node.op == "=" and isinstance(node.left, Field):
        return f"{to_text(node.left)}={_wrap(node.right)}"
    return to_text(node)


def _in_range(node: InRange) -> str:
    left = "[" if node.low_inclusive else "]"
    right = "]" if node.high_inclusive else "["
    return f"{_wrap(node.operand)} in {left}{_wrap(node.low)}..{_wrap(node.high)}{right}"


def _item(expr: Node, suffix: str) -> str:
    return to_text(expr) + suffix


_WRITERS: dict[type, Callable[[Node], str]] = {
    String: lambda n: quote_string(n.value),
    Number: lambda n: format_number(n.value),
    Quantity: lambda n: format_number(n.value) + n.unit,
    Boolean: lambda n: "true" if n.value else "false",
    Null: lambda n: "null",
    DateLiteral: lambda n: "date" + quote_string(n.text, "'"),
    GeomLiteral: lambda n: "geom" + quote_string(n.text, "'"),
    Field: lambda n: quote_name(n.name),
    Star: lambda n: "*",
    Steps: lambda n: f"{']' if n.open_low else '['}{', '.join(_wrap(v) for v in n.values)}{'[' if n.open_high else ']'}",
    Pattern: lambda n: n.text,
    Call: _call,
    Negate: lambda n: f"-{_wrap(n.operand)}",
    Arithmetic: lambda n: f"{_wrap(n.left)} {n.op} {_wrap(n.right)}",
    Compare: lambda n: f"{_wrap(n.left)} {n.op} {_wrap(n.right)}",
    Like: lambda n: f"{_wrap(n.operand)} like {_wrap(n.pattern)}",
    InRange: _in_range,
    InList: lambda n: f"{_wrap(n.operand)} in ({', '.join(_wrap(i) for i in n.items)})",
    Member: lambda n: f"{_wrap(n.value)} in {quote_name(n.field.name)}",
    IsNull: lambda n: f"{_wrap(n.operand)} is {'not ' if n.negated else ''}null",
    IsBool: lambda n: f"{_wrap(n.operand)} is {'not ' if n.negated else ''}{'true' if n.value else 'false'}",
    Not: lambda n: f"not {_wrap(n.operand)}",
    And: lambda n: " and ".join(_wrap(o) for o in n.operands),
    Or: lambda n: " or ".join(_wrap(o) for o in n.operands),
    SelectStar: lambda n: "*",
    SelectItem: lambda n: _item(n.expr, f" as {quote_name(n.alias)}" if n.alias is not None else ""),
    GroupItem: lambda n: _item(n.expr, f" as {quote_name(n.alias)}" if n.alias is not None else ""),
    OrderItem: lambda n: _item(n.expr, {None: "", True: " desc", False: " asc"}[n.descending]),
    SelectClause: lambda n: ", ".join(to_text(i) for i in n.items),
    GroupByClause: lambda n: ", ".join(to_text(i) for i in n.items),
    OrderByClause: lambda n: ", ".join(to_text(i) for i in n.items),
}


def to_text(node: Node) -> str:
    """ODSQL text for a node; parsing it gives back an equal node."""
    return _WRITERS[type(node)](node)
