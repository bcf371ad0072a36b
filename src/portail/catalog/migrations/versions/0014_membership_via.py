"""auth_membership.via: what made a membership (NULL: an administrator; "sso": a single sign-on
that found the group named by the identity provider), so that a later sign-in takes back the
memberships a sign-in made when the provider stops naming the group, and never one an
administrator made (``portail.auth.oidc.provision``). Existing memberships are an
administrator's: a sign-in takes none of them back.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 06:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('auth_membership', schema=None) as batch_op:
        batch_op.add_column(sa.Column('via', sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('auth_membership', schema=None) as batch_op:
        batch_op.drop_column('via')
