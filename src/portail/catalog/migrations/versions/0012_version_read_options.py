"""dataset_version.read_options: the read options each version's file was read with, so that a
reload after a rollback reads the version rolled back to as it was read, not with the newest
load's options (a cp1252 file read as UTF-8, another sheet…)

Written from ``portail.catalog.models.DatasetVersion.read_options``. Before this revision only
the dataset kept options, those of its last load, and every reload used them for the source of
the version being served: they are copied onto each dataset's current version when that version
is the last load's source, so its reloads read as they did (after a rollback they belonged to
another file: that version gets none, and its file is detected afresh). Other versions made before it get none (NULL): a reload after a rollback to
one of them detects its file afresh, as a first load does.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 05:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dataset_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('read_options', sa.JSON(), nullable=True))
    # JSON to JSON in SQL, the same on SQLite (text) and PostgreSQL (json). Only where the current
    # version's source is the last load's: after a rollback the options belong to another file
    # (a cp1252 file given a UTF-8 file's options would no longer reload), and none means detected.
    op.execute("UPDATE dataset_version SET read_options = (SELECT dataset.read_options FROM dataset "
               "WHERE dataset.id = dataset_version.dataset_id) WHERE EXISTS (SELECT 1 FROM dataset "
               "WHERE dataset.id = dataset_version.dataset_id AND dataset.current_version = dataset_version.number "
               "AND dataset.source = dataset_version.source_name)")


def downgrade() -> None:
    with op.batch_alter_table('dataset_version', schema=None) as batch_op:
        batch_op.drop_column('read_options')
