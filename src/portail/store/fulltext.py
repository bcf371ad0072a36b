"""The full-text index of a version: an inverted index written into the version's index file
once the version is published (``DuckDBStore.build_indexes``; versions built before index files
hold it inside), and the rewrite that lets a query use it.

Why our own two tables rather than DuckDB's ``fts`` extension: ``create_fts_index`` needs an
id column the records table does not have, its ``match_bm25`` macro resolves its tables in the
default catalog (a version file is attached read-only under an alias), and ODSQL needs word
*prefixes* and *fuzzy* words (``search()``), not BM25 ranking. Two plain tables do exactly that
and stay readable by any process that attaches the immutable file read-only:

* ``fulltext_terms(term)``: every distinct word (lower case, accents stripped, œ æ ß spelled
  oe ae ss, split on anything that is not a letter, a digit or ``_``: ``folded``, ``WORD_SPLIT``),
  sorted; prefix and
  fuzzy lookups scan this small dictionary, never the records;
* ``fulltext_folding(folding)``: which folding the words were written with; an index of another
  (an older build's) is not read, so that scans answer alike until it is written again;
* ``fulltext(term, field, rid)``: one posting per (word, text field, row), sorted on ``term``
  (json fields too, as their JSON text: ODSQL reads them so; listed in ``FIELDS`` since then)
  so that the engine's zone maps skip every row group but the few holding the wanted words
  (a view when key fields of one-word values lend their key rows as postings: see ``build``);
* ``fulltext_values(term, field, value)``: for text fields whose values repeat (a commune
  name, a category, a code: at most one distinct value in ``REPEATS`` rows), the words of each
  *distinct value* instead of postings per row. A match is then ``field IN (values holding the
  word)``, a scan of one dictionary-compressed column, as fast as the row postings' semi-join,
  and the build tokenises thousands of values instead of millions of rows: an enrichment that
  adds eight such columns to a million records indexes them in a fraction of a second instead
  of seconds. A small dictionary (``HELD_VALUE_WORDS``) is also held in memory with the
  version's ``Index``, so exact words and prefixes find their values without an engine call.

Fuzzy words (``search()``'s earlier words: edit distance 1 past 2 letters, 2 past 5, a swap of
two adjacent letters one edit as in Lucene's fuzzy query, DuckDB's ``damerau_levenshtein``)
keep their first letter: a speed choice, not Lucene's default (``prefix_length`` 0), so "mont"
does not find "pont". The sorted dictionary is then read in one narrow range (dropping it cost
0.6 -> 570 ms for a fuzzy word on the 4 M terms of 2 M Sirene-like rows), and a length test and
a pigeonhole substring test (``pieces``) spare the distance on nearly every term. The engine's
distances count bytes: a letter folding leaves outside ASCII (Greek, Cyrillic, ``ø``, ``ł``) is
two edits where it is one in Lucene, so "αθηαν" does not find "Αθήνα" (a known limit; French
words fold to ASCII).

Matching is defined once, as a *scan* expression over the records (``scan``). The compiler
emits a compact node in its place (``word_match``: the columns and, in ``meta``, the match),
which costs nothing to copy or walk while a plan is built and bound; a store that has an index
for the version replaces it by the index lookup (``use_index``), and whatever is left becomes
the scan when SQL is generated (``with_scans``: the stores, ``odsql.to_sql``) — a version
built before the index existed, or any plain DuckDB connection, runs the scan. Both give the
same rows: the index is an accelerator, never a second semantics.

A selective match is *resolved* when the query is bound (``use_index`` with a ``lookup``):
the index tables are read first and the match becomes constants — the few row ids as
``rowid BETWEEN first AND last AND rowid IN (…)``, the few values as ``field IN (…)``, or
false. The engine pushes those into the scan of the records (row groups skipped on their row
ids, values tested against the dictionary), where a semi-join over the index tables reads
every row id of the table; a version never changes, so the constants hold as long as the
plan that carries them. A word found in more than ``RESOLVE`` rows or values is read as an
array of row ids (``_wide_rows``): counts and unordered pages are answered from it, and other
shapes (aggregations, facets, ordered pages, exports) test its rows as constants when they are
long runs, the span of its rows less the few missing in it (``_wide_form``: a word in all 2 M
rows, one ``BETWEEN``, ~5 ms instead of a 0.4 s semi-join); scattered rows keep the semi-join.
Conditions on key fields (``field = 'code'``, ``field IN (…)``: ``store.keys``) are resolved
the same way from the key table, and join the row-id lists: a full-text match ANDed with a
postal code is read for that code's rows only. An AND chain of matches none of which resolves
is read from its narrowest member's rows when they are at most ``CHAIN_RESOLVE`` (``_narrowest``),
the others tested among them: "sas 1234*" on 10 M rows is then one list of ~4,200 row ids
instead of two semi-joins (1.1 s a page, 2 ms now).
"""

from __future__ import annotations

import bisect
import itertools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
from sqlglot import exp

from portail.store import keys
from portail.store.engine import COLUMNS_PER_STATEMENT, holds, unpivoted
from portail.store.postings import PostingsFile

POSTINGS = "fulltext"
#: The postings written by the build when ``fulltext`` is a view over them and key rows.
WRITTEN = "fulltext_postings"
TERMS = "fulltext_terms"
VALUES = "fulltext_values"
#: The fields ``POSTINGS`` holds rows of: a read asking for all of them tests no field.
FIELDS = "fulltext_fields"
#: Tables a version with an index holds (``VALUES`` and ``FIELDS`` only from versions built since
#: they exist).
TABLES = (POSTINGS, TERMS)
ALL_TABLES = (POSTINGS, TERMS, VALUES, FIELDS)
#: A text field is indexed by its distinct values when it has at most one per ``REPEATS`` rows.
REPEATS = 4
#: A match found in at most this many rows (or distinct values) is resolved to constants.
RESOLVE = 2048
#: An AND chain of matches none of which resolves becomes one row-id list when its narrowest
#: member holds at most this many rows (``_narrowest``): counts and unordered pages are then
#: slices of the list, and other shapes (ordered pages, aggregations) test its rows as constants.
#: Measured on 10 M rows (random rows, the worst case): 8,192 listed rows cost ~115-160 ms a
#: group_by or an ordered page, where the semi-joins of a chain with a field indexed by value
#: cost 0.6-2.4 s; on 2 M rows ~45 ms, as much as the semi-join of a prefix's 150,000 rows (past
#: some 16,000 listed rows the semi-join is faster at either size: 100 ms against 22 on 2 M).
CHAIN_RESOLVE = 4 * RESOLVE
#: A prefix's postings tested in memory for the rows of a list (``_rows_among``) up to this
#: many, plus 16 a row; past it the engine reads those rows' postings.
AMONG_POSTINGS = 65_536
#: Values a field indexed by value tests as constants; past this, a semi-join on the value
#: dictionary is faster (1,000 constant communes: 64 ms against 32 on 2 M rows).
VALUE_LIST = 64
#: What separates words: anything but a letter, a digit or ``_``. Opendatasoft answers full text
#: with Elasticsearch, whose standard tokenizer follows Unicode's word breaks (UAX #29), where
#: ``_`` joins what it stands between (ExtendNumLet): ``x_y`` and ``_paris_`` are one word each,
#: ``l'hay`` two (the index keeps that simpler cut: any other character breaks). A run of ``_``
#: alone is no word of a search (``split``); in a value it stays a term no search word can reach.
WORD_SPLIT = r"[^\pL\pN_]+"
#: Letters that lower case and accent stripping leave whole, spelled as the words are typed
#: (after lower case: Œ, Æ and ẞ lower to these).
LIGATURES = {"œ": "oe", "æ": "ae", "ß": "ss"}
_SPELLED = str.maketrans(LIGATURES)
#: Which folding an index's words were written with (its ``FOLDING`` table; none: 1, before
#: ``LIGATURES``; 2, before ``_`` was a word character: ``WORD_SPLIT``). An index of another
#: folding is not read (``read_index``): its words would disagree with the query's (an index of
#: 2 holds ``x`` and ``y`` for "x_y"), so scans answer until ``portail dataset reindex`` writes it
#: again; ``portail migrate`` and ``portail serve`` count such versions (``written_with``).
FOLDED_WITH = 3
FOLDING = "fulltext_folding"
_META = "portail_fulltext"
#: On a match of a json field's text: only an index that lists the field answers it (``_held``).
_LISTED = "portail_listed"
#: A text match not yet in its scan form (``word_match``): the name of its placeholder node, and
#: the ``meta`` key holding its match.
_SCAN = "portail_text_match"
_ROWIDS = "portail_rowids"
_WIDE = "portail_wide"
#: A match too wide to resolve is written as constants when its row ids are long runs: the
#: span of its rows, less at most ``WIDE_GAPS`` runs of missing rows and ``WIDE_MISSING``
#: single missing rows (``_wide_form``). Past that it keeps the semi-join.
WIDE_GAPS = 16
WIDE_MISSING = 2048
#: Set by ``_sliced`` on what it answered: a count's row (its SQL is a constant), a page's row
#: ids (all of them rows of the page, in order) with the number of rows of all its pages, and
#: the span of a page without condition (``store.pages`` may hand those rows over).
_KNOWN = "portail_known"
_PAGE = "portail_page"
_TOTAL = "portail_total"
_SPAN = "portail_span"


def folded(sql: exp.Expression) -> exp.Expression:
    """Lower case without accents, ligatures spelled out (``LIGATURES``): how every word is
    compared. ``strip_accents`` leaves œ, æ and ß alone (no decomposition), so "coeur" would
    never find "Cœur" without the replacements. A value of ASCII only (as many bytes as
    characters) is folded by ``lower`` alone: the three replacements cost ~0.4 s each over 2 M
    rows where the whole fold of ASCII text costs 0.05 s (``like`` scans 2 M rows 5-10x faster)."""
    out: exp.Expression = exp.Anonymous(this="strip_accents", expressions=[exp.Lower(this=sql.copy())])
    for letter, spelled in LIGATURES.items():
        out = exp.Anonymous(this="replace", expressions=[out, exp.Literal.string(letter), exp.Literal.string(spelled)])
    ascii_only = exp.EQ(this=exp.Anonymous(this="strlen", expressions=[sql.copy()]),
                        expression=exp.Anonymous(this="length", expressions=[sql.copy()]))
    return exp.Case(ifs=[exp.If(this=ascii_only, true=exp.Lower(this=sql.copy()))], default=out)


def words(sql: exp.Expression) -> exp.Expression:
    """The words of a text value, folded (empty strings may appear at the edges)."""
    return exp.Anonymous(this="regexp_split_to_array", expressions=[folded(sql), exp.Literal.string(WORD_SPLIT)])


def split(text: str) -> list[str]:
    """The words of a search text, folded like the index (:func:`folded`, in Python, for the
    compiler)."""
    import unicodedata

    decomposed = unicodedata.normalize("NFD", text.lower())
    bare = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn").translate(_SPELLED)
    # Python's \w is a letter, a digit or "_", as WORD_SPLIT keeps them; a run of "_" alone is no
    # word (Elasticsearch's standard tokenizer emits no token for it).
    return [w for w in re.split(r"\W+", bare) if w.strip("_")]


@dataclass(frozen=True)
class Match:
    """How one search word matches a word of the text: ``exact``, ``prefix`` or ``fuzzy``
    (edit distance up to ``distance``, a swap of two adjacent letters one edit, the first
    letter kept: ``first_letter``)."""

    word: str
    kind: str = "exact"
    distance: int = 0

    def test(self, x: exp.Expression) -> exp.Expression:
        literal = exp.Literal.string(self.word)
        if self.kind == "prefix":
            return starting(x, self.word)
        if self.kind == "fuzzy" and self.distance > 0:
            close = exp.LTE(this=exp.Anonymous(this="damerau_levenshtein", expressions=[x, literal]),
                            expression=exp.Literal.number(self.distance))
            # Pigeonhole: k edits leave one of k+1 pieces of the word intact (or, when a swap of
            # two letters straddles a cut, that piece with the letter across the cut swapped in:
            # ``pieces``), so a cheap substring test spares the distance on almost every term.
            held = [exp.Anonymous(this="contains", expressions=[x.copy(), exp.Literal.string(p)])
                    for p in pieces(self.word, self.distance)]
            # Each edit changes the length by one at most (the distance counts bytes, as ``strlen``).
            size = len(self.word.encode())
            near = exp.Between(this=exp.Anonymous(this="strlen", expressions=[x.copy()]),
                               low=exp.Literal.number(size - self.distance), high=exp.Literal.number(size + self.distance))
            return exp.and_(self.first_letter(x.copy()), near, exp.or_(*held, copy=False) if len(held) > 1 else held[0],
                            close, copy=False)
        return exp.EQ(this=x, expression=literal)

    def first_letter(self, x: exp.Expression) -> exp.Expression:
        """Fuzzy words keep their first letter: the sorted dictionary is then read in one
        narrow range, not whole. A speed choice that departs from Lucene's default (fuzzy
        queries' ``prefix_length`` is 0 there, so Opendatasoft's "mont" may find "pont"): the
        whole dictionary costs ~0.6 s a new fuzzy word on 2 M rows' 4 M terms, ~1 ms now."""
        return starting(x, self.word[0])


def starting(x: exp.Expression, prefix: str) -> exp.Expression:
    """``x`` starts with ``prefix``, written as a range of a sorted column (the terms'), which the
    engine's zone maps narrow to the row groups holding it: a constant prefix ``LIKE`` (the engine
    reads it as that range), or, when ``prefix`` holds ``_`` (a word character, and ``LIKE``'s
    one-character wildcard), ``prefix <= x < prefix's successor`` (its last character the next
    one: text compares by its UTF-8 bytes, in code point order, so exactly the texts starting
    with ``prefix`` lie between). ``starts_with`` is no range: it read every term (0.28 s
    instead of 5 ms for a prefix on 3 M terms)."""
    if "_" not in prefix:
        return exp.Like(this=x, expression=exp.Literal.string(prefix + "%"))
    following = ord(prefix[-1]) + 1
    following += 0x800 if 0xD800 <= following <= 0xDFFF else 0  # surrogates are no text
    if following > 0x10FFFF:
        return exp.Anonymous(this="starts_with", expressions=[x, exp.Literal.string(prefix)])
    return exp.and_(exp.GTE(this=x, expression=exp.Literal.string(prefix)),
                    exp.LT(this=x.copy(), expression=exp.Literal.string(prefix[:-1] + chr(following))), copy=False)


def _pieces(word: str, n: int) -> list[str]:
    """``word`` cut into ``n`` contiguous pieces of near-equal length."""
    size, extra = divmod(len(word), n)
    out, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(word[start:end])
        start = end
    return [p for p in out if p]


def pieces(word: str, distance: int) -> list[str]:
    """Substrings of which any word within ``distance`` edits of ``word`` (a swap of two
    adjacent letters one edit) holds at least one: ``word`` cut into ``distance + 1`` pieces
    (an edit inside one breaks it alone), and each piece with the letter across one of its cuts
    swapped in (a swap straddling a cut breaks the pieces on both sides, but leaves those: of
    ``s`` such swaps and ``distance - s`` other edits, some piece is left whole but for at most
    one swapped cut; a property test checks it)."""
    cut = _pieces(word, distance + 1)
    out = dict.fromkeys(cut)
    for i, piece in enumerate(cut):
        if i > 0:
            out[cut[i - 1][-1] + piece[1:]] = None
        if i + 1 < len(cut):
            out[piece[:-1] + cut[i + 1][0]] = None
    return list(out)


def word_match(columns: Sequence[tuple[str | None, exp.Expression]], match: Match) -> exp.Expression:
    """Some word of some of ``columns`` ((text field name, text expression) pairs) matches: a
    compact node holding the columns, marked so that a store with an index can swap it for the
    lookup (not when a column is no text field, name ``None``: the index only holds text
    fields, and json fields read as text, a cast, when it lists them: ``_held``), and turned
    into its :func:`scan` by :func:`with_scans` otherwise. The scan form of five text fields
    is ~90 nodes: 0.2 ms a copy, and a plan is copied and walked several times while it is
    built and bound, to be replaced by a row-id list when the index resolves it."""
    if not columns:
        return exp.false()
    # The match is also the node's first argument, so that two matches over the same columns
    # never compare equal (sqlglot compares trees by structure, not ``meta``) nor print alike.
    described = exp.Literal.string(f"{match.kind}:{match.distance}:{match.word}")
    node = exp.Paren(this=exp.Anonymous(this=_SCAN, expressions=[described, *(sql.copy() for _, sql in columns)]))
    node.meta[_SCAN] = match
    if all(name is not None for name, _ in columns):
        node.meta[_META] = (tuple(name for name, _ in columns), match)
        if any(isinstance(sql, exp.Cast) for _, sql in columns):  # a json field's text (see ``build``)
            node.meta[_LISTED] = True
    return node


def scan(columns: Sequence[exp.Expression], match: Match) -> exp.Expression:
    """Some word of some of the text expressions ``columns`` matches, tested on each row. An
    exact word or a prefix is first looked for in the folded text: splitting every row into
    words (a regular expression) costs several times a plain ``contains``, which most rows of a
    selective word fail (``like`` on a 2 M-row version before its index file: 1.2 -> 0.3 s)."""
    x = exp.to_identifier("w")
    tests = []
    for sql in columns:
        if match.kind == "exact":
            test = exp.Anonymous(this="list_contains", expressions=[words(sql), exp.Literal.string(match.word)])
        else:
            found = exp.Anonymous(this="list_filter", expressions=[
                words(sql), exp.Lambda(this=match.test(exp.column(x.copy())), expressions=[x.copy()])])
            test = exp.GT(this=exp.Anonymous(this="len", expressions=[found]), expression=exp.Literal.number(0))
        if match.kind in ("exact", "prefix"):  # the word is then a part of the folded text
            held = exp.Anonymous(this="contains", expressions=[folded(sql), exp.Literal.string(match.word)])
            test = exp.and_(held, test, copy=False)
        tests.append(test)
    return exp.Paren(this=exp.or_(*tests, copy=False) if len(tests) > 1 else tests[0])


def with_scans(tree: exp.Expression) -> exp.Expression:
    """``tree`` (changed in place: a tree its caller owns) with each text match the index did
    not replace in its scan form, ready for SQL."""
    for node in [n for n in tree.walk() if n._meta and _SCAN in n._meta]:
        replacement = scan(node.this.expressions[1:], node.meta[_SCAN])
        if node is tree:
            return replacement
        node.replace(replacement)
    return tree


def _term_condition(match: Match) -> exp.Expression:
    """Which indexed words match: on ``term``, sorted in both word tables."""
    term = exp.column("term")
    if match.kind == "exact":  # zone maps answer an equality directly
        return exp.EQ(this=term, expression=exp.Literal.string(match.word))
    if match.kind == "prefix":  # and a prefix as a range of the sorted terms (``starting``)
        return match.test(term)
    return exp.and_(match.first_letter(term.copy()), exp.In(this=term, query=_close_terms(match).subquery(copy=False)),
                    copy=False)


def _close_terms(match: Match) -> exp.Select:
    """The dictionary's terms a fuzzy word matches: one read, whether the postings are then read
    through the engine (:func:`_term_condition`) or from the postings file (:func:`_terms_of`)."""
    return keys.read(["term"], TERMS, match.test(exp.column("term")))


def _lookup(fields: tuple[str, ...], match: Match, records: str, index: Index,
            values: dict[str, list[str]] | None = None) -> exp.Expression:
    """One field indexed by value: ``field IN (matching values)``. Otherwise one semi-join on
    the row id over the union of the rows each field matches: an OR of several IN subqueries
    would make the engine mark every row against each of them (6× slower on 2 M rows)."""
    if len(fields) == 1 and fields[0] in index.by_value:
        name = fields[0]
        if values is not None and not values.get(name):
            return exp.false()
        return _value_test(name, match, records, values.get(name) if values is not None else None)
    rows = _row_reads(fields, match, records, index, values)
    return _any_of(rows, records) if rows else exp.false()


def _row_reads(fields: tuple[str, ...], match: Match, records: str, index: Index,
               values: dict[str, list[str]] | None, postings: bool = True) -> list[exp.Select]:
    """The reads of the row ids a match holds: its postings in the posted fields (unless
    ``postings`` is false: the caller has them), and the rows of each field indexed by value
    whose values hold it. With ``values`` (those values, already read), a field tests
    constants, and a field none of whose values holds the match is left out."""
    reads = []
    by_value = index.by_value
    posted = [f for f in fields if f not in by_value]
    if posted and postings:
        reads.append(_posted_rows(posted, match, index.posted))
    for name in fields:
        if name not in by_value or (values is not None and not values.get(name)):
            continue
        test = _value_test(name, match, records, values.get(name) if values is not None else None)
        reads.append(keys.read(["rowid"], records, test))
    return reads


def _value_test(name: str, match: Match, records: str, values: list[str] | None = None) -> exp.In:
    """A field indexed by value holds the match: its value among ``values`` (constants already
    read), or among those the value dictionary gives."""
    column = exp.column(name, table=records, quoted=True)
    if values is not None:
        return exp.In(this=column, expressions=[exp.Literal.string(v) for v in values])
    held = keys.read(["value"], VALUES, exp.EQ(this=exp.column("field"), expression=exp.Literal.string(name)),
                     _term_condition(match))
    return exp.In(this=column, query=held.subquery(copy=False))


def _posted_rows(fields: Sequence[str], match: Match, everything: frozenset[str] | None = None) -> exp.Select:
    """The row ids whose postings in ``fields`` match (one row may come several times). Asked for
    ``everything`` the postings hold (a bare-string search over a caller who sees every text
    field), the read tests no field: for a word in all 2 M rows, 14 ms instead of 51 (the field
    column read and compared on every posting of the word)."""
    term = _term_condition(match)
    if everything is not None and everything <= set(fields):
        return keys.read(["rid"], POSTINGS, term)
    return keys.read(["rid"], POSTINGS, exp.In(this=exp.column("field"), expressions=[exp.Literal.string(f) for f in fields]),
                     term)


#: A fuzzy word close to more terms than this reads its postings through the engine.
HELD_FUZZY_TERMS = 1_000


def _held_runs(posted: Sequence[str], match: Match, index: Index, lookup: Lookup | None) -> list[np.ndarray] | None:
    """A word's postings in ``posted`` fields from the version's postings file
    (``store.postings``: bisections, no engine call for the postings), one sorted array of row
    ids per matching term; a fuzzy word's terms are read from the dictionary first (through the
    engine, a lookup kept like the others). ``None``: no file, a prefix (see
    :func:`_held_postings`), or a fuzzy word without ``lookup`` or close to too many terms."""
    if index.postings is None or match.kind == "prefix":
        return None
    terms = _terms_of(match, index, lookup)
    return [index.postings.rows(term, False, posted) for term in terms] if terms is not None else None


#: How many fuzzy words' close terms an index keeps (then it starts again).
KEPT_FUZZY_WORDS = 4_096


def _terms_of(match: Match, index: Index, lookup: Lookup | None) -> list[str] | None:
    """The terms an exact or fuzzy word matches: the word, or the dictionary's terms close to it
    (read once per version and word: kept with the index, as building the lookup's SQL to
    find it kept costs ~0.25 ms), ``None`` past ``HELD_FUZZY_TERMS`` or without ``lookup``."""
    if match.kind != "fuzzy" or match.distance <= 0:
        return [match.word]
    key = (match.word, match.distance)
    terms = index.close_terms.get(key)
    if terms is None:
        if lookup is None:
            return None
        terms = [term for (term,) in lookup(_close_terms(match).limit(exp.Literal.number(HELD_FUZZY_TERMS + 1), copy=False))]
        if len(index.close_terms) >= KEPT_FUZZY_WORDS:
            index.close_terms.clear()
        index.close_terms[key] = terms
    return terms if len(terms) <= HELD_FUZZY_TERMS else None


def _held_postings(posted: Sequence[str], match: Match, index: Index, lookup: Lookup | None) -> np.ndarray | None:
    """The row ids of a match's postings in ``posted`` fields from the version's postings file
    (a prefix's terms are one range of the file), or ``None`` (:func:`_held_runs`)."""
    if index.postings is not None and match.kind == "prefix":
        return index.postings.rows(match.word, True, posted)
    runs = _held_runs(posted, match, index, lookup)
    if runs is None:
        return None
    return runs[0] if len(runs) == 1 else np.concatenate(runs) if runs else np.zeros(0, dtype=np.int64)


def _posted_ids(posted: Sequence[str], match: Match, index: Index, lookup: Lookup, limit: int) -> Sequence[int]:
    """At most ``limit`` row ids of a match's postings in ``posted`` fields (a row once per
    posting): from the postings file when it answers, else read through the engine."""
    held = _held_postings(posted, match, index, lookup)
    if held is not None:
        return held[:limit].tolist()
    return [rid for (rid,) in lookup(_posted_rows(posted, match, index.posted).limit(exp.Literal.number(limit), copy=False))]


def _any_of(rows: list[exp.Select], records: str) -> exp.Expression:
    """The records whose row id one of ``rows`` yields: one semi-join over their union."""
    union = rows[0]
    for other in rows[1:]:
        union = exp.union(union, other, distinct=False)
    rowid = exp.column("rowid", table=records, quoted=True)
    return exp.In(this=rowid, query=union.subquery() if isinstance(union, exp.Select) else exp.Subquery(this=union))


#: Runs a query on the index tables of the version being bound and returns its rows.
Lookup = Callable[[exp.Select], list[tuple]]

#: Keeps, for the version being bound, what ``compute`` derives from lookups under ``key``
#: (``LookupMemo.get`` with the version and a weight in rows).
Memo = Callable[[Hashable, Callable[[], Any]], Any]


#: Runs a query of one integer column (row ids) and yields it as arrays, batch by batch: reads
#: too large for tuples (a word's postings in millions of rows) in bounded memory.
Ids = Callable[[exp.Select], Iterator[np.ndarray]]


def _wide_rows(fields: tuple[str, ...], match: Match, records: str, index: Index,
               values: dict[str, list[str]] | None, ids: Ids) -> np.ndarray:
    """The sorted row ids a match too wide to resolve holds: its postings, and the rows of the
    fields indexed by value whose values hold it, set in a bitmap of the table's rows (one bit
    of memory a row, batches of ids read one at a time; a sort of two million ids would cost
    ten times more)."""
    posted = [f for f in fields if f not in index.by_value]
    held = _held_postings(posted, match, index, None) if posted else None
    reads = _row_reads(fields, match, records, index, values, postings=held is None)
    if held is not None and not reads and bool((held[1:] > held[:-1]).all()):
        return held  # one word's postings in one field each row: already the answer (~1.6 ms, not 11, on 2 M)
    batches = itertools.chain([held] if held is not None else [], *(ids(read) for read in reads))
    seen = np.zeros(0, dtype=bool)
    for batch in batches:
        if not len(batch):
            continue
        top = int(batch.max()) + 1
        if top > len(seen):
            seen = np.concatenate([seen, np.zeros(top - len(seen), dtype=bool)])
        seen[batch] = True
    return np.flatnonzero(seen)


def _wide_form(ordered: np.ndarray, records: str) -> exp.Expression | None:
    """The condition "row id among ``ordered``" (sorted, distinct) as constants when its rows
    are long runs (rows loaded in order make a common word's so), else ``None``: the span
    ``rowid BETWEEN first AND last`` (the engine skips row groups outside it) less the rows
    missing in it, ranges of them as ``BETWEEN`` and single rows as one ``IN`` over an
    unnested list. A word in each of 2 M rows is then one range (~5 ms) where the semi-join
    over its postings costs ~0.4 s. Measured on 2 M rows: each range tested costs ~3 ms, a
    list of 1,000 rows ~30 ms; ``NOT rowid IN (constants)`` would test each constant on each
    row (1.4 s for 1,000: never written), and more than some thousands of constants cost
    more to parse than the semi-join."""
    if not len(ordered):
        return exp.false()
    rowid = exp.column("rowid", table=records, quoted=True)
    first, last = int(ordered[0]), int(ordered[-1])
    span = exp.Between(this=rowid, low=exp.Literal.number(first), high=exp.Literal.number(last))
    steps = np.diff(ordered)
    at = np.flatnonzero(steps > 1)  # a gap after ordered[i] for each i in at
    if not len(at):
        return span
    widths = steps[at] - 1
    long, single = at[widths > 1], at[widths == 1]
    if len(long) > WIDE_GAPS or len(single) > WIDE_MISSING:
        return None
    missing: list[exp.Expression] = [
        exp.Between(this=rowid.copy(), low=exp.Literal.number(int(ordered[i]) + 1), high=exp.Literal.number(int(ordered[i + 1]) - 1))
        for i in long.tolist()]
    if len(single):
        # An IN over a subquery: the engine hashes the list once (an IN list of constants
        # under NOT is tested constant by constant on every row).
        missing.append(exp.In(this=rowid.copy(), query=_unnested((ordered[single] + 1).tolist()).subquery(copy=False)))
    gone = exp.or_(*missing, copy=False) if len(missing) > 1 else missing[0]
    return exp.and_(span, exp.Not(this=exp.Paren(this=gone)), copy=False)


class LookupMemo:
    """Answers of index lookups by (version, SQL), up to ``rows`` rows in all (least recently
    used first out). A version never changes, and the count and the page of one request, the
    next page, or the same words in another query, ask the same lookups: a new search pays
    them once. It also keeps what ``use_index`` derives from them (a match resolved to
    constants, the rows among a list that hold a match) under keys of their own: binding the
    page after the count then builds no lookup again (their SQL is the key of the answers,
    and generating it costs as much as a small read)."""

    def __init__(self, rows: int = 200_000):
        self.rows = rows
        self._answers: OrderedDict[tuple[str, Hashable], Any] = OrderedDict()
        self._weights: dict[tuple[str, Hashable], int] = {}
        self._held = 0
        self._lock = threading.Lock()

    def get(self, location: str, sql: Hashable, compute: Callable[[], Any], size: Callable[[Any], int] = len) -> Any:
        """The answer kept for ``sql`` (the SQL of a lookup, or another key) on a version, or
        ``compute()`` kept; ``size`` weighs it in rows."""
        key = (location, sql)
        with self._lock:
            if key in self._answers:
                self._answers.move_to_end(key)
                return self._answers[key]
        answer = compute()
        with self._lock:
            weight = size(answer)
            if key not in self._answers and weight <= self.rows:
                self._answers[key] = answer
                self._weights[key] = weight
                self._held += weight
                while self._held > self.rows:
                    dropped, _ = self._answers.popitem(last=False)
                    self._held -= self._weights.pop(dropped)
        return answer

    def forget(self, location: str | None = None) -> None:
        """Drop the answers of one version (detached), or all."""
        with self._lock:
            for key in [k for k in self._answers if location is None or k[0] == location]:
                del self._answers[key]
                self._held -= self._weights.pop(key)


@dataclass(frozen=True)
class _Resolved:
    """A match as constants; ``rids`` when they are its row ids (at most the resolve limit)."""

    sql: exp.Expression
    rids: frozenset[int] | None = None


@dataclass(frozen=True)
class _Wide:
    """A match too wide to resolve as constants (``_wide_form``; ``None``: its semi-join), and
    how many row ids they list."""

    sql: exp.Expression | None
    size: int = 1


def weight(answer: Any) -> int:
    """What a kept answer holds, in rows: a lookup's rows, a set's row ids, a resolved match's
    row ids (one for a value list, or for a match too wide to resolve), a chain's narrowest
    member's row ids."""
    if isinstance(answer, _Resolved):
        return len(answer.rids) if answer.rids else 1
    if isinstance(answer, _Wide):
        return answer.size
    if isinstance(answer, _Narrowest):
        return len(answer.rids) or 1
    return len(answer) if answer is not None else 1


def rowids_condition(rids: frozenset[int], records: str) -> exp.Expression:
    """``rowid`` in a constant set: bounded first, so the engine skips the other row groups (an
    index's answer, here and for a lookup by record id: ``store.record_ids``)."""
    if not rids:
        return exp.false()
    ordered = sorted(rids)
    rowid = exp.column("rowid", table=records, quoted=True)
    if len(ordered) == 1:
        return exp.EQ(this=rowid, expression=exp.Literal.number(ordered[0]))
    span = exp.Between(this=rowid, low=exp.Literal.number(ordered[0]), high=exp.Literal.number(ordered[-1]))
    if len(ordered) > RESOLVE:  # a chain's list (``CHAIN_RESOLVE``): hashed once, not tested id by id
        return exp.and_(span, exp.In(this=rowid.copy(), query=_unnested(ordered).subquery(copy=False)), copy=False)
    return exp.and_(span, _in_list(rowid.copy(), ordered), copy=False)


def _unnested(ids: Sequence[int]) -> exp.Select:
    """``SELECT unnest([ids])``: a list the engine hashes once for ``IN``, where an ``IN`` list of
    constants costs ~14 µs an id on 10 M rows (8,192 random row ids: a group_by in 114 ms instead
    of 236 on 10 M rows, 46 instead of 68 on 2 M)."""
    return exp.select(exp.Anonymous(this="unnest", expressions=[exp.cast(
        exp.var("[" + ", ".join(str(int(i)) for i in ids) + "]"), "BIGINT[]")]))


def _in_list(column: exp.Expression, ids: Sequence[int]) -> exp.In:
    """``column IN (ids)``, the list as one verbatim piece: integers read from the index (never
    text from a request), and a literal node per id cost more than the query (~5 ms for a few
    hundred ids)."""
    return exp.In(this=column, expressions=[exp.var(", ".join(str(int(i)) for i in ids))])


def _resolved(fields: tuple[str, ...], match: Match, records: str, index: Index, lookup: Lookup,
              limit: int) -> _Resolved | None:
    """The match as constants (see the module's docstring), or ``None`` when it holds more
    than ``limit`` rows or values. Postings are read without DISTINCT, so a common word stops the read early
    instead of gathering all its rows; a row posted several times (a word twice in a field, or
    in two fields) counts once."""
    by_value, keyed = index.by_value, index.keys
    posted = [f for f in fields if f not in by_value]
    rids: set[int] = set()
    if posted:
        found = _posted_ids(posted, match, index, lookup, 4 * limit + 1)
        rids = set(found)
        if len(found) > 4 * limit or len(rids) > limit:
            return None
    valued = [f for f in fields if f in by_value]
    lists: list[tuple[str, list[str]]] = []
    if valued:
        pairs = value_pairs_of(valued, match, index, lookup, limit)
        if len(pairs) > limit:
            return None
        lists = [(name, sorted(v for f, v in pairs if f == name)) for name in valued]
        lists = [(name, values) for name, values in lists if values]
    alone = not rids and len(lists) == 1  # one value list and nothing else
    if alone and lists[0][0] not in keyed:  # however many rows: the dictionary answers it
        name, values = lists[0]
        return _Resolved(_value_test(name, match, records, values)) if len(values) <= VALUE_LIST else None
    # The rows of value lists of key fields, from the key table (``store.keys``).
    for name, values in [(name, values) for name, values in lists if name in keyed]:
        found = lookup(keys.key_rows(name, values).limit(exp.Literal.number(limit + 1), copy=False))
        rids |= {rid for (rid,) in found}
        if len(found) > limit or len(rids) > limit:
            fits = alone and len(values) <= VALUE_LIST
            return _Resolved(_value_test(name, match, records, values)) if fits else None
    lists = [(name, values) for name, values in lists if name not in keyed]
    # Several parts: their rows as one row-id list (an OR of a row-id range and a value list, or
    # a semi-join over their union, stops the engine pushing either into the scan: 95-138 ms
    # instead of a few for a page on 2 M rows).
    if lists:  # one read of the records for every list (an OR of constants: no semi-join to plan)
        found = lookup(keys.read(["rowid"], records, exp.or_(
            *[_value_test(name, match, records, values) for name, values in lists], copy=False)).limit(exp.Literal.number(limit + 1), copy=False))
        rids |= {rid for (rid,) in found}
        if len(found) > limit or len(rids) > limit:
            return None
    return _Resolved(rowids_condition(frozenset(rids), records), frozenset(rids))


@dataclass(frozen=True)
class _Narrowest:
    """The member of an AND chain of wide matches (fields, match) read first, and its rows."""

    member: tuple[tuple[str, ...], Match]
    rids: frozenset[int]


def _narrowest(members: Sequence[tuple[tuple[str, ...], Match]], records: str, index: Index, lookup: Lookup,
               ids: Ids, limit: int, memo: Memo | None = None) -> _Narrowest | None:
    """The narrowest member of an AND chain of matches none of which resolves (each in more rows
    than the resolve limit), with its rows, when they are at most ``limit``: ``use_index`` then
    tests the others among them alone (``_rows_among``: bisections of their postings) and the
    chain becomes one row-id list. ``None`` otherwise (the chain keeps its semi-joins). "sas
    1234*" on 10 M rows ("sas" in every row, "1234*" in ~4,200): one read of 4,200 row ids
    instead of two semi-joins over the postings and a scan of the value fields (1.2-2.4 s a page).

    The narrowest is the member with the fewest postings (from the postings file, the length of
    a slice; else read through the engine, at most ``4 * limit``), among those whose fields
    indexed by value hold at most ``VALUE_LIST`` values (their rows are read, through the engine,
    only for the member chosen). A version without the postings file chooses alike, so that
    both answer an unordered page in the same (row) order. ``memo`` keeps the member's rows
    for the version: another chain holding it ("1234*" after "sas 1234*") reads them no more."""
    sized = []
    for fields, match in members:
        posted = [f for f in fields if f not in index.by_value]
        held = _held_postings(posted, match, index, lookup) if posted else np.zeros(0, dtype=np.int64)
        size = len(held) if held is not None else len(_posted_ids(posted, match, index, lookup, 4 * limit + 1))
        if size > 4 * limit:  # a row once per posting: as ``_resolved`` reads
            continue
        values = _matching_values(fields, match, index, lookup, limit)
        if values is not None:
            sized.append((size, fields, match, values))
    if not sized:
        return None
    # Members without values first: their postings bound their rows, where a value's rows are unknown.
    _, fields, match, values = min(sized, key=lambda s: (any(s[3].values()), s[0]))

    def read() -> frozenset[int] | None:
        rows = _wide_rows(fields, match, records, index, values, ids)
        return frozenset(rows.tolist()) if len(rows) <= limit else None
    rids = memo(("narrowest", fields, match, records, index, limit), read) if memo is not None else read()
    return _Narrowest((fields, match), rids) if rids is not None else None


def _rows_among(fields: tuple[str, ...], match: Match, records: str, index: Index, lookup: Lookup,
                among: frozenset[int]) -> frozenset[int]:
    """Which of the rows ``among`` the match holds: the index read for those rows only,
    however common the word (a field indexed by value is read only if some value holds it)."""
    if not among:
        return among
    found: set[int] = set()
    by_value = index.by_value
    posted = [f for f in fields if f not in by_value]
    runs = _held_runs(posted, match, index, lookup) if posted else None
    if runs is not None:  # each term's postings are sorted: each row looked for by bisection
        ordered = sorted(among)
        for run in (r for r in runs if len(r)):
            wanted = np.array(ordered, dtype=run.dtype)  # of the run's type: a search never converts the run
            at = np.minimum(np.searchsorted(run, wanted), len(run) - 1)
            found |= set(wanted[run[at] == wanted].tolist())
    elif posted and (held := _held_postings(posted, match, index, lookup)) is not None and \
            len(held) <= AMONG_POSTINGS + 16 * len(among):
        # A prefix's postings (sorted per term, not across terms): one membership test of them
        # all, when they are not many more than the rows (numpy sorts both: a prefix in every
        # row of 10 M, "e*", took 89 ms where the engine's read of those rows' postings takes 17).
        wanted = np.array(sorted(among), dtype=np.int64)
        found |= set(wanted[np.isin(wanted, held)].tolist())
    elif posted:
        rid = _in_list(exp.column("rid"), sorted(among))
        found |= {r for (r,) in lookup(_posted_rows(posted, match, index.posted).where(rid, copy=False))}
    valued = [f for f in fields if f in by_value]
    if valued:
        pairs = value_pairs_of(valued, match, index, lookup)
        for name in valued:
            values = sorted(v for f, v in pairs if f == name)
            if values:
                found |= {r for (r,) in lookup(keys.read(["rowid"], records, rowids_condition(among, records),
                                                         _value_test(name, match, records, values)))}
    return frozenset(found & among)


def _matching_values(fields: tuple[str, ...], match: Match, index: Index, lookup: Lookup,
                     limit: int) -> dict[str, list[str]] | None:
    """The values of ``fields`` indexed by value that hold the match, or ``None`` past ``limit``
    (the same lookup as :func:`_resolved`'s, so already kept)."""
    valued = [f for f in fields if f in index.by_value]
    pairs = value_pairs_of(valued, match, index, lookup, limit) if valued else []
    if len(pairs) > min(limit, VALUE_LIST):
        return None
    return {name: sorted(v for f, v in pairs if f == name) for name in valued}


def _value_pairs(fields: Sequence[str], match: Match) -> exp.Select:
    """The (field, value) pairs of ``fields`` indexed by value whose words match."""
    return keys.read(["field", "value"], VALUES, exp.In(this=exp.column("field"), expressions=[exp.Literal.string(f) for f in fields]),
                     _term_condition(match)).distinct(copy=False)


def _conjuncts(node: exp.Expression) -> list[exp.Expression]:
    """The terms of the widest AND chain ``node`` belongs to."""
    top = node
    while isinstance(top.parent, (exp.And, exp.Paren)):
        top = top.parent
    return _conjuncts_of(top)


@dataclass(frozen=True)
class Index:
    """What a version's indexes hold: which text fields the full-text index holds by distinct
    value, and which are key fields (``store.keys``). ``value_words``: the value dictionary
    itself, (term, field, value) sorted, when it is small enough to keep in memory (not part of
    the index's identity: it is what the version's file holds)."""

    by_value: frozenset[str] = frozenset()
    keys: frozenset[str] = frozenset()
    value_words: tuple[tuple[str, str, str], ...] | None = field(default=None, compare=False, repr=False)
    #: The fields the postings hold rows of (``None``: an index built before this was recorded).
    posted: frozenset[str] | None = None
    #: The postings laid out for bisection (``store.postings``), when the version has the file.
    postings: PostingsFile | None = field(default=None, compare=False, repr=False)
    #: The close terms of the fuzzy words read so far (``_terms_of``), by (word, distance).
    close_terms: dict[tuple[str, int], list[str]] = field(default_factory=dict, compare=False, repr=False)


#: A version's value dictionary up to this many (term, field, value) rows is kept in memory:
#: a new search then reads it with no engine call (~0.5 ms each, the engine's floor for a
#: query, even on a 16-row table). Larger ones are read from the index file (this bounds what a
#: version holds in memory to ~1 MB).
HELD_VALUE_WORDS = 5_000


def held_pairs(words: Sequence[tuple[str, str, str]], fields: Sequence[str], match: Match,
               limit: int | None = None) -> list[tuple[str, str]]:
    """The distinct (field, value) pairs of ``fields`` whose words match, from a held value
    dictionary (exact words and prefixes: a range of the sorted terms), at most ``limit + 1``
    as the engine's read would give them; :func:`value_pairs_of` reads fuzzy words."""
    wanted = frozenset(fields)
    found: dict[tuple[str, str], None] = {}  # distinct pairs, in the dictionary's order
    start = bisect.bisect_left(words, (match.word,))
    for term, name, value in itertools.islice(words, start, None):
        if term != match.word and not (match.kind == "prefix" and term.startswith(match.word)):
            break
        if name in wanted:
            found[(name, value)] = None
            if limit is not None and len(found) > limit:
                break
    return list(found)


def value_pairs_of(fields: Sequence[str], match: Match, index: Index, lookup: Lookup,
                   limit: int | None = None) -> list[tuple[str, str]]:
    """The (field, value) pairs of ``fields`` indexed by value whose words match: from the
    dictionary held in memory when it is (a fuzzy word's close terms read first from the
    dictionary of terms), else read."""
    if index.value_words is not None and match.kind == "prefix":
        return held_pairs(index.value_words, fields, match, limit)
    terms = _terms_of(match, index, lookup) if index.value_words is not None else None
    if terms is not None:
        pairs: dict[tuple[str, str], None] = {}
        for term in terms:
            pairs.update(dict.fromkeys(held_pairs(index.value_words, fields, Match(term), limit)))
            if limit is not None and len(pairs) > limit:
                break
        return list(pairs)
    query = _value_pairs(fields, match)
    return lookup(query.limit(exp.Literal.number(limit + 1), copy=False) if limit is not None else query)


def use_index(query: exp.Expression, records: str = "records", index: Index = Index(), lookup: Lookup | None = None,
              resolve: int = RESOLVE, ids: Ids | None = None, memo: Memo | None = None, copy: bool = True) -> exp.Expression:
    """``query`` with every marked scan replaced by a lookup in the index tables (which the
    caller then points at the version, like ``records``). With ``lookup``, selective matches
    (at most ``resolve`` rows or values) are resolved to constants first, and the other
    matches ANDed with one resolved to row ids are read for those rows only: the whole AND
    becomes one row-id list ("sas 1234*" with "sas" in every row: no semi-join over two
    million postings, and the rows' text is never split again). ``memo`` keeps the resolved
    matches for the version, so that binding the page after the count reads nothing again.
    ``copy=False`` rewrites ``query`` itself (a tree its caller hands over)."""
    def remember(key: Hashable, compute: Callable[[], Any]) -> Any:
        return memo(key, compute) if memo is not None else compute()

    tree = query.copy() if copy else query
    # One walk, reading marks without giving every node a meta dict (``meta`` allocates one,
    # which each later copy of the tree copies too).
    marked = []
    for node in tree.walk():
        if node.meta_get(_META) is not None:
            if _held(node, index):
                marked.append(node)
            else:
                del node.meta[_META]  # left to its scan
    resolved: dict[int, _Resolved | None] = {}
    wide: dict[tuple, np.ndarray] = {}  # the row ids of wide matches read while binding, for ``_sliced``
    if lookup is not None:
        if index.keys:
            _resolve_keys(tree, records, index.keys, lookup, resolve)
        for node in marked:
            fields, match = node.meta[_META]
            resolved[id(node)] = remember(("resolved", fields, match, records, index, resolve), lambda: _resolved(
                fields, match, records, index, lookup, resolve))
    # Each marked node's replacement, and what the parenthesis around it tells _sliced.
    replacements: dict[int, tuple[exp.Expression, dict]] = {}
    for node in marked:
        if id(node) in replacements:
            continue
        conjuncts = _conjuncts(node)
        narrowest: _Narrowest | None = None
        # Row-id lists ANDed with this match: resolved matches and key conditions.
        chain = [n for n in conjuncts if n.meta_get(_META) is not None and id(n) not in replacements]
        lists = [resolved[id(n)].rids for n in chain if resolved.get(id(n)) is not None and resolved[id(n)].rids is not None]
        lists += [n.meta[_ROWIDS] for n in conjuncts if n.meta_get(_ROWIDS) is not None]
        if not lists:
            # No member few enough to resolve: the chain's rows from its narrowest member's, if
            # they are few enough for a list (``CHAIN_RESOLVE``), else its semi-joins.
            members = tuple(n.meta[_META] for n in chain)
            if ids is None or lookup is None or all(resolved.get(id(n)) is not None for n in chain):
                continue
            bound = max(resolve, CHAIN_RESOLVE)
            narrowest = remember(("chain", members, records, index, bound), lambda: _narrowest(
                members, records, index, lookup, ids, bound, memo))
            if narrowest is None:
                continue
            lists = [narrowest.rids]
        # The other matches of the chain read for those rows only: all of it as one list.
        rids = frozenset.intersection(*lists)
        for other in chain:
            known = resolved.get(id(other))
            if (known is None or known.rids is None) and (narrowest is None or other.meta[_META] != narrowest.member):
                fields, match = other.meta[_META]
                rids = remember(("among", fields, match, records, index.by_value, rids),
                                lambda: _rows_among(fields, match, records, index, lookup, rids))
        for other in chain:
            replacements[id(other)] = (exp.true(), {})
        replacements[id(node)] = (rowids_condition(rids, records), {_ROWIDS: rids})
    for node in marked:
        if id(node) in replacements:
            new, tags = replacements[id(node)]
        elif resolved.get(id(node)) is not None:
            new, tags = resolved[id(node)].sql.copy(), {}  # a kept answer: never part of a tree
        else:
            fields, match = node.meta[_META]
            values = _matching_values(fields, match, index, lookup, resolve) if lookup else None
            new, tags = None, {_WIDE: (fields, match, values)}
            if ids is not None:  # its row ids as constants when they are long runs (``_wide_form``)
                def compute(fields=fields, match=match, values=values) -> _Wide:
                    ordered = _wide_rows(fields, match, records, index, values, ids)
                    wide[fields, match] = ordered
                    form = _wide_form(ordered, records)
                    # Weighed at its constants: two per gap at most, and the span's two.
                    gaps = int(np.count_nonzero(np.diff(ordered) > 1)) if len(ordered) else 0
                    return _Wide(form, 2 + 2 * gaps if form is not None else 1)
                form = remember(("wide", fields, match, records, index), compute).sql
                new = form.copy() if form is not None else None  # a kept answer: never part of a tree
            if new is None:
                new = _lookup(fields, match, records, index, values)
        wrapped = exp.Paren(this=new)
        wrapped.meta.update(tags)
        node.replace(wrapped)
    return _sliced(tree, records, lookup, index, ids, wide)


def _held(node: exp.Expression, index: Index) -> bool:
    """Does the index hold the fields of a marked match? Text fields are in every index; json
    fields only in those built since they are indexed, which list them (``FIELDS``)."""
    if not node.meta.get(_LISTED):
        return True
    return index.posted is not None and set(node.meta[_META][0]) <= index.posted | index.by_value


def _resolve_keys(tree: exp.Expression, records: str, keyed: frozenset[str], lookup: Lookup, limit: int) -> None:
    """Replace, in place, each condition ANDed in a WHERE over ``records`` that tests a key
    field against constants (``store.keys``) by the row ids the key table lists for it, when
    they are at most ``limit``: the engine then reads those rows instead of scanning the column,
    and :func:`_sliced` answers counts and pages from the list."""
    for select in list(tree.find_all(exp.Select)):
        source = select.args.get("from_") or select.args.get("from")
        where = select.args.get("where")
        if where is None or source is None or select.args.get("joins") or not isinstance(source.this, exp.Table) \
                or source.this.name != records or source.this.alias:
            continue
        for condition in _conjuncts_of(where.this):
            found = keys.key_condition(condition, records, keyed)
            if found is None:
                continue
            rows = lookup(keys.key_rows(*found).limit(exp.Literal.number(limit + 1), copy=False))
            if len(rows) > limit:
                continue
            rids = frozenset(rid for (rid,) in rows)
            listed = exp.Paren(this=rowids_condition(rids, records))
            listed.meta[_ROWIDS] = rids
            condition.replace(listed)


def _sliced(query: exp.Expression, records: str, lookup: Lookup | None, index: Index = Index(),
            ids: Ids | None = None, wide: dict[tuple, np.ndarray] | None = None) -> exp.Expression:
    """A query whose condition holds a resolved row-id list, answered from the list: the other
    conditions ANDed with it are tested once, on those rows (``lookup``); then the count is the
    list's length, and an unordered page the slice of the sorted list it shows — ten row ids
    to fetch instead of a thousand to test (2.6 ms instead of 14-36 on 2 M rows). Records have
    no order without ``order_by`` (as on Opendatasoft); pages follow the row ids, the order the
    engine reads them in. An ordered page of a row-id list is the rows :func:`_sorted_page`
    finds, in its order. A query whose only condition is one match too wide to resolve is
    answered the same way from its row ids read as an array (``ids``): a word in two million
    rows costs one read of its postings instead of a semi-join per count and per page. An
    unordered page of a query without any condition is rows ``offset`` to ``offset + limit`` of
    the table: it is marked with that span (``page_span``), for the store's page file."""
    if not isinstance(query, exp.Select) or lookup is None:
        return query
    shaped = any(query.args.get(k) for k in ("group", "having", "distinct", "qualify", "joins", "with", "with_"))  # "with_" since sqlglot 30
    order = query.args.get("order")
    if order is not None and query.find(exp.Placeholder) is not None:  # a value known when it runs (a cursor's)
        return query
    source = query.args.get("from_") or query.args.get("from")  # the key changed across sqlglot versions
    plain = source is not None and isinstance(source.this, exp.Table) and source.this.name == records
    outputs = query.expressions
    counted = len(outputs) == 1 and isinstance(outputs[0].unalias(), exp.Count) and \
        isinstance(outputs[0].unalias().this, exp.Star) and not query.args.get("limit") and not query.args.get("offset")
    limit, offset = query.args.get("limit"), query.args.get("offset")
    paged = not any(o.find(exp.AggFunc, exp.Window) for o in outputs) and limit is not None and \
        isinstance(limit.expression, exp.Literal) and (offset is None or isinstance(offset.expression, exp.Literal))
    if shaped or not plain or not (counted or paged):
        return query
    if query.args.get("where") is None:
        if paged and order is None:
            query.meta[_SPAN] = (int(offset.expression.name) if offset is not None else 0, int(limit.expression.name))
        return query
    conjuncts = [c for c in _conjuncts_of(query.args["where"].this) if not _is_true(c)]
    lists = [(c, _listed(c)) for c in conjuncts]
    listed = [rows for _, rows in lists if rows is not None]
    ordered: Sequence[int]
    if listed:
        rids = frozenset.intersection(*listed)
        others = [c for c, rows in lists if rows is None]
        if others and rids:
            test = keys.read(["rowid"], records, exp.and_(rowids_condition(rids, records), *[o.copy() for o in others], copy=False))
            rids = frozenset(r for (r,) in lookup(test))
        ordered = sorted(rids)
    elif order is not None:  # a wide match's rows are too many to sort by their ids
        return query
    elif ids is not None and len(conjuncts) == 1 and conjuncts[0].meta_get(_WIDE) is not None:
        fields, match, values = conjuncts[0].meta[_WIDE]
        ordered = (wide or {}).get((fields, match))
        if ordered is None:
            ordered = _wide_rows(fields, match, records, index, values, ids)
    else:
        return query
    if counted:
        name = outputs[0].alias_or_name
        answer = exp.select(exp.alias_(exp.Literal.number(len(ordered)), name))
        answer.meta[_KNOWN] = ({name: len(ordered)},)
        return answer
    start, size = int(offset.expression.name) if offset is not None else 0, int(limit.expression.name)
    if order is None:
        page = tuple(int(r) for r in ordered[start:start + size])
    elif (page := _sorted_page(ordered, order, records, start, size, lookup)) is None:
        return query
    sliced = query.where(rowids_condition(frozenset(page), records), append=False, copy=False)  # the caller's own tree (use_index)
    sliced.set("offset", None)
    sliced.meta[_PAGE] = page
    sliced.meta[_TOTAL] = len(ordered)
    return sliced


def _listed(condition: exp.Expression) -> frozenset[int] | None:
    """The row ids a condition holds when it is a resolved row-id list, or an OR or AND of such
    lists (a match folded into a list, ``TRUE``, is left out of its AND): their union or their
    intersection. ``"paris" OR "lyon"``, each word resolved alone, was counted by a scan of
    every row (0.8 s on 10 M rows). ``None`` for any other condition."""
    found = condition.meta_get(_ROWIDS)
    if found is not None:
        return found
    if isinstance(condition, exp.Paren):
        return _listed(condition.this)
    if isinstance(condition, (exp.Or, exp.And)):
        sides = [side for side in (condition.left, condition.right)
                 if not (isinstance(condition, exp.And) and _is_true(side))]
        lists = []
        for side in sides:
            if (rows := _listed(side)) is None:
                return None
            lists.append(rows)
        if not lists:
            return None
        return frozenset.union(*lists) if isinstance(condition, exp.Or) else frozenset.intersection(*lists)
    return None


def _sorted_page(rids: Sequence[int], order: exp.Order, records: str, start: int, size: int,
                 lookup: Lookup) -> tuple[int, ...] | None:
    """The row ids of an ordered page of the rows ``rids``, in its order, sorted by the engine on
    the order's columns alone: the page itself, asked with every output and its row-id list
    (which the engine tests on every row of the table read in full), took 0.3-0.6 s on 2 M rows
    for a search's 1,111 rows, the row ids and sort keys ~35 ms, and the page's ten rows then
    come from the page file. ``None`` when the order reads anything but the records' columns
    (an output's alias)."""
    if any(c.table != records for c in order.find_all(exp.Column)):
        return None
    sorting = keys.read(["rowid"], records, rowids_condition(frozenset(rids), records))
    sorting.set("order", order.copy())
    sorting = sorting.limit(size, copy=False).offset(start, copy=False) if start else sorting.limit(size, copy=False)
    return tuple(int(r) for (r,) in lookup(sorting))


def known_rows(query: exp.Expression) -> tuple[dict[str, Any], ...] | None:
    """The rows of a count answered when the query was bound (``use_index``), or ``None``:
    running its constant SQL would cost an engine call (~0.4 ms) for a number already known."""
    return query.meta_get(_KNOWN)


def page_span(query: exp.Expression) -> tuple[int, int] | None:
    """(offset, limit) of an unordered page of a query without condition (``use_index``): its
    rows are the table's rows from ``offset`` on, in row-id order; ``None`` for any other query."""
    return query.meta_get(_SPAN)


def page_rows(query: exp.Expression) -> tuple[int, ...] | None:
    """The row ids, in order, of a page answered from a row-id list when the query was bound
    (``use_index``): its rows are those and no others; ``None`` for any other query."""
    return query.meta_get(_PAGE)


def page_total(query: exp.Expression) -> int | None:
    """How many rows match a page answered from a row-id list (``page_rows``), all pages
    together: the count a records call asks next, known without binding it; else ``None``."""
    return query.meta_get(_TOTAL)


def _is_true(condition: exp.Expression) -> bool:
    """``TRUE``, however parenthesised: what ``use_index`` leaves of a match folded into a row-id
    list (testing it on the list's rows would read them for nothing, ~4 ms for 200 rows)."""
    while isinstance(condition, exp.Paren):
        condition = condition.this
    return isinstance(condition, exp.Boolean) and bool(condition.this)


def _conjuncts_of(condition: exp.Expression) -> list[exp.Expression]:
    """The terms of an AND chain (parentheses around ANDs seen through; a resolved row-id list
    and a marked match kept whole)."""
    if isinstance(condition, exp.And):
        return _conjuncts_of(condition.left) + _conjuncts_of(condition.right)
    if isinstance(condition, exp.Paren) and isinstance(condition.this, (exp.And, exp.Paren)) and \
            condition.meta_get(_ROWIDS) is None and condition.meta_get(_META) is None and condition.meta_get(_WIDE) is None:
        return _conjuncts_of(condition.this)
    return [condition]


def written_with(con: duckdb.DuckDBPyConnection, catalog: str,
                 listing: AbstractContextManager = nullcontext()) -> int | None:
    """The folding of words (``FOLDED_WITH``) of the index attached as ``catalog``: 1 for one
    written before the ``FOLDING`` table, ``None`` for no index. Reads that one-row table, never
    the postings: ``portail migrate`` asks it of every kept version. Tables are looked up by
    name (``engine.holds``: ``listing`` held for that alone, not for the read): listing them
    (``duckdb_tables()``) cost 4 to 15 ms a file of 2 M rows, and raced a ``DETACH``."""
    if not holds(con, catalog, FOLDING, listing):  # an index of before it, or none
        return 1 if all(holds(con, catalog, name, listing) for name in TABLES) else None
    return con.execute(f'SELECT max(folding) FROM "{catalog}".main.{FOLDING}').fetchone()[0]


def read_index(con: duckdb.DuckDBPyConnection, catalog: str,
               listing: AbstractContextManager = nullcontext()) -> Index | None:
    """The index of the version attached as ``catalog``, or ``None``: built before indexes, or
    with another folding of words (``FOLDED_WITH``), which would answer otherwise than a scan.

    ``listing``: held for each statement that may list the reader's databases (``engine.holds``),
    which a ``DETACH`` in another thread must not meet (``DuckDBStore._detaching``), and for
    no read of rows: the value words (up to ``HELD_VALUE_WORDS``), the fields and the keys
    are read without it, so a slow read of an index file holds up no release of a version."""
    if written_with(con, catalog, listing) != FOLDED_WITH:
        return None
    has_fields = holds(con, catalog, FIELDS, listing)
    fields = con.execute(f'SELECT DISTINCT field FROM "{catalog}".main.{VALUES}').fetchall()
    # Sorted in Python, the order ``held_pairs`` bisects in (all rows, or too many to hold).
    held = con.execute(f'SELECT term, field, value FROM "{catalog}".main.{VALUES} LIMIT {HELD_VALUE_WORDS + 1}').fetchall()
    posted = frozenset(name for (name,) in con.execute(f'SELECT field FROM "{catalog}".main.{FIELDS}').fetchall()) \
        if has_fields else None
    return Index(frozenset(name for (name,) in fields), keys.read_keys(con, catalog, listing),
                 tuple(sorted(held)) if len(held) <= HELD_VALUE_WORDS else None, posted)


def build(con: duckdb.DuckDBPyConnection, catalog: str, text_columns: Sequence[str], one_word: Sequence[str] = (),
          source: exp.Table | None = None) -> int:
    """Write into ``catalog`` the index of ``source`` (by default ``catalog``'s records: an
    index file reads the version file it indexes, ``store.duckdb_store``); returns the number
    of entries (row postings and value words). Without text columns the tables exist and are
    empty. A JSON column among ``text_columns`` is indexed by the words of its JSON text (keys
    included), as ODSQL's full text reads it, one posting per row.

    ``one_word``: key fields (already in the version's key table, ``store.keys``) whose every
    value is one folded word (a SIRET, a postal code). Their postings *are* the key table's
    rows, so they are not written twice: ``fulltext`` is then a view, the union of the
    written postings and those key rows (the engine pushes a query's term and field filters
    into both sides); the dictionary of terms holds their values."""
    target = f'"{catalog}".main'
    source = source or exp.table_("records", db="main", catalog=catalog)
    con.execute("CREATE OR REPLACE TEMP TABLE __portail_tokens (term VARCHAR, field VARCHAR, rid BIGINT)")
    con.execute("CREATE OR REPLACE TEMP TABLE __portail_value_words (term VARCHAR, field VARCHAR, value VARCHAR)")
    own = [c for c in text_columns if c not in one_word]
    as_json = _json_columns(con, source, own)
    repeated = _repeating(con, source, [c for c in own if c not in as_json])
    posted = list(one_word) + [c for c in own if c not in repeated]
    # A statement per ``COLUMNS_PER_STATEMENT`` columns, not per column (~6 ms of the engine's
    # each on a wide version, and more building its SQL). A json field is read as its text, as
    # ODSQL reads it (posted: its values hardly repeat).
    term = exp.alias_(exp.Anonymous(this="unnest", expressions=[words(exp.column("value"))]), "term", copy=False) \
        .sql(dialect="duckdb", copy=False)
    for columns in _chunks([c for c in own if c in repeated]):
        # Tokens of each distinct value (a temporary table of the workspace, spilling).
        con.execute(f"INSERT INTO __portail_value_words SELECT DISTINCT term, field, value FROM (SELECT {term}, field, "
                    f"value FROM (SELECT DISTINCT field, value FROM {unpivoted(source, columns)})) WHERE term <> ''")
    for columns in _chunks(posted[len(one_word):]):
        # Tokens first, then one sort: one pipeline doing both runs out of memory on millions of rows.
        con.execute(f"INSERT INTO __portail_tokens SELECT term, field, rid FROM (SELECT {term}, field, rid "
                    f"FROM {unpivoted(source, columns)}) WHERE term <> ''")
    written = WRITTEN if one_word else POSTINGS
    con.execute(f"CREATE TABLE {target}.{written} AS SELECT * FROM __portail_tokens ORDER BY term")
    con.execute(f"CREATE TABLE {target}.{VALUES} AS SELECT * FROM __portail_value_words ORDER BY term, field")
    con.execute("DROP TABLE __portail_tokens")
    con.execute("DROP TABLE __portail_value_words")
    terms = f"SELECT term FROM {target}.{written} UNION SELECT term FROM {target}.{VALUES}"
    if one_word:
        # Unqualified names in the view: they resolve in the version file, whatever its alias.
        fields = exp.In(this=exp.column("field"), expressions=[exp.Literal.string(f) for f in one_word]).sql(dialect="duckdb")
        con.execute(f"CREATE VIEW {target}.{POSTINGS} AS SELECT term, field, rid FROM {WRITTEN} UNION ALL "
                    f"SELECT value AS term, field, rid FROM {keys.TABLE} WHERE {fields}")
        terms += f" UNION SELECT value FROM {target}.{keys.TABLE} WHERE {fields}"
    con.execute(f"CREATE TABLE {target}.{TERMS} AS {terms} ORDER BY term")
    con.execute(f"CREATE TABLE {target}.{FOLDING} AS SELECT {FOLDED_WITH} AS folding")
    con.execute(f"CREATE TABLE {target}.{FIELDS} (field VARCHAR)")
    if posted:  # one statement (``executemany`` ran one per field)
        con.execute(f"INSERT INTO {target}.{FIELDS} SELECT unnest(?::VARCHAR[])", [posted])
    return con.execute(f"SELECT (SELECT count(*) FROM {target}.{POSTINGS}) + (SELECT count(*) FROM {target}.{VALUES})").fetchone()[0]


def _chunks(columns: Sequence[str]) -> list[list[str]]:
    """``columns`` in parts of at most ``COLUMNS_PER_STATEMENT``, one statement's each."""
    return [list(columns[start:start + COLUMNS_PER_STATEMENT]) for start in range(0, len(columns), COLUMNS_PER_STATEMENT)]


def _json_columns(con: duckdb.DuckDBPyConnection, source: exp.Table, columns: Sequence[str]) -> set[str]:
    """Those of ``columns`` of type JSON (read without a row: ``LIMIT 0``)."""
    found: set[str] = set()
    for part in _chunks(columns):
        probe = exp.select(*[exp.column(c, quoted=True) for c in part]).from_(source.copy(), copy=False) \
            .limit(0, copy=False)
        found.update(c for c, kind in zip(part, con.sql(probe.sql(dialect="duckdb", copy=False)).types)
                     if str(kind) == "JSON")
    return found


def _repeating(con: duckdb.DuckDBPyConnection, source: exp.Table, columns: Sequence[str]) -> set[str]:
    """Those of ``columns`` whose values repeat enough to index them by distinct value (an
    estimate: a wrong guess costs build time or index size, never a wrong answer)."""
    found: set[str] = set()
    for part in _chunks(columns):
        stats = []
        for name in part:  # fresh nodes, each used once (``keys.choose``)
            column = exp.column(name, quoted=True)
            stats += [exp.func("approx_count_distinct", column, copy=False), exp.func("count", column.copy(), copy=False)]
        row = con.execute(exp.select(*stats).from_(source.copy(), copy=False).sql(dialect="duckdb", copy=False)).fetchone()
        found.update(name for i, name in enumerate(part) if row[2 * i + 1] > 0 and row[2 * i] * REPEATS <= row[2 * i + 1])
    return found
