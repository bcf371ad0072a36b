"""What the catalogue search keeps between calls (``api.catalog_search``: compiled plans by their
clauses, the Arrow table of some dataset objects by their content, the rows a plan's SQL gives
over it) must never change an answer: two callers who see different datasets, or the same
datasets with different fields, each get their own answer after the other filled the caches; a
metadata edit is seen at the next call; a plan that reads the clock follows it."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.auth import services as auth
from portail.catalog import services
from tests.conftest import Published, published_instance

API = "/api/explore/v2.1/catalog/datasets"
FACETS = "/api/explore/v2.1/catalog/facets"
#: a field of ``alpha`` hidden from everyone but the group ``agents``: full text over the
#: catalogue reads the names of the fields the caller sees (``fields_text``)
SECRET = "zorglub"


@pytest.fixture
def setup(tmp_path):
    files = {}
    for slug, text in (("alpha", f"{SECRET};n\nx;1\n"), ("beta", "ville;n\nLyon;2\n"), ("gamma", "code;n\n1;3\n")):
        files[slug] = tmp_path / f"{slug}.csv"
        files[slug].write_text(text, encoding="utf-8")
    instance = published_instance(tmp_path / "home", *(Published(slug, path, title=f"Jeu {slug}")
                                                       for slug, path in files.items()))
    keys = {}
    with instance.session() as s:
        agents = auth.create_group(s, "agents")
        auth.set_dataset_security(s, services.get_dataset(s, "alpha"), hidden_fields={"*": [SECRET], "agents": ["n"]})
        auth.set_dataset_security(s, services.get_dataset(s, "gamma"), visibility="restricted")
        alice = auth.create_user(s, "alice", role="viewer")  # may see the restricted gamma
        auth.grant(s, services.get_dataset(s, "gamma"), "user", "alice")
        carol = auth.create_user(s, "carol", role="viewer")  # sees alpha's hidden field
        auth.add_member(s, agents, carol)
        _, keys["alice"] = auth.create_api_key(s, alice)
        _, keys["carol"] = auth.create_api_key(s, carol)
    yield instance, TestClient(create_app(instance)), keys
    instance.store.close()


def _get(client, keys, who, path=API, **params):
    headers = {"Authorization": f"Apikey {keys[who]}"} if who in keys else {}
    response = client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _ids(body) -> list[str]:
    return sorted(r["dataset_id"] for r in body["results"])


def _facet(body, name) -> dict[str, int]:
    return {e["value"]: e["count"] for f in body["facets"] if f["name"] == name for e in f["facets"]}


def test_callers_seeing_different_datasets_get_their_own_rows_after_a_cache_fill(setup):
    _, client, keys = setup
    where = "records_count >= 0"
    for _ in range(2):  # the second round reads what the first one kept
        assert _ids(_get(client, keys, "anonymous", where=where, select="dataset_id")) == ["alpha", "beta"]
        assert _ids(_get(client, keys, "alice", where=where, select="dataset_id")) == ["alpha", "beta", "gamma"]
        assert _get(client, keys, "anonymous", where=where, select="count(*) as n")["results"] == [{"n": 2}]
        assert _get(client, keys, "alice", where=where, select="count(*) as n")["results"] == [{"n": 3}]
        assert _ids(_get(client, keys, "anonymous", where=where)) == ["alpha", "beta"]
        assert _ids(_get(client, keys, "alice", where=where)) == ["alpha", "beta", "gamma"]


def test_callers_seeing_the_same_datasets_with_other_fields_get_their_own_answer(setup):
    _, client, keys = setup
    for _ in range(2):
        # anonymous and carol see the same two datasets; only carol sees alpha's field named SECRET
        assert _get(client, keys, "anonymous", where=f'"{SECRET}"')["total_count"] == 0
        assert _ids(_get(client, keys, "carol", where=f'"{SECRET}"')) == ["alpha"]
        assert _get(client, keys, "anonymous", FACETS, where=f'"{SECRET}"', facet="features")["facets"] == \
            [{"name": "features", "facets": []}]
        assert _facet(_get(client, keys, "carol", FACETS, where=f'"{SECRET}"', facet="features"), "features")
        assert _get(client, keys, "anonymous", qv1=SECRET)["total_count"] == 0
        assert _get(client, keys, "carol", qv1=SECRET)["total_count"] == 1


def test_a_metadata_edit_is_seen_at_the_next_call(setup):
    instance, client, keys = setup
    assert _get(client, keys, "anonymous", where='"pangolin"')["total_count"] == 0
    assert _get(client, keys, "anonymous", FACETS, where='"pangolin"', facet="publisher")["facets"][0]["facets"] == []
    with instance.session() as s:
        services.update_metadata(s, services.get_dataset(s, "beta"), title="Le pangolin", publisher="Zoo")
    assert _ids(_get(client, keys, "anonymous", where='"pangolin"')) == ["beta"]
    assert _get(client, keys, "anonymous", where='"pangolin"', select="title")["results"] == [{"title": "Le pangolin"}]
    assert _facet(_get(client, keys, "anonymous", FACETS, where='"pangolin"', facet="publisher"), "publisher") == \
        {"Zoo": 1}


def test_a_catalogue_plan_that_reads_the_clock_follows_it(setup):
    instance, client, keys = setup
    soon = datetime.now(timezone.utc) + timedelta(seconds=2)
    with instance.session() as s:
        services.get_dataset(s, "beta").modified = soon
    where = "modified <= now()"
    first = _get(client, keys, "anonymous", where=where, select="dataset_id, now() as at")
    assert _ids(first) == ["alpha"]
    time.sleep(max(0.0, (soon - datetime.now(timezone.utc)).total_seconds()) + 0.2)
    second = _get(client, keys, "anonymous", where=where, select="dataset_id, now() as at")
    assert _ids(second) == ["alpha", "beta"]
    assert second["results"][0]["at"] != first["results"][0]["at"]
    assert _ids(_get(client, keys, "anonymous", where=where)) == ["alpha", "beta"]
    assert _get(client, keys, "anonymous", FACETS, where=where, facet="features")["facets"][0]["facets"]


def test_a_kept_plan_is_the_one_of_the_timezone_asked(setup):
    instance, client, keys = setup
    with instance.session() as s:
        services.get_dataset(s, "beta").modified = datetime(2024, 5, 3, 8, 0, tzinfo=timezone.utc)
    asked = dict(where="dataset_id = 'beta'", select="hour(modified) as h")
    for _ in range(2):
        assert _get(client, keys, "anonymous", **asked, timezone="UTC")["results"] == [{"h": 8}]
        assert _get(client, keys, "anonymous", **asked, timezone="Europe/Paris")["results"] == [{"h": 10}]
