"""Tables of access: every policy version ever in force, and the per-person usage counters.

The text is kept as imported (comments included) rather than re-serialised, so
an export gives back exactly what was reviewed and the sha256 in the audit
event identifies it.  Versions are never updated or deleted: the audit trail
names a rule id and a version, and both must stay resolvable.
"""

from __future__ import annotations

import sqlalchemy as sa

from custodata.ops.metadata import metadata

policy_version = sa.Table(
    "policy_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),  # naive UTC
    sa.Column("comment", sa.Text, nullable=False),
)

# One row per person, period (the institution's day or minute) and counter ("unmask:<rule id>",
# "identifier-search"): a conditional UPDATE on it takes an allowance atomically, so parallel
# requests cannot all pass a check made before any of them is counted.
usage_counter = sa.Table(
    "usage_counter",
    metadata,
    sa.Column("person_id", sa.String(255), primary_key=True),
    sa.Column("period", sa.String(16), primary_key=True),
    sa.Column("counter", sa.String(160), primary_key=True),
    sa.Column("used", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),  # naive UTC
)

__all__ = ["metadata", "policy_version", "usage_counter"]
