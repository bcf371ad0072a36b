"""attachment.path: relative to the instance's home, as 0010 did for version files, so that
attachments move with the home

Read and written through ``portail.catalog.models.HomeFile``. Rewrites the paths under the home
that ``catalog.db.migrate`` hands over (``config.attributes["home"]``) as relative ones; a file
elsewhere keeps its absolute path. Without a home (a catalogue migrated on its own), nothing is
rewritten: absolute paths keep working.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 03:00:00
"""
import os
from collections.abc import Callable

from alembic import context, op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_ATTACHMENTS = sa.table('attachment', sa.column('id', sa.Integer), sa.column('path', sa.Text))


def _rewrite(convert: Callable[[str], str]) -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(_ATTACHMENTS.c.id, _ATTACHMENTS.c.path)).all()
    for row_id, path in rows:
        changed = convert(path)
        if changed != path:
            connection.execute(_ATTACHMENTS.update().where(_ATTACHMENTS.c.id == row_id).values(path=changed))


def upgrade() -> None:
    home = context.config.attributes.get('home')
    if not home:
        return
    prefix = os.path.abspath(home) + os.sep

    def relative(path: str) -> str:
        absolute = os.path.abspath(path)  # a relative home wrote paths relative to the working folder
        return absolute[len(prefix):] if absolute.startswith(prefix) else absolute

    _rewrite(relative)


def downgrade() -> None:
    home = context.config.attributes.get('home')
    if home:
        _rewrite(lambda path: os.path.join(os.path.abspath(home), path))  # an absolute one stays
