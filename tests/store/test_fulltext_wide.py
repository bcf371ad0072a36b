"""Full-text matches too wide to resolve to a row-id list (``fulltext._wide_form``): a word in
most rows, in long runs of them, is written as the span of its rows less the rows missing in
it; scattered ones keep the semi-join over the postings. Every shape that is not a count or an
unordered page (group_by, facets, ordered pages, exports, v1 search) is checked against a
plain-Python computation over the rows the test generated, for words of each kind: in every
row (one span), in most rows with single missing rows and blocks missing (span less gaps), in
a prefix of the rows, in alternating blocks (too many runs: semi-join) and in half the rows
at random (semi-join)."""

from __future__ import annotations

import csv
import functools
import io
import re
from collections import Counter

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.odsql import Query, compile_plan
from portail.store import fulltext
from tests.conftest import Published, current_version, published_instance, seeded_ranks, semicolon_csv

N = 50_000
BASE = "/api/explore/v2.1/catalog/datasets/wide"
#: Rows without "alpha": single rows, and two blocks (gaps of several rows).
SINGLES = set(range(7, N, 997))
BLOCKS = set(range(10_000, 12_000)) | set(range(30_000, 30_500))


def _rows() -> list[dict]:
    pick, capitals = seeded_ranks(N, 11)  # distinct: an ordered page has one answer
    rows = []
    for i in range(N):
        kind = [f"k{i}"]
        if i not in SINGLES and i not in BLOCKS:
            kind.append("alpha")
        if (i // 500) % 2 == 0:
            kind.append("beta")  # 50 runs: too many for constants
        if pick.random() < 0.5:
            kind.append("gamma")  # scattered
        if i < 40_000:
            kind.append("delta")  # one run, not the whole table
        rows.append({
            "i": str(i),
            "name": f"ETABLISSEMENT {i} SAS",
            "kind": " ".join(kind),
            "cat": pick.choice(["red", "blue", "green alpha", "black"]),  # indexed by value
            "size": pick.choice(["s", "m", "l"]),
            "capital": str(capitals[i]),
        })
    return rows


ROWS = _rows()


@functools.lru_cache(maxsize=None)
def _words(text: str) -> frozenset[str]:
    """Kept per text: each of the ~40 tests asks it of the 50,000 rows' fields again."""
    return frozenset(re.findall(r"\w+", text.lower()))  # "_" a word character, as the index's


def holds(row: dict, word: str, fields: tuple[str, ...] = ("name", "kind", "cat", "size")) -> bool:
    """A bare string's word in some text field of the row (the whole word)."""
    return any(word in _words(row[f]) for f in fields)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wide")
    path = semicolon_csv(folder / "wide.csv", ROWS)
    instance = published_instance(folder / "home", Published("wide", path, "Wide"))
    yield instance, TestClient(create_app(instance))
    instance.store.close()


#: (where, the rows it keeps, whether its match is written as constants)
CASES = [
    ('"sas"', lambda r: holds(r, "sas"), True),
    ('search(kind, "alpha")', lambda r: "alpha" in _words(r["kind"]), True),
    ('"delta"', lambda r: holds(r, "delta"), True),
    ('"alpha"', lambda r: holds(r, "alpha"), None),  # kind's rows and cat's values: whichever form
    ('"beta"', lambda r: holds(r, "beta"), False),
    ('"gamma"', lambda r: holds(r, "gamma"), False),
    ('"alpha" and size = "m"', lambda r: holds(r, "alpha") and r["size"] == "m", None),
    ('search(kind, "alpha") and capital >= 20000', lambda r: "alpha" in _words(r["kind"]) and int(r["capital"]) >= 20000, True),
    ('not search(kind, "alpha")', lambda r: "alpha" not in _words(r["kind"]), True),
    ('"sas delta"', lambda r: holds(r, "sas") and holds(r, "delta"), True),  # two wide words, each as constants
    ('"delta" or search(kind, "gamma")', lambda r: holds(r, "delta") or "gamma" in _words(r["kind"]), None),
]
IDS = ["every-row", "runs-with-gaps", "leading-run", "posted-and-values", "blocks", "scattered", "and-value", "and-range",
       "not", "two-words", "or-scattered"]


def _fields(instance):
    return current_version(instance, "wide")


@pytest.mark.parametrize("where, keep, constants", CASES, ids=IDS)
def test_group_by_counts_the_rows_python_finds(setup, where, keep, constants):
    instance, client = setup
    expected = Counter(r["cat"] for r in ROWS if keep(r))
    assert sum(expected.values()) > fulltext.RESOLVE  # (its match too wide to resolve)
    answer = client.get(f"{BASE}/records", params={"where": where, "group_by": "cat", "select": "cat, count(*) as n",
                                                   "limit": 100})
    assert answer.status_code == 200, answer.text
    assert {g["cat"]: g["n"] for g in answer.json()["results"]} == dict(expected)
    location, fields = _fields(instance)
    plan = compile_plan(Query(select="cat, count(*) as n", where=[where], group_by="cat"), fields)
    sql = instance.store.prepare(location, plan.select).sql
    assert "regexp_split_to_array" not in sql.lower()  # the index answers, never the scan
    if constants is not None:  # the match as constants, or the semi-join over its postings
        assert ("main.fulltext " not in sql and '"rowid" BETWEEN' in sql) is constants, sql[:2000]


@pytest.mark.parametrize("where, keep, constants", CASES, ids=IDS)
def test_facets_count_the_rows_python_finds(setup, where, keep, constants):
    _, client = setup
    kept = [r for r in ROWS if keep(r)]
    answer = client.get(f"{BASE}/facets", params={"where": where, "facet": ["cat", "size"]})
    assert answer.status_code == 200, answer.text
    found = {f["name"]: {v["value"]: v["count"] for v in f["facets"]} for f in answer.json()["facets"]}
    assert found == {"cat": dict(Counter(r["cat"] for r in kept)), "size": dict(Counter(r["size"] for r in kept))}


@pytest.mark.parametrize("where, keep, constants", CASES, ids=IDS)
def test_ordered_pages_hold_the_rows_python_finds(setup, where, keep, constants):
    _, client = setup
    ordered = sorted((r for r in ROWS if keep(r)), key=lambda r: -int(r["capital"]))
    for offset in (0, 37, 9_980):  # offset + limit stays within 10,000
        answer = client.get(f"{BASE}/records", params={"where": where, "order_by": "capital desc", "limit": 20,
                                                       "offset": offset, "select": "i, capital"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["total_count"] == len(ordered)
        assert [r["i"] for r in body["results"]] == [int(r["i"]) for r in ordered[offset:offset + 20]]


@pytest.mark.parametrize("where, keep, constants", CASES, ids=IDS)
def test_exports_hold_exactly_the_rows_python_finds(setup, where, keep, constants):
    _, client = setup
    answer = client.get(f"{BASE}/exports/csv", params={"where": where, "select": "i"})
    assert answer.status_code == 200, answer.text
    exported = sorted(int(row["i"]) for row in csv.DictReader(io.StringIO(answer.text.lstrip("\ufeff")), delimiter=";"))
    assert exported == [int(r["i"]) for r in ROWS if keep(r)]


@pytest.mark.parametrize("word", ["sas", "alpha", "gamma"])
def test_v1_search_with_facets_counts_the_rows_python_finds(setup, word):
    """v1's ``q``: the last word a prefix (no other word of the data starts with these)."""
    _, client = setup
    kept = [r for r in ROWS if any(w.startswith(word) for f in ("name", "kind", "cat", "size") for w in _words(r[f]))]
    answer = client.get("/api/records/1.0/search/", params={"dataset": "wide", "q": word, "facet": ["cat", "size"],
                                                           "rows": 3, "sort": "capital"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["nhits"] == len(kept)
    groups = {g["name"]: {v["name"]: v["count"] for v in g["facets"]} for g in body["facet_groups"]}
    assert groups == {"cat": dict(Counter(r["cat"] for r in kept)), "size": dict(Counter(r["size"] for r in kept))}
    top = sorted(kept, key=lambda r: -int(r["capital"]))[:3]
    assert [int(r["fields"]["i"]) for r in body["records"]] == [int(r["i"]) for r in top]


def test_wide_form_lists_exactly_the_rows():
    """The constants' rows, evaluated by the engine, are the row ids they were built from."""
    import duckdb
    import numpy as np

    con = duckdb.connect()
    con.execute("CREATE TABLE records AS SELECT range AS x FROM range(5000)")
    pick = np.random.default_rng(3)
    cases = [np.arange(5000), np.arange(17, 4000), np.setdiff1d(np.arange(5000), [0, 4999, 2500, 2502, 2503]),
             np.setdiff1d(np.arange(3, 4990), np.r_[100:300, 301, 303, 1000:1001, 4000:4100]), np.array([42]),
             np.array([], dtype=np.int64)]
    cases.append(np.flatnonzero(pick.random(5000) < 0.99))  # ~50 single rows missing
    for ordered in cases:
        form = fulltext._wide_form(ordered, "records")
        assert form is not None
        found = con.execute(f"SELECT rowid FROM records WHERE {form.sql(dialect='duckdb')} ORDER BY rowid").fetchall()
        assert [r for (r,) in found] == ordered.tolist()
    assert fulltext._wide_form(np.arange(0, 5000, 2), "records") is None  # scattered: the semi-join
    runs = np.concatenate([np.arange(s, s + 50) for s in range(0, 5000, 100)])
    assert fulltext._wide_form(runs, "records") is None  # too many gaps
