"""dataset access: a restricted dataset's metadata may stay public (its records do not)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 04:05:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('auth_dataset_security', schema=None) as batch_op:
        batch_op.add_column(sa.Column('metadata_public', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('auth_dataset_security', schema=None) as batch_op:
        batch_op.drop_column('metadata_public')
