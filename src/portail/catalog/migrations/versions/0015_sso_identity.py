"""auth_sso_identity: the single sign-on identities bound to each user, (issuer, sub), so that a
sign-in is the account its provider identity is bound to, never the account whose login equals
a claim the provider's users may set themselves (``preferred_username``: one who named
themselves ``admin`` signed in as the administrator; ``portail.auth.oidc.provision``).

Written from ``portail.auth.models.SsoIdentity``. No identity is known before this revision (the
subjects were never kept): an account single sign-on made, without a password, is bound at its
next sign-in under the address it kept, the provider saying it verified it (``email_verified``
true: a missing claim proves nothing, some providers let their users set their own address); any
other account, one that kept no address or is claimed under an address not said verified
included, is bound by an administrator (``portail user sso-link``).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 08:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('auth_sso_identity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('issuer', sa.String(length=1000), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['auth_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('issuer', 'subject', name='uq_auth_sso_identity')
    )
    with op.batch_alter_table('auth_sso_identity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auth_sso_identity_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_table('auth_sso_identity')
