"""The served documents: every customer's encrypted 360° view built in bulk, in DuckDB.

One SQL statement aggregates each section of the view per customer (the very
:class:`custodata.serving.customer_360.Section` definitions the one-customer read uses) and turns
the whole view into one JSON document per customer with ``to_json``, so a million
customers cost a few scans and joins, not a million look-ups.  Rows stream out as
Arrow batches.

The document is JSON, so dates and timestamps are text and numbers are JSON
numbers; :func:`jsonable` puts a view read from the batch store into the same
form, which is what "the served document equals the 360° view" means.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from custodata.engine.port import BatchEngine
from custodata.engine.sql import literal
from custodata.engine.store import BatchStore
from custodata.serving.customer_360 import PROFILE, SECTIONS

# columns of every served row, in the order the SQL below yields them
SERVED_COLUMNS = ("customer_id", "kind", "name", "branches", "segment", "id_token", "mobile_token", "doc")


# customers per statement of a full build: each statement aggregates its customers' sections in
# memory (list aggregates do not spill), so a chunk bounds what a build holds at any size.  A
# chunk gets about this many bytes of the memory limit per customer (50,000 customers ran under
# 3 GB at 1M source records and failed under 1 GB), within these bounds
DOCUMENT_BYTES_PER_CUSTOMER = 60_000
DOCUMENT_CHUNK = (1_000, 50_000)
_ENTRIES = "_doc_entries_"


def documents_sql(sections: dict[str, str] | None = None, where: str = "") -> str:
    """One row per served customer: the look-up columns and the JSON document (no ``requested_id``).

    ``sections``: each section's aggregate, if not over the live tables (see
    :func:`stream_documents`); ``where``: a condition on ``customer_id`` of the profile.
    """
    ctes = [f"profile AS (SELECT customer_id, v AS profile FROM ({PROFILE}) v{' WHERE ' + where if where else ''})"]
    joins = []
    for name, section in SECTIONS.items():
        ctes.append(f"s_{name} AS ({(sections or {}).get(name) or section.aggregate(name)})")
        joins.append(f"LEFT JOIN s_{name} USING (customer_id)")
    # the branches of the customer's business records: what row rules by branch look at
    ctes.append(
        "s_branches AS (SELECT customer_id, '|' || array_to_string(list_sort(list_distinct(list(b.branch))), '|') "
        "|| '|' AS branches FROM s_records, unnest(records) AS u(b) WHERE b.branch IS NOT NULL "
        "GROUP BY customer_id)"
    )
    doc = ", ".join(
        ["'customer_id': p.customer_id", "'profile': p.profile"]
        + [f"'{name}': coalesce({name}, [])" for name in SECTIONS]
    )
    return (
        "WITH " + ",\n".join(ctes) + "\n"
        "SELECT p.customer_id, p.profile.kind AS kind, p.profile.name AS name, br.branches, "
        "p.profile.segment AS segment, p.profile.id_number_token AS id_token, "
        "p.profile.mobile_token AS mobile_token, "
        f"CAST(to_json({{{doc}}}) AS VARCHAR) AS doc\n"
        "FROM profile p " + " ".join(joins) + " LEFT JOIN s_branches br USING (customer_id)\n"
        # an erased customer is never served, whatever a derived table still says
        "WHERE NOT EXISTS (SELECT 1 FROM meta.erased e WHERE e.entity_key = 'customer:' || p.customer_id)\n"
        "ORDER BY p.customer_id"
    )


def count_documents(db: BatchEngine) -> int:
    row = db.one(
        f"SELECT count(*) FROM ({PROFILE}) v WHERE NOT EXISTS "
        "(SELECT 1 FROM meta.erased e WHERE e.entity_key = 'customer:' || v.customer_id)"
    )
    return int(row[0]) if row else 0



def document_chunk(db: BatchEngine) -> int:
    """Customers per statement of a full build under ``db``'s memory limit."""
    low, high = DOCUMENT_CHUNK
    return max(low, min(high, db.memory_limit_bytes() // DOCUMENT_BYTES_PER_CUSTOMER))


def stream_documents(db: BatchEngine, batch_rows: int = 10_000,
                     chunk: int | None = None) -> Iterator[pa.RecordBatch]:
    """The served rows in Arrow batches (columns :data:`SERVED_COLUMNS`), without holding them all.

    Each section's entries are written once, sorted by customer, into a temporary table
    (a sort spills); the documents are then built ``chunk`` customers at a time, each
    statement reading its range of every table (the sorted tables' zone maps skip the
    rest).  The rows are those of :func:`documents_sql` over the whole store, in order.
    """
    chunk = chunk or document_chunk(db)
    for name, section in SECTIONS.items():
        db.execute(f"CREATE OR REPLACE TEMP TABLE {_ENTRIES}{name} AS {section.entries()} ORDER BY customer_id")
    try:
        bounds = [str(r[0]) for r in db.rows(
            f"SELECT customer_id FROM (SELECT customer_id, row_number() OVER (ORDER BY customer_id) - 1 AS i "
            f"FROM ({PROFILE})) WHERE i % {int(chunk)} = 0 ORDER BY customer_id")]
        for i, low in enumerate(bounds):
            where = f"customer_id >= {literal(low)}"
            if i + 1 < len(bounds):
                where += f" AND customer_id < {literal(bounds[i + 1])}"
            sections = {name: section.aggregate(name, f"SELECT * FROM {_ENTRIES}{name} WHERE {where}")
                        for name, section in SECTIONS.items()}
            yield from db.batches(documents_sql(sections, where), rows=batch_rows)
    finally:
        for name in SECTIONS:
            db.execute(f"DROP TABLE IF EXISTS {_ENTRIES}{name}")


def redirects(db: BatchEngine) -> list[tuple[str, str | None]]:
    """(old id, id it finally leads to) for every merged-away id; erased customers lead to ``None``.

    Chains are followed to their end here, so a look-up reads one redirect row at most.
    """
    erased = {r[0] for r in db.rows(
        "SELECT substr(entity_key, 10) FROM meta.erased WHERE entity_key LIKE 'customer:%'"
    )}
    exists = db.one(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'customer' AND table_name = 'id_redirect'"
    )
    hops: dict[str, str] = {}
    if exists and exists[0]:
        hops = {str(a): str(b) for a, b in db.rows("SELECT old_id, new_id FROM customer.id_redirect")}
    out: dict[str, str | None] = {}
    for old in hops:
        seen = {old}
        current = old
        while current in hops and hops[current] not in seen and current not in erased:
            current = hops[current]
            seen.add(current)
        out[old] = None if (current in erased or old in erased) else current
    for cid in erased:
        out.setdefault(cid, None)
    return sorted(out.items())


def _scalar(db: BatchEngine, sql: str) -> int:
    row = db.one(sql)
    return int(row[0]) if row and row[0] is not None else 0


def domain_counts(batch: BatchStore) -> dict[str, Any]:
    """Counts per domain of the data flow, for the console's domain-flow page (no customer data).

    ``landing``: per source system, rows read / accepted / quarantined over its loaded batches;
    ``quarantine``: per system and reason; ``business``: rows per business sub-domain and the
    total domain; ``customer``: party observations, golden customers, relationships, review;
    ``layer``: customers per business-layer sub-domain and in the total domain.
    """
    db = batch.engine
    landing: dict[str, dict[str, int]] = {}
    if batch.table_exists("meta.batch"):
        for system, batches, read, accepted, quarantined in db.rows(
            "SELECT system, count(*), sum(read_rows), sum(accepted), sum(quarantined) FROM meta.batch "
            "WHERE status IN ('loaded', 'purged') GROUP BY system ORDER BY system"
        ):
            landing[str(system)] = {"batches": int(batches), "read": int(read or 0), "accepted": int(accepted or 0),
                                    "quarantined": int(quarantined or 0)}
    quarantine: dict[str, dict[str, int]] = {}
    if batch.table_exists("meta.quarantine"):
        for system, reason, n in db.rows(
            "SELECT system, reason, count(*) FROM meta.quarantine GROUP BY ALL ORDER BY ALL"
        ):
            quarantine.setdefault(str(system), {})[str(reason)] = int(n)
    business: dict[str, int] = {}
    for qualified in db.tables("business"):  # the sub-domain tables (the total domain is a view over them)
        if qualified != "business.total":
            business[qualified.split(".", 1)[1]] = batch.count(qualified)
    # the total domain is their UNION ALL: its count is their sum, without reading it again
    business["total"] = sum(business.values()) if business else batch.count("business.total")
    customer = {
        "parties": batch.count("customer.party"),
        "golden": batch.count("customer.golden"),
        "relationships": batch.count("customer.relationship"),
        "review": batch.count("customer.review"),
        "erased": _scalar(db, "SELECT count(*) FROM meta.erased WHERE entity_key LIKE 'customer:%'")
        if batch.table_exists("meta.erased") else 0,
    }
    layer: dict[str, int] = {}
    for qualified in db.tables("layer"):
        if qualified != "layer.customer_view":
            layer[qualified.split(".", 1)[1]] = batch.count(qualified)
    layer["customer_view"] = batch.count("layer.customer_view")
    return {"landing": landing, "quarantine": quarantine, "business": business, "customer": customer,
            "layer": layer}


def _json_default(value: object) -> object:
    """Dates and timestamps as DuckDB's ``to_json`` writes them (fraction without trailing zeros)."""
    if isinstance(value, dt.datetime):
        text = f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value:%H:%M:%S}"
        if value.microsecond:
            text += "." + f"{value.microsecond:06d}".rstrip("0")
        return text
    if isinstance(value, dt.date):
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not part of a served document")


def jsonable(view: dict[str, Any]) -> dict[str, Any]:
    """A view as its served JSON document reads back: dates as text, numbers as JSON numbers."""
    loaded: dict[str, Any] = json.loads(json.dumps(view, default=_json_default, ensure_ascii=False))
    return loaded
