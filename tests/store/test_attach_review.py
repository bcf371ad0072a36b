"""A version's index file is attached beside the version (``_index``) and derived from it: what
goes wrong with it must not refuse the version.

- SQL prepared for a version may read its index file's catalog. A records call keeps its plan
  (``explore_service._PAGES``) and runs it after ``has_index``; a ``release`` between the two
  (another call seeing the catalogue change) detached both, and ``rows``/``run`` attached the
  version again but not its index: the kept plan failed (DuckDB read the missing catalog's
  table name as a Python variable) — a 500 in the middle of a reload.
- An index file that is no DuckDB database, or a postings file that is no Arrow file, (damaged disk, a bad copy) refused every call to the
  dataset, full text or not, with a 500 until a reindex: it is now as no index, the version
  served by scans (same answers, slower), and read again once a reindex replaces it; postings
  unreadable are read through the engine, as those of another build.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.catalog import services
from portail.operations import reindex
from portail.odsql import Query, compile_plan
from portail.schema import fields_from_json
from portail.store import postings
from portail.store.duckdb_store import index_path
from tests.conftest import Published, make_instance, published_instance
from tests.store.resolving import resolving

SOURCE = ("referentiels", "laposte_hexasmal.csv")
RECORDS = "/api/explore/v2.1/catalog/datasets/cp/records"


@pytest.fixture(scope="module")
def published_cp(tmp_path_factory, refdata) -> Path:
    home = tmp_path_factory.mktemp("attach-review") / "home"
    instance = published_instance(home, Published("cp", refdata.joinpath(*SOURCE)))
    instance.store.close()
    instance.catalog.kw["bind"].dispose()
    return home


@pytest.fixture
def served(published_cp, tmp_path):
    instance = make_instance(shutil.copytree(published_cp, tmp_path / "home"))
    yield instance
    instance.store.close()


def _version(instance):
    with instance.session() as session:
        current = services.get_dataset(session, "cp").current
        return current.location, fields_from_json(current.fields)


def _search_count(instance, location, fields) -> object:
    """A count of a full-text search prepared to read the index file's postings (not resolved
    to row ids), as a kept plan does for a frequent word."""
    plan = compile_plan(Query(select="count(*) as n", where=['"vitry"']), fields)
    with resolving(instance.store, 0):
        prepared = instance.store.prepare(location, plan.select)
    assert prepared.known is None and "_ix." in prepared.sql  # it reads the index file
    return prepared


def test_a_kept_plan_reading_the_index_runs_after_a_release(served):
    store = served.store
    location, fields = _version(served)
    prepared = _search_count(served, location, fields)
    expected = store.rows(location, prepared)[0]["n"]
    assert expected > 0
    assert store.release(keep=()) == [location]  # between the call's has_index and its run
    assert store.rows(location, prepared)[0]["n"] == expected
    assert store.release(keep=()) == [location]
    assert store.run(location, prepared.sql).column("n")[0].as_py() == expected


@pytest.mark.parametrize("damaged", [index_path, postings.postings_path], ids=["index", "postings"])
def test_an_unreadable_index_file_leaves_the_dataset_served_by_scans(served, damaged):
    location, _ = _version(served)
    client = TestClient(create_app(served), raise_server_exceptions=False)
    searched = {"where": '"vitry"', "limit": 0}
    expected = client.get(RECORDS, params=searched).json()["total_count"]
    assert expected > 0
    served.store.release(keep=())  # read again at the next call
    assert damaged(location).is_file()
    damaged(location).write_bytes(b"no database here" * 512)
    for params in (searched, {"where": "code_postal = '01400'", "limit": 5}, {"limit": 1}):
        answer = client.get(RECORDS, params=params)
        assert answer.status_code == 200, (params, answer.content[:300])
    assert client.get(RECORDS, params=searched).json()["total_count"] == expected  # the scan's answer
    codes = client.get(RECORDS, params={"where": "code_postal = '01400'", "limit": 5}).json()["results"]
    assert codes and all(r["code_postal"] == "01400" for r in codes)  # leading zero kept
    if damaged is index_path:
        assert not served.store.has_index(location)
        reindex(served, "cp")  # a new file at that name: read again, without a restart
    assert served.store.has_index(location)
    assert client.get(RECORDS, params=searched).json()["total_count"] == expected
