"""Input that once made the read APIs answer 500, found by fuzzing them over published data:
each is now an Opendatasoft-style 400 naming what is wrong, without engine details."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import annotated, published_instance

URL = "/api/explore/v2.1/catalog/datasets/mv/records"
#: A moment of year 1 or 9999 near midnight UTC, which the query's zone moves out of Python's
#: years (0 in St John's, 10000 in Kiritimati).
FIRST = "date'0001-01-01T00:00:00+00:00'"
LAST = "date'9999-12-31T23:59:59+00:00'"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runtime-errors")
    instance = published_instance(folder / "home", annotated(folder))
    yield TestClient(create_app(instance), raise_server_exceptions=False)
    instance.store.close()


@pytest.mark.parametrize("timezone, moment", [("America/St_Johns", FIRST), ("Pacific/Kiritimati", LAST)])
@pytest.mark.parametrize("params", [
    {"select": "year({m})"},  # a date part reads the moment on the zone's clock (kinds.local_time)
    {"where": "date_format({m}, 'yyyy') = '1'"},
    {"order_by": "hour({m})"},
    {"where": "d = {m}"},  # a date field against a datetime (kinds._mixed_dates)
    {"where": "d in [{m}..{m}]"},
    {"select": "count(*)", "group_by": "range(d, {m}, {m})"},  # range() bounds on a date field
], ids=["date-part", "date-format", "order-by", "date-vs-datetime", "date-range", "range-bounds"])
def test_a_moment_moved_out_of_range_by_the_time_zone_is_a_400(client, params, timezone, moment):
    response = client.get(URL, params={**{k: v.format(m=moment) for k, v in params.items()}, "timezone": timezone})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error_code"] == "ODSQLError"
    assert "date out of range" in body["message"] and timezone in body["message"]
    assert not any(leak in body["message"].lower() for leak in ("overflow", "traceback", "duckdb"))
