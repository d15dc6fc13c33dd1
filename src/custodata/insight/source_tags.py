"""Source tags resolved to one value per customer, with the record it came from.

A customer with three car policies carries three ``车险风险评分`` values from the source
system; the layer keeps them all as a list (``raw_tags``). A segment needs one value, so
each source tag of the catalogue declares how to pick it — the latest record's, the
highest, the lowest, or "any record says yes" — and the chosen value keeps its
provenance (source system, record key, when) so a marketer can see where it came from.
"""

from __future__ import annotations

from custodata.engine.port import BatchEngine, Step
from custodata.insight.catalogue import SOURCE_KINDS, Catalogue, Tag
from custodata.insight.records import RECORDS

TAG_VALUES = "insight.tag_value"
TAG_VALUE_COLUMNS = ("customer_id", "tag_id", "version", "value", "source", "record_key", "observed_at")
TRUTHY = ("1", "true", "t", "y", "yes", "是", "有")

_DDL = (f"CREATE OR REPLACE TABLE {TAG_VALUES} (customer_id VARCHAR, tag_id VARCHAR, version INTEGER, "
        "value VARCHAR, source VARCHAR, record_key VARCHAR, observed_at TIMESTAMP)")


def _order(tag: Tag) -> str:
    latest = "observed_at DESC NULLS LAST, ingested_at DESC NULLS LAST, source, record_key"
    typed = "TRY_CAST(raw AS DOUBLE)" if tag.value_type == "number" else "TRY_CAST(raw AS DATE)"
    if tag.resolve == "max":
        return f"{typed} DESC NULLS LAST, {latest}"
    if tag.resolve == "min":
        return f"{typed} ASC NULLS LAST, {latest}"
    if tag.resolve == "any":
        return f"truthy DESC, {latest}"
    return latest


def resolve_sql(tag: Tag, records: str = RECORDS) -> tuple[str, tuple[object, ...]]:
    """SQL (and its parameters) giving the tag's one value per customer, with provenance."""
    truthy = ", ".join("?" for _ in TRUTHY)
    roles = f" AND list_has_any(roles, [{', '.join('?' for _ in tag.roles)}])" if tag.roles else ""
    value = "CASE WHEN truthy THEN 'true' ELSE 'false' END" if tag.resolve == "any" else "raw"
    sql = f"""
        WITH v AS (
            SELECT customer_id, source, record_key, coalesce(updated_at, ingested_at) AS observed_at, ingested_at,
                   t.value AS raw, lower(trim(t.value)) IN ({truthy}) AS truthy
            FROM (SELECT *, unnest(tags) AS t FROM {records} WHERE source = ?{roles})
            WHERE t.name = ? AND t.value IS NOT NULL
        )
        SELECT customer_id, ? AS tag_id, CAST(? AS INTEGER) AS version, {value} AS value,
               source, record_key, observed_at
        FROM v
        QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY {_order(tag)}) = 1
    """
    return sql, (*TRUTHY, tag.source.system, *tag.roles, tag.source.name, tag.id, tag.version)


def build_tag_values(db: BatchEngine, catalogue: Catalogue, records: str = RECORDS) -> dict[str, int]:
    """``insight.tag_value`` rebuilt for every source tag; returns customers with a value per tag."""
    db.execute("CREATE SCHEMA IF NOT EXISTS insight")
    db.execute(_DDL)
    steps = []
    for tag in catalogue.tags.values():
        if tag.kind in SOURCE_KINDS:
            sql, params = resolve_sql(tag, records)
            steps.append(Step(sql, TAG_VALUES, params, mode="insert"))
    db.run(steps)
    return {str(k): int(n) for k, n in db.rows(f"SELECT tag_id, count(*) FROM {TAG_VALUES} GROUP BY 1 ORDER BY 1")}
