"""The order ``make test`` hands files to its workers in (``conftest.pytest_collection_modifyitems``):
a long file started last runs alone at the end, so the suite's time is bounded by it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_an_xdist_worker_collects_listed_files_then_slow_ones_then_the_rest():
    """A file ``testpaths`` names comes first, then a file holding a ``slow`` test, then the
    others, whatever the folders' order (here the reverse) and their numbers of tests."""
    files = ["tests/catalog/test_dataset_id.py", "tests/test_serve_shutdown.py", "tests/refdata/test_cog_change.py"]
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *files],
                               cwd=ROOT, env={**os.environ, "PYTEST_XDIST_WORKER": "gw0"}, capture_output=True,
                               text=True, timeout=120)
    assert collected.returncode == 0, collected.stdout + collected.stderr
    order = list(dict.fromkeys(line.split("::")[0] for line in collected.stdout.splitlines() if "::" in line))
    assert order == [files[2], files[1], files[0]]
