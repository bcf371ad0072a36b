"""oauth2: registered client applications, authorization codes, access and refresh tokens

Written from ``portail.auth.models`` (``OAuthClient``, ``OAuthCode``, ``OAuthToken``); checked
on SQLite and PostgreSQL by tests/auth/test_oauth2.py (a fresh catalogue migrates to head).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 19:50:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('auth_oauth_client',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=True),
    sa.Column('redirect_uris', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=150), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('secret_hash')
    )
    op.create_table('auth_oauth_code',
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('redirect_uri', sa.String(length=1000), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('code_challenge', sa.String(length=128), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['auth_oauth_client.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['auth_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('code_hash')
    )
    with op.batch_alter_table('auth_oauth_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auth_oauth_code_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_auth_oauth_code_user_id'), ['user_id'], unique=False)
    op.create_table('auth_oauth_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=True),
    sa.Column('access_hash', sa.String(length=64), nullable=False),
    sa.Column('refresh_hash', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('access_expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['auth_oauth_client.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['auth_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('auth_oauth_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auth_oauth_token_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_auth_oauth_token_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_auth_oauth_token_code_hash'), ['code_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_auth_oauth_token_access_hash'), ['access_hash'], unique=True)
        batch_op.create_index(batch_op.f('ix_auth_oauth_token_refresh_hash'), ['refresh_hash'], unique=True)


def downgrade() -> None:
    op.drop_table('auth_oauth_token')
    op.drop_table('auth_oauth_code')
    op.drop_table('auth_oauth_client')
