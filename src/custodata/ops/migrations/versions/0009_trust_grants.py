"""trust: one-time passwords (person.must_change_password), role-grant and policy-import requests

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 13:10:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = "kind IN ('edit_field', 'merge', 'unmerge', 'export')"
NEW_KINDS = "kind IN ('edit_field', 'merge', 'unmerge', 'export', 'role_grant', 'policy_import')"


def _kinds(check: str) -> None:
    with op.batch_alter_table('change_request', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_change_request_kind'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_change_request_kind'), check)


def upgrade() -> None:
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
    _kinds(NEW_KINDS)


def downgrade() -> None:
    op.execute("DELETE FROM export_file WHERE request_id IN "
               "(SELECT request_id FROM change_request WHERE kind IN ('role_grant', 'policy_import'))")
    op.execute("DELETE FROM change_request WHERE kind IN ('role_grant', 'policy_import')")
    _kinds(OLD_KINDS)
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_column('must_change_password')
