"""From scored pairs to clusters, with the guards the peers leave to the user.

Connected components alone merge whole neighbourhoods through one weak link
(A~B, B~C, so A=C even if A and C plainly differ).  Here every cluster of
three or more records is re-scored on all its pairs; a cluster holding a pair
that strongly disagrees is split using only near-certain links, and very large
clusters are reported for a data steward to review.
"""

from __future__ import annotations

import logging
from typing import Any

from custodata.engine.port import BatchEngine
from custodata.resolution.config import ResolutionConfig
from custodata.resolution.person import PERSON_INPUT, drop_splink_tables, linker_for, prior_bits

log = logging.getLogger(__name__)

PAIRS = "customer.pairs"
CLUSTER = "customer.cluster"
REVIEW = "customer.review"


def _components(db: BatchEngine, nodes: str, edges: str, out: str) -> None:
    """Connected components over ``edges(obs_id_l, obs_id_r)``; cluster id = smallest member."""
    from splink.clustering import cluster_pairwise_predictions_at_threshold

    db_api = db.splink_api()
    df = cluster_pairwise_predictions_at_threshold(
        nodes, edges, db_api=db_api, node_id_column_name="obs_id"
    )
    db.execute(
        f"CREATE OR REPLACE TABLE {out} AS SELECT obs_id, min(obs_id) OVER (PARTITION BY cluster_id) "
        f"AS cluster_id FROM {df.physical_name}"
    )
    df.drop_table_from_database_and_remove_from_cache()
    drop_splink_tables(db_api)


COMPONENT = "customer.component"  # first-pass clusters of 3+ records as last chain-checked: (cluster_id, sig)
CLUSTER0 = "main._cluster0"  # the first pass: connected components over links above the threshold


def _local_components(db: BatchEngine, nodes: str, edges: str, out: str) -> None:
    """:func:`_components` for the few records a small batch touches, without the iterative SQL's overhead.

    The components of a graph do not depend on how they are found, and the id is the
    smallest member either way, so this equals Splink's answer row for row.
    """
    import numpy as np
    import pyarrow as pa
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    name = out.split(".")[-1]
    ids = [str(r[0]) for r in db.rows(f"SELECT obs_id FROM {nodes} ORDER BY obs_id")]
    if not ids:
        db.execute(f"CREATE OR REPLACE TEMP TABLE {name} (obs_id VARCHAR, cluster_id VARCHAR)")
        return
    index = {obs: i for i, obs in enumerate(ids)}
    pairs = [(index[str(a)], index[str(b)]) for a, b in db.rows(
        f"SELECT obs_id_l, obs_id_r FROM {edges}") if str(a) in index and str(b) in index]
    rows = np.array([a for a, _ in pairs], dtype=np.int64)
    cols = np.array([b for _, b in pairs], dtype=np.int64)
    graph = coo_matrix((np.ones(len(pairs)), (rows, cols)), shape=(len(ids), len(ids)))
    _, labels = connected_components(graph, directed=False)
    smallest: dict[int, str] = {}
    for obs, label in zip(ids, labels, strict=True):  # ids are sorted: the first seen is the smallest
        smallest.setdefault(int(label), obs)
    db.put_arrow("_found_components", pa.table({"obs_id": ids, "cluster_id": [smallest[int(x)] for x in labels]}))
    try:
        db.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT obs_id, cluster_id FROM _found_components")
    finally:
        db.drop_arrow("_found_components")


def _exists(db: BatchEngine, table: str) -> bool:
    schema, name = table.split(".")
    row = db.one("SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
                      [schema, name])
    return bool(row and row[0])


def cluster_persons(db: BatchEngine, model: dict[str, Any], config: ResolutionConfig, *,
                    touched: str | None = None, keep_scores: bool = True) -> dict[str, int]:
    """Cluster the scored person pairs in ``customer.pairs`` into ``customer.cluster``.

    ``touched`` (a query of obs_id): only the first-pass clusters of these records are
    formed again (a small batch, an erasure); every other cluster's links are as they
    were, so it is as it was.  A cluster's pairs are re-scored for the chain guard only
    when its members or their content changed since it was last checked (its ``sig``),
    in both ways, so a full pass and a local one give the same clusters; with
    ``keep_scores=False`` (pairs scored afresh) every cluster is checked again.
    """
    from custodata.resolution.person import content_hash

    prior = prior_bits(model)
    link = float(config.link_evidence_bits)
    local = touched is not None and all(_exists(db, t) for t in (CLUSTER0, COMPONENT, CLUSTER, REVIEW,
                                                                   "customer.cluster_pairs"))
    if local:
        db.execute(
            f"CREATE OR REPLACE TEMP TABLE _scope AS SELECT obs_id FROM ({touched}) t(obs_id) UNION "
            f"SELECT obs_id FROM {CLUSTER0} WHERE cluster_id IN "
            f"(SELECT cluster_id FROM {CLUSTER0} WHERE obs_id IN (SELECT obs_id FROM ({touched}) t(obs_id)))"
        )
        db.execute(f"CREATE OR REPLACE TEMP TABLE _nodes AS SELECT obs_id FROM {PERSON_INPUT} "
                    "WHERE obs_id IN (SELECT obs_id FROM _scope)")
        db.execute(
            f"CREATE OR REPLACE TEMP TABLE _edges AS SELECT obs_id_l, obs_id_r FROM {PAIRS} "
            "WHERE obs_id_l IN (SELECT obs_id FROM _nodes) AND obs_id_r IN (SELECT obs_id FROM _nodes) "
            f"AND match_weight - ({prior}) >= {link}"
        )
        _local_components(db, "_nodes", "_edges", "_cluster0_part")
        db.execute(f"CREATE OR REPLACE TEMP TABLE _old_ids AS SELECT DISTINCT cluster_id FROM {CLUSTER0} "
                    "WHERE obs_id IN (SELECT obs_id FROM _scope)")
        db.execute(f"DELETE FROM {CLUSTER0} WHERE obs_id IN (SELECT obs_id FROM _scope)")
        db.execute(f"INSERT INTO {CLUSTER0} SELECT obs_id, cluster_id FROM _cluster0_part")
        part = "_cluster0_part"
    else:
        db.execute("CREATE OR REPLACE TEMP TABLE _nodes AS SELECT obs_id FROM " + PERSON_INPUT)
        db.execute(
            f"CREATE OR REPLACE TEMP TABLE _edges AS SELECT obs_id_l, obs_id_r FROM {PAIRS} "
            f"WHERE match_weight - ({prior}) >= {link}"
        )
        _components(db, "_nodes", "_edges", CLUSTER0)
        part = CLUSTER0

    # the chain guard: every pair inside clusters of 3+ records, scored when the cluster last changed
    db.execute(
        f"CREATE OR REPLACE TEMP TABLE _sig AS SELECT c.cluster_id, count(*) AS records, "
        f"md5(string_agg(c.obs_id || '=' || {content_hash('p')}, ',' ORDER BY c.obs_id)) AS sig "
        f"FROM {part} c JOIN {PERSON_INPUT} p USING (obs_id) GROUP BY c.cluster_id HAVING count(*) >= 3"
    )
    db.execute(f"CREATE TABLE IF NOT EXISTS {COMPONENT} (cluster_id VARCHAR, sig VARCHAR)")
    db.execute("CREATE TABLE IF NOT EXISTS customer.cluster_pairs (obs_id_l VARCHAR, obs_id_r VARCHAR, "
                "match_probability DOUBLE, cluster_id VARCHAR, evidence_bits DOUBLE)")
    kept = (f"SELECT cluster_id FROM _sig WHERE (cluster_id, sig) IN (SELECT (cluster_id, sig) FROM {COMPONENT})"
            if keep_scores else "SELECT NULL::VARCHAR WHERE false")
    db.execute(f"CREATE OR REPLACE TEMP TABLE _kept AS {kept}")
    mine = "(SELECT cluster_id FROM _old_ids UNION SELECT cluster_id FROM _sig)" if local else None
    db.execute("DELETE FROM customer.cluster_pairs WHERE cluster_id NOT IN (SELECT cluster_id FROM _kept)"
                + (f" AND cluster_id IN {mine}" if mine else ""))
    db.execute(
        f"CREATE OR REPLACE TABLE er_cluster_members AS SELECT p.*, c.cluster_id "
        f"FROM {PERSON_INPUT} p JOIN {part} c USING (obs_id) "
        "WHERE c.cluster_id IN (SELECT cluster_id FROM _sig) AND c.cluster_id NOT IN (SELECT cluster_id FROM _kept)"
    )
    checked = _count(db, "er_cluster_members")
    if checked:
        linker = linker_for(db, "er_cluster_members", model, blocking=["l.cluster_id = r.cluster_id"])
        df = linker.inference.predict()
        db.execute(
            "INSERT INTO customer.cluster_pairs SELECT p.obs_id_l, p.obs_id_r, p.match_probability, "
            f"m.cluster_id, p.match_weight - ({prior}) FROM {df.physical_name} p JOIN er_cluster_members m "
            "ON m.obs_id = p.obs_id_l"
        )
        df.drop_table_from_database_and_remove_from_cache()
        drop_splink_tables(linker._db_api)
    if local:
        db.execute(f"DELETE FROM {COMPONENT} WHERE cluster_id IN {mine}")
        db.execute(f"INSERT INTO {COMPONENT} SELECT cluster_id, sig FROM _sig")
    else:
        db.execute(f"CREATE OR REPLACE TABLE {COMPONENT} AS SELECT cluster_id, sig FROM _sig")
    floor = float(config.chain_floor_bits)
    db.execute(
        "CREATE OR REPLACE TEMP TABLE _chained AS SELECT cluster_id, min(evidence_bits) AS weakest "
        "FROM customer.cluster_pairs WHERE cluster_id IN (SELECT cluster_id FROM _sig) "
        f"GROUP BY 1 HAVING min(evidence_bits) < {floor}"
    )
    chained = _count(db, "_chained")
    db.execute(
        f"CREATE OR REPLACE TEMP TABLE _split_nodes AS SELECT obs_id FROM {part} "
        "WHERE cluster_id IN (SELECT cluster_id FROM _chained)"
    )
    db.execute(
        "CREATE OR REPLACE TEMP TABLE _split_edges AS SELECT obs_id_l, obs_id_r FROM customer.cluster_pairs "
        "WHERE cluster_id IN (SELECT cluster_id FROM _chained) "
        f"AND evidence_bits >= {float(config.split_evidence_bits)}"
    )
    if chained and local:
        _local_components(db, "_split_nodes", "_split_edges", "_split")
    elif chained:
        _components(db, "_split_nodes", "_split_edges", "_split")
    else:
        db.execute("CREATE OR REPLACE TEMP TABLE _split (obs_id VARCHAR, cluster_id VARCHAR)")
    persons = (f"SELECT c.obs_id, coalesce(s.cluster_id, c.cluster_id) AS cluster_id, 'individual' AS kind "
               f"FROM {part} c LEFT JOIN _split s USING (obs_id)")
    # the customers whose size is checked: locally, the clusters the scope's records left or joined (no
    # other cluster gained or lost a record, so its oversize row, or none, stands); else every one
    sized = ""
    if local:
        db.execute(f"CREATE OR REPLACE TEMP TABLE _sized AS SELECT DISTINCT cluster_id FROM {CLUSTER} "
                   "WHERE kind = 'individual' AND obs_id IN (SELECT obs_id FROM _scope)")
        db.execute(f"DELETE FROM {CLUSTER} WHERE kind = 'individual' AND obs_id IN (SELECT obs_id FROM _scope)")
        db.execute(f"INSERT INTO {CLUSTER} {persons}")
        db.execute(f"INSERT INTO _sized SELECT DISTINCT cluster_id FROM {CLUSTER} "
                   "WHERE kind = 'individual' AND obs_id IN (SELECT obs_id FROM _scope)")
        db.execute(f"DELETE FROM {REVIEW} WHERE (kind = 'oversize' AND cluster_id IN (SELECT cluster_id FROM _sized)) "
                    f"OR (kind = 'split_chain' AND cluster_id IN {mine})")
        sized = "AND cluster_id IN (SELECT cluster_id FROM _sized) "
    else:
        db.execute(f"CREATE OR REPLACE TABLE {CLUSTER} AS {persons}")
        db.execute(
            f"CREATE OR REPLACE TABLE {REVIEW} (kind VARCHAR, cluster_id VARCHAR, records BIGINT, detail VARCHAR)"
        )
    db.execute(
        f"INSERT INTO {REVIEW} SELECT 'split_chain', ch.cluster_id, count(*), "
        "'members disagreed (weakest pair: ' || round(any_value(ch.weakest), 1) || ' bits); split into ' "
        f"|| count(DISTINCT s.cluster_id) || ' clusters' FROM _chained ch JOIN _split s "
        f"ON s.obs_id IN (SELECT obs_id FROM {part} WHERE cluster_id = ch.cluster_id) GROUP BY ch.cluster_id"
    )
    db.execute(
        f"INSERT INTO {REVIEW} SELECT 'oversize', cluster_id, count(*), 'more than "
        f"{int(config.max_cluster_records)} source records in one customer' FROM {CLUSTER} "
        f"WHERE kind = 'individual' {sized}GROUP BY cluster_id HAVING count(*) > {int(config.max_cluster_records)}"
    )
    return {"checked_records": checked, "chained_clusters": chained, "local": int(local)}


def cluster_companies(db: BatchEngine) -> int:
    """Companies resolve on USCC, and on the registered name where the USCC is missing.

    A name without USCC joins the company whose USCC carries that name, when
    exactly one does; otherwise same-name records form their own company.
    """
    db.execute(f"DELETE FROM {CLUSTER} WHERE kind = 'corporate'")
    db.execute(
        f"""
        INSERT INTO {CLUSTER}
        WITH corp AS (SELECT obs_id, uscc, company_key FROM customer.party WHERE kind = 'corporate'),
        key_to_uscc AS (
            SELECT company_key, min(uscc) AS uscc FROM corp
            WHERE uscc IS NOT NULL AND company_key IS NOT NULL
            GROUP BY company_key HAVING count(DISTINCT uscc) = 1
        )
        SELECT c.obs_id,
               CASE WHEN c.uscc IS NOT NULL THEN 'U:' || c.uscc
                    WHEN k.uscc IS NOT NULL THEN 'U:' || k.uscc
                    WHEN c.company_key IS NOT NULL THEN 'K:' || c.company_key
                    ELSE 'O:' || c.obs_id END AS cluster_id,
               'corporate' AS kind
        FROM corp c LEFT JOIN key_to_uscc k USING (company_key)
        """
    )
    return _count(db, f"(SELECT * FROM {CLUSTER} WHERE kind = 'corporate')")


def _count(db: BatchEngine, table: str) -> int:
    row = db.one(f"SELECT count(*) FROM {table}")
    return int(row[0]) if row else 0
