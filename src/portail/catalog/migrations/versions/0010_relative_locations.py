"""dataset_version.location: relative to the store's folder, so that a home can move (a backup
restored elsewhere, a container mounting it at another path, API nodes mounting shared storage
at different paths)

Read and written through ``portail.catalog.models.StoreLocation``. Rewrites the locations
under the store's folder that ``catalog.db.migrate`` hands over
(``config.attributes["store_root"]``) as relative ones. A file outside the folder keeps its
absolute path, still read as it is (one written relative to the working folder, by a home given
as a relative path, gets its absolute path: a relative location now means one in the folder).
Without a folder (a catalogue migrated on its own), nothing is rewritten: absolute locations
keep working.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-12 10:00:00
"""
import os
from collections.abc import Callable

from alembic import context, op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_VERSIONS = sa.table('dataset_version', sa.column('id', sa.Integer), sa.column('location', sa.Text))


def _rewrite(convert: Callable[[str], str]) -> None:
    """Replace every version's location by ``convert``'s: in
    Python, the same on SQLite and PostgreSQL; a catalogue holds a few versions per dataset."""
    connection = op.get_bind()
    rows = connection.execute(sa.select(_VERSIONS.c.id, _VERSIONS.c.location)
                              .where(_VERSIONS.c.location.is_not(None))).all()
    for row_id, location in rows:
        changed = convert(location)
        if changed != location:
            connection.execute(_VERSIONS.update().where(_VERSIONS.c.id == row_id).values(location=changed))


def upgrade() -> None:
    root = context.config.attributes.get('store_root')
    if not root:
        return
    prefix = os.path.abspath(root) + os.sep

    def relative(location: str) -> str:
        # A home given as a relative path wrote locations relative to the working folder, the
        # one this runs from (a relative home is found from it): made absolute first.
        absolute = os.path.abspath(location)
        return absolute[len(prefix):] if absolute.startswith(prefix) else absolute

    _rewrite(relative)


def downgrade() -> None:
    root = context.config.attributes.get('store_root')
    if root:
        _rewrite(lambda location: os.path.join(os.path.abspath(root), location))  # an absolute one stays
