"""The ``portail`` command run in process for the tests, as an administrator types it: the
``cli`` fixture (a new home per test; a refusal asked for with ``ok=False`` must be one line, a
non-zero exit and no traceback), ``invoke`` for a test that sets its own environment, and
``portail`` for the installed command run as its own process (as a script or a pipe reads it).
Kept here rather than in one test file, so that a test file imports no other test file; a test
file takes the fixture by importing it (``from tests.cli import cli``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click.testing
import pytest
import typer.main

from portail.cli import app

#: The click command of ``app``, built once as the installed ``portail`` builds it once per run:
#: Typer's ``CliRunner.invoke`` builds it again at every call (every command's signature and type
#: hints read anew, ~0.25 s of CPU, a third of a small command's time).
COMMAND = typer.main.get_command(app)
#: The installed command, beside the interpreter running the tests.
PORTAIL = Path(sys.executable).parent / "portail"


def invoke(args: list[str], env: dict[str, str], input: bytes | None = None):
    """``portail args`` in process, on the command built once (click's runner, which Typer's
    extends with that build)."""
    return click.testing.CliRunner().invoke(COMMAND, args, env=env, input=input)


@pytest.fixture
def cli(tmp_path):
    env = {"PORTAIL_HOME": str(tmp_path / "home"), "COLUMNS": "400"}  # a refusal on one line

    def run(*args: str, ok: bool = True, input: bytes | None = None, **extra_env: str):
        result = invoke(list(args), {**env, **extra_env}, input=input)
        if ok:
            assert result.exit_code == 0, result.output
        else:
            assert result.exit_code != 0, result.output
            assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
            assert "Traceback" not in result.output
        return result

    return run


@pytest.fixture
def migrated_home(tmp_path):
    """The ``cli`` fixture's home with its catalogue already migrated, a copy of the worker's
    template (``conftest._catalogue_from_template``), for a file whose tests each start from a new
    home and whose subject is not that home's first command: that command ran alembic's
    revisions (~0.1 s, a tenth of a small test). A command's first run in a new home migrating
    its catalogue is checked in tests/test_cli.py and tests/catalog. A file takes it with
    ``pytestmark = pytest.mark.usefixtures("migrated_home")``, the fixture imported."""
    from tests.conftest import _catalogue_from_template

    _catalogue_from_template(tmp_path / "home")


def csv_file(path: Path, text: str) -> str:
    """``text`` written to ``path``, as the argument the command takes."""
    path.write_text(text, encoding="utf-8")
    return str(path)


def dataset_versions(cli, slug: str) -> list[dict]:
    """The dataset's versions as ``dataset show --json`` lists them."""
    return json.loads(cli("dataset", "show", slug, "--json").output)["versions"]


def portail(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | {"PORTAIL_HOME": str(home)}
    return subprocess.run([str(PORTAIL), *args], env=env, capture_output=True, text=True, timeout=120)
