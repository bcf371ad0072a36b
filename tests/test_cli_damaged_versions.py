"""A kept version whose file is there but is no database any more (damaged on disk, overwritten):
no reindex can write its index, so ``migrate`` and ``reindex --all`` say it apart, by name, and
never count it among the indexes left to write (it was "1 left" after every ``reindex --all``,
which failed on it each time, exit 1)."""

from __future__ import annotations

from pathlib import Path

from portail.catalog import services
from portail.config import Settings
from portail.operations import open_instance
from portail.store.duckdb_store import UNREADABLE_VERSION, index_foldings, index_path
from tests.cli import cli  # noqa: F401 - the fixture


def _kept_version_damaged(cli, refdata: Path, home: Path) -> str:  # noqa: F811 - the fixture
    """The départements loaded twice, the second published; the first's file then overwritten
    with bytes no database reads, its index file gone. Returns that file."""
    source = str(refdata / "referentiels" / "cog2026_departements.csv")
    cli("dataset", "create", "dep", "--title", "Départements", "--from", source)
    cli("dataset", "ingest", "dep", source, "--publish")
    instance = open_instance(Settings(home=home))
    try:
        with instance.session() as s:
            kept = services.get_dataset(s, "dep").version(1).location
    finally:
        instance.store.close()
    Path(kept).write_bytes(b"\x00not a database\x00" * 4096)
    index_path(kept).unlink()
    return kept


def test_a_damaged_version_is_said_apart_and_not_left_to_index(cli, refdata, tmp_path):  # noqa: F811
    kept = _kept_version_damaged(cli, refdata, tmp_path / "home")
    assert index_foldings([kept]) == {kept: UNREADABLE_VERSION}
    said = cli("migrate")
    assert said.exit_code == 0, said.output
    assert "indexes of an older word rule or missing: 0 left" in said.output, said.output
    assert "cannot be read as a database" in said.output and "dep version 1" in said.output, said.output
    done = cli("dataset", "reindex", "--all")
    assert done.exit_code == 0, done.output  # nothing it could do failed
    lines = done.output.strip().splitlines()
    assert lines[0] == "indexes of an older word rule or missing: 0 left", done.output
    assert "dep version 1" in lines[1] and "load the dataset again" in lines[1], done.output


def test_an_unreadable_index_file_beside_a_sound_version_is_left_to_write(cli, refdata, tmp_path):  # noqa: F811
    """The index file damaged, the version sound: a reindex writes it again, so it is counted."""
    home = tmp_path / "home"
    source = str(refdata / "referentiels" / "cog2026_departements.csv")
    cli("dataset", "create", "dep", "--title", "Départements", "--from", source)
    instance = open_instance(Settings(home=home))
    try:
        with instance.session() as s:
            published = services.get_dataset(s, "dep").current.location
    finally:
        instance.store.close()
    index_path(published).write_bytes(b"\x00not a database\x00" * 4096)
    assert index_foldings([published]) == {published: None}
    assert "1 published version, 0 other versions kept" in cli("migrate").output
    done = cli("dataset", "reindex", "--all").output.strip().splitlines()
    assert done == ["dep: version 1 indexed", "indexes of an older word rule or missing: 0 left"], done
