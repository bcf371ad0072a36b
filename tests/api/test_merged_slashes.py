"""Repeated slashes in a path are one, as on Opendatasoft's portals (nginx's ``merge_slashes``):
apps joining a portal's address ending in ``/`` with ``/api/…`` send ``//api/…`` and read the
answer. Through the real app, on a real published file."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import Published, published_instance, semicolon_csv


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    home = tmp_path_factory.mktemp("slashes")
    rows = [{"ville": "Lyon", "n": "1"}, {"ville": "Grenoble", "n": "2"}]
    instance = published_instance(home / "home", Published("villes", semicolon_csv(home / "villes.csv", rows), "Villes"))
    yield TestClient(create_app(instance))
    instance.store.close()


@pytest.mark.parametrize("path", ["//api/explore/v2.1/catalog/datasets/villes/records",
                                  "/api//explore/v2.1/catalog/datasets//villes/records/",
                                  "//api/records/1.0/search/"])
def test_repeated_slashes_are_one(client, path):
    # in full: httpx reads a path starting "//" as a host, as browsers do
    answer = client.get("http://testserver" + path, params={"dataset": "villes", "order_by": "n", "sort": "-n"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    names = [r["ville"] for r in body["results"]] if "results" in body else [r["fields"]["ville"] for r in body["records"]]
    assert names == ["Lyon", "Grenoble"]


def test_a_missing_path_stays_a_404(client):
    assert client.get("http://testserver//api/explore/v2.1/catalog/datasets/nowhere/records").status_code == 404
