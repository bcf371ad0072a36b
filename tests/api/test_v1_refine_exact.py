"""v1's ``refine.<field>``/``exclude.<field>`` values are matched as sent: v1 has no quoting, and
the widgets send back a facet's ``path`` unchanged, spaces and quotes included (found by a
facets hunt: ``refine.cat=B%20`` counted the records of ``B``, whose entry it marked refined,
while the facet listed ``B `` apart)."""

from __future__ import annotations

import csv

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import Published, published_instance

SEARCH = "/api/records/1.0/search/"
CATS = ["B", "B", "B ", '"X"', "X", "X", "X"]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("v1refine")
    path = folder / "cats.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:  # '"X"' quoted as CSV writes it: '"""X"""'
        csv.writer(handle, delimiter=";").writerows([("n", "cat"), *enumerate(CATS)])
    instance = published_instance(folder / "home", Published("cats", path, "Cats"))
    yield TestClient(create_app(instance))
    instance.store.close()


@pytest.mark.parametrize("value", ["B", "B ", '"X"', "X"])
def test_a_refined_value_counts_its_own_records(client, value):
    answer = client.get(SEARCH, params={"dataset": "cats", "rows": 0, "facet": "cat", "refine.cat": value}).json()
    assert answer["nhits"] == CATS.count(value)
    [group] = answer["facet_groups"]
    refined = [f["path"] for f in group["facets"] if f.get("state") == "refined"]
    assert refined == [value]


@pytest.mark.parametrize("value", ["B ", '"X"'])
def test_an_excluded_value_leaves_its_look_alikes(client, value):
    answer = client.get(SEARCH, params={"dataset": "cats", "rows": 0, "exclude.cat": value}).json()
    assert answer["nhits"] == len(CATS) - CATS.count(value)


def test_v1_and_v2_1_share_no_misread_answer(client):
    """One cache serves both APIs: v2.1's ``refine=cat:"X"`` (the value X, quotes read as
    quoting) first, then v1's ``refine.cat="X"`` (the value with its quotes): each its own count
    (found by a review: v1's value, a str equal to v2.1's text, was served v2.1's answer)."""
    facets = "/api/explore/v2.1/catalog/datasets/cats/facets"
    v21 = client.get(facets, params={"facet": "cat", "refine": 'cat:"X"'}).json()
    [cat] = [f for f in v21["facets"] if f["name"] == "cat"]
    assert [e["value"] for e in cat["facets"] if e["state"] == "refined"] == ["X"]
    v1 = client.get(SEARCH, params={"dataset": "cats", "rows": 0, "facet": "cat", "refine.cat": '"X"'}).json()
    assert v1["nhits"] == 1
    assert [f["path"] for f in v1["facet_groups"][0]["facets"] if f.get("state") == "refined"] == ['"X"']


def test_the_dataset_page_reads_a_refinement_as_v1_does(client):
    """The table tab (v2.1 under the page) and the v1 tabs count the same records for one URL."""
    page = client.get("/explore/dataset/cats/table/", params={"refine.cat": "B "})
    assert page.status_code == 200
    v1 = client.get(SEARCH, params={"dataset": "cats", "rows": 0, "refine.cat": "B "}).json()
    assert v1["nhits"] == 1
    assert "1 enregistrement" in page.text or "1 record" in page.text, page.text[:2000]
