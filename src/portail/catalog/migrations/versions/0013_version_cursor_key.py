"""dataset_version.cursor_key: 16 random bytes per version that seal its records cursors
(``api.cursors``), so that a cursor no longer shows the row position it resumes after (which
told a caller whose rights filter rows how many hidden rows lie between those they see)

Written from ``portail.catalog.models.DatasetVersion.cursor_key``. Every existing version gets
its own key; cursors handed out before this revision were plain and are refused after it (a
walk starts again).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 05:30:00
"""
import os

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dataset_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cursor_key', sa.LargeBinary(length=16), nullable=True))
    connection = op.get_bind()
    versions = sa.table('dataset_version', sa.column('id', sa.Integer), sa.column('cursor_key', sa.LargeBinary))
    for (version_id,) in connection.execute(sa.select(versions.c.id)).fetchall():
        connection.execute(versions.update().where(versions.c.id == version_id).values(cursor_key=os.urandom(16)))


def downgrade() -> None:
    with op.batch_alter_table('dataset_version', schema=None) as batch_op:
        batch_op.drop_column('cursor_key')
