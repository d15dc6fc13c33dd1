"""The customer 360° view: one golden customer with everything known about them.

Profile, type, segment and tags from the customer business layer; the
business records behind them (policies, accounts, cards, loans, tickets) with
the role the customer plays; relationships; and the source records (lineage)
that made this customer.
"""

from __future__ import annotations

from typing import Any

import duckdb

from custodata.crypto import Protector, is_token
from custodata.domains.business import PROTECTED_PARTY_FIELDS, PROTECTED_RECORD_FIELDS, field_aad
from custodata.errors import NotFoundError
from custodata.masking.policy import MaskingPolicy
from custodata.resolution.golden import golden_aad
from custodata.resolution.identity import resolve_id


def _dicts(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = con.execute(sql, params)
    cols = [d[0] for d in cur.description or []]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def _erased(con: duckdb.DuckDBPyConnection, customer_id: str) -> None:
    row = con.execute(
        "SELECT erased_at, reason FROM meta.erased WHERE entity_key = ?", [f"customer:{customer_id}"]
    ).fetchone()
    if row:
        raise NotFoundError(f"customer {customer_id} was erased on {row[0]:%Y-%m-%d} ({row[1]})")


def customer_360(con: duckdb.DuckDBPyConnection, customer_id: str, protector: Protector) -> dict[str, Any]:
    """Everything about one customer, protected fields decrypted for the masking layer to show.

    An old (merged) id is followed to its survivor; an erased customer is reported as such.
    Callers must pass the result through masking before a person sees it.
    """
    _erased(con, customer_id)
    current = resolve_id(con, customer_id)
    _erased(con, current)
    profile = _dicts(con, "SELECT * EXCLUDE (provenance) FROM layer.customer_view WHERE customer_id = ?", [current])
    if not profile:
        raise NotFoundError(f"customer {customer_id} not found")
    records = _dicts(
        con,
        """
        WITH latest AS (
            SELECT * FROM business.total
            QUALIFY row_number() OVER (PARTITION BY _source, record_key
                ORDER BY _ingested_at DESC, updated_at DESC NULLS LAST) = 1)
        SELECT b._business_type AS business_type, b._source AS source, b.record_key, p.role,
               b.product, b.amount, b.currency, b.start_date, b.end_date, b.status, b.category,
               b.card_no, b.account_no, b.policy_no, b.vehicle_plate, b.branch, b.remark,
               b._batch_id AS batch_id
        FROM customer.xref x JOIN customer.party p USING (obs_id)
        JOIN latest b ON b._source = p.source AND b.record_key = p.record_key
        WHERE x.customer_id = ? ORDER BY b._business_type, b.record_key, p.role
        """,
        [current],
    )
    lineage = _dicts(
        con,
        "SELECT x.obs_id, x.source, x.record_key, x.role, x.batch_id, x.first_batch_id, "
        "p.name, p.id_number, p.mobile, p.updated_at FROM customer.xref x "
        "LEFT JOIN customer.party p USING (obs_id) WHERE x.customer_id = ? ORDER BY x.obs_id",
        [current],
    )
    relationships = _dicts(
        con,
        "SELECT CASE WHEN r.customer_a = ? THEN r.customer_b ELSE r.customer_a END AS other_id, "
        "r.kind, r.evidence, g.name AS other_name, g.kind AS other_kind FROM customer.relationship r "
        "JOIN customer.golden g ON g.customer_id = CASE WHEN r.customer_a = ? THEN r.customer_b "
        "ELSE r.customer_a END WHERE ? IN (r.customer_a, r.customer_b) ORDER BY r.kind, other_id",
        [current, current, current],
    )
    history = _dicts(
        con,
        "SELECT field, old_value, new_value, run_id, batch_id, cause, changed_at "
        "FROM customer.history WHERE customer_id = ? ORDER BY changed_at, field",
        [current],
    )
    dec = protector.decrypt
    for f in PROTECTED_PARTY_FIELDS:
        if f in profile[0]:
            profile[0][f] = dec(profile[0][f], golden_aad(current, f))
    for r in records:
        for f in PROTECTED_RECORD_FIELDS:
            if f in r:
                r[f] = dec(r[f], field_aad(f"{r['source']}:{r['record_key']}", f))
    for r in lineage:
        for f in PROTECTED_PARTY_FIELDS:
            if f in r:
                r[f] = dec(r[f], field_aad(r["obs_id"], f))
    return {
        "customer_id": current,
        "requested_id": customer_id,
        "profile": profile[0],
        "records": records,
        "relationships": relationships,
        "lineage": lineage,
        "history": history,
    }


# view keys that are not canonical fields but carry one's content (key -> canonical field or type)
_FIELD_OF: dict[str, str | None] = {"name_pinyin": "person_name", "other_name": "name", "customer_name": "name"}
# derived values: shown only where the field they derive from would be shown in plain
_DERIVED_FROM: dict[str, str] = {
    "deposit_balance": "amount", "premium_total": "amount", "credit_limit": "amount", "loan_total": "amount",
    "age": "birth_date", "raw_tags": "amount",
}
# keys that say nothing about a person; every other key not graded is withheld (fail closed)
_PUBLIC = frozenset({
    "customer_id", "requested_id", "kind", "customer_type", "segment", "tags", "sources", "n_records",
    "first_seen", "last_updated", "business_type", "source", "role", "product", "category", "currency",
    "start_date", "end_date", "status", "branch", "batch_id", "first_batch_id", "updated_at", "other_id",
    "run_id", "cause", "changed_at", "field", "record_key", "obs_id", "evidence", "other_kind",
})
RECORD_KEY_TYPE = "policy_number"  # a business record's own number (policy, contract, ticket), unless mapped


def _without_tokens(row: dict[str, Any]) -> dict[str, Any]:
    """Keyed tokens are for machines (joins), not for people: a view never shows them as values."""
    return {k: v for k, v in row.items() if not k.endswith("_token")}


def mask_view(
    view: dict[str, Any], policy: MaskingPolicy, role: str, purpose: str | None = None, *,
    key_fields: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """The 360° view as ``role`` may see it: every section through the one masking policy.

    Fails closed: a key that is neither graded, nor derived from a graded field, nor known
    to be non-personal is withheld.  ``key_fields`` names, per source system, the canonical
    field its record keys are (a policy number is masked as one wherever it is a key).
    """
    keys = key_fields or {}
    graded = set(policy.grading.fields)

    def gate(field: str, value: Any) -> Any:
        decision = policy.decide(field, role, purpose)
        return value if decision.effect == "allow" and decision.operator == "plain" else None

    def record_key(source: Any, key: Any) -> Any:
        if key is None or is_token(key):  # a token is already a pseudonym
            return key
        field = keys.get(str(source))
        if field:
            return policy.mask_value(field, key, role, purpose)
        return policy.mask_typed(RECORD_KEY_TYPE, key, role, purpose)

    def rec(row: dict[str, Any]) -> dict[str, Any]:
        clean = _without_tokens(row)
        out = policy.mask_record(clean, role, purpose, field_of=_FIELD_OF)
        for k, v in clean.items():
            if k in graded or k in _FIELD_OF or k in _PUBLIC or k.startswith("n_"):  # n_*: counts of holdings
                continue
            out[k] = gate(_DERIVED_FROM[k], v) if k in _DERIVED_FROM else None
        if "record_key" in clean:
            out["record_key"] = record_key(clean.get("source"), clean["record_key"])
        if "obs_id" in clean:
            out["obs_id"] = f"{out['source']}:{out['record_key']}:{out['role']}"
        if clean.get("evidence") is not None:
            source, _, key = str(clean["evidence"]).partition(":")
            out["evidence"] = f"{source}:{record_key(source, key)}" if source != "golden" else clean["evidence"]
        return out

    def relation(row: dict[str, Any]) -> dict[str, Any]:
        out = rec(row)
        if row.get("other_kind") == "corporate":  # a company's registered name is not a person's name
            out["other_name"] = policy.mask_typed("company_name", row.get("other_name"), role, purpose)
        return out

    def history(row: dict[str, Any]) -> dict[str, Any]:
        out = dict(row)
        field = _FIELD_OF.get(str(row["field"]), str(row["field"]))
        for k in ("old_value", "new_value"):
            if row[k] is None:
                continue
            if is_token(row[k]):
                out[k] = "(token)"  # protected fields are historised as tokens
            elif field in graded or field in policy.grading.types:
                out[k] = (policy.mask_value(field, row[k], role, purpose) if field in graded
                          else policy.mask_typed(field, row[k], role, purpose))
            else:
                out[k] = None
        return out

    return {
        **view,
        "profile": rec(view["profile"]),
        "records": [rec(r) for r in view["records"]],
        "relationships": [relation(r) for r in view["relationships"]],
        "lineage": [rec(r) for r in view["lineage"]],
        "history": [history(r) for r in view["history"]],
        "masked_for": {"role": role, "purpose": purpose},
    }
