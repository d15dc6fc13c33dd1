"""Relationships between golden customers, derived from the data itself.

Households show up as people sharing an address and a phone; policies name
holder, insured and beneficiary; corporate accounts and loans name a contact
person.  Each relationship keeps the source record that evidences it.
"""

from __future__ import annotations

import duckdb

RELATIONSHIP = "customer.relationship"

# pairs of roles in one record and the relationship they show
ROLE_PAIRS = (
    ("policy_holder", "insured", "holder_insured"),
    ("policy_holder", "beneficiary", "holder_beneficiary"),
    ("insured", "beneficiary", "insured_beneficiary"),
    ("account_holder", "contact", "corporate_contact"),
    ("policy_holder", "contact", "corporate_contact"),
)
MAX_HOUSEHOLD = 8  # more people than this at one address + phone is an office, not a home


def build_relationships(con: duckdb.DuckDBPyConnection) -> int:
    role_sql = " UNION ALL ".join(
        f"""SELECT a.customer_id AS customer_a, b.customer_id AS customer_b, '{kind}' AS kind,
                   pa.source AS source, pa.record_key AS record_key
            FROM customer.party pa
            JOIN customer.party pb ON pa.source = pb.source AND pa.record_key = pb.record_key
                 AND pa.role = '{ra}' AND pb.role = '{rb}'
            JOIN customer.xref a ON a.obs_id = pa.obs_id
            JOIN customer.xref b ON b.obs_id = pb.obs_id
            WHERE a.customer_id <> b.customer_id"""
        + (" AND a.kind = 'corporate' AND b.kind = 'individual'" if kind == "corporate_contact" else "")
        for ra, rb, kind in ROLE_PAIRS
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE {RELATIONSHIP} AS
        WITH roles AS ({role_sql}),
        homes AS (
            SELECT g.customer_id, g.address, coalesce(g.phone, g.mobile_token) AS line
            FROM customer.golden g
            WHERE g.kind = 'individual' AND g.address IS NOT NULL
              AND coalesce(g.phone, g.mobile_token) IS NOT NULL
        ),
        groups AS (
            SELECT list(customer_id ORDER BY customer_id) AS ids FROM homes
            GROUP BY address, line HAVING count(*) BETWEEN 2 AND {MAX_HOUSEHOLD}
        ),
        household AS (
            -- pairs inside each small group; no inequality join, which plans badly on fresh tables
            SELECT g.ids[i.i] AS customer_a, g.ids[j.j] AS customer_b, 'household' AS kind,
                   'golden' AS source, 'shared address and phone' AS record_key
            FROM groups g, LATERAL range(1, len(g.ids) + 1) i(i), LATERAL range(1, len(g.ids) + 1) j(j)
            WHERE i.i < j.j
        ),
        alls AS (SELECT * FROM roles UNION ALL SELECT * FROM household)
        SELECT customer_a, customer_b, kind, count(*) AS evidence_count,
               min(source || ':' || record_key) AS evidence
        FROM alls GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        """
    )
    row = con.execute(f"SELECT count(*) FROM {RELATIONSHIP}").fetchone()
    return int(row[0]) if row else 0
