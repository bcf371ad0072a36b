"""What the full-text index answers is what the scan answers, the caller's row filter included:
``like`` answered by the index (each word of the pattern a whole word of the text, folded), a
multivalued field's membership prefiltered by its raw text (a value equal to one of the split
values, never a part of one), and ordered pages of a search sorted on their sort columns, each
checked against the plain scan of the same SQL on a tricky file (accents, ligatures, NBSP,
regex and LIKE characters, quotes, blank values, words joined by ``_``); and, for generated
patterns holding ``_``, ``\\``, ``*``, ``%``, apostrophes, ligatures, non-Latin letters and
digits, ``like``, bare strings, ``search()`` and ``suggest()`` answered alike by the index and the
scan, ``like`` and bare strings as their rules say."""

from __future__ import annotations

import json
import re

import duckdb
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from portail.odsql import ODSQLError, Query, Security, compile_plan, to_sql
from portail.store.fulltext import split as fold_words
from tests.conftest import Published, current_version, published_instance
from tests.search_oracle import damerau_levenshtein

TEXTS = ["Cœur de Lœuf", "coeur", "ÉTÉ à l'école", "l'été", "Saint-Denis", "Saint Julien-Mont-Denis",
         "SAINT\u00a0DENIS", "a  b   c", "", "x_y", "abc123", "ABC 123", "Æther", "STRAẞE", "straße 99",
         "aujourd’hui", "Ørsted", "½ pension", "bio", "biomasse", "Bio-masse", "100%", "cafe\u0301", "Œuvre",
         "_Paris_", "snake_case", "a__b", "x _ y", "__", "É_té", "Œ_1", "αβ_γ", "a\\b", "pa*s", "l'x_y", "xay", "sab1"]
TAGS = ["bio;biomasse", "biomasse", "bio", "a.b;a*b", "a%b;a_b", "x'y;\"q\"", "(bio)", "bio ; masse", "",
        "BIO", "bio;", "a;;b", "é;e"]
ROWS = 60


def _row(i: int) -> dict:
    return {"i": i, "t": None if i % 11 == 5 else f"{TEXTS[i % len(TEXTS)]} {TEXTS[i * 7 % len(TEXTS)]}",
            "g": f"g{i % 3}", "tags": None if i % 13 == 4 else TAGS[i % len(TAGS)]}


@pytest.fixture(scope="module")
def tricky(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tricky")
    path = folder / "tricky.json"
    path.write_text(json.dumps([_row(i) for i in range(ROWS)], ensure_ascii=False), encoding="utf-8")
    instance = published_instance(folder / "home", Published("tricky", path, "Tricky",
                                                             annotations={"tags": {"multivalued": [";"]}}))
    location, fields = current_version(instance, "tricky")
    assert instance.store.has_index(location)
    yield instance, location, fields
    instance.store.close()


WHERES = ['t like "coeur"', 't like "saint denis%"', 't like "saint*"', 'not t like "bio"', 't like "%"',
          't like "-"', 't like "ete"', 't like "STRASSE"', 't like "x_y"', 'g like "g1"', 'not g like "g2"',
          'tags like "bio"', '"bio" in tags', 'tags = "a%b"', 'tags != "bio"', 'not "a.b" in tags', '"coeur" OR "bio*"']


def test_an_ordered_page_answered_by_the_index_is_the_scans_page_under_a_row_filter(tricky):
    """Each page (ordered on a text, a multivalued field, descending) of each condition, for a
    caller whose row filter keeps one group: the index's answer (row ids, sorted page) is the
    plain scan's of the same SQL."""
    instance, location, fields = tricky
    with duckdb.connect(location, read_only=True) as con:
        for where in WHERES:
            for order in ("t, i", "tags desc, i", "i desc"):
                for offset in (0, 5):
                    query = Query(select="i", where=[where], order_by=order, limit=6, offset=offset)
                    plan = compile_plan(query, fields, Security(row_filter='g = "g1"'))
                    indexed = [r["i"] for r in instance.store.rows(location, instance.store.prepare(location, plan.select))]
                    scanned = [r[0] for r in con.execute(to_sql(plan.select)).fetchall()]
                    assert indexed == scanned, (where, order, offset)
                    assert all(i % 3 == 1 for i in indexed), where


def _like(text: str | None, pattern: str, bare: bool = False) -> bool:
    """``text like pattern`` as the reference says it: every word of the pattern a whole word of
    the text, folded (a ``word*`` a prefix of one); a pattern of no word holds for no value, as
    Elasticsearch's match query of no token finds nothing."""
    if text is None or not fold_words(pattern):
        return False
    held = fold_words(text)
    for raw in pattern.split():
        raw = raw.replace("\\*", " ")  # an escaped star: the character, punctuation
        found = fold_words(raw)
        for j, word in enumerate(found):
            # a star before a word's end is refused: one left ends the term, its last word a prefix
            prefix = j == len(found) - 1 and "*" in raw
            if not any(w.startswith(word) if prefix else w == word for w in held):
                return False
    return True


def _searched(text: str | None, pattern: str, suggest: bool = False) -> bool:
    """``search(t, pattern)`` (``suggest``: ``suggest()``) as the reference says it: each word of
    the pattern a word of the text, the last one (whatever punctuation follows it) and a ``term*``'s a prefix, earlier ones within
    Opendatasoft's fuzziness (1 edit past 2 letters, 2 past 5, a swap of two letters one edit;
    the engine counts bytes) keeping their first letter; ``suggest()``'s every word a prefix."""
    if text is None:
        return False
    held = fold_words(text)
    terms = [raw.replace("\\*", " ") for raw in pattern.split()]  # an escaped star: the character, punctuation
    final = max((i for i, raw in enumerate(terms) if fold_words(raw)), default=-1)  # the term of the text's last word
    for i, raw in enumerate(terms):
        found = fold_words(raw)
        for j, word in enumerate(found):
            last = j == len(found) - 1
            if suggest or (last and ("*" in raw or i == final)):
                ok = any(w.startswith(word) for w in held)
            else:
                distance = 2 if len(word) > 5 else 1 if len(word) > 2 else 0
                ok = any(w[0] == word[0] and damerau_levenshtein(w.encode(), word.encode()) <= distance for w in held)
            if not ok:
                return False
    return True


def _holds(text: str | None, value: str) -> bool | None:
    """One of the values of ``tags`` is ``value``: its text split at ``;`` and the spaces around."""
    return None if text is None else value in re.split(r"\s*;\s*", text.strip(" "))


def test_like_and_membership_answered_by_the_index_find_the_rows_their_rules_say(tricky):
    """Each word of the pattern a whole word (accents, case, ligatures, punctuation, NBSP folded
    away), negated too (a null value holds no word: ``not like`` keeps it); a multivalued value
    equal to one of the split values, never a part of one (``bio`` is not ``biomasse``), with
    regex and LIKE characters, quotes and a blank value as plain text. The index's answer and the
    scan's alike."""
    instance, location, fields = tricky
    rows = [_row(i) for i in range(ROWS)]
    checks: list[tuple[str, list[int]]] = []
    for pattern in ("coeur", "CŒUR", "lœuf", "ete", "l'ete", "saint denis", "saint*", "etab*", "straße", "strasse 99",
                    "aether", "x_y", "x", "abc", "123", "ABC123", "aujourd hui", "orsted", "pension", "1", "bio",
                    "bio-masse", "masse", "100", "cafe", "%", "-", "oeuvre*", "d*"):
        quoted = json.dumps(pattern, ensure_ascii=False)
        checks.append((f"t like {quoted}", [r["i"] for r in rows if _like(r["t"], pattern)]))
        checks.append((f"not t like {quoted}", [r["i"] for r in rows if not _like(r["t"], pattern)]))
    for value in ("bio", "biomasse", "masse", "a.b", "a*b", "a%b", "a_b", "a", "x'y", '"q"', "(bio)", "", "BIO", "e", "é",
                  "bio;", "b"):
        quoted = json.dumps(value, ensure_ascii=False)
        held = [r["i"] for r in rows if _holds(r["tags"], value)]
        checks += [(f"{quoted} in tags", held), (f"tags = {quoted}", held),
                   (f"tags != {quoted}", [r["i"] for r in rows if _holds(r["tags"], value) is False])]
    with duckdb.connect(location, read_only=True) as con:  # the scan, as a version without its index runs it
        for where, expected in checks:
            plan = compile_plan(Query(select="i", where=[where], order_by="i", limit=100), fields)
            found = [r["i"] for r in instance.store.rows(location, instance.store.prepare(location, plan.select))]
            assert found == expected, where
            assert [r[0] for r in con.execute(to_sql(plan.select)).fetchall()] == expected, where


#: Pattern characters: word characters (``_`` among them, accents, ligatures, Greek, digits) and
#: what may stand between words (``\\``, ``*``, ``%``, apostrophes, ``-``, space).
PATTERNS = st.text(alphabet=st.sampled_from(list("xyabst_19 \\*%'’-") + ["œ", "ß", "é", "É", "α", "½"]), max_size=10)


def test_generated_patterns_holding_underscores_are_answered_alike_by_the_index_and_the_scan(tricky):
    """``like``, a bare string, ``search()`` and ``suggest()`` of any pattern of the characters
    that cut or join words (``_`` a word character, a run of it alone no word; ``\\*`` a star
    itself; ``x_*`` a prefix, never LIKE's "any one character"): the index's rows are the scan's,
    and each form's are the rows its rule finds in plain Python. A pattern the
    compiler refuses (a star before a word's end) is a 400, never a 500."""
    instance, location, fields = tricky
    rows = [_row(i) for i in range(ROWS)]
    with duckdb.connect(location, read_only=True) as con:

        @settings(max_examples=150, deadline=None)
        @example(pattern="x_*", form="t like {}")  # x_y, never xay
        @example(pattern="_ab1 sab1", form="search(t, {})")  # a fuzzy word keeps its first letter: no "_ab1" in sab1
        @example(pattern="x _ y", form="t like {}")
        @example(pattern="pa\\*", form="t like {}")
        @given(pattern=PATTERNS, form=st.sampled_from(["t like {}", "{}", "search(t, {})", "suggest(t, {})"]))
        def alike(pattern, form):
            where = form.format(json.dumps(pattern, ensure_ascii=False))
            try:
                plan = compile_plan(Query(select="i", where=[where], order_by="i", limit=100), fields)
            except ODSQLError:
                assert "*" in pattern.replace("\\*", ""), where  # every form refuses a star before a word's end
                return
            found = [r["i"] for r in instance.store.rows(location, instance.store.prepare(location, plan.select))]
            assert [r[0] for r in con.execute(to_sql(plan.select)).fetchall()] == found, where
            if form == "t like {}":
                assert found == [r["i"] for r in rows if _like(r["t"], pattern)], where
            elif form in ("search(t, {})", "suggest(t, {})") and fold_words(pattern):
                assert found == [r["i"] for r in rows if _searched(r["t"], pattern, form.startswith("suggest"))], where
            elif form == "{}" and fold_words(pattern):  # a bare string: every text field
                assert found == [r["i"] for r in rows if _like(" ".join(filter(None, (r["t"], r["g"], r["tags"]))),
                                                                pattern, bare=True)], where

        alike()
