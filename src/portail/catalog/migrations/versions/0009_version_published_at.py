"""dataset_version.published_at: when a version was last published, cleared when a rollback
withdraws it; a records cursor may only walk versions that were published and not withdrawn

Written from ``portail.catalog.models.DatasetVersion.published_at``. Each dataset's current
version counts as published when it finished loading; other versions made before this
revision count as never published (a cursor into one of them must start again).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 22:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dataset_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('published_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE dataset_version SET published_at = finished_at WHERE EXISTS (SELECT 1 FROM dataset "
               "WHERE dataset.id = dataset_version.dataset_id AND dataset.current_version = dataset_version.number)")


def downgrade() -> None:
    with op.batch_alter_table('dataset_version', schema=None) as batch_op:
        batch_op.drop_column('published_at')
