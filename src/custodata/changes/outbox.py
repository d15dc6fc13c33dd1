"""Writing change events into the outbox, inside the caller's transaction, and reading them back by cursor.

:func:`record_changes` is what every path that changes the served view calls in the
transaction that makes the change visible (a full publish's swap, an incremental
publish of some customers): the event commits with the change or not at all.

The outbox's writers serialise on it — PostgreSQL takes an exclusive lock on the
table for the rest of the transaction, SQLite has one writer anyway — so ``seq``
numbers are committed in order, and a reader's cursor never jumps over an event a
slower transaction was about to commit.  Readers are not blocked.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from custodata.changes.tables import KINDS, change_event
from custodata.errors import StateError
from custodata.ops import dialect

IN_CHUNK = 500  # customer ids per IN (...) when looking up versions


@dataclass(frozen=True)
class ChangeEvent:
    """A change to record: what happened to whom, by field name and id, never a value.

    ``ids`` keys: ``merged`` (ids absorbed into this customer), ``merged_into`` (the
    survivor this id now leads to), ``split`` (ids split off this customer),
    ``split_from`` (the customer this one was split from).
    """

    kind: str
    customer_id: str | None = None
    fields: Sequence[str] = ()
    ids: dict[str, Any] = field(default_factory=dict)
    generation: int | None = None
    run_id: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise StateError(f"unknown change kind {self.kind!r}; one of {', '.join(KINDS)}")
        if (self.customer_id is None) != (self.kind == "published"):
            raise StateError("a 'published' event names no customer; every other kind names one")


@dataclass(frozen=True)
class StoredEvent:
    """An event as the outbox holds it: with its cursor, idempotency key and the customer's version."""

    seq: int
    event_id: str
    kind: str
    customer_id: str | None
    version: int | None
    fields: list[str]
    ids: dict[str, Any]
    generation: int | None
    run_id: str | None
    occurred_at: dt.datetime

    def public(self) -> dict[str, Any]:
        """The JSON form the feed and the broker carry (the same everywhere)."""
        return {
            "seq": self.seq, "event_id": self.event_id, "kind": self.kind, "customer_id": self.customer_id,
            "version": self.version, "fields": self.fields, "ids": self.ids, "generation": self.generation,
            "run_id": self.run_id, "occurred_at": self.occurred_at.isoformat() + "Z",
        }


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _versions(con: sa.Connection, customer_ids: set[str]) -> dict[str, int]:
    """The latest version of each customer (absent: no event yet)."""
    out: dict[str, int] = {}
    ids = sorted(customer_ids)
    for i in range(0, len(ids), IN_CHUNK):
        part = ids[i:i + IN_CHUNK]
        q = (sa.select(change_event.c.customer_id, sa.func.max(change_event.c.version))
             .where(change_event.c.customer_id.in_(part)).group_by(change_event.c.customer_id))
        out.update({str(c): int(v) for c, v in con.execute(q)})
    return out


def record_changes(con: sa.Connection, events: Iterable[ChangeEvent]) -> list[StoredEvent]:
    """Append ``events`` to the outbox in the caller's open transaction; returns them as stored.

    Call it inside the transaction that makes the change visible: the events commit
    or roll back with it.  Each gets a fresh ``event_id`` (its idempotency key) and
    the customer's next version.
    """
    batch = list(events)
    if not batch:
        return []
    # held until commit: the next writer's seq is drawn only after this one's events are visible
    dialect.lock_table(con, "change_event")
    latest = _versions(con, {e.customer_id for e in batch if e.customer_id is not None})
    now = _utcnow()
    rows = []
    for e in batch:
        version = None
        if e.customer_id is not None:
            version = latest.get(e.customer_id, 0) + 1
            latest[e.customer_id] = version
        rows.append({
            "event_id": str(uuid.uuid4()), "kind": e.kind, "customer_id": e.customer_id, "version": version,
            "fields": json.dumps(sorted(set(e.fields))), "ids": json.dumps(e.ids, sort_keys=True),
            "generation": e.generation, "run_id": e.run_id, "occurred_at": now,
        })
    con.execute(change_event.insert(), rows)
    ids = [r["event_id"] for r in rows]
    stored: list[StoredEvent] = []
    for i in range(0, len(ids), IN_CHUNK):
        q = sa.select(change_event).where(change_event.c.event_id.in_(ids[i:i + IN_CHUNK]))
        stored.extend(_stored(r) for r in con.execute(q))
    return sorted(stored, key=lambda s: s.seq)


def _stored(row: sa.Row[Any]) -> StoredEvent:
    return StoredEvent(
        seq=int(row.seq), event_id=str(row.event_id), kind=str(row.kind),
        customer_id=None if row.customer_id is None else str(row.customer_id),
        version=None if row.version is None else int(row.version),
        fields=list(json.loads(row.fields)), ids=dict(json.loads(row.ids)),
        generation=None if row.generation is None else int(row.generation),
        run_id=None if row.run_id is None else str(row.run_id), occurred_at=row.occurred_at,
    )


def read_events(con: sa.Connection, *, after: int = 0, limit: int = 100) -> list[StoredEvent]:
    """Events with ``seq`` > ``after``, oldest first, at most ``limit``."""
    q = sa.select(change_event).where(change_event.c.seq > after).order_by(change_event.c.seq).limit(limit)
    return [_stored(r) for r in con.execute(q)]


def last_seq(con: sa.Connection) -> int:
    """The newest event's cursor (0: the outbox is empty)."""
    value = con.execute(sa.select(sa.func.max(change_event.c.seq))).scalar()
    return int(value or 0)


__all__ = ["ChangeEvent", "StoredEvent", "last_seq", "read_events", "record_changes"]
