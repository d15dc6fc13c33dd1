"""Search before create: rank existing customers against a front desk's query.

The query is normalised exactly like source records (same SQL functions), then
scored by the trained Splink model against every record its blocking rules
reach.  Each candidate customer comes with its match probability and, per
field, whether it agreed and how much that weighed (match weight in bits).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from custodata.engine.port import BatchEngine
from custodata.errors import StateError
from custodata.resolution import person

QUERY_COLUMNS = ("name", "id_number", "mobile", "birth_date", "email", "address", "gender", "phone")


@dataclass(frozen=True)
class FieldEvidence:
    field: str
    level: str
    match_weight: float  # log2 of the Bayes factor: >0 supports a match, <0 argues against


@dataclass(frozen=True)
class Candidate:
    customer_id: str
    match_probability: float
    match_weight: float
    matched_record: str
    name: str | None
    evidence: list[FieldEvidence] = field(default_factory=list)


def _level_labels(model: dict[str, Any]) -> dict[tuple[str, int], str]:
    labels: dict[tuple[str, int], str] = {}
    for comp in model.get("comparisons", []):
        name = comp.get("output_column_name")
        levels = [lv for lv in comp.get("comparison_levels", []) if not lv.get("is_null_level")]
        for i, lv in enumerate(reversed(levels)):
            labels[(name, i)] = str(lv.get("label_for_charts") or lv.get("sql_condition"))
    return labels


def match(
    db: BatchEngine, *, name: str | None = None, id_number: str | None = None,
    mobile: str | None = None, birth_date: str | None = None, email: str | None = None,
    address: str | None = None, gender: str | None = None, phone: str | None = None, top: int = 10,
) -> list[Candidate]:
    """Ranked candidate customers for a person described by the given fields."""
    model = person.load_model(db)
    if model is None:
        raise StateError("no trained model yet: run the pipeline (custodata run) first")
    if not any((name, id_number, mobile, email)):
        raise ValueError("give at least one of --name, --id-number, --mobile, --email")
    db.execute(
        """
        CREATE OR REPLACE TEMP TABLE _query AS
        WITH q AS (SELECT ?::VARCHAR AS name, ?::VARCHAR AS id_number, ?::VARCHAR AS mobile,
                          ?::VARCHAR AS birth_date, ?::VARCHAR AS email, ?::VARCHAR AS address,
                          ?::VARCHAR AS gender, ?::VARCHAR AS phone),
        n AS (SELECT cd_name(name) AS name, cd_id(id_number) AS id_number, cd_mobile(mobile) AS mobile,
                     cd_date(birth_date, '') AS birth_date, cd_email(email) AS email,
                     cd_address(address) AS a, cd_gender(gender) AS gender, cd_landline(phone) AS phone
              FROM q)
        SELECT '__query__' AS obs_id, 'query' AS source, 'query' AS record_key, 'query' AS role,
               name, cd_pinyin(name) AS name_pinyin, cd_family(name) AS family_name,
               coalesce(birth_date, cd_id_birth(id_number)) AS birth_date,
               coalesce(gender, cd_id_gender(id_number)) AS gender,
               a.full AS address, a.city AS city, a.district AS district,
               cd_tok('id_number', id_number) AS id_number, cd_tok('mobile', mobile) AS mobile, email, phone
        FROM n
        """,
        [name, id_number, mobile, birth_date, email, address, gender, phone],
    )
    linker = person.linker_for(db, person.PERSON_INPUT, {**model, "retain_intermediate_calculation_columns": True})
    db_api = linker._db_api
    q = db_api.register("_query")
    person.blocked_candidates(db, model, "_query", person.PERSON_INPUT, "_query_candidates")
    existing = db_api.register("_query_candidates")
    df = linker.inference.predict_between(q, existing)
    rows = db.dicts(
        f"SELECT p.*, x.customer_id, g.name AS customer_name FROM {df.physical_name} p "
        "JOIN customer.xref x ON x.obs_id = p.obs_id_r "
        "LEFT JOIN customer.golden g ON g.customer_id = x.customer_id "
        "ORDER BY p.match_weight DESC"
    )
    labels = _level_labels(model)
    best: dict[str, Candidate] = {}
    for r in rows:
        cid = str(r["customer_id"])
        if cid in best:
            continue
        evidence = []
        for comp in model.get("comparisons", []):
            out = comp["output_column_name"]
            gamma = r.get(f"gamma_{out}")
            weight = r.get(f"mw_{out}")  # Splink 5 reports log2 Bayes factors as mw_*
            if weight is None and r.get(f"bf_{out}") is not None:
                bf = float(r[f"bf_{out}"])
                weight = math.log2(bf) if bf > 0 else float("-inf")
            if gamma is None or gamma == -1 or weight is None:
                continue
            evidence.append(FieldEvidence(out, labels.get((out, int(gamma)), str(gamma)), round(float(weight), 2)))
        best[cid] = Candidate(cid, float(r["match_probability"]), float(r["match_weight"]),
                              str(r["obs_id_r"]), r["customer_name"], evidence)
        if len(best) >= top:
            break
    df.drop_table_from_database_and_remove_from_cache()
    db.execute("DROP TABLE IF EXISTS _query_candidates")
    return sorted(best.values(), key=lambda c: -c.match_weight)
