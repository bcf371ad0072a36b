"""The key index (``store.keys``): which fields a version keys, and that a condition on a key
field answers exactly as the scan does — counts, every page, other conditions ANDed, a
full-text match among the key's rows — whether the store resolves it to row ids or not.
Checked on La Poste's postal code file (INSEE and postal codes with leading zeros) against
plain Python over the same file."""

from __future__ import annotations

import csv
from collections import Counter

import duckdb
import pytest

from portail.api import explore_service as es
from portail.odsql import Query, compile_plan
from portail.schema import fields_from_json
from portail.store import fulltext, keys
from portail.store.duckdb_store import index_path
from tests.conftest import Published, published_instance, semicolon_rows
from tests.store.resolving import resolving

SOURCE = ("referentiels", "laposte_hexasmal.csv")


@pytest.fixture(scope="module")
def laposte(tmp_path_factory, refdata):
    path = refdata.joinpath(*SOURCE)
    instance = published_instance(tmp_path_factory.mktemp("keys") / "home", Published("cp", path))
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [{"insee": r["Code_commune_INSEE"], "cp": r["Code_postal"], "nom": r["Nom_commune"]}
                for r in csv.DictReader(handle, delimiter=";")]
    yield instance, rows
    instance.store.close()


@pytest.fixture(params=[fulltext.RESOLVE, 3, 0], ids=["resolved", "resolved-when-tiny", "scanned"])
def resolve(request, laposte):
    with resolving(laposte[0].store, request.param) as limit:
        yield limit


def _walk(instance, **query) -> list[tuple[str, str]]:
    """Every record a query holds, page by page (100 at a time), as (INSEE code, postal code);
    checks that the pages add up to the total count."""
    dataset = es.get_visible_dataset(instance, "public", "cp")
    seen, offset = [], 0
    while True:
        page = es.query_records(instance, dataset, limit=100, offset=offset, **query)
        seen += [(r["code_commune_insee"], r["code_postal"]) for r in page.results]
        offset += 100
        if len(page.results) < 100:
            assert page.total_count == len(seen)
            return sorted(seen)


def test_the_code_fields_are_keyed(laposte):
    """INSEE and postal codes are keys; names (spaces), the mostly empty fifth address line and
    the points are not. The key table lists every row holding a value, sorted."""
    instance, rows = laposte
    location = es.get_visible_dataset(instance, "public", "cp").current.location
    con = duckdb.connect(str(index_path(location)), read_only=True)
    try:
        assert keys.read_keys(con, con.execute("SELECT current_catalog()").fetchone()[0]) == \
            {"code_commune_insee", "code_postal"}
        listed = dict(con.execute(f"SELECT field, count(*) FROM {keys.TABLE} GROUP BY 1").fetchall())
        assert listed == {"code_commune_insee": len(rows), "code_postal": len(rows)}
        order = con.execute(f"SELECT field, value FROM {keys.TABLE}").fetchall()
        assert order == sorted(order)
        assert con.execute(f"SELECT count(*) FROM {keys.TABLE} WHERE field = 'code_commune_insee' "
                           "AND value = '01001'").fetchone()[0] == sum(r["insee"] == "01001" for r in rows)
    finally:
        con.close()


CASES = [
    ("refine", dict(refine=["code_postal:01400"]), lambda r: r["cp"] == "01400"),
    ("equality", dict(where=['code_commune_insee = "2A004"']), lambda r: r["insee"] == "2A004"),
    ("list", dict(where=['code_postal in ("75012", "01400", "99999")']), lambda r: r["cp"] in ("75012", "01400")),
    ("two keys", dict(where=['code_postal = "01400" and code_commune_insee = "01093"']),
     lambda r: r["cp"] == "01400" and r["insee"] == "01093"),
    ("key and other", dict(where=['code_postal = "51300" and nom_commune >= "P"']),
     lambda r: r["cp"] == "51300" and r["nom"] >= "P"),
    ("or", dict(where=['code_postal = "51300" or code_postal = "55300"']), lambda r: r["cp"] in ("51300", "55300")),
    ("exclude", dict(refine=["code_postal:51300"], exclude=["code_commune_insee:51004"]),
     lambda r: r["cp"] == "51300" and r["insee"] != "51004"),
    ("nothing", dict(where=['code_postal = "00000"']), lambda r: False),
    ("key and full text", dict(refine=["code_postal:51300"], where=['"sur"']),
     lambda r: r["cp"] == "51300" and "SUR" in r["nom"].split()),
]


@pytest.mark.parametrize("name, query, oracle", CASES, ids=[c[0] for c in CASES])
def test_key_conditions_answer_like_the_scan(laposte, resolve, name, query, oracle):
    instance, rows = laposte
    expected = sorted((r["insee"], r["cp"]) for r in rows if oracle(r))
    assert _walk(instance, **query) == expected
    assert (len(expected) > 0) == (name != "nothing")


def test_a_key_condition_becomes_row_ids(laposte):
    """Resolved: the rows' ids, no scan of the column; past the limit, the plain condition."""
    instance, rows = laposte
    version = es.get_visible_dataset(instance, "public", "cp").current
    fields = fields_from_json(version.fields)
    plan = compile_plan(Query(where=['code_postal = "51300"']), fields)
    resolved = instance.store.prepare(version.location, plan.select).sql
    assert '"rowid" IN (' in resolved and "'51300'" not in resolved
    with resolving(instance.store, Counter(r["cp"] for r in rows)["51300"] - 1):
        scanned = instance.store.prepare(version.location, plan.select).sql
        assert '"rowid"' not in scanned and "\"code_postal\" = '51300'" in scanned


def test_a_page_of_a_key_is_answered_from_its_row_ids(laposte):
    """Count and page of a resolved key: the count is a constant, the page names its rows."""
    instance, rows = laposte
    dataset = es.get_visible_dataset(instance, "public", "cp")
    version = dataset.current
    fields = fields_from_json(version.fields)
    count = instance.store.prepare(version.location, compile_plan(
        Query(select="count(*) as n", where=['code_postal = "51300"']), fields).select).sql
    assert count.startswith("SELECT 46 AS") or "46 AS" in count
    assert es.query_records(instance, dataset, refine=["code_postal:51300"], limit=0).total_count == 46


def test_a_wide_match_anded_with_a_key_is_read_among_the_keys_rows(laposte):
    """A word too common to resolve, ANDed with a resolved key: the word's postings are read
    for the key's rows only (no semi-join over all of them), and the answer is the oracle's."""
    instance, rows = laposte
    dataset = es.get_visible_dataset(instance, "public", "cp")
    version = dataset.current
    wide = sum("SUR" in r["nom"].split() for r in rows)
    assert wide > 100
    plan = compile_plan(Query(where=['code_postal = "51300"', '"sur"']), fields_from_json(version.fields))
    with resolving(instance.store, wide - 1):  # the key resolves, the word alone does not
        sql = instance.store.prepare(version.location, plan.select).sql
        assert "main.fulltext" not in sql and '"rowid" IN (' in sql
        expected = sorted((r["insee"], r["cp"]) for r in rows if r["cp"] == "51300" and "SUR" in r["nom"].split())
        assert _walk(instance, refine=["code_postal:51300"], where=['"sur"']) == expected != []


# -- key fields of one-word values lend their key rows to the full-text index -----------------
def test_one_word_keys_are_posted_by_the_key_table(laposte):
    """Postal codes (digits only) are one word each: the full-text index does not write them
    again, ``fulltext`` is the union of its own postings and those key rows, and the
    dictionary of terms holds the codes. INSEE codes (``2A004``: an upper-case letter) keep
    their own postings."""
    instance, rows = laposte
    location = es.get_visible_dataset(instance, "public", "cp").current.location
    con = duckdb.connect(str(index_path(location)), read_only=True)
    try:
        written = {f for (f,) in con.execute(f"SELECT DISTINCT field FROM {fulltext.WRITTEN}").fetchall()}
        valued = {f for (f,) in con.execute(f"SELECT DISTINCT field FROM {fulltext.VALUES}").fetchall()}
        posted = {f for (f,) in con.execute(f"SELECT DISTINCT field FROM {fulltext.POSTINGS}").fetchall()}
        views = {v for (v,) in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        terms = {t for (t,) in con.execute(f"SELECT term FROM {fulltext.TERMS}").fetchall()}
    finally:
        con.close()
    assert fulltext.POSTINGS in views
    assert "code_postal" not in written | valued and "code_postal" in posted
    assert "code_commune_insee" in written | valued
    assert {r["cp"] for r in rows} <= terms and "2a004" in terms


SEARCHES = ["51300", "513", "sur 513", "vitry 51300", "5130", "51301 vitry", "2a004", "zzz 51300"]


def _oracle(row: dict, text: str) -> bool:
    from tests.search_oracle import search_oracle

    return search_oracle(row, text, list(row))


@pytest.fixture(scope="module")
def scanned_and_oracle(laposte):
    """Each search's count by the compiled scan (a plain connection, no index) and by plain
    Python over the stored texts, worked out once: the version is only read, and the three
    resolve limits change what the store does, not these."""
    from portail.odsql import to_sql

    instance, _ = laposte
    version = es.get_visible_dataset(instance, "public", "cp").current
    fields = fields_from_json(version.fields)
    stored = duckdb.connect(version.location, read_only=True)
    try:
        texts = [f.name for f in fields if f.type.value == "text"]
        plain = [dict(zip(texts, r)) for r in stored.execute(
            "SELECT " + ", ".join(f'"{n}"' for n in texts) + " FROM records").fetchall()]
        counts = {}
        for text in SEARCHES:
            plan = compile_plan(Query(select="count(*) as n", where=[f'search(*, "{text}")']), fields)
            counts[text] = (stored.execute(to_sql(plan.select)).fetchone()[0], sum(_oracle(r, text) for r in plain))
    finally:
        stored.close()
    return counts


@pytest.mark.parametrize("text", SEARCHES)
def test_full_text_on_one_word_keys_answers_like_the_scan(laposte, scanned_and_oracle, resolve, text):
    """Exact, prefix and fuzzy words over the postal codes (from the key table), the INSEE codes
    and the names (own postings): the index, the compiled scan and plain Python agree."""
    instance, _ = laposte
    version = es.get_visible_dataset(instance, "public", "cp").current
    plan = compile_plan(Query(select="count(*) as n", where=[f'search(*, "{text}")']), fields_from_json(version.fields))
    scanned, expected = scanned_and_oracle[text]
    indexed = instance.store.query(version.location, plan.select).column("n")[0].as_py()
    assert indexed == scanned == expected
    assert (expected > 0) == (not text.startswith("zzz"))


def test_a_code_of_a_few_hundred_rows_a_value_is_keyed(tmp_path):
    """A code shared by ~200 rows on average (a postal code in a national file of millions of
    records) is keyed: its rows are few enough for a lookup to list (``fulltext.RESOLVE``), and
    a page refined on it reads them instead of scanning the column. One of ~700 rows a value (a
    department) is not: most of its lookups would overflow the list and scan anyway."""
    rows = [(f"{i % 20:05d}", f"{i % 6:02d}") for i in range(4_200)]
    path = semicolon_rows(tmp_path / "codes.csv", ["code", "dep"], rows)
    instance = published_instance(tmp_path / "home", Published("codes", path))
    try:
        version = es.get_visible_dataset(instance, "public", "codes").current
        con = duckdb.connect(str(index_path(version.location)), read_only=True)
        try:
            assert keys.read_keys(con, con.execute("SELECT current_catalog()").fetchone()[0]) == {"code"}
        finally:
            con.close()
        plan = compile_plan(Query(where=['code = "00007"']), fields_from_json(version.fields))
        assert '"rowid" IN (' in instance.store.prepare(version.location, plan.select).sql
        dataset = es.get_visible_dataset(instance, "public", "codes")
        page = es.query_records(instance, dataset, refine=["code:00007"], limit=100)
        assert page.total_count == 210 and {r["code"] for r in page.results} == {"00007"}
    finally:
        instance.store.close()


def test_codes_of_a_few_hundred_rows_a_value_are_keyed_within_a_budget(tmp_path):
    """Codes of more than ``keys.SELECTIVE`` rows a value are keyed within ``WIDER_KEY_ROWS`` key
    rows per record, the most selective first (a wide file of such codes would otherwise hold an
    index and postings several times its records); a selective code is keyed whatever the rest."""
    distincts = [10, 14, 18, 22, 26, 30]  # 420 down to 140 rows a value in 4,200 rows
    rows = [(f"{i % 300:05d}", *(f"{i % d:03d}" for d in distincts)) for i in range(4_200)]
    path = semicolon_rows(tmp_path / "codes.csv", ["sel", *(f"c{d}" for d in distincts)], rows)
    instance = published_instance(tmp_path / "home", Published("codes", path))
    try:
        version = es.get_visible_dataset(instance, "public", "codes").current
        con = duckdb.connect(str(index_path(version.location)), read_only=True)
        try:
            keyed = keys.read_keys(con, con.execute("SELECT current_catalog()").fetchone()[0])
        finally:
            con.close()
        assert keys.WIDER_KEY_ROWS == 4
        assert keyed == {"sel", "c30", "c26", "c22", "c18"}
        dataset = es.get_visible_dataset(instance, "public", "codes")
        for field, value in (("c10", "007"), ("c30", "007")):  # keyed or not, the same answer
            page = es.query_records(instance, dataset, refine=[f"{field}:{value}"], limit=0)
            assert page.total_count == sum(r[1 + distincts.index(int(field[1:]))] == value for r in rows)
    finally:
        instance.store.close()
