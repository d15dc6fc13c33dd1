"""create requests: a customer created in the master after search before create (issue 11 point 3)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 09:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = "kind IN ('edit_field', 'merge', 'unmerge', 'export', 'role_grant', 'policy_import')"
NEW_KINDS = "kind IN ('edit_field', 'merge', 'unmerge', 'export', 'role_grant', 'policy_import', 'create')"


def _kinds(check: str) -> None:
    with op.batch_alter_table('change_request', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_change_request_kind'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_change_request_kind'), check)


def upgrade() -> None:
    _kinds(NEW_KINDS)


def downgrade() -> None:
    op.execute("DELETE FROM job WHERE request_id IN (SELECT request_id FROM change_request WHERE kind = 'create')")
    op.execute("DELETE FROM change_request WHERE kind = 'create'")
    _kinds(OLD_KINDS)
