"""refine/exclude and facets, each checked against a plain-Python count over the same file."""

from __future__ import annotations

import csv
from collections import Counter

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import Published, annotated, published_instance

BASE = "/api/explore/v2.1/catalog/datasets/elus"


@pytest.fixture(scope="module")
def rows(refdata):
    with open(refdata / "elus" / "rne_elus-conseillers-departementaux-cd.csv", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    instance = published_instance(tmp_path_factory.mktemp("facets") / "home", Published(
        "elus", refdata / "elus" / "rne_elus-conseillers-departementaux-cd.csv", "Conseillers départementaux",
        {"code_sexe": {"facet": []}, "libelle_de_la_fonction": {"facet": [], "disjunctive": []}}))
    yield TestClient(create_app(instance))
    instance.store.close()


def test_refine_and_exclude_filter_records(client, rows):
    women = sum(1 for r in rows if r["Code sexe"] == "F")
    assert client.get(f"{BASE}/records", params={"refine": "code_sexe:F", "limit": 0}).json()["total_count"] == women
    quoted = client.get(f"{BASE}/records", params={"refine": '`code_sexe`:"F"', "limit": 0}).json()["total_count"]
    assert quoted == women
    assert client.get(f"{BASE}/records", params={"exclude": "code_sexe:F", "limit": 0}).json()["total_count"] == len(rows) - women
    ain_women = sum(1 for r in rows if r["Code sexe"] == "F" and r["Libellé du département"] == "Ain")
    both = client.get(f"{BASE}/records", params=[("refine", "code_sexe:F"), ("refine", "libelle_du_departement:Ain"),
                                                  ("limit", 0)]).json()["total_count"]
    assert both == ain_women > 0
    born_1960 = sum(1 for r in rows if r["Date de naissance"].startswith("1960"))
    assert client.get(f"{BASE}/records", params={"refine": "date_de_naissance:1960", "limit": 0}).json()["total_count"] == born_1960
    born_1960_05 = sum(1 for r in rows if r["Date de naissance"].startswith("1960-05"))
    assert client.get(f"{BASE}/records", params={"refine": "date_de_naissance:1960/05", "limit": 0}).json()["total_count"] == born_1960_05
    exported = client.get(f"{BASE}/exports/jsonl", params={"refine": "code_sexe:F"}).text.strip().split("\n")
    assert len(exported) == women


def test_default_facets_are_the_annotated_fields(client, rows):
    body = client.get(f"{BASE}/facets").json()
    assert [f["name"] for f in body["facets"]] == ["code_sexe", "libelle_de_la_fonction"]
    sexe = {e["value"]: e["count"] for e in body["facets"][0]["facets"]}
    assert sexe == dict(Counter(r["Code sexe"] for r in rows))
    functions = body["facets"][1]["facets"]
    expected = Counter(r["Libellé de la fonction"] for r in rows if r["Libellé de la fonction"])
    assert [e["count"] for e in functions] == sorted(expected.values(), reverse=True)[:100]


def test_disjunctive_and_refined_states(client, rows):
    refined = client.get(f"{BASE}/facets", params=[("refine", "libelle_de_la_fonction:Président du conseil départemental"),
                                                   ("refine", "code_sexe:F")]).json()["facets"]
    sexe = refined[0]["facets"]
    assert sexe == [{"name": "F", "value": "F", "state": "refined",
                     "count": sum(1 for r in rows if r["Code sexe"] == "F"
                                  and r["Libellé de la fonction"] == "Président du conseil départemental")}]
    functions = {e["value"]: e for e in refined[1]["facets"]}
    assert len(functions) > 1  # disjunctive: the other functions are still listed
    assert functions["Président du conseil départemental"]["state"] == "refined"
    excluded = client.get(f"{BASE}/facets", params={"exclude": "code_sexe:M", "facet": "code_sexe"}).json()["facets"][0]
    assert {e["value"]: e.get("count") for e in excluded["facets"]} == {"F": sum(1 for r in rows if r["Code sexe"] == "F"),
                                                                         "M": None}
    assert [e["state"] for e in excluded["facets"]] == ["displayed", "excluded"]


def test_date_facet_hierarchy(client, rows):
    body = client.get(f"{BASE}/facets", params={"facet": 'facet(name="date_de_naissance", sort="-alphanum", limit=200)',
                                                "refine": "date_de_naissance:1960/05"}).json()
    years = body["facets"][0]["facets"]
    assert [y["value"] for y in years] == ["1960"] and years[0]["state"] == "refined"
    months = years[0]["facets"]
    assert [m["value"] for m in months] == ["1960/05"] and months[0]["name"] == "05"
    days = Counter(r["Date de naissance"][8:10] for r in rows if r["Date de naissance"].startswith("1960-05"))
    assert {d["name"]: d["count"] for d in months[0]["facets"]} == dict(days)
    all_years = client.get(f"{BASE}/facets", params={"facet": 'facet(name="date_de_naissance", sort="alphanum", limit=200)'}).json()
    expected = Counter(r["Date de naissance"][:4] for r in rows if r["Date de naissance"])
    assert {y["value"]: y["count"] for y in all_years["facets"][0]["facets"]} == dict(expected)
    assert "facets" not in all_years["facets"][0]["facets"][0]  # children only under a refined year


@pytest.mark.parametrize("params, code", [
    ({"refine": "nope:1"}, "ODSQLError"),
    ({"refine": "no colon"}, "InvalidRESTParameterError"),
    ({"refine": "date_de_naissance:19x0"}, "InvalidRESTParameterError"),
    ({"facet": "facet(name=\"code_sexe\", sort=\"sideways\")"}, "InvalidRESTParameterError"),
])
def test_bad_refinements(client, params, code):
    response = client.get(f"{BASE}/facets", params=params)
    assert response.status_code == 400 and response.json()["error_code"] == code


# ---- a small annotated dataset (tests.conftest.annotated), every count checked by hand ----------
MV = "/api/explore/v2.1/catalog/datasets/mv"


@pytest.fixture(scope="module")
def mv(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mv")
    instance = published_instance(folder / "home", annotated(folder))
    yield TestClient(create_app(instance))
    instance.store.close()


@pytest.mark.parametrize("path, params", [
    ("records", {"refine": "cat:\x00"}), ("records", {"exclude": "cat:a\x00b"}), ("facets", {"refine": "cat:\x00"}),
    ("facets", {"refine": "tags:\x00"}), ("exports/csv", {"refine": "path:\x00"}),
])
def test_nul_in_a_refined_value_is_a_400(mv, path, params):
    response = mv.get(f"{MV}/{path}", params=params)
    assert response.status_code == 400 and response.json()["error_code"] == "InvalidRESTParameterError"


@pytest.mark.parametrize("path, params", [
    ("records", {"refine": "x:nan"}), ("records", {"refine": "x:inf", "where": "n > 0"}),
    ("facets", {"refine": "x:1e400"}), ("exports/json", {"exclude": "x:-Infinity"}),
    # an integer past the engine's widest (128 bits) on an integer field: a 500 (found by a review)
    ("records", {"refine": "n:" + "9" * 50}), ("facets", {"exclude": "n:-" + "9" * 40}),
])
def test_a_number_no_field_holds_is_a_400_everywhere(mv, path, params):
    """nan, inf, 1e400 on a double field, 10**50 on an integer one: a 400 on every route (the value was written into the
    SQL as a bare word: a 500, or an export cut after its 200, depending on the other parameters)."""
    response = mv.get(f"{MV}/{path}", params=params)
    assert response.status_code == 400 and "Invalid value" in response.json()["message"], response.text


def test_refined_values_of_a_disjunctive_field_are_ored(mv):
    both = [("refine", "cat:A"), ("refine", "cat:B")]
    assert mv.get(f"{MV}/records", params=[*both, ("limit", 0)]).json()["total_count"] == 6  # rows 1, 2, 3, 5, 6, 8
    facets = {f["name"]: f["facets"] for f in mv.get(f"{MV}/facets", params=[*both, ("facet", "cat"), ("facet", "d")]).json()["facets"]}
    assert {(e["value"], e["count"], e["state"]) for e in facets["cat"]} == {
        ("A", 4, "refined"), ("B", 2, "refined"), ("C", 1, "displayed"), ("A/B", 1, "displayed")}
    assert {e["value"]: e["count"] for e in facets["d"]} == {"2020": 4, "2021": 1, "2019": 1}
    # Another refinement between the two: the placeholders keep their values' order.
    mixed = [("refine", "cat:A"), ("refine", "n:1"), ("refine", "cat:B"), ("limit", 0)]
    assert mv.get(f"{MV}/records", params=mixed).json()["total_count"] == 2  # rows 1, 6


def test_disjunctive_facet_ors_for_the_other_facets(client, rows):
    """A field made disjunctive by its facet: the other facets count the records holding any of
    its refined values; without it, two values of one field match nothing (Opendatasoft's default).
    The function field (annotated) is not resolved by the key index: its plan is shared per shape."""
    both = [("refine", "code_sexe:F"), ("refine", "code_sexe:M")]
    assert client.get(f"{BASE}/records", params=[*both, ("limit", 0)]).json()["total_count"] == 0
    asked = [*both, ("facet", 'facet(name="code_sexe", disjunctive=true)'), ("facet", "libelle_de_la_fonction")]
    functions = client.get(f"{BASE}/facets", params=asked).json()["facets"][1]["facets"]
    expected = Counter(r["Libellé de la fonction"] for r in rows if r["Libellé de la fonction"])
    assert {e["value"]: e["count"] for e in functions} == dict(expected)
    president, vice = "Président du conseil départemental", "4ème Vice-président du conseil départemental"
    mixed = [("refine", f"libelle_de_la_fonction:{president}"), ("refine", "code_sexe:F"),
             ("refine", f"libelle_de_la_fonction:{vice}"), ("limit", 0)]
    count = sum(1 for r in rows if r["Libellé de la fonction"] in (president, vice) and r["Code sexe"] == "F")
    assert client.get(f"{BASE}/records", params=mixed).json()["total_count"] == count > 0


def test_datetime_facets_and_refinements_follow_the_timezone(mv):
    """dt 2020-12-31T23:30Z is 2021 in Paris, 2019-12-31T23:59Z is 2020-01-01 there."""
    def years(timezone, **params):
        body = mv.get(f"{MV}/facets", params={"facet": "dt", "timezone": timezone, **params}).json()
        return {e["value"]: e["count"] for e in body["facets"][0]["facets"]}, body

    assert years("UTC")[0] == {"2020": 4, "2021": 2, "2019": 1}
    assert years("Europe/Paris")[0] == {"2021": 3, "2020": 4}
    _, body = years("Europe/Paris", refine="dt:2020/01")
    months = body["facets"][0]["facets"][0]["facets"]
    assert [(m["value"], m["count"]) for m in months] == [("2020/01", 3)]
    assert {d["name"]: d["count"] for d in months[0]["facets"]} == {"01": 1, "15": 1, "20": 1}
    count = {tz: mv.get(f"{MV}/records", params={"refine": "dt:2021", "timezone": tz, "limit": 0}).json()["total_count"]
             for tz in ("UTC", "Europe/Paris", "Pacific/Auckland")}
    assert count == {"UTC": 2, "Europe/Paris": 3, "Pacific/Auckland": 3}
    paris = mv.get(f"{MV}/exports/csv", params={"refine": "dt:2020/01", "timezone": "Europe/Paris"}).text
    assert len(paris.strip().splitlines()) == 1 + 3
    bad = mv.get(f"{MV}/facets", params={"facet": "dt", "timezone": "Not/AZone"})
    assert bad.status_code == 400 and bad.json()["error_code"] == "InvalidRESTParameterError"


def test_geo_and_json_fields_are_no_facets(tmp_path, refdata):
    instance = published_instance(tmp_path / "home", Published(
        "logements", refdata / "logement" / "logements-sociaux-finances-a-paris.csv", "Logements", {"geo_point_2d": {"facet": []}}))
    client = TestClient(create_app(instance))
    url = "/api/explore/v2.1/catalog/datasets/logements/facets"
    for facet in ("geo_point_2d", 'facet(name="geo_shape")'):
        response = client.get(url, params={"facet": facet})
        assert response.status_code == 400 and response.json()["error_code"] == "InvalidRESTParameterError", facet
    assert client.get(url).json()["facets"] == []  # an annotated geo field is no default facet
    catalog = client.get("/api/explore/v2.1/catalog/facets", params={"facet": "fields"})
    assert catalog.status_code == 400
    instance.store.close()


@pytest.mark.parametrize("facet, refine, refined", [
    ("n", "n:01", "1"), ("x", "x:1.50", "1.5"), ("x", "x:2.0", "2"), ("d", "d:2020-01", "2020/01"), ("d", "d:2020/1", "2020/01"),
])
def test_a_refinement_written_differently_marks_its_entry_refined(mv, facet, refine, refined):
    entries = mv.get(f"{MV}/facets", params={"facet": facet, "refine": refine}).json()["facets"][0]["facets"]
    while entries and "/" in refined and not any(e["value"] == refined for e in entries):
        entries = next(e for e in entries if e["state"] == "refined")["facets"]  # down the date levels
    (entry,) = [e for e in entries if e["value"] == refined]
    assert entry["state"] == "refined"
    if facet == "d":
        assert {e["name"] for e in entry["facets"]} == {"15", "20"}  # its days are listed


def test_the_facetsort_annotation_orders_configured_facets(mv):
    by_value = ["8", "7", "5", "3", "2", "1"]  # n is annotated facetsort: -num
    configured = {f["name"]: f["facets"] for f in mv.get(f"{MV}/facets").json()["facets"]}
    assert [e["value"] for e in configured["n"]] == by_value
    assert [e["value"] for e in mv.get(f"{MV}/facets", params={"facet": "n"}).json()["facets"][0]["facets"]] == by_value
    asked = mv.get(f"{MV}/facets", params={"facet": 'facet(name="n", sort="-count")'}).json()["facets"][0]["facets"]
    assert asked[0]["value"] == "1"  # an explicit sort wins (1 is the only value held twice)


def test_an_excluded_date_level_is_listed_at_its_level(mv):
    def years(*params):
        return mv.get(f"{MV}/facets", params=[("facet", "d"), *params]).json()["facets"][0]["facets"]

    top = years(("exclude", "d:2020/02"))
    assert {(e["value"], e.get("count"), e["state"]) for e in top} == {
        ("2020", 4, "displayed"), ("2021", 1, "displayed"), ("2019", 1, "displayed")}  # no month among the years
    (year,) = [e for e in years(("refine", "d:2020"), ("exclude", "d:2020/02"))]
    assert [(m["name"], m["value"], m["state"]) for m in year["facets"]][-1] == ("02", "2020/02", "excluded")
    assert {e["value"]: e["state"] for e in years(("exclude", "d:2019"))}["2019"] == "excluded"
    text = mv.get(f"{MV}/facets", params={"facet": "cat", "exclude": "cat:A/B"}).json()["facets"][0]["facets"]
    assert {"name": "A/B", "value": "A/B", "state": "excluded"} in text  # a plain text value keeps its name


@pytest.mark.parametrize("facet", [
    'facet(name="n", limit=0)', 'facet(name="n", limit=-1)', 'facet(name="n", sort="alphanum")',
    'facet(name="cat", sort="num")', "facet(n)", "facet()", 'facet(name="n", foo=1)',
    'facet(name="cat", disjunctive=yes)', 'facet(name="cat" disjunctive=true)',
    'facet(name="path", hierarchical=true, separator="")', 'facet(name="path", hierarchical=true, separator="\x00")',
])
def test_bad_facet_arguments_are_400s(mv, facet):
    response = mv.get(f"{MV}/facets", params={"facet": facet})
    assert response.status_code == 400 and response.json()["error_code"] == "InvalidRESTParameterError", response.text
    assert "None" not in response.json()["message"]


def test_good_facet_arguments(mv):
    first = mv.get(f"{MV}/facets", params={"facet": 'facet(name="n", sort="num", limit=2)'}).json()["facets"][0]
    assert [e["value"] for e in first["facets"]] == ["1", "2"]
    spaced = mv.get(f"{MV}/facets", params={"facet": "facet( name = 'cat' , disjunctive = TRUE )"})
    assert spaced.status_code == 200
    huge = mv.get(f"{MV}/facets", params={"facet": 'facet(name="n", limit=100000000000000000000)'})
    assert huge.status_code == 200 and len(huge.json()["facets"][0]["facets"]) == 6


def test_empty_path_segments_are_skipped(mv):
    """Row 8 holds /fr//ara/: it counts under fr and fr/ara, as if written fr/ara."""
    top = mv.get(f"{MV}/facets", params={"facet": "path"}).json()["facets"][0]["facets"]
    assert {e["value"]: e["count"] for e in top} == {"fr": 7, "be": 1}
    (fr,) = [e for e in mv.get(f"{MV}/facets", params={"facet": "path", "refine": "path:fr"}).json()["facets"][0]["facets"]]
    assert {e["value"]: e["count"] for e in fr["facets"]} == {"fr/ara": 4, "fr/idf": 2}
    assert mv.get(f"{MV}/records", params={"refine": "path:fr/ara", "limit": 0}).json()["total_count"] == 4
    separated = mv.get(f"{MV}/facets", params={"facet": 'facet(name="cat", hierarchical=true, separator="/")'}).json()
    assert {e["value"]: e["count"] for e in separated["facets"][0]["facets"]} == {"A": 5, "B": 2, "C": 1}  # A/B under A


def test_a_facet_asked_as_a_hierarchy_refines_by_path(mv):
    """cat is annotated no hierarchy; asked as one, its node A counts A and A/B (row 7), and
    refining or excluding A takes both, the records the tree counted under A."""
    asked = 'facet(name="cat", hierarchical=true, separator="/")'
    refined = mv.get(f"{MV}/facets", params={"facet": [asked, "id"], "refine": "cat:A"}).json()["facets"]
    (a,) = [e for e in refined[0]["facets"] if e["value"] == "A"]
    assert a["count"] == 5 and [(e["value"], e["count"]) for e in a["facets"]] == [("A/B", 1)]
    assert sorted(e["value"] for e in refined[1]["facets"]) == ["1", "3", "6", "7", "8"]
    excluded = mv.get(f"{MV}/facets", params={"facet": [asked, "id"], "exclude": "cat:A"}).json()["facets"]
    assert sorted(e["value"] for e in excluded[1]["facets"]) == ["2", "4", "5"]


def test_a_hierarchical_facet_on_a_multivalued_field_splits_values_then_paths(mv):
    """tags: a | a,b | b,c | - | c | a,c,a | x/y | " a , b ": each value is a path, each record counts once."""
    asked = {"facet": 'facet(name="tags", hierarchical=true, separator="/")'}
    top = mv.get(f"{MV}/facets", params=asked).json()["facets"][0]["facets"]
    assert {e["value"]: e["count"] for e in top} == {"a": 4, "b": 3, "c": 3, "x": 1}
    (x,) = [e for e in mv.get(f"{MV}/facets", params={**asked, "refine": "tags:x/y"}).json()["facets"][0]["facets"]]
    assert [(e["value"], e["count"]) for e in x["facets"]] == [("x/y", 1)]
    # under a refinement of another field, each level counts the refined records only
    refined = mv.get(f"{MV}/facets", params=[("facet", asked["facet"]), ("refine", "cat:A"), ("refine", "tags:a")]).json()
    (a,) = [e for e in refined["facets"][0]["facets"] if e["value"] == "a"]
    assert a["count"] == 3 and a["state"] == "refined" and a.get("facets") == []  # rows 1, 6, 8; no deeper level


def _found_ids(mv, condition: str) -> list[int]:
    answer = mv.get(f"{MV}/records", params={"where": condition, "select": "id", "order_by": "id", "limit": 100})
    assert answer.status_code == 200, answer.text
    return [r["id"] for r in answer.json()["results"]]


@pytest.mark.parametrize("where", ['search(tags, "")', 'suggest(tags, "")', 'phrase(tags, "")'])
def test_a_null_value_matches_no_text_condition_in_records(mv, where):
    """Row 4 has no tags: an empty text matched it as it matched every value (the catalogue's
    publisher alike); any comparison involving null is false (reference §5.2)."""
    assert _found_ids(mv, where) == _found_ids(mv, "tags is not null") == [1, 2, 3, 5, 6, 7, 8]
    assert _found_ids(mv, f"not ({where})") == [4]


@pytest.mark.parametrize("where", ['tags like "%"', 'tags like ""'])
def test_a_like_pattern_without_a_word_matches_no_record(mv, where):
    """No token, no match (tests/odsql/test_like_without_words.py): its negation keeps every
    record, row 4 without tags too."""
    assert _found_ids(mv, where) == []
    assert _found_ids(mv, f"not ({where})") == [1, 2, 3, 4, 5, 6, 7, 8]
