"""change events: the outbox and the publisher cursor (issue 11 point 4)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 09:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('change_cursor',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), server_default='0', nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_change_cursor'))
    )
    op.create_table('change_event',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=True),
    sa.Column('version', sa.Integer(), nullable=True),
    sa.Column('fields', sa.Text(), server_default='[]', nullable=False),
    sa.Column('ids', sa.Text(), server_default='{}', nullable=False),
    sa.Column('generation', sa.Integer(), nullable=True),
    sa.Column('run_id', sa.String(length=64), nullable=True),
    sa.Column('occurred_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('created', 'corrected', 'merged', 'unmerged', 'erased', 'published')",
                       name=op.f('ck_change_event_kind')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_change_event'))
    )
    with op.batch_alter_table('change_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_change_event_customer_id_version'), ['customer_id', 'version'],
                              unique=True)
        batch_op.create_index(batch_op.f('ix_change_event_event_id'), ['event_id'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('change_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_change_event_event_id'))
        batch_op.drop_index(batch_op.f('ix_change_event_customer_id_version'))

    op.drop_table('change_event')
    op.drop_table('change_cursor')
