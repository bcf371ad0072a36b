"""auth_membership.via: what made a membership (NULL: an administrator; "sso": a single sign-on
that found the group named by the identity provider), so that a later sign-in takes back the
memberships a sign-in made when the provider stops naming the group, and never one an
administrator made (``portail.auth.oidc.provision``). An existing membership is a sign-in's
when the audit trail's last ``group.add_member`` of it was by ``sso``; every other one is an
administrator's, which no sign-in takes back.

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
    _mark_sign_ins()


def _mark_sign_ins() -> None:
    """``via = 'sso'`` on each membership whose last ``group.add_member`` event was a sign-in's."""
    connection = op.get_bind()
    events = sa.table('auth_audit_event', sa.column('id', sa.Integer), sa.column('actor', sa.String),
                      sa.column('action', sa.String), sa.column('target', sa.String), sa.column('detail', sa.JSON))
    last: dict[tuple[str, str], str | None] = {}
    added = sa.select(events.c.actor, events.c.target, events.c.detail).where(events.c.action == 'group.add_member')
    for actor, target, detail in connection.execute(added.order_by(events.c.id)):
        login = (detail or {}).get('login') if isinstance(detail, dict) else None
        if target and target.startswith('group:') and login:
            last[target.removeprefix('group:'), login] = actor
    signed = {key for key, actor in last.items() if actor == 'sso'}
    if not signed:
        return
    users = sa.table('auth_user', sa.column('id', sa.Integer), sa.column('login', sa.String))
    groups = sa.table('auth_group', sa.column('id', sa.Integer), sa.column('name', sa.String))
    members = sa.table('auth_membership', sa.column('user_id', sa.Integer), sa.column('group_id', sa.Integer),
                       sa.column('via', sa.String))
    pairs = sa.select(members.c.user_id, members.c.group_id, groups.c.name, users.c.login) \
        .join(users, users.c.id == members.c.user_id).join(groups, groups.c.id == members.c.group_id)
    for user_id, group_id, name, login in connection.execute(pairs).fetchall():
        if (name, login) in signed:
            connection.execute(members.update().where(members.c.user_id == user_id, members.c.group_id == group_id)
                               .values(via='sso'))


def downgrade() -> None:
    with op.batch_alter_table('auth_membership', schema=None) as batch_op:
        batch_op.drop_column('via')
