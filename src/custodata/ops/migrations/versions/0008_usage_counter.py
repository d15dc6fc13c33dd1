"""usage counters: per-person allowances (daily unmask limits, identifier-search rates)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 11:45:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('usage_counter',
    sa.Column('person_id', sa.String(length=255), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('counter', sa.String(length=160), nullable=False),
    sa.Column('used', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('person_id', 'period', 'counter', name=op.f('pk_usage_counter'))
    )


def downgrade() -> None:
    op.drop_table('usage_counter')
