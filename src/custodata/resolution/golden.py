"""Golden customer records by per-field survivorship, with their history.

Each field of a golden record is chosen on its own: the surviving value is the
first non-empty one under that field's criteria (source trust, recency,
completeness, Chinese characters over pinyin), so a fresher mobile from the
card system and a better-trusted name from the policy system both survive.
Which source record supplied each value is kept (``provenance``), and every
change of a field between runs is appended to ``customer.history`` with its
batch and cause.
"""

from __future__ import annotations

from custodata.crypto.binding import field_aad
from custodata.crypto.keyring import CUSTOMER_KEY_PREFIX, KeyRing, customer_key_id
from custodata.domains.business import TOKEN_PARTY_FIELDS
from custodata.engine.port import BatchEngine
from custodata.resolution.config import ResolutionConfig

GOLDEN = "customer.golden"
HISTORY = "customer.history"

TEXT_FIELDS = ("name", "name_pinyin", "gender", "id_number", "uscc", "mobile", "phone", "email",
               "address", "province", "city", "district")
DATE_FIELDS = ("birth_date",)
# protected fields: chosen by their tokens, stored re-encrypted under the customer's own data key
PROTECTED = tuple(f for f in TEXT_FIELDS if f in TOKEN_PARTY_FIELDS)

HISTORY_DDL = f"""
CREATE TABLE IF NOT EXISTS {HISTORY} (
    customer_id VARCHAR NOT NULL, field VARCHAR NOT NULL, old_value VARCHAR, new_value VARCHAR,
    run_id VARCHAR NOT NULL, batch_id VARCHAR, cause VARCHAR NOT NULL, changed_at TIMESTAMP NOT NULL
)
"""


def _outputs() -> list[str]:
    out = []
    for f in (*TEXT_FIELDS, *DATE_FIELDS):
        if f in PROTECTED:
            # the SQL form of field_aad() and customer_key_id()
            out.append(f"cd_reenc(_ct_{f}, _from_{f} || '|{f}', '{CUSTOMER_KEY_PREFIX}' || customer_id, "
                       f"customer_id || '|{f}') AS {f}")
            out.append(f"{f}_token")
        else:
            out.append(f)
    return out


def golden_aad(customer_id: str, field: str) -> str:
    """Associated data of a golden record's protected field."""
    return field_aad(customer_id, field)


# Survivorship picks, per field, the member that sorts first under the field's criteria.  An
# ordered aggregate (``first(v ORDER BY …)``) keeps every member's row of every group in memory and
# cannot spill, so at a million records it needs several GB.  Instead each criterion becomes a
# small integer rank and the ranks are packed, most significant first, into one 128-bit key whose
# low bits are the member's sequence number: ``min(key)`` is then a plain aggregate of fixed size,
# which the engine spills like any other, and the winner's sequence number is ``min(key) % 2^40``.
# The values are fetched afterwards by joining on that number, one field at a time.
_SEQ_BITS = 40
_RANK_BITS = {"trust": 16, "recency": 40, "completeness": 16, "han": 1}
_MEMBERS = "_golden_members"
_RANKS = {"trust": ("_golden_trust_rank", "trust", "trust DESC NULLS LAST"),
          "recency": ("_golden_recency_rank", "updated_at", "updated_at DESC NULLS LAST")}


def _rank_expr(criterion: str, field: str) -> str:
    """A non-negative integer, smaller for the member the criterion prefers."""
    if criterion in _RANKS:
        return f"_r_{criterion}"
    if criterion == "completeness":
        return f"({2 ** _RANK_BITS['completeness'] - 1} - least(length(CAST({field} AS VARCHAR)), "\
               f"{2 ** _RANK_BITS['completeness'] - 1}))"
    return f"(NOT regexp_matches(CAST({field} AS VARCHAR), '[\u4e00-\u9fff]'))::INTEGER"


def _criteria(field: str, config: ResolutionConfig) -> list[str]:
    criteria: list[str] = list(dict.fromkeys(config.survivorship.for_field(field)))  # a repeat orders nothing
    if field in PROTECTED:  # the length or script of a ciphertext says nothing about its value
        criteria = [c for c in criteria if c not in ("completeness", "han")]
    return criteria


def _key(field: str, config: ResolutionConfig) -> str:
    parts, shift = ["seq::HUGEINT"], _SEQ_BITS
    for criterion in reversed(_criteria(field, config)):
        parts.append(f"(({_rank_expr(criterion, field)})::HUGEINT << {shift})")
        shift += _RANK_BITS[criterion]
    return " + ".join(reversed(parts))


def _value_columns(field: str) -> list[str]:
    return [f"{field}_token", field] if field in PROTECTED else [field]


def _picked_name(field: str, column: str) -> str:
    return f"_ct_{field}" if field in PROTECTED and column == field else column


def build_golden_table(
    db: BatchEngine, config: ResolutionConfig, target: str, only: str | None = None,
    *, temp: bool = False,
) -> None:
    """Build ``target``: one row per customer, each field's surviving value and where it came from.

    ``only``: a table of customer ids (column ``customer_id``) to build, instead of all.  Every
    step is a plain aggregate, join or sort over narrow rows, so the build stays within the
    engine's memory limit by spilling (tests/test_out_of_core.py).
    """
    fields = (*TEXT_FIELDS, *DATE_FIELDS)
    used = {c for f in fields for c in _criteria(f, config)}
    values = [c for f in fields for c in _value_columns(f)]
    db.execute(f"""
        CREATE OR REPLACE TEMP TABLE {_MEMBERS} AS
        SELECT x.customer_id, x.kind, p.obs_id, p.source, p.ingested_at, p.updated_at, p.trust,
               {', '.join(f'p.{c}' for c in values)},
               row_number() OVER (ORDER BY p.obs_id) AS seq
        FROM customer.xref x JOIN customer.party p USING (obs_id){_only("x.customer_id", only)}
    """)
    for criterion, (table, column, order) in _RANKS.items():
        if criterion in used:  # a dense rank over the distinct values, NULL included (ranked last)
            db.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {column}, "
                        f"row_number() OVER (ORDER BY {order}) - 1 AS _r_{criterion} "
                        f"FROM (SELECT DISTINCT {column} FROM {_MEMBERS})")
    ranked = f"(SELECT m.*{''.join(f', r{i}._r_{c}' for i, c in enumerate(c for c in _RANKS if c in used))} " \
             f"FROM {_MEMBERS} m" + "".join(
                 f" LEFT JOIN {_RANKS[c][0]} r{i} ON r{i}.{_RANKS[c][1]} IS NOT DISTINCT FROM m.{_RANKS[c][1]}"
                 for i, c in enumerate(c for c in _RANKS if c in used)) + ")"
    mask = 2 ** _SEQ_BITS
    keys = ", ".join(f"CAST(min({_key(f, config)}) FILTER (WHERE {f} IS NOT NULL) % {mask} AS BIGINT) AS _seq_{f}"
                     for f in fields)
    db.execute(f"""
        CREATE OR REPLACE TEMP TABLE _golden_picks AS
        SELECT customer_id, min(kind) AS kind,  -- min: a merge across kinds picks one by rule, not by row order
               {keys}, count(*) AS n_records, min(ingested_at) AS first_seen, max(updated_at) AS last_updated
        FROM {ranked} GROUP BY customer_id
    """)
    db.execute(f"""
        CREATE OR REPLACE TEMP TABLE _golden_sources AS
        SELECT customer_id, list_sort(list(source)) AS sources
        FROM (SELECT DISTINCT customer_id, source FROM {_MEMBERS}) GROUP BY customer_id
    """)
    # one join per field: a single statement joining every field at once holds every hash table
    # in memory together
    current = "_golden_picks"
    for i, f in enumerate(fields):
        picked = ", ".join(f"j.{c} AS {_picked_name(f, c)}" for c in _value_columns(f))
        step = f"_golden_step{i % 2}"
        db.execute(f"CREATE OR REPLACE TEMP TABLE {step} AS SELECT c.*, {picked}, j.obs_id AS _from_{f} "
                    f"FROM {current} c LEFT JOIN {_MEMBERS} j ON j.seq = c._seq_{f}")
        current = step
    provenance = "map_from_entries(list_filter([" + ", ".join(
        f"{{'k': '{f}', 'v': _from_{f}}}" for f in fields
    ) + "], e -> e.v IS NOT NULL))"
    db.execute(f"""
        CREATE OR REPLACE {'TEMP ' if temp else ''}TABLE {target} AS
        SELECT customer_id, kind, {', '.join(_outputs())},
               n_records, s.sources, first_seen, last_updated, {provenance} AS provenance
        FROM {current} LEFT JOIN _golden_sources s USING (customer_id)
        ORDER BY customer_id
    """)
    for table in (_MEMBERS, "_golden_picks", "_golden_sources", "_golden_step0", "_golden_step1",
                  *(t for t, _, _ in _RANKS.values())):
        db.execute(f"DROP TABLE IF EXISTS {table}")


def _only(column: str, only: str | None) -> str:
    return f" WHERE {column} IN (SELECT customer_id FROM {only})" if only else ""


def _unpivot(table: str) -> str:
    # protected fields are compared and kept in the history as their tokens, never as plaintext
    cols = ", ".join(f"CAST({f}_token AS VARCHAR) AS {f}" if f in PROTECTED else f"CAST({f} AS VARCHAR) AS {f}"
                     for f in (*TEXT_FIELDS, *DATE_FIELDS))
    return (
        f"(UNPIVOT (SELECT customer_id, {cols} FROM {table}) ON "
        f"{', '.join((*TEXT_FIELDS, *DATE_FIELDS))} INTO NAME field VALUE value)"
    )


def build_golden(
    db: BatchEngine, config: ResolutionConfig, run_id: str, *, keyring: KeyRing,
    cause: str = "survivorship", only: str | None = None,
) -> int:
    """Rebuild golden records and append what changed to the history.

    ``only``: a table of customer ids (see :mod:`custodata.resolution.affected`); just their
    golden records are deleted and built again, with the very SQL of a full build, and
    their history compared.  A customer of ``only`` with no records left is retired.
    """
    db.execute(HISTORY_DDL)
    ids = [r[0] for r in db.rows(
        f"SELECT DISTINCT customer_id FROM customer.xref{_only('customer_id', only)}")]
    keyring.ensure([customer_key_id(c) for c in ids], {customer_key_id(c): f"customer:{c}" for c in ids})
    had_previous = db.exists(GOLDEN)
    new_table = GOLDEN
    if had_previous:
        db.execute(f"CREATE OR REPLACE TEMP TABLE _golden_prev AS SELECT * FROM {GOLDEN}{_only('customer_id', only)}")
    if only and had_previous:
        build_golden_table(db, config, "_golden_built", only, temp=True)
        db.execute(f"DELETE FROM {GOLDEN}{_only('customer_id', only)}")
        db.execute(f"INSERT INTO {GOLDEN} BY NAME SELECT * FROM _golden_built ORDER BY customer_id")
        db.execute("DROP TABLE _golden_built")
        new_table = "_golden_new"
    else:
        build_golden_table(db, config, GOLDEN)
    if not had_previous:
        db.execute(f"CREATE OR REPLACE TEMP TABLE _golden_prev AS SELECT * FROM {GOLDEN} WHERE false")
    from custodata.resolution.steward import apply_corrections  # steward builds on this module

    corrected = apply_corrections(db, only)  # a data steward's approved corrections override survivorship
    if new_table != GOLDEN:
        db.execute(f"CREATE OR REPLACE TEMP TABLE {new_table} AS SELECT * FROM {GOLDEN}{_only('customer_id', only)}")
    db.execute(
        f"""
        INSERT INTO {HISTORY}
        WITH new AS (SELECT * FROM {_unpivot(new_table)}),
             old AS (SELECT * FROM {_unpivot('_golden_prev')}),
             prov AS (SELECT customer_id, provenance FROM {new_table})
        SELECT coalesce(n.customer_id, o.customer_id), coalesce(n.field, o.field),
               o.value, n.value, ?,
               (SELECT batch_id FROM customer.party WHERE obs_id = prov.provenance[coalesce(n.field, o.field)]),
               CASE WHEN corr.cause IS NOT NULL THEN corr.cause
                    WHEN o.customer_id IS NULL AND n.customer_id NOT IN (SELECT customer_id FROM _golden_prev)
                        THEN 'created'
                    WHEN n.customer_id IS NULL AND o.customer_id NOT IN (SELECT customer_id FROM {new_table})
                        THEN 'customer retired'
                    ELSE ? || ': value from ' || coalesce(prov.provenance[coalesce(n.field, o.field)], '(none)')
               END,
               now()
        FROM new n FULL OUTER JOIN old o ON n.customer_id = o.customer_id AND n.field = o.field
        LEFT JOIN prov ON prov.customer_id = coalesce(n.customer_id, o.customer_id)
        LEFT JOIN {corrected} corr ON corr.customer_id = n.customer_id AND corr.field = n.field
        WHERE n.value IS DISTINCT FROM o.value
        """,
        [run_id, cause],
    )
    row = db.one(f"SELECT count(*) FROM {GOLDEN}")
    return int(row[0]) if row else 0
