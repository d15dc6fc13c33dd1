"""audit log: hash-chained events, customer look-up, signed checkpoints, chain head

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 09:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_event',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=128), nullable=False),
    sa.Column('branch', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('result', sa.String(length=16), nullable=False),
    sa.Column('customer_ids', sa.Text(), nullable=False),
    sa.Column('customer_count', sa.BigInteger(), nullable=False),
    sa.Column('fields', sa.Text(), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('source_address', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('system', sa.String(length=64), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_event'))
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_event_action_at'), ['action', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_actor_at'), ['actor', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_at'), ['at'], unique=False)

    op.create_table('audit_event_customer',
    sa.Column('customer_id', sa.String(length=128), nullable=False),
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.PrimaryKeyConstraint('customer_id', 'seq', name=op.f('pk_audit_event_customer'))
    )
    with op.batch_alter_table('audit_event_customer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_event_customer_seq'), ['seq'], unique=False)

    op.create_table('audit_checkpoint',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_checkpoint'))
    )
    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('floor_seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )


def downgrade() -> None:
    op.drop_table('audit_head')
    op.drop_table('audit_checkpoint')
    with op.batch_alter_table('audit_event_customer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_event_customer_seq'))
    op.drop_table('audit_event_customer')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_event_at'))
        batch_op.drop_index(batch_op.f('ix_audit_event_actor_at'))
        batch_op.drop_index(batch_op.f('ix_audit_event_action_at'))
    op.drop_table('audit_event')
