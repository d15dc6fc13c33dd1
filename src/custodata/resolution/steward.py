"""Data steward operations on golden records: merge and unmerge.

They are library operations (approvals are put in front of them by the access
layer).  Both work through pins, so the resolver honours them on every later
run, and both are logged so an unmerge restores exactly the customer that a
merge absorbed, with its own id.
"""

from __future__ import annotations

import json

import duckdb

from custodata.errors import NotFoundError, StateError
from custodata.resolution.identity import PIN, REDIRECT, XREF, ensure_tables, format_id, next_ids, resolve_id

MERGE_LOG = "customer.merge_log"
_DDL = f"""
CREATE TABLE IF NOT EXISTS {MERGE_LOG} (
    event_id BIGINT PRIMARY KEY, survivor VARCHAR NOT NULL, absorbed VARCHAR NOT NULL,
    members JSON NOT NULL, reason VARCHAR NOT NULL, run_id VARCHAR, merged_at TIMESTAMP NOT NULL,
    undone_at TIMESTAMP
)
"""


def _members(con: duckdb.DuckDBPyConnection, customer_id: str) -> list[str]:
    return [r[0] for r in con.execute(
        f"SELECT obs_id FROM {XREF} WHERE customer_id = ? ORDER BY obs_id", [customer_id]
    ).fetchall()]


def _pin(con: duckdb.DuckDBPyConnection, obs_ids: list[str], customer_id: str, cause: str) -> None:
    con.executemany(
        f"INSERT OR REPLACE INTO {PIN} VALUES (?, ?, ?, now())",
        [[o, customer_id, cause] for o in obs_ids],
    )
    con.execute(
        f"UPDATE {XREF} SET customer_id = ? WHERE obs_id IN (SELECT unnest(?::VARCHAR[]))",
        [customer_id, obs_ids],
    )


def merge(con: duckdb.DuckDBPyConnection, survivor: str, absorbed: str, *, reason: str, run_id: str) -> int:
    """Fold ``absorbed`` into ``survivor``; returns the merge event id."""
    ensure_tables(con)
    con.execute(_DDL)
    survivor, absorbed = resolve_id(con, survivor), resolve_id(con, absorbed)
    if survivor == absorbed:
        raise StateError(f"{survivor} and {absorbed} are already the same customer")
    a, b = _members(con, survivor), _members(con, absorbed)
    if not a:
        raise NotFoundError(f"customer {survivor} not found")
    if not b:
        raise NotFoundError(f"customer {absorbed} not found")
    row = con.execute(f"SELECT coalesce(max(event_id), 0) + 1 FROM {MERGE_LOG}").fetchone()
    event = int(row[0]) if row else 1
    _pin(con, a, survivor, f"merge #{event}: {reason}")
    _pin(con, b, survivor, f"merge #{event}: {reason}")
    con.execute(f"INSERT OR REPLACE INTO {REDIRECT} VALUES (?, ?, ?, ?)",
                [absorbed, survivor, f"merge #{event}: {reason}", run_id])
    con.execute(f"INSERT INTO {MERGE_LOG} VALUES (?, ?, ?, ?, ?, ?, now(), NULL)",
                [event, survivor, absorbed, json.dumps(b), reason, run_id])
    return event


def unmerge(
    con: duckdb.DuckDBPyConnection, customer_id: str, *, reason: str, run_id: str,
    records: list[str] | None = None,
) -> list[str]:
    """Undo the latest merge into ``customer_id``, or detach given source records.

    Returns the customer ids that (re)appear.  After undoing a merge the
    absorbed customer is back with its own id and its own records.
    """
    ensure_tables(con)
    con.execute(_DDL)
    customer_id = resolve_id(con, customer_id)
    members = _members(con, customer_id)
    if not members:
        raise NotFoundError(f"customer {customer_id} not found")
    if records:
        unknown = sorted(set(records) - set(members))
        if unknown:
            raise NotFoundError(f"records {unknown} do not belong to {customer_id}")
        if set(records) == set(members):
            raise StateError("cannot detach every record of a customer; leave at least one")
        new_id = format_id(next_ids(con, 1))
        _pin(con, [m for m in members if m not in records], customer_id, f"unmerge: {reason}")
        _pin(con, records, new_id, f"unmerge from {customer_id}: {reason}")
        return [new_id]
    row = con.execute(
        f"SELECT event_id, absorbed, members FROM {MERGE_LOG} WHERE survivor = ? AND undone_at IS NULL "
        "ORDER BY event_id DESC LIMIT 1",
        [customer_id],
    ).fetchone()
    if row is None:
        raise StateError(
            f"{customer_id} was not made by a merge; name the source records to detach (--records)"
        )
    event, absorbed, moved = int(row[0]), str(row[1]), list(json.loads(row[2]))
    _pin(con, moved, absorbed, f"unmerge #{event}: {reason}")
    con.execute(f"DELETE FROM {REDIRECT} WHERE old_id = ?", [absorbed])
    con.execute(f"UPDATE {MERGE_LOG} SET undone_at = now() WHERE event_id = ?", [event])
    return [absorbed]
