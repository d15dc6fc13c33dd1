"""served customer view: generations, customer documents, id redirects, wrapped data keys

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 10:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('served_generation',
    sa.Column('generation', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('published_at', sa.DateTime(), nullable=False),
    sa.Column('activated_at', sa.DateTime(), nullable=True),
    sa.Column('run_id', sa.String(length=64), nullable=True),
    sa.Column('customers', sa.Integer(), server_default='0', nullable=False),
    sa.Column('counts', sa.Text(), nullable=True),
    sa.Column('key_fingerprint', sa.String(length=32), nullable=True),
    sa.CheckConstraint("status IN ('loading', 'active', 'retired')", name=op.f('ck_served_generation_status')),
    sa.PrimaryKeyConstraint('generation', name=op.f('pk_served_generation'))
    )
    op.create_table('served_customer',
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=True),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('branches', sa.Text(), nullable=True),
    sa.Column('segment', sa.String(length=255), nullable=True),
    sa.Column('id_token', sa.String(length=64), nullable=True),
    sa.Column('mobile_token', sa.String(length=64), nullable=True),
    sa.Column('doc', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('generation', 'customer_id', name=op.f('pk_served_customer'))
    )
    op.create_index(op.f('ix_served_customer_generation_id_token'), 'served_customer',
                    ['generation', 'id_token'], unique=False)
    op.create_index(op.f('ix_served_customer_generation_mobile_token'), 'served_customer',
                    ['generation', 'mobile_token'], unique=False)
    op.create_index(op.f('ix_served_customer_generation_name'), 'served_customer',
                    ['generation', 'name'], unique=False)
    op.create_table('served_redirect',
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('old_id', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('generation', 'old_id', name=op.f('pk_served_redirect'))
    )
    op.create_table('served_key',
    sa.Column('key_id', sa.String(length=255), nullable=False),
    sa.Column('kek_version', sa.String(length=64), nullable=True),
    sa.Column('wrapped', sa.LargeBinary(), nullable=True),
    sa.PrimaryKeyConstraint('key_id', name=op.f('pk_served_key'))
    )


def downgrade() -> None:
    op.drop_table('served_key')
    op.drop_table('served_redirect')
    op.drop_index(op.f('ix_served_customer_generation_name'), table_name='served_customer')
    op.drop_index(op.f('ix_served_customer_generation_mobile_token'), table_name='served_customer')
    op.drop_index(op.f('ix_served_customer_generation_id_token'), table_name='served_customer')
    op.drop_table('served_customer')
    op.drop_table('served_generation')
