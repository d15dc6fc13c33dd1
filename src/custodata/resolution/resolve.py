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


# the compared content of a person record; a change in it means the record is scored again
_COMPARED = ("name", "name_pinyin", "family_name", "birth_date", "gender", "address", "city", "district",
             "id_number", "mobile", "email", "phone")


def _content(alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return "md5(CAST(struct_pack(" + ", ".join(f"{c} := {prefix}{c}" for c in _COMPARED) + ") AS VARCHAR))"


_CONTENT = _content()


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {sql}").fetchone()
    return int(row[0]) if row else 0


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return bool(_count(con, f"information_schema.tables WHERE table_schema = '{schema}' AND table_name = '{name}'"))


def resolve(
    con: duckdb.DuckDBPyConnection, config: ResolutionConfig, run_id: str, *, keyring: KeyRing,
    mode: str = "auto", retrain: bool = False, progress: Progress | None = None, golden: bool = True,
) -> ResolutionSummary:
    """Resolve ``customer.party`` into golden records; ``mode`` is auto, full or incremental.

    ``mode`` is how pairs are scored (the Splink model); ``golden=False`` stops at the
    customer ids, for a caller that derives golden records of the affected customers only.
    """
    say = progress or (lambda _msg: None)
    identity.ensure_tables(con)
    model = None if retrain else person.load_model(con)
    has_pairs = _table_exists(con, "customer", "pairs")
    if mode == "auto":
        mode = "incremental" if model is not None and has_pairs and _count(con, identity.XREF) else "full"
    summary = ResolutionSummary(mode=mode, observations=_count(con, "customer.party"))

    say("persons: preparing")
    # what each person record looked like when last scored, to find the ones whose content changed
    had_input = mode == "incremental" and _table_exists(con, "main", person.PERSON_INPUT)
    if had_input:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _scored_before AS SELECT obs_id, {_CONTENT} AS h "
                    f"FROM {person.PERSON_INPUT}")
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
        say("persons: scoring new and changed records against existing customers")
        # a record whose content changed since it was scored is scored again, as if new:
        # its old pairs go, and it is compared with every existing customer
        con.execute("CREATE OR REPLACE TEMP TABLE _changed (obs_id VARCHAR)")
        if had_input:
            con.execute(
                f"INSERT INTO _changed SELECT p.obs_id FROM {person.PERSON_INPUT} p JOIN _scored_before b "
                f"USING (obs_id) WHERE {_content('p')} <> b.h"
            )
        summary.details["changed_records"] = _count(con, "_changed")
        con.execute(
            f"DELETE FROM {clusters.PAIRS} WHERE obs_id_l IN (SELECT obs_id FROM _changed) "
            "OR obs_id_r IN (SELECT obs_id FROM _changed)"
        )
        con.execute(
            f"CREATE OR REPLACE TABLE er_new_input AS SELECT * FROM {person.PERSON_INPUT} "
            f"WHERE obs_id NOT IN (SELECT obs_id FROM {identity.XREF}) OR obs_id IN (SELECT obs_id FROM _changed)"
        )
        con.execute(
            f"CREATE OR REPLACE TABLE er_old_input AS SELECT * FROM {person.PERSON_INPUT} "
            f"WHERE obs_id IN (SELECT obs_id FROM {identity.XREF}) AND obs_id NOT IN (SELECT obs_id FROM _changed)"
        )
        if _count(con, "er_new_input"):
            summary.pairs_scored = person.predict_new(
                con, model, "er_new_input", "er_old_input", "customer._new_pairs"
            )
            con.execute(
                f"INSERT INTO {clusters.PAIRS} SELECT * FROM customer._new_pairs "
                f"WHERE (obs_id_l, obs_id_r) NOT IN (SELECT (obs_id_l, obs_id_r) FROM {clusters.PAIRS})"
            )
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
    summary.details = {**summary.details, **guard, **ids}
    if golden:
        say("golden records")
        summary.customers = build_golden(con, config, run_id, keyring=keyring)
    return summary
