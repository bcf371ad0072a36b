"""The upgrade's explicit step (``portail migrate``) and its guards: an existing catalogue brought
up says from which revision to which, and a catalogue migrated by a newer release is refused by
name, not half-read (an upgrade hunt: any command migrated silently, and an older release on a
migrated home failed with Alembic's bare "Can't locate revision")."""

from __future__ import annotations

import logging
import sqlite3

from alembic import command
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from portail.catalog.db import alembic_config
from portail.cli import app

HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def run(home, *args: str):
    return CliRunner().invoke(app, list(args), env={"PORTAIL_HOME": str(home), "COLUMNS": "200"})


def test_migrate_says_what_it_did(tmp_path, caplog):
    home = tmp_path / "home"
    made = run(home, "migrate")
    assert made.exit_code == 0 and made.stdout.splitlines()[0] == f"catalogue schema (new) → {HEAD}", made.output
    assert run(home, "migrate").stdout.splitlines()[0] == f"catalogue schema {HEAD}: up to date"
    command.downgrade(alembic_config(f"sqlite:///{home / 'catalog.sqlite'}"), "0005")  # a home of an older release
    with caplog.at_level(logging.WARNING, logger="portail.catalog"):
        upgraded = run(home, "migrate")
    assert upgraded.exit_code == 0 and upgraded.stdout.splitlines()[0] == f"catalogue schema 0005 → {HEAD}", upgraded.output
    assert [r.getMessage() for r in caplog.records if r.name == "portail.catalog"] == [
        f"catalogue schema 0005 -> {HEAD} (sqlite:///{home / 'catalog.sqlite'})"]


def test_a_catalogue_of_a_newer_release_is_refused_by_name(tmp_path):
    home = tmp_path / "home"
    assert run(home, "migrate").exit_code == 0
    with sqlite3.connect(home / "catalog.sqlite") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    for args in (("migrate",), ("dataset", "list")):
        refused = run(home, *args)
        assert refused.exit_code == 1, refused.output
        assert "schema is revision 9999, written by a newer release of Portail" in refused.stderr
        assert f"knows up to {HEAD}" in refused.stderr
