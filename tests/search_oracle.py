"""The plain-Python side of full-text checks, shared by the tests that judge ``search()``:
written from the reference's rules, not from Portail's code."""

from __future__ import annotations


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
