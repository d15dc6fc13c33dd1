"""Stable customer ids and the cross-reference source record -> customer id.

A customer id, once given, sticks: a new clustering keeps, for each cluster,
the id most of its records already had.  When clusters merge, the losing id
is redirected to the survivor (never reused); when one splits, the larger
part keeps the id.  A data steward's decisions (merge, unmerge, pins) win over
the resolver on every later run.
"""

from __future__ import annotations

from custodata.engine.port import BatchEngine

XREF = "customer.xref"
PIN = "customer.pin"
REDIRECT = "customer.id_redirect"
COUNTER = "meta.counter"
# observations whose ids a change outside resolution moved (a steward's merge or unmerge, an
# erasure): the next local resolution takes their clusters in too, as a full one would
DIRTY = "customer.resolve_dirty"
XREF_BEFORE = "_xref_before"  # a local assignment's records and their ids before it (temp)

DDL = f"""
CREATE TABLE IF NOT EXISTS {XREF} (
    obs_id VARCHAR PRIMARY KEY, customer_id VARCHAR NOT NULL, kind VARCHAR NOT NULL,
    source VARCHAR, record_key VARCHAR, role VARCHAR, batch_id VARCHAR,
    first_batch_id VARCHAR, assigned_run VARCHAR
);
CREATE TABLE IF NOT EXISTS {PIN} (
    obs_id VARCHAR PRIMARY KEY, customer_id VARCHAR NOT NULL, cause VARCHAR, pinned_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS {REDIRECT} (
    old_id VARCHAR PRIMARY KEY, new_id VARCHAR NOT NULL, cause VARCHAR, run_id VARCHAR
);
CREATE TABLE IF NOT EXISTS {COUNTER} (name VARCHAR PRIMARY KEY, value BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS {DIRTY} (obs_id VARCHAR PRIMARY KEY);
"""


def mark_for_resolution(db: BatchEngine, sql: str) -> None:
    """Have the next local resolution look at the observations ``sql`` yields (one column) again."""
    ensure_tables(db)
    db.execute(f"INSERT OR IGNORE INTO {DIRTY} SELECT DISTINCT o FROM ({sql}) q(o) WHERE o IS NOT NULL")


def _closure(db: BatchEngine, only: str) -> None:
    """``_m``: ``only``, with every record of their clusters and of their current customers, until it holds.

    An id follows the cluster holding most of its records and a cluster keeps the id
    most of its records had, so both are decided only with all of them in view.
    """
    db.execute("CREATE OR REPLACE TEMP TABLE _m (obs_id VARCHAR PRIMARY KEY)")
    db.execute(f"INSERT OR IGNORE INTO _m SELECT DISTINCT o FROM ({only}) q(o) WHERE o IS NOT NULL")
    size = -1
    while True:
        row = db.one("SELECT count(*) FROM _m")
        if row is None or int(row[0]) == size:
            return
        size = int(row[0])
        db.execute("INSERT OR IGNORE INTO _m SELECT obs_id FROM customer.cluster WHERE cluster_id IN "
                    "(SELECT c.cluster_id FROM customer.cluster c JOIN _m USING (obs_id))")
        db.execute(f"INSERT OR IGNORE INTO _m SELECT obs_id FROM {XREF} WHERE customer_id IN "
                    f"(SELECT x.customer_id FROM {XREF} x JOIN _m USING (obs_id))")


def ensure_tables(db: BatchEngine) -> None:
    db.execute(DDL)


def format_id(n: int) -> str:
    return f"C{n:09d}"


def next_ids(db: BatchEngine, count: int) -> int:
    """Reserve ``count`` new ids; returns the first number."""
    row = db.one(f"SELECT value FROM {COUNTER} WHERE name = 'customer'")
    start = (int(row[0]) if row else 0) + 1
    db.execute(f"DELETE FROM {COUNTER} WHERE name = 'customer'")
    db.execute(f"INSERT INTO {COUNTER} VALUES ('customer', ?)", [start + count - 1])
    return start


def assign_ids(db: BatchEngine, run_id: str, *, only: str | None = None) -> dict[str, int]:
    """Turn ``customer.cluster`` into the new ``customer.xref``, keeping ids stable.

    ``only`` (a query of obs_id): the records whose cluster, record or id changed; their
    clusters and customers are decided again and every other record keeps its row,
    which is what a pass over all would give them.
    """
    ensure_tables(db)
    clusters = "customer.cluster"
    if only is not None:
        _closure(db, only)
        db.execute(f"CREATE OR REPLACE TEMP TABLE {XREF_BEFORE} AS SELECT obs_id, customer_id FROM {XREF} "
                    "WHERE obs_id IN (SELECT obs_id FROM _m)")
        clusters = "(SELECT * FROM customer.cluster WHERE obs_id IN (SELECT obs_id FROM _m))"
    # locally the records are those of _m: their observations and xref rows only, not a join of all
    parties, xref = "customer.party", XREF
    if only is not None:
        parties = "(SELECT * FROM customer.party WHERE obs_id IN (SELECT obs_id FROM _m))"
        xref = f"(SELECT * FROM {XREF} WHERE obs_id IN (SELECT obs_id FROM _m))"
    db.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _votes AS
        SELECT c.cluster_id, x.customer_id, count(*) AS n, min(c.obs_id) AS first_obs
        FROM {clusters} c JOIN {xref} x USING (obs_id)
        GROUP BY 1, 2
        """
    )
    # each old id goes to the cluster holding most of its records; each cluster keeps
    # the old id most of its records had
    db.execute(
        """
        CREATE OR REPLACE TEMP TABLE _keep AS
        WITH best_cluster AS (
            SELECT * FROM _votes
            QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY n DESC, first_obs) = 1
        )
        SELECT cluster_id, customer_id FROM best_cluster
        QUALIFY row_number() OVER (PARTITION BY cluster_id ORDER BY n DESC, customer_id) = 1
        """
    )
    db.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _fresh AS
        SELECT cluster_id, row_number() OVER (ORDER BY min(obs_id)) - 1 AS k
        FROM {clusters} c WHERE cluster_id NOT IN (SELECT cluster_id FROM _keep)
        GROUP BY cluster_id
        """
    )
    row = db.one("SELECT count(*) FROM _fresh")
    fresh = int(row[0]) if row else 0
    start = next_ids(db, fresh) if fresh else 0
    db.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _cluster_id AS
        SELECT cluster_id, customer_id FROM _keep
        UNION ALL
        SELECT cluster_id, 'C' || lpad(CAST({start} + k AS VARCHAR), 9, '0') FROM _fresh
        """
    )
    # old ids no cluster kept: redirect to where most of their records went
    db.execute(
        f"""
        INSERT OR REPLACE INTO {REDIRECT}
        SELECT v.customer_id, ci.customer_id, 'merged by resolution', ?
        FROM _votes v JOIN _cluster_id ci USING (cluster_id)
        WHERE v.customer_id NOT IN (SELECT customer_id FROM _keep)
        QUALIFY row_number() OVER (PARTITION BY v.customer_id ORDER BY v.n DESC, ci.customer_id) = 1
        """,
        [run_id],
    )
    # an id a cluster holds is no redirect (the clusters left alone hold their records' ids)
    # (only the ids that are redirects are looked for among the xref: a few, not every customer's)
    others = ("" if only is None else
              f"OR old_id IN (SELECT customer_id FROM {XREF} WHERE customer_id IN (SELECT old_id FROM {REDIRECT}) "
              "AND obs_id NOT IN (SELECT obs_id FROM _m) AND obs_id IN (SELECT obs_id FROM customer.cluster "
              f"WHERE obs_id IN (SELECT obs_id FROM {XREF} WHERE customer_id IN (SELECT old_id FROM {REDIRECT}))))")
    db.execute(
        f"DELETE FROM {REDIRECT} WHERE old_id IN (SELECT customer_id FROM _cluster_id) "
        f"OR old_id IN (SELECT customer_id FROM {PIN}) {others}"
    )
    db.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _new_xref AS
        SELECT c.obs_id, coalesce(p.customer_id, ci.customer_id) AS customer_id, c.kind,
               o.source, o.record_key, o.role, o.batch_id,
               coalesce(x.first_batch_id, o.batch_id) AS first_batch_id,
               CASE WHEN x.customer_id IS NOT DISTINCT FROM coalesce(p.customer_id, ci.customer_id)
                    THEN x.assigned_run ELSE ? END AS assigned_run
        FROM {clusters} c
        JOIN _cluster_id ci USING (cluster_id)
        JOIN {parties} o USING (obs_id)
        LEFT JOIN {PIN} p USING (obs_id)
        LEFT JOIN {xref} x USING (obs_id)
        """,
        [run_id],
    )
    # records that left the data (never expected) keep their last assignment: lineage is never lost
    mine = "" if only is None else "obs_id IN (SELECT obs_id FROM _m) AND "
    db.execute(
        f"INSERT INTO _new_xref SELECT * FROM {XREF} WHERE {mine}obs_id NOT IN (SELECT obs_id FROM _new_xref)"
    )
    db.execute(f"DELETE FROM {XREF}" + ("" if only is None else " WHERE obs_id IN (SELECT obs_id FROM _m)"))
    db.execute(f"INSERT INTO {XREF} SELECT * FROM _new_xref ORDER BY obs_id")
    db.execute(f"DELETE FROM {DIRTY}")
    kept = db.one("SELECT count(*) FROM _keep")
    return {"new_customers": fresh, "kept_ids": int(kept[0]) if kept else 0}


def resolve_id(db: BatchEngine, customer_id: str) -> str:
    """Follow redirects so an old (merged) id still finds its customer."""
    if not db.exists(REDIRECT):
        return customer_id
    seen = {customer_id}
    current = customer_id
    while True:
        row = db.one(f"SELECT new_id FROM {REDIRECT} WHERE old_id = ?", [current])
        if row is None or row[0] in seen:
            return current
        current = str(row[0])
        seen.add(current)
