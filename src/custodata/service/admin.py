"""Administration through the same gate: people, policies, the audit log and the catalogue."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from custodata.audit.events import Action, Result
from custodata.service.context import Caller, Services

# ---- people --------------------------------------------------------------------------------


def people(svc: Services, caller: Caller) -> list[Any]:
    svc.require(caller, "people.read", Action.IDENTITY_CHANGE)
    return list(svc.directory.people())


def create_person(svc: Services, caller: Caller, person_id: str, display_name: str, kind: str, branch: str, *,
                  password: str, roles: Sequence[str] = (), valid_to: dt.datetime | None = None) -> Any:
    svc.require(caller, "people.write", Action.IDENTITY_CHANGE)
    return svc.directory.create_person(person_id, display_name, kind, branch, password=password, roles=roles,
                                       valid_to=valid_to, by=caller.person_id)


def set_status(svc: Services, caller: Caller, person_id: str, status: str, *, reason: str | None = None) -> Any:
    svc.require(caller, "people.write", Action.IDENTITY_CHANGE)
    svc.directory.set_status(person_id, status, by=caller.person_id, reason=reason)
    return svc.directory.person(person_id)


def grant_role(svc: Services, caller: Caller, person_id: str, role: str) -> Any:
    svc.require(caller, "people.write", Action.IDENTITY_CHANGE)
    svc.directory.grant_role(person_id, role, by=caller.person_id)
    return svc.directory.person(person_id)


def revoke_role(svc: Services, caller: Caller, person_id: str, role: str) -> Any:
    svc.require(caller, "people.write", Action.IDENTITY_CHANGE)
    svc.directory.revoke_role(person_id, role, by=caller.person_id)
    return svc.directory.person(person_id)


def set_portfolio(svc: Services, caller: Caller, person_id: str, customer_ids: Sequence[str]) -> list[str]:
    svc.require(caller, "people.write", Action.IDENTITY_CHANGE)
    svc.directory.set_portfolio(person_id, list(customer_ids), by=caller.person_id)
    return list(svc.directory.portfolio(person_id))


# ---- policies ------------------------------------------------------------------------------


def policy_export(svc: Services, caller: Caller, version: int | None = None) -> str:
    svc.require(caller, "policy.read", Action.POLICY_CHANGE)
    return svc.policies.export_yaml(version)


def policy_history(svc: Services, caller: Caller) -> list[Any]:
    svc.require(caller, "policy.read", Action.POLICY_CHANGE)
    return list(svc.policies.history())


def policy_import(svc: Services, caller: Caller, text: str, *, comment: str) -> int:
    svc.require(caller, "policy.write", Action.POLICY_CHANGE)
    return svc.policies.import_yaml(text, by=caller.person_id, comment=comment)


def policy_explain(svc: Services, caller: Caller, role: str, field: str, purpose: str | None = None) -> str:
    svc.require(caller, "policy.read", Action.POLICY_CHANGE)
    return svc.engine.explain_field(field, role, purpose)


# ---- audit ---------------------------------------------------------------------------------


def audit_query(svc: Services, caller: Caller, *, actor: str | None = None, customer_id: str | None = None,
                action: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None,
                limit: int = 100, offset: int = 0, newest_first: bool = False) -> list[Any]:
    svc.require(caller, "audit.read", Action.AUDIT_QUERY)
    events = svc.audit.query(actor=actor, customer_id=customer_id, action=action, since=since, until=until,
                             limit=max(1, min(limit, 1000)), offset=max(0, offset), newest_first=newest_first)
    svc.record(caller, Action.AUDIT_QUERY, customer_ids=[customer_id] if customer_id else (),
               detail={"actor": actor, "action": action, "returned": len(events)})
    return list(events)


def audit_verify(svc: Services, caller: Caller) -> Any:
    from custodata.audit.verify import verify

    svc.require(caller, "audit.verify", Action.AUDIT_VERIFY)
    report = verify(svc.ops, svc.audit_public_key(), anchor_file=svc.audit_anchor_file())
    svc.record(caller, Action.AUDIT_VERIFY, Result.OK if report.ok else Result.FAILED,
               detail={"checked": report.checked, "first_bad_seq": report.first_bad_seq,
                       "trust_anchor": report.trust_anchor})
    return report


def audit_export(svc: Services, caller: Caller, path: Path, *, fmt: str = "jsonl", **filters: Any) -> int:
    svc.require(caller, "audit.export", Action.AUDIT_QUERY)
    n: int = svc.audit.export(path, fmt=fmt, **filters)
    svc.record(caller, Action.AUDIT_QUERY, detail={"exported": n, "format": fmt})
    return n


# ---- catalogue -----------------------------------------------------------------------------


def catalogue(svc: Services, caller: Caller) -> list[dict[str, Any]]:
    from custodata.classification.catalogue import Catalogue

    svc.require(caller, "catalogue.read", Action.ADMIN)
    with Catalogue(svc.ops.url) as cat:
        return [e.to_dict() for e in cat.entries()]
