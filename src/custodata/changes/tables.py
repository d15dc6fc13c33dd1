"""The change outbox (``change_event``) and the publisher's cursor (``change_cursor``).

An event says *that* a customer changed and *how* — its kind, its version, the names
of the fields that changed, the ids merged or split — never a value: the systems
downstream read the new state through the service, under its policy and audit.  It
is written in the very transaction that makes the change visible in the served view,
so an event exists exactly when its change does.

``seq`` is the cursor: events are numbered in commit order (writers of the outbox
serialise on it, :func:`custodata.changes.outbox.record_changes`), so a reader that
has seen ``seq`` N has seen every event before it.  ``event_id`` is the idempotency
key a consumer deduplicates on; it is chosen once, when the event is written, and
travels with every delivery.  ``version`` counts a customer's events (1, 2, …).

``change_cursor`` keeps, per named publisher, the last ``seq`` the broker confirmed.
"""

from __future__ import annotations

import sqlalchemy as sa

from custodata.ops.metadata import metadata

# created: a new customer; corrected: a field changed; merged: absorbed into another or absorbed one;
# unmerged: split off or split from; erased: gone for good; published: a whole new served generation
KINDS = ("created", "corrected", "merged", "unmerged", "erased", "published")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


change_event = sa.Table(
    "change_event", metadata,
    sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("customer_id", sa.String(64), nullable=True),  # NULL for a 'published' event
    sa.Column("version", sa.Integer(), nullable=True),  # the customer's n-th event; NULL for 'published'
    sa.Column("fields", sa.Text(), nullable=False, server_default="[]"),  # JSON list of field NAMES
    sa.Column("ids", sa.Text(), nullable=False, server_default="{}"),  # JSON: merged / merged_into / split / split_from
    sa.Column("generation", sa.Integer(), nullable=True),  # the served generation the change is visible in
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("occurred_at", sa.DateTime(), nullable=False),  # naive UTC
    sa.CheckConstraint(_one_of("kind", KINDS), name="kind"),
    sa.Index(None, "event_id", unique=True),
    sa.Index(None, "customer_id", "version", unique=True),
)

change_cursor = sa.Table(
    "change_cursor", metadata,
    sa.Column("name", sa.String(64), primary_key=True),  # the publisher (one per destination)
    sa.Column("seq", sa.Integer(), nullable=False, server_default="0"),  # last seq confirmed by the broker
    sa.Column("updated_at", sa.DateTime(), nullable=False),
)

__all__ = ["KINDS", "change_cursor", "change_event"]
