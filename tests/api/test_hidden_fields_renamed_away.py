"""A ruleset hiding a field the published version lacks (``explore_service._renamed_away``): it
blanks the dataset's schema and refuses its records only when the hidden column was renamed by a
reload (served under its new name); a column dropped on purpose, or a rule written before the
first load naming no field, leaves the dataset readable (since b71a6ec every caller of the
ruleset lost both)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.auth import services as auth
from portail.catalog import services
from portail.operations import load_file
from tests.conftest import make_instance, semicolon_csv

API = "/api/explore/v2.1/catalog/datasets"
ROWS = [{"nom": "Paris", "secret": "zeta", "n": "1"}, {"nom": "Lyon", "secret": "alpha", "n": "2"}]


def _reshaped(rows: list[dict[str, str]], name: str, renamed: str | None = None) -> list[dict[str, str]]:
    """``rows`` without the column ``name``, or with it called ``renamed``: a reload's file."""
    return [{(renamed if k == name else k): v for k, v in row.items() if renamed or k != name} for row in rows]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """``retire`` hides ``secret``, then a reload dropped the column; ``renomme`` hides it, then a
    reload renamed it ``secret_v2``; ``avant`` got a rule hiding ``inconnu`` before its first
    load (no schema to check it against)."""
    folder = tmp_path_factory.mktemp("hidden-renamed")
    instance = make_instance(folder / "home", session_cookie_secure=False)  # the test client speaks plain HTTP
    source = semicolon_csv(folder / "d.csv", ROWS)
    for slug in ("retire", "renomme", "avant"):
        with instance.session() as s:
            dataset = services.create_dataset(s, slug, slug)
            if slug == "avant":
                auth.set_dataset_security(s, dataset, hidden_fields={"*": ["inconnu"]})
        load_file(instance, slug, source, publish=True)
        if slug != "avant":
            with instance.session() as s:
                auth.set_dataset_security(s, services.get_dataset(s, slug), hidden_fields={"*": ["secret"]})
    load_file(instance, "retire", semicolon_csv(folder / "v2.csv", _reshaped(ROWS, "secret")), publish=True)
    load_file(instance, "renomme", semicolon_csv(folder / "v3.csv", _reshaped(ROWS, "secret", "secret_v2")),
              publish=True)
    yield instance, TestClient(create_app(instance))
    instance.store.close()


def test_a_hidden_name_the_version_lacks_blanks_the_dataset_only_when_renamed(site):
    _, client = site
    for slug, names in (("retire", ["nom", "n"]), ("avant", ["nom", "secret", "n"])):
        dataset = client.get(f"{API}/{slug}").json()
        assert [f["name"] for f in dataset["fields"]] == names and dataset["has_records"] is True, slug
        records = client.get(f"{API}/{slug}/records", params={"order_by": "n"})
        assert records.status_code == 200 and [r["nom"] for r in records.json()["results"]] == ["Paris", "Lyon"], slug
    # renamed: still named nowhere, its records refused
    assert client.get(f"{API}/renomme").json()["fields"] == []
    assert client.get(f"{API}/renomme/records").json()["error_code"] == "SecurityError"
