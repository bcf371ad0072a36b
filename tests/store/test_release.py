"""A serving process lets go of the versions it no longer publishes: after a reload, the next
call detaches the version it replaced (its files are closed, so a pruned version's disk space
is freed), but never while a call is still reading it (an export being downloaded)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from portail.api import explore_service as es
from portail.catalog import services
from portail.operations import load_file, rollback, settled_stamp
from tests.conftest import Published, published_instance

SOURCE = ("referentiels", "laposte_hexasmal.csv")


def open_files() -> set[str]:
    """The files this process holds open (a deleted one ends with " (deleted)")."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # closed meanwhile (the listing's own descriptor)
            continue
    return found


def held(location: str) -> bool:
    return any(name.startswith(location) for name in open_files())


def count(instance) -> int:
    return es.query_records(instance, es.get_visible_dataset(instance, "public", "cp"), where=['"vitry"'],
                            limit=0).total_count


@contextmanager
def serving(tmp_path: Path, refdata: Path, **settings) -> Iterator[tuple]:
    """An instance serving the dataset's version 1, searched once: (instance, its source file,
    version 1's file, the search's count)."""
    source = refdata.joinpath(*SOURCE)
    instance = published_instance(tmp_path / "home", Published("cp", source), **settings)
    try:
        first = es.get_visible_dataset(instance, "public", "cp").current.location
        searched = count(instance)
        assert searched > 0 and held(first)
        yield instance, source, first, searched
    finally:
        instance.store.close()


def test_a_reload_lets_go_of_the_version_it_replaced(tmp_path, refdata):
    with serving(tmp_path, refdata, keep_versions=1) as (instance, source, first, searched):
        # An export of version 1 is being downloaded when version 2 is published.
        export = es.export_batches(instance, es.get_visible_dataset(instance, "public", "cp"), "csv")[2]
        streamed = next(export).num_rows
        load_file(instance, "cp", source, publish=True)  # keeps one version: version 1 is deleted
        assert not Path(first).exists()
        assert count(instance) == searched  # the next call reads version 2 ...
        assert held(first)  # ... and version 1 stays open for the download
        streamed += sum(batch.num_rows for batch in export)
        with instance.session() as session:
            assert streamed == services.get_dataset(session, "cp").current.row_count
        assert not held(first)  # the download over, its deleted files are closed: their space is freed
        assert not any(name.endswith(" (deleted)") for name in open_files() if "/home/data/" in name)


def test_a_rollback_lets_go_of_the_version_rolled_back_and_attaches_the_other_again(tmp_path, refdata):
    with serving(tmp_path, refdata) as (instance, source, first, searched):
        load_file(instance, "cp", source, publish=True)
        second = es.get_visible_dataset(instance, "public", "cp").current.location
        assert count(instance) == searched and held(second) and not held(first)
        rollback(instance, "cp", 1)
        assert count(instance) == searched
        assert held(first) and not held(second)


def test_a_process_that_serves_no_call_lets_go_when_it_checks(tmp_path, refdata):
    """A server's worker no call reaches checks the catalogue on its own (``SETTLE_EVERY``)."""
    with serving(tmp_path, refdata) as (instance, source, first, _):
        load_file(instance, "cp", source, publish=True)
        assert held(first)  # no call since: version 1 is still attached ...
        settled_stamp(instance)  # ... until the check sees the catalogue changed
        assert not held(first) and Path(first).exists()
