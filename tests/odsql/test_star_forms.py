"""Stars read alike by every full-text form of ODSQL: ``like``, a bare string, ``search()``,
``suggest()`` and ``phrase()`` (``odsql.functions.star_terms``). Opendatasoft documents one
wildcard, a ``*`` ending a word (``"film*"``, ``q=film*``, ``name LIKE 'abc*'``); ``\\*`` is a
star itself, punctuation between words; a star before a word's end (``pa*s``, ``*ris``) is a
400 naming the form the caller wrote. ``search()`` and the bare strings read ``pa*s`` as the words
pa and s, and ``\\*`` as a prefix star, while ``like`` refused the one and read the other as a
star. ``startswith()`` compares the value itself, as ``=`` does: a star there is the character."""

from __future__ import annotations

import pytest

from portail.odsql.functions import Term, search_matches, star_terms
from portail.store.fulltext import Match
from tests.odsql.conftest import ids, refusal

#: (the form as written around a quoted text, the name its refusal gives)
FORMS = [("name like {}", "like"), ("{}", "A bare string in where"), ("search(name, {})", "search()"),
         ("search(*, {})", "search()"), ("suggest(name, {})", "suggest()"), ("phrase(name, {})", "phrase()")]


@pytest.mark.parametrize("form, named", FORMS)
@pytest.mark.parametrize("text", ["pa*s", "*ris", "pari*-x", "saint **etienne"])
def test_a_star_before_a_words_end_is_refused_by_every_form_naming_it(con, form, named, text):
    message = refusal(con, select="id", where=[form.format(f"'{text}'")])
    assert f"{named} takes * only at the end of a word ('{text.split()[-1]}')" in message
    assert "a star itself is \\* in the" in message
    if named != "like":
        assert "like" not in message  # the caller wrote no like


def test_the_star_rule_is_one_reading_of_a_text():
    assert star_terms("pari* jean-pie* pa\\* x\\*y * pari*,") == [
        Term(("pari",), True), Term(("jean", "pie"), True), Term(("pa",), False), Term(("x", "y"), False),
        Term(("pari",), True)]
    # an escaped star is no prefix in any mode; search()'s last word is one by its own rule
    assert search_matches("pa\\* x", "bare") == [Match("pa"), Match("x")]
    assert search_matches("pa\\* x", "suggest") == [Match("pa", "prefix"), Match("x", "prefix")]
    assert search_matches("pa\\* x", "search") == [Match("pa"), Match("x", "prefix")]
    assert search_matches("x pa\\*", "search") == [Match("x"), Match("pa", "prefix")]


# The rows (tests/odsql/conftest.py): 2 "Paris", 11 "PARIS 12e arrondissement", 1 "Saint-Étienne"
# (and city "Saint-Étienne"), 7 "Évry" (city "Évry-Courcouronnes"), 8 "l'Haÿ-les-Roses".
@pytest.mark.parametrize("where, expected", [
    # a trailing star: a prefix, in every form
    ("'pari*'", [2, 10, 11]),  # the bare string reads every text field: row 10's city is Paris
    ("name like 'pari*'", [2, 11]),
    ("search(name, 'pari* 12')", [11]),
    ("suggest(name, 'pari*')", [2, 11]),
    # an escaped star: punctuation, no prefix (the ODSQL literal '\\\\*' holds \*)
    ("'pari\\\\*'", []),
    ("'paris\\\\*'", [2, 10, 11]),
    ("name like 'pari\\\\*'", []),
    ("search(name, 'pa\\\\* 12')", []),  # pa is no word of a name (too short to be fuzzy); its star made it a prefix
    ("search(name, 'paris\\\\* 12')", [11]),
    ("'paris\\\\*12e'", [11]),  # the words paris and 12e, as "paris*12e" holds them
    ("phrase(name, 'paris\\\\*12e')", [11]),  # in a row
    ("phrase(name, '12e\\\\*paris')", []),
    ("phrase(name, '12e arr*')", [11]),
    # a star alone ends no word: no prefix of the word before it
    ("'pari *'", []),
    # startswith() compares the value itself: a star is the character
    ("startswith(name, 'Pari*')", []),
    ("startswith(name, 'Pari')", [2]),
])
def test_stars_mean_the_same_in_every_form(con, where, expected):
    assert ids(con, where) == expected
