"""Maker-checker: change, export, role-grant and policy requests, the inbox, and what approval sets off.

An approved golden-record change becomes a job (:mod:`custodata.jobs`): the one
worker applies jobs in order to the batch store through the pipeline (which
republishes the served view), so concurrent approvals never race on the store
and the decision answers at once with the job to follow; an approved export is produced
masked per the *requester's* role and purpose — approval never widens what the
requester could see — and watermarked for the requester.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from custodata.approvals.request import TRUST_KINDS, Request
from custodata.audit.events import Action
from custodata.errors import NotFoundError
from custodata.jobs.queue import Job
from custodata.masking.view_masking import mask_view
from custodata.service.context import Caller, Services, audited
from custodata.service.customers import _check_row, record_key_fields

if TYPE_CHECKING:
    from pathlib import Path

CHANGE_KINDS = ("edit_field", "merge", "unmerge")
EXPORT_MAX_CUSTOMERS = 100_000


def _customers_in(kind: str, payload: dict[str, Any]) -> list[str]:
    if kind == "merge":
        return [str(payload["survivor"]), str(payload["absorbed"])]
    if kind == "export":
        return [str(c) for c in payload.get("customer_ids", [])]
    return [str(payload["customer_id"])]


@audited(Action.CHANGE_REQUEST)
def request(svc: Services, caller: Caller, kind: str, payload: dict[str, Any], *, reason: str) -> Any:
    """Ask for a change or an export; only for customers the caller may see."""
    if kind not in (*CHANGE_KINDS, "export"):
        raise ValueError(f"unknown request kind {kind!r}: one of {', '.join((*CHANGE_KINDS, 'export'))}")
    action = "export.request" if kind == "export" else "change.request"
    audit_action = Action.EXPORT_REQUEST if kind == "export" else Action.CHANGE_REQUEST
    svc.require(caller, action, audit_action, purpose=payload.get("purpose"))
    try:
        customers = _customers_in(kind, payload)
    except KeyError as exc:
        raise ValueError(f"a {kind} request needs {exc.args[0]!r}") from None
    if kind == "export" and not 0 < len(customers) <= EXPORT_MAX_CUSTOMERS:
        raise ValueError(f"an export lists 1 to {EXPORT_MAX_CUSTOMERS:,} customer ids")
    for cid in customers:
        _check_row(svc, caller, action, audit_action, cid, svc.served.branches_of(cid), payload.get("purpose"))
    return svc.approvals.submit(caller.principal, kind, payload, reason=reason)


@audited(Action.AUDIT_QUERY)
def inbox(svc: Services, caller: Caller) -> list[Any]:
    """Requests the caller may decide (never their own); reading the inbox is recorded (it names customers)."""
    found = list(svc.approvals.pending(caller.principal))
    svc.record(caller, Action.AUDIT_QUERY, customer_ids=sorted({c for r in found for c in r.customer_ids})[:1000],
               detail={"target": "inbox", "returned": len(found)})
    return found


@audited(Action.AUDIT_QUERY)
def mine(svc: Services, caller: Caller) -> list[Any]:
    return list(svc.approvals.requested_by(caller.principal))


def decided_changes(svc: Services, caller: Caller, *, limit: int = 50) -> list[Any]:
    """The changes the caller approved, newest first (their jobs are followed on the approvals page)."""
    return svc.approvals.list_requests(checker=caller.person_id, kinds=CHANGE_KINDS, limit=limit)


def decided(svc: Services, caller: Caller, *, limit: int = 50) -> list[Any]:
    """Every request the caller decided (approved or rejected, any kind), newest decision first."""
    found = svc.approvals.list_requests(checker=caller.person_id, limit=limit)
    return sorted(found, key=lambda r: r.decided_at or r.created_at, reverse=True)


@dataclass(frozen=True)
class Queued:
    """An approved change and the job that will apply it (the API answers 202 with both)."""

    request: Request
    job: Job


@audited(Action.APPROVE)
def decide(svc: Services, caller: Caller, request_id: str, *, approve: bool, note: str) -> Any:
    """Approve or reject; an approved change is queued (:class:`Queued`), an export or grant carried out at once."""
    decided = svc.approvals.decide(request_id, caller.principal, approve=approve, note=note)
    if not approve:
        return decided
    if decided.kind == "export":
        return _produce_export(svc, decided)
    if decided.kind in TRUST_KINDS:  # a role grant or policy import: who may do what changes now
        applied = svc.approvals.apply_trust(decided, directory=svc.directory, policies=svc.policies,
                                            by=caller.principal)
        svc.policies.refresh()  # in force for this process's next decision, not a second later
        return applied
    from custodata.service.jobs import queue

    return Queued(decided, queue(svc).enqueue(decided.request_id))


def _export_rows(svc: Services, req: Any) -> Iterator[dict[str, Any]]:
    """Each customer's profile masked for the requester's role and purpose (never the checker's)."""
    masking = svc.engine.masking
    purpose = req.payload.get("purpose")
    wanted = req.payload.get("fields") or None
    for cid in req.payload["customer_ids"]:
        try:
            full = svc.served.get(str(cid))
        except NotFoundError:
            continue
        profile = mask_view(full, masking, req.maker_role, purpose, key_fields=record_key_fields())["profile"]
        row = {k: v for k, v in profile.items() if wanted is None or k in wanted or k == "customer_id"}
        yield row


@dataclass(frozen=True)
class _Requester:
    """The maker as they were when asking: the export is masked for that role, not the checker's."""

    person_id: str
    role: str
    kind: str
    branch: str | None
    status: str


def _produce_export(svc: Services, req: Any) -> Any:
    person = svc.directory.person(req.maker)
    requester = _Requester(req.maker, req.maker_role, person.kind, req.maker_branch, person.status)
    return svc.approvals.produce_export(req, rows=_export_rows(svc, req), requester=requester,
                                        out_dir=svc.out_dir / "exports", timezone=svc.engine.limits.timezone)


@audited(Action.DOWNLOAD)
def download(svc: Services, caller: Caller, export_id: str) -> Path:
    svc.require(caller, "export.download", Action.DOWNLOAD)
    path: Path = svc.approvals.download(export_id, caller.principal)
    return path
