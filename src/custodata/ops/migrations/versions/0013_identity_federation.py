"""identity from the institution: TOTP seeds, recovery codes, account source, session method (issue 15)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 02:20:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('person_mfa',
    sa.Column('person_id', sa.String(length=64), nullable=False),
    sa.Column('seed_sealed', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.Column('last_step', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['person.person_id'], name=op.f('fk_person_mfa_person_id_person')),
    sa.PrimaryKeyConstraint('person_id', name=op.f('pk_person_mfa'))
    )
    op.create_table('person_recovery_code',
    sa.Column('person_id', sa.String(length=64), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['person.person_id'],
                            name=op.f('fk_person_recovery_code_person_id_person')),
    sa.PrimaryKeyConstraint('person_id', 'code_hash', name=op.f('pk_person_recovery_code'))
    )
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=16), server_default='local', nullable=False))
        batch_op.add_column(sa.Column('external_id', sa.String(length=255), nullable=True))
    with op.batch_alter_table('session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('method', sa.String(length=16), server_default='password', nullable=False))
        batch_op.add_column(sa.Column('mfa', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('session', schema=None) as batch_op:
        batch_op.drop_column('mfa')
        batch_op.drop_column('method')
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_column('external_id')
        batch_op.drop_column('source')
    op.drop_table('person_recovery_code')
    op.drop_table('person_mfa')
