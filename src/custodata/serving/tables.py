"""Tables of the served customer view, registered on the shared operational metadata.

Every published customer lives in ``served_customer`` under a *generation*; only the
generation marked ``active`` in ``served_generation`` is read.  A publish loads a new
generation beside the active one, flips the two in one short transaction, then
deletes the retired rows, so readers never see a half-loaded view.

Protected fields stay encrypted at rest exactly as in the batch store: ``doc`` holds
the 360° view with its ciphertexts, ``served_key`` the wrapped data keys that open
them (NULL once a key is destroyed by erasure).  Look-ups by ID number or mobile go
through keyed tokens, never plaintext.
"""

from __future__ import annotations

import sqlalchemy as sa

from custodata.ops.metadata import metadata

__all__ = [
    "ACTIVE", "LOADING", "RETIRED", "metadata", "served_customer", "served_generation", "served_key",
    "served_redirect",
]

LOADING = "loading"
ACTIVE = "active"
RETIRED = "retired"

served_generation = sa.Table(
    "served_generation", metadata,
    sa.Column("generation", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("status", sa.String(16), nullable=False),  # loading | active | retired
    sa.Column("published_at", sa.DateTime, nullable=False),  # naive UTC
    sa.Column("activated_at", sa.DateTime, nullable=True),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("customers", sa.Integer, nullable=False, server_default="0"),
    sa.Column("counts", sa.Text, nullable=True),  # JSON: counts per domain of the data flow
    # identifies the token key (Protector.fingerprint): a service with another key file is refused
    sa.Column("key_fingerprint", sa.String(32), nullable=True),
    sa.CheckConstraint("status IN ('loading', 'active', 'retired')", name="status"),
)

served_customer = sa.Table(
    "served_customer", metadata,
    sa.Column("generation", sa.Integer, primary_key=True),
    sa.Column("customer_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=True),
    sa.Column("name", sa.Text, nullable=True),  # names are not encrypted in the batch store either
    sa.Column("branches", sa.Text, nullable=True),  # '|branch a|branch b|' (row rules by branch)
    sa.Column("segment", sa.String(255), nullable=True),
    sa.Column("id_token", sa.String(64), nullable=True),
    sa.Column("mobile_token", sa.String(64), nullable=True),
    sa.Column("doc", sa.Text, nullable=False),  # JSON of the encrypted 360° view, without requested_id
    sa.Index(None, "generation", "id_token"),
    sa.Index(None, "generation", "mobile_token"),
    sa.Index(None, "generation", "name"),
)

served_redirect = sa.Table(
    "served_redirect", metadata,
    sa.Column("generation", sa.Integer, primary_key=True),
    sa.Column("old_id", sa.String(64), primary_key=True),
    sa.Column("customer_id", sa.String(64), nullable=True),  # the survivor; NULL: the customer was erased
)

served_key = sa.Table(
    "served_key", metadata,
    sa.Column("key_id", sa.String(255), primary_key=True),
    sa.Column("kek_version", sa.String(64), nullable=True),
    sa.Column("wrapped", sa.LargeBinary, nullable=True),  # NULL: destroyed (erasure)
)
