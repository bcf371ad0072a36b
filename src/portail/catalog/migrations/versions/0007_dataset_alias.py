"""dataset alias: a renamed dataset keeps answering under its former dataset_id

Written from ``portail.catalog.models.DatasetAlias``; checked on SQLite and PostgreSQL by
tests/catalog/test_rename.py (a fresh catalogue migrates to head).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 20:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dataset_alias',
    sa.Column('slug', sa.String(length=200), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['dataset.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('slug')
    )
    with op.batch_alter_table('dataset_alias', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dataset_alias_dataset_id'), ['dataset_id'], unique=False)


def downgrade() -> None:
    op.drop_table('dataset_alias')
