"""Limits and errors: Opendatasoft's paging bounds with their exact 400 messages (records and
grouped records), and ODSQLError for every kind of malformed query, worded
``ODSQL query is malformed: <detail> Clause(s) containing the error(s): <clause>.``"""

from __future__ import annotations

import pytest

from tests.conformance.api import BASE, error, get

LIMIT = "Invalid value for limit API parameter: {} was found but -1 <= limit <= {} is expected."
WINDOW = "Invalid value for sum of offset + limit API parameter: {} was found but <= {} is expected."

PAGING_ERRORS = [  # params → exact message
    ({"limit": 101}, LIMIT.format(101, 100)),
    ({"limit": 1473}, LIMIT.format(1473, 100)),
    ({"limit": -2}, LIMIT.format(-2, 100)),
    ({"offset": 9901, "limit": 100}, WINDOW.format(10001, 10000)),
    ({"offset": 10000, "limit": 1}, WINDOW.format(10001, 10000)),
    ({"offset": 10001, "limit": -1}, WINDOW.format(10001, 10000)),
    ({"group_by": "insee_dep", "offset": 20001, "limit": -1}, WINDOW.format(20001, 20000)),
    ({"offset": 10000}, WINDOW.format(10010, 10000)),
    ({"offset": -1}, "Invalid value for offset API parameter: -1 was found but offset >= 0 is expected."),
    ({"group_by": "insee_dep", "limit": 20001}, LIMIT.format(20001, 20000)),
    ({"group_by": "insee_dep", "offset": 19999, "limit": 2}, WINDOW.format(20001, 20000)),
    ({"select": "count(*)", "limit": 20001}, LIMIT.format(20001, 20000)),
]


@pytest.mark.parametrize(("params", "message"), [pytest.param(p, m, id="communes: " + " ".join(f"{k}={v}" for k, v in p.items()))
                                                  for p, m in PAGING_ERRORS])
def test_paging_errors(portal, params, message):
    status, body = error(portal, "communes", **params)
    assert (status, body) == (400, {"error_code": "InvalidRESTParameterError", "message": message})


PAGING_OK = [  # params → number of results on the page
    ({"offset": 9900, "limit": 100}, 100),
    ({"offset": 10000, "limit": 0}, 0),
    ({"limit": 0}, 0),
    ({"limit": -1}, 100),
    ({}, 10),
    ({"limit": 100}, 100),
    ({"group_by": "insee_com", "select": "insee_com", "limit": 20000}, 20000),
    ({"group_by": "insee_com", "select": "insee_com", "offset": 19990, "limit": 10}, 10),
    ({"group_by": "insee_reg", "limit": -1}, None),
    # limit=-1 with an offset: what the window has left, a page at most
    ({"offset": 9950, "limit": -1}, 50),
    ({"offset": 500, "limit": -1}, 100),
    ({"offset": 10000, "limit": -1}, 0),
    ({"group_by": "insee_com", "select": "insee_com", "offset": 19990, "limit": -1}, 10),
]


@pytest.mark.parametrize(("params", "size"), [pytest.param(p, n, id="communes: " + (" ".join(f"{k}={v}" for k, v in p.items()) or "defaults"))
                                               for p, n in PAGING_OK])
def test_paging_accepted(portal, source, params, size):
    body = get(portal, "communes", **params)
    rows = source("communes")
    if "group_by" in params:
        groups = len({r[params["group_by"]] for r in rows})
        assert body["total_count"] == min(groups, 20000)
        size = groups if size is None else size
    else:
        assert body["total_count"] == len(rows)
    assert len(body["results"]) == size


def malformed(detail: str, clause: str) -> str:
    return f"ODSQL query is malformed: {detail} Clause(s) containing the error(s): {clause}."


ODSQL_ERRORS = [  # (dataset, params, clause, detail or None when only the clause is checked)
    ("communes", {"where": "anzahl > 3"}, "where", "Unknown field: anzahl"),
    ("communes", {"select": "categorie"}, "select", "Unknown field: categorie"),
    ("communes", {"group_by": "nope"}, "group_by", "Unknown field: nope"),
    ("communes", {"order_by": "nope desc"}, "order_by", "Unknown field: nope"),
    ("communes", {"select": "invalid_function()"}, "select", "invalid_function()"),  # reference §7, word for word
    ("communes", {"where": "length(nope) > 3"}, "where", "Unknown field: nope"),
    ("communes", {"refine": "nope:1"}, "refine", "Unknown field: nope"),
    ("communes", {"exclude": "nope:1"}, "exclude", "Unknown field: nope"),
    ("communes", {"where": "population_2021 >"}, "where", "Unexpected end of query."),
    ("communes", {"where": "population_2021 > > 3"}, "where", None),
    ("communes", {"where": 'commune = "Paris'}, "where", None),
    ("communes", {"select": "commune,"}, "select", None),
    ("communes", {"where": "(population_2021 > 3"}, "where", None),
    ("communes", {"select": "commune, count(*)"}, "select", "Field commune must be in group_by or inside an aggregate."),
    ("communes", {"select": "commune, count(*)", "group_by": "insee_dep"}, "select", None),
    ("communes", {"select": "insee_reg, avg(population_2021)", "group_by": "insee_reg",
                  "order_by": "insee_reg, avg(population_2021)"}, "order_by", "Aggregates must come first in order_by."),
    ("communes", {"where": "count(*) > 3"}, "where", None),
    # a name clash between outputs is refused, never one of them silently dropped
    ("communes", {"group_by": "insee_dep as n", "select": "count(*) as n"}, "select",
     "Two select items are named n; give one an alias."),
    ("communes", {"group_by": "insee_reg", "select": "count(*) as insee_reg"}, "select",
     "Two select items are named insee_reg; give one an alias."),
    ("communes", {"select": "count(*) as n, count(*) as n"}, "select", "Two select items are named n; give one an alias."),
    ("communes", {"select": "count(*) as n, sum(population_2021) as n"}, "select",
     "Two select items are named n; give one an alias."),
    ("communes", {"select": "search(commune, 'x')"}, "select", None),
    ("communes", {"where": "random(1) > 0"}, "where", None),
    ("communes", {"select": "range(population_2021, 10)"}, "select", None),
    ("communes", {"group_by": "sum(population_2021)"}, "group_by", None),
    ("communes", {"select": "include(pop*) as p"}, "select", None),
    ("communes", {"where": "commune + 1 > 3"}, "where", None),
    ("communes", {"where": "commune like population_2021"}, "where", None),
    ("communes", {"where": "population_2021"}, "where", None),
    ("communes", {"where": "population_2021 in [10..'x']"}, "where", None),
    ("communes", {"where": "length(commune, commune) > 1"}, "where", None),
    ("communes", {"select": "percentile(population_2021)"}, "select", None),
    ("communes", {"order_by": "vector_similarity('x')"}, "order_by", None),
    ("elus", {"where": "date_de_naissance > date'2020-13-45'"}, "where", None),
    ("elus", {"where": "date_de_naissance > date'yesterday'"}, "where", None),
    ("elus", {"where": "date_de_naissance > now(eon=1)"}, "where", None),
    ("elus", {"group_by": "range(date_de_naissance, 2w)"}, "group_by", None),
    ("elus", {"group_by": "range(date_de_naissance, 1x)"}, "group_by", None),
    ("elus", {"group_by": "range(date_de_naissance, 10)"}, "group_by", None),
    ("communes", {"group_by": "range(population_2021, 0)"}, "group_by", "The step of range() must be a positive number."),
    ("communes", {"group_by": "range(population_2021, -5)"}, "group_by", "The step of range() must be a positive number."),
    ("communes", {"group_by": "range(superficie_km2, -0.5)"}, "group_by", "The step of range() must be a positive number."),
    ("communes", {"group_by": "range(population_2021, 'x')"}, "group_by", "The step of range() must be a positive number."),
    ("elus", {"group_by": "range(date_de_naissance, date'1970', date'1960')"}, "group_by", None),
    ("elus", {"select": "year(nom_de_l_elu)"}, "select", None),
    ("elus", {"where": "code_sexe > true"}, "where", None),
    ("elus", {"where": "code_sexe is true"}, "where", None),
    ("logements", {"where": "intersects(geo_point_2d, geom'POLYGON((1 2, 3'))"}, "where", None),
    ("logements", {"where": "within_distance(geo_point_2d, geom'POINT(2.35 48.85)', 10parsecs)"}, "where", None),
    ("logements", {"where": "in_bbox(geo_point_2d, 48.8, 2.3)"}, "where", None),
    ("logements", {"order_by": "geo_point_2d"}, "order_by", None),
    ("logements", {"where": "distance(geo_point_2d, geom'POINT(2.35 48.85)') < 3"}, "where", None),
    ("logements", {"group_by": "geo_cluster(geo_point_2d, 30)"}, "group_by", None),
    ("logements", {"where": "annee > 2000", "group_by": "annee", "select": "nb_plai"}, "select", None),
]


@pytest.mark.parametrize(("slug", "params", "clause", "detail"),
                         [pytest.param(*c, id=f"{c[0]}: " + " ".join(f"{k}={v}" for k, v in c[1].items())) for c in ODSQL_ERRORS])
def test_odsql_errors(portal, slug, params, clause, detail):
    status, body = error(portal, slug, **params)
    assert status == 400 and body["error_code"] == "ODSQLError", body
    if detail is not None:
        assert body["message"] == malformed(detail, clause)
    else:
        assert body["message"].startswith("ODSQL query is malformed: ")
        assert body["message"].endswith(f" Clause(s) containing the error(s): {clause}.")


def test_facet_of_an_unknown_field(portal):
    status, body = error(portal, "elus", "facets", facet="nope")
    assert (status, body) == (400, {"error_code": "ODSQLError", "message": malformed("Unknown field: nope", "facet")})


def test_repeated_where_with_one_bad_clause(portal):
    status, body = error(portal, "communes", where=["population_2021 > 3", "nope = 1"])
    assert (status, body) == (400, {"error_code": "ODSQLError", "message": malformed("Unknown field: nope", "where")})


def test_unknown_timezone(portal):
    status, body = error(portal, "communes", where="population_2021 > 3", timezone="Mars/Olympus")
    assert status == 400 and body["error_code"] == "InvalidRESTParameterError" and "Mars/Olympus" in body["message"]


@pytest.mark.parametrize("lang", ["xx", "fra", "", "english"])
def test_unknown_language(portal, lang):
    """lang is an enum (reference §3): another value is refused as an unknown timezone is, with
    the accepted values, on the records and on the catalogue."""
    expected = ("Invalid value for lang API parameter: " + repr(lang) + " was found but one of 'en', 'fr', 'nl', 'pt', "
                "'it', 'ar', 'de', 'es', 'ca', 'eu', 'sv' is expected.")
    for path in (f"{BASE}/communes/records", BASE):
        response = portal.get(path, params={"lang": lang})
        assert response.status_code == 400
        assert response.json() == {"error_code": "InvalidRESTParameterError", "message": expected}


def test_unknown_dataset(portal):
    response = portal.get(f"{BASE}/nope/records")
    assert response.status_code == 404 and response.json()["message"] == "Unknown dataset: nope"


def test_non_numeric_limit(portal):
    status, body = error(portal, "communes", limit="ten")
    assert status == 400 and body["error_code"] == "InvalidRESTParameterError" and "limit" in body["message"]


def test_keywords_are_case_insensitive_and_trailing_slash(portal, source):
    response = portal.get(f"{BASE}/communes/records/", params={"where": "population_2021 > 100000 AnD NoT insee_reg IS NULL",
                                                              "limit": 0})
    assert response.status_code == 200
    assert response.json()["total_count"] == sum(1 for r in source("communes") if r["population_2021"] > 100000 and r["insee_reg"])
