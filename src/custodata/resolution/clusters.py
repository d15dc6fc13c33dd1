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

import duckdb

from custodata.resolution.config import ResolutionConfig
from custodata.resolution.person import PERSON_INPUT, linker_for, prior_bits

log = logging.getLogger(__name__)

PAIRS = "customer.pairs"
CLUSTER = "customer.cluster"
REVIEW = "customer.review"


def _components(con: duckdb.DuckDBPyConnection, nodes: str, edges: str, out: str) -> None:
    """Connected components over ``edges(obs_id_l, obs_id_r)``; cluster id = smallest member."""
    from splink import DuckDBAPI
    from splink.clustering import cluster_pairwise_predictions_at_threshold

    db_api = DuckDBAPI(connection=con)
    df = cluster_pairwise_predictions_at_threshold(
        nodes, edges, db_api=db_api, node_id_column_name="obs_id"
    )
    con.execute(
        f"CREATE OR REPLACE TABLE {out} AS SELECT obs_id, min(obs_id) OVER (PARTITION BY cluster_id) "
        f"AS cluster_id FROM {df.physical_name}"
    )
    df.drop_table_from_database_and_remove_from_cache()


def cluster_persons(con: duckdb.DuckDBPyConnection, model: dict[str, Any], config: ResolutionConfig) -> dict[str, int]:
    """Cluster the scored person pairs in ``customer.pairs`` into ``customer.cluster``."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _nodes AS SELECT obs_id FROM " + PERSON_INPUT
    )
    prior = prior_bits(model)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _edges AS SELECT obs_id_l, obs_id_r FROM {PAIRS} "
        f"WHERE match_weight - ({prior}) >= {float(config.link_evidence_bits)}"
    )
    _components(con, "_nodes", "_edges", "_cluster0")

    # re-score every pair inside clusters of 3+ records
    con.execute(
        f"CREATE OR REPLACE TABLE er_cluster_members AS SELECT p.*, c.cluster_id "
        f"FROM {PERSON_INPUT} p JOIN _cluster0 c USING (obs_id) "
        "WHERE c.cluster_id IN (SELECT cluster_id FROM _cluster0 GROUP BY 1 HAVING count(*) >= 3)"
    )
    checked = _count(con, "er_cluster_members")
    con.execute(
        "CREATE OR REPLACE TABLE customer.cluster_pairs (obs_id_l VARCHAR, obs_id_r VARCHAR, "
        "match_probability DOUBLE, cluster_id VARCHAR, evidence_bits DOUBLE)"
    )
    if checked:
        linker = linker_for(con, "er_cluster_members", model, blocking=["l.cluster_id = r.cluster_id"])
        df = linker.inference.predict()
        con.execute(
            "INSERT INTO customer.cluster_pairs SELECT p.obs_id_l, p.obs_id_r, p.match_probability, "
            f"m.cluster_id, p.match_weight - ({prior}) FROM {df.physical_name} p JOIN er_cluster_members m "
            "ON m.obs_id = p.obs_id_l"
        )
        df.drop_table_from_database_and_remove_from_cache()
    floor = float(config.chain_floor_bits)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _chained AS SELECT cluster_id, min(evidence_bits) AS weakest "
        f"FROM customer.cluster_pairs GROUP BY 1 HAVING min(evidence_bits) < {floor}"
    )
    chained = _count(con, "_chained")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _split_nodes AS SELECT obs_id FROM _cluster0 "
        "WHERE cluster_id IN (SELECT cluster_id FROM _chained)"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _split_edges AS SELECT obs_id_l, obs_id_r FROM customer.cluster_pairs "
        "WHERE cluster_id IN (SELECT cluster_id FROM _chained) "
        f"AND evidence_bits >= {float(config.split_evidence_bits)}"
    )
    if chained:
        _components(con, "_split_nodes", "_split_edges", "_split")
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE _split (obs_id VARCHAR, cluster_id VARCHAR)")
    con.execute(
        f"CREATE OR REPLACE TABLE {CLUSTER} AS "
        "SELECT c.obs_id, coalesce(s.cluster_id, c.cluster_id) AS cluster_id, 'individual' AS kind "
        "FROM _cluster0 c LEFT JOIN _split s USING (obs_id)"
    )
    con.execute(
        f"CREATE OR REPLACE TABLE {REVIEW} (kind VARCHAR, cluster_id VARCHAR, records BIGINT, detail VARCHAR)"
    )
    con.execute(
        f"INSERT INTO {REVIEW} SELECT 'split_chain', ch.cluster_id, count(*), "
        "'members disagreed (weakest pair: ' || round(any_value(ch.weakest), 1) || ' bits); split into ' "
        "|| count(DISTINCT s.cluster_id) || ' clusters' FROM _chained ch JOIN _split s "
        "ON s.obs_id IN (SELECT obs_id FROM _cluster0 WHERE cluster_id = ch.cluster_id) GROUP BY ch.cluster_id"
    )
    con.execute(
        f"INSERT INTO {REVIEW} SELECT 'oversize', cluster_id, count(*), 'more than "
        f"{int(config.max_cluster_records)} source records in one customer' FROM {CLUSTER} "
        f"GROUP BY cluster_id HAVING count(*) > {int(config.max_cluster_records)}"
    )
    return {"checked_records": checked, "chained_clusters": chained}


def cluster_companies(con: duckdb.DuckDBPyConnection) -> int:
    """Companies resolve on USCC, and on the registered name where the USCC is missing.

    A name without USCC joins the company whose USCC carries that name, when
    exactly one does; otherwise same-name records form their own company.
    """
    con.execute(
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
    return _count(con, f"(SELECT * FROM {CLUSTER} WHERE kind = 'corporate')")


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0
