"""The business records of each unified customer, latest version, as the insight layer reads them.

Behaviour windows (a deposit maturing, a claim last year) and source tags both need
"this customer's records": the store keeps every version of a record per source and links
records to customers through parties and the cross-reference, so this one step resolves
both once, into ``insight.records``, instead of every segment doing the joins again.
"""

from __future__ import annotations

from custodata.engine.port import BatchEngine

RECORDS = "insight.records"
RECORD_COLUMNS: tuple[str, ...] = (
    "customer_id", "source", "record_key", "business_type", "product", "amount", "start_date",
    "end_date", "status", "category", "updated_at", "ingested_at", "tags", "roles",
)


def records_sql(business: str = "business.total", xref: str = "customer.xref",
                party: str = "customer.party") -> str:
    """One row per (customer, record): the record's latest version and the roles the customer plays in it
    (policy holder, insured, beneficiary, contact …), so a tag or a window can count only some."""
    return f"""
        WITH latest AS (
            SELECT * FROM {business}
            QUALIFY row_number() OVER (PARTITION BY _source, record_key
                ORDER BY _ingested_at DESC, updated_at DESC NULLS LAST, _batch_id DESC) = 1
        ), linked AS (
            SELECT x.customer_id, p.source, p.record_key, list_sort(list(DISTINCT p.role)) AS roles
            FROM {xref} x JOIN {party} p USING (obs_id)
            WHERE p.record_key IS NOT NULL
            GROUP BY x.customer_id, p.source, p.record_key
        )
        SELECT l.customer_id, b._source AS source, b.record_key, b._business_type AS business_type,
               b.product, b.amount, b.start_date, b.end_date, b.status, b.category,
               b.updated_at, b._ingested_at AS ingested_at, b.tags, l.roles
        FROM linked l JOIN latest b ON b._source = l.source AND b.record_key = l.record_key
        ORDER BY l.customer_id, b._source, b.record_key
    """


def build_records(db: BatchEngine) -> int:
    """``insight.records`` rebuilt from the store; returns its row count."""
    db.execute("CREATE SCHEMA IF NOT EXISTS insight")
    db.build(RECORDS, records_sql())
    return db.count(RECORDS)
