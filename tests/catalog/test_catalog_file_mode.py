"""A new SQLite catalogue (and its WAL files) is readable by its owner only: it holds the
digests of passwords, API keys and sessions."""

from __future__ import annotations

import os
import stat

import pytest

from portail.auth import services
from portail.catalog import open_catalog
from portail.catalog.db import _sqlite_file, transaction


def test_a_new_catalogue_file_and_its_wal_are_private(tmp_path):
    path = tmp_path / "home" / "catalog.sqlite"
    previous = os.umask(0o022)  # a usual umask: files readable by everyone unless made otherwise
    try:
        factory = open_catalog(f"sqlite:///{path}")
        with transaction(factory) as session:
            services.create_user(session, "alice", password="Correct-horse-42")
        files = [p for p in path.parent.iterdir() if p.name.startswith("catalog.sqlite")]
        assert path in files
        assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {p.name: 0o600 for p in files}
        factory.kw["bind"].dispose()
    finally:
        os.umask(previous)


def test_an_existing_catalogue_keeps_its_mode(tmp_path):
    path = tmp_path / "catalog.sqlite"
    open_catalog(f"sqlite:///{path}").kw["bind"].dispose()
    path.chmod(0o640)  # the operator's choice (a backup group)
    open_catalog(f"sqlite:///{path}").kw["bind"].dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


@pytest.mark.parametrize("url", ["sqlite:///{path}?timeout=30", "sqlite+pysqlite:///{path}",
                                 "sqlite:///file:{path}?mode=rwc&uri=true"])
def test_a_new_catalogue_is_private_however_its_url_is_written(tmp_path, url):
    """Options after a ``?``, a driver named or a ``file:`` URI once skipped the private creation."""
    path = tmp_path / "home" / "catalog.sqlite"
    previous = os.umask(0o022)
    try:
        open_catalog(url.format(path=path)).kw["bind"].dispose()
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite:///file::memory:?uri=true",
                                 "sqlite:///file:cat?mode=memory&uri=true", "postgresql://portail@localhost/portail"])
def test_a_catalogue_in_memory_or_on_a_server_has_no_file_to_create(url):
    assert _sqlite_file(url) is None
