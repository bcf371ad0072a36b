"""Facets counted in one pass (``facets.facets_values``): with a full-text search or another
costly filter, the flat facets of a call (plain fields, date and path trees with their refined
levels) are counted by one query of grouping sets. Each answer is checked against a plain-Python
count over the same rows, and each test checks that the pass ran (one query for the flat
facets, not one per facet)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.auth import services as auth
from portail.catalog import services
from tests.conftest import Published, published_instance, semicolon_csv

BASE = "/api/explore/v2.1/catalog/datasets/shops"
WORDS = ("kiwi", "mango", "pear")


def _rows() -> list[dict]:
    pick = random.Random(7)
    rows = []
    for i in range(600):
        day = date(2019, 1, 1) + timedelta(days=pick.randrange(3 * 365))
        rows.append({
            "name": f"{pick.choice(WORDS)} {pick.choice(WORDS)} shop{i}",
            "cat": pick.choice(["red", "blue", "green", "black", ""]),
            "n": str(pick.randrange(12)) if i % 17 else "",
            "x": pick.choice(["1.5", "2", "3.25", "-1"]),
            "d": day.isoformat() if i % 13 else "",
            "path": pick.choice(["fr/idf/paris", "fr/idf/evry", "fr/ara/lyon", "fr//ara/", "be/bxl", ""]),
            "tags": ",".join(pick.sample(["a", "b", "c", "d"], pick.randrange(3))),
            "zone": pick.choice(["pub", "pub", "priv"]),
            "t": (datetime(2020, 2, 27, tzinfo=timezone.utc) + timedelta(minutes=pick.randrange(60 * 24 * 5))).isoformat()
            if i % 11 else "",
        })
    return rows


ROWS = _rows()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("one_pass")
    path = semicolon_csv(folder / "shops.csv", ROWS)
    instance = published_instance(folder / "home", Published("shops", path, "Shops", {
        "path": {"hierarchical": ["/"]}, "tags": {"multivalued": [","]}}))
    yield instance, TestClient(create_app(instance))
    instance.store.close()


@pytest.fixture
def queries(setup, monkeypatch):
    """The SQL of every query the store runs during a test."""
    instance, _ = setup
    ran: list[str] = []
    original = type(instance.store).run

    def run(store, location, sql, params=None):
        ran.append(sql)
        return original(store, location, sql, params)
    monkeypatch.setattr(type(instance.store), "run", run)
    return ran


def _one_pass(ran: list[str]) -> int:
    return sum("GROUPING SETS" in sql for sql in ran)


def _text(value) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _typed(row: dict, name: str):
    value = row[name]
    if value == "":
        return None
    return {"n": int, "x": float}.get(name, str)(value)


def _expected(rows: list[dict], name: str, sort: str = "-count", limit: int = 100) -> list[tuple[str, int]]:
    """A flat facet's (value, count) pairs, ordered and limited as Opendatasoft does."""
    counts = Counter(_typed(r, name) for r in rows if _typed(r, name) is not None)
    if sort in ("-count", "count"):
        ordered = sorted(counts.items(), key=lambda item: ((-1 if sort == "-count" else 1) * item[1], item[0]))
    else:
        ordered = sorted(counts.items(), key=lambda item: item[0], reverse=sort.startswith("-"))
    return [(_text(v), n) for v, n in ordered[:limit]]


def _pairs(entries: list[dict]) -> list[tuple[str, int]]:
    return [(e["value"], e["count"]) for e in entries if e["state"] != "excluded"]


def _matching(word: str) -> list[dict]:
    """The rows a full-text search for a word prefix finds (only ``name`` holds these words)."""
    return [r for r in ROWS if any(w.startswith(word) for w in r["name"].split())]


def _facets(client, **params) -> dict[str, list[dict]]:
    response = client.get(f"{BASE}/facets", params=params)
    assert response.status_code == 200, response.text
    return {f["name"]: f["facets"] for f in response.json()["facets"]}


def test_search_with_several_facets_counts_as_one_query_per_facet(setup, queries):
    _, client = setup
    # a field asked twice is one facet, its first options (``facets.parse_facets``)
    facets = ['facet(name="cat", sort="alphanum", limit=2)', 'facet(name="n", sort="count", limit=3)',
              'facet(name="x", sort="-num")', "zone", "cat"]
    found = client.get(f"{BASE}/facets", params={"where": 'search("kiw")', "facet": facets}).json()["facets"]
    rows = _matching("kiw")
    assert 0 < len(rows) < len(ROWS)
    assert [_pairs(f["facets"]) for f in found] == [
        _expected(rows, "cat", "alphanum", 2), _expected(rows, "n", "count", 3), _expected(rows, "x", "-num"),
        _expected(rows, "zone")]
    assert _one_pass(queries) == 1 and len(queries) == 1


def test_v1_q_with_disjunctive_refinements_and_exclusions(setup, queries):
    _, client = setup
    params = [("dataset", "shops"), ("q", "mango"), ("rows", 0), ("facet", "cat"), ("facet", "n"), ("facet", "x"),
              ("facet", "tags"), ("refine.cat", "red"), ("refine.cat", "blue"), ("disjunctive.cat", "true"),
              ("exclude.x", "2")]
    body = client.get("/api/records/1.0/search/", params=params).json()
    groups = {g["name"]: [(e["name"], e["count"]) for e in g["facets"] if e["state"] != "excluded"]
              for g in body["facet_groups"]}
    searched = [r for r in _matching("mango") if r["x"] != "2"]
    refined = [r for r in searched if r["cat"] in ("red", "blue")]
    assert body["nhits"] == len(refined) > 0
    assert groups["cat"] == _expected(searched, "cat")  # disjunctive: its own refinements left out
    assert groups["n"] == _expected(refined, "n")
    assert groups["x"] == _expected(refined, "x")
    tags = Counter(t for r in refined for t in r["tags"].split(",") if t)
    assert sorted(groups["tags"]) == sorted(tags.items())
    states = {g["name"]: {e["name"]: e["state"] for e in g["facets"]} for g in body["facet_groups"]}
    assert states["cat"]["red"] == states["cat"]["blue"] == "refined" and states["cat"]["green"] == "displayed"
    assert states["x"]["2"] == "excluded"
    assert _one_pass(queries) == 1


def test_refined_date_and_path_trees_in_the_pass(setup, queries):
    _, client = setup
    found = _facets(client, where='search("pear")', facet=["d", "path", "cat"],
                    refine=["d:2020/03", "path:fr/idf"])
    # Neither facet is disjunctive: each counts under its own refinement too.
    rows = [r for r in _matching("pear") if r["d"][:7] == "2020-03" and r["path"].strip("/").startswith("fr/idf")]
    assert rows

    def tree(selected, key, *, under):  # entries of a date level: (value, count), ordered by -count then value
        counts = Counter(key(r) for r in selected)
        return [(f"{under}{v}", n) for v, n in sorted(counts.items(), key=lambda item: (-item[1], int(item[0])))]

    dated = rows
    years = found["d"]
    assert _pairs(years) == tree(dated, lambda r: r["d"][:4], under="")
    year = next(e for e in years if e["value"] == "2020")
    assert year["state"] == "refined"
    assert _pairs(year["facets"]) == tree([r for r in dated if r["d"][:4] == "2020"], lambda r: r["d"][5:7], under="2020/")
    month = next(e for e in year["facets"] if e["value"] == "2020/03")
    assert _pairs(month["facets"]) == tree([r for r in dated if r["d"][:7] == "2020-03"], lambda r: r["d"][8:10],
                                           under="2020/03/")
    assert all(e["state"] == "displayed" for e in month["facets"])
    segments = [r["path"].replace("//", "/").strip("/").split("/") for r in rows]
    top = found["path"]
    assert _pairs(top) == sorted(Counter(s[0] for s in segments).items(), key=lambda item: (-item[1], item[0]))
    fr = next(e for e in top if e["value"] == "fr")
    assert fr["state"] == "refined"
    assert _pairs(fr["facets"]) == sorted(Counter(f"fr/{s[1]}" for s in segments if s[0] == "fr" and len(s) > 1).items(),
                                          key=lambda item: (-item[1], item[0]))
    idf = next(e for e in fr["facets"] if e["value"] == "fr/idf")
    assert _pairs(idf["facets"]) == sorted(Counter(f"fr/idf/{s[2]}" for s in segments if s[:2] == ["fr", "idf"]).items(),
                                           key=lambda item: (-item[1], item[0]))
    assert _pairs(found["cat"]) == _expected(rows, "cat")
    assert _one_pass(queries) == 1 and len(queries) == 1  # every level of both trees in the pass


def test_datetime_levels_in_the_caller_zone(setup, queries):
    """A datetime's years, months and days are those of ``timezone``, in the pass too (the
    facet is disjunctive: its levels count every record, the other facet the refined day's)."""
    _, client = setup
    auckland = ZoneInfo("Pacific/Auckland")
    found = _facets(client, where='search("kiwi")', facet=['facet(name="t", disjunctive=true)', "cat"],
                    refine="t:2020/03/01", timezone="Pacific/Auckland")
    rows = [r for r in _matching("kiwi") if r["t"]]
    local = {id(r): datetime.fromisoformat(r["t"]).astimezone(auckland) for r in rows}
    day = [r for r in rows if local[id(r)].date() == date(2020, 3, 1)]
    assert day and len(day) < len(rows)

    def ordered(counts: Counter) -> list[tuple[str, int]]:  # calendar order, a date facet's default
        return sorted(counts.items())
    years = found["t"]
    assert _pairs(years) == ordered(Counter(str(local[id(r)].year) for r in rows))
    months = next(e for e in years if e["value"] == "2020")["facets"]
    assert _pairs(months) == ordered(Counter(f"2020/{local[id(r)].month:02d}" for r in rows if local[id(r)].year == 2020))
    days = next(e for e in months if e["value"] == "2020/03")["facets"]
    assert _pairs(days) == ordered(Counter(f"2020/03/{local[id(r)].day:02d}" for r in rows
                                           if (local[id(r)].year, local[id(r)].month) == (2020, 3)))
    assert len(days) > 1 and len(months) > 1
    assert [e["state"] for e in days if e["value"] == "2020/03/01"] == ["refined"]
    assert _pairs(found["cat"]) == _expected(day, "cat")
    assert _one_pass(queries) == 1 and len(queries) == 1


def test_row_security_applies_to_the_pass(setup, queries):
    instance, client = setup
    with instance.session() as s:
        auth.set_dataset_security(s, services.get_dataset(s, "shops"), record_filters={"*": 'zone = "pub"'})
    try:
        found = _facets(client, where=['search("pear")', "n >= 2"], facet=["cat", "zone", "n"], refine="cat:green")
        seen = [r for r in _matching("pear") if r["zone"] == "pub" and r["n"] and int(r["n"]) >= 2]
        refined = [r for r in seen if r["cat"] == "green"]
        assert _pairs(found["cat"]) == _expected(refined, "cat")
        assert _pairs(found["zone"]) == [("pub", len(refined))]
        assert _pairs(found["n"]) == _expected(refined, "n")
        assert _one_pass(queries) == 1
    finally:
        with instance.session() as s:
            auth.set_dataset_security(s, services.get_dataset(s, "shops"), record_filters={"*": None})


def test_cheap_filters_keep_one_query_per_facet(setup, queries):
    """Without a costly filter the pass would spare nothing: each facet is its own GROUP BY."""
    _, client = setup
    found = _facets(client, where="n >= 3", facet=["cat", "x"])
    rows = [r for r in ROWS if r["n"] and int(r["n"]) >= 3]
    assert _pairs(found["cat"]) == _expected(rows, "cat") and _pairs(found["x"]) == _expected(rows, "x")
    assert _one_pass(queries) == 0 and len(queries) == 2
