"""A date facet's default order (dataset and catalogue facets, v1's, and the table page's).
Opendatasoft lists a date facet's years, months and days in calendar order unless asked
otherwise (its documented answers: ``2013`` of 154 before ``2014`` of 120, ``2020/11`` of 2
before ``2020/12`` of 6); the catalogue had once switched to most-used first (commit 38d1fa2),
as the dataset facets did. An order asked for (``sort``, v1's ``facetsort.d``) or annotated by
the publisher (``facetsort``, ``facets.annotated_sort``) wins."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.catalog import services
from tests.conftest import Published, published_instance, semicolon_csv

API = "/api/explore/v2.1/catalog"
#: a date field with one value in 2021, three in 2022 and two in 2023 (months: two in March
#: 2022, one in January): most used first and calendar order disagree at every level
DAYS = ["2021-06-01", "2022-03-04", "2022-03-05", "2022-01-09", "2023-02-01", "2023-02-02"]
#: the datasets' ``modified``: most used year 2024, calendar order starts at 2020
MODIFIED = {"a": datetime(2020, 1, 1, tzinfo=timezone.utc), "b": datetime(2024, 1, 1, tzinfo=timezone.utc),
            "c": datetime(2024, 2, 1, tzinfo=timezone.utc), "used": datetime(2024, 3, 1, tzinfo=timezone.utc)}
#: the field annotations of each dataset: ``used`` orders its date facet most used first
ANNOTATIONS = {slug: {"k": {"facet": []}, "d": {"facet": []}} for slug in MODIFIED} \
    | {"used": {"d": {"facet": [], "facetsort": ["-count"]}}}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("date_facet_order")
    rows = [{"d": d, "k": "x"} for d in DAYS]
    instance = published_instance(folder / "home", *(
        Published(slug, semicolon_csv(folder / f"{slug}.csv", rows), title=slug, annotations=ANNOTATIONS[slug])
        for slug in MODIFIED))
    with instance.session() as s:
        for slug, modified in MODIFIED.items():
            services.get_dataset(s, slug).modified = modified
    yield TestClient(create_app(instance))
    instance.store.close()


def _entries(response) -> list[tuple[str, int]]:
    assert response.status_code == 200, response.text
    return [(e["value"], e["count"]) for e in response.json()["facets"][0]["facets"]]


def test_a_date_facet_lists_its_levels_in_calendar_order_by_default(client):
    """Dataset and catalogue date facets in calendar order at every level, a ``sort`` asked
    (or a ``facetsort`` annotation) still winning; other fields stay most used first."""
    records = f"{API}/datasets/a/facets"
    assert _entries(client.get(records, params={"facet": "d"})) == [("2021", 1), ("2022", 3), ("2023", 2)]
    months = client.get(records, params={"facet": "d", "refine": "d:2022"}).json()["facets"][0]["facets"][0]["facets"]
    assert [(m["value"], m["count"]) for m in months] == [("2022/01", 1), ("2022/03", 2)]
    assert _entries(client.get(records, params={"facet": 'facet(name="d", sort="-count")'}))[0] == ("2022", 3)
    assert _entries(client.get(f"{API}/facets", params={"facet": "modified"})) == [("2020", 1), ("2024", 3)]
    assert _entries(client.get(f"{API}/facets", params={"facet": 'facet(name="modified", sort="-count")'})) \
        == [("2024", 3), ("2020", 1)]
    catalogue_months = client.get(f"{API}/facets", params={"facet": "modified", "refine": "modified:2024"}).json()
    assert [m["value"] for m in catalogue_months["facets"][0]["facets"][0]["facets"]] \
        == ["2024/01", "2024/02", "2024/03"]
    # v1 (the widgets' facetsort-less calls) reads the same default
    v1 = client.get("/api/records/1.0/search/", params={"dataset": "a", "facet": "d", "rows": 0}).json()
    assert [f["path"] for f in next(g for g in v1["facet_groups"] if g["name"] == "d")["facets"]] == ["2021", "2022", "2023"]


def test_date_facets_calendar_by_default_an_explicit_order_wins(client):
    """v1's ``facetsort.d`` and the publisher's ``facetsort`` annotation win over the calendar,
    on v1, v2.1 and the table page alike."""
    def v1(dataset: str, **params) -> list[str]:
        body = client.get("/api/records/1.0/search/", params={"dataset": dataset, "facet": "d", "rows": 0, **params})
        assert body.status_code == 200, body.text
        return [f["path"] for f in next(g for g in body.json()["facet_groups"] if g["name"] == "d")["facets"]]

    assert v1("a") == ["2021", "2022", "2023"]
    assert v1("a", **{"facetsort.d": "-count"}) == ["2022", "2023", "2021"]
    assert v1("a", **{"facetsort.d": "-alphanum"}) == ["2023", "2022", "2021"]
    assert v1("used") == ["2022", "2023", "2021"]  # the annotation's order
    assert [value for value, _ in _entries(client.get(f"{API}/datasets/used/facets", params={"facet": "d"}))] \
        == ["2022", "2023", "2021"]
    for slug, order in (("a", ["2021", "2022", "2023"]), ("used", ["2022", "2023", "2021"])):
        html = client.get(f"/explore/dataset/{slug}/table/?lang=en").text
        where = [html.find(f"refine.d={year}") for year in order]
        assert -1 not in where and where == sorted(where), (slug, where)
