"""Each build spills into a folder of its own under the home's tmp folder: the engine names its
spill files alike in every database, and two builds sharing one folder overwrote each other's
blocks (a loader crashed, another published without its indexes)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

from portail.catalog import services
from portail.operations import load_file
from tests.conftest import make_instance

ROWS = 120_000  # with MEMORY, the index build spills (checked: the test fails if nothing spills)
MEMORY = "70MB"
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]


def make_csv(path: Path, marker: str) -> Path:
    draw = random.Random(marker)
    with open(path, "w") as handle:
        handle.write("id;marker;name;city;n\n")
        for i in range(ROWS):
            handle.write(f"{i};{marker};{' '.join(draw.choices(WORDS, k=4))} {i};ville{draw.randrange(5000)};"
                         f"{draw.random()}\n")
    return path


def watch_spills(tmp: Path, stop: threading.Event, seen: dict[str, set[str]]) -> None:
    """Record the engine's spill files found in each build's folder while the loads run.

    A build's folder may go between its listing and its reading (that build ended): the look
    is taken again. Once such a race ended the watcher's thread, and the test saw no spill."""
    while not stop.is_set():
        try:
            for spilled in tmp.glob("build-*/*"):
                seen.setdefault(spilled.parent.name, set()).add(spilled.name)
        except FileNotFoundError:
            continue
        time.sleep(0.005)


def test_two_builds_at_once_spill_apart(tmp_path):
    instance = make_instance(tmp_path / "home", ingest_memory_limit=MEMORY, ingest_threads=2, page_files=False)
    try:
        files = {slug: make_csv(tmp_path / f"{slug}.csv", slug) for slug in ("a1", "a2")}
        for slug in files:
            with instance.session() as session:
                services.create_dataset(session, slug, slug)
        seen: dict[str, set[str]] = {}
        stop = threading.Event()
        watcher = threading.Thread(target=watch_spills, args=(instance.settings.tmp_dir, stop, seen))
        start = threading.Barrier(2)
        results, errors = {}, []

        def load(slug: str) -> None:
            start.wait()
            try:
                results[slug] = load_file(instance, slug, files[slug], publish=True)
            except BaseException as error:  # said by the assertion below
                errors.append(error)

        loads = [threading.Thread(target=load, args=(slug,)) for slug in files]
        watcher.start()
        try:
            for thread in loads:
                thread.start()
            for thread in loads:
                thread.join()
        finally:
            stop.set()
            watcher.join()
        assert not errors
        assert len(seen) >= 2  # both loads spilled, each into a folder of its own
        assert all(name.startswith("duckdb_temp_storage") for names in seen.values() for name in names)
        for slug in files:
            assert not [n for n in results[slug].report.notes if "indexes not built" in n]
            with instance.session() as session:
                location = services.get_dataset(session, slug).current.location
            assert instance.store.has_index(location)
            counted = instance.store.query(location, "SELECT count(*) AS n, count(DISTINCT id) AS ids, "
                                                     "min(marker) AS lo, max(marker) AS hi FROM records")
            assert counted.to_pylist() == [{"n": ROWS, "ids": ROWS, "lo": slug, "hi": slug}]
        assert not list(instance.settings.tmp_dir.glob("build-*"))  # each build's folder went with it
    finally:
        instance.store.close()


def test_build_sweeps_what_dead_processes_of_this_host_left(instance, tmp_path):
    from portail.store.duckdb_store import scratch_name

    made = subprocess.run([sys.executable, "-c", "from portail.store.duckdb_store import scratch_name as s; "
                           "print(s('build')); print(s('utf8', '.csv'))"], capture_output=True, text=True, check=True)
    dead_folder, dead_copy = made.stdout.split()  # named by a process that has ended
    tmp = instance.settings.tmp_dir
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / dead_folder).mkdir()
    (tmp / dead_folder / "duckdb_temp_storage_S128K-0.tmp").write_bytes(b"x")
    (tmp / dead_copy).write_bytes(b"a;b\n")
    alive = scratch_name("build")  # this process's: maybe a build running now
    kind, _host, pid, token = dead_folder.split("-")
    elsewhere = f"{kind}-otherhost-{pid}-{token}"  # a process id of another host tells nothing here
    young = f"{kind}-{_host}-{pid}-{'0' * 16}"  # a dead id, but changed lately: maybe another container's build
    abandoned = f"{kind}-otherhost-{pid}-{'1' * 16}"  # whoever's, untouched for a week
    for name in (alive, elsewhere, young, abandoned):
        (tmp / name).mkdir()
    hours = 3600
    for entry, age in ((tmp / dead_folder, 7 * hours), (tmp / dead_folder / "duckdb_temp_storage_S128K-0.tmp", 7 * hours),
                       (tmp / dead_copy, 7 * hours), (tmp / elsewhere, 7 * hours), (tmp / alive, 7 * hours),
                       (tmp / abandoned, 8 * 24 * hours)):
        moment = time.time() - age
        os.utime(entry, (moment, moment))
    path = tmp_path / "small.csv"
    path.write_text("id;v\n1;a\n", encoding="utf-8")
    with instance.session() as session:
        services.create_dataset(session, "ds", "ds")
    load_file(instance, "ds", path, publish=True)
    assert sorted(p.name for p in tmp.iterdir() if not p.name.startswith("reader-")) == sorted([alive, elsewhere,
                                                                                                  young])


def test_the_spill_folders_are_their_owners_alone(tmp_path):
    """Spilled blocks hold records, a restricted dataset's too: under a umask of 022 the tmp
    folder and a build's spill folder were readable by every local user."""
    from portail.store.duckdb_store import close_build

    previous = os.umask(0o022)
    try:
        instance = make_instance(tmp_path / "home")
        instance.store.tmp_dir.mkdir(mode=0o755, parents=True)  # made by an earlier release
        con, spill = instance.store._build_connection(spatial=False)
        try:
            modes = {path.name: path.stat().st_mode & 0o777 for path in (instance.store.tmp_dir, spill)}
        finally:
            close_build(con, spill)
            instance.store.close()
    finally:
        os.umask(previous)
    assert modes == {instance.store.tmp_dir.name: 0o700, spill.name: 0o700}


def test_a_readers_spill_folder_goes_once_its_process_is_gone_never_before(tmp_path):
    """A server's worker reads for weeks: its spill folder stays whatever its age while it runs,
    and goes at the next sweep once it was killed (a ``reader-<pid>`` folder stayed for good)."""
    from portail.store.duckdb_store import sweep_scratch

    instance = make_instance(tmp_path / "home")
    tmp = instance.store.tmp_dir
    killed = subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                             "from portail.store.duckdb_store import DuckDBStore; "
                             "s = DuckDBStore(Path(sys.argv[1]), tmp_dir=Path(sys.argv[2])); s.cursor(); "
                             "print(s._reader_spill.path.name); import os; os._exit(9)",
                             str(tmp_path / "other"), str(tmp)], capture_output=True, text=True)
    gone = killed.stdout.strip()
    assert gone.startswith("reader-") and (tmp / gone).is_dir()  # killed: never removed its folder
    try:
        instance.store.cursor()  # this process's reader, open
        ours = instance.store._reader_spill.path
        for entries, age in (((tmp / gone, tmp / gone / ".held"), 120), ((ours, ours / ".held"), 8 * 24 * 3600)):
            for entry in entries:  # gone two minutes ago; ours open for a week
                os.utime(entry, (time.time() - age, time.time() - age))
        sweep_scratch(tmp)
        assert not (tmp / gone).exists() and ours.is_dir()
        instance.store.close()
        assert not ours.exists()  # a store closed removes its own
    finally:
        instance.store.close()


def test_the_store_folder_keeps_other_accounts_out(tmp_path):
    """Version files and kept uploads hold every dataset's records, a restricted dataset's
    hidden columns included: under a umask of 022 the data folder let every local account read
    them. A new folder is its owner's alone; an existing one loses the others' access and keeps
    the group an operator gave it."""
    from portail.store.duckdb_store import DuckDBStore

    previous = os.umask(0o022)
    try:
        made = DuckDBStore(tmp_path / "new" / "data")
        (tmp_path / "old").mkdir(mode=0o755)
        (tmp_path / "old").chmod(0o755)
        kept = DuckDBStore(tmp_path / "old")
    finally:
        os.umask(previous)
    assert (made.root.stat().st_mode & 0o777, kept.root.stat().st_mode & 0o777) == (0o700, 0o750)
    made.close()
    kept.close()
