"""attachment filename: the name a file was uploaded with, for the odsfile:// URL

Written from ``portail.catalog.models.Attachment.filename``; attachments made before it keep
their id in that URL.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 20:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('filename', sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('attachment', schema=None) as batch_op:
        batch_op.drop_column('filename')
