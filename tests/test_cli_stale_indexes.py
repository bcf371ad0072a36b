"""Index files of an older word rule (``fulltext.FOLDED_WITH``), said to the operator: a release
that changes how words are indexed reads them as absent, and every full-text, like and key search
of those versions scans until ``portail dataset reindex --all``. ``portail migrate`` counts them
(published apart from kept), ``portail serve`` warns once at start, ``reindex --all`` writes them
all and ends with "0 left". The older index is the one an older release left: its folding marker
rewritten in the real file."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from portail.catalog import services
from portail.config import Settings
from portail.operations import open_instance
from portail.store import fulltext
from portail.store.duckdb_store import index_foldings, index_path
from tests.cli import PORTAIL, cli, invoke  # noqa: F401 - cli: the fixture
from tests.store.first_reads import Calls, leased

#: The port the serve test listens on (its own: other suites use free ports).
SERVE_PORT = 8771


def _as_older_release(location: str, folding: int | None) -> None:
    """Leave the version's index file as a release of ``folding`` wrote it: its marker holds that
    value (``None``: before the marker existed, the table is absent)."""
    con = duckdb.connect(str(index_path(location)))
    try:
        if folding is None:
            con.execute(f"DROP TABLE {fulltext.FOLDING}")
        else:
            con.execute(f"UPDATE {fulltext.FOLDING} SET folding = ?", [folding])
    finally:
        con.close()


@pytest.fixture(scope="module")
def two_versions_home(tmp_path_factory, refdata) -> Path:
    """The départements (101 rows) loaded twice through the command, the second published, once
    for the module: each test rewrites index files of its own copy (``_two_versions``), never
    this one, and the load itself is not what these tests check."""
    home = tmp_path_factory.mktemp("two-versions") / "home"
    env = {"PORTAIL_HOME": str(home), "COLUMNS": "400"}
    source = str(refdata / "referentiels" / "cog2026_departements.csv")
    for args in (["dataset", "create", "dep", "--title", "Départements", "--from", source],
                 ["dataset", "ingest", "dep", source, "--publish"]):
        result = invoke(args, env)
        assert result.exit_code == 0, result.output
    return home


def _two_versions(template: Path, home: Path) -> tuple[str, str]:
    """``template`` copied to ``home`` (the catalogue names version files relative to the
    store's folder, so the copy serves its own): its (published, kept) files."""
    shutil.copytree(template, home)
    instance = open_instance(Settings(home=home))
    try:
        with instance.session() as s:
            dataset = services.get_dataset(s, "dep")
            return dataset.current.location, dataset.version(1).location
    finally:
        instance.store.close()


def test_migrate_counts_older_indexes_and_reindex_all_leaves_none(cli, two_versions_home, tmp_path):
    published, kept = _two_versions(two_versions_home, tmp_path / "home")
    assert "indexes of an older word rule or missing: 0 left" in cli("migrate").output
    _as_older_release(published, 2)  # "_" still cut words
    index_path(kept).unlink()  # its index build failed, or a release before index files
    said = cli("migrate")  # information: exit 0
    assert said.exit_code == 0
    assert "1 published version, 1 other version kept for history or rollback" in said.output, said.output
    assert "`portail dataset reindex --all`" in said.output
    instance = open_instance(Settings(home=tmp_path / "home"))
    try:
        assert not instance.store.has_index(published)  # its searches scan
        done = cli("dataset", "reindex", "--all").output
        lines = done.strip().splitlines()
        assert lines == ["dep: version 2 indexed", "dep: version 1 indexed",  # the published one first
                         "indexes of an older word rule or missing: 0 left"], done
        # the same open store, as a server running meanwhile: the new file is read at its next call
        assert instance.store.has_index(published) and instance.store.has_index(kept)
        assert "0 left" in cli("migrate").output
        assert cli("dataset", "reindex", "--all").output.strip() == "indexes of an older word rule or missing: 0 left"
    finally:
        instance.store.close()


def test_a_version_whose_file_is_gone_is_not_counted(cli, two_versions_home, tmp_path):
    """A kept version's file removed by hand (its catalogue row stays): no index can be written
    of it, so ``reindex --all`` neither fails on it nor says it is left, run after run."""
    published, kept = _two_versions(two_versions_home, tmp_path / "home")
    _as_older_release(published, 2)
    Path(kept).unlink()
    index_path(kept).unlink()
    assert "1 published version, 0 other versions kept" in cli("migrate").output
    done = cli("dataset", "reindex", "--all")  # exit 0: nothing failed
    assert done.output.strip().splitlines() == ["dep: version 2 indexed",
                                                "indexes of an older word rule or missing: 0 left"], done.output


def test_index_foldings_reads_each_versions_marker(two_versions_home, tmp_path):
    """Of this release, of an older one, from before the marker, absent, or no index at all."""
    published, kept = _two_versions(two_versions_home, tmp_path / "home")
    assert index_foldings([published, kept]) == {published: fulltext.FOLDED_WITH, kept: fulltext.FOLDED_WITH}
    _as_older_release(published, 2)
    _as_older_release(kept, None)
    assert index_foldings([published, kept]) == {published: 2, kept: 1}
    index_path(kept).unlink()  # the version's own file holds no index
    index_path(published).write_bytes(b"not a database")  # damaged: a reindex writes it again
    assert index_foldings([published, kept]) == {published: None, kept: None}


def _serve_until_listening(home: Path) -> list[str]:
    """What ``portail serve`` writes on standard error until it listens (or exits)."""
    env = {"PORTAIL_HOME": str(home), "PATH": os.environ.get("PATH", "")}
    process = subprocess.Popen([str(PORTAIL), "serve", "--host", "127.0.0.1", "--port", str(SERVE_PORT)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        for line in process.stderr:  # until the server listens (or exits: the end of its output)
            seen.append(line)
            if "Uvicorn running on" in line:
                break
    finally:
        process.terminate()
        process.wait(timeout=30)
    return seen


def test_serve_warns_once_of_older_indexes(two_versions_home, tmp_path):
    published, kept = _two_versions(two_versions_home, tmp_path / "home")
    _as_older_release(published, 2)
    _as_older_release(kept, 2)
    seen = _serve_until_listening(tmp_path / "home")
    warned = [line for line in seen if "indexes of an older word rule" in line]
    assert len(warned) == 1, "".join(seen)
    assert "1 published version, 1 other version kept" in warned[0]
    assert "portail dataset reindex --all" in warned[0]


def test_serve_starts_when_the_count_fails(two_versions_home, tmp_path):
    """The count is information: an index file it cannot make sense of (a marker table of
    another shape) is said, and the server starts. Counted inside the command's error handling,
    it ended ``serve`` with exit 1 before it listened."""
    published, _kept = _two_versions(two_versions_home, tmp_path / "home")
    con = duckdb.connect(str(index_path(published)))
    try:
        con.execute(f"DROP TABLE {fulltext.FOLDING}")
        con.execute(f"CREATE TABLE {fulltext.FOLDING} (other INTEGER)")
    finally:
        con.close()
    seen = _serve_until_listening(tmp_path / "home")
    assert any("Uvicorn running on" in line for line in seen), "".join(seen)
    assert any("stale indexes not counted" in line for line in seen), "".join(seen)


def test_a_version_pruned_while_reindex_all_runs_is_passed_over(cli, two_versions_home, tmp_path):
    """``reindex --all`` lists the versions, then writes them one by one: one pruned meanwhile (a
    load's pruning, another operator) has nothing left to index, and is no failure (exit 1). The
    command is held up in the open of the first version's file (a lease), while the other is pruned."""
    home = tmp_path / "home"
    published, kept = _two_versions(two_versions_home, home)
    _as_older_release(published, 2)
    _as_older_release(kept, 2)
    calls = Calls()
    with leased(Path(published)) as lease:
        calls.start("reindex", lambda: cli("dataset", "reindex", "--all"), then=lease.give_back)
        lease.opening()  # version 2 (the published one, first) being indexed
        instance = open_instance(Settings(home=home))
        try:
            with instance.session() as s:
                assert services.prune_versions(s, services.get_dataset(s, "dep"), keep=1) == [kept]
        finally:
            instance.store.close()
        lease.give_back()
        calls.join()
    done = calls.answers["reindex"]
    assert not isinstance(done, BaseException), done
    assert done.output.strip().splitlines() == ["dep: version 2 indexed", "dep: version 1 no longer kept, passed over",
                                                "indexes of an older word rule or missing: 0 left"], done.output
