"""AND chains of full-text matches none of which resolves (``fulltext._narrowest``): the chain
is read from its narrowest member's rows, the others tested among them, and answered as one
row-id list. Counts, unordered pages (at offsets), ordered pages and group_by, with and without
a caller's row filter, are checked against the plain scan of the same SQL, for chains of two
wide words, of a wide word and a prefix held by a field indexed by value, of a fuzzy word, under
OR and NOT, and for chains too wide for a list (which keep their semi-joins).

The store's thresholds are lowered so that a few hundred rows exercise what millions do at the
defaults: a match resolves at 10 rows (``resolving``), a chain becomes a list at 150
(``CHAIN_RESOLVE``), and lists past 8 ids are written as an unnested list (``RESOLVE`` read by
``rowids_condition``). What is checked, index against scan, does not depend on the sizes."""

from __future__ import annotations


import duckdb
import pytest

from portail.odsql import Query, Security, compile_plan, to_sql
from portail.store import fulltext
from tests.conftest import Published, current_version, published_instance, seeded_ranks, semicolon_csv
from tests.store.resolving import resolving

N = 400
RESOLVED = 10
CHAIN = 150


def _rows() -> list[dict[str, str]]:
    pick, capitals = seeded_ranks(N, 5)  # distinct: an ordered page has one answer
    rows = []
    for i in range(N):
        kind = [f"k{i}"]
        if i % 3:
            kind.append("alpha")  # ~267 rows
        if i % 5 < 3:
            kind.append("beta")  # 240 rows
        if pick.random() < 0.2:
            kind.append("gamma")  # ~80 rows, scattered: narrower than the chain's bound
        rows.append({"i": str(i), "name": f"ETAB {i} SAS", "kind": " ".join(kind),
                     "code": str(10 + i % 40),  # indexed by value (40 values in 400 rows)
                     "cat": pick.choice(["red", "blue", "green alpha", "black"]),  # indexed by value
                     "g": f"g{i % 3}", "capital": str(capitals[i])})
    return rows


ROWS = _rows()
GAMMA = sum("gamma" in r["kind"].split() for r in ROWS)

WHERES = [
    '"sas gamma"',  # a word in every row and a narrower one
    '"gamma beta"',  # two wide words
    '"alpha gamma"',  # "alpha" posted (kind) and held by a value of a field indexed by value (cat)
    '"sas 19*"',  # a prefix of posted words (names) and of values (code 19): the narrowest
    '"gamma 1*"',  # a prefix tested among the narrowest's rows, posted (names) and by value (codes)
    '"gamma k*"',  # a prefix of a word in every row, tested among the narrowest's rows
    '"gamma" and search(kind, "beta")',
    'search(kind, "betta gamma")',  # a fuzzy word ("betta": "beta") and a word
    '"sas gamma" or i < 5',
    '"sas gamma" and not "beta"',
    '"gamma beta" and capital >= 100',
    '"alpha beta"',  # narrowest wider than the chain's bound: the semi-joins
    '"gamma"',  # one wide match
    '"k5" OR "k17" OR ("k300" AND "sas")',  # resolved lists ORed: their union
    'not ("k5" OR "k17")',
    '("k5" OR "gamma") AND "sas"',  # one side wide: no union
]


@pytest.fixture(scope="module")
def chains(tmp_path_factory):
    folder = tmp_path_factory.mktemp("chains")
    path = semicolon_csv(folder / "chains.csv", ROWS)
    instance = published_instance(folder / "home", Published("chains", path, "Chains"))
    location, fields = current_version(instance, "chains")
    assert instance.store.has_index(location)
    yield instance, location, fields
    instance.store.close()


@pytest.fixture
def lowered(chains, monkeypatch):
    """The store with lowered thresholds (see the module's docstring; kept answers are keyed on
    them, so none of other thresholds is reused)."""
    instance, location, fields = chains
    monkeypatch.setattr(fulltext, "CHAIN_RESOLVE", CHAIN)
    monkeypatch.setattr(fulltext, "RESOLVE", 8)
    with resolving(instance.store, RESOLVED):
        yield instance, location, fields


def _queries(where: str) -> list[tuple[Query, bool]]:
    """Each shape asked of ``where`` whose answer is defined, and whether its rows come in order."""
    return [(Query(select="count(*) as n", where=[where]), True),
            *[(Query(select="i", where=[where], order_by=order, limit=6, offset=offset), True)
              for order in ("capital", "capital desc, i") for offset in (0, 9)],
            (Query(select="cat, count(*) as n", where=[where], group_by="cat"), False)]


@pytest.mark.parametrize("row_filter", [None, 'g = "g1"'], ids=["everything", "row-filter"])
@pytest.mark.parametrize("where", WHERES)
def test_a_chain_of_wide_matches_answers_what_the_scan_answers(lowered, where, row_filter):
    """Counts, ordered pages and groups are the scan's. Unordered pages have no defined order
    (a semi-join may yield rows in any): each holds rows of the answer, as many as its slice,
    and a page answered from a row-id list is the slice of the answer in row order (``i`` is
    the row's rank)."""
    instance, location, fields = lowered
    store = instance.store
    security = (Security(row_filter=row_filter),) if row_filter else ()
    with duckdb.connect(location, read_only=True) as con:
        for query, in_order in _queries(where):
            plan = compile_plan(query, fields, *security)
            indexed = [tuple(r.values()) for r in store.rows(location, store.prepare(location, plan.select))]
            scanned = con.execute(to_sql(plan.select)).fetchall()
            if not in_order:
                indexed, scanned = sorted(indexed), sorted(scanned)
            assert indexed == scanned, (where, query)
        everything = sorted(con.execute(to_sql(compile_plan(Query(select="i, name", where=[where], limit=N),
                                                            fields, *security).select)).fetchall())
        for offset in (0, 5, 60):
            prepared = store.prepare(location, compile_plan(Query(select="i, name", where=[where], limit=7, offset=offset),
                                                            fields, *security).select)
            page = [tuple(r.values()) for r in store.rows(location, prepared)]
            expected = everything[offset:offset + 7]
            if prepared.rowids is not None:  # from a row-id list: in row order
                assert page == expected, (where, offset)
            assert set(page) <= set(everything) and len(page) == len(expected), (where, offset)


def test_a_chain_of_wide_matches_is_answered_from_one_row_id_list(lowered):
    """The count of "sas gamma" ("sas" in every row, "gamma" in ~80: neither resolves at 10) is
    known when the query is bound, and its ordered page reads no postings: the chain is a list."""
    instance, location, fields = lowered
    store = instance.store
    assert RESOLVED < GAMMA <= CHAIN
    count = store.prepare(location, compile_plan(Query(select="count(*) as n", where=['"sas gamma"']), fields).select)
    assert count.known == ({"n": GAMMA},)
    page = store.prepare(location, compile_plan(Query(select="i", where=['"sas gamma"'], order_by="capital", limit=5),
                                                fields).select)
    assert "fulltext" not in page.sql and page.total == GAMMA, page.sql[:500]  # its rows sorted among the list's
    grouped = store.prepare(location, compile_plan(Query(select="cat, count(*) as n", where=['"sas gamma"'],
                                                         group_by="cat"), fields).select)
    assert "fulltext" not in grouped.sql and "unnest" in grouped.sql.lower(), grouped.sql[:500]  # a long list, hashed


def test_a_chain_whose_narrowest_member_is_too_wide_keeps_its_semi_joins(lowered, monkeypatch):
    instance, location, fields = lowered
    monkeypatch.setattr(fulltext, "CHAIN_RESOLVE", GAMMA - 1)
    page = instance.store.prepare(location, compile_plan(
        Query(select="i", where=['"sas gamma"'], order_by="capital", limit=5), fields).select)
    assert "fulltext" in page.sql


def test_an_or_of_resolved_matches_is_answered_from_their_union(lowered):
    """Each side of the OR resolved alone (a row each; "k300" AND "sas" a chain): the count is
    known when the query is bound and the page is read from the union's row ids, in row order
    (on 10 M rows, "paris" OR "lyon" was counted by a scan of every row: 0.8 s)."""
    instance, location, fields = lowered
    store = instance.store
    where = '"k5" OR "k17" OR ("k300" AND "sas")'
    count = store.prepare(location, compile_plan(Query(select="count(*) as n", where=[where]), fields).select)
    assert count.known == ({"n": 3},)
    page = store.prepare(location, compile_plan(Query(select="i", where=[where], limit=5), fields).select)
    assert page.rowids == (5, 17, 300) and page.total == 3
    assert [r["i"] for r in store.rows(location, page)] == [5, 17, 300]


@pytest.mark.parametrize("where", ['"gamma 1*"', '"gamma k*"'])
def test_a_prefix_tested_among_a_lists_rows_through_the_engine_answers_alike(lowered, where, monkeypatch):
    """A prefix with more postings than ``AMONG_POSTINGS`` (here every one) is tested among the
    narrowest member's rows by the engine's read of their postings, not in memory: same rows."""
    instance, location, fields = lowered
    monkeypatch.setattr(fulltext, "AMONG_POSTINGS", -10**9)
    store = instance.store
    store.close()  # forgets the answers kept by the tests before (reopened at the next call)
    with duckdb.connect(location, read_only=True) as con:
        for query, in_order in _queries(where):
            plan = compile_plan(query, fields)
            indexed = [tuple(r.values()) for r in store.rows(location, store.prepare(location, plan.select))]
            scanned = con.execute(to_sql(plan.select)).fetchall()
            assert (indexed if in_order else sorted(indexed)) == (scanned if in_order else sorted(scanned)), query
