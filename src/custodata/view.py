"""The customer 360° view: one golden customer with everything known about them.

Profile, type, segment and tags from the customer business layer; the
business records behind them (policies, accounts, cards, loans, tickets) with
the role the customer plays; relationships; and the source records (lineage)
that made this customer.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any

from custodata.crypto import Protector, is_token
from custodata.domains.business import PROTECTED_PARTY_FIELDS, PROTECTED_RECORD_FIELDS, field_aad
from custodata.engine.port import BatchEngine
from custodata.errors import NotFoundError
from custodata.masking.policy import MaskingPolicy
from custodata.resolution.golden import golden_aad
from custodata.resolution.identity import resolve_id


@dataclass(frozen=True)
class Section:
    """One list section of the view as SQL, shared by the one-customer read and the bulk build.

    ``owner`` is the SQL expression of the customer a row belongs to; ``columns``
    are (key, SQL expression) pairs in the order the view shows them.  The served
    view (:mod:`custodata.serving`) aggregates the very same rows per customer, so
    both paths cannot drift apart.
    """

    owner: str
    columns: tuple[tuple[str, str], ...]
    source: str
    order: tuple[str, ...]  # ascending, NULLs last

    def select_for_one(self) -> str:
        cols = ", ".join(f"{expr} AS {key}" for key, expr in self.columns)
        return f"SELECT {cols} FROM {self.source} WHERE {self.owner} = ? ORDER BY {', '.join(self.order)}"

    def entries(self) -> str:
        """The section's rows, one per entry: ``customer_id`` and ``e``, a struct of its order key ``k``
        (each part led by an is-NULL flag, so NULLs sort last as in ORDER BY) and its value ``v``."""
        key = ", ".join(f"'n{i}': {e} IS NULL, 'k{i}': {e}" for i, e in enumerate(self.order))
        struct = ", ".join(f"'{k}': {expr}" for k, expr in self.columns)
        return f"SELECT {self.owner} AS customer_id, {{'k': {{{key}}}, 'v': {{{struct}}}}} AS e FROM {self.source}"

    def aggregate(self, name: str, entries: str | None = None) -> str:
        """One row per customer: ``customer_id`` and the section as a list of structs, in view order.

        The list of :meth:`entries` (or of a table of them) is sorted by the order key and
        then stripped of it: two to three times faster in DuckDB than an ordered aggregate
        ``list(... ORDER BY ...)``.
        """
        return (f"SELECT customer_id, list_transform(list_sort(list(e)), x -> x.v) AS {name} "
                f"FROM ({entries or self.entries()}) GROUP BY customer_id")


# the latest version of every business record (a re-ingested record replaces its older rows)
LATEST_RECORDS = (
    "SELECT * FROM business.total QUALIFY row_number() OVER (PARTITION BY _source, record_key "
    "ORDER BY _ingested_at DESC, updated_at DESC NULLS LAST, _batch_id DESC) = 1"
)
PROFILE = "SELECT * EXCLUDE (provenance) FROM layer.customer_view"
RECORDS = Section(
    owner="x.customer_id",
    columns=(
        ("business_type", "b._business_type"), ("source", "b._source"), ("record_key", "b.record_key"),
        ("role", "p.role"), ("product", "b.product"), ("amount", "b.amount"), ("currency", "b.currency"),
        ("start_date", "b.start_date"), ("end_date", "b.end_date"), ("status", "b.status"),
        ("category", "b.category"), ("card_no", "b.card_no"), ("account_no", "b.account_no"),
        ("policy_no", "b.policy_no"), ("vehicle_plate", "b.vehicle_plate"), ("branch", "b.branch"),
        ("remark", "b.remark"), ("batch_id", "b._batch_id"),
    ),
    source=f"customer.xref x JOIN customer.party p USING (obs_id) "
           f"JOIN ({LATEST_RECORDS}) b ON b._source = p.source AND b.record_key = p.record_key",
    order=("b._business_type", "b.record_key", "p.role", "b._source"),
)
LINEAGE = Section(
    owner="x.customer_id",
    columns=(
        ("obs_id", "x.obs_id"), ("source", "x.source"), ("record_key", "x.record_key"), ("role", "x.role"),
        ("batch_id", "x.batch_id"), ("first_batch_id", "x.first_batch_id"), ("name", "p.name"),
        ("id_number", "p.id_number"), ("mobile", "p.mobile"), ("updated_at", "p.updated_at"),
    ),
    source="customer.xref x LEFT JOIN customer.party p USING (obs_id)",
    order=("x.obs_id",),
)
# each relationship seen from both of its customers
RELATIONSHIPS = Section(
    owner="r.owner_id",
    columns=(("other_id", "r.other_id"), ("kind", "r.kind"), ("evidence", "r.evidence"),
             ("other_name", "g.name"), ("other_kind", "g.kind")),
    source="(SELECT customer_a AS owner_id, customer_b AS other_id, kind, evidence FROM customer.relationship "
           "UNION ALL SELECT customer_b, customer_a, kind, evidence FROM customer.relationship "
           "WHERE customer_a <> customer_b) r JOIN customer.golden g ON g.customer_id = r.other_id",
    order=("r.kind", "r.other_id", "r.evidence"),
)
HISTORY = Section(
    owner="h.customer_id",
    columns=(("field", "h.field"), ("old_value", "h.old_value"), ("new_value", "h.new_value"),
             ("run_id", "h.run_id"), ("batch_id", "h.batch_id"), ("cause", "h.cause"),
             ("changed_at", "h.changed_at")),
    source="customer.history h",
    order=("h.changed_at", "h.field", "h.run_id", "h.old_value", "h.new_value"),
)
SECTIONS: dict[str, Section] = {
    "records": RECORDS, "relationships": RELATIONSHIPS, "lineage": LINEAGE, "history": HISTORY,
}


def _dicts(db: BatchEngine, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    return db.dicts(sql, params)


def _erased(db: BatchEngine, customer_id: str) -> None:
    row = db.one(
        "SELECT erased_at, reason FROM meta.erased WHERE entity_key = ?", [f"customer:{customer_id}"]
    )
    if row:
        raise NotFoundError(f"customer {customer_id} was erased on {row[0]:%Y-%m-%d} ({row[1]})")


def customer_360_encrypted(db: BatchEngine, customer_id: str) -> dict[str, Any]:
    """Everything about one customer as stored: protected fields still ciphertext.

    An old (merged) id is followed to its survivor; an erased customer is reported as such.
    This is the form the served view keeps at rest; :func:`decrypt_view` opens it.
    """
    _erased(db, customer_id)
    current = resolve_id(db, customer_id)
    _erased(db, current)
    profile = _dicts(db, f"{PROFILE} WHERE customer_id = ?", [current])
    if not profile:
        raise NotFoundError(f"customer {customer_id} not found")
    view: dict[str, Any] = {"customer_id": current, "requested_id": customer_id, "profile": profile[0]}
    for name, section in SECTIONS.items():
        view[name] = _dicts(db, section.select_for_one(), [current])
    return view


def decrypt_view(view: dict[str, Any], protector: Protector) -> dict[str, Any]:
    """A copy of ``view`` with its protected fields decrypted, each under the AAD its position implies.

    The AADs come from the view itself (the customer id for the profile, the record for
    business fields, the observation for lineage), so a ciphertext moved to another
    customer or row fails to decrypt instead of showing the wrong person's value.
    """
    dec = protector.decrypt
    current = str(view["customer_id"])
    profile = dict(view["profile"])
    for f in PROTECTED_PARTY_FIELDS:
        if f in profile:
            profile[f] = dec(profile[f], golden_aad(current, f))
    records = []
    for row in view["records"]:
        r = dict(row)
        for f in PROTECTED_RECORD_FIELDS:
            if f in r:
                r[f] = dec(r[f], field_aad(f"{r['source']}:{r['record_key']}", f))
        records.append(r)
    lineage = []
    for row in view["lineage"]:
        r = dict(row)
        for f in PROTECTED_PARTY_FIELDS:
            if f in r:
                r[f] = dec(r[f], field_aad(r["obs_id"], f))
        lineage.append(r)
    return {**view, "profile": profile, "records": records, "lineage": lineage}


def customer_360(db: BatchEngine, customer_id: str, protector: Protector) -> dict[str, Any]:
    """Everything about one customer, protected fields decrypted for the masking layer to show.

    An old (merged) id is followed to its survivor; an erased customer is reported as such.
    Callers must pass the result through masking before a person sees it.
    """
    return decrypt_view(customer_360_encrypted(db, customer_id), protector)


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


_SHOW = object()  # a plan step: the value as it is
_DROP = object()  # a plan step: the key left out (a keyed token: for machines, never shown)
_Step = Any  # _SHOW, _DROP, None (withheld) or a masking Decision to apply
_MAX_SHAPES = 256  # row shapes remembered per (policy, role, purpose); a view has a handful


def _plan(policy: MaskingPolicy, role: str, purpose: str | None, shape: tuple[str, ...]) -> tuple[_Step, ...]:
    """What to do with each key of a row of this shape: the rules of mask_view, decided once per shape.

    Keys that are graded, named in ``_FIELD_OF``, public, or counts (``n_*``) are masked
    as :meth:`MaskingPolicy.mask_record` masks them; a value derived from a graded field
    is shown only where that field is shown in plain; anything else is withheld.
    """
    steps: list[_Step] = []
    grading = policy.grading
    for k in shape:
        if k.endswith("_token"):  # keyed tokens are for machines (joins), not people: never a value shown
            steps.append(_DROP)
        elif k in grading.fields or k in _FIELD_OF or k in _PUBLIC or k.startswith("n_"):  # n_*: counts of holdings
            name = _FIELD_OF.get(k, k)
            if name is None:
                steps.append(_SHOW)
            elif name in grading.fields:
                steps.append(policy.decide(name, role, purpose))
            elif name in grading.types:
                steps.append(policy.decide_typed(name, role, purpose))
            else:
                steps.append(_SHOW)
        elif k in _DERIVED_FROM:
            decision = policy.decide(_DERIVED_FROM[k], role, purpose)
            steps.append(_SHOW if decision.effect == "allow" and decision.operator == "plain" else None)
        else:
            steps.append(None)  # fails closed: neither graded, nor derived, nor known to be non-personal
    return tuple(steps)


_PLANS: weakref.WeakKeyDictionary[MaskingPolicy, dict[tuple[str, str | None], dict[tuple[str, ...], tuple[_Step, ...]]]]
_PLANS = weakref.WeakKeyDictionary()
_PLANS_LOCK = threading.Lock()


def _plans_for(policy: MaskingPolicy, role: str, purpose: str | None) -> dict[tuple[str, ...], tuple[_Step, ...]]:
    """The plans of one (policy, role, purpose); a policy is immutable, so they hold as long as it lives."""
    with _PLANS_LOCK:
        per_policy = _PLANS.get(policy)
        if per_policy is None:
            per_policy = _PLANS[policy] = {}
        plans = per_policy.get((role, purpose))
        if plans is None or len(plans) > _MAX_SHAPES:
            plans = per_policy[(role, purpose)] = {}
        return plans


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
    graded = policy.grading.fields
    policy.decide("customer_id", role, purpose)  # an unknown role or purpose fails before any row
    plans = _plans_for(policy, role, purpose)

    def record_key(source: Any, key: Any) -> Any:
        if key is None or is_token(key):  # a token is already a pseudonym
            return key
        field = keys.get(str(source))
        if field:
            return policy.mask_value(field, key, role, purpose)
        return policy.mask_typed(RECORD_KEY_TYPE, key, role, purpose)

    def rec(row: dict[str, Any]) -> dict[str, Any]:
        # the plan is keyed by the row's own keys, tokens included (dropped by their step)
        shape = tuple(row)
        plan = plans.get(shape)
        if plan is None:
            plan = plans[shape] = _plan(policy, role, purpose, shape)
        out: dict[str, Any] = {}
        for (k, v), step in zip(row.items(), plan, strict=True):
            if step is _SHOW:
                out[k] = v
            elif step is None:
                out[k] = None
            elif step is not _DROP:
                out[k] = step.apply(v)
        if "record_key" in out:
            out["record_key"] = record_key(row.get("source"), row["record_key"])
        if "obs_id" in out:
            out["obs_id"] = f"{out['source']}:{out['record_key']}:{out['role']}"
        if row.get("evidence") is not None:
            source, _, key = str(row["evidence"]).partition(":")
            out["evidence"] = f"{source}:{record_key(source, key)}" if source != "golden" else row["evidence"]
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
