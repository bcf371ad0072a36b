"""Review of the store's index reading (``_index``, ``_unreadable``): an index file that fails to
open for a passing reason (too many open files under a burst of exports) is not a damaged one.
It was remembered as unreadable until its file changed (a reindex) or the process restarted:
full-text search silently served by scans, and ``has_index`` false, for the life of a worker.
The call that meets it is served without it; the next one reads it again."""

from __future__ import annotations

import os
import resource
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from portail.catalog import services
from portail.store.duckdb_store import index_path
from tests.conftest import Published, make_instance, published_instance

SOURCE = ("referentiels", "laposte_hexasmal.csv")


@pytest.fixture(scope="module")
def published_cp(tmp_path_factory, refdata) -> Path:
    home = tmp_path_factory.mktemp("attach-all-review") / "home"
    instance = published_instance(home, Published("cp", refdata.joinpath(*SOURCE)))
    instance.store.close()
    instance.catalog.kw["bind"].dispose()
    return home


@pytest.fixture
def served(published_cp, tmp_path):
    instance = make_instance(shutil.copytree(published_cp, tmp_path / "home"))
    yield instance
    instance.store.close()


def _location(instance) -> str:
    with instance.session() as session:
        return services.get_dataset(session, "cp").current.location


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
