"""ODSQL text → syntax tree: :func:`parse`.

Owns the reading of text only: the Lark LALR parser built once from ``grammar.lark``, the
decoding of quoted strings and names, and the translation of Lark's errors into
:class:`ODSQLError`. It knows nothing of schemas or SQL (see ``compiler.py``).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from lark import Lark, Token, Transformer_NonRecursive, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from portail.odsql import ast
from portail.odsql.errors import CLAUSES, ODSQLError

#: Deeper trees are refused (real queries are shallow; this bounds recursion in later stages).
MAX_DEPTH = 100
#: Longer clause texts are refused.
MAX_LENGTH = 20_000

_STARTS = {clause: f"{clause}_clause" for clause in CLAUSES}


@cache
def _lark() -> Lark:
    grammar = resources.files("portail.odsql").joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer="contextual", start=list(_STARTS.values()),
                propagate_positions=True, maybe_placeholders=True)


# ---- decoding quoted text -------------------------------------------------------------------

_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)
_CONTROL = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}


def _unescape_char(match: re.Match[str]) -> str:
    code = match.group(1)
    if len(code) == 5:
        return chr(int(code[1:], 16))
    return _CONTROL.get(code, code)


def decode_string(body: str) -> str:
    """The value of a quoted string's body: ``\\n \\t \\r \\b \\f \\uXXXX`` (JSON's escapes),
    and a backslash before any other character stands for that character (``\\'``, ``\\\\``)."""
    text = _ESCAPE.sub(_unescape_char, body)
    # JSON.stringify writes characters beyond the BMP as surrogate pairs: join them.
    try:
        return text.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:
        raise ValueError("a \\u escape leaves half of a surrogate pair") from None


def decode_name(token: str) -> str:
    """A backquoted name: ``\\``` and ``\\\\`` escapes, nothing else."""
    if token.startswith("`"):
        return re.sub(r"\\(.)", r"\1", token[1:-1], flags=re.DOTALL)
    return token


_QUANTITY = re.compile(r"(\d+(?:\.\d+)?)\s*(.+)")


def _number(text: str) -> int | float:
    return float(text) if "." in text else int(text)


# ---- tree → nodes ---------------------------------------------------------------------------

def _present(items: list) -> tuple:
    return tuple(i for i in items if i is not None)


class _Builder(Transformer_NonRecursive):
    """Lark tree → :mod:`ast` nodes. Holds the source text, to keep each item's spelling."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    # clauses
    def select_clause(self, items):
        return ast.SelectClause(tuple(items))

    def select_star(self, _):
        return ast.SelectStar()

    def select_item(self, children):
        (expr, text), alias = children
        return ast.SelectItem(expr, alias, text)

    def where_clause(self, children):
        return children[0]

    def group_by_clause(self, items):
        return ast.GroupByClause(tuple(items))

    def group_item(self, children):
        (expr, text), alias = children
        return ast.GroupItem(expr, alias, text)

    def order_by_clause(self, items):
        return ast.OrderByClause(tuple(items))

    def order_item(self, children):
        (expr, text), direction = children
        descending = None if direction is None else direction.type == "DESC"
        return ast.OrderItem(expr, descending, text)

    @v_args(meta=True)
    def span(self, meta, children):
        return children[0], self.text[meta.start_pos:meta.end_pos].strip()

    # boolean structure
    def or_expr(self, children):
        return ast.Or(tuple(children))

    def and_expr(self, children):
        return ast.And(tuple(children))

    def not_(self, children):
        return ast.Not(children[-1])

    # predicates
    def compare(self, children):
        left, op, right = children
        return ast.Compare("!=" if op == "<>" else str(op), left, right)

    def like(self, children):
        return ast.Like(*children)

    def in_range(self, children):
        operand, (low, high, low_inclusive, high_inclusive) = children
        return ast.InRange(operand, low, high, low_inclusive, high_inclusive)

    def colon_range(self, children):
        operand, _, bounds = children
        return self.in_range([operand, bounds])

    def range(self, children):
        opening, low, high, closing = children
        return low, high, opening.type == "LSQB", closing.type == "RSQB"

    def in_list(self, children):
        return ast.InList(children[0], _present(children[1:]))

    def member(self, children):
        value, name = children
        return ast.Member(value, ast.Field(name))

    def is_null(self, children):
        operand, negation, _ = children
        return ast.IsNull(operand, negation is not None)

    def is_bool(self, children):
        operand, negation, boolean = children
        return ast.IsBool(operand, boolean.value, negation is not None)

    # arithmetic
    def add(self, children):
        return ast.Arithmetic("+", *children)

    def sub(self, children):
        return ast.Arithmetic("-", *children)

    def mul(self, children):
        return ast.Arithmetic("*", *children)

    def div(self, children):
        return ast.Arithmetic("/", *children)

    def neg(self, children):
        return ast.Negate(children[0])

    # atoms
    def name(self, children):
        return decode_name(str(children[0]))

    def field(self, children):
        return ast.Field(children[0])

    def call(self, children):
        return ast.Call(str(children[0]).lower(), _present(children[1:]))

    def call_distinct(self, children):
        return ast.Call(str(children[0]).lower(), (children[1],), distinct=True)

    def star(self, _):
        return ast.Star()

    def steps(self, children):
        opening, *values, closing = children
        return ast.Steps(tuple(values), opening.type == "RSQB", closing.type == "LSQB")

    def pattern(self, children):
        return ast.Pattern(str(children[0]))

    def string(self, children):
        return ast.String(decode_string(str(children[0])[1:-1]))

    def number(self, children):
        return ast.Number(_number(str(children[0])))

    def quantity(self, children):
        value, unit = _QUANTITY.fullmatch(str(children[0])).groups()
        return ast.Quantity(_number(value), unit)

    def date(self, children):
        return ast.DateLiteral(decode_string(str(children[0])[5:-1]))

    def geom(self, children):
        return ast.GeomLiteral(decode_string(str(children[0])[5:-1]))

    def boolean(self, children):
        return ast.Boolean(str(children[0]).lower() == "true")

    def null(self, _):
        return ast.Null()


# ---- errors ---------------------------------------------------------------------------------

def _describe(token: Token) -> str:
    if token.type == "$END":
        return "end of query"
    return f'"{token}"'


#: Text right before a range's missing bound, by the token found there instead: ``*`` after the
#: range's opening bracket or between its bounds, a bracket or the end after ``..``/``to``,
#: ``..`` after the opening bracket (``in [`` or ``: [``; ``range(f, [*, 10])`` is no range).
_BEFORE_BOUND = {
    "*": re.compile(r"(?:(?:\bin|:)\s*[\[\]]|\.\.|\bto)\s*$", re.IGNORECASE),
    "]": re.compile(r"(?:\.\.|\bto)\s*$", re.IGNORECASE),
    "..": re.compile(r"(?:\bin|:)\s*[\[\]]\s*$", re.IGNORECASE),
}
_BEFORE_BOUND["["] = _BEFORE_BOUND["$END"] = _BEFORE_BOUND["]"]
#: Text right after ``not`` written after its operand: ``f not in (…)``, ``f not like "…"``.
_NOT_OPERATOR = re.compile(r"not\s+(in|like)\b", re.IGNORECASE)

#: Opendatasoft documents a range's bounds as two literals (``f in [1..10]``, ``d in
#: [date'2017'..date'2018']``) and no open bound; a comparison says the same thing.
_OPEN_BOUND = ("A range's bounds are two values, as in f in [1..10]: Opendatasoft's ranges have no open bound "
               "(* or a missing value); write f >= 1 or f <= 10 instead.")


def _hint(token: Token, text: str) -> str:
    """What a syntax error most likely means, for two habits from other languages that ODSQL
    does not take: an open range bound (Lucene's ``[1 TO *]``, which v1's ``q`` takes) and
    SQL's ``f not in (…)`` (ODSQL writes the negation before the condition). Empty otherwise."""
    start = len(text) if token.type == "$END" else token.start_pos or 0
    before = _BEFORE_BOUND.get("$END" if token.type == "$END" else str(token))
    if before is not None and before.search(text[:start]):
        return " " + _OPEN_BOUND
    operator = _NOT_OPERATOR.match(text, start) if token.type == "NOT" else None
    if operator is not None:
        word = operator.group(1).lower()
        return (f" ODSQL writes the negation before the condition: not f {word} … (Opendatasoft documents no "
                f"f not {word} …).")
    return ""


def _syntax_error(error: UnexpectedInput, text: str, clause: str) -> ODSQLError:
    position = getattr(error, "pos_in_stream", None)
    if isinstance(error, UnexpectedCharacters):
        detail = f'Unexpected character "{text[error.pos_in_stream]}" at position {error.pos_in_stream + 1}.'
    elif isinstance(error, UnexpectedEOF) or (isinstance(error, UnexpectedToken) and error.token.type == "$END"):
        detail = "Unexpected end of query." + (_hint(error.token, text) if isinstance(error, UnexpectedToken) else "")
    elif isinstance(error, UnexpectedToken):
        start = error.token.start_pos if error.token.start_pos is not None else position or 0
        detail = f"Unexpected {_describe(error.token)} at position {start + 1}." + _hint(error.token, text)
    else:  # pragma: no cover - every Lark syntax error is one of the above
        detail = "Syntax error."
    return ODSQLError(detail, clause)


# ---- the face -------------------------------------------------------------------------------

def parse(clause: str, text: str) -> ast.Node:
    """Parse one clause of ODSQL.

    ``clause`` is ``"select"``, ``"where"``, ``"group_by"`` or ``"order_by"``. A where clause
    gives its expression node; the others a clause node (``SelectClause``,
    ``GroupByClause``, ``OrderByClause``) whose ``items`` keep their source text.
    Any syntax error raises :class:`ODSQLError` naming the clause.
    """
    if clause not in _STARTS:
        raise ValueError(f"unknown ODSQL clause {clause!r}; expected one of {', '.join(CLAUSES)}")
    if not isinstance(text, str):
        raise ODSQLError("The clause is not text.", clause)
    if not text.strip():
        raise ODSQLError("The clause is empty.", clause)
    if len(text) > MAX_LENGTH:
        raise ODSQLError(f"The clause is longer than {MAX_LENGTH} characters.", clause)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ODSQLError("The clause is not valid Unicode text.", clause) from None
    try:
        tree = _lark().parse(text, start=_STARTS[clause])
    except UnexpectedInput as error:
        raise _syntax_error(error, text, clause) from None
    try:
        node = _Builder(text).transform(tree)
    except VisitError as error:  # a decoding failure inside the builder
        raise ODSQLError(f"Invalid literal: {error.orig_exc}.", clause) from None
    if ast.depth(node) > MAX_DEPTH:
        raise ODSQLError(f"The expression is nested more than {MAX_DEPTH} levels deep.", clause)
    return node
