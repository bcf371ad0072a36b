"""Refinement paths as the facets hunt found them: a bad date path is the same 400 on the
catalogue as on a dataset (it answered 200 with every facet empty); ``-1`` is no date path (it
read as year 1); a hierarchy's path refines the same with a separator at either end (``fr/``
matched nothing while stored values are collapsed)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import Published, published_instance, semicolon_csv

CATALOG = "/api/explore/v2.1/catalog"
FACETS = f"{CATALOG}/datasets/lieux/facets"
ROWS = [{"path": "fr/ara", "d": "2020-03-04"}, {"path": "fr//idf/", "d": "2021-01-01"}, {"path": "de", "d": "2021-05-06"}]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("facetpaths")
    instance = published_instance(folder / "home", Published("lieux", semicolon_csv(folder / "lieux.csv", ROWS)))
    yield TestClient(create_app(instance))
    instance.store.close()


@pytest.mark.parametrize("path", ["2026/13", "20x", "-1", "2020//03"])
def test_a_bad_date_path_is_refused_on_the_catalogue_as_on_a_dataset(client, path):
    for url, field in ((f"{CATALOG}/facets", "modified"), (f"{CATALOG}/datasets", "modified"), (FACETS, "d")):
        answer = client.get(url, params={"refine": f"{field}:{path}"})
        assert answer.status_code == 400 and "Invalid date path" in answer.json()["message"], (url, path, answer.text)


def test_a_catalogue_date_path_in_short_form_refines(client):
    modified = client.get(f"{CATALOG}/datasets/lieux").json()["metas"]["default"]["modified"]
    short = f"{int(modified[:4])}-{int(modified[5:7])}"  # 2026-3 for 2026/03
    answer = client.get(f"{CATALOG}/datasets", params={"refine": f"modified:{short}"}).json()
    assert answer["total_count"] == 1
    months = client.get(f"{CATALOG}/facets", params={"facet": "modified", "refine": f"modified:{short}"}).json()
    [year] = months["facets"][0]["facets"]
    assert year["state"] == "refined" and year["facets"][0]["state"] == "refined"


@pytest.mark.parametrize("path", ["fr", "fr/", "/fr", "/fr//"])
def test_a_path_refines_whatever_separators_frame_it(client, path):
    answer = client.get(FACETS, params={"facet": 'facet(name="path", hierarchical=true, separator="/")',
                                        "refine": f'path:"{path}"'}).json()
    [facet] = [f for f in answer["facets"] if f["name"] == "path"]
    assert [(e["value"], e["state"]) for e in facet["facets"]] == [("fr", "refined")]
    assert sorted(e["value"] for e in facet["facets"][0]["facets"]) == ["fr/ara", "fr/idf"]
