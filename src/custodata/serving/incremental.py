"""Serving the customers a change touched, in place, in one transaction.

A full publish (:mod:`custodata.serving.publish`) loads a whole new generation and
switches to it: right for a batch run, far too slow for one approved correction at a
million customers.  :func:`publish_customers` rebuilds the served documents of a few
customers with the very SQL of the full build, run over copies of the derived tables
cut down to those customers (every section of a document is aggregated per customer,
so the cut changes nothing for them), then replaces their rows of the *active*
generation, their redirects and their data keys in **one** transaction of the
operational store: a reader sees the view before the change or after it, never half
of it (a merge's survivor without the absorbed customer's redirect, say).

A customer no longer in the derived view (merged away, erased) loses its row; an
erased customer's key is NULL in the same transaction, so its document is dead at
once even in a copy; on SQLite deleted rows are overwritten and the WAL folded back,
as a full publish does, so the file keeps no old document.

The change events go in that same transaction: the rows replaced are read first (locked
on PostgreSQL), and after the writes they are compared with the rows written by the
full publish's own comparison (:func:`custodata.changes.diff.changes_between`): the
same kinds, fields and ids whichever path served a change.  No ``published`` event:
that names a whole new generation, and this one stays.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from custodata.crypto.keyring import CUSTOMER_KEY_PREFIX, customer_key_id
from custodata.engine.lookups import business_cut_sql
from custodata.engine.port import BatchEngine
from custodata.engine.store import BatchStore
from custodata.ops import dialect
from custodata.ops.store import OpsStore
from custodata.serving.documents import SERVED_COLUMNS, documents_sql, domain_counts, redirects
from custodata.serving.tables import ACTIVE, served_customer, served_generation, served_key, served_redirect

IN_CHUNK = 500  # ids per IN (...) list: far below every engine's limit on bound parameters

# the derived tables a served document is built from, each cut down to the customers served
_CUTS: dict[str, str] = {
    "layer.customer_view": "SELECT * FROM layer.customer_view WHERE customer_id IN (SELECT customer_id FROM _s_ids)",
    "customer.xref": "SELECT * FROM customer.xref WHERE customer_id IN (SELECT customer_id FROM _s_ids)",
    "customer.party": "SELECT * FROM customer.party WHERE obs_id IN (SELECT obs_id FROM _s_customer_xref)",
    # every version of their records: the document picks the latest one, as in a full build
    "business.total": "SELECT * FROM business.total WHERE (_source, record_key) IN "
                      "(SELECT (source, record_key) FROM _s_customer_party)",
    "customer.relationship": "SELECT * FROM customer.relationship WHERE customer_a IN (SELECT customer_id FROM "
                             "_s_ids) OR customer_b IN (SELECT customer_id FROM _s_ids)",
    "customer.golden": "SELECT * FROM customer.golden WHERE customer_id IN (SELECT customer_a FROM "
                       "_s_customer_relationship UNION SELECT customer_b FROM _s_customer_relationship)",
    "customer.history": "SELECT * FROM customer.history WHERE customer_id IN (SELECT customer_id FROM _s_ids)",
}
_TABLE = re.compile(r"\b(" + "|".join(re.escape(t) for t in _CUTS) + r")\b")


@dataclass(frozen=True)
class IncrementalReport:
    generation: int
    customers: int  # served rows written
    removed: int  # served rows deleted and not written again (merged away, erased)
    redirects: int
    keys: int
    seconds: float


def _cut_name(table: str) -> str:
    return "_s_" + table.replace(".", "_")


def documents_for(db: BatchEngine, customer_ids: Sequence[str]) -> list[tuple[Any, ...]]:
    """The served rows (:data:`SERVED_COLUMNS`) of ``customer_ids``, as a full publish would write them."""
    db.execute("CREATE OR REPLACE TEMP TABLE _s_ids (customer_id VARCHAR)")
    db.execute("INSERT INTO _s_ids SELECT unnest(?::VARCHAR[])", [list(customer_ids)])
    for table, sql in _CUTS.items():  # in order: each cut may use the ones before it
        if table == "business.total":
            sql = business_cut_sql(db, "_s_customer_party") or sql
        db.execute(f"CREATE OR REPLACE TEMP TABLE {_cut_name(table)} AS {sql}")
    sql = _TABLE.sub(lambda m: _cut_name(m.group(1)), documents_sql())
    return [tuple(r) for r in db.rows(sql)]


def _chunks(items: Sequence[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), IN_CHUNK):
        yield list(items[i:i + IN_CHUNK])


def _active(ops: OpsStore) -> int | None:
    with ops.read() as con:
        row = con.execute(sa.select(served_generation.c.generation).where(served_generation.c.status == ACTIVE)
                          .order_by(served_generation.c.generation.desc()).limit(1)).first()
    return None if row is None else int(row.generation)


def _served_before(con: sa.Connection, generation: int, ids: Sequence[str]) -> dict[str, str]:
    """The rows about to be replaced, locked until commit where the engine can (SQLite has one writer)."""
    before: dict[str, str] = {}
    for chunk in _chunks(ids):
        q = (sa.select(served_customer.c.customer_id, served_customer.c.doc)
             .where(served_customer.c.generation == generation, served_customer.c.customer_id.in_(chunk))
             .with_for_update())
        before.update({str(c): str(d) for c, d in con.execute(q)})
    return before


def publish_customers(
    batch: BatchStore, ops: OpsStore, customer_ids: Iterable[str], *, run_id: str | None = None,
) -> IncrementalReport | None:
    """Replace the served rows of ``customer_ids`` in the active generation and write their change events, at once.

    Returns ``None`` when nothing is served yet (the caller publishes in full then).
    ``customer_ids`` should hold every customer whose document may have changed: the
    affected set and its neighbours (:func:`custodata.resolution.affected.served_ids`).
    ``run_id`` is the batch run that made the change, carried by its events.
    """
    from custodata.changes.diff import changes_between
    from custodata.changes.outbox import record_changes

    t0 = time.perf_counter()
    generation = _active(ops)
    if generation is None:
        return None
    ids = sorted(set(customer_ids))
    rows = documents_for(batch.engine, ids)
    written = {str(r[0]) for r in rows}
    idset = set(ids)
    wanted_redirects = [(old, new) for old, new in redirects(batch.engine) if old in idset or new in idset]
    key_ids = [customer_key_id(c) for c in ids]
    keys: list[tuple[str, str | None, bytes | None]] = []
    if batch.table_exists("meta.data_key"):  # and the batch keys (a few): a new batch brings its own
        key_ids += [str(r[0]) for r in batch.engine.rows(
            "SELECT key_id FROM meta.data_key WHERE NOT starts_with(key_id, ?)", [CUSTOMER_KEY_PREFIX])]
    if batch.table_exists("meta.data_key") and key_ids:
        for chunk in _chunks(key_ids):
            keys.extend(
                (str(k), None if w is None else str(v), None if w is None else bytes(w))
                for k, v, w in batch.engine.rows(
                    "SELECT key_id, kek_version, wrapped FROM meta.data_key WHERE list_contains(?, key_id)", [chunk]
                ))
    counts = json.dumps(domain_counts(batch), ensure_ascii=False, sort_keys=True)
    columns = ("generation", *SERVED_COLUMNS)
    with ops.begin() as con:
        dialect.wipe_freed_pages(con)  # freed pages keep no old document
        before = _served_before(con, generation, ids)
        # keys first: a document is never served before the key that opens it
        for chunk in _chunks(key_ids):
            con.execute(sa.delete(served_key).where(served_key.c.key_id.in_(chunk)))
        if keys:
            con.execute(served_key.insert(), [{"key_id": k, "kek_version": v, "wrapped": w} for k, v, w in keys])
        for chunk in _chunks(sorted({old for old, _new in wanted_redirects} - idset)):
            con.execute(sa.delete(served_redirect).where(
                served_redirect.c.generation == generation, served_redirect.c.old_id.in_(chunk)))
        removed = 0
        for chunk in _chunks(ids):
            removed += con.execute(sa.delete(served_customer).where(
                served_customer.c.generation == generation, served_customer.c.customer_id.in_(chunk))).rowcount
            con.execute(sa.delete(served_redirect).where(
                served_redirect.c.generation == generation,
                sa.or_(served_redirect.c.old_id.in_(chunk), served_redirect.c.customer_id.in_(chunk))))
        if rows:
            con.execute(served_customer.insert(), [dict(zip(columns, (generation, *r), strict=True)) for r in rows])
        if wanted_redirects:
            con.execute(served_redirect.insert(), [
                {"generation": generation, "old_id": old, "customer_id": new} for old, new in wanted_redirects])
        after = {str(r[0]): str(r[SERVED_COLUMNS.index("doc")]) for r in rows}
        record_changes(con, changes_between(
            con, ((c, before.get(c), after.get(c)) for c in sorted(set(before) | set(after))),
            generation=generation, run_id=run_id))
        total = con.execute(sa.select(sa.func.count()).select_from(served_customer)
                            .where(served_customer.c.generation == generation)).scalar_one()
        con.execute(sa.update(served_generation).where(served_generation.c.generation == generation)
                    .values(customers=int(total), counts=counts))
    dialect.settle(ops.engine)  # a replaced or erased document leaves no copy behind
    return IncrementalReport(generation, len(rows), max(removed - len(written), 0), len(wanted_redirects), len(keys),
                             time.perf_counter() - t0)
