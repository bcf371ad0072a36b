"""Review of two changes, pinned against the plain scan: codes of a few hundred rows a value are
keyed (``keys.ROWS_PER_VALUE`` 512, was 64), and an AND chain of full-text matches none of which
resolves is read from its narrowest member's rows (``fulltext._narrowest``, ``CHAIN_RESOLVE``).

One generated file holds both: ``cp`` a one-word code of 105-634 rows a value (keyed only since
512; its full-text postings are its key rows), ``dep`` a code that is not one folded word ("2A":
keyed and indexed by value), ``tags`` a multivalued field, ``kind`` words of which "alpha" and
"gamma" are wide. Thresholds are lowered so that 1,200 rows exercise what millions do: a match
or a key condition resolves at 130 rows (``cp = "75001"``, ~630 rows, overflows the lookup and is
left to the scan), a chain becomes a list at 300 rows, and lists past 8 ids are written as an
unnested list. Every answer is compared with the same compiled SQL run on a plain connection
(``odsql.to_sql``), through the store with its postings file and through a store reading a copy
without it (the engine path), with a caller's row filter and with a hidden field."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from portail.api import explore_service as es
from portail.odsql import Query, Security, compile_plan, to_sql
from portail.store import DuckDBStore, fulltext, keys
from portail.store.duckdb_store import index_path
from tests.conftest import Published, current_version, published_instance, seeded_ranks, semicolon_csv
from tests.store.resolving import resolving

N = 1_200
RESOLVED = 130
CHAIN = 300
#: "75001" in half the rows: an average under 512 rows a value, one value past the lookup's limit.
CODES = ["75001"] * 5 + ["75002", "75003", "75004", "75005", "75009"]


def _rows() -> list[dict[str, str]]:
    pick, capitals = seeded_ranks(N, 7)  # distinct: an ordered page has one answer
    rows = []
    for i in range(N):
        kind = [f"k{i}"]
        if i % 3:
            kind.append("alpha")  # 800 rows
        if pick.random() < 0.15:
            kind.append("gamma")  # ~180 rows: past the resolve limit, under the chain's
        rows.append({"i": str(i), "name": f"ETAB {i} SAS", "kind": " ".join(kind), "cp": pick.choice(CODES),
                     "dep": pick.choice(["2A", "2B", "13"]), "tags": pick.choice(["x1", "x2", "x1,x2", "x3"]),
                     "g": f"g{i % 3}", "capital": str(capitals[i])})
    return rows


ROWS = _rows()

WHERES = [
    'cp = "75002"',  # a key resolved to its rows
    'cp = "75001"',  # a key past the lookup's limit: the scan answers
    'cp in ("75002", "75009")',
    'cp in ("75002", "75001")',
    'not cp = "75009"',
    '"75002"',  # full text on a one-word key: its key rows are its postings
    '"7500*"',
    'startswith(cp, "7500")',
    'cp like "7500%"',
    '"2a"',  # full text on a keyed field indexed by value
    'dep = "2A" and "gamma"',
    '"x1" in tags and "gamma"',
    '"alpha gamma"',  # a chain of two wide words
    '"gamma 7500*"',  # a wide word and a wide prefix of key values
    '"alpha 75001"',  # a chain whose narrowest member is too wide for a list: its semi-joins
    '"alpha gamma" and cp = "75002"',  # a chain with a resolved key
    '"alpha gamma" and cp = "75001"',  # a chain with a key left to the scan
    '"alpha gamma" and not cp = "75002"',
    'cp = "75009" or "gamma"',
    'not ("alpha" and "gamma")',
    '"alpha" and ("gamma" or "k5")',
    '"alpha gamma" or "alpha 75002"',  # two chains
    'search(kind, "alpah gamma")',  # a fuzzy word
    '"k1*" and "gamma"',  # a prefix tested among the narrowest member's rows
    'suggest("alp gam")',
]

SECURITY = {"everything": (), "row-filter": (Security(row_filter='g = "g1"'),),
            "hidden-code": (Security(hidden_fields=frozenset({"cp"})),)}


@pytest.fixture(scope="module")
def codes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("review")
    path = semicolon_csv(folder / "codes.csv", ROWS)
    instance = published_instance(folder / "home", Published("codes", path, "Codes",
                                                             annotations={"tags": {"multivalued": [","]}}))
    location, fields = current_version(instance, "codes")
    copied = folder / "old" / Path(location).name  # the version and its index, no postings file
    copied.parent.mkdir()
    shutil.copy(location, copied)
    shutil.copy(index_path(location), index_path(str(copied)))
    engine = DuckDBStore(folder / "data")
    yield instance, location, fields, engine, str(copied)
    engine.close()
    instance.store.close()


@pytest.fixture
def lowered(codes, monkeypatch):
    instance, _, _, engine, _ = codes
    monkeypatch.setattr(fulltext, "CHAIN_RESOLVE", CHAIN)
    monkeypatch.setattr(fulltext, "RESOLVE", 8)
    with resolving(instance.store, RESOLVED), resolving(engine, RESOLVED):
        yield codes


def test_codes_of_a_few_hundred_rows_a_value_are_keyed_and_one_word_codes_posted_from_their_keys(codes):
    """``cp`` (105-124 rows a value, 634 for one) and ``dep`` (~400) are keys at 512 rows a value;
    ``cp``'s full-text postings are its key rows, ``dep`` ("2A": not one folded word) is indexed
    by value. Pins what the other tests of this file exercise."""
    _, location, _, _, _ = codes
    with duckdb.connect(str(index_path(location)), read_only=True) as con:
        catalog = con.execute("SELECT current_catalog()").fetchone()[0]
        keyed = keys.read_keys(con, catalog)
        posted = {f for (f,) in con.execute(f"SELECT field FROM {fulltext.FIELDS}").fetchall()}
        by_value = {f for (f,) in con.execute(f"SELECT DISTINCT field FROM {fulltext.VALUES}").fetchall()}
    assert {"cp", "dep"} <= keyed and "tags" not in keyed
    assert "cp" in posted and "cp" not in by_value and "dep" in by_value


def _answers(store, location: str, fields, where: str, security) -> list[list[tuple]]:
    """A count, ordered pages at two offsets, every row (sorted) and a group_by, as the store
    answers them."""
    out = []
    for query, in_order in _shapes(where):
        plan = compile_plan(query, fields, *security)
        rows = [tuple(r.values()) for r in store.rows(location, store.prepare(location, plan.select))]
        out.append(rows if in_order else sorted(rows))
    return out


def _shapes(where: str) -> list[tuple[Query, bool]]:
    return [(Query(select="count(*) as n", where=[where]), True),
            (Query(select="i", where=[where], order_by="capital", limit=6), True),
            (Query(select="i", where=[where], order_by="capital desc", limit=6, offset=9), True),
            (Query(select="i, name", where=[where], limit=N), False),
            (Query(select="dep, count(*) as n", where=[where], group_by="dep"), False)]


@pytest.mark.parametrize("where, security", [(w, s) for w in WHERES for s in SECURITY
                                              if not (s == "hidden-code" and "cp" in w)])
def test_keys_and_chains_answer_what_the_scan_answers_with_and_without_postings(lowered, where, security):
    """Through the index (its postings file, or the engine without it) as through the scan (a
    caller who cannot see ``cp`` names it nowhere: its full text then skips it)."""
    instance, location, fields, engine, copied = lowered
    caller = SECURITY[security]
    plans = [(compile_plan(q, fields, *caller), in_order) for q, in_order in _shapes(where)]
    with duckdb.connect(location, read_only=True) as con:
        scanned = [[*map(tuple, con.execute(to_sql(p.select)).fetchall())] for p, _ in plans]
    scanned = [rows if in_order else sorted(rows) for rows, (_, in_order) in zip(scanned, plans)]
    assert _answers(instance.store, location, fields, where, caller) == scanned, where
    assert _answers(engine, copied, fields, where, caller) == scanned, where


def test_a_chain_of_wide_matches_with_a_key_is_one_row_id_list(lowered):
    """"alpha gamma" (neither resolves at 130 rows: "gamma" is in 157) is read from "gamma"'s
    rows; with a resolved key ANDed, from the key's. Both counts are known when bound, and equal
    the scan's."""
    instance, location, fields, _, _ = lowered
    store = instance.store
    with duckdb.connect(location, read_only=True) as con:
        for where in ('"alpha gamma"', '"alpha gamma" and cp = "75002"'):
            plan = compile_plan(Query(select="count(*) as n", where=[where]), fields)
            expected = con.execute(to_sql(plan.select)).fetchone()[0]
            assert store.prepare(location, plan.select).known == ({"n": expected},), where


def _calls(where: str, text: str) -> list[dict]:
    """A where with a resolved key refined, a key past the lookup's limit excluded or refined,
    and the same words as v1's ``q`` (``search()``: earlier words fuzzy, the last a prefix)."""
    return [{"where": [where], "refine": ["cp:75002"]},
            {"where": [where], "refine": ["dep:2A"], "exclude": ["cp:75001"]},
            {"where": [where], "refine": ["cp:75001"]}, {"text": text}, {"text": text, "refine": ["cp:75002"]}]


@pytest.mark.parametrize("where, text", [('"alpha gamma"', "alpha gamma"), ('"gamma 7500*"', "gamma 7500"),
                                         ('"alpha 75001"', "alpha 75001"),
                                         ('search(kind, "alpah gamma")', "alpah gamma")])
def test_refinements_facets_and_cursors_over_chains_answer_as_the_scan(lowered, where, text):
    """Records (refine, exclude, v1's ``q``), facets with a refinement, exports and a cursor's
    walk: the same with the store's lowered thresholds as with its resolving off (the scan)."""
    instance, _, _, _, _ = lowered
    store = instance.store
    dataset = es.get_visible_dataset(instance, "public", "codes")

    def answers() -> list:
        out = []
        for call in _calls(where, text):
            page = es.query_records(instance, dataset, limit=100, order_by="capital", **call)
            out.append((page.total_count, [r["i"] for r in page.results]))
            out.append(es.dataset_facets(instance, dataset, facet=["cp", "dep", "tags"],
                                         **{k: v for k, v in call.items() if k != "text"}))
            _, _, batches, _ = es.export_batches(instance, dataset, "csv", select="i, cp", order_by="i", **call)
            out.append([row for batch in batches for row in batch.to_pylist()])
        seen, after = [], ""
        for _ in range(N):
            page = es.query_records(instance, dataset, where=[where], limit=37, after=after)
            seen += [r["i"] for r in page.results]
            if not page.next_cursor:
                break
            after = page.next_cursor
        return [*out, sorted(seen), page.total_count]

    indexed = answers()
    with resolving(store, 0):
        assert indexed == answers()


def test_a_key_value_past_the_lookup_at_the_default_thresholds_is_scanned(tmp_path):
    """At the store's own thresholds: a code of ~4 rows a value on average (keyed) of which one
    value is in 3,001 rows, past what a lookup lists (``fulltext.RESOLVE``, 2,048), and a code of
    ~400 rows a value (keyed since 512). Their conditions and their words count what the scan
    counts, the common value's from the scan (its lookup overflows)."""
    rows = [(i, "00000" if i % 2 else f"{i:05d}", f"d{i % 15}") for i in range(6_000)]
    path = semicolon_csv(tmp_path / "skewed.csv", [{"i": str(i), "code": c, "dep": d} for i, c, d in rows])
    instance = published_instance(tmp_path / "home", Published("skewed", path))
    try:
        location, fields = current_version(instance, "skewed")
        assert instance.store.resolved_fields(location) >= {"code", "dep"}
        expected = {'code = "00000"': 3_001, 'code = "00002"': 1, 'code in ("00000", "00002")': 3_002,
                    '"00000"': 3_001, '"0000*"': 3_005, 'dep = "d3"': 400, '"d3" and code = "00000"': 200,
                    '"d3 0000*"': 200}  # "00000": the odd rows and row 0; "0000*": rows 2, 4, 6, 8 too
        with duckdb.connect(location, read_only=True) as con:
            for where, n in expected.items():
                plan = compile_plan(Query(select="count(*) as n", where=[where]), fields)
                scanned = con.execute(to_sql(plan.select)).fetchone()[0]
                indexed = instance.store.rows(location, instance.store.prepare(location, plan.select))[0]["n"]
                assert indexed == scanned == n, where
    finally:
        instance.store.close()
