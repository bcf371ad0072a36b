"""Shapes of the text scans and multivalued sorts found slow on 2 M rows (bench/api.py's table,
2026-12-07): ``like`` scanned every row twice (a page and its count, 7.7 s for
``like "ETABLISSEMENT 99%"``) where the full-text index answers its words; the fold of every
value ran three replacements even on ASCII text; a word in every row was split into words
before the rare word's cheap test dropped the row; and order_by on a multivalued field made
each record's values distinct and filtered before taking one (2.3 s). Each shape is checked
with the answers it must keep (timings live in bench/)."""

from __future__ import annotations

import re

import duckdb
import pytest
from fastapi.testclient import TestClient
from sqlglot import exp

from portail.api import create_app
from portail.odsql import Query, compile_plan, to_sql
from portail.odsql.functions import text_match
from portail.store import fulltext
from tests.conftest import Published, current_version, published_instance, semicolon_csv

BASE = "/api/explore/v2.1/catalog/datasets/shapes/records"
ROWS = [
    {"name": "ETABLISSEMENT 99 SAS", "tags": "b,a"},
    {"name": "Établissement 199 SAS", "tags": "c"},
    {"name": "Cœur 99 sarl", "tags": "a,,d"},
    {"name": "etablissement-99", "tags": " , "},
    {"name": "Autre 98", "tags": ""},
    {"name": "STRASSE 99", "tags": "e, b"},
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shapes")
    path = semicolon_csv(folder / "shapes.csv", [{"i": str(i), **r} for i, r in enumerate(ROWS)])
    instance = published_instance(folder / "home", Published("shapes", path, "Shapes",
                                                             annotations={"tags": {"multivalued": [","]}}))
    location, fields = current_version(instance, "shapes")
    yield instance, location, fields, TestClient(create_app(instance))
    instance.store.close()


def _ids(client: TestClient, **params) -> list[int]:
    answer = client.get(BASE, params={"select": "i", "limit": 100, **params})
    assert answer.status_code == 200, answer.text
    return [r["i"] for r in answer.json()["results"]]


def test_like_on_a_field_is_answered_by_its_index_and_finds_the_same_rows(setup):
    instance, location, fields, client = setup
    assert instance.store.has_index(location)
    sql = instance.store.prepare(location, compile_plan(Query(where=['name like "etablissement 99"']), fields).select).sql
    assert "regexp" not in sql.lower()  # no row split into words: the index's rows
    assert sorted(_ids(client, where='name like "ETABLISSEMENT 99%"')) == [0, 3]
    assert sorted(_ids(client, where='name like "etab* 99"')) == [0, 3]
    assert sorted(_ids(client, where='name like "coeur"')) == [2]
    assert sorted(_ids(client, where='not name like "99"')) == [1, 4]
    assert sorted(_ids(client, where='lower(name) like "etablissement 99"')) == [0, 3]  # an expression: scanned
    assert _ids(client, where='name like "%"') == []  # no word, no match
    assert sorted(_ids(client, where='not name like "%"')) == list(range(len(ROWS)))


def test_folding_ascii_text_skips_the_replacements_and_folds_alike():
    """A value of ASCII only is lowered, nothing more; any other is folded in full."""
    texts = ["ETABLISSEMENT 99 SAS", "Cœur", "STRAẞE", "Æther", "Été", "a\r\nB", "", "ǅ", "İstanbul", "straße ÉÈ"]
    value = exp.column("v", quoted=True)
    sql = fulltext.folded(value).sql(dialect="duckdb")
    assert sql.upper().startswith("CASE WHEN STRLEN(")
    full = "replace(replace(replace(strip_accents(lower(v)), 'œ', 'oe'), 'æ', 'ae'), 'ß', 'ss')"
    with duckdb.connect() as con:
        con.execute("CREATE TABLE t (v VARCHAR)")
        con.executemany("INSERT INTO t VALUES (?)", [[t] for t in texts] + [[None]])
        assert con.execute(f"SELECT count(*) FROM t WHERE ({sql}) IS NOT DISTINCT FROM {full}").fetchone()[0] == len(texts) + 1
        assert [r[0] for r in con.execute(f"SELECT {sql} FROM t WHERE v = 'Cœur' OR v = 'STRAẞE'").fetchall()] == \
            ["coeur", "strasse"]


def test_text_match_tests_every_words_substring_before_splitting_any_row():
    """``like``'s scan of a word in every row and a rare one: the rare one's cheap test first."""
    match = text_match([exp.column("name", quoted=True)], "etablissement 99", "word")
    conjuncts = list(match.flatten())
    assert [c.sql(dialect="duckdb").count("REGEXP") for c in conjuncts] == [0, 0, 1, 1]


def test_a_scan_looks_for_an_exact_or_prefix_word_in_the_folded_text_first(setup):
    column = exp.column("name", quoted=True)
    for match in (fulltext.Match("99"), fulltext.Match("etab", "prefix")):
        first = fulltext.scan([column], match).this.flatten()
        assert next(first).sql(dialect="duckdb").upper().startswith("CONTAINS(CASE WHEN STRLEN(")
    instance, location, fields, client = setup
    with duckdb.connect(location, read_only=True) as con:  # no store: the compiled scan, no index
        for where, expected in [('search(name, "99")', [0, 2, 3, 5]), ('"etab*"', [0, 1, 3]), ('"strasse"', [5])]:
            sql = to_sql(compile_plan(Query(select="i", where=[where]), fields).select)
            assert sorted(r[0] for r in con.execute(sql).fetchall()) == expected, where


def test_a_multivalued_sort_takes_one_value_without_listing_them_distinct(setup):
    instance, location, fields, client = setup
    for order_by in ("tags", "tags desc"):
        sql = to_sql(compile_plan(Query(select="i", order_by=order_by), fields).select)
        assert "LIST_DISTINCT" not in sql.upper(), order_by
    held = {0: ["a", "b"], 1: ["c"], 2: ["a", "d"], 5: ["b", "e"]}  # 3 and 4 hold no value: last
    ascending = sorted(held, key=lambda i: (min(held[i]), i))
    descending = sorted(held, key=lambda i: (max(held[i]), -i), reverse=True)
    assert _ids(client, order_by="tags, i")[:4] == ascending
    assert _ids(client, order_by="tags desc, i")[:4] == descending
    assert set(_ids(client, order_by="tags desc, i")[4:]) == set(_ids(client, order_by="tags, i")[4:]) == {3, 4}
    answer = client.get(BASE, params={"select": "min(tags) as lo, max(tags) as hi"}).json()["results"]
    assert answer == [{"lo": "a", "hi": "e"}]
    blank = client.get(BASE, params={"select": "min(tags) as lo, max(tags) as hi", "where": "i >= 3 and i <= 4"})
    assert blank.json()["results"] == [{"lo": None, "hi": None}]


def test_a_multivalued_membership_looks_for_the_value_in_the_text_before_splitting_it(setup):
    instance, location, fields, client = setup
    for where in ('"a" in tags', 'tags = "a"'):
        sql = to_sql(compile_plan(Query(select="i", where=[where]), fields).select).upper()
        held = re.search(r"(?<![\w])CONTAINS\(", sql)  # the text's test, not LIST_CONTAINS
        assert held is not None and held.start() < sql.index("REGEXP_SPLIT_TO_ARRAY("), where
    holders = {"a": [0, 2], "b": [0, 5], "e": [5], "z": []}
    for value, ids in holders.items():
        assert sorted(_ids(client, where=f'"{value}" in tags')) == ids, value
        assert sorted(_ids(client, where=f'tags = "{value}"')) == ids, value
        assert sorted(_ids(client, refine=f"tags:{value}")) == ids, value
    assert sorted(_ids(client, where='tags != "a"')) == [1, 3, 5]  # 4 is null: a comparison with null is false
    assert sorted(_ids(client, exclude="tags:b")) == [1, 2, 3, 4]
    assert sorted(_ids(client, where='tags = "b, a"')) == []  # the joined text is no value
    facets = client.get(BASE.replace("/records", "/facets"), params=[("facet", "tags"), ("refine", "tags:a"),
                                                                     ("exclude", "tags:d")]).json()
    assert {v["name"]: v.get("count") for v in facets["facets"][0]["facets"]} == {"a": 1, "b": 1, "d": None}


def test_an_ordered_page_of_a_resolved_search_is_sorted_on_its_row_ids_then_read_from_the_page_file(tmp_path):
    """The ordered page of a search asked every output of the whole table with the row-id list
    (0.3-0.6 s on 2 M rows); the page's row ids are now sorted on the order's columns alone."""
    rows = [{"i": str(i), "name": f"ETABLISSEMENT {i} {'RARE' if i % 7 == 0 else 'SAS'}", "capital": str((i * 37) % 11)}
            for i in range(300)]
    instance = published_instance(tmp_path / "home", Published("paged", semicolon_csv(tmp_path / "p.csv", rows)))
    try:
        location, fields = current_version(instance, "paged")
        rare = [r for r in rows if "RARE" in r["name"]]
        client = TestClient(create_app(instance))
        for order_by, key, offset in [("capital desc, i", lambda r: (-int(r["capital"]), int(r["i"])), 3),
                                      ("name, i", lambda r: (r["name"], int(r["i"])), 0),
                                      ("lower(name) desc, i", lambda r: (r["name"].lower(), -int(r["i"])), 40)]:
            expected = [int(r["i"]) for r in sorted(rare, key=key, reverse="lower" in order_by)][offset:offset + 5]
            plan = compile_plan(Query(select="i", where=['"rare"'], order_by=order_by, limit=5, offset=offset), fields)
            prepared = instance.store.prepare(location, plan.select)
            assert prepared.total == len(rare) and prepared.rowids is not None, order_by
            assert [r["i"] for r in instance.store.rows(location, prepared)] == expected, order_by
            answer = client.get("/api/explore/v2.1/catalog/datasets/paged/records",
                                params={"select": "i", "where": '"rare"', "order_by": order_by, "limit": 5, "offset": offset})
            assert [r["i"] for r in answer.json()["results"]] == expected and answer.json()["total_count"] == len(rare)
    finally:
        instance.store.close()
