"""Full-text questions to a small "lieux" dataset, through Explore v2.1's ``where`` and v1's
``q``, answered as the records' numbers ``n``: the calls of the tests of which full-text rule
each entry point follows and of fuzzy words (each publishes its own "lieux"). Kept here rather
than in one test file, so that a test file imports no other test file."""

from __future__ import annotations

from fastapi.testclient import TestClient

RECORDS = "/api/explore/v2.1/catalog/datasets/lieux/records"
V1 = "/api/records/1.0/search/"


def where_numbers(client: TestClient, where: str) -> list[int]:
    answer = client.get(RECORDS, params={"where": where, "select": "n", "order_by": "n", "limit": 100})
    assert answer.status_code == 200, answer.text
    return [r["n"] for r in answer.json()["results"]]


def q_numbers(client: TestClient, q: str) -> list[int]:
    answer = client.get(V1, params={"dataset": "lieux", "q": q, "rows": 100, "fields": "n"})
    assert answer.status_code == 200, answer.text
    return sorted(r["fields"]["n"] for r in answer.json()["records"])
