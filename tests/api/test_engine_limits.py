"""Queries that need more memory than the engine gives them (PORTAIL_QUERY_MEMORY_LIMIT): an
answer in Opendatasoft's shape that says how to narrow the query, never a 500, and a server
that answers the next query. Alone, such a query is refused (400: asking again is vain);
beside other queries that share the memory, it is a 503 with Retry-After (it may fit once they
end). A 20 MB limit on 50,000 points makes fine clusters (geo_cluster at zoom 15) run out of
memory the way 2 M points did with 1 GB."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlglot import exp

from portail.api import create_app
from portail.catalog import services
from tests.conftest import Published, published_instance

RECORDS = "/api/explore/v2.1/catalog/datasets/points/records"
HEAVY = {"select": "count(*) as n", "group_by": "geo_cluster(geo_point_2d, 15)", "limit": 10}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("limits")
    path = folder / "points.csv"
    rng = random.Random(1)
    with open(path, "w", encoding="utf-8") as out:
        out.write("name;geo_point_2d\n")
        for i in range(50_000):
            out.write(f"p{i};{rng.uniform(41, 51):.6f},{rng.uniform(-5, 9):.6f}\n")
    instance = published_instance(folder / "home", Published("points", path), query_memory_limit="20MB",
                                  ingest_threads=2)
    yield instance, TestClient(create_app(instance), raise_server_exceptions=False)
    instance.store.close()


def assert_still_serving(client):
    answer = client.get(RECORDS, params={"limit": 1, "where": "name = 'p7'"})
    assert answer.status_code == 200 and answer.json()["total_count"] == 1


def test_a_query_too_large_alone_is_refused(served):
    _, client = served
    answer = client.get(RECORDS, params=HEAVY)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["error_code"] == "QueryTooLarge"
    assert "more memory than the server gives one query" in body["message"] and "in_bbox()" in body["message"]
    assert "Retry-After" not in answer.headers
    assert_still_serving(client)


def test_a_query_crowded_out_by_others_is_asked_again_later(served):
    """A download being served holds its query open on the reader: a query that runs out of
    memory meanwhile did not run alone."""
    instance, client = served
    with instance.session() as s:
        location = services.get_dataset(s, "points").current.location
    download = instance.store.stream(location, exp.select("*").from_("records"), batch_size=1000)
    next(download)
    try:
        answer = client.get(RECORDS, params=HEAVY)
    finally:
        download.close()
    assert answer.status_code == 503, answer.text
    assert answer.json()["error_code"] == "ServerBusy" and "in_bbox()" in answer.json()["message"]
    assert answer.headers["Retry-After"].isdigit()
    assert client.get(RECORDS, params=HEAVY).status_code == 400  # alone again
    assert_still_serving(client)


def test_simultaneous_heavy_queries_never_fail_as_internal_errors(served):
    """The performance hunt's case: several map clients asking fine clusters at once."""
    _, client = served
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda zoom: client.get(RECORDS, params={
            **HEAVY, "group_by": f"geo_cluster(geo_point_2d, {zoom})"}), (15, 16, 17)))
    assert {a.status_code for a in answers} <= {400, 503}, [a.text for a in answers]
    assert all(a.json()["error_code"] in ("QueryTooLarge", "ServerBusy") for a in answers)
    assert_still_serving(client)
