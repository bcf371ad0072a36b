"""The ODSQL function registry: one table, name → signature, clauses allowed, role, builder.

Every function of the Explore API v2.1 catalogue is a row of :data:`REGISTRY` (text, date and
numeric scalars; full-text and geo predicates; aggregates; ``range()`` and ``geo_cluster()``
for group_by; ``random()`` for order_by; the pseudo-functions ``include()``/``exclude()``;
the catalog-only ``vector_similarity*``). The compiler checks a call against its row (clause,
arity, kinds of the arguments) and hands the compiled arguments to the row's builder, which
returns a sqlglot expression. Builders never see ODSQL text: constants arrive as Python values
and become sqlglot literals.

Full text (bare strings, ``search()``, ``suggest()``, v1 ``q``) is :func:`search_match`: words
compared without case or accents, each by its mode's rule (a bare string, as the reference
defines it: every word whole, ``term*`` a prefix; ``search()`` and v1 ``q``: the last word a
prefix, earlier ones fuzzy; ``suggest()``: every word a prefix), each word as
``store.fulltext.word_match``, which a version's full-text index answers without scanning the
records. ``like`` stays a scan (:func:`text_match`); so does a phrase (Portail's ``phrase()``,
v1's ``"quoted phrase"``: :func:`phrase_match`) once the index has found its words. Every one
of these forms reads stars alike (:func:`star_terms`): a trailing ``*`` a prefix, ``\\*`` a
star itself, a star before a word's end a 400 naming the form the caller wrote.

Geo functions read a geo_point_2d field from the longitude and latitude its version stores
beside it when there are (``kinds.stored_lonlat``, written by ``ingest.load.with_lonlat``):
plain doubles instead of a geometry decoded per row, and for ``within_distance()``,
``intersects()`` and ``within()`` a box on them ahead of the exact test, which it never
narrows (the same rows come back with or without the stored columns).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Any, Callable, Protocol, Sequence
from zoneinfo import ZoneInfo

from sqlglot import exp

from portail.odsql import ast, clusters, kinds, literals
from portail.odsql.errors import ODSQLError
from portail.odsql.kinds import (ANY, FIELD_KINDS, GEO, NUMERIC, RECORDS, TEMPORAL, Kind, Typed, call, column, constant,
                                 local_time, number, paren, string)
from portail.schema import Field, FieldType
from portail.store.fulltext import WORD_SPLIT, Match, folded, word_match
from portail.store.fulltext import split as fold_words

SELECT, WHERE, GROUP_BY, ORDER_BY = "select", "where", "group_by", "order_by"


class Role(StrEnum):
    SCALAR = "scalar"  # a value, usable wherever its clauses allow
    PREDICATE = "predicate"  # a boolean filter
    AGGREGATE = "aggregate"  # one value per group
    GROUPING = "grouping"  # a group_by key with its own bucketing (range, geo_cluster)
    ORDERING = "ordering"  # order_by only (random)
    PSEUDO = "pseudo"  # select-list directive, not a value (include, exclude)
    CATALOG = "catalog"  # exists on the catalog endpoint only


class Context(Protocol):
    """What a builder may ask of the compiler."""

    clause: str
    tz: ZoneInfo  # the zone the request's dates are read in (literals, now())
    cut_tz: ZoneInfo  # the zone date parts and date buckets are cut in (``Query.cut_timezone``)
    lang: str
    now: datetime
    grouped: bool
    in_aggregate: bool
    group_outputs: list[exp.Expression]
    json_values: bool  # json_format() gives JSON (else the text as it is: a non-JSON export)

    def value(self, node: ast.Node) -> Typed: ...

    def field(self, name: str) -> Field: ...

    def visible_fields(self) -> list[Field]: ...

    def searched_fields(self) -> list[Field]:
        """What full text over every field (a bare string, ``search(*, …)``) reads."""
        ...

    def error(self, detail: str) -> ODSQLError: ...

    def align(self, a: Typed, b: Typed) -> tuple[Typed, Typed]: ...


@dataclass(frozen=True)
class GroupKey:
    """A group_by item compiled: what to GROUP BY, what to output, how to sort the groups."""

    group_by: tuple[exp.Expression, ...]
    output: exp.Expression
    kind: Kind
    order: tuple[exp.Expression, ...]
    having: exp.Expression | None = None


#: An argument's accepted kinds; ``RAW`` hands the builder the syntax node itself.
Param = frozenset[Kind] | None
RAW: Param = None
TEXT = frozenset({Kind.TEXT})
NUMBER = NUMERIC
DATE = TEMPORAL
ORDERABLE = NUMERIC | TEMPORAL | frozenset({Kind.TEXT})

Builder = Callable[[Context, ast.Call, list[Any]], "Typed | GroupKey"]


@dataclass(frozen=True)
class Function:
    name: str
    params: tuple[Param, ...]  # the last one repeats when max_args is None
    min_args: int
    max_args: int | None
    clauses: frozenset[str]
    role: Role
    build: Builder
    returns: str
    summary: str

    def param(self, index: int) -> Param:
        return self.params[min(index, len(self.params) - 1)]


# ---- helpers --------------------------------------------------------------------------------

def _bool(sql: exp.Expression) -> Typed:
    return Typed(sql, Kind.BOOLEAN)


def _constant_int(ctx: Context, t: Typed, what: str, low: int | None = None, high: int | None = None) -> int:
    if not t.constant or isinstance(t.value, bool) or not isinstance(t.value, (int, float)) or t.value != int(t.value):
        raise ctx.error(f"{what} must be an integer constant.")
    value = int(t.value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ctx.error(f"{what} must be between {low} and {high}.")
    return value


def _constant_text(ctx: Context, node: ast.Node, what: str) -> str:
    if not isinstance(node, ast.String):
        raise ctx.error(f"{what} must be a string literal.")
    return node.value


def _as_text(t: Typed) -> exp.Expression:
    return t.sql if t.kind is Kind.TEXT else exp.cast(t.sql, "VARCHAR")


# ---- full text (the seam for a later full-text index) ---------------------------------------

#: What stands between two words of a phrase's scan: a run of ``fulltext.WORD_SPLIT``, and with it
#: the runs of ``_`` alone it borders (``fulltext.split`` keeps no such word, nor does the index
#: answer one): "x _ y" holds the phrase "x y", as ``search()`` finds both words in it.
_BETWEEN_WORDS = rf"(?:^|{WORD_SPLIT})(?:_+(?:{WORD_SPLIT}|$))+|{WORD_SPLIT}"


def _words(sql: exp.Expression) -> exp.Expression:
    """Folded text with every run between words (``_BETWEEN_WORDS``) turned into one space."""
    return exp.Trim(this=call("regexp_replace", folded(sql), exp.Literal.string(_BETWEEN_WORDS),
                              exp.Literal.string(" "), exp.Literal.string("g")))


def _concat(*parts: exp.Expression) -> exp.Expression:
    return call("concat", *parts)


def _terms(text: str) -> list[tuple[str, bool]]:
    """Whitespace-separated terms; a trailing ``*`` marks a prefix."""
    out = []
    for raw in text.split():
        term = raw.strip("*")
        if term:
            out.append((term, raw.endswith("*")))
    return out


def text_match(targets: Sequence[exp.Expression], text: str, mode: str = "word") -> exp.Expression:
    """A scan: every term of ``text`` must be whole words, in a row, of one of ``targets``
    (text expressions), or word prefixes for ``term*`` (``like`` passes one term per word; a
    quoted phrase of v1 ``q`` one term of its words). Accents and case are
    ignored. Full text (bare strings, ``search()``, ``suggest()``) is :func:`search_match`."""
    terms = [(t, p) for t, p in _terms(text) if any(ch.isalnum() for ch in t)]
    if not terms:
        return exp.true()
    if not targets:
        return exp.false()
    cheap: list[exp.Expression] = []
    conditions = []
    for term, prefix in terms:
        whole = mode == "word" and not prefix
        pin = _needle(term, whole)
        matches = []
        for target in targets:
            hay = _concat(exp.Literal.string(" "), _words(target.copy()), exp.Literal.string(" " if whole else ""))
            matches.append((_prefilter(target, term), call("contains", hay, pin.copy())))
        if len(matches) == 1:
            cheap += matches[0][0]
            conditions.append(matches[0][1])
        else:
            conditions.append(exp.or_(*[exp.and_(*tests, match) for tests, match in matches]))
    return exp.and_(*cheap, *conditions) if len(cheap) + len(conditions) > 1 else conditions[0]


def _needle(term: str, whole: bool) -> exp.Expression:
    """``term``'s words as :func:`text_match` looks for them in a target's ``_words``: one
    literal for a plain ASCII term, which the engine folds exactly as Python does (a dataset
    with 70 text fields built the engine's folding of the same literal 70 times per term,
    most of a new phrase search's time); the engine's own folding otherwise."""
    edge = " " if whole else ""
    if term.isascii():
        return string(" " + " ".join(_ascii_words(term)) + edge)
    return _concat(exp.Literal.string(" "), _words(string(term)), exp.Literal.string(edge))


def _prefilter(target: exp.Expression, term: str) -> list[exp.Expression]:
    """Cheap necessary conditions of a match of ``term`` in ``target``: each word of ``term`` is
    somewhere in the folded text. Splitting every row into words (``_words``, a regular
    expression) costs ~9x a plain ``contains``, and most rows of a selective pattern fail the
    cheap tests first (DuckDB evaluates a conjunction's terms in turn, on the rows the previous
    kept): ``like 'SARL'`` on 2 M rows 1.15 -> 0.5 s. :func:`text_match` puts every term's tests
    before any split, so a word in every row (``like 'etablissement 99'``) splits only the rows
    holding the rare one. Only for plain ASCII words, which the engine folds exactly as Python
    does (an accented or exotic term keeps the one exact test)."""
    words = _ascii_words(term) if term.isascii() else []
    return [call("contains", folded(target.copy()), string(w)) for w in words]


def _ascii_words(term: str) -> list[str]:
    """The words of a plain ASCII term, folded (lower case), as ``fulltext.split`` cuts them: a
    run of ``_`` alone is none."""
    return [w for w in re.findall(r"[a-z0-9_]+", term.lower()) if w.strip("_")]


def _fuzziness(word: str) -> int:
    """Opendatasoft's search(): edit distance 2 past 5 characters, 1 past 2, else exact (a swap
    of two adjacent letters one edit, as Lucene counts it: ``fulltext.Match``)."""
    return 2 if len(word) > 5 else 1 if len(word) > 2 else 0


@dataclass(frozen=True)
class Term:
    """A whitespace-separated term of a search text: its words, folded as the index folds them,
    and whether its last word is a prefix (a star ends the term)."""

    words: tuple[str, ...]
    prefix: bool


class MisplacedStar(ValueError):
    """A term with a star before a word's end (``pa*s``, ``*ris``): each form refuses it in its
    own words (:func:`misplaced_star`), since the caller wrote that form, not another."""

    def __init__(self, term: str) -> None:
        super().__init__(term)
        self.term = term


def star_terms(text: str) -> list[Term]:
    r"""The terms of a search text, read by the one star rule of every full-text form (``like``,
    a bare string, ``search()``, ``suggest()``, ``phrase()``, v1's ``q``), so that a star means
    the same whatever form a client picked: a ``*`` ending a word is a prefix (``pari*``,
    ``jean-pie*``, ``pari*,``: the last word a prefix; ``*`` alone, no word), the one wildcard
    Opendatasoft documents (``"film*"``, ``q=film*``, ``name LIKE 'abc*'``). ``\*`` is a star
    itself, punctuation between words as ``%`` is (``pa\*`` the whole word ``pa``, ``x\*y`` the
    words x and y, as the value "x*y" holds them; any other backslash is punctuation too). The
    string's own escapes are read before (as Elasticsearch reads a query string's after
    JSON's): the ODSQL literal ``'pa\\*'`` holds ``pa\*``, while ``'pa\*'`` already holds
    ``pa*`` (``odsql.parser.decode_string``; v1 reads a ``"phrase"``'s the same way). A star
    with a word after it (``pa*s``, ``*ris``, ``pa*-x``) is :class:`MisplacedStar`: no rule says
    what it means, and read as punctuation (``search()``'s and the bare strings' old reading) it
    quietly asked for the words ``pa`` and ``s``."""
    out: list[Term] = []
    for raw in text.split():
        plain = raw.replace("\\*", "\\ ")  # an escaped star: punctuation, no wildcard
        star = plain.find("*")
        if star >= 0 and fold_words(plain[star:]):
            raise MisplacedStar(raw)
        found = fold_words(plain)
        if found:
            out.append(Term(tuple(found), star >= 0))
    return out


def misplaced_star(form: str, term: str, where: str = "text") -> str:
    """The refusal of a star before a word's end, naming the ``form`` the caller wrote."""
    return (f"{form} takes * only at the end of a word ({term!r}); "
            f"a star itself is \\* in the {where} (\\\\* in a quoted string).")


def _read(ctx: Context, text: str, form: str, where: str = "text") -> list[Term]:
    try:
        return star_terms(text)
    except MisplacedStar as error:
        raise ctx.error(misplaced_star(form, error.term, where)) from None


def search_matches(text: str, mode: str) -> list[Match]:
    """What each word of a search text must match. ``mode``: ``bare`` (a bare string in where,
    ``like``: the reference's "every token must match", so every word whole, ``term*`` a
    prefix), ``search`` (``search()``, v1 ``q``: earlier words fuzzy, the last word and any
    ``term*`` a prefix) or ``suggest`` (every word a prefix). Stars as :func:`star_terms` reads
    them: a term's ``*`` makes its last word a prefix (``jean-pie*``: ``jean`` as its mode says,
    ``pie`` a prefix)."""
    out: list[Match] = []
    terms = star_terms(text)
    for i, term in enumerate(terms):
        for j, word in enumerate(term.words):
            last_of_term = j == len(term.words) - 1
            if mode == "suggest" or (last_of_term and (term.prefix or (mode == "search" and i == len(terms) - 1))):
                out.append(Match(word, "prefix"))
            elif mode == "bare":
                out.append(Match(word, "exact"))
            else:
                distance = _fuzziness(word)
                out.append(Match(word, "fuzzy" if distance else "exact", distance))
    return out


def search_match(targets: Sequence[tuple[str | None, exp.Expression]], text: str, mode: str = "search") -> exp.Expression:
    """Every word of ``text`` matches a word of one of ``targets`` ((text field name or None,
    text expression) pairs), by :func:`search_matches`. An empty text matches everything; a
    text without a single word (``%_%``) matches nothing: punctuation is no wildcard."""
    matches = search_matches(text, mode)
    if not matches:
        return exp.true() if not text.strip() else exp.false()
    conditions = [word_match(targets, m) for m in matches]
    return exp.and_(*conditions, copy=False) if len(conditions) > 1 else conditions[0]


def text_targets(fields: Sequence[Field]) -> list[tuple[str | None, exp.Expression]]:
    """What a search over all of ``fields`` reads: the text fields, and the json fields as
    their text, as ``search(json_field, …)`` reads one, so that ``*`` finds whatever a named
    field finds (the full-text index holds both: ``store.fulltext.build``)."""
    return [(f.name, _field_text(f)) for f in fields if f.type in _SEARCHED]


_SEARCHED = (FieldType.TEXT, FieldType.JSON)


def _field_text(f: Field) -> exp.Expression:
    return column(f) if f.type == FieldType.TEXT else exp.cast(column(f), "VARCHAR")


#: Words a full-text search may hold: each is its own index lookup, so a pasted paragraph
#: (600 words: 8 s for a table page, which asks several questions of the same text) would let
#: one anonymous request hold a core.
MAX_SEARCH_WORDS = 32


def _bounded(ctx: Context, text: str) -> str:
    words = len(fold_words(text))
    if words > MAX_SEARCH_WORDS:
        raise ctx.error(f"A full-text search takes at most {MAX_SEARCH_WORDS} words ({words} given).")
    return text


def fulltext(ctx: Context, text: str) -> exp.Expression:
    """A bare string in where: full text over every searched field (:meth:`Context.searched_fields`),
    the reference's rule rather than ``search()``'s: every word must be a whole word of some
    field (``"saint"`` does not find ``Sainte`` nor ``Saintes``, no fuzziness), ``term*`` a
    prefix (stars: :func:`star_terms`). Accents, case and ligatures are ignored, as everywhere
    in full text."""
    for raw in text.split():
        string(raw)  # a NUL is refused, as in any literal
    _read(ctx, text, "A bare string in where")
    return search_match(text_targets(ctx.searched_fields()), _bounded(ctx, text), "bare")


def _search_targets(ctx: Context, call_node: ast.Call) -> tuple[list[tuple[str | None, exp.Expression]], str]:
    """``f(field, …, "text")``, ``f(*, "text")`` or ``f("text")``: the targets (text field name
    or None, text expression) and the text."""
    *names, last = call_node.args
    text = _bounded(ctx, _constant_text(ctx, last, f"The last argument of {call_node.name}()"))
    string(text)  # a NUL is refused, as in any literal
    if not names or any(isinstance(n, ast.Star) for n in names):
        if len(names) > 1:
            raise ctx.error(f"{call_node.name}(*, …) takes no other field.")
        return text_targets(ctx.searched_fields()), text
    targets: list[tuple[str | None, exp.Expression]] = []
    for n in names:
        if not isinstance(n, ast.Field):
            raise ctx.error(f"The arguments of {call_node.name}() before the text must be field names.")
        t = ctx.value(n)
        if t.kind in GEO:
            raise ctx.error(f"{call_node.name}() cannot search the geo field {n.name}.")
        if t.field is not None and t.field.type in _SEARCHED and t.kind is FIELD_KINDS[t.field.type]:
            targets.append((t.field.name, _field_text(t.field)))  # as the index holds it
        else:
            targets.append((None, _as_text(t)))
    return targets, text


def _search(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    targets, text = _search_targets(ctx, node)
    _read(ctx, text, f"{node.name}()")
    return _bool(_of_named_values(node, targets, search_match(targets, text, "search")))


def _suggest(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    targets, text = _search_targets(ctx, node)
    _read(ctx, text, f"{node.name}()")
    return _bool(_of_named_values(node, targets, search_match(targets, text, "suggest")))


def _phrase(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    targets, text = _search_targets(ctx, node)
    _read(ctx, text, f"{node.name}()")
    return _bool(_of_named_values(node, targets, phrase_match(targets, text, ctx.visible_fields())))


def _of_named_values(node: ast.Call, targets: Sequence[tuple[str | None, exp.Expression]],
                     match: exp.Expression) -> exp.Expression:
    """A search of named fields (``search(publisher, "")``) over their values only
    (:func:`_of_values`). ``search(*, "")`` and a bare ``""`` still match every record: they
    name no field whose null could fail them."""
    *names, _ = node.args
    if not names or any(isinstance(n, ast.Star) for n in names):
        return match
    return _of_values([sql for _, sql in targets], match)


def _of_values(targets: Sequence[exp.Expression], match: exp.Expression) -> exp.Expression:
    """``match`` holding for a value of one of ``targets`` only. An empty text (``""``) asks
    nothing of a value, so the match was true whatever it was, a null too:
    ``search(publisher, "")`` found every dataset without a publisher, while
    ``publisher != "INSEE"`` leaves them out. Any comparison involving null is false (reference
    §5.2). False, not null, as a null's comparisons are here: ``not search(publisher, "")``
    finds it. (A ``like`` pattern without a word matches nothing at all: :func:`like`.)"""
    if match != exp.true() or not targets:
        return match  # a word to match: a null (no words, ``_words``) already holds none
    known = [exp.Not(this=exp.Is(this=sql.copy(), expression=exp.Null())) for sql in targets]
    return exp.or_(*known) if len(known) > 1 else known[0]


def phrase_match(targets: Sequence[tuple[str | None, exp.Expression]], text: str,
                 fields: Sequence[Field]) -> exp.Expression:
    """v1's ``"quoted phrase"``, wherever it stands in ``q`` (plain full text, ODSQL's
    ``phrase()``): one rule, so that a phrase beside a field query or under ``NOT`` means what
    it means alone. Its words as :func:`search_match` finds them, which the full-text index
    answers and which keeps the scan to few rows, and then whole and in a row (``term*``: the
    last a prefix; stars as :func:`star_terms` reads them, ``x\\*y`` the words x and y in a
    row, as "x*y" holds them) within one value of one target: a multivalued field's (named in
    ``fields``) values are tested apart, so ``logement;social`` holds no ``"logement social"``."""
    if not text.strip():
        return exp.true()  # as an empty search()
    words = search_match(targets, text, "search")
    if words == exp.false() or not targets:
        return exp.false()
    terms = star_terms(text)
    # one term of the phrase's words: text_match's "in a row"
    term = "-".join(w for t in terms for w in t.words) + ("*" if terms[-1].prefix else "")
    by_name = {f.name: f for f in fields}
    scans = [_phrase_scan(by_name.get(name) if name is not None else None, sql, term) for name, sql in targets]
    return exp.and_(words, exp.or_(*scans) if len(scans) > 1 else scans[0], copy=False)


def _phrase_scan(f: Field | None, sql: exp.Expression, term: str) -> exp.Expression:
    """``term`` in a row in ``sql``, or, for a multivalued text field ``f``, in one of its
    values, split as ``"x" in f`` splits them (``kinds.multivalued_items``)."""
    items = kinds.multivalued_items(f, sql) if f is not None and f.type == FieldType.TEXT else None
    if items is None:
        return text_match([sql], term, "word")
    item = exp.to_identifier("__item")  # field names never start with "_": no column is shadowed
    found = call("list_filter", items, exp.Lambda(this=text_match([item.copy()], term, "word"), expressions=[item]))
    return exp.GT(this=call("len", found), expression=exp.Literal.number(0))


def _startswith(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    pairs, text = _search_targets(ctx, node)
    if not pairs:
        return _bool(exp.false())
    by_name = {f.name: f for f in ctx.visible_fields()}
    tests = [_starts_with(by_name.get(name) if name is not None else None, sql, text) for name, sql in pairs]
    return _bool(exp.or_(*tests) if len(tests) > 1 else tests[0])


def _starts_with(f: Field | None, sql: exp.Expression, text: str) -> exp.Expression:
    """The value of ``sql`` starts with ``text``; for a multivalued field (``f``), any of its
    values does, split as ``"x" in f`` splits them (``kinds.multivalued_items``)."""
    items = kinds.multivalued_items(f, sql) if f is not None and f.type == FieldType.TEXT else None
    if items is None:
        return call("starts_with", sql, string(text))
    item = exp.to_identifier("__item")  # field names never start with "_": no column is shadowed
    found = call("list_filter", items, exp.Lambda(this=call("starts_with", item.copy(), string(text)), expressions=[item]))
    return exp.GT(this=call("len", found), expression=exp.Literal.number(0))


def like(ctx: Context, operand: Typed, pattern: Typed) -> Typed:
    """``field like "star*"``: every word of the pattern is a word of the field, anywhere in it
    (reference §5.4: "every token of the pattern must appear"; ``Saint-Denis`` finds
    Saint-Julien-Mont-Denis), the last word of a ``term*`` a prefix. Each word is a full-text
    word match (:func:`search_match`), so that a field's index answers it: scanning 2 M rows
    took 0.5-8 s for each of the page's and the count's queries. A pattern without a word
    (``""``, ``"%_%"``: ``%`` is punctuation, a run of ``_`` alone no word) matches nothing, as a bare
    ``"%_%"`` and ``search(f, "%_%")`` do: Opendatasoft's match query whose text gives no token
    finds no document (Elasticsearch's ``zero_terms_query: none``), so ``not f like "%"`` keeps
    every row, a null too, as ``not f like "word"`` keeps a null. Words are cut as the full-text
    index cuts them (``fulltext.WORD_SPLIT``: ``_`` is a word character, so ``x_y`` is one word
    and finds no "x y"); stars as in every full-text form (:func:`star_terms`)."""
    if operand.kind is not Kind.TEXT:
        raise ctx.error("like applies to text values.")
    if not (pattern.constant and isinstance(pattern.value, str)):
        raise ctx.error("The pattern of like must be a string literal.")
    if not _read(ctx, pattern.value, "like", "pattern"):
        return _bool(exp.false())
    return _bool(search_match([_like_target(operand)], pattern.value, "bare"))


def _like_target(operand: Typed) -> tuple[str | None, exp.Expression]:
    """(text field name, expression) when ``operand`` is a text field's own value, which the
    index holds; (None, expression) for any other text (``lower(name)``), which is scanned."""
    f = operand.field
    if f is not None and f.type == FieldType.TEXT and operand.sql == column(f):
        return f.name, operand.sql
    return None, operand.sql


# ---- text and numeric scalars ---------------------------------------------------------------

def _unary(build: Callable[[exp.Expression], exp.Expression], kind: Kind | None = None) -> Builder:
    def builder(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
        (a,) = args
        return Typed(build(a.sql), kind or a.kind, bits=a.bits)
    return builder


def _case(build: Callable[[exp.Expression], exp.Expression]) -> Builder:
    """``lower()``/``upper()``: the value in another case, still the field's values. A
    multivalued field's text stays a list of its values (``lower(tags)`` gives each tag lowered,
    as ``lower(keyword)`` does in the catalogue), so the result keeps the field for the output to
    split, unless case mapping could change its separator."""
    def builder(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
        (a,) = args
        source = a.field if a.field is not None and a.kind is Kind.TEXT else None
        separator = "".join(map(str, source.annotations.get("multivalued") or [])) if source is not None else ""
        keeps = source is not None and separator.lower() == separator.upper()
        return Typed(build(a.sql), a.kind, bits=a.bits, field=source if keeps else None)
    return builder


def _length(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    """``length()``: a text's number of characters; a multivalued field's (or its ``lower()``)
    number of values. The API gives such a field as a JSON array (``["a", "b"]``), and an
    array's length is its number of items, as every client reading that array counts it; its
    stored text joins the values with the separator and the blanks around them, whose characters
    (7 for ``" a , b "``) belong to no value. Counted as the record shows them
    (``values.multivalued_list``): ``length(tags) = 3`` holds for ``["a", "c", "a"]``."""
    (a,) = args
    items = kinds.multivalued_items(a.field, a.sql) if a.field is not None and a.kind is Kind.TEXT else None
    return Typed(call("len", items) if items is not None else exp.Length(this=a.sql), Kind.INT, bits=a.bits)


def _concat_builder(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    return Typed(_concat(*[_as_text(a) for a in args]), Kind.TEXT)


def _ifnull(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    a, b = ctx.align(*args)
    kind = a.kind if a.kind is not Kind.NULL else b.kind
    if {a.kind, b.kind} == {Kind.INT, Kind.DOUBLE}:
        kind = Kind.DOUBLE
    return Typed(exp.Coalesce(this=a.sql, expressions=[b.sql]), kind, bits=max(a.bits, b.bits))


def _round(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    if len(args) == 1:
        return Typed(exp.Round(this=args[0].sql), args[0].kind, bits=args[0].bits)
    digits = _constant_int(ctx, args[1], "The digits of round()", -20, 20)
    # A double, as declared: the engine's ROUND of an INTEGER with digits stays a 32-bit INTEGER,
    # which then overflowed in arithmetic (46273 * round(46409, 1), found by hypothesis).
    value = args[0].sql if args[0].kind is Kind.DOUBLE else exp.cast(args[0].sql, "DOUBLE")
    return Typed(exp.Round(this=value, decimals=number(digits)), Kind.DOUBLE)


def _floor_ceil(name: str) -> Builder:
    def builder(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
        return Typed(exp.func(name, args[0].sql), args[0].kind, bits=args[0].bits)
    return builder


def _math(engine: str | Callable[..., exp.Expression], domain: Callable[..., exp.Expression] | None = None) -> Builder:
    """A function of v1's expression language (Java's ``Math``, which Opendatasoft's v1 analyze
    ran): a double, null where Java gave NaN or an infinity (which JSON cannot hold) and where
    the engine would raise instead (``domain``, a condition over the arguments: ``sqrt(-1)``,
    ``ln(0)``, ``asin(2)``), as a division by zero gives null."""
    def builder(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
        values = [exp.cast(a.sql, "DOUBLE") for a in args]
        copies = [v.copy() for v in values]
        result = call(engine, *copies) if isinstance(engine, str) else engine(*copies)
        known = [exp.Not(this=exp.Is(this=v.copy(), expression=exp.Null())) for v in values]
        guard = exp.and_(*known, *([domain(*[v.copy() for v in values])] if domain else []))
        result = exp.Case(ifs=[exp.If(this=guard, true=result)])
        return Typed(exp.Case(ifs=[exp.If(this=call("isfinite", result), true=result.copy())]), Kind.DOUBLE)
    return builder


def _unit_interval(x: exp.Expression) -> exp.Expression:
    return exp.Between(this=x, low=number(-1), high=number(1))


def _json_format(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    """The text as JSON; text that is no JSON gives the fallback, by default the text itself
    (reference §5.7: "json or text"; null only when null is the fallback asked for). In a
    non-JSON export, the text as it is ("returns the original text in non-JSON exports")."""
    if not ctx.json_values:
        return Typed(args[0].sql, Kind.TEXT)
    parsed: exp.Expression = exp.TryCast(this=args[0].sql, to=exp.DataType.build("JSON"))
    fallback = args[1] if len(args) == 2 else args[0]
    fallback_sql = fallback.sql.copy() if fallback.kind is Kind.JSON else call("to_json", fallback.sql.copy())
    return Typed(exp.Coalesce(this=parsed, expressions=[fallback_sql]), Kind.JSON)


# ---- dates ----------------------------------------------------------------------------------

def _part(unit: str, sql: exp.Expression) -> exp.Expression:
    return call("date_part", exp.Literal.string(unit), sql)


def _date_part(unit: str) -> Builder:
    def builder(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
        sql = _part(unit, local_time(args[0], ctx.cut_tz))
        if unit == "millisecond":  # DuckDB counts the seconds' milliseconds too
            sql = exp.Mod(this=paren(sql), expression=exp.Literal.number(1000))
        return Typed(sql, Kind.INT)
    return builder


_MONTHS = {
    "en": "January February March April May June July August September October November December",
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember",
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
    "it": "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre",
    "nl": "januari februari maart april mei juni juli augustus september oktober november december",
    "pt": "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro",
    "sv": "januari februari mars april maj juni juli augusti september oktober november december",
    "ca": "gener febrer març abril maig juny juliol agost setembre octubre novembre desembre",
    "ar": "يناير فبراير مارس أبريل مايو يونيو يوليو أغسطس سبتمبر أكتوبر نوفمبر ديسمبر",
    "eu": "urtarrila otsaila martxoa apirila maiatza ekaina uztaila abuztua iraila urria azaroa abendua",
}
_SHORT_MONTHS = {
    "en": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec",
    "fr": "janv. févr. mars avr. mai juin juil. août sept. oct. nov. déc.",
    "de": "Jan. Feb. März Apr. Mai Juni Juli Aug. Sept. Okt. Nov. Dez.",
    "es": "ene. feb. mar. abr. may. jun. jul. ago. sept. oct. nov. dic.",
    "it": "gen feb mar apr mag giu lug ago set ott nov dic",
    "nl": "jan. feb. mrt. apr. mei jun. jul. aug. sep. okt. nov. dec.",
    "pt": "jan. fev. mar. abr. mai. jun. jul. ago. set. out. nov. dez.",
    "sv": "jan. feb. mars apr. maj juni juli aug. sep. okt. nov. dec.",
    "ca": "gen. febr. març abr. maig juny jul. ag. set. oct. nov. des.",
    "ar": "يناير فبراير مارس أبريل مايو يونيو يوليو أغسطس سبتمبر أكتوبر نوفمبر ديسمبر",  # CLDR: as the full names
    "eu": "urt. ots. mar. api. mai. eka. uzt. abu. ira. urr. aza. abe.",
}
_DAYS = {  # Monday first
    "en": "Monday Tuesday Wednesday Thursday Friday Saturday Sunday",
    "fr": "lundi mardi mercredi jeudi vendredi samedi dimanche",
    "de": "Montag Dienstag Mittwoch Donnerstag Freitag Samstag Sonntag",
    "es": "lunes martes miércoles jueves viernes sábado domingo",
    "it": "lunedì martedì mercoledì giovedì venerdì sabato domenica",
    "nl": "maandag dinsdag woensdag donderdag vrijdag zaterdag zondag",
    "pt": "segunda-feira terça-feira quarta-feira quinta-feira sexta-feira sábado domingo",
    "sv": "måndag tisdag onsdag torsdag fredag lördag söndag",
    "ca": "dilluns dimarts dimecres dijous divendres dissabte diumenge",
    "ar": "الاثنين الثلاثاء الأربعاء الخميس الجمعة السبت الأحد",
    "eu": "astelehena asteartea asteazkena osteguna ostirala larunbata igandea",
}
_SHORT_DAYS = {
    "en": "Mon Tue Wed Thu Fri Sat Sun",
    "fr": "lun. mar. mer. jeu. ven. sam. dim.",
    "de": "Mo. Di. Mi. Do. Fr. Sa. So.",
    "es": "lun mar mié jue vie sáb dom",
    "it": "lun mar mer gio ven sab dom",
    "nl": "ma di wo do vr za zo",
    "pt": "seg. ter. qua. qui. sex. sáb. dom.",
    "sv": "mån tis ons tors fre lör sön",
    "ca": "dl. dt. dc. dj. dv. ds. dg.",
    "ar": "الاثنين الثلاثاء الأربعاء الخميس الجمعة السبت الأحد",  # CLDR: as the full names
    "eu": "al. ar. az. og. or. lr. ig.",
}
# Every language of the lang parameter names its months and days (CLDR's format forms).
assert all(set(table) == set(literals.LANGUAGES) for table in (_MONTHS, _SHORT_MONTHS, _DAYS, _SHORT_DAYS))


def _names(table: dict[str, str], lang: str) -> list[str]:
    return (table.get(lang) or table["fr"]).split()  # the API reads lang (literals.language): fr is its default


def _pattern_tokens(pattern: str) -> list[tuple[str, str]]:
    """A Joda-style pattern as ``("text", "…")`` and ``("symbol", "yyyy")`` tokens."""
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "'":
            if pattern.startswith("''", i):
                tokens.append(("text", "'"))
                i += 2
                continue
            i += 1
            chunk = []
            while i < len(pattern):
                if pattern.startswith("''", i):
                    chunk.append("'")
                    i += 2
                elif pattern[i] == "'":
                    i += 1
                    break
                else:
                    chunk.append(pattern[i])
                    i += 1
            tokens.append(("text", "".join(chunk)))
        elif ch.isascii() and ch.isalpha():
            j = i
            while j < len(pattern) and pattern[j] == ch:
                j += 1
            tokens.append(("symbol", pattern[i:j]))
            i = j
        else:
            tokens.append(("text", ch))
            i += 1
    return tokens


def _padded(sql: exp.Expression, width: int) -> exp.Expression:
    """An integer written with at least ``width`` digits, as Joda pads a number to the count of
    its letters: ``yyyy`` writes year 1 as ``0001`` and year 10000 in full, ``DD`` day 365 in
    full (``lpad`` would cut them to the width)."""
    return call("printf", exp.Literal.string(f"%0{width}d"), sql)


def _plain(sql: exp.Expression) -> exp.Expression:
    return exp.cast(sql, "VARCHAR")


def _name_of(names: list[str], index: exp.Expression) -> exp.Expression:
    return call("list_extract", exp.Array(expressions=[exp.Literal.string(n) for n in names]), index)


def _symbol_sql(symbol: str, x: exp.Expression, lang: str) -> exp.Expression | None:
    letter, n = symbol[0], len(symbol)
    part = lambda unit: _part(unit, x.copy())  # noqa: E731
    table: dict[str, Callable[[], exp.Expression]] = {
        "y": lambda: _padded(exp.Mod(this=paren(part("year")), expression=exp.Literal.number(100)), 2) if n == 2
        else _plain(part("year")) if n == 1 else _padded(part("year"), n),
        "x": lambda: _padded(exp.Mod(this=paren(part("isoyear")), expression=exp.Literal.number(100)), 2) if n == 2
        else _plain(part("isoyear")) if n == 1 else _padded(part("isoyear"), n),
        "w": lambda: _plain(part("week")) if n == 1 else _padded(part("week"), 2),
        "e": lambda: _plain(part("isodow")),
        "E": lambda: _name_of(_names(_DAYS if n >= 4 else _SHORT_DAYS, lang), part("isodow")),
        "D": lambda: _plain(part("doy")) if n == 1 else _padded(part("doy"), n),
        "M": lambda: (_plain(part("month")) if n == 1 else _padded(part("month"), 2) if n == 2
                      else _name_of(_names(_MONTHS if n >= 4 else _SHORT_MONTHS, lang), part("month"))),
        "d": lambda: _plain(part("day")) if n == 1 else _padded(part("day"), 2),
        "H": lambda: _plain(part("hour")) if n == 1 else _padded(part("hour"), 2),
        "m": lambda: _plain(part("minute")) if n == 1 else _padded(part("minute"), 2),
        "s": lambda: _plain(part("second")) if n == 1 else _padded(part("second"), 2),
        "S": lambda: call("left", _padded(exp.Mod(this=paren(part("millisecond")), expression=exp.Literal.number(1000)), 3),
                          exp.Literal.number(min(n, 3))),
    }
    table["Y"] = table["y"]
    build = table.get(letter)
    return build() if build else None


def date_format_sql(ctx: Context, value: Typed, pattern: str) -> exp.Expression:
    x = local_time(value, ctx.cut_tz)
    pieces: list[exp.Expression] = []
    for kind, token in _pattern_tokens(pattern):
        if kind == "text":
            if token:
                pieces.append(string(token))
            continue
        sql = _symbol_sql(token, x, ctx.lang)
        if sql is None:
            raise ctx.error(f"Unsupported date_format symbol: {token}")
        pieces.append(sql)
    if all(isinstance(piece, exp.Literal) for piece in pieces):
        # Text alone (a pattern "" or "'week'"): still null for a null date, and no literal,
        # which the engine would refuse as a GROUP BY or ORDER BY item.
        text = string("".join(piece.this for piece in pieces))
        return exp.Case(ifs=[exp.If(this=exp.Is(this=value.sql.copy(), expression=exp.Null()), true=exp.Null())],
                        default=text)
    result = pieces[0]
    for piece in pieces[1:]:  # || keeps NULL dates NULL
        result = exp.DPipe(this=result, expression=piece)
    return exp.Paren(this=result) if len(pieces) > 1 else result


def _date_format(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    value, pattern = args
    if not (pattern.constant and isinstance(pattern.value, str)):
        raise ctx.error("The pattern of date_format() must be a string literal.")
    return Typed(date_format_sql(ctx, value, pattern.value), Kind.TEXT)


def _now(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    params: dict[str, int] = {}
    for arg in args:
        if not (isinstance(arg, ast.Compare) and arg.op == "=" and isinstance(arg.left, ast.Field)):
            raise ctx.error("now() takes named parameters, e.g. now(days=-1).")
        params[arg.left.name] = _constant_int(ctx, ctx.value(arg.right), f"now() parameter {arg.left.name}")
    try:
        moment = literals.shift_now(ctx.now.astimezone(ctx.tz), params)
    except ValueError as error:
        raise ctx.error(str(error)) from None
    return constant(moment, ctx.tz)


# ---- geo ------------------------------------------------------------------------------------

def _flip(sql: exp.Expression) -> exp.Expression:
    # DuckDB's ST_Distance_Sphere reads [latitude, longitude]; stored data is lon/lat.
    return call("ST_FlipCoordinates", sql)


#: The earth radius of DuckDB's ST_Distance_Sphere, in metres (1° of arc = 111,194.93 m).
EARTH_RADIUS = 6371008.8


def _stored_allowed(ctx: Context) -> bool:
    """May a point field be read from its stored coordinates here? Not in a grouped query
    outside an aggregate: the field is then a group key and must stay the grouped column."""
    return not ctx.grouped or ctx.in_aggregate


def _stored_point(ctx: Context, t: Typed) -> tuple[exp.Column, exp.Column] | None:
    """The stored longitude and latitude columns of point ``t``, where the query may read them."""
    return kinds.stored_lonlat(t) if _stored_allowed(ctx) else None


def _xy(ctx: Context, t: Typed) -> tuple[exp.Expression, exp.Expression]:
    """A point's longitude and latitude: stored doubles when there are, else ``ST_X``/``ST_Y``."""
    return kinds.point_xy(t, stored=_stored_allowed(ctx))


def _geometry_sql(ctx: Context, t: Typed) -> exp.Expression:
    """A geometry for the spatial functions: a point with stored coordinates is rebuilt from
    them (the same point: they are exact, ``ingest.load.flag_lonlat``), which costs less than
    reading and decoding the stored geometry."""
    stored = _stored_point(ctx, t)
    return call("ST_Point", *stored) if stored is not None else t.sql


def _flipped(ctx: Context, t: Typed) -> exp.Expression:
    """A point as [latitude, longitude], built from stored doubles when there are."""
    stored = _stored_point(ctx, t)
    return call("ST_Point", stored[1], stored[0]) if stored is not None else _flip(t.sql)


def _point_xy(t: Typed) -> tuple[float, float]:
    """A constant point's longitude and latitude, as written (perhaps out of range)."""
    import shapely  # GEOS (~0.02 s) for a geometry literal, not at each start

    x, y = (float(c) for c in shapely.get_coordinates(literals.parse_geometry(t.value))[0])
    return x, y


def _constant_centre(t: Typed) -> tuple[float, float] | None:
    """The longitude and latitude of a constant point in range, else None."""
    if not (t.constant and t.kind is Kind.POINT):
        return None
    x, y = _point_xy(t)
    return (x, y) if -180 <= x <= 180 and -90 <= y <= 90 else None


def sphere_distance(ctx: Context, a: Typed, b: Typed) -> exp.Expression:
    """Great-circle distance in metres; for shapes, between their closest points.

    A shape's distance to a constant point (the usual case: communes within 10 km of a place)
    is measured in an azimuthal equidistant projection centred on that point, where every
    distance from the centre is true on the sphere: the closest point found on plain degrees
    was not the closest one (longitudes are shorter than latitudes away from the equator), 9.1
    km for a commune 8.6 km away in Île-de-France."""
    if a.kind is Kind.POINT and b.kind is Kind.POINT:
        return call("ST_Distance_Sphere", _flipped(ctx, a), _flipped(ctx, b))
    centre_b = _constant_centre(b)
    shape, centre = (a, centre_b) if centre_b is not None else (b, _constant_centre(a))
    if centre is not None:
        projection = (f"+proj=aeqd +lat_0={centre[1]!r} +lon_0={centre[0]!r} +R={EARTH_RADIUS!r} "
                      "+units=m +no_defs")
        projected = call("ST_Transform", shape.sql, exp.Literal.string("EPSG:4326"), exp.Literal.string(projection),
                         exp.true())
        measured = call("ST_Distance", projected, call("ST_Point", number(0), number(0)))
        # Near the centre's antipode the projection tears (a shape there can wrap the origin:
        # Paris was 0 m from its antipode): shapes centred beyond FAR_SHAPE keep the estimate.
        centroid = call("ST_Distance_Sphere", call("ST_Point", number(centre[1]), number(centre[0])),
                        _flip(call("ST_Centroid", shape.sql.copy())))
        return exp.Case(ifs=[exp.If(this=exp.GT(this=centroid, expression=number(FAR_SHAPE)),
                                    true=_closest_points(shape.sql.copy(), call("ST_Point", number(centre[0]),
                                                                                number(centre[1]))))],
                        default=measured)
    return _closest_points(a.sql, b.sql)


#: Metres (about 108°) past which a shape's distance to a point is no longer measured in the
#: projection around the point, which tears towards the antipode (20,015 km away).
FAR_SHAPE = 12_000_000


def _closest_points(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    """The great-circle distance between the closest points of two geometries found on plain
    degrees: an estimate (longitudes are shorter than latitudes away from the equator)."""
    near_a = call("ST_ClosestPoint", a, b)
    near_b = call("ST_ClosestPoint", b.copy(), a.copy())
    return call("ST_Distance_Sphere", _flip(near_a), _flip(near_b))


def _metres(ctx: Context, node: ast.Node) -> float:
    if isinstance(node, ast.Quantity):
        if node.unit not in literals.DISTANCE_UNITS:
            raise ctx.error(f"Unknown distance unit: {node.unit} (use one of {', '.join(literals.DISTANCE_UNITS)}).")
        metres = node.value * literals.DISTANCE_UNITS[node.unit]
    elif isinstance(node, ast.Number):
        metres = float(node.value)
    else:
        raise ctx.error("The distance must be a number with a unit, e.g. 500m or 2km.")
    if not math.isfinite(metres):
        raise ctx.error("The distance is out of range.")
    return metres


def _between(value: exp.Expression, low: float, high: float) -> exp.Expression:
    return exp.Between(this=value, low=number(low), high=number(high))


def _box(lonlat: tuple[exp.Expression, exp.Expression], bounds: tuple[float, float, float, float]) -> exp.Expression:
    """``lon`` and ``lat`` within (xmin, ymin, xmax, ymax), edges included: plain double
    comparisons that the engine vectorises and checks against row-group zone maps."""
    (lon, lat), (xmin, ymin, xmax, ymax) = lonlat, bounds
    return exp.and_(_between(lon.copy(), xmin, xmax), _between(lat.copy(), ymin, ymax))


def _widened(bounds: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """Bounds one double further out each way: a box prefilter must never drop a row the
    exact test keeps, whatever the rounding of the engine reading the same WKT."""
    xmin, ymin, xmax, ymax = bounds
    return (math.nextafter(xmin, -math.inf), math.nextafter(ymin, -math.inf),
            math.nextafter(xmax, math.inf), math.nextafter(ymax, math.inf))


def _circle_bounds(x: float, y: float, metres: float) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """The latitudes and the longitudes (each None when unbounded) of every place within
    ``metres`` of (x, y), a little wider than the circle. A centre out of range is read modulo
    the sphere: its bounds are then only known for the latitude, and only when it is in range."""
    angle = metres / EARTH_RADIUS * (1 + 1e-6) + 1e-9  # radians, widened past any rounding
    if angle >= math.pi / 2:  # the circle covers a hemisphere
        return None, None
    dlat = math.degrees(angle)
    lats = (y - dlat, y + dlat) if -90 <= y <= 90 else None
    lons = None
    if -180 <= x <= 180 and abs(y) + dlat < 90:  # else the circle holds a pole: every longitude
        dlon = math.degrees(math.asin(math.sin(angle) / math.cos(math.radians(y)))) * (1 + 1e-6) + 1e-9
        if -180 <= x - dlon and x + dlon <= 180:  # else it crosses the antimeridian: no bound
            lons = (x - dlon, x + dlon)
    return lats, lons


def _distance_box(lonlat: tuple[exp.Expression, exp.Expression], centre: Typed, metres: float) -> exp.Expression | None:
    """A condition every point within ``metres`` of the constant ``centre`` meets (a box a
    little larger than the circle), so that the exact great-circle test runs on few rows.
    Sound because stored coordinates are all in range (``ingest.load.flag_lonlat``); None when
    no box helps."""
    lats, lons = _circle_bounds(*_point_xy(centre), metres)
    lon, lat = lonlat
    bounds = ([_between(lat, *lats)] if lats else []) + ([_between(lon, *lons)] if lons else [])
    return exp.and_(*bounds) if bounds else None


def _shape_distance_box(shape: Typed, centre: Typed, metres: float) -> exp.Expression | None:
    """For a shape near a constant point: its extent meets the circle's box (a test on the
    stored bounding box), which spares the projection of the shapes far away; None when the
    circle has no box."""
    located = _constant_centre(centre)
    if located is None:
        return None
    lats, lons = _circle_bounds(*located, metres)
    if lats is None or lons is None:
        return None
    return call("ST_Intersects_Extent", shape.sql.copy(), call("ST_MakeEnvelope", number(lons[0]), number(lats[0]),
                                                                number(lons[1]), number(lats[1])))


def _within_distance(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    target, centre, radius = args
    metres = _metres(ctx, radius)
    exact = exp.LTE(this=sphere_distance(ctx, target, centre), expression=number(metres))
    if target.kind is Kind.SHAPE:
        box = _shape_distance_box(target, centre, metres)
    else:
        stored = _stored_point(ctx, target) if centre.kind is Kind.POINT else None
        box = _distance_box(stored, centre, metres) if stored is not None and centre.constant else None
    return _bool(exp.and_(box, exact) if box is not None else exact)


def _distance(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    if len(args) == 3:  # the legacy spelling of within_distance()
        if ctx.clause != WHERE:
            raise ctx.error("distance() with a radius is a filter: use it in where.")
        return _within_distance(ctx, node, args)
    if ctx.clause == WHERE:
        raise ctx.error("distance() needs a radius in where, e.g. distance(geo, geom'POINT(2.35 48.85)', 1km).")
    return Typed(sphere_distance(ctx, *args), Kind.DOUBLE)


def _in_bbox(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    target, lat1, lon1, lat2, lon2 = args
    for lat in (lat1, lat2):  # a latitude past a pole is a mistake (lat and lon swapped): said, not read
        if lat.constant and isinstance(lat.value, (int, float)) and not -90 <= lat.value <= 90:
            raise ctx.error(f"in_bbox() takes latitudes from -90 to 90 ({lat.value} given): "
                            "in_bbox(geo, lat1, lon1, lat2, lon2).")
    if target.kind is Kind.POINT:
        # Same answer as intersecting the envelope (edges included), as plain comparisons the
        # engine vectorises instead of building a geometry per row: ~10x faster on millions,
        # and again ~5x on the stored coordinates of versions that have them (no decoding).
        def between(value: exp.Expression, a: Typed, b: Typed) -> exp.Expression:
            return exp.Between(this=value, low=exp.func("least", a.sql.copy(), b.sql.copy()),
                               high=exp.func("greatest", a.sql.copy(), b.sql.copy()))
        x, y = _xy(ctx, target)
        return _bool(exp.and_(between(x, lon1, lon2), between(y, lat1, lat2)))
    envelope = call("ST_MakeEnvelope", exp.func("least", lon1.sql, lon2.sql), exp.func("least", lat1.sql, lat2.sql),
                    exp.func("greatest", lon1.sql.copy(), lon2.sql.copy()),
                    exp.func("greatest", lat1.sql.copy(), lat2.sql.copy()))
    return _bool(call("ST_Intersects", target.sql, envelope))


def _bbox_filter(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    """v2.0's ``bbox(geo, geom'POINT(…)', geom'POINT(…)')`` filter: records in the box its two
    corners span, in either order (v2.1 kept only ``in_bbox`` and the ``bbox`` aggregate)."""
    target, *corners = args
    if not all(c.constant for c in corners):
        raise ctx.error("bbox() in where takes two constant corners, e.g. geom'POINT(2.30 48.87)'.")
    bounds = [literals.parse_geometry(c.value).bounds for c in corners]
    west, south = min(b[0] for b in bounds), min(b[1] for b in bounds)
    east, north = max(b[2] for b in bounds), max(b[3] for b in bounds)
    return _in_bbox(ctx, node, [target, *(constant(v, ctx.tz) for v in (south, west, north, east))])


_RELATIONS = {"intersects": "ST_Intersects", "disjoint": "ST_Disjoint", "within": "ST_Within"}


def _envelope_prefilter(ctx: Context, name: str, a: Typed, b: Typed) -> exp.Expression | None:
    """For a stored point that intersects or lies within a constant geometry: the point is in
    that geometry's envelope, a test on doubles that spares the exact one on most rows."""
    stored = _stored_point(ctx, a)
    if name not in ("intersects", "within") or stored is None or not b.constant:
        return None
    return _box(stored, _widened(literals.parse_geometry(b.value).bounds))


def _relation(name: str) -> Builder:
    def builder(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
        exact = call(_RELATIONS[name], _geometry_sql(ctx, args[0]), _geometry_sql(ctx, args[1]))
        box = _envelope_prefilter(ctx, name, args[0], args[1])
        return _bool(exp.and_(box, exact) if box is not None else exact)
    return builder


#: ``geometry()``'s modes as the v2.0 documentation's examples also spell one (``INTERSECT``).
_MODE_SPELLINGS = {"intersect": "intersects"}


def _geometry(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    mode = "intersects"
    if len(args) == 3:
        given = args[2].name.lower() if isinstance(args[2], ast.Field) else ""
        mode = _MODE_SPELLINGS.get(given, given)
        if mode not in _RELATIONS:
            raise ctx.error("The mode of geometry() is INTERSECTS, DISJOINT or WITHIN.")
    return _relation(mode)(ctx, node, args[:2])


#: The geometry types as GeoJSON names them, and the engine's names (upper case) for them.
GEOJSON_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection")


def _geometry_type(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    """``geometry_type(geo)`` (beyond Opendatasoft): a geometry's GeoJSON type, ``Point``…
    ``GeometryCollection``, null for no geometry. v1's boundingbox counts a map's records per
    type with it (ods-widgets' "auto" layer clusters mostly-point data and previews shapes):
    a group_by the compiler builds, where a field resolves against the caller's fields. A point
    field holds points only: its type is known without decoding a geometry."""
    (a,) = args
    if a.kind is Kind.NULL:
        return Typed(exp.Null(), Kind.TEXT)
    if a.kind is Kind.POINT:
        stored = _stored_point(ctx, a)
        present = stored[0].copy() if stored is not None else a.sql
        return Typed(exp.Case(ifs=[exp.If(this=exp.Is(this=present, expression=exp.Null()), true=exp.Null())],
                              default=string("Point")), Kind.TEXT)
    engine = exp.cast(call("ST_GeometryType", a.sql), "VARCHAR")
    return Typed(exp.Case(this=engine, ifs=[exp.If(this=string(name.upper()), true=string(name)) for name in GEOJSON_TYPES]),
                 Kind.TEXT)


def _geo_digest(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    """``geo_digest(geo)`` (beyond Opendatasoft): a geometry's stable id, the md5 of the engine's
    GeoJSON of it, null for no geometry. v1's geopolygon names each shape by it and ods-widgets
    send it back (``geo_digest=…``) to ask for the records of a clicked shape: both sides are
    this one expression, so they always agree."""
    (a,) = args
    if a.kind is Kind.NULL:
        return Typed(exp.Null(), Kind.TEXT)
    return Typed(call("md5", call("ST_AsGeoJSON", a.sql)), Kind.TEXT)


# ---- aggregates -----------------------------------------------------------------------------

def _count(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    (arg,) = args
    if isinstance(arg, ast.Star):
        if node.distinct:
            raise ctx.error("count(distinct *) is not supported: count(*) counts the records, "
                            "count(distinct f) the distinct values of a field f.")
        return Typed(exp.Count(this=exp.Star()), Kind.INT)
    t = ctx.value(arg)
    if node.distinct and t.field is not None and t.kind is Kind.TEXT and kinds.multivalued_items(t.field, t.sql) is not None:
        return _count_distinct_values(t)
    inner = exp.Distinct(expressions=[t.sql]) if node.distinct else t.sql
    return Typed(exp.Count(this=inner), Kind.INT)


def _count_distinct_values(t: Typed) -> Typed:
    """``count(distinct f)`` of a multivalued field: its distinct values, as ``group_by=f`` and
    the facet of f count them (Opendatasoft's cardinality over the field's terms), not its
    distinct raw texts (``"a, b"`` and ``"b"`` hold two values, not two texts). The group's
    distinct texts gathered (a text repeats over many records: gathering every record's values
    ran out of memory on 2 M rows), each split into its values, flattened and counted once
    each; an empty group counts 0."""
    text = exp.to_identifier("__text")  # field names never start with "_": no column is shadowed
    split = exp.Lambda(this=kinds.multivalued_values(t.field, exp.column(text.copy())), expressions=[text])
    texts = call("list", exp.Distinct(expressions=[t.sql]))
    gathered = call("list_unique", call("flatten", call("list_transform", texts, split)))
    return Typed(exp.Coalesce(this=gathered, expressions=[number(0)]), Kind.INT)


#: A version holds fewer than 2**48 rows: the bound of a sum of ints is its terms' plus this.
_ROW_BITS = 48


def _aggregate(name: str, kind: Kind | None = None) -> Builder:
    def builder(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
        (a,) = args
        extreme = kinds.field_extreme(a, largest=name == "max") if name in ("min", "max") else None
        if extreme is not None:  # a multivalued field's smallest (largest) value, as order_by sorts it
            return Typed(exp.func(name, extreme), Kind.TEXT)
        if name == "sum" and a.kind is Kind.INT:  # a HUGEINT sum that could overflow is summed as doubles
            bits = a.bits + _ROW_BITS
            if kinds.int_type(bits) is None:
                return Typed(exp.func(name, exp.cast(a.sql, "DOUBLE")), Kind.DOUBLE)
            return Typed(exp.func(name, a.sql), Kind.INT, bits=bits)
        return Typed(exp.func(name, a.sql), kind or a.kind, bits=a.bits)
    return builder


def _quantile(ctx: Context, value: Typed, fraction: float) -> Typed:
    return Typed(call("quantile_cont", value.sql, number(fraction)), Kind.DOUBLE)


def _median(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    return _quantile(ctx, args[0], 0.5)


def _percentile(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    value, p = args
    if not (p.constant and isinstance(p.value, (int, float)) and not isinstance(p.value, bool)) or not 0 <= p.value <= 100:
        raise ctx.error("The percentile must be a number between 0 and 100.")
    return _quantile(ctx, value, p.value / 100)


def _envelope(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    return Typed(call("ST_ConvexHull", call("ST_Collect", exp.func("list", args[0].sql))), Kind.SHAPE)


def _bbox(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    # Plain min/max rather than ST_Extent_Agg: DuckDB spatial 1.5.5 crashes when ST_Extent_Agg
    # shares an ungrouped SELECT with list() (which envelope() uses).
    g = args[0].sql
    lonlat = _stored_point(ctx, args[0])  # a point's extent is its coordinates
    x0, y0, x1, y1 = (lonlat * 2 if lonlat is not None else
                      (call("ST_XMin", g), call("ST_YMin", g.copy()), call("ST_XMax", g.copy()), call("ST_YMax", g.copy())))
    return Typed(call("ST_MakeEnvelope", exp.func("min", x0), exp.func("min", y0), exp.func("max", x1.copy()),
                      exp.func("max", y1.copy())), Kind.SHAPE)


# ---- group_by: range() and geo_cluster() ----------------------------------------------------

def _key_list(labels: list[str], index: exp.Expression) -> exp.Expression:
    return call("list_extract", exp.Array(expressions=[exp.Literal.string(s) for s in labels]),
                exp.Add(this=paren(index), expression=exp.Literal.number(1)))


def _number_text(sql: exp.Expression) -> exp.Expression:
    """A double as range() keys write it: ``10`` for whole numbers, ``10.5`` otherwise."""
    whole = exp.and_(exp.EQ(this=sql.copy(), expression=exp.func("floor", sql.copy())),
                     exp.LT(this=exp.func("abs", sql.copy()), expression=exp.Literal.number("1e15")))
    return exp.Case(ifs=[exp.If(this=whole, true=_plain(exp.cast(sql.copy(), "BIGINT")))], default=_plain(sql.copy()))


def _dpipe(*parts: exp.Expression) -> exp.Expression:
    result = parts[0]
    for part in parts[1:]:
        result = exp.DPipe(this=result, expression=part)
    return result


def _bound_label(value: Any, tz: ZoneInfo, target: Kind) -> str:
    """A bound as range() keys write it: dates in ISO with milliseconds and Z. A date field
    has no zone, so its bounds are written as the wall-clock values they are compared with."""
    if isinstance(value, datetime):
        return literals.iso_key(value if target is Kind.DATETIME else kinds.in_zone(value, tz).replace(tzinfo=timezone.utc))
    if isinstance(value, date):
        return literals.iso_key(literals.start_of_day(value, tz if target is Kind.DATETIME else timezone.utc))
    return ast.format_number(value)


def _static_range(ctx: Context, target: Typed, bounds: list[ast.Node]) -> GroupKey:
    open_low = bool(bounds) and isinstance(bounds[0], ast.Star)
    open_high = len(bounds) > 1 and isinstance(bounds[-1], ast.Star)
    inner = bounds[int(open_low):len(bounds) - int(open_high)]
    if not inner or any(isinstance(b, ast.Star) for b in inner):
        raise ctx.error("range() takes its bounds in order, with * only first or last.")
    compiled = []
    for node in inner:
        b = ctx.value(node)
        if not b.constant or b.kind is Kind.NULL:
            raise ctx.error("The bounds of range() must be constants.")
        try:
            compiled.append(ctx.align(target, b))
        except kinds.LiteralError as error:  # a bound moved out of Python's years by the zone
            raise ctx.error(f"Invalid literal: {error}.") from None
    values = [pair[1].value for pair in compiled]
    moments = [literals.start_of_day(v, ctx.tz) if isinstance(v, date) and not isinstance(v, datetime) else v
               for v in values]
    if any(not lo < hi for lo, hi in zip(moments, moments[1:])):
        raise ctx.error("The bounds of range() must increase.")
    try:
        labels = [_bound_label(v, ctx.tz, target.kind) for v in values]
    except kinds.LiteralError as error:
        raise ctx.error(f"Invalid literal: {error}.") from None
    closed = target.kind is Kind.INT and all(isinstance(v, int) for v in values)

    def label(low: str | None, high: str | None, high_value: Any = None) -> str:
        if closed:
            upper = "*" if high is None else ast.format_number(high_value - 1)
            return f"[{low or '*'}, {upper}]"
        return f"[{low or '*'}, {high or '*'}["

    keys: list[str] = []
    whens: list[tuple[exp.Expression, exp.Expression]] = [(exp.Is(this=target.sql.copy(), expression=exp.Null()),
                                                          exp.Null())]
    first_t, first_b = compiled[0]
    if open_low:
        whens.append((exp.LT(this=paren(first_t.sql.copy()), expression=first_b.sql), exp.Literal.number(len(keys))))
        keys.append(label(None, labels[0], values[0]))
    else:
        whens.append((exp.LT(this=paren(first_t.sql.copy()), expression=first_b.sql), exp.Null()))
    for i in range(1, len(compiled)):
        t, b = compiled[i]
        whens.append((exp.LT(this=paren(t.sql.copy()), expression=b.sql), exp.Literal.number(len(keys))))
        keys.append(label(labels[i - 1], labels[i], values[i]))
    default: exp.Expression = exp.Null()
    if open_high:
        default = exp.Literal.number(len(keys))
        keys.append(label(labels[-1], None))
    index = exp.Case(ifs=[exp.If(this=cond, true=result) for cond, result in whens], default=default)
    return GroupKey((index,), _key_list(keys, index.copy()), Kind.TEXT, (index.copy(),),
                    exp.Not(this=exp.Is(this=index.copy(), expression=exp.Null())))


_INTERVAL_UNITS = {"millisecond": "MILLISECOND", "second": "SECOND", "minute": "MINUTE", "hour": "HOUR", "day": "DAY"}
#: Units of one fixed length (seconds): their buckets are moments, not wall-clock times.
_CLOCK_SECONDS = {"millisecond": 0.001, "second": 1, "minute": 60, "hour": 3600}
_UNIT_SECONDS = {**_CLOCK_SECONDS, "day": 86_400, "week": 7 * 86_400, "month": 31 * 86_400,
                 "quarter": 92 * 86_400, "year": 366 * 86_400}
#: The longest range() step on dates (about 10,000 years): the engine's intervals end further
#: on, but a bucket that long holds every date there is.
_LONGEST_STEP_SECONDS = 10_000 * 366 * 86_400
_ISO_MS = "%Y-%m-%dT%H:%M:%S.%gZ"


def _date_buckets(ctx: Context, target: Typed, width: ast.Quantity) -> GroupKey:
    unit = literals.DURATION_UNITS.get(width.unit)
    if unit is None:
        raise ctx.error(f"Unknown range() unit: {width.unit}")
    if not isinstance(width.value, int) or width.value < 1:
        raise ctx.error("The step of range() on dates must be a positive integer.")
    n = width.value
    if unit in literals.CALENDAR_UNITS and n != 1:
        raise ctx.error(f"range() by {unit} only takes 1{width.unit}.")
    if n * _UNIT_SECONDS[unit] > _LONGEST_STEP_SECONDS:
        raise ctx.error("The step of range() on dates is too long (10,000 years at most).")
    # A step of hours or less cuts moments (UTC), from the zone's midnight of 1 January 1970: cut
    # on the wall clock, the hour repeated when clocks go back was one bucket holding values
    # before its lower bound. Such buckets follow the zone's wall clock as it stood in 1970
    # (2h buckets in Paris start at even hours in winter, odd ones in summer).
    moments = target.kind is Kind.DATETIME and unit in _CLOCK_SECONDS
    midnight = datetime(1970, 1, 1, tzinfo=ctx.cut_tz if moments else timezone.utc).astimezone(timezone.utc)
    epoch = exp.cast(exp.Literal.string(midnight.strftime("%Y-%m-%d %H:%M:%S")), "TIMESTAMP")
    if moments:
        x = call("timezone", exp.Literal.string("UTC"), target.sql)
    else:
        x = exp.cast(target.sql, "TIMESTAMP") if target.kind is Kind.DATE else local_time(target, ctx.cut_tz)
    if unit in _INTERVAL_UNITS:
        step = exp.Interval(this=exp.Literal.string(str(n)), unit=exp.var(_INTERVAL_UNITS[unit]))
        low = call("time_bucket", step, x, epoch)
    elif unit == "week":
        step = exp.Interval(this=exp.Literal.string("7"), unit=exp.var("DAY"))
        low = call("time_bucket", step, x, exp.cast(exp.Literal.string("1970-01-05 00:00:00"), "TIMESTAMP"))
    else:
        step = exp.Interval(this=exp.Literal.string("3" if unit == "quarter" else "1"),
                            unit=exp.var("MONTH" if unit == "quarter" else unit.upper()))
        low = call("date_trunc", exp.Literal.string(unit), x)
    high = exp.Add(this=low.copy(), expression=step.copy())

    def text(moment: exp.Expression) -> exp.Expression:
        if target.kind is Kind.DATETIME and not moments:  # local wall time → UTC, written with Z
            moment = call("timezone", exp.Literal.string("UTC"), call("timezone", exp.Literal.string(ctx.cut_tz.key), moment))
        return call("strftime", moment, exp.Literal.string(_ISO_MS))

    key = _dpipe(exp.Literal.string("["), text(low.copy()), exp.Literal.string(", "), text(high),
                 exp.Literal.string("["))
    return GroupKey((low,), key, Kind.TEXT, (low.copy(),), exp.Not(this=exp.Is(this=low.copy(), expression=exp.Null())))


def _decimals(width: float) -> int | None:
    """The decimals ``width`` is written with at its shortest (0.3: 1, 2.5e-05: 6); None past
    15, where a double holds no such decimals and rounding would make both bounds one number."""
    exponent = Decimal(repr(width)).normalize().as_tuple().exponent
    places = max(-exponent, 0) if isinstance(exponent, int) else 0
    return places if places <= 15 else None


def _number_buckets(ctx: Context, target: Typed, width: int | float) -> GroupKey:
    if not width > 0 or not math.isfinite(width):
        raise ctx.error("The step of range() must be a positive number.")
    w = number(width)
    low = exp.Mul(this=exp.func("floor", exp.Div(this=paren(target.sql), expression=w)), expression=w.copy())
    places = None if isinstance(width, int) else _decimals(width)
    if places is not None:
        # A multiple of 0.3 is not one in binary (35.699999999999996): bounds are rounded to the
        # width's own decimals, which every multiple of it has, so keys read [35.7, 36[.
        places = number(places)
        low = exp.Round(this=low, decimals=places)
    if target.kind is Kind.INT and isinstance(width, int):
        low = exp.cast(low, "BIGINT" if target.bits <= 63 else "HUGEINT")  # an int past INT64 (Typed.bits)
        high = exp.Add(this=low.copy(), expression=number(width - 1))
        key = _dpipe(exp.Literal.string("["), _plain(low.copy()), exp.Literal.string(", "), _plain(high),
                     exp.Literal.string("]"))
    else:
        high = exp.Add(this=low.copy(), expression=w.copy())
        if places is not None:
            high = exp.Round(this=high, decimals=places.copy())
        key = _dpipe(exp.Literal.string("["), _number_text(low.copy()), exp.Literal.string(", "), _number_text(high),
                     exp.Literal.string("["))
    return GroupKey((low,), key, Kind.TEXT, (low.copy(),), exp.Not(this=exp.Is(this=low.copy(), expression=exp.Null())))


def _range(ctx: Context, node: ast.Call, args: list[Any]) -> GroupKey:
    target = ctx.value(args[0])
    if target.kind not in NUMERIC | TEMPORAL:
        raise ctx.error("range() groups numbers and dates.")
    rest = args[1:]
    if len(rest) == 1 and isinstance(rest[0], ast.Steps):  # v2.0's ]10, 50, 100[: v2.1's *, 10, 50, 100, *
        steps = rest[0]
        bounds = [ast.Star()] * steps.open_low + list(steps.values) + [ast.Star()] * steps.open_high
        return _static_range(ctx, target, bounds)
    if len(rest) == 1 and isinstance(rest[0], ast.Quantity):
        if target.kind not in TEMPORAL:
            raise ctx.error("A range() step with a unit applies to dates.")
        return _date_buckets(ctx, target, rest[0])
    if len(rest) == 1 and not isinstance(rest[0], ast.Star):  # one number is a width (-5 too: refused)
        width = ctx.value(rest[0])  # an unknown name (1x: no unit) is reported as such first
        if target.kind in TEMPORAL:
            raise ctx.error("The step of range() on dates needs a unit, e.g. 1d or 1M.")
        if not width.constant or width.kind not in NUMERIC:
            raise ctx.error("The step of range() must be a positive number.")
        return _number_buckets(ctx, target, width.value)
    _refuse_mixed_forms(ctx, ast.to_text(args[0]), target, rest)
    return _static_range(ctx, target, rest)


def _refuse_mixed_forms(ctx: Context, name: str, target: Typed, rest: list[Any]) -> None:
    """range()'s two documented forms do not mix: a width with a unit (``range(d, 1d)``) or
    bracketed steps (v2.0's ``range(pop, ]10, 50[)``) stand alone, and bounds are plain constants
    (reference §5.5). ``range(d, 1 day, date'2020', *)`` was refused as if a width were never an
    argument of range() ("only an argument of within_distance() or range()"), which named the
    function it was written in and not what was wrong."""
    width = next((a for a in rest if isinstance(a, ast.Quantity)), None)
    if width is not None:
        if target.kind not in TEMPORAL:
            raise ctx.error("A range() step with a unit applies to dates.")
        raise ctx.error(f"range() takes a width with a unit alone, as range({name}, {ast.to_text(width)}); "
                        f"static bounds are dates: range({name}, *, date'2020-01-01', date'2021-01-01', *).")
    steps = next((a for a in rest if isinstance(a, ast.Steps)), None)
    if steps is not None:
        raise ctx.error(f"range() takes bracketed steps alone, as range({name}, {ast.to_text(steps)}).")


def _geo_cluster(ctx: Context, node: ast.Call, args: list[Any]) -> GroupKey:
    target = ctx.value(args[0])
    if target.kind not in GEO:
        raise ctx.error("geo_cluster() groups a geo field.")
    zoom = _constant_int(ctx, ctx.value(args[1]), "The zoom of geo_cluster()", 0, 25)
    radius = _constant_int(ctx, ctx.value(args[2]), "The radius of geo_cluster()", 1, 1000) if len(args) > 2 else 40
    point = target if target.kind is Kind.POINT else Typed(call("ST_Centroid", target.sql), Kind.POINT)
    size = 360.0 / (256 * 2**zoom) * radius  # degrees per cluster cell: the radius at the zoom, along the equator
    cell = number(size)
    x, y = _xy(ctx, point)
    # Which cells hold a point: a stored longitude is null exactly where its point is.
    present = x.copy() if _stored_point(ctx, point) is not None else point.sql
    cells = (exp.func("floor", exp.Div(this=x, expression=cell)), exp.func("floor", exp.Div(this=y, expression=cell.copy())))
    clusters.mark(*cells, x.copy(), y.copy(), size)  # for the second step, merging (odsql.clusters)
    centroid = exp.func("struct_pack", exp.PropertyEQ(
        this=exp.to_identifier("cluster_centroid"),
        expression=exp.func("struct_pack",
                            exp.PropertyEQ(this=exp.to_identifier("lat"), expression=exp.func("avg", y.copy())),
                            exp.PropertyEQ(this=exp.to_identifier("lon"), expression=exp.func("avg", x.copy())))))
    output = exp.Case(ifs=[exp.If(this=exp.EQ(this=exp.Count(this=present), expression=exp.Literal.number(0)),
                                  true=exp.Null())], default=call("to_json", centroid))
    return GroupKey(cells, output, Kind.JSON, tuple(c.copy() for c in cells))


# ---- order_by only, pseudo and catalog-only -------------------------------------------------

def _random(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    seed = _constant_int(ctx, args[0], "The seed of random()")
    keys = [o.copy() for o in ctx.group_outputs] if ctx.grouped else [exp.column("rowid", table=RECORDS, quoted=True)]
    return Typed(call("hash", *keys, number(seed)), Kind.INT)


def _select_only(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    raise ctx.error(f"{node.name}() is a select item of its own, not a value.")


def _catalog_only(ctx: Context, node: ast.Call, args: list[Any]) -> Typed:
    raise ctx.error(f"{node.name}() is only available on the catalog.")


# ---- the table ------------------------------------------------------------------------------

S, W, G, O = SELECT, WHERE, GROUP_BY, ORDER_BY
SWO = frozenset({S, W, O})
SWGO = frozenset({S, W, G, O})


def _row(name: str, params: tuple[Param, ...], build: Builder, clauses: frozenset[str] | set[str],
         role: Role = Role.SCALAR, min_args: int | None = None, max_args: int | None | str = "fixed",
         returns: str = "", summary: str = "") -> Function:
    fixed = len(params)
    return Function(name, params, fixed if min_args is None else min_args,
                    fixed if max_args == "fixed" else max_args,  # type: ignore[arg-type]
                    frozenset(clauses), role, build, returns, summary)


_DATE_PARTS = ("year", "month", "day", "hour", "minute", "second", "millisecond", "quarter", "dayofweek")
_DUCKDB_PARTS = {"dayofweek": "isodow"}

FUNCTIONS: tuple[Function, ...] = (
    # text
    _row("length", (TEXT,), _length, SWO, returns="int",
         summary="number of characters; of a multivalued field, number of values"),
    _row("lower", (TEXT,), _case(lambda s: exp.Lower(this=s)), SWGO, returns="text"),
    _row("upper", (TEXT,), _case(lambda s: exp.Upper(this=s)), SWGO, returns="text",
         summary="reserved by Opendatasoft, undocumented; provided"),
    _row("concat", (ANY,), _concat_builder, SWO, min_args=1, max_args=None, returns="text",
         summary="text of every argument joined (nulls skipped)"),
    _row("startswith", (RAW,), _startswith, {S, W}, Role.PREDICATE, min_args=1, max_args=None, returns="boolean",
         summary="startswith(f…|*, 'text'): the whole value starts with the text (case-sensitive)"),
    _row("ifnull", (ANY, ANY), _ifnull, SWGO, returns="type of expr"),
    _row("json_format", (TEXT, ANY), _json_format, {S}, min_args=1, returns="json"),
    # numbers (beyond the documented catalogue)
    _row("abs", (NUMBER,), _unary(lambda s: exp.Abs(this=s)), SWO, returns="number"),
    _row("round", (NUMBER, NUMBER), _round, SWO, min_args=1, returns="number"),
    _row("floor", (NUMBER,), _floor_ceil("floor"), SWO, returns="number"),
    _row("ceil", (NUMBER,), _floor_ceil("ceil"), SWO, returns="number"),
    *(_row(name, (NUMBER,) * arity, _math(engine, domain), SWO, returns="double", summary=summary)
      for name, engine, arity, domain, summary in (
          ("sqrt", "sqrt", 1, lambda x: exp.GTE(this=x, expression=number(0)), "square root; null below 0"),
          ("cbrt", "cbrt", 1, None, "cube root"),
          ("pow", "power", 2, None, "pow(x, y): x to the power y; null where not a real number"),
          ("exp", "exp", 1, None, "e to the power x"),
          ("ln", "ln", 1, lambda x: exp.GT(this=x, expression=number(0)), "natural logarithm; null from 0 down"),
          ("log10", "log10", 1, lambda x: exp.GT(this=x, expression=number(0)), "base-10 logarithm; null from 0 down"),
          ("sin", "sin", 1, None, "sine (radians)"), ("cos", "cos", 1, None, "cosine (radians)"),
          ("tan", "tan", 1, None, "tangent (radians)"),
          ("asin", "asin", 1, _unit_interval, "arc sine; null outside [-1, 1]"),
          ("acos", "acos", 1, _unit_interval, "arc cosine; null outside [-1, 1]"),
          ("atan", "atan", 1, None, "arc tangent"), ("atan2", "atan2", 2, None, "atan2(y, x): angle of the point (x, y)"),
          ("sinh", "sinh", 1, None, "hyperbolic sine"), ("cosh", "cosh", 1, None, "hyperbolic cosine"),
          ("tanh", "tanh", 1, None, "hyperbolic tangent"),
          ("degrees", "degrees", 1, None, "radians to degrees"), ("radians", "radians", 1, None, "degrees to radians"),
          ("sign", "sign", 1, None, "-1, 0 or 1"), ("rint", lambda x: call("round_even", x, number(0)), 1, None, "nearest integer, halves to even"),
          ("hypot", lambda x, y: call("sqrt", exp.Add(this=exp.Mul(this=x, expression=x.copy()),
                                                      expression=exp.Mul(this=y, expression=y.copy()))), 2, None, "hypot(x, y): sqrt(x² + y²)"),
          ("greatest", "greatest", 2, None, "the larger of two numbers"),
          ("least", "least", 2, None, "the smaller of two numbers"))),
    # dates
    *(_row(part, (DATE,), _date_part(_DUCKDB_PARTS.get(part, part)), SWGO, returns="int",
           summary="an integer in the query's timezone") for part in _DATE_PARTS),
    _row("date_format", (DATE, TEXT), _date_format, SWGO, returns="text",
         summary="Joda-style pattern, names localised by lang"),
    _row("now", (RAW,), _now, SWO, min_args=0, max_args=None, returns="datetime",
         summary="now(year=…, months=…, …): set (singular) or add (plural) components"),
    # full text
    _row("search", (RAW,), _search, {W}, Role.PREDICATE, min_args=1, max_args=None, returns="boolean",
         summary="search(f…|*, 'text'): every word found; the last one as a prefix, earlier ones fuzzy"),
    _row("suggest", (RAW,), _suggest, {W}, Role.PREDICATE, min_args=1, max_args=None, returns="boolean",
         summary="suggest(f…|*, 'text'): words starting with each term"),
    _row("phrase", (RAW,), _phrase, {W}, Role.PREDICATE, min_args=1, max_args=None, returns="boolean",
         summary="beyond Opendatasoft: phrase(f…|*, 'text'): the words whole and in a row in one value "
                 "(v1's \"quoted phrase\"); 'text*' the last a prefix"),
    # geo
    _row("within_distance", (GEO, GEO, RAW), _within_distance, {W}, Role.PREDICATE, returns="boolean",
         summary="within_distance(geo, geom'POINT(lon lat)', 10km)"),
    _row("distance", (GEO, GEO, RAW), _distance, {S, W, O}, min_args=2, returns="double (metres) or boolean",
         summary="2 arguments: metres; 3 arguments: legacy within_distance()"),
    _row("in_bbox", (GEO, NUMBER, NUMBER, NUMBER, NUMBER), _in_bbox, {W}, Role.PREDICATE, returns="boolean",
         summary="in_bbox(geo, lat1, lon1, lat2, lon2)"),
    _row("intersects", (GEO, GEO), _relation("intersects"), {W}, Role.PREDICATE, returns="boolean"),
    _row("disjoint", (GEO, GEO), _relation("disjoint"), {W}, Role.PREDICATE, returns="boolean"),
    _row("within", (GEO, GEO), _relation("within"), {W}, Role.PREDICATE, returns="boolean"),
    _row("geometry", (GEO, GEO, RAW), _geometry, {W}, Role.PREDICATE, min_args=2, returns="boolean",
         summary="legacy geometry(f, g[, INTERSECTS|DISJOINT|WITHIN]), INTERSECTS by default"),
    _row("polygon", (GEO, GEO), _relation("within"), {W}, Role.PREDICATE, returns="boolean",
         summary="v2.0 polygon(geo, geom): within"),
    _row("geometry_type", (GEO,), _geometry_type, SWGO, returns="text",
         summary="beyond Opendatasoft: the GeoJSON type of a geometry (Point, Polygon, MultiPolygon…)"),
    _row("geo_digest", (GEO,), _geo_digest, SWGO, returns="text",
         summary="beyond Opendatasoft: a geometry's stable id (md5 of its GeoJSON), v1's geo_digest"),
    # aggregates
    _row("count", (RAW,), _count, {S, O}, Role.AGGREGATE, returns="int",
         summary="count(*), count(f) (non-null), count(distinct f) (exact)"),
    _row("sum", (NUMBER,), _aggregate("sum"), {S, O}, Role.AGGREGATE, returns="number"),
    _row("avg", (NUMBER,), _aggregate("avg", Kind.DOUBLE), {S, O}, Role.AGGREGATE, returns="double"),
    _row("min", (ORDERABLE,), _aggregate("min"), {S, O}, Role.AGGREGATE, returns="type of f"),
    _row("max", (ORDERABLE,), _aggregate("max"), {S, O}, Role.AGGREGATE, returns="type of f"),
    _row("median", (NUMBER,), _median, {S, O}, Role.AGGREGATE, returns="double"),
    _row("percentile", (NUMBER, NUMBER), _percentile, {S, O}, Role.AGGREGATE, returns="double",
         summary="percentile(f, p), p in 0–100 (interpolated)"),
    _row("envelope", (GEO,), _envelope, {S}, Role.AGGREGATE, returns="geo_shape", summary="convex hull"),
    _row("bbox", (GEO,), _bbox, {S}, Role.AGGREGATE, returns="geo_shape", summary="bounding box"),
    # group_by
    _row("range", (RAW,), _range, {G}, Role.GROUPING, min_args=2, max_args=None, returns="text key",
         summary="static bounds range(f, *, 10, 50, *) or equal widths range(f, 15) / range(d, 1M)"),
    _row("geo_cluster", (RAW, RAW, RAW), _geo_cluster, {G}, Role.GROUPING, min_args=2,
         returns="{cluster_centroid: {lat, lon}}", summary="grid clusters, neighbours closer than the radius merged"),
    # order_by
    _row("random", (NUMBER,), _random, {O}, Role.ORDERING, returns="-", summary="random(seed): a stable shuffle"),
    # select directives and catalog-only functions
    _row("include", (RAW,), _select_only, {S}, Role.PSEUDO, returns="-", summary="include(pattern*)"),
    _row("exclude", (RAW,), _select_only, {S}, Role.PSEUDO, returns="-", summary="exclude(pattern*)"),
    _row("vector_similarity", (RAW,), _catalog_only, {O}, Role.CATALOG, returns="double"),
    _row("vector_similarity_threshold", (RAW, RAW), _catalog_only, {W}, Role.CATALOG, returns="boolean"),
)

#: The registry: function name → row.
REGISTRY: dict[str, Function] = {f.name: f for f in FUNCTIONS}
#: Names that mean another function in where: v2.0's ``bbox(geo, corner, corner)`` filter,
#: beside the ``bbox(geo)`` aggregate of select.
WHERE_FORMS: dict[str, Function] = {f.name: f for f in (
    _row("bbox", (GEO, GEO, GEO), _bbox_filter, {W}, Role.PREDICATE, returns="boolean",
         summary="v2.0 bbox(geo, geom'POINT(lon lat)', geom'POINT(lon lat)'): within the box of two corners"),
)}
