"""The plain-Python side of full-text checks, shared by the tests that judge ``search()``:
written from the reference's rules, not from Portail's code. The edit distance of fuzzy words,
and ``search_oracle``, whether a row answers a search (the full-text index's tests and the
keys' tests judge by it): kept here rather than in one test file, so that a test file imports
no other test file."""

from __future__ import annotations

import functools
import re
import unicodedata


def damerau_levenshtein(a: str, b: str) -> int:
    """Edit distance where an insertion, a deletion, a substitution or a swap of two adjacent
    letters is one edit: the measure of fuzzy words, as Lucene's fuzzy query (transpositions on
    by default) counts them. The unrestricted distance (Lowrance-Wagner: a swapped pair may
    have letters inserted between them), which DuckDB's ``damerau_levenshtein`` computes;
    Lucene's is the restricted one ("optimal string alignment"), which differs only on such
    pairs (``ca`` / ``abc``: 2 here, 3 there)."""
    last_row: dict[str, int] = {}  # each letter's last row in ``a``
    far = len(a) + len(b)
    d = [[far] * (len(b) + 2)] + [[far] + list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        d.append([far, i] + [0] * len(b))
        last_col = 0  # the last column in ``b`` where ``b`` held a[i - 1]
        for j in range(1, len(b) + 1):
            k, swap_col = last_row.get(b[j - 1], 0), last_col
            same = a[i - 1] == b[j - 1]
            if same:
                last_col = j
            d[i + 1][j + 1] = min(d[i][j] + (not same), d[i + 1][j] + 1, d[i][j + 1] + 1,
                                  d[k][swap_col] + (i - k - 1) + 1 + (j - swap_col - 1))
        last_row[a[i - 1]] = i
    return d[len(a) + 1][len(b) + 1]


#: The name the tests import: fuzzy words' distance, a swap of adjacent letters one edit.
levenshtein = damerau_levenshtein


# -- an oracle written independently of the engine ---------------------------------------------
def fold(text: str) -> str:
    bare = "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")
    return bare.replace("œ", "oe").replace("æ", "ae").replace("ß", "ss")  # ligatures spelled out


@functools.lru_cache(maxsize=1 << 18)
def words(text: str | None) -> frozenset[str]:
    """Kept per text: the oracles test each row's values against many searches. A value's words as
    the index writes them: ``_`` a word character (a run of it alone a term no search word reaches)."""
    return frozenset(re.findall(r"\w+", fold(text or "")))


@functools.lru_cache(maxsize=1 << 18)
def near(wanted: str, word: str) -> bool:
    """Kept per pair: a fuzzy search meets the same words in thousands of rows, and the edit
    distance in plain Python is the oracle's cost."""
    distance = 2 if len(wanted) > 5 else 1 if len(wanted) > 2 else 0
    return word[:1] == wanted[:1] and levenshtein(word, wanted) <= distance  # first letter kept


def word_ok(wanted: str, have: set[str], kind: str) -> bool:
    if kind == "prefix":
        return any(w.startswith(wanted) for w in have)
    return any(near(wanted, w) for w in have)


def search_oracle(row: dict, text: str, fields: list[str], suggest: bool = False, bare: bool = False) -> bool:
    """search(): every word found in some field; the last word (and term*) a prefix, earlier
    ones within Opendatasoft's fuzziness. suggest(): every word a prefix. A ``bare`` string in
    where (the reference's rule): every word whole, only term* a prefix."""
    have = set().union(*(words(row[f]) for f in fields))
    terms = text.split()
    for i, term in enumerate(terms):
        found = [w for w in re.findall(r"\w+", fold(term)) if w.strip("_")]  # "_" alone: no word
        for j, w in enumerate(found):
            starred = j == len(found) - 1 and term.endswith("*")
            if bare and not starred:
                if w not in have:
                    return False
                continue
            prefix = suggest or starred or (j == len(found) - 1 and i == len(terms) - 1)
            if not word_ok(w, have, "prefix" if prefix else "fuzzy"):
                return False
    return True
