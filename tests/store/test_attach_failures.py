"""A version's file and its index file are attached to the reader at their first call. When that
fails (the reader's memory limit reached while the index file is read, under load or with a
small ``query_memory_limit``), the call is refused as any query out of memory is (a 400 or a
503 in Opendatasoft's shape, not a 500), and nothing of the attach outlives it: the index file
stayed attached but unremembered, so every later call failed attaching it again ("database
with name v_…_ix already exists") and the dataset answered 500s until the server restarted.

The engine's memory limit is real: reading a postal-codes version's index file needs ~10 MB of
the reader's memory, attaching its version file a few hundred KB; the limit is raised
afterwards on the reader (``SET memory_limit``), as other queries ending would free memory.

The index file is derived from the version: what else goes wrong with it must not refuse the
version either.

- SQL prepared for a version may read its index file's catalog. A records call keeps its plan
  (``explore_service._PAGES``) and runs it after ``has_index``; a ``release`` between the two
  (another call seeing the catalogue change) detached both, and ``rows``/``run`` attached the
  version again but not its index: the kept plan failed (DuckDB read the missing catalog's
  table name as a Python variable) — a 500 in the middle of a reload.
- An index file that is no DuckDB database, or a postings file that is no Arrow file (damaged
  disk, a bad copy), refused every call to the dataset, full text or not, with a 500 until a
  reindex: it is now as no index, the version served by scans (same answers, slower), and read
  again once a reindex replaces it; postings unreadable are read through the engine, as those
  of another build.
- An index file that fails to open for a passing reason (too many open files under a burst of
  exports) is not a damaged one. It was remembered as unreadable until its file changed (a
  reindex) or the process restarted: full-text search silently served by scans, and
  ``has_index`` false, for the life of a worker. The call that meets it is served without it;
  the next one reads it again."""

from __future__ import annotations

import os
import resource
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlglot import parse_one

from portail.api import create_app
from portail.catalog import services
from portail.odsql import Query, compile_plan
from portail.operations import reindex
from portail.schema import fields_from_json
from portail.store import postings
from portail.store.duckdb_store import index_path
from portail.store.engine import ResourceExhausted
from tests.conftest import Published, make_instance, published_instance
from tests.store.resolving import resolving

SOURCE = ("referentiels", "laposte_hexasmal.csv")
RECORDS = "/api/explore/v2.1/catalog/datasets/cp/records"
#: Too little for reading the index file, enough for attaching the version file.
INDEX_STARVED = "1MB"
#: Too little for attaching the version file itself.
VERSION_STARVED = "128KB"
#: Enough for all of it, as when the queries holding the memory have ended.
ENOUGH = "256MB"


@pytest.fixture(scope="module")
def published_cp(tmp_path_factory, refdata) -> Path:
    """The postal codes published once as ``cp`` (with its index file), at a home each test copies."""
    home = tmp_path_factory.mktemp("attach-failures") / "home"
    instance = published_instance(home, Published("cp", refdata.joinpath(*SOURCE)))
    instance.store.close()
    instance.catalog.kw["bind"].dispose()
    return home


@pytest.fixture
def starved(published_cp, tmp_path):
    """This test's own copy of ``cp``, served by a reader given too little memory for its index."""
    instance = make_instance(shutil.copytree(published_cp, tmp_path / "home"), query_memory_limit=INDEX_STARVED)
    yield instance
    instance.store.close()


@pytest.fixture
def served(published_cp, tmp_path):
    """This test's own copy of ``cp``, served by a reader with the default memory limit."""
    instance = make_instance(shutil.copytree(published_cp, tmp_path / "home"))
    yield instance
    instance.store.close()


def _location(instance) -> str:
    """The current version's file, from the catalogue (serving it would already attach it)."""
    with instance.session() as session:
        return services.get_dataset(session, "cp").current.location


def _limit(store, memory: str) -> None:
    """The reader's memory limit, changed as the engine's own setting (global to the reader)."""
    store._connection().execute(f"SET memory_limit = '{memory}'")


def _attached(store) -> set[str]:
    """The databases attached to the reader, as the engine lists them."""
    return {name for (name,) in store._connection().execute("SELECT database_name FROM duckdb_databases()").fetchall()}


def test_an_index_file_read_out_of_memory_is_refused_and_left_detached_until_memory_is_back(starved):
    store, location = starved.store, _location(starved)
    for _ in range(2):  # the second call fails alike: the first left nothing half attached
        with pytest.raises(ResourceExhausted) as refused:
            store.has_index(location)
        assert refused.value.crowded is False  # alone: it needs more than the reader has
        assert not [name for name in _attached(store) if name.endswith("_ix")]
    _limit(store, ENOUGH)
    assert store.has_index(location)
    assert [name for name in _attached(store) if name.endswith("_ix")]


def test_a_version_file_attached_out_of_memory_is_refused_then_attached_once_memory_is_back(starved):
    store, location = starved.store, _location(starved)
    _limit(store, VERSION_STARVED)
    with pytest.raises(ResourceExhausted):
        store.has_index(location)
    _limit(store, ENOUGH)
    assert not [name for name in _attached(store) if name.startswith("v_")]
    assert store.has_index(location)


def test_an_attachment_left_by_a_failed_call_does_not_refuse_the_next(starved):
    """A failed call that could not even detach what it attached (``_detach_quietly``) leaves
    the alias behind: the next attach replaces it rather than failing "already exists"."""
    store, location = starved.store, _location(starved)
    _limit(store, ENOUGH)
    alias = store._alias(location)
    store._connection().execute(f"ATTACH '{index_path(location)}' AS {alias}_ix (READ_ONLY)")  # the leftover
    assert store.has_index(location)
    assert store.query(location, 'SELECT count(*) AS n FROM records WHERE code_postal = \'51300\'') \
        .column("n")[0].as_py() == 46


def test_the_api_answers_a_starved_index_read_with_an_ods_error_then_serves_the_dataset(starved):
    client = TestClient(create_app(starved), raise_server_exceptions=False)
    params = {"where": '"vitry"', "limit": 3}
    for _ in range(2):  # not a 500, the first time nor the next (the half-attached index file)
        answer = client.get(RECORDS, params=params)
        assert answer.status_code in (400, 503), (answer.status_code, answer.content[:200])
        assert answer.json()["error_code"] in ("QueryTooLarge", "ServerBusy")
    _limit(starved.store, ENOUGH)
    answer = client.get(RECORDS, params=params)
    assert answer.status_code == 200, answer.content[:300]
    assert answer.json()["total_count"] > 0
    assert all(len(r["code_postal"]) == 5 for r in answer.json()["results"])  # codes keep their zeros


def test_a_query_attaching_its_version_again_and_running_out_of_memory_alone_is_not_crowded(starved):
    """An attach is counted among the reader's queries (refused like one when out of memory),
    so ``run`` attaches a version let go meanwhile (``release``) before counting its query:
    inside that count, the attach would make the query seem to share the memory, a 503 to
    retry where it needs more than the reader ever has (a 400)."""
    store, location = starved.store, _location(starved)
    _limit(store, ENOUGH)
    heavy = parse_one("SELECT list(nom_commune || repeat('x', 500)) AS l FROM records")  # ~20 MB held
    sql = store.prepare(location, heavy).sql
    assert store.release(keep=()) == [location]
    _limit(store, "4MB")
    with pytest.raises(ResourceExhausted) as refused:
        store.run(location, sql)
    assert refused.value.crowded is False


def _fields(instance):
    """The current version's fields, from the catalogue, as a records call compiles against them."""
    with instance.session() as session:
        return fields_from_json(services.get_dataset(session, "cp").current.fields)


def _search_count(instance, location, fields) -> object:
    """A count of a full-text search prepared to read the index file's postings (not resolved
    to row ids), as a kept plan does for a frequent word."""
    plan = compile_plan(Query(select="count(*) as n", where=['"vitry"']), fields)
    with resolving(instance.store, 0):
        prepared = instance.store.prepare(location, plan.select)
    assert prepared.known is None and "_ix." in prepared.sql  # it reads the index file
    return prepared


def test_a_kept_plan_reading_the_index_runs_after_a_release(served):
    store, location = served.store, _location(served)
    prepared = _search_count(served, location, _fields(served))
    expected = store.rows(location, prepared)[0]["n"]
    assert expected > 0
    assert store.release(keep=()) == [location]  # between the call's has_index and its run
    assert store.rows(location, prepared)[0]["n"] == expected
    assert store.release(keep=()) == [location]
    assert store.run(location, prepared.sql).column("n")[0].as_py() == expected


@pytest.mark.parametrize("damaged", [index_path, postings.postings_path], ids=["index", "postings"])
def test_an_unreadable_index_file_leaves_the_dataset_served_by_scans(served, damaged):
    location = _location(served)
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


@contextmanager
def _no_file_can_open() -> Iterator[None]:
    """Every descriptor the process may have in use (EMFILE), as under a burst of downloads."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    fillers: list[int] = []
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 16, hard))
    try:
        while True:
            try:
                fillers.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                break
        yield
    finally:
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_an_index_file_that_could_not_be_opened_for_a_moment_is_read_again(served, caplog):
    store, location = served.store, _location(served)
    index = index_path(location)
    aside = index.with_name(index.name + ".aside")
    index.rename(aside)  # the version attached before its index file appears (it comes after publication)
    assert not store.has_index(location)
    aside.rename(index)
    with _no_file_can_open():
        assert not store.has_index(location)  # this call is served by scans
    assert "unreadable" in caplog.text  # the passing failure went through the damaged-file path
    assert store.has_index(location)  # the next one reads it: no restart, no reindex
    assert store.run(location, "SELECT 1 AS one").column("one")[0].as_py() == 1
