"""Legal holds [法律保留]: a customer under investigation or litigation is kept whatever its retention says.

A hold names the customer, the case and why, who placed it and when.  Placing one takes
effect at once (it only stops deletion, so it is safe to act on before anyone checks);
lifting one is the dangerous direction — the customer's expired data is erased at the next
run — so it takes a second person: the one who releases a hold must not be the one who
placed it.  Holds live in the batch store (``meta.retention_hold``), beside the data they
protect, and go into its backups with it; every change is audited by the caller
(:mod:`custodata.jobs.retention`).  Held customers are resolved to their current id, so a
hold survives a merge.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from custodata.engine.port import BatchEngine
from custodata.errors import CustodataError, NotFoundError, StateError

HOLDS = "meta.retention_hold"


class HoldRefused(PermissionError, CustodataError):
    """A hold change the two-person rule forbids (releasing one's own hold)."""


_COLUMNS = ("hold_id", "customer_id", "case_ref", "reason", "placed_by", "placed_at", "released_by",
            "released_at", "release_reason")


@dataclass(frozen=True)
class Hold:
    hold_id: str
    customer_id: str
    case_ref: str
    reason: str
    placed_by: str
    placed_at: dt.datetime
    released_by: str | None = None
    released_at: dt.datetime | None = None
    release_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.released_at is None


def ensure_holds(db: BatchEngine) -> None:
    db.execute("CREATE SCHEMA IF NOT EXISTS meta")
    db.execute(f"CREATE TABLE IF NOT EXISTS {HOLDS} (hold_id VARCHAR PRIMARY KEY, customer_id VARCHAR NOT NULL, "
               "case_ref VARCHAR NOT NULL, reason VARCHAR NOT NULL, placed_by VARCHAR NOT NULL, "
               "placed_at TIMESTAMP NOT NULL, released_by VARCHAR, released_at TIMESTAMP, release_reason VARCHAR)")


def list_holds(db: BatchEngine, *, active_only: bool = True) -> list[Hold]:
    if not db.exists(HOLDS):
        return []
    where = " WHERE released_at IS NULL" if active_only else ""
    return [Hold(*row) for row in db.rows(f"SELECT {', '.join(_COLUMNS)} FROM {HOLDS}{where} ORDER BY placed_at, "
                                          "hold_id")]


def held_customers(db: BatchEngine) -> dict[str, Hold]:
    """Current customer id → its (first) active hold; an old id merged away is followed to its survivor."""
    from custodata.resolution.identity import REDIRECT, resolve_id

    out: dict[str, Hold] = {}
    merged = db.exists(REDIRECT)  # read-only callers (the report) must not create it
    for hold in list_holds(db):
        out.setdefault(resolve_id(db, hold.customer_id) if merged else hold.customer_id, hold)
    return out


def place_hold(db: BatchEngine, customer_id: str, *, case_ref: str, reason: str, by: str) -> Hold:
    """Hold a customer now; the customer must exist (an erased one cannot be held back)."""
    from custodata.resolution.identity import ensure_tables, resolve_id

    if not case_ref.strip() or not reason.strip():
        raise StateError("a legal hold needs the case reference and the reason")
    ensure_tables(db)
    current = resolve_id(db, customer_id)
    if not db.scalar("SELECT count(*) FROM customer.golden WHERE customer_id = ?", [current]):
        raise NotFoundError(f"customer {customer_id} not found")
    ensure_holds(db)
    hold = Hold(f"H-{uuid.uuid4().hex[:12]}", current, case_ref.strip(), reason.strip(), by,
                dt.datetime.now(dt.UTC).replace(tzinfo=None))
    db.execute(f"INSERT INTO {HOLDS} VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, NULL)",
               [hold.hold_id, hold.customer_id, hold.case_ref, hold.reason, hold.placed_by, hold.placed_at])
    return hold


def release_hold(db: BatchEngine, hold_id: str, *, reason: str, by: str) -> Hold:
    """Lift a hold: only a person other than the one who placed it (maker-checker)."""
    if not reason.strip():
        raise StateError("releasing a legal hold needs a reason (e.g. the case closed)")
    found = [h for h in list_holds(db, active_only=False) if h.hold_id == hold_id]
    if not found:
        raise NotFoundError(f"legal hold {hold_id} not found")
    hold = found[0]
    if not hold.active:
        raise StateError(f"legal hold {hold_id} was already released on {hold.released_at:%Y-%m-%d}")
    if hold.placed_by == by:
        raise HoldRefused(f"legal hold {hold_id} was placed by {by}: another person must release it")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    db.execute(f"UPDATE {HOLDS} SET released_by = ?, released_at = ?, release_reason = ? WHERE hold_id = ?",
               [by, now, reason.strip(), hold_id])
    return Hold(hold.hold_id, hold.customer_id, hold.case_ref, hold.reason, hold.placed_by, hold.placed_at, by, now,
                reason.strip())


__all__ = ["HOLDS", "Hold", "HoldRefused", "ensure_holds", "held_customers", "list_holds", "place_hold", "release_hold"]
