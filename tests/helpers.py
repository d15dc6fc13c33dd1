"""Shared test helpers: a digest of the store's state to compare runs."""

from __future__ import annotations

import hashlib
from pathlib import Path

from custodata.engine.store import open_store

# table -> columns that identify state (timestamps and run ids left out: they differ by design;
# protected fields compared decrypted: every encryption draws a fresh nonce and every store its own keys)
STATE_TABLES: dict[str, str] = {
    "meta.batch": "batch_id, system, read_rows, accepted, quarantined, status",
    "meta.quarantine": "batch_id, system, row_no, record_key, reason",
    "business.total": "_source, _batch_id, _record_hash, record_key",
    "customer.party": "obs_id, name, cd_dec(id_number, obs_id || '|id_number'), "
                      "cd_dec(mobile, obs_id || '|mobile'), address",
    "customer.xref": "obs_id, customer_id",
    "customer.golden": "customer_id, name, cd_dec(id_number, customer_id || '|id_number'), "
                       "cd_dec(mobile, customer_id || '|mobile'), address, birth_date, n_records",
    "customer.relationship": "customer_a, customer_b, kind",
    "layer.customer_view": "customer_id, customer_type, segment, tags",
}


def state_digest(store: Path) -> dict[str, str]:
    opened = open_store(store, read_only=True)
    con = opened.con
    try:
        out = {}
        for table, cols in STATE_TABLES.items():
            rows = con.execute(f"SELECT {cols} FROM {table} ORDER BY ALL").fetchall()
            out[table] = f"{len(rows)}:" + hashlib.sha256(repr(rows).encode()).hexdigest()[:16]
        return out
    finally:
        con.close()
