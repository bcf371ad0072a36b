"""What a facets call makes of a repeated ``facet=`` (each field once, its first occurrence's
options), on a dataset's facets in v2.1, v2.0 and v1 and on the catalogue's; and ``length()`` of
a multivalued field: its number of values as the record shows them, never the characters of the
stored text that joins them (separators and blanks). Checked on the annotated dataset of
``tests.conftest``, against plain Python over the records the API returns."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import Published, annotated, published_instance, semicolon_csv

V21 = "/api/explore/v2.1/catalog/datasets/mv"
V20 = "/api/explore/v2.0/catalog/datasets/mv"
ASCENDING = 'facet(name="n", sort="num")'  # ``n`` is annotated facetsort -num: the opposite order


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("facet_parameters")
    other = Published("autre", semicolon_csv(folder / "autre.csv", [{"a": "1"}]), "Autre", metadata={"publisher": "Zeta"})
    mv = replace(annotated(folder), metadata={"publisher": "Alpha"})
    third = Published("troisieme", semicolon_csv(folder / "troisieme.csv", [{"b": "2"}]), "Troisième",
                      metadata={"publisher": "Alpha"})
    instance = published_instance(folder / "home", mv, other, third)
    yield TestClient(create_app(instance))
    instance.store.close()


def facets(client: TestClient, url: str, *asked: str) -> list[dict]:
    response = client.get(url, params=[("facet", f) for f in asked])
    assert response.status_code == 200, response.text
    return response.json()["facets"]


@pytest.mark.parametrize("url", [f"{V21}/facets", f"{V20}/facets"])
def test_a_repeated_facet_is_listed_once(client, url):
    once = facets(client, url, "cat")
    assert [f["name"] for f in once] == ["cat"]
    assert facets(client, url, "cat", "cat") == once
    assert facets(client, url, "cat", "n", "cat") == facets(client, url, "cat", "n")


@pytest.mark.parametrize("url", [f"{V21}/facets", f"{V20}/facets"])
def test_the_first_occurrence_of_a_facet_gives_its_options(client, url):
    annotated_order, ascending = facets(client, url, "n"), facets(client, url, ASCENDING)
    assert [v["value"] for v in ascending[0]["facets"]] == ["1", "2", "3", "5", "7", "8"]
    assert annotated_order != ascending  # the two orders differ: which one won is seen
    assert facets(client, url, ASCENDING, "n") == ascending
    assert facets(client, url, "n", ASCENDING) == annotated_order


def test_a_refused_later_occurrence_is_still_refused(client):
    response = client.get(f"{V21}/facets", params=[("facet", "cat"), ("facet", 'facet(name="cat", sort="num")')])
    assert response.status_code == 400 and response.json()["error_code"] == "InvalidRESTParameterError"


def test_the_catalogue_lists_a_repeated_facet_once(client):
    url = "/api/explore/v2.1/catalog/facets"
    by_count = facets(client, url, "publisher")
    assert [v["value"] for v in by_count[0]["facets"]] == ["Alpha", "Zeta"]
    assert facets(client, url, "publisher", "publisher") == by_count
    backwards = 'facet(name="publisher", sort="-alphanum")'
    assert [v["value"] for v in facets(client, url, backwards, "publisher")[0]["facets"]] == ["Zeta", "Alpha"]
    assert facets(client, url, "publisher", backwards) == by_count
    assert facets(client, "/api/explore/v2.0/catalog/facets", "publisher", "publisher") == by_count


def test_v1_lists_a_repeated_facet_once(client):
    body = client.get("/api/records/1.0/search/", params=[("dataset", "mv"), ("facet", "cat"), ("facet", "cat")]).json()
    assert [g["name"] for g in body["facet_groups"]] == ["cat"]


# ---- length() of a multivalued field --------------------------------------------------------

def records(client: TestClient, **params) -> list[dict]:
    response = client.get(f"{V21}/records", params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_length_of_a_multivalued_field_is_its_number_of_values(client):
    rows = records(client, select="id, tags, length(tags) as n_tags, length(lower(tags)) as n_lower, "
                                  "length(cat) as n_cat, cat")
    expected = {r["id"]: None if r["tags"] is None else len(r["tags"]) for r in rows}
    assert {r["id"]: r["n_tags"] for r in rows} == expected
    assert {r["id"]: r["n_lower"] for r in rows} == expected
    assert expected[8] == 2 and expected[6] == 3  # " a , b " is two values, "a,c,a" three as shown
    assert all(r["n_cat"] == len(r["cat"]) for r in rows)  # a single-valued text: its characters


def test_length_of_a_multivalued_field_filters_and_sorts_by_values(client):
    shown = {r["id"]: r["tags"] for r in records(client, select="id, tags")}
    two = sorted(i for i, tags in shown.items() if tags is not None and len(tags) == 2)
    assert sorted(r["id"] for r in records(client, select="id", where="length(tags) = 2")) == two == [2, 3, 8]
    first = records(client, select="id", order_by="length(tags) desc, id", limit=1)
    assert first == [{"id": 6}]
    assert records(client, select="max(length(tags)) as most") == [{"most": 3}]
