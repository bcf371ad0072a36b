"""Versions are immutable files: publish and rollback swap atomically, a killed ingest leaves
the published version served, and readers in another process see old or new, never a mix."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from portail.catalog import services
from portail.ingest.errors import IngestError
from portail.operations import load_file, publish, rollback

ROOT = Path(__file__).resolve().parents[2]


def make_csv(path: Path, rows: int, marker: str) -> Path:
    with open(path, "w") as handle:
        handle.write("id;marker;value\n")
        for i in range(rows):
            handle.write(f"{i};{marker};{i * 0.5}\n")
    return path


def create(instance, slug="ds"):
    with instance.session() as session:
        services.create_dataset(session, slug, "Versions")


def current(instance, slug="ds"):
    with instance.session() as session:
        dataset = services.get_dataset(session, slug)
        return dataset.current_version, dataset.current.location if dataset.current else None


def test_publish_rollback_and_pruning(instance, tmp_path):
    create(instance)
    for n, marker in enumerate("ABCDEFG", start=1):
        load_file(instance, "ds", make_csv(tmp_path / f"{marker}.csv", n, marker), publish=(marker != "G"))
    version, location = current(instance)
    assert version == 6
    assert instance.store.query(location, "SELECT DISTINCT marker FROM records").to_pylist() == [{"marker": "F"}]
    rolled = rollback(instance, "ds")
    assert rolled.number == 5
    assert rollback(instance, "ds", 3).number == 3
    assert publish(instance, "ds").number == 7  # newest ready version
    with instance.session() as session:
        statuses = {v.number: v.status for v in services.get_dataset(session, "ds").versions}
    # keep_versions=5: the two oldest files are pruned, the current one never is.
    assert statuses == {1: "pruned", 2: "pruned", 3: "ready", 4: "ready", 5: "ready", 6: "ready", 7: "ready"}
    files = sorted(p.name for p in instance.store.dataset_dir(current(instance)[1].split("/")[-2]).glob("*.duckdb"))
    assert files == [f"v{n:06d}.duckdb" for n in (3, 4, 5, 6, 7)]
    with pytest.raises(services.CatalogError):
        rollback(instance, "ds", 1)


KILLED_LOADER = textwrap.dedent(
    """
    import sys
    from portail.config import Settings
    from portail.operations import open_instance, load_file
    instance = open_instance(Settings(home=sys.argv[1], ingest_threads=1))
    load_file(instance, "ds", sys.argv[2], publish=True)
    """
)


def test_killed_ingest_leaves_the_published_version_served(instance, tmp_path):
    create(instance)
    load_file(instance, "ds", make_csv(tmp_path / "small.csv", 10, "OLD"), publish=True)
    big = make_csv(tmp_path / "big.csv", 3_000_000, "NEW")
    dataset_dir = Path(current(instance)[1]).parent
    process = subprocess.Popen([sys.executable, "-c", KILLED_LOADER, str(instance.settings.home), str(big)],
                               cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    deadline = time.monotonic() + 60
    while not list(dataset_dir.glob("*.building")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    assert list(dataset_dir.glob("*.building")), "the loader never started writing"
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait()

    version, location = current(instance)
    assert version == 1
    assert instance.store.query(location, "SELECT count(*) n, min(marker) m FROM records").to_pylist() == [{"n": 10, "m": "OLD"}]
    # Nothing blocks the next ingest: the lock died with the process, leftovers are swept.
    (dataset_dir / "v000002.duckdb.building.tmp").mkdir()  # a directory too (anything's leftover)
    (dataset_dir / "v000002.duckdb.building.tmp" / "spill").write_bytes(b"x")
    result = load_file(instance, "ds", make_csv(tmp_path / "next.csv", 5, "NEXT"), publish=True)
    assert result.version == 3
    assert not list(dataset_dir.glob("*.building*"))
    with instance.session() as session:
        killed = services.get_dataset(session, "ds").version(2)
        assert killed.status == "failed" and killed.error == "build interrupted"


READER = textwrap.dedent(
    """
    import json, sys, time
    from portail.config import Settings
    from portail.operations import open_instance
    from portail.catalog import services
    instance = open_instance(Settings(home=sys.argv[1]))
    seen, changes = [], 0
    reads, publishes = int(sys.argv[2]), int(sys.argv[3])
    give_up = time.monotonic() + float(sys.argv[4])  # a safety net, never reached unless broken
    while (len(seen) < reads or changes < publishes) and time.monotonic() < give_up:
        with instance.session() as session:
            location = services.get_dataset(session, "ds").current.location
        row = instance.store.query(location, "SELECT count(*) n, min(marker) lo, max(marker) hi FROM records").to_pylist()[0]
        changes += bool(seen) and seen[-1] != [row["n"], row["lo"], row["hi"]]
        seen.append([row["n"], row["lo"], row["hi"]])
    print(json.dumps(seen))
    """
)


def test_concurrent_reader_sees_old_or_new_never_a_mix(instance, tmp_path):
    create(instance)
    sizes = {"A": 20_000, "B": 30_000}
    load_file(instance, "ds", make_csv(tmp_path / "A.csv", sizes["A"], "A"), publish=True)
    # The reader reads until it has made 21 reads and seen the current version change 3 times
    # (counted, not timed: it read for 3 seconds, and on a loaded machine made fewer than 21
    # reads or saw one version only, the loads being slower than its 3 seconds).
    reader = subprocess.Popen([sys.executable, "-c", READER, str(instance.settings.home), "21", "3", "240"],
                              cwd=ROOT, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    files = {m: make_csv(tmp_path / f"{m}{i}.csv", sizes[m], m) for i, m in enumerate("BA")}
    # Publish B and A in turn for as long as the reader reads (its start-up included), so the
    # two overlap however slow a load is on a busy machine.
    while reader.poll() is None:
        for marker in "BA":
            load_file(instance, "ds", files[marker], publish=True)
    output, _ = reader.communicate(timeout=60)
    seen = json.loads(output)
    assert len(seen) > 20
    allowed = {(sizes[m], m, m) for m in sizes}
    assert {tuple(s) for s in seen} <= allowed
    changes = sum(a != b for a, b in zip(seen, seen[1:]))
    assert len({tuple(s) for s in seen}) == 2 and changes >= 3  # the reader did see both versions, in turn


def test_failed_reload_keeps_serving_the_previous_version(instance, tmp_path):
    create(instance)
    load_file(instance, "ds", make_csv(tmp_path / "ok.csv", 3, "OK"), publish=True)
    broken = tmp_path / "broken.csv"
    broken.write_text('id;marker;value\n1;"never closed;2\n')
    with pytest.raises(IngestError):
        load_file(instance, "ds", broken, publish=True)
    version, location = current(instance)
    assert version == 1
    assert instance.store.query(location, "SELECT count(*) n FROM records").to_pylist() == [{"n": 3}]
