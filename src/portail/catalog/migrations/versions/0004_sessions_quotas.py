"""sessions and quotas: sign-in sessions, OpenID Connect flows under way, API call quotas

Written from ``portail.auth.models`` (``LoginSession``, ``LoginFlow``, ``Quota``); checked on
SQLite and PostgreSQL by tests/auth/test_sessions.py (a fresh catalogue migrates to head).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 04:15:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('auth_session',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('method', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=300), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['auth_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('auth_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auth_session_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_auth_session_expires_at'), ['expires_at'], unique=False)

    op.create_table('auth_login_flow',
    sa.Column('state_hash', sa.String(length=64), nullable=False),
    sa.Column('nonce', sa.String(length=100), nullable=False),
    sa.Column('code_verifier', sa.String(length=200), nullable=False),
    sa.Column('redirect_uri', sa.String(length=1000), nullable=False),
    sa.Column('next_url', sa.String(length=1000), nullable=False),
    sa.Column('portal', sa.String(length=100), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('state_hash')
    )

    op.create_table('auth_quota',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('principal_kind', sa.String(length=10), nullable=False),
    sa.Column('principal_name', sa.String(length=150), nullable=False),
    sa.Column('calls', sa.Integer(), nullable=False),
    sa.Column('modified', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("principal_kind IN ('user', 'group', 'apikey')", name='ck_auth_quota_kind'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('principal_kind', 'principal_name', name='uq_auth_quota')
    )


def downgrade() -> None:
    op.drop_table('auth_quota')
    op.drop_table('auth_login_flow')
    with op.batch_alter_table('auth_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auth_session_expires_at'))
        batch_op.drop_index(batch_op.f('ix_auth_session_user_id'))
    op.drop_table('auth_session')
