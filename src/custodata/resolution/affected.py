"""The affected set: which customers a change touches, so derivation redoes only them.

A steward's correction, merge, unmerge or erasure, or a new batch, changes the
members or the corrections of a few customers.  Their golden records, history and
layer rows are rebuilt (:data:`AFFECTED`); their relationships are rebuilt with the
households they shared or now share; and the served documents of everyone whose
view shows them (relationship neighbours, the other parties of a record an
erasure blanks) are republished (:data:`SERVED`).

Everything lives in temp tables of the batch-store connection, so the restricted
SQL of each stage is the full SQL with ``customer_id IN (SELECT customer_id FROM
_affected)``: the same statements, fewer rows, and a full rebuild gives the same
state (``tests/test_incremental_derivation.py``).

Use: :func:`start` with the ids known before the change (its old household keys
and neighbours are taken then, before the change deletes them), the change,
:func:`add` with the ids it made (an unmerge's split-off customers), then the
stages with ``only=AFFECTED``.
"""

from __future__ import annotations

from collections.abc import Iterable

from custodata.engine.port import BatchEngine

AFFECTED = "_affected"  # customers whose golden record, history and layer row are rebuilt
SERVED = "_served_extra"  # customers whose served document must be rebuilt besides (neighbours)
HOUSEHOLD_KEYS = "_household_keys_prev"  # (address, line) the affected customers had before the change
RELATIONSHIPS_BEFORE = "_relationships_before"  # relationship rows touching them before the change


def _exists(db: BatchEngine, schema: str, name: str) -> bool:
    return db.exists(f"{schema}.{name}")


def start(db: BatchEngine, ids: Iterable[str], *, record_mates: bool = False) -> None:
    """Open the affected set with ``ids``, and remember what they looked like before the change.

    ``record_mates``: the other customers of every business record of ``ids`` are served
    again too (an erasure blanks a record's protected fields, which they show).
    """
    db.execute(f"CREATE OR REPLACE TEMP TABLE {AFFECTED} (customer_id VARCHAR PRIMARY KEY)")
    db.execute(f"CREATE OR REPLACE TEMP TABLE {SERVED} (customer_id VARCHAR PRIMARY KEY)")
    add(db, ids)
    db.execute(f"CREATE OR REPLACE TEMP TABLE {HOUSEHOLD_KEYS} (address VARCHAR, line VARCHAR)")
    if _exists(db, "customer", "golden"):
        from custodata.resolution.relationships import HOUSEHOLD_KEY

        db.execute(
            f"INSERT INTO {HOUSEHOLD_KEYS} SELECT DISTINCT address, line FROM ({HOUSEHOLD_KEY}) "
            f"WHERE customer_id IN (SELECT customer_id FROM {AFFECTED})"
        )
    db.execute(f"CREATE OR REPLACE TEMP TABLE {RELATIONSHIPS_BEFORE} (customer_a VARCHAR, customer_b VARCHAR)")
    if _exists(db, "customer", "relationship"):
        db.execute(
            f"INSERT INTO {RELATIONSHIPS_BEFORE} SELECT customer_a, customer_b FROM customer.relationship "
            f"WHERE customer_a IN (SELECT customer_id FROM {AFFECTED}) "
            f"OR customer_b IN (SELECT customer_id FROM {AFFECTED})"
        )
    serve(db, f"SELECT customer_a FROM {RELATIONSHIPS_BEFORE} UNION SELECT customer_b FROM {RELATIONSHIPS_BEFORE}")
    if record_mates:
        serve(db, f"""
            SELECT DISTINCT x2.customer_id
            FROM customer.xref x JOIN customer.party p USING (obs_id)
            JOIN customer.party p2 ON p2.source = p.source AND p2.record_key = p.record_key
            JOIN customer.xref x2 ON x2.obs_id = p2.obs_id
            WHERE x.customer_id IN (SELECT customer_id FROM {AFFECTED})
        """)


def add(db: BatchEngine, ids: Iterable[str]) -> None:
    """Add customers to the affected set (an id already in it is kept once)."""
    rows = [str(i) for i in dict.fromkeys(ids)]
    if rows:  # one statement with a list, not a statement per id (executemany: 2.7 s for 8,000 ids)
        db.execute(f"INSERT OR IGNORE INTO {AFFECTED} SELECT unnest(?::VARCHAR[])", [rows])


def add_sql(db: BatchEngine, sql: str) -> None:
    """Add the customer ids a query yields (one column) to the affected set."""
    db.execute(f"INSERT OR IGNORE INTO {AFFECTED} SELECT DISTINCT c FROM ({sql}) q(c) WHERE c IS NOT NULL")


def serve(db: BatchEngine, sql: str) -> None:
    """Serve the customers a query yields (one column) again, without rebuilding their golden record."""
    db.execute(f"INSERT OR IGNORE INTO {SERVED} SELECT DISTINCT c FROM ({sql}) q(c) WHERE c IS NOT NULL")


def served_ids(db: BatchEngine) -> list[str]:
    """Every customer whose served document must be rebuilt: the affected set and the extra ones."""
    return [str(r[0]) for r in db.rows(
        f"SELECT customer_id FROM {AFFECTED} UNION SELECT customer_id FROM {SERVED} ORDER BY 1")]


def affected_ids(db: BatchEngine) -> list[str]:
    return [str(r[0]) for r in db.rows(f"SELECT customer_id FROM {AFFECTED} ORDER BY 1")]


# ---- a new or re-run batch ----------------------------------------------------------------------

INPUTS_BEFORE = "_inputs_before"  # each observation's customer and content before the batch
RECORDS_BEFORE = "_records_before"  # every business record version before the batch
_INPUTS = ("SELECT x.obs_id, x.customer_id, md5(CAST(p AS VARCHAR)) AS h "
           "FROM customer.xref x LEFT JOIN customer.party p USING (obs_id)")
_RECORDS = "SELECT DISTINCT _source, record_key, _batch_id, _record_hash FROM business.total"


def snapshot_inputs(db: BatchEngine) -> bool:
    """Before a batch is resolved: remember its inputs; ``False`` when there is nothing derived to update."""
    if not ready(db):
        return False
    db.execute(f"CREATE OR REPLACE TEMP TABLE {INPUTS_BEFORE} AS {_INPUTS}")
    db.execute(f"CREATE OR REPLACE TEMP TABLE {RECORDS_BEFORE} AS {_RECORDS}")
    return True


def ready(db: BatchEngine) -> bool:
    """Whether there is a derived state a batch can update (else everything is derived)."""
    return all(_exists(db, s, t) for s, t in (("customer", "xref"), ("customer", "party"), ("customer", "golden"),
                                              ("customer", "relationship"), ("layer", "customer_view")))


def changed_locally(db: BatchEngine) -> list[str]:
    """:func:`changed_by_batch` after a local resolution, from what it looked at instead of everything.

    Only the records a local assignment took in (``_m``) can have moved, and only the
    refreshed observations (their records had a new version) can have changed content:
    the customers they belonged to and belong to now.
    """
    from custodata.domains.customer import DIRTY_OBS
    from custodata.resolution.identity import XREF, XREF_BEFORE

    rows = db.rows(
        f"""
        WITH now AS (SELECT obs_id, customer_id FROM {XREF} WHERE obs_id IN (SELECT obs_id FROM _m)),
        moved AS (
            SELECT b.customer_id AS old_id, n.customer_id AS new_id, obs_id
            FROM {XREF_BEFORE} b FULL OUTER JOIN now n USING (obs_id)
            WHERE b.customer_id IS DISTINCT FROM n.customer_id OR obs_id IN (SELECT obs_id FROM {DIRTY_OBS})
        )
        SELECT old_id FROM moved WHERE old_id IS NOT NULL UNION SELECT new_id FROM moved WHERE new_id IS NOT NULL
        """
    )
    return sorted(str(r[0]) for r in rows)


def changed_by_batch(db: BatchEngine) -> list[str]:
    """After the batch is resolved (ids assigned, golden records not yet rebuilt): the customers it touched.

    A customer is touched when one of its observations came, went, moved to another
    customer or changed content, or when a business record of it has a new version.
    """
    rows = db.rows(
        f"""
        WITH now AS ({_INPUTS}),
        moved AS (
            SELECT b.customer_id AS old_id, n.customer_id AS new_id
            FROM {INPUTS_BEFORE} b FULL OUTER JOIN now n USING (obs_id)
            WHERE b.customer_id IS DISTINCT FROM n.customer_id OR b.h IS DISTINCT FROM n.h
        ),
        records AS ((SELECT * FROM ({_RECORDS}) EXCEPT SELECT * FROM {RECORDS_BEFORE})
                    UNION ALL (SELECT * FROM {RECORDS_BEFORE} EXCEPT SELECT * FROM ({_RECORDS})))
        SELECT old_id FROM moved WHERE old_id IS NOT NULL
        UNION SELECT new_id FROM moved WHERE new_id IS NOT NULL
        UNION SELECT x.customer_id FROM customer.xref x JOIN customer.party p USING (obs_id)
              JOIN records r ON r._source = p.source AND r.record_key = p.record_key
        """
    )
    return sorted(str(r[0]) for r in rows)
