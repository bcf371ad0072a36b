"""The server's own faults, a full disk and a read-only catalogue, said as such: one line on the
command line (no traceback, exit 1), a 507 or a 503 from the management API, never a 400
blaming the client's file; and nothing said done that was not. Reproduced for real on a small
tmpfs, which only root may mount (CI runs as root): elsewhere these tests skip."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click.testing
import pytest
import typer.main

from tests.conftest import make_instance, operator_client
from portail.catalog import services
from portail.cli import app
from portail.operations import load_file

COMMAND = typer.main.get_command(app)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs, unmounted at the end (lazily: the app under test may still hold files)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(mount: Path, leave: int = 0) -> Path:
    """Take all the free space of ``mount`` but ``leave`` bytes."""
    stats = os.statvfs(mount)
    filler = mount / f"filler{len(list(mount.glob('filler*')))}"
    with open(filler, "wb") as handle:
        os.posix_fallocate(handle.fileno(), 0, stats.f_bavail * stats.f_frsize - leave)
    return filler


@contextmanager
def catalogue_held(home: Path) -> Iterator[None]:
    """A reader of the catalogue kept open, as a running server keeps one: SQLite's shared-memory
    file stays allocated, so a command on a full disk opens the catalogue and fails at its
    commit (the fault hunted), not on opening."""
    con = sqlite3.connect(home / "catalog.sqlite")
    try:
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        yield
    finally:
        con.close()


def small_csv(path: Path, rows: int) -> Path:
    path.write_text("code;nom;valeur\n" + "".join(f"{i:05d};commune {i};{i * 1.5}\n" for i in range(rows)))
    return path


@pytest.fixture
def home(disk: Path, tmp_path: Path) -> Path:
    """An instance on the small disk with dataset ``t`` published (version 1, 3 records)."""
    instance = make_instance(disk / "home")
    try:
        with instance.session() as session:
            services.create_dataset(session, "t", title="T")
        load_file(instance, "t", small_csv(tmp_path / "t.csv", 3), publish=True)
    finally:
        instance.store.close()
    return disk / "home"


def portail(home: Path, *args: str) -> click.testing.Result:
    return click.testing.CliRunner().invoke(COMMAND, list(args), env={"PORTAIL_HOME": str(home), "COLUMNS": "300"})


def said(result: click.testing.Result) -> str:
    """What a failed command printed, checked to be one line and no traceback."""
    assert result.exit_code == 1, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output and result.output.count("\n") == 1, result.output
    return result.output


def test_cli_full_catalogue_is_one_line_and_nothing_said_done(home: Path):
    with catalogue_held(home):
        filler = fill(home.parent)
        meta = said(portail(home, "dataset", "meta", "t", "--title", "Nouveau titre"))
        created = said(portail(home, "user", "create", "alice"))
        filler.unlink()
    for output in (meta, created):
        assert output == f"Error: the catalogue {home.resolve() / 'catalog.sqlite'} cannot be written: the disk is " \
                         "full; nothing was changed\n"
    assert "created" not in created.split("Error:")[0]  # not said before the commit that failed
    assert portail(home, "user", "list", "--json").output.strip() == "[]"
    assert "Nouveau titre" not in portail(home, "dataset", "show", "t").output


def test_cli_load_on_a_full_disk_blames_the_disk(home: Path, tmp_path: Path):
    source = small_csv(tmp_path / "big.csv", 20_000)
    with catalogue_held(home):
        fill(home.parent, leave=160 * 1024)  # room for the catalogue's writes, not for the version file
        output = said(portail(home, "dataset", "ingest", "t", str(source)))
    assert output.startswith(f"Error: the disk is full (writing {home.resolve() / 'data'}"), output
    assert "v000002.duckdb" in output and output.endswith("; the published version is unchanged\n")
    assert "big.csv" not in output  # not the file's fault
    shown = portail(home, "dataset", "show", "t").output
    assert "published version: 1" in shown


def test_api_full_disk_is_507_never_400(home: Path, tmp_path: Path):
    instance = make_instance(home)
    client = operator_client(instance)
    try:
        assert client.get("/api/explore/v2.1/catalog/datasets/t/records").json()["total_count"] == 3
        filler = fill(home.parent, leave=160 * 1024)
        upload = small_csv(tmp_path / "big.csv", 2_000)  # 50 kB: saved, but its version file does not fit
        built = client.post("/api/management/v1/datasets/t/data", files={"file": ("big.csv", upload.read_bytes())})
        assert built.status_code == 507, built.text  # the version file could not be written: not the client's
        assert built.json()["error_code"] == "InsufficientStorage"
        assert "published is unchanged" in built.json()["message"]
        with instance.session() as session:
            failed = services.get_dataset(session, "t").version(2)
            assert failed.status == "failed" and failed.error.startswith("StorageFull: the disk is full (writing "), \
                failed.error
        fill(home.parent)
        for answer in (client.patch("/api/management/v1/datasets/t", json={"title": "Nouveau"}),
                       client.post("/api/management/v1/datasets/t/data", files={"file": ("t.csv", b"a;b\n1;2\n")})):
            assert answer.status_code == 507, answer.text
            assert answer.json() == built.json()
        filler.unlink()
        assert client.get("/api/explore/v2.1/catalog/datasets/t/records").json()["total_count"] == 3
        with instance.session() as session:
            assert services.get_dataset(session, "t").title == "T"
    finally:
        instance.store.close()


@contextmanager
def read_only_view(home: Path) -> Iterator[Path]:
    """The same home through a read-only bind mount: the catalogue the server opens there refuses
    every write (a remount of the tmpfs itself is refused while files are open to write)."""
    view = home.parent.parent / "read-only-home"
    view.mkdir()
    done = subprocess.run(["mount", "--bind", str(home), str(view)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot bind-mount the home: {done.stderr.strip()}")
    try:
        done = subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"cannot make the bind mount read-only: {done.stderr.strip()}")
        yield view
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)


def test_read_only_catalogue_is_503_and_one_line(home: Path):
    with catalogue_held(home), read_only_view(home) as view:
        instance = make_instance(view, management_token="s3cret")
        try:
            answer = operator_client(instance).patch("/api/management/v1/datasets/t", json={"title": "Nouveau"})
        finally:
            instance.store.close()
        output = said(portail(view, "user", "create", "alice"))
    assert answer.status_code == 503, answer.text
    assert answer.json()["error_code"] == "ReadOnlyStorage"
    assert output == f"Error: the catalogue {view.resolve() / 'catalog.sqlite'} cannot be written: it is read-only; " \
                     "nothing was changed\n"
