"""Small helpers to call the Explore API in the conformance cases and read its answers."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi.testclient import TestClient

BASE = "/api/explore/v2.1/catalog/datasets"

#: What identifies a row of each dataset in a result (a multiset, so duplicates count).
KEYS = {
    "communes": ("insee_com",),
    "elus": ("nom_de_l_elu", "prenom_de_l_elu", "date_de_naissance", "code_du_canton"),
    "decp": ("id", "objet"),
    "logements": ("id_livraison",),
    "departements": ("code",),
    "sirene": ("siret",),
}


def get(client: TestClient, slug: str, endpoint: str = "records", **params: Any) -> dict:
    """A 200 answer's JSON (fails the test with the body otherwise). List values repeat the parameter."""
    pairs = [(k, v) for k, vs in params.items() for v in (vs if isinstance(vs, list) else [vs])]
    response = client.get(f"{BASE}/{slug}/{endpoint}", params=pairs)
    assert response.status_code == 200, response.text
    return response.json()


def error(client: TestClient, slug: str, endpoint: str = "records", **params: Any) -> tuple[int, dict]:
    pairs = [(k, v) for k, vs in params.items() for v in (vs if isinstance(vs, list) else [vs])]
    response = client.get(f"{BASE}/{slug}/{endpoint}", params=pairs)
    return response.status_code, response.json()


def key_of(slug: str, row: dict) -> tuple:
    return tuple(_plain(row[k]) for k in KEYS[slug])


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def assert_where(client: TestClient, slug: str, where: str | list[str], expected: list[dict], **params: Any) -> None:
    """``total_count`` equals the number of expected rows; when they fit in one page, the rows
    returned are exactly the expected ones (as a multiset of keys)."""
    body = get(client, slug, where=where, limit=100, select=",".join(KEYS[slug]), **params)
    assert body["total_count"] == len(expected), f"total_count {body['total_count']}, expected {len(expected)}"
    if len(expected) <= 100:
        assert Counter(key_of(slug, r) for r in body["results"]) == Counter(key_of(slug, r) for r in expected)
