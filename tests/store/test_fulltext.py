"""The full-text index written into each version file: what it holds, that ODSQL's full text
answers the same through the index, through the scan (a version built before the index, or
a plain DuckDB connection) and in plain Python, and that another process attaching the
immutable file read-only uses it too."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
from sqlglot import exp

from portail.catalog import services
from portail.odsql import Query, compile_plan, to_sql
from portail.operations import load_file
from portail.schema import FieldType
from portail.store import DuckDBStore, fulltext, keys, postings
from portail.store.duckdb_store import index_path
from tests.conftest import current_version
from tests.search_oracle import fold, search_oracle, words
from tests.store.resolving import resolving

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ("elus", "rne_elus-conseillers-departementaux-cd.csv")


def is_bare(where: str) -> bool:
    """Is ``where`` a bare string (whose words are whole), not a search()/suggest() call?"""
    return where.lstrip().startswith('"')


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, refdata):
    from tests.conftest import make_instance

    instance = make_instance(tmp_path_factory.mktemp("fulltext") / "home")
    path = refdata.joinpath(*SOURCE)
    with instance.session() as s:
        services.create_dataset(s, "elus", "Élus")
    load_file(instance, "elus", path, publish=True)
    location, fields = current_version(instance, "elus")
    yield instance, location, fields
    instance.store.close()


@pytest.fixture(scope="module")
def rows(loaded):
    """The stored rows (text fields as stored), read back in plain Python."""
    _, location, fields = loaded
    texts = [f.name for f in fields if f.type == FieldType.TEXT]
    con = duckdb.connect(location, read_only=True)
    try:
        names = ", ".join(f'"{n}"' for n in texts)
        return [dict(zip(texts, r)) for r in con.execute(f"SELECT {names} FROM records").fetchall()]
    finally:
        con.close()


def text_fields(loaded) -> list[str]:
    return [f.name for f in loaded[2] if f.type == FieldType.TEXT]


@pytest.fixture(scope="module")
def oracle_count(rows):
    """How many stored rows ``search_oracle`` keeps, counted once per question: the cases run
    under three resolve limits and in two tests, over rows nobody changes."""
    counts: dict[tuple, int] = {}

    def count(text: str, fields: list[str], suggest: bool = False, bare: bool = False) -> int:
        key = (text, tuple(fields), suggest, bare)
        if key not in counts:
            counts[key] = sum(1 for r in rows if search_oracle(r, text, fields, suggest, bare))
        return counts[key]
    return count


def test_the_index_file_holds_the_index(loaded, rows):
    """Beside the version file (which holds the records only): repeating fields (few distinct
    values) hold the words of each distinct value; the others one posting per word occurrence,
    key fields of one-word values too (their key rows are their postings: ``store.keys``); the
    dictionary of words covers both."""
    _, location, fields = loaded
    texts = text_fields(loaded)
    assert len(texts) >= 5
    version = duckdb.connect(location, read_only=True)
    try:
        assert fulltext.read_index(version, version.execute("SELECT current_catalog()").fetchone()[0]) is None
    finally:
        version.close()
    con = duckdb.connect(str(index_path(location)), read_only=True)
    try:
        posted = {f for (f,) in con.execute("SELECT DISTINCT field FROM fulltext").fetchall()}
        recorded = {f for (f,) in con.execute("SELECT field FROM fulltext_fields").fetchall()}
        by_value = {f for (f,) in con.execute("SELECT DISTINCT field FROM fulltext_values").fetchall()}
        postings = con.execute("SELECT count(*) FROM fulltext").fetchone()[0]
        value_words = set(con.execute("SELECT term, field, value FROM fulltext_values").fetchall())
        sorted_terms = [t for (t,) in con.execute("SELECT term FROM fulltext_terms").fetchall()]
        keyed = keys.read_keys(con, con.execute("SELECT current_catalog()").fetchone()[0])
    finally:
        con.close()
    assert posted and by_value and not posted & by_value and posted | by_value <= set(texts)
    # What a read asking for every field may skip testing: every posted field, no other kind.
    assert posted <= recorded <= set(texts) - by_value
    for f in texts:
        distinct = {r[f] for r in rows if r[f] is not None}
        present = sum(1 for r in rows if r[f] is not None)
        if f in keyed and all(re.fullmatch(keys.WORD, v) for v in distinct):
            assert f in posted  # a code of one-word values: its key rows
        elif present:  # the rule, up to the engine's distinct-count estimate
            assert (f in by_value) == (len(distinct) * fulltext.REPEATS <= present) or \
                abs(len(distinct) * fulltext.REPEATS - present) < present / 10
    # one posting per word occurrence (a word twice in one value is two postings)
    occurrences = sum(len(re.findall(r"\w+", fold(r[f]))) for r in rows for f in posted if r[f] is not None)
    assert postings == occurrences
    assert value_words == {(w, f, r[f]) for r in rows for f in by_value if r[f] is not None for w in words(r[f])}
    assert sorted_terms == sorted(set().union(*(words(r[f]) for r in rows for f in texts)))


CASES = [
    ('search(*, "professeur")', None, "professeur", False),
    ('search(*, "PROFESSEUR")', None, "PROFESSEUR", False),
    ('"ingénieur"', None, "ingénieur", False),
    ('"ingenieur cadre"', None, "ingenieur cadre", False),
    ('search(*, "agriculteur exploitant")', None, "agriculteur exploitant", False),
    ('search(*, "agriculter exploit")', None, "agriculter exploit", False),  # fuzzy first word
    ('search(*, "profesion scientifique")', None, "profesion scientifique", False),
    ('"jean*"', None, "jean*", False),
    ('"jean-pierre"', None, "jean-pierre", False),
    ('"zzzqqq"', None, "zzzqqq", False),
    ('suggest(*, "agri")', None, "agri", True),
    ('suggest(*, "prof sci")', None, "prof sci", True),
]


def _ids(store_or_con, location: str | None, where: str, fields) -> int:
    plan = compile_plan(Query(select="count(*) as n", where=[where]), fields)
    if location is None:
        return store_or_con.execute(to_sql(plan.select)).fetchone()[0]
    return store_or_con.query(location, plan.select).column("n")[0].as_py()


@pytest.fixture(params=[fulltext.RESOLVE, 5, 0], ids=["resolved", "resolved-when-tiny", "semi-join"])
def resolve(request, loaded):
    """How many matching rows the store turns into constants: the default, almost none, none."""
    with resolving(loaded[0].store, request.param) as limit:
        yield limit


@pytest.mark.parametrize("where, only, text, suggest", CASES)
def test_index_scan_and_oracle_agree(loaded, oracle_count, resolve, where, only, text, suggest):
    instance, location, fields = loaded
    expected = oracle_count(text, only or text_fields(loaded), suggest, is_bare(where))
    with_index = _ids(instance.store, location, where, fields)
    con = duckdb.connect(location, read_only=True)  # no store: the compiled scan, no index
    try:
        scanned = _ids(con, None, where, fields)
    finally:
        con.close()
    assert with_index == scanned == expected
    assert (expected > 0) == (text != "zzzqqq")  # every other case finds something


def test_search_on_named_fields(loaded, rows):
    instance, location, fields = loaded
    name = next(f for f in text_fields(loaded) if "nom" in f and "prenom" not in f)
    expected = sum(1 for r in rows if search_oracle(r, "martin", [name]))
    assert expected > 0
    assert _ids(instance.store, location, f'search({name}, "martin")', fields) == expected


def test_the_store_uses_the_index(loaded, resolve):
    instance, location, fields = loaded
    plan = compile_plan(Query(where=['search(*, "professeur")']), fields)
    sql = instance.store.prepare(location, plan.select).sql
    assert "list_filter" not in sql.lower() and "regexp_split_to_array" not in sql.lower()
    if resolve == 0:
        assert "main.fulltext " in sql and "main.fulltext_values " in sql  # rows' postings, distinct values
    elif resolve == fulltext.RESOLVE:  # the few values holding the word, as constants
        assert "main.fulltext" not in sql and " IN ('" in sql


def test_a_selective_match_becomes_constants(loaded, rows):
    """A word in a few rows: their row ids, bounded (the engine skips the other row groups);
    a word in none: false, without reading the records' index at query time."""
    instance, location, fields = loaded
    name = next(f for f in text_fields(loaded) if "nom" in f and "prenom" not in f)
    counts: dict[str, int] = {}
    for r in rows:
        for w in words(r[name]):
            counts[w] = counts.get(w, 0) + 1
    rare = next(w for w, n in sorted(counts.items()) if n == 3 and len(w) > 5 and not any(
        v.startswith(w) and v != w for v in counts))  # exactly three rows, no longer word with this prefix
    sql = instance.store.prepare(location, compile_plan(Query(where=[f'search({name}, "{rare}")']), fields).select).sql
    assert "main.fulltext" not in sql and '"rowid" BETWEEN' in sql and '"rowid" IN (' in sql
    assert _ids(instance.store, location, f'search({name}, "{rare}")', fields) == 3
    nothing = instance.store.prepare(location, compile_plan(Query(where=['"zzzqqq"']), fields).select).sql
    assert "main.fulltext" not in nothing and "WHERE (FALSE)" in nothing


def _common_word(loaded, rows) -> tuple[list[str], list[set[str]], dict[str, int], str]:
    """The text fields, each row's words, each word's number of rows, and the most common word
    of more than three letters."""
    texts = text_fields(loaded)
    held = [set().union(*(words(r[f]) for f in texts)) for r in rows]
    counts: dict[str, int] = {}
    for found in held:
        for w in found:
            counts[w] = counts.get(w, 0) + 1
    return texts, held, counts, max((w for w in counts if len(w) > 3), key=lambda w: counts[w])


def test_a_common_word_anded_with_a_rare_one_is_read_for_the_rare_rows_only(loaded, rows):
    """The rare word's rows, then the common word's postings among them: one row-id list,
    no semi-join over the common word's postings, and the same count as the oracle."""
    instance, location, fields = loaded
    texts, held, counts, common = _common_word(loaded, rows)
    name = next(f for f in texts if "nom" in f and "prenom" not in f)
    holders = [r for r, found in zip(rows, held) if common in found]
    assert len(holders) > 200  # common enough to stay unresolved below
    rare = next(w for r in holders for w in sorted(words(r[name])) if counts[w] < 50 and len(w) > 3)
    query = f'search(*, "{common} {rare}*")'  # fuzzy common word, prefix rare word
    with resolving(instance.store, min(fulltext.RESOLVE, len(holders) - 1)):  # the common word alone cannot resolve
        sql = instance.store.prepare(location, compile_plan(Query(where=[query]), fields).select).sql
        assert "main.fulltext" not in sql and '"rowid"' in sql and "regexp_split_to_array" not in sql.lower()
        expected = sum(1 for r in rows if search_oracle(r, f"{common} {rare}*", texts))
        assert _ids(instance.store, location, query, fields) == expected > 0


def test_a_count_of_words_folded_into_one_row_id_list_reads_no_record(loaded, rows):
    """"common rare*" counted: the rare word's rows, the common word's postings among them,
    and the count is the list's length. What is left of the folded words in the condition is
    TRUE, which must not cost a read of the listed records (~4 ms for 200 rows on 2 M)."""
    instance, location, fields = loaded
    texts, held, counts, common = _common_word(loaded, rows)
    rare = next(w for found in held if common in found for w in sorted(found) if 3 < counts[w] < 50 and len(w) > 3)
    text = f"{common} {rare}"
    expected = sum(1 for r in rows if search_oracle(r, text, texts, bare=True))
    with resolving(instance.store, min(fulltext.RESOLVE, counts[common] - 1)):
        instance.store._lookups.forget()
        count = compile_plan(Query(select="count(*) as n", where=[f'"{text}"']), fields).select
        assert instance.store.prepare(location, count).sql == f'SELECT {expected} AS n' and expected > 0
        read = [key for (_, key) in instance.store._lookups._answers if isinstance(key, str)]  # lookups' SQL
        # Reads of the records test some field (a value list) besides the row ids: none tests TRUE.
        records = [sql.split(" WHERE ", 1)[1] for sql in read if ".main.records " in sql]
        assert all('"records"."' in w.replace('"records"."rowid"', "") for w in records), records


def test_a_count_answered_when_bound_is_not_run(loaded, rows, tmp_path):
    """The count of a row-id list is its length: the prepared query carries its row, and the
    store answers it without the engine (here without even attaching the version, which does
    not exist); a count the index did not answer is the engine's to run, on the version."""
    instance, location, fields = loaded
    name = next(f for f in text_fields(loaded) if "nom" in f and "prenom" not in f)
    expected = sum(1 for r in rows if search_oracle(r, "martin", [name]))
    count = instance.store.prepare(location, compile_plan(Query(select="count(*) as total",
                                                                where=[f'search({name}, "martin")']), fields).select)
    assert count.known == ({"total": expected},) and expected > 0
    assert instance.store.rows(str(tmp_path / "none.duckdb"), count) == [{"total": expected}]
    scanned = instance.store.prepare(location, compile_plan(Query(select="count(*) as n"), fields).select)
    assert scanned.known is None
    with pytest.raises((duckdb.Error, OSError)):
        instance.store.rows(str(tmp_path / "none.duckdb"), scanned)
    assert instance.store.rows(location, scanned) == [{"n": len(rows)}]


def test_a_version_without_index_falls_back_to_the_scan(loaded, rows, tmp_path):
    instance, location, fields = loaded
    old = tmp_path / "old" / "v000001.duckdb"
    old.parent.mkdir()
    con = duckdb.connect(str(old))
    con.execute(f"ATTACH '{location}' AS src (READ_ONLY)")
    con.execute("CREATE TABLE records AS SELECT * FROM src.records")
    con.execute("CREATE TABLE portail_version AS SELECT * FROM src.portail_version")
    con.close()
    store = DuckDBStore(tmp_path / "data")
    try:
        plan = compile_plan(Query(where=['search(*, "agriculteur")']), fields)
        assert "regexp_split_to_array" in store.prepare(str(old), plan.select).sql.lower()
        expected = sum(1 for r in rows if search_oracle(r, "agriculteur", text_fields(loaded)))
        assert _ids(store, str(old), 'search(*, "agriculteur")', fields) == expected > 0
    finally:
        store.close()


def test_another_process_reads_the_index_read_only(loaded, rows):
    instance, location, fields = loaded
    assert _ids(instance.store, location, '"professeur"', fields) > 0  # attached here too
    script = textwrap.dedent("""
        import json, sys
        from portail.odsql import Query, compile_plan
        from portail.schema import fields_from_json
        from portail.store import DuckDBStore
        location, fields = sys.argv[1], fields_from_json(json.loads(sys.argv[2]))
        store = DuckDBStore(sys.argv[3])
        plan = compile_plan(Query(select="count(*) as n", where=['"professeur"']), fields)
        print(json.dumps([store.query(location, plan.select).column("n")[0].as_py(),
                          "regexp_split_to_array" not in store.prepare(location, plan.select).sql.lower()]))
    """)
    out = subprocess.run([sys.executable, "-c", script, location, json.dumps([f.to_dict() for f in fields]),
                          str(Path(location).parent.parent / ".other")], capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    count, used_index = json.loads(out.stdout)
    expected = sum(1 for r in rows if search_oracle(r, "professeur", text_fields(loaded), bare=True))
    assert count == expected > 0
    assert used_index is True


def test_build_without_text_fields(tmp_path):
    con = duckdb.connect()
    con.execute(f"ATTACH '{tmp_path / 'v.duckdb'}' AS build")
    con.execute("CREATE TABLE build.records AS SELECT range AS n FROM range(10)")
    assert fulltext.build(con, "build", []) == 0
    assert fulltext.read_index(con, "build") == fulltext.Index(posted=frozenset())  # postings of no field
    con.close()


@pytest.mark.parametrize("resolve_limit", [fulltext.RESOLVE, 5], ids=["resolved", "too-wide-to-resolve"])
def test_pages_of_a_match_walk_its_rows_once(loaded, rows, resolve_limit):
    """Count and pages of a match answered from its row ids (the count a constant, each page
    the slice it shows) — resolved to constants, or read as an array when the match is too
    wide to resolve — alone and, when resolved, ANDed with another condition tested once on
    those rows: every matching row on exactly one page, the same rows as the scan finds."""
    instance, location, fields = loaded
    with resolving(instance.store, resolve_limit):
        _walk_pages(instance, location, fields, rows, loaded, wide=resolve_limit < 30)


def _walk_pages(instance, location, fields, rows, loaded, wide: bool) -> None:
    texts = text_fields(loaded)
    by_value = next(f for f in texts if "departement" in f and "libelle" in f)
    con = duckdb.connect(str(index_path(location)), read_only=True)
    try:
        posted = [f for (f,) in con.execute("SELECT DISTINCT field FROM fulltext ORDER BY 1").fetchall()]
    finally:
        con.close()
    counts: dict[str, int] = {}
    for r in rows:
        for w in set().union(*(words(r[f]) for f in posted)):  # rows' postings: a row-id list
            counts[w] = counts.get(w, 0) + 1
    word = next(w for w, n in sorted(counts.items()) if 30 <= n <= 300 and len(w) > 4)
    holders = [r for r in rows if search_oracle(r, f"{word}*", texts)]
    assert 30 <= len(holders) <= fulltext.RESOLVE
    other = holders[0][by_value]
    columns = ", ".join(texts)
    for where in ([f'"{word}*"'], [f'"{word}*"', f'{by_value} = "{other}"'])[:1 if wide else 2]:
        count = compile_plan(Query(select="count(*) as n", where=where), fields)
        assert " FROM " not in instance.store.prepare(location, count.select).sql  # the list's length
        total = instance.store.query(location, count.select).column("n")[0].as_py()
        seen = []
        for offset in range(0, total + 7, 7):
            page = compile_plan(Query(select=columns, where=where, limit=7, offset=offset), fields)
            sql = instance.store.prepare(location, page.select).sql
            assert "OFFSET" not in sql and ('"rowid"' in sql or offset >= total)
            seen += [tuple(r.values()) for r in instance.store.query(location, page.select).to_pylist()]
        con = duckdb.connect(location, read_only=True)  # the scan, no index
        try:
            scanned = con.execute(to_sql(compile_plan(Query(select=columns, where=where), fields).select)).fetchall()
        finally:
            con.close()
        assert sorted(seen) == sorted(scanned) and len(seen) == total > 0
        if len(where) == 1:
            assert total == len(holders)
        else:
            assert total == sum(1 for r in holders if r[by_value] == other) < len(holders)


def test_lookup_answers_are_kept_within_a_row_budget():
    memo = fulltext.LookupMemo(rows=5)
    calls = []

    def answer(n):
        def compute():
            calls.append(n)
            return [(i,) for i in range(n)]
        return compute

    assert memo.get("v1", "a", answer(3)) == [(0,), (1,), (2,)]
    assert memo.get("v1", "a", answer(3)) and calls == [3]  # kept
    memo.get("v1", "b", answer(2))
    memo.get("v1", "c", answer(2))  # 7 rows > 5: the least recently used ("a") goes
    memo.get("v1", "a", answer(3))
    assert calls == [3, 2, 2, 3]
    memo.get("v2", "big", answer(6))  # larger than the budget: answered, never kept
    memo.get("v2", "big", answer(6))
    assert calls[-2:] == [6, 6]
    memo.forget("v1")
    memo.get("v1", "a", answer(3))
    assert calls[-1] == 3 and len(calls) == 7
    # Answers derived from lookups, weighed by ``fulltext.weight``: a resolved match by its row
    # ids, a match too wide to resolve (None) as one row.
    memo.forget()
    resolved = fulltext._Resolved(exp.false(), frozenset({1, 2, 3, 4}))
    assert memo.get("v1", ("resolved", "x"), lambda: resolved, size=fulltext.weight) is resolved
    assert memo.get("v1", ("resolved", "y"), lambda: None, size=fulltext.weight) is None
    assert memo.get("v1", ("resolved", "x"), lambda: calls.append("again"), size=fulltext.weight) is resolved
    memo.get("v1", "b", answer(1))  # 4 + 1 + 1 rows > 5: the least recently used ("y") goes
    assert memo.get("v1", ("resolved", "y"), lambda: calls.append("y again"), size=fulltext.weight) is None
    assert calls[-1] == "y again" and "again" not in calls


def test_a_small_value_dictionary_is_read_from_memory_as_the_engine_reads_it(loaded, monkeypatch):
    """The value dictionary of a version is held in memory when small (a new search then asks
    the engine nothing for it): the pairs it gives are the engine's for exact words, prefixes
    and a limit; fuzzy words read their close terms from the index file first, and dictionaries
    past the bound are read from it."""
    _, location, _ = loaded
    con = duckdb.connect(str(index_path(location)), read_only=True)
    try:
        catalog = con.execute("SELECT current_catalog()").fetchone()[0]
        index = fulltext.read_index(con, catalog)
        assert index is not None and index.by_value and index.value_words is not None  # the searches above used it
        terms = sorted({t for t, _, _ in index.value_words})
        fields = sorted(index.by_value)
        reads: list[str] = []

        def lookup(query: exp.Select) -> list[tuple]:
            reads.append(query.sql(dialect="duckdb"))
            return con.execute(query.sql(dialect="duckdb")).fetchall()

        def engine(match: fulltext.Match, limit: int | None = None) -> set[tuple[str, str]]:
            return set(fulltext.value_pairs_of(fields, match, fulltext.Index(index.by_value, index.keys), lookup, limit))

        matches = [fulltext.Match(t) for t in terms[::7]] + [fulltext.Match(t[:2], "prefix") for t in terms[::11]] + \
            [fulltext.Match("zzzqqq"), fulltext.Match("zz", "prefix"), fulltext.Match(terms[0], "fuzzy", 0)]
        for match in matches:
            held = fulltext.value_pairs_of(fields, match, index, lookup)
            assert len(held) == len(set(held)) and set(held) == engine(match), match
            assert set(fulltext.value_pairs_of(fields[:1], match, index, lookup)) == \
                {p for p in engine(match) if p[0] == fields[0]}
        wide = fulltext.Match(terms[0][:1], "prefix")
        assert len(engine(wide)) > 3
        assert len(fulltext.value_pairs_of(fields, wide, index, lookup, limit=2)) == 3 == len(engine(wide, limit=2))
        reads.clear()
        fulltext.value_pairs_of(fields, fulltext.Match(terms[0]), index, lookup)
        assert reads == []  # from memory
        fuzzy = fulltext.Match(terms[-1], "fuzzy", 1)
        assert set(fulltext.value_pairs_of(fields, fuzzy, index, lookup)) == engine(fuzzy) and len(reads) == 2
        monkeypatch.setattr(fulltext, "HELD_VALUE_WORDS", len(index.value_words) - 1)
        assert fulltext.read_index(con, catalog).value_words is None
    finally:
        con.close()


def test_text_matches_over_the_same_columns_stay_distinct_until_their_scan():
    """Before SQL is generated a match is a compact node; two matches over the same columns
    differ in structure and in text (nothing keyed on either can confuse two searches)."""
    columns = [("nom", exp.column("nom", table="records", quoted=True)), ("ville", exp.column("ville", table="records", quoted=True))]
    a, b = fulltext.word_match(columns, fulltext.Match("paris")), fulltext.word_match(columns, fulltext.Match("lyon"))
    assert a != b and a.sql() != b.sql()
    assert fulltext.word_match(columns, fulltext.Match("paris", "prefix")) != a
    query = exp.select("*").from_("records").where(exp.and_(a, b))
    sql = fulltext.with_scans(query.copy()).sql(dialect="duckdb")
    one_scan = fulltext.scan([columns[1][1]], fulltext.Match("paris")).sql(dialect="duckdb").count('"ville"')
    assert "portail_text_match" not in sql and "'paris'" in sql and "'lyon'" in sql and sql.count('"ville"') == 2 * one_scan
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE records AS SELECT * FROM (VALUES ('Gare de Lyon', 'Paris'), ('Place Bellecour', 'Lyon')) t(nom, ville)")
        assert con.execute(sql).fetchall() == [("Gare de Lyon", "Paris")]
    finally:
        con.close()


def test_a_read_of_every_posted_field_tests_no_field():
    """Only a read covering every field the postings hold skips the field test: a caller who
    cannot see one of them (a hidden column) keeps it, and an index that did not record its
    fields keeps it too."""
    match = fulltext.Match("paris")
    everything = frozenset({"nom", "ville"})
    assert "field" not in fulltext._posted_rows(["nom", "ville", "autre"], match, everything).sql()
    assert "field" not in fulltext._posted_rows(["ville", "nom"], match, everything).sql()
    assert "field IN ('nom')" in fulltext._posted_rows(["nom"], match, everything).sql()
    assert "field IN ('nom', 'ville')" in fulltext._posted_rows(["nom", "ville"], match, None).sql()


# -- the postings file (store.postings) -------------------------------------------------------
def _view_rows(con: duckdb.DuckDBPyConnection, words: list[str], prefix: bool,
               fields: list[str] | None) -> dict[str, list[int]]:
    """The row ids the index file's ``fulltext`` view gives for each word, through the engine:
    one query for all the words (a query per word and field subset cost ~1,400 round trips)."""
    test = "term LIKE w.word || '%'" if prefix else "term = w.word"
    params: list = [words]
    if fields is not None:
        test += f" AND field IN ({', '.join('?' for _ in fields)})"
        params += fields
    found = dict(con.execute(f"SELECT w.word, list(rid ORDER BY rid) FROM (SELECT unnest(?::VARCHAR[]) AS word) w "
                             f"JOIN fulltext ON {test} GROUP BY w.word", params).fetchall())
    return {word: found.get(word, []) for word in words}


@pytest.mark.parametrize("read_batch", [postings.READ_BATCH, 97], ids=["one-batch", "many-batches"])
def test_the_postings_file_answers_what_the_index_view_answers(loaded, tmp_path, monkeypatch, read_batch):
    """Every term of the view, in the engine's order of text, each word's rows sorted; exact
    words, prefixes and field subsets give the view's rows, also when the file is written in
    many small batches (a word's postings then run across batches)."""
    _, location, _ = loaded
    con = duckdb.connect(str(index_path(location)), read_only=True)
    try:
        monkeypatch.setattr(postings, "READ_BATCH", read_batch)
        target = tmp_path / "written.postings"
        terms = [t for (t,) in con.execute("SELECT DISTINCT term FROM fulltext ORDER BY term").fetchall()]
        assert postings.write(con, "fulltext", target, "t") == len(terms) > 1000
        found = postings.PostingsFile.open(target)
        assert found.token == "t" and (len(found.batches) > 10) == (read_batch == 97)
        assert [t for b in found.batches for t in (b.terms[i].decode() for i in range(len(b.terms)))] == terms
        assert terms == sorted(terms, key=str.encode)
        fields = list(found.fields)
        assert len(fields) >= 2
        words = terms[::37] + [t[:1] for t in terms[::101]] + [t[:3] for t in terms[::53]] + ["zzzqqq", "0", terms[-1]]
        words = list(dict.fromkeys(words))
        subsets = ([fields[0]], fields[1:], fields)
        view_exact, view_prefix = _view_rows(con, words, False, None), _view_rows(con, words, True, None)
        view_subsets = [_view_rows(con, words, True, subset) for subset in subsets]
        assert view_exact["zzzqqq"] == [] and all(view_exact[t] for t in terms[::37])  # the oracle finds rows
        for word in words:
            exact = found.rows(word)
            assert list(exact) == sorted(exact) and sorted(exact) == view_exact[word], word
            assert sorted(found.rows(word, True)) == view_prefix[word], word
            for subset, view in zip(subsets, view_subsets):
                assert sorted(found.rows(word, True, subset)) == view[word], (word, subset)
        common = max(terms, key=lambda t: len(found.rows(t)))
        assert len(found.rows(common)) > 50  # a word whose postings run across batches when small
    finally:
        con.close()


def _copy_without_postings(location: str, target: Path) -> str:
    """The version and its index file, without its postings file (as before postings files)."""
    target.mkdir(parents=True)
    copied = target / Path(location).name
    shutil.copy(location, copied)
    shutil.copy(index_path(location), index_path(str(copied)))
    return str(copied)


@pytest.fixture(scope="module")
def without_postings(loaded, tmp_path_factory) -> tuple[str, str]:
    """Copies of the version and its index file without a usable postings file: none (as before
    postings files), and one of another build of the index. Made once: the tests only read them,
    each through its own new store."""
    _, location, _ = loaded
    folder = tmp_path_factory.mktemp("without-postings")
    copied = _copy_without_postings(location, folder / "old")
    other = _copy_without_postings(location, folder / "other")
    con = duckdb.connect(str(index_path(location)), read_only=True)
    try:  # a postings file written with another build of the index: not paired with this one
        postings.write(con, "fulltext", postings.postings_path(other), token="another build")
    finally:
        con.close()
    return copied, other


@pytest.mark.parametrize("where, only, text, suggest", CASES)
def test_searches_answer_the_same_with_and_without_the_postings_file(loaded, oracle_count, without_postings, tmp_path,
                                                                     resolve, where, only, text, suggest):
    """The postings file is an accelerator: without it (an index file written before it, or a
    file of another build of the index) the same rows come through the engine."""
    instance, location, fields = loaded
    copied, other = without_postings
    store = DuckDBStore(tmp_path / "data", fulltext_resolve=resolve)
    try:
        assert instance.store._index(location, instance.store._alias(location))[0].postings is not None
        for path in (copied, other):
            assert store._index(path, store._alias(path))[0].postings is None
        plan = compile_plan(Query(where=[where], select="count(*) as n"), fields)
        page = compile_plan(Query(where=[where]), fields).select.limit(exp.Literal.number(100))
        expected = oracle_count(text, only or text_fields(loaded), suggest, is_bare(where))
        for s, path in ((instance.store, location), (store, copied), (store, other)):
            assert s.query(path, plan.select).column("n")[0].as_py() == expected
        assert instance.store.query(location, page).to_pylist() == store.query(copied, page).to_pylist()
    finally:
        store.close()


def test_a_new_search_reads_its_postings_from_the_postings_file(loaded):
    """A prefix (an exact word alike) reads no index table through the engine: no lookup SQL
    naming it is kept, where a fuzzy word (earlier words of a search) reads the dictionary of
    terms, and only that."""
    instance, location, fields = loaded
    store = instance.store
    name = next(f for f in text_fields(loaded) if "nom" in f and "prenom" not in f)
    for where, word in ((f'search({name}, "martin")', "martin"), (f'suggest({name}, "dup")', "dup"),
                        (f'search({name}, "bernrd martin")', "bernrd")):
        store._lookups.forget()
        store.query(location, compile_plan(Query(where=[where], select="count(*) as n"), fields).select)
        reads = [key for (_, key) in store._lookups._answers if isinstance(key, str) and word in key]
        if word == "bernrd":  # fuzzy: its close terms from the dictionary, then the postings file
            assert len(reads) == 1 and "fulltext_terms" in reads[0] and "main.fulltext " not in reads[0]
        else:
            assert reads == []
    # A fuzzy word's close terms are kept with the version's index: read once.
    store._lookups.forget()
    store.query(location, compile_plan(Query(where=[f'search({name}, "bernrd dupont")'], select="count(*) as n"),
                                       fields).select)
    assert not [key for (_, key) in store._lookups._answers if isinstance(key, str) and "bernrd" in key]


def test_an_index_whose_postings_file_fails_is_kept_without_it(loaded, rows, tmp_path):
    """The postings file only accelerates the index: when it cannot be written (here a
    directory left at its building name), the index file is still written (an earlier build's
    postings file removed) and searches read it through the engine; the next build writes the
    postings file."""
    _, location, fields = loaded
    copied = tmp_path / "data" / "v000001.duckdb"
    copied.parent.mkdir()
    shutil.copy(location, copied)
    blocker = postings.postings_path(str(copied)).with_name(copied.name + ".postings.building")
    texts = text_fields(loaded)
    DuckDBStore(tmp_path / "data").build_indexes(str(copied), texts, texts)  # a first build, with its file
    assert postings.postings_path(str(copied)).is_file()
    (blocker / "inside").mkdir(parents=True)
    store = DuckDBStore(tmp_path / "data")
    try:
        store.build_indexes(str(copied), texts, texts)
        # The index is written; the first build's postings file, of another build, is gone.
        assert index_path(str(copied)).is_file() and not postings.postings_path(str(copied)).exists()
        assert not blocker.exists()  # swept, for the next build
        assert store._index(str(copied), store._alias(str(copied)))[0].postings is None
        expected = sum(1 for r in rows if search_oracle(r, "agriculteur", texts))
        assert _ids(store, str(copied), 'search(*, "agriculteur")', fields) == expected > 0
    finally:
        store.close()
    store = DuckDBStore(tmp_path / "data")
    try:
        store.build_indexes(str(copied), texts, texts)
        assert store._index(str(copied), store._alias(str(copied)))[0].postings is not None
        assert _ids(store, str(copied), 'search(*, "agriculteur")', fields) == expected
    finally:
        store.close()


# -- json fields: full text reads their text, through the index as through the scan ------------

@pytest.fixture(scope="module")
def contracts(tmp_path_factory, refdata):
    """Public procurement records whose buyer, place and holders are json fields."""
    from tests.conftest import make_instance

    instance = make_instance(tmp_path_factory.mktemp("fulltext-json") / "home")
    with instance.session() as s:
        services.create_dataset(s, "decp", "DECP")
    load_file(instance, "decp", refdata / "decp" / "decp_2019_e-marchespublics.json", publish=True)
    location, fields = current_version(instance, "decp")
    searched = [f.name for f in fields if f.type in (FieldType.TEXT, FieldType.JSON)]
    con = duckdb.connect(location, read_only=True)
    try:  # each field's text as the file holds it (a json value as its JSON text)
        names = ", ".join(f'CAST("{n}" AS VARCHAR)' for n in searched)
        stored = [dict(zip(searched, r)) for r in con.execute(f"SELECT {names} FROM records").fetchall()]
    finally:
        con.close()
    yield instance, location, fields, stored
    instance.store.close()


JSON_CASES = [  # where, the fields the oracle reads (None: every text and json field), text, suggest
    ('search(*, "SDIS")', None, "SDIS", False),
    ('"SDIS"', None, "SDIS", False),
    ('search(acheteur, "SDIS")', ["acheteur"], "SDIS", False),
    ('search(*, "SAS")', None, "SAS", False),
    ('search(titulaires, "SAS")', ["titulaires"], "SAS", False),
    ('suggest(*, "vend")', None, "vend", True),
    ('"28850001000013"', None, "28850001000013", False),
    ('search(lieuexecution, objet, "departement vendee")', ["lieuexecution", "objet"], "departement vendee", False),
]


@pytest.mark.parametrize("where, only, text, suggest", JSON_CASES)
def test_full_text_over_every_field_reads_json_fields(contracts, resolve, where, only, text, suggest):
    """``*`` and a bare string find what a named json field finds (they read every field's
    text), and the index answers as the scan does."""
    instance, location, fields, stored = contracts
    every = [f.name for f in fields if f.type in (FieldType.TEXT, FieldType.JSON)]
    expected = sum(1 for r in stored if search_oracle(r, text, only or every, suggest, is_bare(where)))
    with_index = _ids(instance.store, location, where, fields)
    con = duckdb.connect(location, read_only=True)
    try:
        scanned = _ids(con, None, where, fields)
    finally:
        con.close()
    assert with_index == scanned == expected > 0
    plan = compile_plan(Query(where=[where]), fields)
    assert "regexp_split_to_array" not in instance.store.prepare(location, plan.select).sql.lower()  # the index answers


def test_an_index_built_before_json_fields_leaves_them_to_the_scan(contracts, tmp_path):
    """An index file that does not list the json fields (built before they were indexed)
    answers for the text fields only: the json fields' words are found by the scan."""
    _, location, fields, stored = contracts
    copied = tmp_path / "data" / "v000001.duckdb"
    copied.parent.mkdir()
    shutil.copy(location, copied)
    texts = [f.name for f in fields if f.type == FieldType.TEXT]
    store = DuckDBStore(tmp_path / "data")
    try:
        store.build_indexes(str(copied), texts, texts)
        every = [f.name for f in fields if f.type in (FieldType.TEXT, FieldType.JSON)]
        expected = sum(1 for r in stored if search_oracle(r, "SDIS", every))
        assert expected > sum(1 for r in stored if search_oracle(r, "SDIS", texts))
        assert _ids(store, str(copied), 'search(*, "SDIS")', fields) == expected
        plan = compile_plan(Query(where=['search(*, "SDIS")']), fields)
        assert "regexp_split_to_array" in store.prepare(str(copied), plan.select).sql.lower()
    finally:
        store.close()
