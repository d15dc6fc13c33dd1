"""Resolution end to end: observations -> scored pairs -> clusters -> stable ids -> golden records.

Two modes share every step after scoring.  A full run trains the model (when
there is none yet) and scores all blocked pairs; an incremental run keeps the
pairs already scored and scores only what new records add, so history is
never re-run.  Either way ids stay stable through :mod:`identity`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb

from custodata.crypto.keyring import KeyRing
from custodata.resolution import clusters, identity, person
from custodata.resolution.config import ResolutionConfig
from custodata.resolution.golden import build_golden

Progress = Callable[[str], None]


@dataclass
class ResolutionSummary:
    mode: str
    observations: int = 0
    persons_scored: int = 0
    pairs_scored: int = 0
    customers: int = 0
    new_customers: int = 0
    chained_clusters: int = 0
    oversize_clusters: int = 0
    relationships: int = 0
    trained: bool = False
    details: dict[str, int] = field(default_factory=dict)


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {sql}").fetchone()
    return int(row[0]) if row else 0


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return bool(_count(con, f"information_schema.tables WHERE table_schema = '{schema}' AND table_name = '{name}'"))


def resolve(
    con: duckdb.DuckDBPyConnection, config: ResolutionConfig, run_id: str, *, keyring: KeyRing,
    mode: str = "auto", retrain: bool = False, progress: Progress | None = None,
) -> ResolutionSummary:
    """Resolve ``customer.party`` into golden records; ``mode`` is auto, full or incremental."""
    say = progress or (lambda _msg: None)
    identity.ensure_tables(con)
    model = None if retrain else person.load_model(con)
    has_pairs = _table_exists(con, "customer", "pairs")
    if mode == "auto":
        mode = "incremental" if model is not None and has_pairs and _count(con, identity.XREF) else "full"
    summary = ResolutionSummary(mode=mode, observations=_count(con, "customer.party"))

    say("persons: preparing")
    summary.persons_scored = person.build_person_input(con, config)
    person.build_term_frequencies(con)
    if model is None:
        say("persons: training the model (no labels)")
        model = person.train(con, config)
        person.save_model(con, model)
        summary.trained = True

    if mode == "full":
        say("persons: scoring blocked pairs")
        summary.pairs_scored = person.predict(con, model, person.PERSON_INPUT, clusters.PAIRS)
    else:
        say("persons: scoring new records against existing customers")
        con.execute(
            f"CREATE OR REPLACE TABLE er_new_input AS SELECT * FROM {person.PERSON_INPUT} "
            f"WHERE obs_id NOT IN (SELECT obs_id FROM {identity.XREF})"
        )
        con.execute(
            f"CREATE OR REPLACE TABLE er_old_input AS SELECT * FROM {person.PERSON_INPUT} "
            f"WHERE obs_id IN (SELECT obs_id FROM {identity.XREF})"
        )
        if _count(con, "er_new_input"):
            summary.pairs_scored = person.predict_new(
                con, model, "er_new_input", "er_old_input", "customer._new_pairs"
            )
            con.execute(
                f"INSERT INTO {clusters.PAIRS} SELECT * FROM customer._new_pairs "
                f"WHERE (obs_id_l, obs_id_r) NOT IN (SELECT (obs_id_l, obs_id_r) FROM {clusters.PAIRS})"
            )
        # records whose content changed are scored again only through their new pairs;
        # pairs of records that left the data are dropped
        con.execute(
            f"DELETE FROM {clusters.PAIRS} WHERE obs_id_l NOT IN (SELECT obs_id FROM {person.PERSON_INPUT}) "
            f"OR obs_id_r NOT IN (SELECT obs_id FROM {person.PERSON_INPUT})"
        )
        for t in ("er_new_input", "er_old_input", "customer._new_pairs"):
            con.execute(f"DROP TABLE IF EXISTS {t}")

    say("persons: clustering with chain and size guards")
    guard = clusters.cluster_persons(con, model, config)
    summary.chained_clusters = guard["chained_clusters"]
    say("companies: USCC and registered name")
    clusters.cluster_companies(con)
    summary.oversize_clusters = _count(con, f"{clusters.REVIEW} WHERE kind = 'oversize'")

    say("customer ids")
    ids = identity.assign_ids(con, run_id)
    summary.new_customers = ids["new_customers"]
    say("golden records")
    summary.customers = build_golden(con, config, run_id, keyring=keyring)
    summary.details = {**guard, **ids}
    return summary
