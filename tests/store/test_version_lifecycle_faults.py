"""Versions' life cycle under faults (a fault hunt killed loads and filled disks): nothing
published is lost, a rollback serves a version that was published, and a version whose load
failed leaves no file behind. Each state is reached for real: a load interrupted by the
operator (Ctrl-C while its indexes are written), a process that ends in the middle of a load
(``os._exit``: no cleanup runs, as under kill -9), a catalogue restored from a backup, a file
size limit the system enforces."""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import portail
from portail.api.management import management_json
from portail.catalog import services
from portail.operations import attach, load_file, rollback
from tests.conftest import make_instance

ROOT = Path(__file__).resolve().parents[2]
#: The child processes run the code this test imported.
CHILD_ENV = {**os.environ, "PYTHONPATH": str(Path(portail.__file__).resolve().parents[1])}


def make_csv(path: Path, rows: int, marker: str) -> Path:
    path.write_text("id;marker\n" + "".join(f"{i};{marker}\n" for i in range(rows)), encoding="utf-8")
    return path


def interrupted_at(phase: str):
    """A progress callback that stops the load as Ctrl-C would when it reaches ``phase``."""
    def progress(reached: str, fraction: float, rows: int | None) -> None:
        if reached == phase:
            raise KeyboardInterrupt
    return progress


def statuses(instance, slug: str = "ds") -> dict[int, str]:
    with instance.session() as session:
        return {v.number: v.status for v in services.get_dataset(session, slug).versions}


def version_files(instance, slug: str = "ds") -> list[str]:
    with instance.session() as session:
        uid = services.get_dataset(session, slug).uid
    return sorted(p.name for p in instance.store.dataset_dir(uid).glob("v*.duckdb"))


@pytest.fixture
def keep2(tmp_path):
    instance = make_instance(tmp_path / "home", keep_versions=2)
    with instance.session() as session:
        services.create_dataset(session, "ds", "Versions")
    yield instance
    instance.store.close()


def test_reloads_interrupted_while_indexing_take_no_slot_and_rollback_serves_the_published_version(keep2, tmp_path):
    """The hunter's case: with keep_versions=2, v2 published, two reloads stopped while their
    indexes were written, then v5: v2 was pruned and a rollback served v4, never published and
    without indexes."""
    for n in (1, 2):
        load_file(keep2, "ds", make_csv(tmp_path / f"v{n}.csv", n, f"V{n}"), publish=True)
    for n in (3, 4):
        with pytest.raises(KeyboardInterrupt):
            load_file(keep2, "ds", make_csv(tmp_path / f"v{n}.csv", n, f"V{n}"), publish=True,
                      progress=interrupted_at("indexing"))
    load_file(keep2, "ds", make_csv(tmp_path / "v5.csv", 5, "V5"), publish=True)
    assert statuses(keep2) == {1: "pruned", 2: "ready", 3: "failed", 4: "failed", 5: "ready"}
    assert version_files(keep2) == ["v000002.duckdb", "v000005.duckdb"]  # an interrupted load's file goes at once
    assert rollback(keep2, "ds").number == 2


def test_a_draft_passed_over_neither_displaces_a_published_version_nor_is_rolled_back_to(keep2, tmp_path):
    """A version loaded without publishing and never published, once a newer one is: a rollback
    goes to the version served before, and prunes drop the draft before it."""
    load_file(keep2, "ds", make_csv(tmp_path / "v1.csv", 1, "V1"), publish=True)
    load_file(keep2, "ds", make_csv(tmp_path / "v2.csv", 2, "V2"))  # a draft, never published
    load_file(keep2, "ds", make_csv(tmp_path / "v3.csv", 3, "V3"), publish=True)
    assert statuses(keep2) == {1: "ready", 2: "pruned", 3: "ready"}
    assert rollback(keep2, "ds").number == 1


DIES_WHILE_INDEXING = textwrap.dedent(
    """
    import os, sys
    from portail.config import Settings
    from portail.operations import open_instance, load_file

    def progress(phase, fraction, rows):
        if phase == "indexing":  # its file renamed into place: the process ends, no cleanup runs
            os._exit(9)

    instance = open_instance(Settings(home=sys.argv[1], keep_versions=2))
    load_file(instance, "ds", sys.argv[2], publish=True, progress=progress)
    """
)


def test_a_reload_whose_process_died_after_its_rename_leaves_no_file_nor_a_version_to_roll_back_to(keep2, tmp_path):
    load_file(keep2, "ds", make_csv(tmp_path / "v1.csv", 1, "V1"), publish=True)
    died = subprocess.run([sys.executable, "-c", DIES_WHILE_INDEXING, str(keep2.settings.home),
                           str(make_csv(tmp_path / "v2.csv", 2, "V2"))], cwd=ROOT,
                          env=CHILD_ENV)
    assert died.returncode == 9
    assert "v000002.duckdb" in version_files(keep2)
    assert statuses(keep2)[2] == "building"  # not ready: no prune counts it, no rollback reaches it
    with keep2.session() as session:  # shown as what it is: no load holds the dataset ("building" for good)
        dataset = services.get_dataset(session, "ds")
        assert [v["status"] for v in management_json(dataset, keep2.store)["versions"]] == ["ready", "interrupted"]
        with keep2.store.lock(dataset.uid):
            assert management_json(dataset, keep2.store)["versions"][1]["status"] == "building"
    load_file(keep2, "ds", make_csv(tmp_path / "v3.csv", 3, "V3"), publish=True)
    assert statuses(keep2) == {1: "ready", 2: "failed", 3: "ready"}
    assert version_files(keep2) == ["v000001.duckdb", "v000003.duckdb"]
    assert rollback(keep2, "ds").number == 1


def test_a_version_file_the_catalogue_does_not_know_is_swept_at_the_next_load(keep2, tmp_path):
    """A catalogue restored from a backup taken before a load: that load's file has no row, and
    the next load, numbered alike, found the file in its way (FileExistsError at every load)."""
    load_file(keep2, "ds", make_csv(tmp_path / "v1.csv", 1, "V1"), publish=True)
    catalogue = keep2.settings.home / "catalog.sqlite"
    backup = tmp_path / "backup.sqlite"
    with sqlite3.connect(catalogue) as live, sqlite3.connect(backup) as copy:
        live.backup(copy)
    load_file(keep2, "ds", make_csv(tmp_path / "v2.csv", 2, "V2"), publish=True)
    with sqlite3.connect(backup) as copy, sqlite3.connect(catalogue) as live:
        copy.backup(live)
    assert statuses(keep2) == {1: "ready"}
    result = load_file(keep2, "ds", make_csv(tmp_path / "v2b.csv", 4, "V2B"), publish=True)
    assert result.version == 2 and result.report.rows == 4
    assert version_files(keep2) == ["v000001.duckdb", "v000002.duckdb"]


CREATE_DIES = textwrap.dedent(
    """
    import os, sys
    from portail.config import Settings
    from portail.operations import created_for_first_load, load_file, open_instance

    def progress(phase, fraction, rows):
        os._exit(9)  # the first load's process ends: its cleanup (removing the dataset) never runs

    instance = open_instance(Settings(home=sys.argv[1]))
    with created_for_first_load(instance, "ds", "Versions"):
        load_file(instance, "ds", sys.argv[2], publish=True, progress=progress, source=sys.argv[2])
    """
)


def test_a_creation_whose_first_load_died_says_how_to_finish_it(tmp_path):
    from tests.cli import invoke

    home = tmp_path / "home"
    source = make_csv(tmp_path / "v1.csv", 3, "V1")
    died = subprocess.run([sys.executable, "-c", CREATE_DIES, str(home), str(source)], cwd=ROOT,
                          env=CHILD_ENV)
    assert died.returncode == 9
    env = {"PORTAIL_HOME": str(home), "COLUMNS": "400"}
    again = invoke(["dataset", "create", "ds", "--title", "Versions", "--from", str(source)], env)
    assert again.exit_code == 1
    told = " ".join(again.output.split())
    assert "its first load did not finish (version 1 still marked building" in told, told
    assert f"`portail dataset ingest ds {source} --publish`" in told, told
    finished = invoke(["dataset", "ingest", "ds", str(source), "--publish"], env)
    assert finished.exit_code == 0, finished.output
    assert "version 2 published: 3 records" in " ".join(finished.output.split())


def test_an_attachment_the_disk_cannot_take_names_its_destination_and_leaves_no_part_file(instance, tmp_path):
    with instance.session() as session:
        services.create_dataset(session, "ds", "Attachments")
    notice = tmp_path / "notice.pdf"
    notice.write_bytes(os.urandom(3 << 20))
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, limits[1]))
    try:
        with pytest.raises(OSError) as raised:
            attach(instance, "ds", notice)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, previous)
    folder = instance.settings.home / "attachments"
    assert Path(raised.value.filename).parent == folder and raised.value.filename2 is None
    assert list(folder.iterdir()) == []
    with instance.session() as session:
        assert services.get_dataset(session, "ds").attachments == []
