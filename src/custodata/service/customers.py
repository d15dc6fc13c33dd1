"""Customer look-ups for a person: search, the 360° view, unmasking one field, lineage.

Order of every operation: permission → the row rule for this customer → the data,
masked by the caller's role and purpose → the audit event.  A denial at any step
is audited too, with the rule that refused.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import TYPE_CHECKING, Any

from custodata.audit.events import Action, Result
from custodata.errors import NotFoundError
from custodata.service.context import AccessDenied, Caller, Services
from custodata.view import mask_view

if TYPE_CHECKING:
    from custodata.access.engine import AccessDecision

SEARCH_LIMIT = 20


@cache
def record_key_fields() -> dict[str, str | None]:
    """Per source system, the canonical field its record keys are (masked as that field)."""
    from custodata.sources.mapping import default_mappings_dir, load_mappings

    return {m.system: m.fields.get(m.record_key) for m in load_mappings(default_mappings_dir())}


def _row_decision(svc: Services, caller: Caller, action: str, customer_id: str,
                  branches: frozenset[str]) -> AccessDecision:
    engine = svc.engine
    p = caller.principal
    scope = engine.row_scope(p, action=action)
    # a customer assigned to the person counts under both scopes (a front-desk clerk's own clients elsewhere)
    in_portfolio = scope in ("portfolio", "branch") and svc.directory.in_portfolio(p.person_id, customer_id)
    return engine.check_row(p, action, customer_branches=branches, in_portfolio=in_portfolio, at=svc.clock())


def _check_row(svc: Services, caller: Caller, action: str, audit_action: Action, customer_id: str,
               branches: frozenset[str], purpose: str | None) -> None:
    decision = _row_decision(svc, caller, action, customer_id, branches)
    if not decision.allowed:
        svc.record(caller, audit_action, Result.DENIED, customer_ids=[customer_id], purpose=purpose,
                   reason=decision.reason)
        raise AccessDenied(decision.reason, decision)


def _visible(svc: Services, caller: Caller, action: str, customer_id: str, branches: frozenset[str]) -> bool:
    return _row_decision(svc, caller, action, customer_id, branches).allowed


def _fetch(svc: Services, caller: Caller, action: Action, customer_id: str, purpose: str | None) -> dict[str, Any]:
    try:
        return svc.served.get(customer_id)
    except NotFoundError as exc:
        svc.record(caller, action, Result.FAILED, customer_ids=[customer_id], purpose=purpose, reason=str(exc))
        raise


def _shown_fields(section: dict[str, Any]) -> list[str]:
    return sorted(k for k, v in section.items() if v is not None)


def view(svc: Services, caller: Caller, customer_id: str, *, purpose: str | None = None) -> dict[str, Any]:
    """The customer's 360° view as the caller may see it."""
    svc.require(caller, "customer.read", Action.READ, customer_ids=[customer_id], purpose=purpose)
    try:
        served = svc.served.read(customer_id)  # document and branches in one read
    except NotFoundError as exc:
        svc.record(caller, Action.READ, Result.FAILED, customer_ids=[customer_id], purpose=purpose, reason=str(exc))
        raise
    full = served.view
    current = str(full["customer_id"])
    _check_row(svc, caller, "customer.read", Action.READ, current, served.branches, purpose)
    masked = mask_view(full, svc.engine.masking, caller.role, purpose, key_fields=record_key_fields())
    svc.record(caller, Action.READ, customer_ids=[current], fields=_shown_fields(masked["profile"]), purpose=purpose,
               detail={"records": len(masked["records"]), "requested_id": customer_id})
    return masked


def search(svc: Services, caller: Caller, *, name: str | None = None, id_number: str | None = None,
           mobile: str | None = None, customer_id: str | None = None,
           limit: int = SEARCH_LIMIT) -> list[dict[str, Any]]:
    """Search before create: the customers matching, those the caller may see, names masked.

    The criteria are never written to the audit log (an ID number is itself sensitive);
    only which kinds of criteria were used and the customers returned.
    """
    criteria = {k: v for k, v in (("name", name), ("id_number", id_number), ("mobile", mobile),
                                  ("customer_id", customer_id)) if v}
    svc.require(caller, "customer.search", Action.SEARCH)
    if not criteria:
        svc.record(caller, Action.SEARCH, Result.FAILED, reason="no search criteria")
        raise ValueError("give at least one of: name, id_number, mobile, customer_id")
    hits = svc.served.search(name=name, id_number=id_number, mobile=mobile, customer_id=customer_id,
                             limit=max(1, min(limit, 100)))
    masking = svc.engine.masking
    shown = []
    hidden = 0
    for hit in hits:
        branches = frozenset(hit.get("branches") or ())
        if not _visible(svc, caller, "customer.read", str(hit["customer_id"]), branches):
            hidden += 1
            continue
        shown.append({
            "customer_id": hit["customer_id"], "kind": hit.get("kind"), "segment": hit.get("segment"),
            "name": masking.mask_value("name", hit.get("name"), caller.role),
            "branches": sorted(branches),
        })
    svc.record(caller, Action.SEARCH, customer_ids=[h["customer_id"] for h in shown],
               detail={"criteria": sorted(criteria), "hits": len(hits), "outside_scope": hidden})
    return shown


def unmask(svc: Services, caller: Caller, customer_id: str, field: str, *, purpose: str | None) -> dict[str, Any]:
    """One field of one customer in plain, for a stated purpose; logged as such."""
    svc.require(caller, "customer.unmask", Action.UNMASK, customer_ids=[customer_id], purpose=purpose)
    decision = svc.engine.check_unmask(caller.principal, field, purpose, at=svc.clock())
    if not decision.allowed:
        svc.record(caller, Action.UNMASK, Result.DENIED, customer_ids=[customer_id], fields=[field],
                   purpose=purpose, reason=decision.reason)
        raise AccessDenied(decision.reason, decision)
    if decision.max_per_day is not None:
        now = svc.clock()
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        used = svc.audit.count(actor=caller.person_id, action=Action.UNMASK.value, result="ok",
                               since=midnight, until=now + dt.timedelta(seconds=1))
        if used >= decision.max_per_day:
            reason = f"daily unmask limit reached: {used} of {decision.max_per_day} (rule {decision.rule})"
            svc.record(caller, Action.UNMASK, Result.DENIED, customer_ids=[customer_id], fields=[field],
                       purpose=purpose, reason=reason)
            raise AccessDenied(reason, decision)
    full = _fetch(svc, caller, Action.UNMASK, customer_id, purpose)
    current = str(full["customer_id"])
    _check_row(svc, caller, "customer.unmask", Action.UNMASK, current, svc.served.branches_of(current), purpose)
    if field not in full["profile"]:
        svc.record(caller, Action.UNMASK, Result.FAILED, customer_ids=[current], fields=[field], purpose=purpose,
                   reason=f"no field {field}")
        raise NotFoundError(f"customer {current} has no field {field!r}")
    svc.record(caller, Action.UNMASK, customer_ids=[current], fields=[field], purpose=purpose,
               reason=decision.reason)
    return {"customer_id": current, "field": field, "value": full["profile"][field], "purpose": purpose}


def lineage(svc: Services, caller: Caller, customer_id: str, *, purpose: str | None = None) -> dict[str, Any]:
    """Which source records made this customer, masked like the view."""
    svc.require(caller, "customer.lineage", Action.READ, customer_ids=[customer_id], purpose=purpose)
    full = _fetch(svc, caller, Action.READ, customer_id, purpose)
    current = str(full["customer_id"])
    _check_row(svc, caller, "customer.lineage", Action.READ, current, svc.served.branches_of(current), purpose)
    masked = mask_view(full, svc.engine.masking, caller.role, purpose, key_fields=record_key_fields())
    svc.record(caller, Action.READ, customer_ids=[current], purpose=purpose, detail={"section": "lineage"})
    return {"customer_id": current, "lineage": masked["lineage"], "records": masked["records"]}


def domain_counts(svc: Services, caller: Caller) -> dict[str, Any]:
    """Counts per domain of the data flow (no customer data)."""
    svc.require(caller, "domains.read", Action.READ)
    return svc.served.domain_counts()
