"""Engine, sessions and migrations of the catalogue database.

``open_catalog(url, store_root)`` migrates to the latest schema (Alembic, never
``create_all``) and returns a session factory whose version locations are written relative to
the store's folder (``models.StoreLocation``). SQLite gets WAL mode and a busy timeout so that
the API server, the CLI and ingest workers can share one file.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from portail.catalog import generation
from portail.catalog.models import HOME_ROOT, STORE_ROOT

if TYPE_CHECKING:  # Alembic (and Mako) are imported only to migrate or read a revision: ~0.1 s a start
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger("portail.catalog")


def unique_violation(error: IntegrityError) -> bool:
    """Whether a refused write met a unique constraint (the slower of two identical creations),
    on PostgreSQL (SQLSTATE 23505) or SQLite, rather than another constraint (a bug of ours)."""
    original = getattr(error, "orig", None)
    return getattr(original, "sqlstate", None) == "23505" or "UNIQUE constraint failed" in str(original)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


class NewerSchema(Exception):
    """The catalogue was migrated by a newer release than this one: this code cannot know what
    its schema holds, so it opens nothing (restore the backup taken before the upgrade)."""


def schema_revision(engine: Engine) -> str | None:
    """The catalogue's schema revision (None: a new, empty catalogue)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@cache
def head_revision() -> str | None:
    """The latest revision, read from the scripts' ``revision``/``down_revision`` lines without
    Alembic (which costs ~0.1 s to import and more to load every script, at each start, only to
    find a catalogue already up to date); None when the scripts do not make one plain chain's
    head, and Alembic decides."""
    revisions, parents = set(), set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        source = script.read_text(encoding="utf-8")
        revision = re.search(r"^revision = '([^']+)'$", source, re.MULTILINE)
        parent = re.search(r"^down_revision = (?:None|'([^']+)')$", source, re.MULTILINE)
        if revision is None or parent is None:
            return None
        revisions.add(revision[1])
        parents.add(parent[1])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _stamped_revision(engine: Engine) -> str | None:
    """The one revision the catalogue's ``alembic_version`` holds, by plain SQL; None when there
    is no such table or not exactly one row (Alembic then decides)."""
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:
        return None
    return rows[0][0] if len(rows) == 1 else None


def migrate(engine: Engine) -> tuple[str | None, str]:
    """Upgrade to the latest schema, and say so on the log when an existing catalogue changes
    (an upgrade: other processes of the older release should have been stopped; README,
    "Upgrading an instance"); ``(before, after)``. Migrations read the store's folder and the
    home, if the engine has them, from ``config.attributes["store_root"]`` and ``["home"]``
    (0010 and 0011 make version locations and attachment paths relative to them)."""
    if (stamped := _stamped_revision(engine)) is not None and stamped == head_revision():
        return stamped, stamped  # up to date, the case of every start but an upgrade's: no Alembic
    from alembic import command
    from alembic.script import ScriptDirectory

    config = alembic_config(str(engine.url.render_as_string(hide_password=False)))
    scripts = ScriptDirectory.from_config(config)
    before, head = schema_revision(engine), scripts.get_current_head()
    known = {script.revision for script in scripts.walk_revisions()}
    if before is not None and before not in known:
        raise NewerSchema(f"the catalogue's schema is revision {before}, written by a newer release of Portail "
                          f"(this one knows up to {head}): run that release, or restore the backup taken before it")
    if before == head:
        return before, head
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        config.attributes["store_root"] = getattr(engine.dialect, STORE_ROOT, None)
        config.attributes["home"] = getattr(engine.dialect, HOME_ROOT, None)
        command.upgrade(config, "head")
    if before is not None:
        log.warning("catalogue schema %s -> %s (%s)", before, head, engine.url.render_as_string(hide_password=True))
    return before, head


def open_catalog(url: str, store_root: Path | None = None, home: Path | None = None) -> sessionmaker[Session]:
    """The catalogue at ``url``, migrated. ``store_root`` is the folder of the instance's store
    (``DuckDBStore.root``): version locations under it are kept relative to it; ``home``, the
    instance's home, likewise for attachments. Without them (catalogue-only tools and tests),
    paths are read and written as they are."""
    if (file := _sqlite_file(url)) is not None:
        _create_private(file)
    engine = make_engine(url)
    if store_root is not None:
        setattr(engine.dialect, STORE_ROOT, os.path.abspath(store_root))
    if home is not None:
        setattr(engine.dialect, HOME_ROOT, os.path.abspath(home))
    migrate(engine)
    factory = sessionmaker(engine, expire_on_commit=False)
    generation.watch(factory)
    return factory


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite catalogue's URL, however written (a driver named, ``sqlite+pysqlite``;
    options after a ``?``; a ``file:`` URI), or None: another backend, or a database in memory.
    Read by SQLAlchemy's own parser: a prefix test let such URLs create their file 0644."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.query.get("mode") == "memory":
        return None
    database = parsed.database or ""
    if database.startswith("file:"):  # a URI filename (``uri=true``, its options in ``query``)
        database = unquote(re.sub(r"^//[^/]*", "", database.removeprefix("file:")))
    return Path(database) if database not in ("", ":memory:") else None


def _create_private(path: Path) -> None:
    """A new SQLite catalogue file readable by its owner only: it holds the digests of passwords,
    API keys and sessions (SQLite gives its WAL files the database's mode). An existing file
    keeps the mode its operator left."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session, session.begin():
        yield session
