"""What the retention policy expires, and when: the plan that ``retention apply`` carries out and the report shows.

Everything is computed in the batch store through its engine, from the latest version of
each business record (as the 360° view shows it).  Dates are local dates of the policy's
time zone; a period that has run out *on* ``as_of`` is due.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from custodata.engine.port import BatchEngine
from custodata.retention.policy import RetentionPolicy, Rule

_LATEST = ("SELECT * FROM business.total QUALIFY row_number() OVER (PARTITION BY _source, record_key "
           "ORDER BY _ingested_at DESC, updated_at DESC NULLS LAST, _batch_id DESC) = 1")


@dataclass(frozen=True)
class Due:
    """One item the policy expires: a customer (personal, history) or a record (fields)."""

    rule_id: str
    customer_id: str | None
    source: str | None
    record_key: str | None
    business_type: str | None
    expires_on: dt.date
    rows: int = 1


def _has_business(db: BatchEngine) -> bool:
    return bool(db.scalar("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'business' "
                          "AND table_name = 'total'"))


def _records_sql(rule: Rule, params: list[object]) -> str:
    """The rule's records with the local date their period runs out (NULL: no date, never)."""
    if rule.after is None:  # the policy's validation requires it for these categories
        raise ValueError(f"retention rule {rule.id} has no date to run from")
    kinds = ", ".join("?" for _ in rule.business_types)
    params.append(rule.id)  # in the order the placeholders appear: the rule id, then the WHERE clause
    params.extend(str(t) for t in rule.business_types)
    where = [f"b._business_type IN ({kinds})"]
    for name, states in rule.when.items():
        where.append(f"CAST(b.{name} AS VARCHAR) IN ({', '.join('?' for _ in states)})")
        params.extend(states)
    expires = (f"CAST(CAST(b.{rule.after} AS DATE) + to_months({rule.keep.total_months}) "
               f"+ to_days({rule.keep.days}) AS DATE)")
    return (f"SELECT b._source AS source, b.record_key, b._business_type AS business_type, {expires} AS expires_on, "
            f"CAST(? AS VARCHAR) AS rule_id FROM ({_LATEST}) b WHERE {' AND '.join(where)}")


def personal_expiry(db: BatchEngine, policy: RetentionPolicy) -> list[Due]:
    """Every customer whose every record is under a personal rule with a date: when the last one runs out.

    A record several rules cover is kept until the latest of them; a customer with a record
    no rule covers (its purpose still served) is not listed — it does not expire.
    """
    rules = policy.of("personal")
    if not rules or not _has_business(db) or not db.exists("customer.xref"):
        return []
    params: list[object] = []
    union = " UNION ALL ".join(_records_sql(r, params) for r in rules)
    rows = db.rows(
        f"WITH r AS ({union}), rec AS (SELECT source, record_key, max(expires_on) AS expires_on, "
        "bool_or(expires_on IS NULL) AS never, arg_max(rule_id, expires_on) AS rule_id FROM r GROUP BY ALL) "
        "SELECT x.customer_id, max(rec.expires_on), arg_max(rec.rule_id, rec.expires_on), count(*) "
        "FROM customer.xref x JOIN customer.party p USING (obs_id) "
        "LEFT JOIN rec ON rec.source = p.source AND rec.record_key = p.record_key "
        "GROUP BY x.customer_id HAVING NOT bool_or(rec.record_key IS NULL OR rec.never) ORDER BY 2, 1", params)
    return [Due(str(rule), str(cid), None, None, None, day, int(n)) for cid, day, rule, n in rows]


def field_expiry(db: BatchEngine, policy: RetentionPolicy) -> list[Due]:
    """Records whose named fields a rule anonymises, with a value left in some version, and when."""
    rules = policy.of("fields")
    if not rules or not _has_business(db):
        return []
    out: list[Due] = []
    for rule in rules:
        params: list[object] = []
        inner = _records_sql(rule, params)
        filled = " OR ".join(f"t.{f} IS NOT NULL" for f in rule.fields)
        present = {t.rsplit(".", 1)[-1] for t in db.tables("business")}
        types = sorted({str(t) for t in rule.business_types} & present)
        if not types:
            continue
        versions = " UNION ALL BY NAME ".join(
            f"SELECT _source, record_key, {', '.join(rule.fields)} FROM business.{t}" for t in types)
        rows = db.rows(
            f"SELECT r.source, r.record_key, r.business_type, r.expires_on, min(x.customer_id) FROM ({inner}) r "
            f"JOIN ({versions}) t ON t._source = r.source AND t.record_key = r.record_key "
            "LEFT JOIN customer.party p ON p.source = r.source AND p.record_key = r.record_key "
            "LEFT JOIN customer.xref x ON x.obs_id = p.obs_id "
            f"WHERE r.expires_on IS NOT NULL AND ({filled}) GROUP BY ALL ORDER BY 4, 1, 2", params)
        out.extend(Due(rule.id, None if cid is None else str(cid), str(s), str(k), str(bt), day)
                   for s, k, bt, day, cid in rows)
    return out


def record_customers(db: BatchEngine, records: list[tuple[str, str]]) -> dict[tuple[str, str], set[str]]:
    """The customers a record's parties resolved to (a ticket's caller, a policy's holder and insured)."""
    if not records:
        return {}
    keys = [f"{s}:{k}" for s, k in records]
    out: dict[tuple[str, str], set[str]] = {}
    for source, key, cid in db.rows(
        "SELECT p.source, p.record_key, x.customer_id FROM customer.party p JOIN customer.xref x USING (obs_id) "
        "WHERE list_contains(?, p.source || ':' || p.record_key)", [keys]):
        out.setdefault((str(source), str(key)), set()).add(str(cid))
    return out


def history_cutoff(policy: RetentionPolicy, rule: Rule, as_of: dt.date) -> dt.datetime:
    """Naive UTC instant before which history has run out: local midnight of ``as_of`` less the period."""
    local = dt.datetime.combine(rule.keep.before(as_of) + dt.timedelta(days=1), dt.time(), ZoneInfo(policy.timezone))
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def history_expiry(db: BatchEngine, policy: RetentionPolicy) -> list[Due]:
    """Per customer and local day its history entries run out: how many."""
    rules = policy.of("history")
    if not rules or not db.exists("customer.history"):
        return []
    rule = rules[0]
    offset = int((dt.datetime.now(ZoneInfo(policy.timezone)).utcoffset() or dt.timedelta()).total_seconds())
    rows = db.rows(
        f"SELECT customer_id, CAST(CAST(changed_at + to_seconds({offset}) AS DATE) + to_months("
        f"{rule.keep.total_months}) + to_days({rule.keep.days}) AS DATE) AS d, count(*) FROM customer.history "
        "GROUP BY ALL ORDER BY 2, 1")
    return [Due(rule.id, str(cid), None, None, None, day, int(n)) for cid, day, n in rows]


__all__ = ["Due", "field_expiry", "history_cutoff", "history_expiry", "personal_expiry", "record_customers"]
