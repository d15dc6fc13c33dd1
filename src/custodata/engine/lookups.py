"""Indexes for the point look-ups of a change served in place.

A correction, merge or create touches a few customers, yet every statement of its
derivation (their golden records, relationships, layer rows and served documents)
reads them out of tables of a million rows or more.  Without an index each read is a
scan, and in a store just opened (every job opens it afresh) a cold one: at 1M source
records the scans, not the change, were most of the seconds to visible.  DuckDB's
ART indexes turn them into look-ups, for semi-joins on a small temp table too.

The tables a full run rebuilds (``CREATE OR REPLACE``) lose their indexes; they are
made again here, idempotently, before the next change derives in place, so the first
change after a full run pays for them once (about 10 s at 1M records) and a full
run pays nothing for indexes it would throw away.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from custodata.engine.port import BatchEngine

# table -> columns looked up by customer or record
LOOKUPS: dict[str, tuple[str, ...]] = {
    "customer.golden": ("customer_id",),
    "customer.history": ("customer_id",),
    "customer.xref": ("customer_id",),
    "customer.party": ("obs_id", "record_key"),
    "customer.relationship": ("customer_a", "customer_b"),
    "layer.customer_view": ("customer_id",),
}


def _tables(db: BatchEngine) -> set[str]:
    return {f"{s}.{t}" for s, t in db.rows(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT temporary")}


def business_tables(db: BatchEngine) -> list[str]:
    """The business sub-domain tables (the total domain is a view over them)."""
    return sorted(t for t in _tables(db) if t.startswith("business."))


def ensure_lookup_indexes(db: BatchEngine) -> int:
    """Create every missing look-up index; returns how many were made."""
    present = _tables(db)
    wanted = {t: cols for t, cols in LOOKUPS.items() if t in present}
    wanted.update({t: ("record_key",) for t in business_tables(db)})
    have = {(f"{s}.{t}", str(name)) for s, t, name in db.rows(
        "SELECT schema_name, table_name, index_name FROM duckdb_indexes()")}
    made = 0
    for table, cols in sorted(wanted.items()):
        for col in cols:
            name = f"lk_{table.split('.')[1]}_{col}"
            if (table, name) not in have:
                db.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({col})")
                made += 1
    return made


def business_cut_sql(db: BatchEngine, keys: str) -> str | None:
    """Every version of the business records named in ``keys`` (columns ``source``, ``record_key``).

    The same rows as ``business.total`` filtered on those keys, read from each
    sub-domain table where its record-key index finds them: the total domain is a
    union view, and a filter over it reaches no index.  ``None`` when no sub-domain
    table exists yet.
    """
    return " UNION ALL BY NAME ".join(
        f"SELECT * FROM {t} WHERE record_key IN (SELECT record_key FROM {keys}) "
        f"AND (_source, record_key) IN (SELECT (source, record_key) FROM {keys})" for t in business_tables(db)
    ) or None


@contextmanager
def joins_as_written(db: BatchEngine) -> Iterator[None]:
    """Run the statements inside with their joins in the order the SQL writes them.

    Cut tables made in the open transaction have no statistics yet: DuckDB estimates one
    row each and may join two of them first on an inequality, a nested loop.  The
    relationships of 8,000 customers took 66 s that way (1.8 billion rows through a
    ``customer_id <> customer_id`` join) and 0.1 s with the written order, which starts
    from the records and reaches each side through its key.  Only for SQL whose
    written order is the right one; the setting is put back after.
    """
    row = db.one("SELECT current_setting('disabled_optimizers')")
    before = str(row[0]) if row and row[0] else ""
    disabled = ",".join(x for x in (before, "join_order") if x)
    db.execute(f"SET disabled_optimizers = '{disabled}'")
    try:
        yield
    finally:
        db.execute(f"SET disabled_optimizers = '{before}'")
