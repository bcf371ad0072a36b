"""catalog generation: one counter bumped by every change that can alter what a caller sees

``portail.catalog.generation`` bumps it in the same transaction as the change and API nodes
read it once per request to know whether what they cached from the catalogue still holds.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 09:05:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table('catalog_generation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.bulk_insert(table, [{'id': 1, 'value': 0}])


def downgrade() -> None:
    op.drop_table('catalog_generation')
