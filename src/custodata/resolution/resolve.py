"""Resolution end to end: observations -> scored pairs -> clusters -> stable ids -> golden records.

Two modes share every step after scoring.  A full run trains the model (when
there is none yet) and scores all blocked pairs; an incremental run keeps the
pairs already scored and scores only what new records add, so history is
never re-run.  Either way ids stay stable through :mod:`identity`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from custodata.crypto.keyring import KeyRing
from custodata.engine.port import BatchEngine
from custodata.resolution import clusters, identity, person
from custodata.resolution.config import ResolutionConfig
from custodata.resolution.golden import build_golden
from custodata.resolution.person import content_hash

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


_CONTENT = content_hash()


def _count(db: BatchEngine, sql: str) -> int:
    row = db.one(f"SELECT count(*) FROM {sql}")
    return int(row[0]) if row else 0


def _table_exists(db: BatchEngine, schema: str, name: str) -> bool:
    return db.exists(f"{schema}.{name}")


def local_ready(db: BatchEngine) -> bool:
    """Whether a batch can be resolved locally: a model, scored pairs and every table of the last pass."""
    return person.load_model(db) is not None and all(_table_exists(db, *t.split(".")) for t in (
        f"main.{person.PERSON_INPUT}", clusters.PAIRS, clusters.CLUSTER0, clusters.COMPONENT, clusters.CLUSTER,
        clusters.REVIEW, "customer.cluster_pairs", identity.XREF))


def resolve(
    db: BatchEngine, config: ResolutionConfig, run_id: str, *, keyring: KeyRing,
    mode: str = "auto", retrain: bool = False, progress: Progress | None = None, golden: bool = True,
    local: bool = False,
) -> ResolutionSummary:
    """Resolve ``customer.party`` into golden records; ``mode`` is auto, full or incremental.

    ``mode`` is how pairs are scored (the Splink model); ``golden=False`` stops at the
    customer ids, for a caller that derives golden records of the affected customers only.
    ``local``: the observations were refreshed for a few records only
    (:func:`custodata.domains.customer.refresh_parties`); with incremental scoring,
    person rows, clusters and ids are then derived again only around them (and the
    records a steward or an erasure moved since), which ends where a pass over all
    would: see :attr:`ResolutionSummary.mode` (``local`` when it was taken).
    """
    from custodata.domains.customer import DIRTY_OBS

    say = progress or (lambda _msg: None)
    identity.ensure_tables(db)
    model = None if retrain else person.load_model(db)
    has_pairs = _table_exists(db, "customer", "pairs")
    if mode == "auto":
        mode = "incremental" if model is not None and has_pairs and _count(db, identity.XREF) else "full"
    summary = ResolutionSummary(mode=mode, observations=_count(db, "customer.party"))

    say("persons: preparing")
    # what each person record looked like when last scored, to find the ones whose content changed
    had_input = mode == "incremental" and _table_exists(db, "main", person.PERSON_INPUT)
    local = local and had_input and model is not None
    if local:
        seeds = f"SELECT obs_id FROM {DIRTY_OBS} UNION SELECT obs_id FROM {identity.DIRTY}"
        summary.mode = "local"
        summary.persons_scored = person.update_person_input(db, config, seeds)
        redone = f"(SELECT obs_id FROM {person.REDONE})"
    else:
        if had_input:
            db.execute(f"CREATE OR REPLACE TEMP TABLE _scored_before AS SELECT obs_id, {_CONTENT} AS h "
                        f"FROM {person.PERSON_INPUT}")
        summary.persons_scored = person.build_person_input(db, config)
        redone = None
    person.build_term_frequencies(db)
    if model is None:
        say("persons: training the model (no labels)")
        model = person.train(db, config)
        person.save_model(db, model)
        summary.trained = True

    db.execute("CREATE OR REPLACE TEMP TABLE _new_pair_obs (obs_id VARCHAR)")
    if mode == "full":
        say("persons: scoring blocked pairs")
        summary.pairs_scored = person.predict(db, model, person.PERSON_INPUT, clusters.PAIRS)
    else:
        say("persons: scoring new and changed records against existing customers")
        # a record whose content changed since it was scored is scored again, as if new:
        # its old pairs go, and it is compared with every existing customer
        db.execute("CREATE OR REPLACE TEMP TABLE _changed (obs_id VARCHAR)")
        if had_input:
            db.execute(
                f"INSERT INTO _changed SELECT p.obs_id FROM {person.PERSON_INPUT} p JOIN _scored_before b "
                f"USING (obs_id) WHERE {content_hash('p')} <> b.h"
            )
        summary.details["changed_records"] = _count(db, "_changed")
        if summary.details["changed_records"]:  # a create changes no record: no pass over every pair
            db.execute(
                f"DELETE FROM {clusters.PAIRS} WHERE obs_id_l IN (SELECT obs_id FROM _changed) "
                "OR obs_id_r IN (SELECT obs_id FROM _changed)"
            )
        within = f"obs_id IN {redone} AND " if redone else ""
        # locally, the records looked up in the xref are the redone ones only (the same answer, no scan)
        known = f"SELECT obs_id FROM {identity.XREF}" + (f" WHERE obs_id IN {redone}" if redone else "")
        db.execute(
            f"CREATE OR REPLACE TABLE er_new_input AS SELECT * FROM {person.PERSON_INPUT} WHERE {within}"
            f"(obs_id NOT IN ({known}) OR obs_id IN (SELECT obs_id FROM _changed))"
        )
        # everyone else, as they are: a view, so a batch of a few records copies nothing
        db.execute(
            f"CREATE OR REPLACE TEMP VIEW er_old_input AS SELECT * FROM {person.PERSON_INPUT} "
            "WHERE obs_id NOT IN (SELECT obs_id FROM er_new_input)"
        )
        if _count(db, "er_new_input"):
            summary.pairs_scored = person.predict_new(
                db, model, "er_new_input", "er_old_input", "customer._new_pairs"
            )
            # a pair already stored has its left record among the new pairs' left records: only
            # those stored pairs are compared, not every pair of the store
            db.execute(
                f"INSERT INTO {clusters.PAIRS} SELECT * FROM customer._new_pairs "
                f"WHERE (obs_id_l, obs_id_r) NOT IN (SELECT (obs_id_l, obs_id_r) FROM {clusters.PAIRS} "
                "WHERE obs_id_l IN (SELECT obs_id_l FROM customer._new_pairs))"
            )
            db.execute("INSERT INTO _new_pair_obs SELECT obs_id_l FROM customer._new_pairs "
                        "UNION SELECT obs_id_r FROM customer._new_pairs")
        # pairs of records that left the data are dropped
        if redone:  # locally, only redone records can have left; none left (a create): nothing to look at
            db.execute(f"CREATE OR REPLACE TEMP TABLE _gone_obs AS SELECT obs_id FROM {person.REDONE} "
                       f"WHERE obs_id NOT IN (SELECT obs_id FROM {person.PERSON_INPUT} WHERE obs_id IN {redone})")
            if _count(db, "_gone_obs"):
                db.execute(f"DELETE FROM {clusters.PAIRS} WHERE obs_id_l IN (SELECT obs_id FROM _gone_obs) "
                           "OR obs_id_r IN (SELECT obs_id FROM _gone_obs)")
            db.execute("DROP TABLE IF EXISTS _gone_obs")
        else:
            db.execute(
                f"DELETE FROM {clusters.PAIRS} WHERE obs_id_l NOT IN (SELECT obs_id FROM {person.PERSON_INPUT}) "
                f"OR obs_id_r NOT IN (SELECT obs_id FROM {person.PERSON_INPUT})"
            )
        db.execute("DROP VIEW IF EXISTS er_old_input")
        for t in ("er_new_input", "customer._new_pairs"):
            db.execute(f"DROP TABLE IF EXISTS {t}")

    say("persons: clustering with chain and size guards")
    touched = f"SELECT obs_id FROM {person.REDONE} UNION SELECT obs_id FROM _new_pair_obs" if redone else None
    guard = clusters.cluster_persons(db, model, config, touched=touched, keep_scores=mode != "full")
    summary.chained_clusters = guard["chained_clusters"]
    say("companies: USCC and registered name")
    if redone:
        db.execute(f"CREATE OR REPLACE TEMP TABLE _corp_before AS SELECT obs_id, cluster_id FROM {clusters.CLUSTER} "
                    "WHERE kind = 'corporate'")
    clusters.cluster_companies(db)
    summary.oversize_clusters = _count(db, f"{clusters.REVIEW} WHERE kind = 'oversize'")

    say("customer ids")
    only = None
    if redone:
        only = (f"SELECT obs_id FROM _scope UNION SELECT obs_id FROM {DIRTY_OBS} "
                f"UNION SELECT obs_id FROM {identity.DIRTY} UNION SELECT obs_id FROM ("
                f"(SELECT obs_id, cluster_id FROM {clusters.CLUSTER} WHERE kind = 'corporate' "
                "EXCEPT SELECT obs_id, cluster_id FROM _corp_before) UNION ALL "
                f"(SELECT obs_id, cluster_id FROM _corp_before EXCEPT SELECT obs_id, cluster_id FROM "
                f"{clusters.CLUSTER} WHERE kind = 'corporate'))")
    ids = identity.assign_ids(db, run_id, only=only if guard.get("local") else None)
    summary.new_customers = ids["new_customers"]
    summary.details = {**summary.details, **guard, **ids}
    if golden:
        say("golden records")
        summary.customers = build_golden(db, config, run_id, keyring=keyring)
    return summary
