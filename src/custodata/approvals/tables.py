"""Tables of maker-checker requests and the export files approved requests produce.

A request's payload and result are JSON text: their shape depends on the kind,
and nothing queries inside them.  Values of golden-record corrections are kept
sealed under the customer's data key in the payload (see
:mod:`custodata.approvals.changes`), so erasing a customer also shreds their
pending corrections.  ``export_file.canaries`` holds the fabricated values of
the per-recipient canary rows: invented customers, never real data.
"""

from __future__ import annotations

import sqlalchemy as sa

from custodata.ops.metadata import metadata

KINDS = ("edit_field", "merge", "unmerge", "export", "role_grant", "policy_import", "create")
STATUSES = ("pending", "approved", "rejected", "applied", "failed", "expired", "cancelled")
FORMATS = ("csv", "jsonl")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


change_request = sa.Table(
    "change_request", metadata,
    sa.Column("request_id", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("maker", sa.String(128), nullable=False),
    sa.Column("maker_role", sa.String(64), nullable=False),
    sa.Column("maker_branch", sa.String(64), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("payload", sa.Text(), nullable=False),
    sa.Column("checker", sa.String(128), nullable=True),
    sa.Column("checker_role", sa.String(64), nullable=True),
    sa.Column("decided_at", sa.DateTime(), nullable=True),
    sa.Column("decision_note", sa.Text(), nullable=True),
    sa.Column("result", sa.Text(), nullable=True),
    sa.Column("expires_at", sa.DateTime(), nullable=False),
    sa.CheckConstraint(_one_of("kind", KINDS), name="kind"),
    sa.CheckConstraint(_one_of("status", STATUSES), name="status"),
    sa.Index(None, "status", "kind"),
    sa.Index(None, "maker"),
)

export_file = sa.Table(
    "export_file", metadata,
    sa.Column("export_id", sa.String(40), primary_key=True),
    sa.Column("request_id", sa.String(40), sa.ForeignKey("change_request.request_id"), nullable=False),
    sa.Column("recipient", sa.String(128), nullable=False),
    sa.Column("watermark_id", sa.String(32), nullable=False),
    sa.Column("path", sa.Text(), nullable=False),
    sa.Column("format", sa.String(8), nullable=False),
    sa.Column("rows", sa.Integer(), nullable=False),
    sa.Column("canaries", sa.Text(), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("expires_at", sa.DateTime(), nullable=False),
    sa.Column("downloaded_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("purged_at", sa.DateTime(), nullable=True),
    sa.CheckConstraint(_one_of("format", FORMATS), name="format"),
    sa.Index(None, "watermark_id", unique=True),
    sa.Index(None, "request_id"),
    sa.Index(None, "expires_at"),
)

__all__ = ["FORMATS", "KINDS", "STATUSES", "change_request", "export_file", "metadata"]
