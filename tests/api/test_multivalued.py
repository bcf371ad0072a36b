"""Multivalued text fields come out as JSON arrays, as on Opendatasoft, split exactly as ODSQL's
membership test and the facets split them; group_by over one makes a group of each value."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import Counter, defaultdict

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.catalog import services
from portail.operations import load_file
from tests.conftest import Published, published_instance

URL = "/api/explore/v2.1/catalog/datasets/tags/records"


def test_multivalued_values_are_arrays(instance, tmp_path):
    source = tmp_path / "tags.csv"
    source.write_text("nom;tags\nA;vélo, bus ,tram\nB;bus\nC;\n", encoding="utf-8")
    with instance.session() as s:
        dataset = services.create_dataset(s, "tags", "Tags")
        services.set_field_override(s, dataset, "tags", annotations={"multivalued": [","]})
    load_file(instance, "tags", source, publish=True)
    client = TestClient(create_app(instance))
    rows = {r["nom"]: r["tags"] for r in client.get(URL, params={"order_by": "nom"}).json()["results"]}
    assert rows == {"A": ["vélo", "bus", "tram"], "B": ["bus"], "C": None}
    assert client.get(URL, params={"where": '"bus" in tags', "limit": 0}).json()["total_count"] == 2
    facets = client.get("/api/explore/v2.1/catalog/datasets/tags/facets", params={"facet": "tags"}).json()["facets"]
    assert {v["name"]: v["count"] for v in facets[0]["facets"]} == {"bus": 2, "tram": 1, "vélo": 1}
    exported = client.get("/api/explore/v2.1/catalog/datasets/tags/exports/json", params={"order_by": "nom"}).json()
    assert exported[0]["tags"] == ["vélo", "bus", "tram"]


# ---- group_by over a multivalued field: one group per value ---------------------------------
# Opendatasoft answers a group_by over an array field with a terms aggregation: a record holding
# [a, b] counts in group a and in group b, one holding no value in the null group. The counts
# are checked against plain Python over the file, and against the facets of the same field.

ELUS = "elus/rne_elus-conseillers-departementaux-cd.csv"
CATEGORY = "libelle_de_la_categorie_socio_professionnelle"
ELUS_URL = "/api/explore/v2.1/catalog/datasets/elus"


def values_of(text: str | None, separator: str = ",") -> list[str | None]:
    """The groups a record counts in: its distinct non-blank values, else the null group."""
    items = re.split(r"\s*" + re.escape(separator) + r"\s*", text.strip()) if text else []
    return list(dict.fromkeys(i for i in items if i)) or [None]


def ranked(counts: Counter) -> list[tuple[str | None, int]]:
    """Groups by count, descending, then by key (nulls last): the API's order for ``n desc``."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or ""))


def words(text: str) -> set[str]:
    folded = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    return set(re.findall(r"[a-z0-9]+", folded))


@pytest.fixture(scope="module")
def elus(refdata) -> list[dict[str, str]]:
    with open(refdata / ELUS, encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


@pytest.fixture(scope="module")
def portal(tmp_path_factory, refdata):
    instance = published_instance(tmp_path_factory.mktemp("multivalued") / "home", Published(
        "elus", refdata / ELUS, "Conseillers départementaux", {CATEGORY: {"multivalued": [","]}}))
    yield TestClient(create_app(instance))
    instance.store.close()


def records(client: TestClient, **params) -> dict:
    response = client.get(f"{ELUS_URL}/records", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def category(row: dict[str, str]) -> str:
    return row["Libellé de la catégorie socio-professionnelle"]


def test_group_by_counts_each_value_as_the_facets_do(portal, elus):
    expected = Counter(v for r in elus for v in values_of(category(r)))
    assert expected["Professeur"] and expected["profession scientifique"]  # the file does hold lists
    body = records(portal, select=f"{CATEGORY}, count(*) as n", group_by=CATEGORY, order_by="n desc", limit=100)
    assert [(r[CATEGORY], r["n"]) for r in body["results"]] == ranked(expected)
    assert body["total_count"] == len(expected)
    assert all(isinstance(r[CATEGORY], str) for r in body["results"])  # one value, not a list
    facets = portal.get(f"{ELUS_URL}/facets", params={"facet": f'facet(name="{CATEGORY}", limit=1000)'}).json()
    assert {e["value"]: e["count"] for e in facets["facets"][0]["facets"]} == \
        {r[CATEGORY]: r["n"] for r in body["results"]}


def test_pages_of_groups_and_their_total(portal, elus):
    expected = ranked(Counter(v for r in elus for v in values_of(category(r))))
    body = records(portal, select=f"{CATEGORY} as cat, count(*) as n", group_by=f"{CATEGORY} as cat",
                   order_by="n desc", limit=5, offset=3)
    assert [(r["cat"], r["n"]) for r in body["results"]] == expected[3:8]
    assert body["total_count"] == len(expected)
    by_key = records(portal, select="count(*) as n", group_by=f"{CATEGORY} as cat", order_by="cat desc", limit=3)
    assert [r["cat"] for r in by_key["results"]] == sorted((k for k, _ in expected), reverse=True)[:3]


def test_a_second_key_and_aggregates_over_the_records_of_each_value(portal, elus):
    body = records(portal, select="count(*) as n, min(date_de_naissance) as oldest", group_by=f"code_sexe, {CATEGORY}",
                   limit=1000)
    members: dict = defaultdict(list)
    for r in elus:
        for v in values_of(category(r)):
            members[(r["Code sexe"], v)].append(r["Date de naissance"])
    assert {(r["code_sexe"], r[CATEGORY]): (r["n"], r["oldest"]) for r in body["results"]} == \
        {k: (len(dates), min(dates)) for k, dates in members.items()}
    assert body["total_count"] == len(members)


def test_where_refine_and_full_text_keep_records_then_group_their_values(portal, elus):
    teachers = [r for r in elus if "Professeur" in values_of(category(r))]
    for params in ({"where": f'"Professeur" in {CATEGORY}'}, {"refine": f"{CATEGORY}:Professeur"}):
        body = records(portal, select=f"{CATEGORY}, count(*) as n", group_by=CATEGORY, limit=100, **params)
        assert {r[CATEGORY]: r["n"] for r in body["results"]} == Counter(v for r in teachers for v in values_of(category(r)))
    # a bare string is full text, answered from the version's index (row ids bound into WHERE)
    for word in ("cadre", "scientifique", "brunet"):
        kept = [r for r in elus if any(word in words(value) for value in r.values())]
        body = records(portal, select=f"{CATEGORY}, count(*) as n", group_by=CATEGORY, where=f'"{word}"', limit=100)
        assert {r[CATEGORY]: r["n"] for r in body["results"]} == Counter(v for r in kept for v in values_of(category(r)))
        assert body["total_count"] == len({v for r in kept for v in values_of(category(r))})


def test_csv_export_of_groups(portal, elus):
    text = portal.get(f"{ELUS_URL}/exports/csv", params={"select": f"{CATEGORY} as cat, count(*) as n",
                                                         "group_by": f"{CATEGORY} as cat", "order_by": "n desc",
                                                         "with_bom": False}).text
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == ["cat", "n"]
    assert [(r[0], int(r[1])) for r in rows[1:]] == ranked(Counter(v for r in elus for v in values_of(category(r))))


def test_null_group_blanks_and_repeated_values(instance, tmp_path):
    source = tmp_path / "tags.csv"
    lines = ["nom;tags;n", "A;vélo, bus ,tram;1", "B;bus;2", "C;;3", "D;bus,,bus;4", "E;, ,;5", "F;tram,;6",
             "G;métro|bus;7"]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with instance.session() as s:
        dataset = services.create_dataset(s, "tags", "Tags")
        services.set_field_override(s, dataset, "tags", annotations={"multivalued": [","]})
    load_file(instance, "tags", source, publish=True)
    instance.store.fulltext_resolve = 0  # full-text matches stay semi-joins over the index tables
    client = TestClient(create_app(instance))
    file = [line.split(";") for line in lines[1:]]
    expected = Counter(v for _, tags, _ in file for v in values_of(tags))
    assert expected == {"bus": 3, "tram": 2, "vélo": 1, "métro|bus": 1, None: 2}
    body = client.get(URL, params={"select": "tags, count(*) as n, sum(n) as s", "group_by": "tags",
                                   "order_by": "n desc"}).json()
    assert [(r["tags"], r["n"]) for r in body["results"]] == ranked(expected)
    assert body["total_count"] == len(expected)
    sums = Counter()
    for _, tags, n in file:
        for v in values_of(tags):
            sums[v] += int(n)
    assert {r["tags"]: r["s"] for r in body["results"]} == sums
    facets = client.get("/api/explore/v2.1/catalog/datasets/tags/facets", params={"facet": "tags"}).json()["facets"]
    assert {e["value"]: e["count"] for e in facets[0]["facets"]} == {k: n for k, n in expected.items() if k is not None}
    named = client.get(URL, params={"select": "count(*) as n", "group_by": "ifnull(tags, 'aucun') as t"}).json()
    assert {r["t"]: r["n"] for r in named["results"]} == {k or "aucun": n for k, n in expected.items()}
    searched = client.get(URL, params={"select": "tags, count(*) as n", "group_by": "tags", "where": '"tram"'}).json()
    assert {r["tags"]: r["n"] for r in searched["results"]} == {"tram": 2, "vélo": 1, "bus": 1}


def test_length_counts_a_multivalued_fields_values_in_records_and_catalogue_alike(instance, tmp_path):
    """``length()`` of a multivalued field is its number of values, as the JSON array the API
    gives counts them, in records and in the catalogue (whose keywords and themes are lists): it
    measured the stored text, separators and blanks included (``vélo, bus ,tram``: 15), which
    belong to no value. Grouped by the field, it measures each value, on both sides."""
    lines = ["nom;tags", "A;vélo, bus ,tram", "B;bus", "C;", "D;métro|bus"]
    source = tmp_path / "tags.csv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    keywords = ["vélo", "bus en site propre", "tram"]
    with instance.session() as s:
        dataset = services.create_dataset(s, "tags", "Tags", keywords=keywords, themes=["Transports"])
        services.set_field_override(s, dataset, "tags", annotations={"multivalued": [","]})
        services.create_dataset(s, "vide", "Sans mots-clés")
    load_file(instance, "tags", source, publish=True)
    load_file(instance, "vide", source, publish=True)
    client = TestClient(create_app(instance))
    cells = dict(line.split(";") for line in lines[1:])
    shown = {r["nom"]: r["tags"] for r in client.get(URL, params={"select": "nom, tags"}).json()["results"]}
    assert shown["A"] == ["vélo", "bus", "tram"] and shown["D"] == ["métro|bus"]
    rows = client.get(URL, params={"select": "nom, length(tags) as n", "order_by": "nom"}).json()["results"]
    assert {r["nom"]: r["n"] for r in rows} == {nom: tags and len(tags) for nom, tags in shown.items()}
    kept = client.get(URL, params={"select": "nom", "where": "length(tags) = 3"}).json()["results"]
    assert kept == [{"nom": "A"}]
    grouped = client.get(URL, params={"select": "tags, length(tags) as n", "group_by": "tags"}).json()["results"]
    assert {r["tags"]: r["n"] for r in grouped} == {v: v and len(v) for text in cells.values() for v in values_of(text)}

    catalogue = "/api/explore/v2.1/catalog/datasets"
    measured = client.get(catalogue, params={"select": "dataset_id, length(keyword) as n, length(theme) as t",
                                             "order_by": "dataset_id"}).json()["results"]
    assert measured == [{"dataset_id": "tags", "n": len(keywords), "t": 1},
                        {"dataset_id": "vide", "n": None, "t": None}]
    for condition, found in ((f"length(keyword) = {len(keywords)}", 1), (f"length(keyword) = {len(keywords[1])}", 0),
                             (f"length(keyword) > {len(keywords)}", 0)):
        assert client.get(catalogue, params={"where": condition, "limit": 0}).json()["total_count"] == found, condition
    per_keyword = client.get(catalogue, params={"select": "keyword, length(keyword) as n", "group_by": "keyword"}).json()
    assert {r["keyword"]: r["n"] for r in per_keyword["results"]} == {k: len(k) for k in keywords} | {None: None}


def test_a_case_function_keeps_a_multivalued_field_a_list_as_in_the_catalogue(instance, tmp_path):
    """``lower(tags)`` gives each value lowered, a list as ``lower(keyword)`` is in the
    catalogue (the text with its separators was returned before); grouped, each value lowered."""
    lines = ["nom;tags", "A;Vélo, BUS ,tram", "B;bus", "C;"]
    source = tmp_path / "tags.csv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with instance.session() as s:
        dataset = services.create_dataset(s, "tags", "Tags", keywords=["Vélo", "BUS"])
        services.set_field_override(s, dataset, "tags", annotations={"multivalued": [","]})
    load_file(instance, "tags", source, publish=True)
    client = TestClient(create_app(instance))
    cells = dict(line.split(";") for line in lines[1:])
    expected = {nom: [v.lower() for v in values_of(text)] if text else None for nom, text in cells.items()}
    rows = client.get(URL, params={"select": "nom, lower(tags) as l, upper(tags) as u", "order_by": "nom"}).json()
    assert {r["nom"]: r["l"] for r in rows["results"]} == expected
    assert {r["nom"]: r["u"] for r in rows["results"]} == {
        nom: [v.upper() for v in values_of(text)] if text else None for nom, text in cells.items()}
    grouped = client.get(URL, params={"select": "l, count(*) as n", "group_by": "lower(tags) as l"}).json()["results"]
    assert {r["l"]: r["n"] for r in grouped} == Counter(
        v.lower() if v else None for text in cells.values() for v in values_of(text))
    catalogue = client.get("/api/explore/v2.1/catalog/datasets", params={"select": "lower(keyword) as l"}).json()
    assert catalogue["results"] == [{"l": ["vélo", "bus"]}]


def test_equality_and_lists_match_any_value_as_on_opendatasoft(instance, tmp_path):
    """On Opendatasoft a multivalued value is an array: ``=``, ``:``, ``in (…)`` match one of its
    values (``!=`` none of them), as ``"x" in f``, ``refine`` and v1's ``q=f:x`` do; the whole
    text matched before, so a record holding two values never did."""
    lines = ["nom;tags", "A;vélo, bus ,tram", "B;bus", "C;", "D;tram,métro", "E;bus,bus"]
    source = tmp_path / "tags.csv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with instance.session() as s:
        dataset = services.create_dataset(s, "tags", "Tags")
        services.set_field_override(s, dataset, "tags", annotations={"multivalued": [","]})
    load_file(instance, "tags", source, publish=True)
    client = TestClient(create_app(instance))
    values = {nom: [v for v in values_of(text) if v] for nom, text in (line.split(";") for line in lines[1:])}

    def kept(where):
        body = client.get(URL, params={"where": where, "select": "nom", "order_by": "nom", "limit": 100}).json()
        return [r["nom"] for r in body["results"]]

    for where, keep in (('tags = "bus"', lambda v: "bus" in v), ('tags:"bus"', lambda v: "bus" in v),
                        ('"bus" = tags', lambda v: "bus" in v), ('tags != "bus"', lambda v: v and "bus" not in v),
                        ('tags in ("métro", "vélo")', lambda v: {"métro", "vélo"} & set(v)),
                        ('not tags in ("bus")', lambda v: "bus" not in v),  # a comparison with null is false
                        ('lower(tags) = "vélo"', lambda v: "vélo" in v), ('tags = "vélo, bus ,tram"', lambda v: False)):
        assert kept(where) == [nom for nom, v in values.items() if keep(v)], where
    assert kept('"bus" in tags') == kept('tags = "bus"') == [nom for nom, v in values.items() if "bus" in v]
    v1 = client.get("/api/records/1.0/search/", params={"dataset": "tags", "q": "tags:bus", "rows": 10}).json()
    assert sorted(r["fields"]["nom"] for r in v1["records"]) == [nom for nom, v in values.items() if "bus" in v]
