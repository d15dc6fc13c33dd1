"""Tables of the audit log, registered on the shared operational metadata.

``audit_event`` holds the chain itself; ``audit_event_customer`` is a look-up
index by customer (derived from each event's ``customer_ids``, not part of the
hash); ``audit_checkpoint`` keeps the signed checkpoints and ``audit_head`` the
single row every appender locks, so appenders in many processes still build
one linear chain.  Text columns of the chain are NOT NULL (``''`` for absent
values) so the canonical form hashed is exactly what is stored.
"""

from __future__ import annotations

import sqlalchemy as sa

from custodata.ops.metadata import metadata

# column widths also bound what the log accepts: longer values are cut (see custodata.audit.log)
ACTOR_LEN = 255
ROLE_LEN = 128
BRANCH_LEN = 128
ACTION_LEN = 64
RESULT_LEN = 16
ADDRESS_LEN = 64
SYSTEM_LEN = 64
CUSTOMER_ID_LEN = 128
HASH_LEN = 64

audit_event = sa.Table(
    "audit_event",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("actor", sa.String(ACTOR_LEN), nullable=False),
    sa.Column("role", sa.String(ROLE_LEN), nullable=False),
    sa.Column("branch", sa.String(BRANCH_LEN), nullable=False),
    sa.Column("action", sa.String(ACTION_LEN), nullable=False),
    sa.Column("result", sa.String(RESULT_LEN), nullable=False),
    sa.Column("customer_ids", sa.Text, nullable=False),  # JSON list
    sa.Column("customer_count", sa.BigInteger, nullable=False),
    sa.Column("fields", sa.Text, nullable=False),  # JSON list
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("source_address", sa.String(ADDRESS_LEN), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),  # JSON object
    sa.Column("system", sa.String(SYSTEM_LEN), nullable=False),
    sa.Column("prev_hash", sa.String(HASH_LEN), nullable=False),
    sa.Column("hash", sa.String(HASH_LEN), nullable=False),
    sa.Index(None, "actor", "at"),
    sa.Index(None, "action", "at"),
    sa.Index(None, "at"),
)

audit_event_customer = sa.Table(
    "audit_event_customer",
    metadata,
    sa.Column("customer_id", sa.String(CUSTOMER_ID_LEN), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Index(None, "seq"),
)

audit_checkpoint = sa.Table(
    "audit_checkpoint",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.String(HASH_LEN), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("signature", sa.String(128), nullable=False),  # hex of the 64-byte Ed25519 signature
)

audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),  # always 1
    sa.Column("seq", sa.BigInteger, nullable=False),  # last appended entry (0: empty chain)
    sa.Column("hash", sa.String(HASH_LEN), nullable=False),
    sa.Column("floor_seq", sa.BigInteger, nullable=False),  # entries up to here were purged (0: none)
)

__all__ = ["audit_checkpoint", "audit_event", "audit_event_customer", "audit_head", "metadata"]
