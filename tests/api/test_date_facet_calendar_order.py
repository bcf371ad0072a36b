"""Date facets in calendar order by default (``facets.annotated_sort``), as Opendatasoft lists them,
through v1's ``facet``, v2.1's facets and the table page's facets alike; an order asked for
(``facetsort.d``) or annotated by the publisher (``facetsort``) wins."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import Published, published_instance

#: one day in 2021, three in 2022, two in 2023: most used first and calendar order disagree
DAYS = ["2021-06-01", "2022-03-04", "2022-03-05", "2022-01-09", "2023-02-01", "2023-02-02"]


@pytest.fixture(scope="module")
def dated(tmp_path_factory):
    from tests.conftest import semicolon_csv

    folder = tmp_path_factory.mktemp("date-facets")
    rows = [{"d": d, "k": "x"} for d in DAYS]
    instance = published_instance(
        folder / "home",
        Published("cal", semicolon_csv(folder / "cal.csv", rows), title="cal", annotations={"d": {"facet": []}}),
        Published("used", semicolon_csv(folder / "used.csv", rows), title="used",
                  annotations={"d": {"facet": [], "facetsort": ["-count"]}}))
    yield TestClient(create_app(instance))
    instance.store.close()


def test_date_facets_calendar_by_default_an_explicit_order_wins(dated):
    def v1(dataset: str, **params) -> list[str]:
        body = dated.get("/api/records/1.0/search/", params={"dataset": dataset, "facet": "d", "rows": 0, **params})
        assert body.status_code == 200, body.text
        return [f["path"] for f in next(g for g in body.json()["facet_groups"] if g["name"] == "d")["facets"]]

    assert v1("cal") == ["2021", "2022", "2023"]
    assert v1("cal", **{"facetsort.d": "-count"}) == ["2022", "2023", "2021"]
    assert v1("cal", **{"facetsort.d": "-alphanum"}) == ["2023", "2022", "2021"]
    assert v1("used") == ["2022", "2023", "2021"]  # the annotation's order
    v2 = dated.get("/api/explore/v2.1/catalog/datasets/used/facets", params={"facet": "d"}).json()
    assert [e["value"] for e in v2["facets"][0]["facets"]] == ["2022", "2023", "2021"]
    for slug, order in (("cal", ["2021", "2022", "2023"]), ("used", ["2022", "2023", "2021"])):
        html = dated.get(f"/explore/dataset/{slug}/table/?lang=en").text
        where = [html.find(f"refine.d={year}") for year in order]
        assert -1 not in where and where == sorted(where), (slug, where)
