"""The 360° view's masking rule: every section of a customer's view through the one masking policy.

A view row's keys are graded fields, keys that carry a field's content under another
name, values derived from a graded field, public keys that say nothing about a person,
or anything else — withheld (fail closed).  The plan for a row shape is decided once per
(policy, role, purpose), since a view has a handful of shapes and is read on every request.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from custodata.crypto import is_token
from custodata.masking.policy import MaskingPolicy

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
