"""Person resolution on Splink: Chinese-aware comparisons, near-linear blocking, no labels.

The model is trained without ground truth (random sampling for u, EM for m)
and saved with the store, so later batches are scored with the same model
instead of retraining on all history.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from custodata.engine.port import BatchEngine
from custodata.resolution.config import ResolutionConfig

log = logging.getLogger(__name__)

PERSON_INPUT = "er_person_input"
MODEL_TABLE = "meta.model"

# Exact-match fields and where their values come from: protected fields are matched on their
# keyed tokens, so entity resolution never sees an ID number or a mobile in plaintext.
MATCH_SOURCE = {"id_number": "id_number_token", "mobile": "mobile_token", "email": "email", "phone": "phone"}

# the compared content of a person record; a change in it means the record is scored again
_COMPARED = ("name", "name_pinyin", "family_name", "birth_date", "gender", "address", "city", "district",
             "id_number", "mobile", "email", "phone")


def content_hash(alias: str = "") -> str:
    """SQL for a digest of what is compared of a person row (``alias``: the row's table alias)."""
    prefix = f"{alias}." if alias else ""
    return "md5(CAST(struct_pack(" + ", ".join(f"{c} := {prefix}{c}" for c in _COMPARED) + ") AS VARCHAR))"


# Comparisons, in the order they appear in explanations.
COMPARED_FIELDS = ("id_number", "name", "birth_date", "gender", "mobile", "phone", "email", "address")


def _settings(config: ResolutionConfig) -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    name = cl.CustomComparison(
        output_column_name="name",
        comparison_description="name, then its toneless pinyin (homophones, pinyin spellings)",
        comparison_levels=[
            cll.CustomLevel(
                "(name_pinyin_l IS NULL AND family_name_l IS NULL) OR (name_pinyin_r IS NULL AND family_name_r IS NULL)"
            ).configure(is_null_level=True, label_for_charts="name missing"),
            cll.ExactMatchLevel("name", term_frequency_adjustments=True),
            cll.ExactMatchLevel("name_pinyin"),
            cll.JaroWinklerLevel("name_pinyin", 0.92),
            cll.CustomLevel(
                "(name_pinyin_l IS NULL OR name_pinyin_r IS NULL) AND family_name_l = family_name_r",
                label_for_charts="same family name, given name unknown (李先生)",
            ),
            cll.ElseLevel(),
        ],
    )
    address = cl.CustomComparison(
        output_column_name="address",
        comparison_description="address compared as one field, then its district",
        comparison_levels=[
            cll.NullLevel("address"),
            cll.ExactMatchLevel("address"),
            cll.JaroWinklerLevel("address", 0.9),
            cll.CustomLevel(
                "district_l = district_r AND city_l = city_r", label_for_charts="same district"
            ),
            cll.ElseLevel(),
        ],
    )
    birth = cl.CustomComparison(
        output_column_name="birth_date",
        comparison_levels=[
            cll.NullLevel("birth_date"),
            cll.ExactMatchLevel("birth_date"),
            cll.CustomLevel(
                "year(birth_date_l) = year(birth_date_r) AND "
                "(month(birth_date_l) = day(birth_date_r) AND day(birth_date_l) = month(birth_date_r))",
                label_for_charts="day and month swapped",
            ),
            cll.ElseLevel(),
        ],
    )
    id_number = cl.CustomComparison(
        output_column_name="id_number",
        comparison_levels=[
            cll.NullLevel("id_number"),
            cll.ExactMatchLevel("id_number"),
            cll.ElseLevel(),
        ],
    )
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="obs_id",
        probability_two_random_records_match=1e-6,
        comparisons=[
            id_number,
            name,
            birth,
            cl.ExactMatch("gender"),
            cl.ExactMatch("mobile"),
            cl.ExactMatch("phone"),
            cl.ExactMatch("email"),
            address,
        ],
        blocking_rules_to_generate_predictions=[
            block_on("id_number"),
            block_on("mobile"),
            block_on("email"),
            block_on("name_pinyin", "birth_date"),
            block_on("name_pinyin", "district", "city"),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=True,
        additional_columns_to_retain=["source", "record_key", "role"],
    )


def _guarded(config: ResolutionConfig, within: str | None = None) -> list[str]:
    """The matched columns, each blanked where too many names share its value (``within``: values looked at)."""
    limit = int(config.max_names_per_value)
    cols = []
    for col, src in MATCH_SOURCE.items():
        only = f"AND {src} IN (SELECT {src} FROM {within}) " if within else ""
        cols.append(
            f"CASE WHEN {src} IN (SELECT {src} FROM customer.party WHERE kind = 'individual' "
            f"AND {src} IS NOT NULL {only}GROUP BY {src} HAVING count(DISTINCT name_pinyin) > {limit}) "
            f"THEN NULL ELSE {src} END AS {col}"
        )
    return cols


def _guarded_values(config: ResolutionConfig, within: dict[str, str] | None = None) -> str:
    limit = int(config.max_names_per_value)
    return " UNION ALL ".join(
        f"SELECT '{col}' AS field, sha256({src}) AS value_hash, count(DISTINCT name_pinyin) AS names "
        f"FROM customer.party WHERE kind = 'individual' AND {src} IS NOT NULL "
        + (f"AND {src} IN (SELECT v FROM {within[col]}) " if within else "")
        + f"GROUP BY {src} HAVING count(DISTINCT name_pinyin) > {limit}"
        for col, src in MATCH_SOURCE.items()
    )


_PERSON_COLUMNS = ("obs_id, source, record_key, role, name, name_pinyin, family_name, birth_date, gender, "
                   "address, city, district")


def build_person_input(db: BatchEngine, config: ResolutionConfig) -> int:
    """Individual observations with over-shared values blanked (placeholder guard).

    A mobile or e-mail that many different names use (a branch's switchboard, a
    typed-in '13900000000' that slipped past the placeholder list) would chain
    unrelated people together; such values neither block nor match.
    """
    db.execute(
        f"CREATE OR REPLACE TABLE {PERSON_INPUT} AS SELECT {_PERSON_COLUMNS}, " + ", ".join(_guarded(config))
        + " FROM customer.party WHERE kind = 'individual' ORDER BY obs_id"
    )
    db.execute("CREATE OR REPLACE TABLE customer.guarded_value AS " + _guarded_values(config))
    row = db.one(f"SELECT count(*) FROM {PERSON_INPUT}")
    return int(row[0]) if row else 0


REDONE = "_person_redone"  # observations whose person row a local update looked at (temp)


def update_person_input(db: BatchEngine, config: ResolutionConfig, seeds: str) -> int:
    """The person rows of ``seeds`` (a query of obs_id) and of everyone sharing a matched value with them.

    What :func:`build_person_input` would give, for a batch or an erasure touching a
    few records: a row changes only when its observation changed or when the guard
    on one of its values flips, and the guard of a value changes only when a record
    carrying it came, went or changed, so the rows of everyone sharing those values
    (before or after) are the only ones to derive again.  :data:`REDONE` keeps the
    observations looked at, ``_scored_before`` their content before.  Returns how many person rows there are now.
    """
    from custodata.domains.customer import PARTIES_BEFORE

    before = (f"UNION ALL SELECT * FROM {PARTIES_BEFORE} WHERE obs_id IN (SELECT obs_id FROM _seed_obs)"
              if _has_table(db, PARTIES_BEFORE) else "")
    db.execute(f"CREATE OR REPLACE TEMP TABLE _seed_obs AS SELECT DISTINCT obs_id FROM ({seeds}) s(obs_id)")
    db.execute("CREATE OR REPLACE TEMP TABLE _seed_rows AS SELECT * FROM customer.party "
                f"WHERE obs_id IN (SELECT obs_id FROM _seed_obs) {before}")
    within = {}
    for col, src in MATCH_SOURCE.items():
        within[col] = f"_values_{col}"
        db.execute(f"CREATE OR REPLACE TEMP TABLE _values_{col} AS SELECT DISTINCT {src} AS v FROM _seed_rows "
                    f"WHERE {src} IS NOT NULL")
    sharing = " UNION ".join(f"SELECT obs_id FROM customer.party WHERE {src} IN (SELECT v FROM _values_{col})"
                             for col, src in MATCH_SOURCE.items())
    db.execute(f"CREATE OR REPLACE TEMP TABLE {REDONE} AS SELECT obs_id FROM _seed_obs UNION {sharing}")
    db.execute("CREATE OR REPLACE TEMP TABLE _redone_party AS SELECT * FROM customer.party "
                f"WHERE obs_id IN (SELECT obs_id FROM {REDONE})")
    db.execute(f"CREATE OR REPLACE TEMP TABLE _scored_before AS SELECT obs_id, {content_hash()} AS h "
                f"FROM {PERSON_INPUT} WHERE obs_id IN (SELECT obs_id FROM {REDONE})")
    db.execute(f"DELETE FROM {PERSON_INPUT} WHERE obs_id IN (SELECT obs_id FROM {REDONE})")
    db.execute(
        f"INSERT INTO {PERSON_INPUT} SELECT {_PERSON_COLUMNS}, " + ", ".join(_guarded(config, "_redone_party"))
        + " FROM _redone_party WHERE kind = 'individual' ORDER BY obs_id"
    )
    hashed = " OR ".join(f"(field = '{col}' AND value_hash IN (SELECT sha256(v) FROM _values_{col}))"
                         for col in MATCH_SOURCE)
    db.execute(f"DELETE FROM customer.guarded_value WHERE {hashed}")
    db.execute("INSERT INTO customer.guarded_value " + _guarded_values(config, within))
    row = db.one(f"SELECT count(*) FROM {PERSON_INPUT}")
    return int(row[0]) if row else 0


def _has_table(db: BatchEngine, name: str) -> bool:
    row = db.one("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name])
    return bool(row and row[0])


def _linker(db: BatchEngine, table: str, settings: Any) -> Any:
    from splink import Linker

    db_api = db.splink_api()
    sdf = db_api.register(table)
    return Linker(sdf, settings, log_level=logging.ERROR)


TF_NAME = "er_tf_name"


def build_term_frequencies(db: BatchEngine) -> None:
    """Name frequencies over all persons: a match on 王伟 says less than one on 欧阳娜娜."""
    db.execute(
        f"CREATE OR REPLACE TABLE {TF_NAME} AS SELECT name, count(*) / sum(count(*)) OVER () "
        f"AS tf_name FROM {PERSON_INPUT} WHERE name IS NOT NULL GROUP BY name"
    )


def linker_for(
    db: BatchEngine, table: str, model: dict[str, Any],
    blocking: list[str] | None = None,
) -> Any:
    """A linker scoring ``table`` with a trained model and the store's name frequencies."""
    from splink import Linker

    settings = dict(model)
    if blocking is not None:
        settings["blocking_rules_to_generate_predictions"] = [
            {"blocking_rule": b, "sql_dialect": "duckdb"} for b in blocking
        ]
    db_api = db.splink_api()
    # the model is the store's own, validated when it was trained: checking it again costs ~0.1 s a
    # linker, which a one-record create pays two or three times
    linker = Linker(db_api.register(table), settings, log_level=logging.ERROR, validate_settings=False)
    tf = db_api.register(TF_NAME)
    linker.table_management.register_term_frequency_lookup(tf, "name")
    return linker


def blocked_candidates(db: BatchEngine, model: dict[str, Any], new_table: str, old_table: str,
                       out: str) -> int:
    """Into temp table ``out``: the rows of ``old_table`` some prediction blocking rule pairs with a new row.

    Scoring a few new records against the whole store made Splink join each of its
    blocking rules over every existing person (two predictions a create, each a
    pass over millions of rows, most of a create's seconds).  The pairs Splink scores
    between ``new`` and these candidates are the same as between ``new`` and all of
    ``old``: a pair outside them meets no rule.  Each rule is taken both ways round
    (new on the left and on the right), so a rule need not be symmetric; the semi-joins
    are hash joins on the rule's equalities.  Returns the candidates' count.
    """
    rules = [str(r["blocking_rule"] if isinstance(r, dict) else r)
             for r in model.get("blocking_rules_to_generate_predictions", [])]
    if not rules:  # no blocking: every old row is a candidate
        db.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT * FROM {old_table}")
    else:
        reached = " UNION ".join(
            f"SELECT r.obs_id FROM {old_table} r JOIN {new_table} l ON {rule} "
            f"UNION SELECT l.obs_id FROM {old_table} l JOIN {new_table} r ON {rule}" for rule in rules
        )
        db.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT * FROM {old_table} "
                    f"WHERE obs_id IN ({reached})")
    row = db.one(f"SELECT count(*) FROM {out}")
    return int(row[0]) if row else 0


def predict_new(
    db: BatchEngine, model: dict[str, Any], new_table: str, old_table: str, out: str
) -> int:
    """Score only what a new batch adds: new x existing and new x new, never old x old."""
    linker = linker_for(db, PERSON_INPUT, model)
    db_api = linker._db_api
    new = db_api.register(new_table)
    candidates = blocked_candidates(db, model, new_table, old_table, "_old_candidates")
    old = db_api.register("_old_candidates")
    cols = "obs_id_l, obs_id_r, match_probability, match_weight"
    db.execute(f"CREATE OR REPLACE TABLE {out} (obs_id_l VARCHAR, obs_id_r VARCHAR, "
                "match_probability DOUBLE, match_weight DOUBLE)")
    threshold = prior_bits(model) + STORED_EVIDENCE_BITS
    row = db.one(f"SELECT count(*) FROM {new_table}")
    # a Splink prediction that can find no pair is not run: no candidate reached (a new person, the
    # usual create), or a single new record (no pair within it)
    frames = []
    if candidates:
        frames.append(linker.inference.predict_between(new, old, threshold_match_weight=threshold))
    if row is not None and int(row[0]) > 1:
        frames.append(linker.inference.predict_within(new, threshold_match_weight=threshold))
    for df in frames:
        db.execute(f"INSERT INTO {out} SELECT {cols} FROM {df.physical_name}")
        df.drop_table_from_database_and_remove_from_cache()
    drop_splink_tables(db_api)
    db.execute("DROP TABLE IF EXISTS _old_candidates")
    row = db.one(f"SELECT count(*) FROM {out}")
    return int(row[0]) if row else 0


def train(db: BatchEngine, config: ResolutionConfig) -> dict[str, Any]:
    """Train the person model without labels and return it as Splink's JSON dict."""
    from splink import block_on

    linker = _linker(db, PERSON_INPUT, _settings(config))
    linker.training.estimate_probability_two_random_records_match(
        [block_on("id_number"), block_on("name_pinyin", "birth_date", "mobile")], recall=0.8
    )
    linker.training.estimate_u_using_random_sampling(
        max_pairs=config.u_sampling_pairs, seed=config.seed
    )
    # EM sessions: each blocks on fields it then cannot learn, so together they learn all.
    for rule in (block_on("id_number"), block_on("mobile"), block_on("name_pinyin", "birth_date")):
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, fix_probability_two_random_records_match=True
        )
    model: dict[str, Any] = linker.misc.save_model_to_json()
    drop_splink_tables(linker._db_api)
    return _floor_probabilities(model)


def drop_splink_tables(db_api: Any) -> None:
    """Drop the tables Splink made on the store's connection (never the ones registered with it).

    Training leaves its blocked pairs and comparison vectors in the main schema (three EM
    sessions: 9M rows at 1M source records, a fifth of the store file) and they would stay
    there, and in DuckDB's cache, for good.
    """
    db_api.delete_tables_created_by_splink_from_db()


M_FLOOR = 1e-3


def _floor_probabilities(model: dict[str, Any]) -> dict[str, Any]:
    """Keep every level's m and u at or above a floor.

    Unsupervised EM on clean data learns that, say, names never disagree for
    the same person (m ~ 1e-30); one typo would then outweigh an agreeing ID
    and mobile.  A floor caps what any single field can say against a match.
    """
    for comp in model.get("comparisons", []):
        for level in comp.get("comparison_levels", []):
            for key in ("m_probability", "u_probability"):
                value = level.get(key)
                if value is not None and value < M_FLOOR:
                    level[key] = M_FLOOR
    return model


def save_model(db: BatchEngine, model: dict[str, Any]) -> None:
    db.execute(f"CREATE TABLE IF NOT EXISTS {MODEL_TABLE} (name VARCHAR PRIMARY KEY, model JSON)")
    db.execute(f"DELETE FROM {MODEL_TABLE} WHERE name = 'person'")
    db.execute(f"INSERT INTO {MODEL_TABLE} VALUES ('person', ?)", [json.dumps(model)])


def load_model(db: BatchEngine) -> dict[str, Any] | None:
    if not db.exists(MODEL_TABLE):
        return None
    row = db.one(f"SELECT model FROM {MODEL_TABLE} WHERE name = 'person'")
    return None if row is None else dict(json.loads(row[0]))


# pairs are kept from this much evidence (bits over the prior) on: well below any link, and
# the same at any size of data (a probability floor would drop more of them as data grows)
STORED_EVIDENCE_BITS = 10.0


def prior_bits(model: dict[str, Any]) -> float:
    """log2 of the prior odds that two random records match, as the trained model has it."""
    lam = float(model.get("probability_two_random_records_match", 1e-4))
    return math.log2(lam / (1 - lam))


def predict(db: BatchEngine, model: dict[str, Any], table: str, out: str) -> int:
    """Score blocked pairs of ``table`` with a trained model into ``out`` (from STORED_EVIDENCE_BITS on)."""
    linker = linker_for(db, table, model)
    df = linker.inference.predict(threshold_match_weight=prior_bits(model) + STORED_EVIDENCE_BITS)
    db.execute(
        f"CREATE OR REPLACE TABLE {out} AS SELECT obs_id_l, obs_id_r, match_probability, "
        f"match_weight FROM {df.physical_name}"
    )
    df.drop_table_from_database_and_remove_from_cache()
    drop_splink_tables(linker._db_api)
    row = db.one(f"SELECT count(*) FROM {out}")
    return int(row[0]) if row else 0
