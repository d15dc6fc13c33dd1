"""Customer look-ups for a person: search, the 360° view, unmasking one field, lineage.

Order of every operation: permission → the purpose stated, against the role →
the row rule for this customer → the data, masked by the caller's role and
purpose → the audit event.  A denial at any step is audited too, with the rule
that refused.

Plaintext of a protected field is an unmasking however it is obtained: asked
for (:func:`unmask`), shown by a view whose purpose unmasks it (the security
officer's fraud investigation), or confirmed by a search on the exact value
(an ID number or mobile: a hit tells the caller the number is the customer's,
so trying the few dozen candidates a masked ID leaves recovers it).  Each needs
the caller's unmask rule for that field and purpose and takes from the rule's
daily allowance, atomically (:mod:`custodata.access.limits`); exact-identifier
searches are also capped per minute and per day, and misses count like hits.
Misses are also counted on their own: after ``identifier_misses_per_day`` (5)
searches that showed no customer, search by identifier is refused for the rest
of the day, so of the ~32 IDs a masked one leaves at most 5 can be tried a day.
Each such search is audited with the kinds of identifier used and whether it
hit, missed or was refused (never the value), for the enumeration detector.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from custodata.access.limits import Allowance, give_back, local_day, local_minute, take
from custodata.audit.events import Action, Result
from custodata.errors import NotFoundError
from custodata.masking.policy import MaskingPolicy
from custodata.masking.view_masking import mask_view
from custodata.service.context import AccessDenied, Caller, Services, audited, mark_audited, refusal_reason

if TYPE_CHECKING:
    from custodata.access.engine import AccessDecision

SEARCH_LIMIT = 20
# search criteria that name one person exactly -> the canonical field they are a use of
# (card and account numbers join here when the served view can search by them)
IDENTIFIER_CRITERIA: dict[str, str] = {"id_number": "id_number", "mobile": "mobile"}
IDENTIFIER_SEARCH = "identifier-search"  # the counter of exact-identifier searches
IDENTIFIER_MISS = "identifier-miss"      # ... of those that showed no customer (taken first, given back on a hit)


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
        svc.record(caller, action, Result.FAILED, customer_ids=[customer_id], purpose=purpose,
                   reason=refusal_reason(exc))
        raise mark_audited(exc) from None


def _shown_fields(section: dict[str, Any]) -> list[str]:
    return sorted(k for k, v in section.items() if v is not None)


def _check_purpose(svc: Services, caller: Caller, permission: str, audit_action: Action,
                   customer_ids: Sequence[str], purpose: str | None) -> None:
    decision = svc.engine.check_purpose(caller.principal, purpose, permission)
    if not decision.allowed:  # the reason quotes the purpose as typed: cut any value out of it
        svc.record(caller, audit_action, Result.DENIED, customer_ids=customer_ids, purpose=purpose,
                   reason=refusal_reason(ValueError(decision.reason)))
        raise AccessDenied(decision.reason, decision)


def _daily_unmask(svc: Services, decision: AccessDecision, amount: int = 1) -> list[Allowance]:
    """The rule's daily allowance to take (none when the rule sets no limit)."""
    if decision.max_per_day is None:
        return []
    day = local_day(svc.clock(), svc.engine.limits.timezone)
    return [Allowance(f"unmask:{decision.rule}", day, decision.max_per_day,
                      f"daily unmask limit of {decision.max_per_day} reached (rule {decision.rule}, "
                      f"day {day} {svc.engine.limits.timezone})", amount)]


_PLAIN_FIELDS: weakref.WeakKeyDictionary[MaskingPolicy, dict[tuple[str, str | None], tuple[str, ...]]]
_PLAIN_FIELDS = weakref.WeakKeyDictionary()
_PLAIN_LOCK = threading.Lock()


def _plain_fields(masking: MaskingPolicy, role: str, purpose: str | None) -> tuple[str, ...]:
    """The protected fields ``role`` sees in plain for ``purpose``: decided once per (policy, role, purpose).

    A masking policy is immutable (a new version is a new object), so the answer holds as long as it lives.
    """
    with _PLAIN_LOCK:
        per_policy = _PLAIN_FIELDS.get(masking)
        if per_policy is None:
            per_policy = _PLAIN_FIELDS[masking] = {}
        found = per_policy.get((role, purpose))
    if found is None:
        grading = masking.grading
        found = tuple(f for f in grading.fields if grading.field_encrypted(f)
                      and (d := masking.decide(f, role, purpose)).effect == "allow" and d.operator == "plain")
        with _PLAIN_LOCK:
            per_policy[(role, purpose)] = found
    return found


def _plain_protected(svc: Services, masked: dict[str, Any], role: str, purpose: str | None) -> list[str]:
    """Protected (encrypted) fields this masked view shows in plain: each is an unmasking."""
    keys = record_key_fields()
    plain = set()
    for field in _plain_fields(svc.engine.masking, role, purpose):
        rows = [masked.get("profile") or {}, *masked.get("records", ()), *masked.get("lineage", ())]
        if any(row.get(field) is not None for row in rows) or any(
                keys.get(str(r.get("source"))) == field and r.get("record_key") is not None
                for r in masked.get("records", ())):
            plain.add(field)
    return sorted(plain)


def _unmask_in_view(svc: Services, caller: Caller, customer_id: str, fields: list[str], purpose: str | None,
                    detail: dict[str, Any]) -> None:
    """A view showing protected fields in plain: the unmask rule for each, the daily limits, one UNMASK event."""
    engine = svc.engine
    at = svc.clock()
    allowances: list[Allowance] = []
    reasons = []
    for field in fields:
        decision = engine.check_unmask(caller.principal, field, purpose, at=at)
        if not decision.allowed:
            svc.record(caller, Action.UNMASK, Result.DENIED, customer_ids=[customer_id], fields=fields,
                       purpose=purpose, reason=decision.reason, detail=detail)
            raise AccessDenied(decision.reason, decision)
        allowances += _daily_unmask(svc, decision)
        reasons.append(decision.reason)
    refused = take(svc.ops, caller.person_id, allowances, at=at)
    if refused is not None:
        svc.record(caller, Action.UNMASK, Result.DENIED, customer_ids=[customer_id], fields=fields,
                   purpose=purpose, reason=refused.refusal, detail=detail)
        raise AccessDenied(refused.refusal)
    svc.record(caller, Action.UNMASK, customer_ids=[customer_id], fields=fields, purpose=purpose,
               reason="; ".join(dict.fromkeys(reasons)), detail=detail)


def mark_hidden_changes(raw: Sequence[dict[str, Any]], masked: Sequence[dict[str, Any]]) -> None:
    """Mark history entries whose masked before and after read the same though the values differ.

    An address generalised to its district, or a protected field historised as a token,
    reads the same before and after: ``hidden_change`` lets the screen say the hidden part
    changed, without showing more of either value.
    """
    for before, shown in zip(raw, masked, strict=True):
        differs = before.get("old_value") != before.get("new_value")
        same = shown.get("old_value") == shown.get("new_value")
        shown["hidden_change"] = bool(differs and same and shown.get("old_value") is not None)


def _related_in_scope(svc: Services, caller: Caller, relationships: list[dict[str, Any]],
                      branches: dict[str, frozenset[str]]) -> list[dict[str, Any]]:
    """Only the related customers the caller's row rule reaches: a relation names another customer.

    ``branches``: the related customers' branches, read with the document
    (:attr:`ServedCustomer.related`), not one statement and connection each.
    """
    kept = []
    for r in relationships:
        other = r.get("other_id")
        if other is None or str(other) not in branches:  # unknown or erased: nothing to show
            continue
        if _visible(svc, caller, "customer.read", str(other), branches[str(other)]):
            kept.append(r)
    return kept


@audited(Action.READ)
def view(svc: Services, caller: Caller, customer_id: str, *, purpose: str | None = None) -> dict[str, Any]:
    """The customer's 360° view as the caller may see it.

    The lineage section goes only to roles with ``customer.lineage`` (the lineage
    route refuses the others), relationships only to customers the caller's row
    rule reaches, and protected fields shown in plain are audited as an unmasking.
    """
    svc.require(caller, "customer.read", Action.READ, customer_ids=[customer_id], purpose=purpose)
    _check_purpose(svc, caller, "customer.read", Action.READ, [customer_id], purpose)
    try:
        served = svc.served.read(customer_id)  # document and branches in one read
    except NotFoundError as exc:
        svc.record(caller, Action.READ, Result.FAILED, customer_ids=[customer_id], purpose=purpose,
                   reason=refusal_reason(exc))
        raise mark_audited(exc) from None
    full = served.view
    current = str(full["customer_id"])
    _check_row(svc, caller, "customer.read", Action.READ, current, served.branches, purpose)
    masked = mask_view(full, svc.engine.masking, caller.role, purpose, key_fields=record_key_fields())
    mark_hidden_changes(full["history"], masked["history"])
    if not svc.engine.check(caller.principal, "customer.lineage", at=svc.clock()).allowed:
        masked.pop("lineage", None)
    masked["relationships"] = _related_in_scope(svc, caller, masked["relationships"], served.related)
    detail = {"records": len(masked["records"]), "requested_id": customer_id}
    plain = _plain_protected(svc, masked, caller.role, purpose)
    if plain:
        _unmask_in_view(svc, caller, current, plain, purpose, {**detail, "section": "view"})
        return masked
    svc.record(caller, Action.READ, customer_ids=[current], fields=_shown_fields(masked["profile"]), purpose=purpose,
               detail=detail)
    return masked


def _search_detail(criteria: dict[str, str], hits: int, hidden: int, *, identifiers: Sequence[str] = (),
                   outcome: str | None = None, limit: str | None = None) -> dict[str, Any]:
    """The search event's detail: kinds of criteria, counts, and for an identifier search its outcome.

    The monitoring detectors read this shape (``identifier_enumeration`` counts
    misses and refusals); never a criterion's value.
    """
    detail: dict[str, Any] = {"criteria": sorted(criteria), "hits": hits, "outside_scope": hidden}
    if identifiers:
        detail["identifiers"] = list(identifiers)
        detail["outcome"] = outcome  # hit: a customer shown; miss: none shown; refused: not searched
        if limit is not None:
            detail["limit"] = limit  # the allowance that refused it (identifier-miss: locked for the day)
    return detail


def _well_formed(criteria: dict[str, str]) -> bool:
    """Whether every exact identifier is a possible one (a malformed one confirms nothing: not counted)."""
    from custodata.normalise import normalise_id, normalise_mobile

    checks = {"id_number": normalise_id, "mobile": normalise_mobile}
    return all(checks[k](v) is not None for k, v in criteria.items() if k in checks)


def _identifier_use(svc: Services, caller: Caller, criteria: dict[str, str], fields: list[str],
                    purpose: str | None, *, misses: bool = True) -> tuple[str | None, str, str | None]:
    """An exact-identifier search is a use of the identifier: the unmask rule, its daily limit, the rate caps.

    Taken before the search runs, so a miss costs what a hit costs: otherwise the
    candidates a masked number leaves could be tried for free until one hits.
    A miss is taken in advance too (given back when the search shows a customer),
    so parallel searches cannot pass the day's miss cap either.
    Returns the purpose in force (the role's default when none was stated), the
    reason, and the period of the miss taken (None: no miss cap).  ``misses=False``
    (a create's duplicate check, which answers "a customer has this identifier" like a
    hit, and otherwise makes a real, audited customer): the unmask rule, its allowance
    and the rate caps, but no miss taken.
    """
    engine = svc.engine
    p = caller.principal
    stated = purpose or engine.default_purpose(p.role)
    at = svc.clock()

    def refuse(reason: str, decision: AccessDecision | None = None, limit: str | None = None) -> None:
        svc.record(caller, Action.SEARCH, Result.DENIED, fields=fields, purpose=stated, reason=reason,
                   detail=_search_detail(criteria, 0, 0, identifiers=fields, outcome="refused", limit=limit))
        raise AccessDenied(reason, decision)

    checked = engine.check_purpose(p, stated, "customer.search")
    if not checked.allowed:
        refuse(refusal_reason(ValueError(checked.reason)), checked)
    allowances: list[Allowance] = []
    reasons = []
    for field in fields:
        decision = engine.check_unmask(p, field, stated, at=at)
        if not decision.allowed:
            refuse(f"a search by {field} is a use of it: {decision.reason}", decision)
        allowances += _daily_unmask(svc, decision)
        reasons.append(decision.reason)
    limits = engine.limits
    if limits.identifier_searches_per_minute is not None:
        allowances.append(Allowance(IDENTIFIER_SEARCH, local_minute(at, limits.timezone),
                                    limits.identifier_searches_per_minute,
                                    f"identifier search limit of {limits.identifier_searches_per_minute} a minute "
                                    "reached; try again in a minute"))
    day = local_day(at, limits.timezone)
    if limits.identifier_searches_per_day is not None:
        allowances.append(Allowance(IDENTIFIER_SEARCH, day, limits.identifier_searches_per_day,
                                    f"daily identifier search limit of {limits.identifier_searches_per_day} reached "
                                    f"(day {day} {limits.timezone})"))
    miss_day = None
    if misses and limits.identifier_misses_per_day is not None:
        miss_day = day
        allowances.append(Allowance(IDENTIFIER_MISS, day, limits.identifier_misses_per_day,
                                    f"search by identifier is locked for the rest of the day: "
                                    f"{limits.identifier_misses_per_day} searches by ID number or mobile found no "
                                    f"customer (day {day} {limits.timezone}); search by name or customer id"))
    refused = take(svc.ops, caller.person_id, allowances, at=at)
    if refused is not None:
        refuse(refused.refusal, limit=refused.counter)
    return stated, "; ".join(dict.fromkeys(reasons)), miss_day


@audited(Action.SEARCH)
def search(svc: Services, caller: Caller, *, name: str | None = None, id_number: str | None = None,
           mobile: str | None = None, customer_id: str | None = None, purpose: str | None = None,
           limit: int = SEARCH_LIMIT) -> list[dict[str, Any]]:
    """Search before create: the customers matching, those the caller may see, names masked.

    The criteria are never written to the audit log (an ID number is itself sensitive);
    only which kinds of criteria were used and the customers returned.  A search by an
    ID number or mobile needs the caller's unmask rule for it (``purpose``, else the
    role's default purpose) and counts against that rule's daily limit and the
    identifier-search caps, hit or miss; one that shows no customer also takes from
    the day's miss cap, which once spent refuses search by identifier until the
    institution's midnight.  A name or customer id search does none of this.
    """
    criteria = {k: v for k, v in (("name", name), ("id_number", id_number), ("mobile", mobile),
                                  ("customer_id", customer_id)) if v}
    svc.require(caller, "customer.search", Action.SEARCH, purpose=purpose)
    if not criteria:  # recorded as a failed search by @audited
        raise ValueError("give at least one of: name, id_number, mobile, customer_id")
    fields = [IDENTIFIER_CRITERIA[k] for k in sorted(criteria) if k in IDENTIFIER_CRITERIA]
    reason = None
    counted = bool(fields) and _well_formed(criteria)
    miss_day = None
    if counted:
        purpose, reason, miss_day = _identifier_use(svc, caller, criteria, fields, purpose)
    else:
        _check_purpose(svc, caller, "customer.search", Action.SEARCH, [], purpose)
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
    if shown and miss_day is not None:
        give_back(svc.ops, caller.person_id, IDENTIFIER_MISS, miss_day, at=svc.clock())
    outcome = ("hit" if shown else "miss") if counted else None
    svc.record(caller, Action.SEARCH, customer_ids=[h["customer_id"] for h in shown], fields=fields,
               purpose=purpose, reason=reason, detail=_search_detail(
                   criteria, len(hits), hidden, identifiers=fields if counted else (), outcome=outcome))
    return shown


@audited(Action.SEARCH)
def my_customers(svc: Services, caller: Caller, *, limit: int = 50,
                 offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The caller's own portfolio [名下客户], as search results are shown: names masked, row rule applied.

    Returns ``(one page of customers, portfolio size)``.  A customer since erased or merged
    away is left out; one the caller's row rule no longer reaches is counted, not shown.
    Audited as a search whose criterion is the portfolio (the customers shown named).
    """
    svc.require(caller, "customer.search", Action.SEARCH)
    ids = svc.directory.portfolio(caller.person_id)
    masking = svc.engine.masking
    shown: list[dict[str, Any]] = []
    hidden = 0
    for cid in ids[max(offset, 0):max(offset, 0) + max(1, min(limit, 100))]:
        found = svc.served.search(customer_id=cid, limit=1)
        if not found:
            continue
        hit = found[0]
        branches = frozenset(hit.get("branches") or ())
        if not _visible(svc, caller, "customer.read", str(hit["customer_id"]), branches):
            hidden += 1
            continue
        shown.append({
            "customer_id": hit["customer_id"], "kind": hit.get("kind"), "segment": hit.get("segment"),
            "name": masking.mask_value("name", hit.get("name"), caller.role), "branches": sorted(branches),
        })
    svc.record(caller, Action.SEARCH, customer_ids=[h["customer_id"] for h in shown],
               detail=_search_detail({"portfolio": ""}, len(shown) + hidden, hidden))
    return shown, len(ids)


@audited(Action.UNMASK)
def unmask(svc: Services, caller: Caller, customer_id: str, field: str, *, purpose: str | None) -> dict[str, Any]:
    """One field of one customer in plain, for a stated purpose; logged as such."""
    svc.require(caller, "customer.unmask", Action.UNMASK, customer_ids=[customer_id], purpose=purpose)
    decision = svc.engine.check_unmask(caller.principal, field, purpose, at=svc.clock())
    if not decision.allowed:
        svc.record(caller, Action.UNMASK, Result.DENIED, customer_ids=[customer_id], fields=[field],
                   purpose=purpose, reason=decision.reason)
        raise AccessDenied(decision.reason, decision)
    full = _fetch(svc, caller, Action.UNMASK, customer_id, purpose)
    current = str(full["customer_id"])
    _check_row(svc, caller, "customer.unmask", Action.UNMASK, current, svc.served.branches_of(current), purpose)
    if field not in full["profile"]:
        svc.record(caller, Action.UNMASK, Result.FAILED, customer_ids=[current], fields=[field], purpose=purpose,
                   reason=f"no field {field}")
        raise NotFoundError(f"customer {current} has no field {field!r}")
    # taken only now, in one transaction: parallel requests cannot all pass a count made before any was logged
    refused = take(svc.ops, caller.person_id, _daily_unmask(svc, decision), at=svc.clock())
    if refused is not None:
        svc.record(caller, Action.UNMASK, Result.DENIED, customer_ids=[current], fields=[field],
                   purpose=purpose, reason=refused.refusal)
        raise AccessDenied(refused.refusal, decision)
    svc.record(caller, Action.UNMASK, customer_ids=[current], fields=[field], purpose=purpose,
               reason=decision.reason)
    return {"customer_id": current, "field": field, "value": full["profile"][field], "purpose": purpose}


@audited(Action.READ)
def lineage(svc: Services, caller: Caller, customer_id: str, *, purpose: str | None = None) -> dict[str, Any]:
    """Which source records made this customer, masked like the view."""
    svc.require(caller, "customer.lineage", Action.READ, customer_ids=[customer_id], purpose=purpose)
    _check_purpose(svc, caller, "customer.lineage", Action.READ, [customer_id], purpose)
    full = _fetch(svc, caller, Action.READ, customer_id, purpose)
    current = str(full["customer_id"])
    _check_row(svc, caller, "customer.lineage", Action.READ, current, svc.served.branches_of(current), purpose)
    masked = mask_view(full, svc.engine.masking, caller.role, purpose, key_fields=record_key_fields())
    shown = {"lineage": masked["lineage"], "records": masked["records"]}
    plain = _plain_protected(svc, shown, caller.role, purpose)
    if plain:
        _unmask_in_view(svc, caller, current, plain, purpose, {"section": "lineage"})
    else:
        svc.record(caller, Action.READ, customer_ids=[current], purpose=purpose, detail={"section": "lineage"})
    return {"customer_id": current, "lineage": masked["lineage"], "records": masked["records"]}


def domain_counts(svc: Services, caller: Caller) -> dict[str, Any]:
    """Counts per domain of the data flow (no customer data)."""
    svc.require(caller, "domains.read", Action.READ)
    return svc.served.domain_counts()
