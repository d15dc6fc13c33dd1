"""Publishing the customer business-layer total domain into the operational store, without downtime.

A publish loads a whole new *generation* beside the one being served, in short
chunked transactions (SQLite has one writer: the service's audit appends must get
the lock between chunks), then flips the two in one short transaction and deletes
the retired rows.  Readers always ask for the active generation, so they see
either the old view or the new one, never a mix and never an empty one.

Wrapped data keys are mirrored into ``served_key`` first: a new customer's key is
there before its document is served, and a key destroyed by erasure is NULL from
that moment on.  Erased customers are not served at all.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from custodata.engine.store import BatchStore
from custodata.errors import StateError
from custodata.ops import dialect
from custodata.ops.store import OpsStore
from custodata.serving.documents import (
    SERVED_COLUMNS,
    count_documents,
    domain_counts,
    redirects,
    stream_documents,
)
from custodata.serving.tables import (
    ACTIVE,
    LOADING,
    RETIRED,
    served_customer,
    served_generation,
    served_key,
    served_redirect,
)

Progress = Callable[[int, int], None]  # customers loaded, customers to load
# prepares a publish's change events (outside any transaction: it may compare whole generations) and
# returns what writes them inside the swap's transaction (custodata.changes.diff.full_publish_changes)
ChangeHook = Callable[[OpsStore, int, "str | None"], Callable[[sa.Connection], None]]
CHUNK_ROWS = 2_000  # rows per load transaction: short enough for other writers to get in between
DELETE_ROWS = 10_000


@dataclass(frozen=True)
class ServedReport:
    generation: int
    customers: int
    seconds: float
    redirects: int = 0
    keys_changed: int = 0


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _bulk_load(ops: OpsStore, con: sa.Connection, table: sa.Table, columns: Sequence[str],
               rows: Sequence[Sequence[Any]]) -> None:
    dialect.bulk_insert(con, table, columns, rows)


def _chunks(rows: Iterable[Any], size: int) -> Iterable[list[Any]]:
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _delete_generation(ops: OpsStore, generation: int) -> None:
    """Delete a generation's rows in chunks, each its own short transaction."""
    for table, key in ((served_customer, served_customer.c.customer_id), (served_redirect, served_redirect.c.old_id)):
        while True:
            with ops.begin() as con:
                dialect.wipe_freed_pages(con)  # freed pages keep no old document
                batch = sa.select(key).where(table.c.generation == generation).limit(DELETE_ROWS)
                done = con.execute(
                    sa.delete(table).where(table.c.generation == generation, key.in_(batch))
                ).rowcount
            if not done:
                break


# ---- the steps of a publish --------------------------------------------------------------------

def sync_served_keys(batch: BatchStore, ops: OpsStore) -> int:
    """Mirror ``meta.data_key`` into ``served_key``: new keys added, re-wrapped or destroyed ones updated.

    Part of every publish; on its own after a KEK rotation, so the service can still unwrap
    once the old KEK version is retired.  Returns how many keys changed.
    """
    wanted: dict[str, tuple[str | None, bytes | None]] = {}
    if batch.table_exists("meta.data_key"):
        for key_id, version, wrapped in batch.engine.rows(
            "SELECT key_id, kek_version, wrapped FROM meta.data_key"
        ):
            wanted[str(key_id)] = (None, None) if wrapped is None else (str(version), bytes(wrapped))
    with ops.read() as con:
        have = {str(r.key_id): (r.kek_version, None if r.wrapped is None else bytes(r.wrapped))
                for r in con.execute(sa.select(served_key.c.key_id, served_key.c.kek_version, served_key.c.wrapped))}
    new = [(k, v, w) for k, (v, w) in wanted.items() if k not in have]
    changed = [{"k": k, "v": v, "w": w} for k, (v, w) in wanted.items() if k in have and have[k] != (v, w)]
    gone = [{"k": k} for k in have if k not in wanted]
    for chunk in _chunks(new, CHUNK_ROWS * 5):
        with ops.begin() as con:
            _bulk_load(ops, con, served_key, ("key_id", "kek_version", "wrapped"), chunk)
    upd = (sa.update(served_key).where(served_key.c.key_id == sa.bindparam("k"))
           .values(kek_version=sa.bindparam("v"), wrapped=sa.bindparam("w")))
    for part in _chunks(changed, CHUNK_ROWS * 5):
        with ops.begin() as con:
            con.execute(upd, part)
    for part in _chunks(gone, CHUNK_ROWS * 5):
        with ops.begin() as con:
            con.execute(sa.delete(served_key).where(served_key.c.key_id == sa.bindparam("k")), part)
    return len(new) + len(changed) + len(gone)


def _start_generation(batch: BatchStore, ops: OpsStore, run_id: str | None) -> int:
    """Clear what a crashed publish left loading, then open a new generation (invisible until activated)."""
    with ops.read() as con:
        stale = [int(g) for g in con.execute(
            sa.select(served_generation.c.generation).where(served_generation.c.status == LOADING)).scalars()]
    for g in stale:
        _delete_generation(ops, g)
        with ops.begin() as con:
            con.execute(sa.delete(served_generation).where(served_generation.c.generation == g))
    with ops.begin() as con:
        result = con.execute(served_generation.insert().values(
            status=LOADING, published_at=_utcnow(), run_id=run_id, customers=0,
            counts=json.dumps(domain_counts(batch), ensure_ascii=False, sort_keys=True),
            key_fingerprint=batch.protector.fingerprint(),
        ))
        key = result.inserted_primary_key
    if key is None:
        raise StateError("the served view could not open a new generation")
    return int(key[0])


def _load_documents(batch: BatchStore, ops: OpsStore, generation: int, progress: Progress | None) -> int:
    total = count_documents(batch.engine)
    done = 0
    if progress:
        progress(0, total)
    columns = ("generation", *SERVED_COLUMNS)
    for record_batch in stream_documents(batch.engine, CHUNK_ROWS):
        data = [record_batch.column(c).to_pylist() for c in SERVED_COLUMNS]
        rows = [(generation, *r) for r in zip(*data, strict=True)]
        with ops.begin() as con:
            _bulk_load(ops, con, served_customer, columns, rows)
        done += len(rows)
        if progress:
            progress(done, total)
    return done


def _load_redirects(batch: BatchStore, ops: OpsStore, generation: int) -> int:
    rows = [(generation, old, new) for old, new in redirects(batch.engine)]
    for chunk in _chunks(rows, CHUNK_ROWS * 5):
        with ops.begin() as con:
            _bulk_load(ops, con, served_redirect, ("generation", "old_id", "customer_id"), chunk)
    return len(rows)


def _activate(ops: OpsStore, generation: int, customers: int,
              write_events: Callable[[sa.Connection], None] | None = None) -> list[int]:
    """The swap: one short transaction, with the change events; returns the generations it retired."""
    with ops.begin() as con:
        if write_events is not None:  # in the swap's transaction: events exist exactly when the change does
            write_events(con)
        retired = [int(g) for g in con.execute(
            sa.select(served_generation.c.generation).where(served_generation.c.status == ACTIVE)).scalars()]
        con.execute(sa.update(served_generation).where(served_generation.c.status == ACTIVE)
                    .values(status=RETIRED))
        con.execute(sa.update(served_generation).where(served_generation.c.generation == generation)
                    .values(status=ACTIVE, activated_at=_utcnow(), customers=customers))
    return retired


def _full_publish_changes(ops: OpsStore, generation: int, run_id: str | None) -> Callable[[sa.Connection], None]:
    from custodata.changes.diff import full_publish_changes

    return full_publish_changes(ops, generation, run_id)


def publish_served(
    batch: BatchStore, ops: OpsStore, *, run_id: str | None = None, progress: Progress | None = None,
    changes: ChangeHook | None = _full_publish_changes,
) -> ServedReport:
    """Serve the batch store's customer business-layer total domain from the operational store.

    Readers keep being answered from the previous generation until the new one is
    complete; then the switch is one transaction.  ``progress(done, total)`` is called
    after each chunk of customers.  ``changes`` writes the change events in the
    switch's transaction (default: one per customer whose served document changed,
    and one ``published``); ``None`` writes none.
    """
    t0 = time.perf_counter()
    keys_changed = sync_served_keys(batch, ops)
    generation = _start_generation(batch, ops, run_id)
    try:
        customers = _load_documents(batch, ops, generation, progress)
        n_redirects = _load_redirects(batch, ops, generation)
        write_events = changes(ops, generation, run_id) if changes is not None else None
        retired = _activate(ops, generation, customers, write_events)
    except BaseException:
        _abandon(ops, generation)
        raise
    for old in retired:
        _delete_generation(ops, old)
    # deleted documents leave no copy behind; fresh statistics for a whole new generation
    dialect.settle(ops.engine, "served_customer", "served_redirect")
    return ServedReport(generation, customers, time.perf_counter() - t0, n_redirects, keys_changed)


def _abandon(ops: OpsStore, generation: int) -> None:
    """Best effort: drop a half-loaded generation (a later publish clears it otherwise)."""
    try:
        _delete_generation(ops, generation)
        with ops.begin() as con:
            con.execute(sa.delete(served_generation).where(served_generation.c.generation == generation))
    except sa.exc.SQLAlchemyError:
        pass
