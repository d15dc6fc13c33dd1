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

import duckdb

from custodata.crypto.keyring import CUSTOMER_KEY_PREFIX, KeyRing, customer_key_id
from custodata.domains.business import TOKEN_PARTY_FIELDS, field_aad
from custodata.resolution.config import ResolutionConfig

GOLDEN = "customer.golden"
HISTORY = "customer.history"

_CRITERIA_SQL = {
    "trust": "trust DESC",
    "recency": "updated_at DESC NULLS LAST",
    "completeness": "length(CAST({v} AS VARCHAR)) DESC",
    "han": "regexp_matches(CAST({v} AS VARCHAR), '[\u4e00-\u9fff]') DESC",
}
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


def _order(field: str, config: ResolutionConfig) -> str:
    criteria = config.survivorship.for_field(field)
    if field in PROTECTED:  # the length or script of a ciphertext says nothing about its value
        criteria = [c for c in criteria if c not in ("completeness", "han")]
    parts = [_CRITERIA_SQL[c].format(v=field) for c in criteria]
    return ", ".join([*parts, "obs_id"])


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


def golden_sql(config: ResolutionConfig, only: str | None = None) -> str:
    """One row per customer; for each field the surviving value and where it came from.

    ``only``: a table of customer ids (column ``customer_id``) to build, instead of all.
    """
    picks = []
    for field in (*TEXT_FIELDS, *DATE_FIELDS):
        order = _order(field, config)
        if field in PROTECTED:
            picks.append(f"first({field}_token ORDER BY {order}) FILTER (WHERE {field} IS NOT NULL) "
                         f"AS {field}_token")
            picks.append(f"first({field} ORDER BY {order}) FILTER (WHERE {field} IS NOT NULL) AS _ct_{field}")
        else:
            picks.append(f"first({field} ORDER BY {order}) FILTER (WHERE {field} IS NOT NULL) AS {field}")
        picks.append(
            f"first(obs_id ORDER BY {order}) FILTER (WHERE {field} IS NOT NULL) AS _from_{field}"
        )
    provenance = "map_from_entries(list_filter([" + ", ".join(
        f"{{'k': '{f}', 'v': _from_{f}}}" for f in (*TEXT_FIELDS, *DATE_FIELDS)
    ) + "], e -> e.v IS NOT NULL))"
    return f"""
    WITH members AS (
        SELECT x.customer_id, x.kind AS kind, p.*  EXCLUDE (kind)
        FROM customer.xref x JOIN customer.party p USING (obs_id){_only("x.customer_id", only)}
    ), picked AS (
        SELECT customer_id, min(kind) AS kind,  -- min: a merge across kinds picks one by rule, not by row order
               {', '.join(picks)},
               count(*) AS n_records,
               list(DISTINCT source ORDER BY source) AS sources,
               min(ingested_at) AS first_seen, max(updated_at) AS last_updated
        FROM members GROUP BY customer_id
    )
    SELECT customer_id, kind, {', '.join(_outputs())},
           n_records, sources, first_seen, last_updated, {provenance} AS provenance
    FROM picked
    """


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
    con: duckdb.DuckDBPyConnection, config: ResolutionConfig, run_id: str, *, keyring: KeyRing,
    cause: str = "survivorship", only: str | None = None,
) -> int:
    """Rebuild golden records and append what changed to the history.

    ``only``: a table of customer ids (see :mod:`custodata.resolution.affected`); just their
    golden records are deleted and built again, with the very SQL of a full build, and
    their history compared.  A customer of ``only`` with no records left is retired.
    """
    con.execute(HISTORY_DDL)
    ids = [r[0] for r in con.execute(
        f"SELECT DISTINCT customer_id FROM customer.xref{_only('customer_id', only)}").fetchall()]
    keyring.ensure([customer_key_id(c) for c in ids], {customer_key_id(c): f"customer:{c}" for c in ids})
    had_previous = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema='customer' AND table_name='golden'"
    ).fetchone()
    new_table = GOLDEN
    if had_previous and had_previous[0]:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _golden_prev AS SELECT * FROM {GOLDEN}{_only('customer_id', only)}")
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _golden_prev AS SELECT * FROM ({golden_sql(config)}) WHERE false")
    if only and had_previous and had_previous[0]:
        con.execute(f"DELETE FROM {GOLDEN}{_only('customer_id', only)}")
        con.execute(f"INSERT INTO {GOLDEN} BY NAME {golden_sql(config, only)} ORDER BY customer_id")
        new_table = "_golden_new"
    else:
        con.execute(f"CREATE OR REPLACE TABLE {GOLDEN} AS {golden_sql(config)} ORDER BY customer_id")
    from custodata.resolution.steward import apply_corrections  # steward builds on this module

    corrected = apply_corrections(con, only)  # a data steward's approved corrections override survivorship
    if new_table != GOLDEN:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {new_table} AS SELECT * FROM {GOLDEN}{_only('customer_id', only)}")
    con.execute(
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
    row = con.execute(f"SELECT count(*) FROM {GOLDEN}").fetchone()
    return int(row[0]) if row else 0
