"""Two ODSQL forms a fuzz run questioned, checked against Opendatasoft's documentation.

``like``: the reference (§5.4, and the v2.0 "Like filter") matches the words of the field, and the
only wildcard it shows is a trailing ``*`` (``"film*"``, ``name LIKE 'abc*'``); ``%`` and ``_``
are SQL's wildcards, not ODSQL's: never "any characters" nor "one character". ``%`` is
punctuation; ``_`` is a word character, as in Elasticsearch's standard tokenizer (``l_hay`` is one
word), and a run of ``_`` alone no word. A pattern of punctuation only (``'%_%_%'``) therefore
holds no word and matches nothing, as Elasticsearch's match query of no token
(tests/odsql/test_like_without_words.py). A star inside a word is refused; ``\\*`` (a backslash,
a star) is a star.

``range()``: the reference documents ``range(f, <n><unit>)`` (equal widths) and
``range(f, [*,] bound, … [, *])`` (static bounds, dates as ``date'…'``), never a width followed
by bounds; that mix is refused saying so, not as if a width were foreign to range()."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from portail.odsql import ODSQLError
from tests.odsql.conftest import ROWS, ids, refusal, run

ALL = sorted(r.id for r in ROWS)

LIKE_CASES = [
    # % is no wildcard: "sain%" is the word "sain", which no name holds (Saint-Étienne holds "saint")
    ('name like "sain%"', []),
    ('name like "pari%"', []),
    ('name like "%paris%"', [2, 11]),  # the word paris, wherever the % stand
    # _ is no single-character wildcard but a word character: "Sain_" is the word "sain_";
    # "l_hay" one word, which l'Haÿ (the words l and hay) does not hold
    ('name like "Sain_"', []),
    ('name like "Pari_"', []),
    ('name like "l_hay"', []),
    ('name like "l hay"', [8]),
    ('name like "12_"', []),  # "12e" would be 12 and one character
    # * after a word is the one wildcard: a prefix
    ('name like "sain*"', [1]),
    ('name like "pari*"', [2, 11]),
    ('name like "l_ha*"', []),
    ('name like "l ha*"', [8]),
    # a star escaped in the pattern is the character, punctuation: "pari\*" the whole word pari
    ('name like "pari\\\\*"', []),
    ('name like "paris\\\\*"', [2, 11]),
    ('name like "pari\\*"', [2, 11]),  # the string's escape first: the pattern is pari*
    # escaped characters are the characters themselves
    ("name like 'l\\'ha*'", [8]),
    ('name like "He said \\"hi*"', [10]),
    ('name like "saint\\\\%"', [1]),
    # a pattern without a word (only wildcards of other languages) matches nothing
    ('name like "%_%_%"', []),
    ('name like "_"', []),
    ('name like "%"', []),
    ('not name like "%_%_%"', ALL),
]


@pytest.mark.parametrize("where, expected", LIKE_CASES)
def test_like_wildcards_are_opendatasofts_not_sqls(con, where, expected):
    assert ids(con, where) == expected


@pytest.mark.parametrize("pattern", ["pa*s", "*ris", "pari*-x", "saint **etienne", "l-*hay"])
def test_a_star_that_ends_no_word_is_refused_saying_where_a_star_goes(con, pattern):
    """Only a trailing ``*`` is documented; read as punctuation, ``pa*s`` asked for the words pa
    and s and quietly found what holds them. A 400 (``ODSQLError``) says where a star goes and
    how to write one as itself."""
    message = refusal(con, select="id", where=[f"name like '{pattern}'"])
    assert f"like takes * only at the end of a word ('{pattern.split()[-1]}')" in message
    assert "a star itself is \\* in the pattern" in message


def test_stars_that_end_words_or_stand_alone_are_no_refusal(con):
    assert ids(con, "name like 'pari** saint*'") == []  # no name holds both
    assert ids(con, "name like 'pari**'") == [2, 11]
    assert ids(con, "name like 'pari*,'") == [2, 11]  # no word after the star: it ends pari
    assert ids(con, "name like '*'") == []  # no word, as '%'
    assert ids(con, "name like 'paris\\\\*12e'") == [11]  # an escaped star: punctuation between paris and 12e


def _day_counts() -> Counter:
    return Counter(r.d for r in ROWS if r.d is not None)


def test_the_documented_date_forms_of_range_group(con):
    """``range(d, 1 day)`` and ``range(d, *, date'…', date'…', *)`` (reference §5.5) keep working."""
    days = {r["r"][1:11]: r["n"] for r in run(con, select="count(*) as n", group_by="range(d, 1 day) as r")}
    assert days == {d.isoformat(): n for d, n in _day_counts().items()}
    rows = run(con, select="count(*) as n", group_by="range(d, *, date'2020-01-01', date'2021-01-01', *) as r")
    low, high = date(2020, 1, 1), date(2021, 1, 1)
    expected = Counter("low" if d < low else "mid" if d < high else "high" for d in _day_counts().elements())
    assert [r["n"] for r in rows] == [expected["low"], expected["mid"], expected["high"]]


MIXED = [
    ("range(d, 1 day, date'2020-01-01', *)", "range(d, 1day)"),
    ("range(d, *, 1 day)", "range(d, 1day)"),
    ("range(d, 1d, 1d)", "range(d, 1d)"),
    ("range(ts, 1M, date'2020', date'2021')", "range(ts, 1M)"),
]


@pytest.mark.parametrize("group_by, alone", MIXED)
def test_a_width_with_a_unit_followed_by_bounds_is_refused_saying_what_range_takes(con, group_by, alone):
    with pytest.raises(ODSQLError) as error:
        run(con, select="count(*)", group_by=group_by)
    message = str(error.value)
    assert f"range() takes a width with a unit alone, as {alone}" in message
    assert "date'2020-01-01', date'2021-01-01'" in message  # the static form, with dates
    assert "within_distance" not in message


@pytest.mark.parametrize("group_by, expected", [
    ("range(pop, 5km, 10)", "A range() step with a unit applies to dates"),
    ("range(pop, [1, 10], 20)", "range() takes bracketed steps alone, as range(pop, [1, 10])"),
    ("range(d, ]date'2020-01-01'[, *)", "range() takes bracketed steps alone"),
])
def test_other_mixed_range_forms_are_refused_saying_what_range_takes(con, group_by, expected):
    with pytest.raises(ODSQLError) as error:
        run(con, select="count(*)", group_by=group_by)
    assert expected in str(error.value) and "is only an argument of" not in str(error.value)
