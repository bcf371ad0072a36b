"""A streamed export's status waits for its first chunk (``api.streaming``), so that a query
failing at the engine's first batch is answered with its error, not a 200 cut short. That holds
only if a writer's first chunk waits for the first batch too: CSV's header went out alone
before it, and a query out of memory was a 200 holding a header, a file of no record.

A 12 MB query memory on 50,000 points makes fine clusters (geo_cluster at zoom 15) run out of
memory at the first batch, whatever else runs (``test_engine_limits``)."""

from __future__ import annotations

import csv
import io
import random

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import Published, published_instance

EXPORTS = "/api/explore/v2.1/catalog/datasets/points/exports"
HEAVY = {"select": "count(*) as n", "group_by": "geo_cluster(geo_point_2d, 15)"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("first-chunk")
    path = folder / "points.csv"
    rng = random.Random(1)
    with open(path, "w", encoding="utf-8") as out:
        out.write("code_commune;geo_point_2d\n")
        for i in range(50_000):
            out.write(f"{i % 1000:05d};{rng.uniform(41, 51):.6f},{rng.uniform(-5, 9):.6f}\n")
    instance = published_instance(folder / "home", Published("points", path), query_memory_limit="12MB",
                                  ingest_threads=2)
    yield TestClient(create_app(instance), raise_server_exceptions=False)
    instance.store.close()


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_a_query_out_of_memory_at_its_first_batch_is_an_error_not_a_200(served, fmt):
    answer = served.get(f"{EXPORTS}/{fmt}", params=HEAVY)
    assert answer.status_code in (400, 503), (answer.status_code, answer.content[:200])
    assert answer.json()["error_code"] in ("QueryTooLarge", "ServerBusy")


def test_a_csv_export_starts_with_its_header_and_holds_every_record(served):
    answer = served.get(f"{EXPORTS}/csv", params={"where": "code_commune = '00042'"})
    assert answer.status_code == 200
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["code_commune", "geo_point_2d"] and len(rows) == 51
    assert {row[0] for row in rows[1:]} == {"00042"}  # codes keep their zeros


def test_a_csv_export_of_no_record_is_its_header_alone(served):
    answer = served.get(f"{EXPORTS}/csv", params={"where": "code_commune = 'none'", "with_bom": "false"})
    assert answer.status_code == 200 and answer.content == b"code_commune;geo_point_2d\r\n"
