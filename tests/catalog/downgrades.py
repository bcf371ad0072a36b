"""Rewinding a test catalogue to an older migration, for the tests of a migration's upgrade
(catalogue locations, read options, single sign-on memberships and identities): kept here
rather than in one test file, so that a test file imports no other test file."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Connection

from portail.catalog.db import alembic_config


def downgrade(connection: Connection, revision: str) -> None:
    """The catalogue's schema as ``revision`` left it, through the migrations' own downgrades
    (a later one may add a column: rewinding the revision stamp alone would leave it there, and
    the upgrade would fail adding it again). Without a store folder or a home, 0010's and 0011's
    leave locations and paths as they are."""
    config = alembic_config(connection.engine.url.render_as_string(hide_password=False))
    config.attributes["connection"] = connection
    command.downgrade(config, revision)
