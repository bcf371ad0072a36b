"""order_by: directions, nulls last both ways, several keys, aliases, expressions, the v1
``-field`` habit, aggregates first, random(seed), and paging through a sorted result;
compared with Python's ``sorted`` over the file (on the sort keys, so ties cannot flake)."""

from __future__ import annotations

from datetime import date

import pytest

from tests.conformance.api import get

AIN = ('libelle_du_departement = "Ain"', lambda r: r["libelle_du_departement"] == "Ain")
BIG = ("population_2021 > 20000", lambda r: r["population_2021"] > 20000)


def nulls_last(value, descending=False):
    """A sort key putting None last whatever the direction."""
    if value is None:
        return (1, 0)
    return (0, _neg(value) if descending else value)


def _neg(value):
    if isinstance(value, (int, float)):
        return -value
    if isinstance(value, date):
        return -value.toordinal()
    return tuple(-ord(c) for c in value) + (1,)  # reversed text order (a prefix sorts after)


def iso(value):
    return value.isoformat() if isinstance(value, date) else value


# (dataset, rows, order_by, output fields, python sort key)
CASES = [
    ("communes", BIG, "population_2021", ["population_2021"], lambda r: r["population_2021"]),
    ("communes", BIG, "population_2021 desc", ["population_2021"], lambda r: -r["population_2021"]),
    ("communes", BIG, "population_2021 DESC", ["population_2021"], lambda r: -r["population_2021"]),
    ("communes", BIG, "-population_2021", ["population_2021"], lambda r: -r["population_2021"]),
    ("communes", BIG, "population_2021 ASC", ["population_2021"], lambda r: r["population_2021"]),
    ("communes", BIG, "commune", ["commune"], lambda r: r["commune"]),
    ("communes", BIG, "commune desc", ["commune"], lambda r: _neg(r["commune"])),
    ("communes", BIG, "insee_dep, population_2021 desc", ["insee_dep", "population_2021"],
     lambda r: (nulls_last(r["insee_dep"]), -r["population_2021"])),
    ("communes", BIG, "length(commune) desc, commune", ["commune"], lambda r: (-len(r["commune"]), r["commune"])),
    ("communes", BIG, "superficie_km2 desc", ["superficie_km2"], lambda r: nulls_last(r["superficie_km2"], True)),
    ("communes", BIG, "population_2021 / superficie_km2 desc", ["commune"],
     lambda r: nulls_last(r["population_2021"] / r["superficie_km2"] if r["superficie_km2"] else None, True)),
    ("communes", BIG, "lower(commune) desc", ["commune"], lambda r: _neg(r["commune"].lower())),
    ("elus", AIN, "libelle_de_la_fonction", ["libelle_de_la_fonction"], lambda r: nulls_last(r["libelle_de_la_fonction"])),
    ("elus", AIN, "libelle_de_la_fonction desc", ["libelle_de_la_fonction"],
     lambda r: nulls_last(r["libelle_de_la_fonction"], True)),
    ("elus", AIN, "date_de_debut_de_la_fonction", ["date_de_debut_de_la_fonction"],
     lambda r: nulls_last(r["date_de_debut_de_la_fonction"])),
    ("elus", AIN, "date_de_debut_de_la_fonction desc", ["date_de_debut_de_la_fonction"],
     lambda r: nulls_last(r["date_de_debut_de_la_fonction"], True)),
    ("elus", AIN, "date_de_naissance desc", ["date_de_naissance"], lambda r: -r["date_de_naissance"].toordinal()),
    ("elus", AIN, "code_sexe, date_de_naissance", ["code_sexe", "date_de_naissance"],
     lambda r: (r["code_sexe"], r["date_de_naissance"])),
    ("elus", AIN, "year(date_de_naissance) desc, nom_de_l_elu", ["nom_de_l_elu"],
     lambda r: (-r["date_de_naissance"].year, r["nom_de_l_elu"])),
    ("decp", (None, lambda r: True), "montant desc", ["montant"], lambda r: nulls_last(r["montant"], True)),
    ("decp", (None, lambda r: True), "montant", ["montant"], lambda r: nulls_last(r["montant"])),
    ("decp", (None, lambda r: True), "datenotification desc, id", ["datenotification", "id"],
     lambda r: (nulls_last(r["datenotification"], True), r["id"])),
]


def _ids(c):
    return f"{c[0]}: {c[1][0] or 'all'} order_by {c[2]}"


@pytest.mark.parametrize(("slug", "rows", "order_by", "fields", "key"), [pytest.param(*c, id=_ids(c)) for c in CASES])
def test_order_by(portal, source, slug, rows, order_by, fields, key):
    where, predicate = rows
    params = {"where": where} if where else {}
    chosen = sorted((r for r in source(slug) if predicate(r)), key=key)
    body = get(portal, slug, order_by=order_by, select=",".join(fields), limit=100, **params)
    assert [[r[f] for f in fields] for r in body["results"]] == [[iso(r[f]) for f in fields] for r in chosen[:100]]
    second = get(portal, slug, order_by=order_by, select=",".join(fields), limit=20, offset=30, **params)
    assert [[r[f] for f in fields] for r in second["results"]] == [[iso(r[f]) for f in fields] for r in chosen[30:50]]


def test_order_by_alias(portal, source):
    body = get(portal, "communes", select="commune, population_2021 * 2 as d", order_by="d desc", limit=5)
    expected = sorted((2 * r["population_2021"] for r in source("communes")), reverse=True)[:5]
    assert [r["d"] for r in body["results"]] == expected


GROUPED = [  # (dataset, params, python: rows -> expected list of results in order)
    ("communes", {"select": "insee_dep, count(*) as n", "group_by": "insee_dep", "order_by": "count(*) desc, insee_dep", "limit": 5},
     lambda rows: _top(rows, "insee_dep", lambda g: (-len(g[1]), g[0]), lambda k, g: {"insee_dep": k, "n": len(g)}, 5)),
    ("communes", {"select": "insee_reg, sum(population_2021) as p", "group_by": "insee_reg", "order_by": "p desc", "limit": 3},
     lambda rows: _top(rows, "insee_reg", lambda g: -sum(r["population_2021"] for r in g[1]),
                       lambda k, g: {"insee_reg": k, "p": sum(r["population_2021"] for r in g)}, 3)),
    ("communes", {"select": "insee_reg, count(*) as n", "group_by": "insee_reg", "order_by": "insee_reg desc", "limit": 100},
     lambda rows: _top(rows, "insee_reg", lambda g: nulls_last(g[0], True), lambda k, g: {"insee_reg": k, "n": len(g)}, 100)),
    ("communes", {"select": "insee_reg, count(*) as n", "group_by": "insee_reg", "limit": 100},
     # no order_by: by key, the null group first, as live Opendatasoft portals answer
     lambda rows: _top(rows, "insee_reg", lambda g: (g[0] is not None, g[0] or ""), lambda k, g: {"insee_reg": k, "n": len(g)}, 100)),
    ("elus", {"select": "code_sexe, avg(year(date_de_naissance)) as a", "group_by": "code_sexe",
              "order_by": "avg(year(date_de_naissance)) desc"},
     lambda rows: _top(rows, "code_sexe", lambda g: -sum(r["date_de_naissance"].year for r in g[1]) / len(g[1]),
                       lambda k, g: {"code_sexe": k, "a": round(sum(r["date_de_naissance"].year for r in g) / len(g), 6)}, 10)),
    ("logements", {"select": "bs, count(*) as n", "group_by": "bs", "order_by": "count(*) desc, bs", "limit": 4},
     lambda rows: _top(rows, "bs", lambda g: (-len(g[1]), g[0]), lambda k, g: {"bs": k, "n": len(g)}, 4)),
]


def _top(rows, field, order, shape, n):
    groups: dict = {}
    for r in rows:
        groups.setdefault(r[field], []).append(r)
    return [shape(k, g) for k, g in sorted(groups.items(), key=order)[:n]]


@pytest.mark.parametrize(("slug", "params", "expected"),
                         [pytest.param(*c, id=f"{c[0]}: " + " ".join(f"{k}={v}" for k, v in c[1].items())) for c in GROUPED])
def test_order_groups(portal, source, slug, params, expected):
    body = get(portal, slug, **params)
    got = [{k: round(v, 6) if isinstance(v, float) else v for k, v in r.items()} for r in body["results"]]
    assert got == expected(source(slug))


def test_random_seed_is_a_stable_shuffle(portal, source):
    params = {"where": 'insee_dep = "01"', "select": "insee_com", "limit": 100}
    first = get(portal, "communes", order_by="random(7)", **params)["results"]
    again = get(portal, "communes", order_by="random(7)", **params)["results"]
    other = get(portal, "communes", order_by="random(8)", **params)["results"]
    plain = get(portal, "communes", order_by="insee_com", **params)["results"]
    assert first == again and first != other and first != plain
    total = sum(1 for r in source("communes") if r["insee_dep"] == "01")
    every = [r["insee_com"] for offset in range(0, total, 100)
             for r in get(portal, "communes", order_by="random(7)", offset=offset, **params)["results"]]
    assert sorted(every) == sorted(r["insee_com"] for r in source("communes") if r["insee_dep"] == "01")


@pytest.mark.parametrize("order_by", ["insee_dep", "insee_dep desc", "length(insee_com)"])
def test_pages_of_a_sort_with_ties_never_overlap(portal, source, order_by):
    """Communes sorted by their département tie by the hundred: walked page by page, each
    commune comes back once (a record tied at a page's edge came back twice, its twin never)."""
    params = {"where": 'insee_reg = "84"', "select": "insee_com", "order_by": order_by, "limit": 97}
    expected = sorted(r["insee_com"] for r in source("communes") if r["insee_reg"] == "84")
    every = [r["insee_com"] for offset in range(0, len(expected), 97)
             for r in get(portal, "communes", offset=offset, **params)["results"]]
    assert sorted(every) == expected


@pytest.mark.parametrize("constant", ["'Bretagne'", "1", "2"])
def test_ordering_by_a_constant_alias_keeps_the_order_of_the_rest(portal, source, constant):
    """An alias of a constant orders nothing, as the constant itself does: a text was a 500
    (the engine refuses ``ORDER BY 'Bretagne'``), a number sorted by that column position
    (``ORDER BY 1`` is the first column): here the names, then the birth dates, came first."""
    name = "nom_de_l_elu"
    expected = sorted(r[name] for r in source("elus"))[:5]
    body = get(portal, "elus", select=f"{name}, date_de_naissance, {constant} as k",
               order_by=f"k desc, {name}", limit=5)
    assert [r[name] for r in body["results"]] == expected
