"""Create in the master: search before create, then a new customer through the ``mdm`` source.

The front desk searched (:func:`custodata.service.customers.search`) and found no one;
it creates the customer from the form it searched with.  Order: permission
``customer.create`` → the purpose, against the role → the form checked and its
values sealed (never stored in plain in the operational store) → a ``create``
request → its job.

Every create is a job, because only the one worker writes the batch store: the
job scores the form against every existing customer with the trained matching model
(:mod:`custodata.resolution.duplicates`) and, in the same store session, either
refuses it (likely duplicates) or lands it as a one-record ``mdm`` batch derived
incrementally (a stable customer id, its golden record and served row, a ``created``
change event).  The caller waits up to :data:`WAIT_SECONDS` for the job: then the
answer is *created* (with the customer id, searchable at once) or *duplicates* (the
candidates, masked for the caller's role: HTTP 409); a job still running is *queued*
(HTTP 202, with the job to follow).

Creating anyway, despite candidates, needs a ``reason``: the create becomes a
request a data steward decides (maker-checker), carried out without the duplicate
check once approved.  A refused or created form keeps no sealed value in its
request.  Each step is audited: the filing (``change_request``), the refusal shown
to the caller with the candidates' ids, the job's outcome (``edit``).

Probing: the duplicate check tells whether a customer holds the form's ID number or
mobile, so a create carrying one is an identifier use like a search (the unmask rule,
its daily allowance, the rate caps); a create that is not refused makes a real,
audited customer, so trying identifiers through create is neither cheap nor quiet.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from custodata.approvals.request import CREATE_KIND, Request
from custodata.audit.events import Action, Result
from custodata.errors import NotFoundError
from custodata.jobs.queue import Job
from custodata.service.context import AccessDenied, Caller, Services, audited
from custodata.service.customers import IDENTIFIER_CRITERIA, _check_purpose, _identifier_use, _visible

PERMISSION = "customer.create"
WAIT_SECONDS = 2.0
_POLL_SECONDS = 0.02
SHOWN_FIELDS = ("name", "mobile", "id_number", "birth_date", "gender")  # of a candidate, masked


@dataclass(frozen=True)
class CreateOutcome:
    """Where a create stands: ``created``, ``duplicates``, ``pending`` (a steward decides), ``queued``, ``failed``."""

    status: str
    request_id: str
    customer_id: str | None = None
    job: dict[str, Any] | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    outside_scope: int = 0  # candidates the caller's row rule does not reach (counted, not shown)
    error: str | None = None


def _masked_candidates(svc: Services, caller: Caller,
                       duplicates: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The candidates the caller may see, masked for the role (never the plain value), and how many are hidden."""
    masking = svc.engine.masking
    shown, hidden = [], 0
    for dup in duplicates:
        cid = str(dup["customer_id"])
        try:
            served = svc.served.read(cid, related=False)
        except NotFoundError:
            continue
        current = str(served.view["customer_id"])
        if not _visible(svc, caller, "customer.read", current, served.branches):
            hidden += 1
            continue
        profile = served.view.get("profile") or {}
        row: dict[str, Any] = {"customer_id": current, "evidence_bits": dup.get("evidence_bits"),
                               "agreeing": list(dup.get("agreeing") or ())}
        for name in SHOWN_FIELDS:
            row[name] = masking.mask_value(name, profile.get(name), caller.role)
        shown.append(row)
    return shown, hidden


def _job_of(svc: Services, request_id: str) -> Job | None:
    from custodata.service.jobs import queue

    return queue(svc).for_request(request_id)


def _state(svc: Services, caller: Caller, req: Request, job: Job | None, *, record: bool) -> CreateOutcome:
    summary = job.summary() if job is not None else None
    result = req.result or {}
    if req.status == "applied":
        return CreateOutcome("created", req.request_id, customer_id=str(result.get("customer_id") or ""),
                             job=summary)
    if req.status == "rejected" and "duplicates" in result:
        shown, hidden = _masked_candidates(svc, caller, list(result["duplicates"]))
        if record:  # the refusal as the caller sees it: which customers were shown, masked
            svc.record(caller, Action.CHANGE_REQUEST, Result.DENIED, customer_ids=[c["customer_id"] for c in shown],
                       fields=list(SHOWN_FIELDS), purpose=req.purpose,
                       reason=f"search before create: {len(result['duplicates'])} likely duplicate(s); "
                              "create anyway with a reason (a data steward approves)",
                       detail={"request_id": req.request_id, "outside_scope": hidden})
        return CreateOutcome("duplicates", req.request_id, job=summary, candidates=shown, outside_scope=hidden)
    if req.status == "rejected":
        return CreateOutcome("rejected", req.request_id, job=summary, error=req.decision_note)
    if req.status == "failed":
        return CreateOutcome("failed", req.request_id, job=summary, error=str(result.get("error") or "failed"))
    if req.status == "pending":
        return CreateOutcome("pending", req.request_id, job=summary)
    return CreateOutcome("queued", req.request_id, job=summary)


def _wait(svc: Services, request_id: str, wait: float) -> Job | None:
    """The request's job once done or failed, or as it is when ``wait`` seconds have passed."""
    deadline = time.monotonic() + wait
    job = _job_of(svc, request_id)
    while job is not None and job.state in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
        job = _job_of(svc, request_id)
    return job


@audited(Action.CHANGE_REQUEST, operation="create")
def create_customer(svc: Services, caller: Caller, form: dict[str, Any], *, purpose: str | None,
                    reason: str | None = None, wait: float = WAIT_SECONDS) -> CreateOutcome:
    """Create a customer from the front desk's form; see the module's docstring for the steps.

    ``form``: ``kind`` (individual or company) and the fields typed — name, id_number,
    uscc, mobile, phone, email, address, birth_date, gender.  Without ``reason`` the
    create is checked for duplicates and carried out at once; with one it waits for a
    data steward.  ``wait``: seconds to wait for the job (0: answer ``queued`` at once).
    """
    from custodata.service.jobs import queue

    svc.require(caller, PERMISSION, Action.CHANGE_REQUEST, purpose=purpose)
    _check_purpose(svc, caller, PERMISSION, Action.CHANGE_REQUEST, [], purpose)
    payload = {"form": form, "purpose": purpose, "branch": caller.principal.branch or None}
    if reason is not None and reason.strip():
        req = svc.approvals.submit(caller.principal, CREATE_KIND, {**payload, "check": False}, reason=reason)
        return CreateOutcome("pending", req.request_id)
    # the duplicate check answers whether a customer holds this ID number or mobile (the candidates it
    # shows): an exact-identifier use like a search, under the same unmask rule, allowance and rate caps
    identifiers = {k: str(form[k]) for k in IDENTIFIER_CRITERIA if form.get(k)}
    if identifiers:
        _identifier_use(svc, caller, identifiers, [IDENTIFIER_CRITERIA[k] for k in sorted(identifiers)], purpose,
                        misses=False)
    req = svc.approvals.submit(caller.principal, CREATE_KIND, payload, checked_by_search=True,
                               reason="search before create: no likely duplicate shown")
    queue(svc).enqueue(req.request_id)
    job = _wait(svc, req.request_id, wait)
    return _state(svc, caller, svc.approvals.get(req.request_id), job, record=True)


@audited(Action.CHANGE_REQUEST, operation="create_outcome")
def create_outcome(svc: Services, caller: Caller, request_id: str, *, wait: float = 0.0) -> CreateOutcome:
    """Where the caller's create stands (after a 202); its maker, its checker or a data steward may ask."""
    from custodata.service.jobs import STEWARD_PERMISSION

    req = svc.approvals.get(request_id)
    steward = svc.engine.check(caller.principal, STEWARD_PERMISSION, at=svc.clock()).allowed
    if req.kind != CREATE_KIND or (caller.person_id not in (req.maker, req.checker) and not steward):
        why = f"{request_id} is followed by the maker and checker of a create request and by data stewards"
        svc.record(caller, Action.CHANGE_REQUEST, Result.DENIED, reason=why, detail={"request_id": request_id})
        raise AccessDenied(why)
    job = _wait(svc, request_id, wait)
    return _state(svc, caller, svc.approvals.get(request_id), job, record=True)  # candidates shown again: audited


__all__ = ["PERMISSION", "WAIT_SECONDS", "CreateOutcome", "create_customer", "create_outcome"]
