"""SCIM groups and their members, provisioned by the institution's IdP (issue 15)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 02:40:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('scim_group',
    sa.Column('group_id', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=255), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('group_id', name=op.f('pk_scim_group')),
    sa.UniqueConstraint('display_name', name=op.f('uq_scim_group_display_name'))
    )
    op.create_table('scim_group_member',
    sa.Column('group_id', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['scim_group.group_id'],
                            name=op.f('fk_scim_group_member_group_id_scim_group')),
    sa.ForeignKeyConstraint(['person_id'], ['person.person_id'],
                            name=op.f('fk_scim_group_member_person_id_person')),
    sa.PrimaryKeyConstraint('group_id', 'person_id', name=op.f('pk_scim_group_member'))
    )
    with op.batch_alter_table('scim_group_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scim_group_member_person_id'), ['person_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('scim_group_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scim_group_member_person_id'))
    op.drop_table('scim_group_member')
    op.drop_table('scim_group')
