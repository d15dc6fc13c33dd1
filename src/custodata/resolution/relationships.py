"""Relationships between golden customers, derived from the data itself.

Households show up as people sharing an address and a phone; policies name
holder, insured and beneficiary; corporate accounts and loans name a contact
person.  Each relationship keeps the source record that evidences it.
"""

from __future__ import annotations

from custodata.engine.lookups import joins_as_written
from custodata.engine.port import BatchEngine

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


# the household key of each golden customer: people at one address on one line live together
HOUSEHOLD_KEY = """
    SELECT g.customer_id, g.address, coalesce(g.phone, g.mobile_token) AS line
    FROM customer.golden g
    WHERE g.kind = 'individual' AND g.address IS NOT NULL AND coalesce(g.phone, g.mobile_token) IS NOT NULL
"""


def _relationships_sql(role_where: str = "", homes_where: str = "", party: str = "customer.party",
                       xref: str = "customer.xref") -> str:
    """The relationships, as one SELECT; the ``where`` parts restrict roles and households (incremental).

    ``party`` and ``xref``: where the role pairs come from; an affected set passes cuts
    holding only its records, so the self-join of the parties is over those few rows.
    """
    role_sql = " UNION ALL ".join(
        f"""SELECT a.customer_id AS customer_a, b.customer_id AS customer_b, '{kind}' AS kind,
                   pa.source AS source, pa.record_key AS record_key
            FROM {party} pa
            JOIN {party} pb ON pa.source = pb.source AND pa.record_key = pb.record_key
                 AND pa.role = '{ra}' AND pb.role = '{rb}'
            JOIN {xref} a ON a.obs_id = pa.obs_id
            JOIN {xref} b ON b.obs_id = pb.obs_id
            WHERE a.customer_id <> b.customer_id"""
        + (" AND a.kind = 'corporate' AND b.kind = 'individual'" if kind == "corporate_contact" else "")
        + role_where
        for ra, rb, kind in ROLE_PAIRS
    )
    return f"""
        WITH roles AS ({role_sql}),
        homes AS (SELECT * FROM ({HOUSEHOLD_KEY}) h{homes_where}),
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
        FROM alls GROUP BY 1, 2, 3
    """


def build_relationships(db: BatchEngine, only: str | None = None) -> int:
    """Derive every relationship again; ``only``: just those of an affected set (see below).

    With ``only`` (:data:`custodata.resolution.affected.AFFECTED`, golden records of the set
    already rebuilt), the role relationships touching the set are derived again, and the
    households of every address + line the set had before (:data:`~custodata.resolution.
    affected.HOUSEHOLD_KEYS`) or has now, whole: a household that grew past
    :data:`MAX_HOUSEHOLD` loses all its pairs, one that shrank to it gains them.  Every
    customer whose relationships changed, and every neighbour of the set, is marked to be
    served again.
    """
    if only is None or not _exists(db):
        db.execute(f"CREATE OR REPLACE TABLE {RELATIONSHIP} AS {_relationships_sql()} ORDER BY 1, 2, 3")
        row = db.one(f"SELECT count(*) FROM {RELATIONSHIP}")
        return int(row[0]) if row else 0
    from custodata.resolution import affected

    ids = f"(SELECT customer_id FROM {only})"
    db.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _household_keys AS
        SELECT address, line FROM {affected.HOUSEHOLD_KEYS}
        UNION SELECT address, line FROM ({HOUSEHOLD_KEY}) WHERE customer_id IN {ids}
        """
    )
    # everyone living under one of those keys now (only the set's own keys changed)
    db.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _household_members AS
        SELECT customer_id FROM ({HOUSEHOLD_KEY}) h JOIN _household_keys k USING (address, line)
        UNION SELECT customer_id FROM {only}
        """
    )
    touched = (f"(kind <> 'household' AND (customer_a IN {ids} OR customer_b IN {ids})) OR "
               "(kind = 'household' AND (customer_a IN (SELECT customer_id FROM _household_members) "
               "OR customer_b IN (SELECT customer_id FROM _household_members)))")
    db.execute(f"CREATE OR REPLACE TEMP TABLE _relationship_prev AS SELECT * FROM {RELATIONSHIP} WHERE {touched}")
    db.execute(f"DELETE FROM {RELATIONSHIP} WHERE {touched}")
    # a role relationship of the set comes from one of its records: their parties and ids, cut out
    db.execute("CREATE OR REPLACE TEMP TABLE _relationship_keys AS SELECT DISTINCT source, record_key "
                "FROM customer.party WHERE obs_id IN "
                f"(SELECT obs_id FROM customer.xref WHERE customer_id IN {ids})")
    db.execute("CREATE OR REPLACE TEMP TABLE _relationship_party AS SELECT * FROM customer.party "
                "WHERE record_key IN (SELECT record_key FROM _relationship_keys) "  # its index finds them
                "AND (source, record_key) IN (SELECT (source, record_key) FROM _relationship_keys)")
    db.execute("CREATE OR REPLACE TEMP TABLE _relationship_xref AS SELECT * FROM customer.xref "
                "WHERE obs_id IN (SELECT obs_id FROM _relationship_party)")
    with joins_as_written(db):  # the cuts are this transaction's: no statistics to plan them by
        db.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _relationship_new AS {_relationships_sql(
                role_where=f" AND (a.customer_id IN {ids} OR b.customer_id IN {ids})",
                homes_where=" WHERE (h.address, h.line) IN (SELECT (address, line) FROM _household_keys)",
                party="_relationship_party", xref="_relationship_xref",
            )}
            """
        )
    db.execute(f"INSERT INTO {RELATIONSHIP} BY NAME SELECT * FROM _relationship_new")
    changed = "((SELECT * FROM _relationship_prev EXCEPT SELECT * FROM _relationship_new) UNION ALL " \
              "(SELECT * FROM _relationship_new EXCEPT SELECT * FROM _relationship_prev))"
    affected.serve(db, f"SELECT customer_a FROM {changed} UNION SELECT customer_b FROM {changed}")
    # neighbours show the set's names and kinds
    affected.serve(db, f"SELECT customer_b FROM {RELATIONSHIP} WHERE customer_a IN {ids} "
                        f"UNION SELECT customer_a FROM {RELATIONSHIP} WHERE customer_b IN {ids}")
    row = db.one(f"SELECT count(*) FROM {RELATIONSHIP}")
    return int(row[0]) if row else 0


def _exists(db: BatchEngine) -> bool:
    return db.exists(RELATIONSHIP)
