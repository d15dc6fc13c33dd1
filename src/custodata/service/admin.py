"""Administration through the same gate: people, policies, the audit log and the catalogue."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from custodata.audit.events import Action, Result
from custodata.service.context import Caller, Services, audited, mark_audited

# ---- people --------------------------------------------------------------------------------
# Nothing here changes who may reach customer data on one person's word: roles and policies are
# requests another person decides (:func:`custodata.service.governance.decide` applies them).


@audited(Action.AUDIT_QUERY)
def people(svc: Services, caller: Caller) -> list[Any]:
    svc.require(caller, "people.read", Action.IDENTITY_CHANGE)
    found = list(svc.directory.people())
    svc.record(caller, Action.AUDIT_QUERY, detail={"target": "people", "returned": len(found)})
    return found


@audited(Action.IDENTITY_CHANGE)
def create_person(svc: Services, caller: Caller, person_id: str, display_name: str, kind: str, branch: str, *,
                  password: str, roles: Sequence[str] = (), valid_to: dt.datetime | None = None) -> tuple[Any, Any]:
    """Create a person with a one-time password and no roles yet; the roles asked for become a request.

    Returns ``(person, request)`` (``request`` is None when no role was asked for).  The
    administrator chooses only a one-time password, which opens no session: its holder replaces
    it first.  The roles wait for a security officer's approval, so one administrator cannot
    create a security officer and read customers through them.
    """
    from custodata.identity.roles import check_role, check_separation

    svc.require(caller, "people.write", Action.IDENTITY_CHANGE)
    wanted = sorted({check_role(r) for r in roles})
    try:
        check_separation(wanted)
    except Exception as exc:
        svc.record(caller, Action.IDENTITY_CHANGE, Result.DENIED, reason=str(exc),
                   detail={"operation": "person_created", "person_id": person_id, "roles": wanted})
        mark_audited(exc)
        raise
    person = svc.directory.create_person(person_id, display_name, kind, branch, password=password, roles=(),
                                         valid_to=valid_to, by=caller.person_id, must_change_password=True)
    request = _file_grant(svc, caller, person.person_id, wanted, reason=f"roles for the new person {person_id}")
    return person, request


def _file_grant(svc: Services, caller: Caller, person_id: str, roles: Sequence[str], *, reason: str) -> Any:
    from custodata.approvals.request import ROLE_GRANT_KIND
    from custodata.identity.roles import check_separation

    if not roles:
        return None
    held = set(svc.directory.person(person_id).roles)
    try:
        check_separation(sorted(held | set(roles)))
    except Exception as exc:
        svc.record(caller, Action.IDENTITY_CHANGE, Result.DENIED, reason=str(exc),
                   detail={"operation": "role_grant_requested", "person_id": person_id, "roles": list(roles)})
        mark_audited(exc)
        raise
    return svc.approvals.submit(caller.principal, ROLE_GRANT_KIND, {"person_id": person_id, "roles": list(roles)},
                                reason=reason)


@audited(Action.IDENTITY_CHANGE)
def set_status(svc: Services, caller: Caller, person_id: str, status: str, *, reason: str | None = None) -> Any:
    """Change a person's status; returns the person, or the request when the change widens access.

    Narrowing (freezing, a leaver, a transfer) is at once.  Making someone active again, or
    bringing back a frozen or departed account, reopens access — the monitor's freeze
    included — so it is a request a security officer decides.
    """
    from custodata.approvals.request import ROLE_GRANT_KIND

    svc.require(caller, "people.write", Action.IDENTITY_CHANGE)
    current = svc.directory.person(person_id).status
    if status != current and (status == "active" or current in ("frozen", "left")):
        if status != "active":
            raise mark_audited_refusal(svc, caller, f"{person_id} is {current}: make them active (a request a "
                                                    "security officer decides) before any other status")
        if person_id == caller.person_id:
            raise mark_audited_refusal(svc, caller, "separation of duties: nobody reactivates themselves")
        return svc.approvals.submit(caller.principal, ROLE_GRANT_KIND, {"person_id": person_id, "status": "active"},
                                    reason=reason or f"make {person_id} active again (was {current})")
    svc.directory.set_status(person_id, status, by=caller.person_id, reason=reason)
    return svc.directory.person(person_id)


def mark_audited_refusal(svc: Services, caller: Caller, why: str) -> Exception:
    """An identity refusal, audited now and marked so the wrapper adds no second event."""
    from custodata.identity.errors import SeparationOfDutiesError

    svc.record(caller, Action.IDENTITY_CHANGE, Result.DENIED, reason=why)
    return mark_audited(SeparationOfDutiesError(why))


@audited(Action.IDENTITY_CHANGE)
def grant_role(svc: Services, caller: Caller, person_id: str, role: str, *, reason: str | None = None) -> Any:
    """Ask for a role for someone else: the grant takes effect when a security officer approves it.

    Returns the pending request.  Nobody asks for roles for themselves, and a request that would
    break separation of duties is refused when filed, not only when approved.
    """
    from custodata.identity.roles import check_role

    svc.require(caller, "people.write", Action.IDENTITY_CHANGE)
    check_role(role)
    if person_id == caller.person_id:
        why = "separation of duties: nobody grants a role to themselves"
        svc.record(caller, Action.IDENTITY_CHANGE, Result.DENIED, reason=why,
                   detail={"operation": "role_grant_requested", "person_id": person_id, "roles": [role]})
        from custodata.identity.errors import SeparationOfDutiesError

        raise mark_audited(SeparationOfDutiesError(why))
    return _file_grant(svc, caller, person_id, [role], reason=reason or f"grant {role} to {person_id}")


@audited(Action.IDENTITY_CHANGE)
def revoke_role(svc: Services, caller: Caller, person_id: str, role: str) -> Any:
    """Take a role away at once (narrowing needs no approval); nobody takes away their own."""
    svc.require(caller, "people.write", Action.IDENTITY_CHANGE)
    if person_id == caller.person_id:
        raise mark_audited_refusal(svc, caller, "separation of duties: nobody revokes their own role")
    svc.directory.revoke_role(person_id, role, by=caller.person_id)
    return svc.directory.person(person_id)


@audited(Action.IDENTITY_CHANGE)
def reset_mfa(svc: Services, caller: Caller, person_id: str) -> bool:
    """Remove someone's second factor (a lost phone): they enrol again at their next login; never one's own."""
    svc.require(caller, "people.write", Action.IDENTITY_CHANGE)
    if person_id == caller.person_id:
        raise mark_audited_refusal(svc, caller, "separation of duties: nobody resets their own second factor")
    return svc.directory.reset_mfa(person_id, by=caller.person_id)


@audited(Action.AUDIT_QUERY)
def portfolio(svc: Services, caller: Caller, person_id: str) -> list[str]:
    """The customer ids assigned to a person (ids only: administering a portfolio shows no customer data)."""
    svc.require(caller, "people.read", Action.AUDIT_QUERY)
    svc.directory.person(person_id)  # an unknown person is an error, not an empty portfolio
    ids = list(svc.directory.portfolio(person_id))
    svc.record(caller, Action.AUDIT_QUERY, detail={"target": "portfolio", "person_id": person_id,
                                                   "returned": len(ids)})
    return ids


@audited(Action.IDENTITY_CHANGE)
def set_portfolio(svc: Services, caller: Caller, person_id: str,
                  customer_ids: Sequence[str]) -> tuple[list[str], Any]:
    """Make the portfolio these customers: removals at once, additions as a request.

    A portfolio is what an outsourced agent reaches (and widens a clerk's branch), so adding
    customers is a grant of access a security officer decides.  Returns ``(portfolio now,
    request or None)``.
    """
    from custodata.approvals.request import ROLE_GRANT_KIND

    svc.require(caller, "people.write", Action.IDENTITY_CHANGE)
    wanted = list(dict.fromkeys(str(c) for c in customer_ids))
    current = svc.directory.portfolio(person_id)
    kept = [c for c in current if c in set(wanted)]
    if len(kept) != len(current):
        svc.directory.set_portfolio(person_id, kept, by=caller.person_id)
    added = [c for c in wanted if c not in set(current)]
    request = None
    if added:
        if person_id == caller.person_id:
            raise mark_audited_refusal(svc, caller, "separation of duties: nobody adds customers to their own "
                                                    "portfolio")
        request = svc.approvals.submit(caller.principal, ROLE_GRANT_KIND,
                                       {"person_id": person_id, "portfolio": added},
                                       reason=f"add {len(added)} customers to {person_id}'s portfolio")
    return list(svc.directory.portfolio(person_id)), request


# ---- policies ------------------------------------------------------------------------------


@audited(Action.POLICY_CHANGE)
def policy_export(svc: Services, caller: Caller, version: int | None = None) -> str:
    svc.require(caller, "policy.read", Action.POLICY_CHANGE)
    text = svc.policies.export_yaml(version)
    svc.record(caller, Action.AUDIT_QUERY, detail={"target": "policy", "version": version})
    return text


@audited(Action.POLICY_CHANGE)
def policy_history(svc: Services, caller: Caller) -> list[Any]:
    svc.require(caller, "policy.read", Action.POLICY_CHANGE)
    found = list(svc.policies.history())
    svc.record(caller, Action.AUDIT_QUERY, detail={"target": "policy_history", "returned": len(found)})
    return found


@audited(Action.POLICY_CHANGE)
def policy_import(svc: Services, caller: Caller, text: str, *, comment: str) -> Any:
    """File a policy version for another security officer to approve; returns the pending request.

    The document is validated in full now (a broken one never reaches a checker), and the
    request carries the text diff against the version in force and, in words, what it widens
    and narrows: the checker decides on the meaning, not on YAML.
    """
    import difflib

    from custodata.access.policy_document import parse_document_yaml
    from custodata.access.widening import compare
    from custodata.approvals.request import POLICY_IMPORT_KIND
    from custodata.errors import StateError

    svc.require(caller, "policy.write", Action.POLICY_CHANGE)
    if not comment.strip():
        raise StateError("a policy change needs a comment saying why (ticket, reason)")
    new = parse_document_yaml(text, "the imported policy")
    base = svc.policies.latest_version()
    current = svc.policies.export_yaml(base) if base is not None else ""
    if current == text:
        raise StateError(f"the document is policy version {base}, already in force: nothing to approve")
    widens, narrows = compare(parse_document_yaml(current, f"policy version {base}"), new) if current else ([], [])
    diff = "".join(difflib.unified_diff(current.splitlines(keepends=True), text.splitlines(keepends=True),
                                        f"version {base}", "imported"))
    return svc.approvals.submit(caller.principal, POLICY_IMPORT_KIND, {
        "document": text, "comment": comment.strip(), "base_version": base, "diff": diff,
        "widens": widens, "narrows": narrows}, reason=comment.strip())


@audited(Action.POLICY_CHANGE)
def policy_explain(svc: Services, caller: Caller, role: str, field: str, purpose: str | None = None) -> str:
    svc.require(caller, "policy.read", Action.POLICY_CHANGE)
    explained = svc.engine.explain_field(field, role, purpose)
    svc.record(caller, Action.AUDIT_QUERY, detail={"target": "policy_explain", "role": role, "field": field,
                                                    "purpose": purpose})
    return explained


# ---- audit ---------------------------------------------------------------------------------


@audited(Action.AUDIT_QUERY)
def audit_query(svc: Services, caller: Caller, *, actor: str | None = None, customer_id: str | None = None,
                action: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None,
                limit: int = 100, offset: int = 0, newest_first: bool = False,
                before_seq: int | None = None) -> list[Any]:
    svc.require(caller, "audit.read", Action.AUDIT_QUERY)
    events = svc.audit.query(actor=actor, customer_id=customer_id, action=action, since=since, until=until,
                             limit=max(1, min(limit, 1000)), offset=max(0, offset), newest_first=newest_first,
                             before_seq=before_seq)
    svc.record(caller, Action.AUDIT_QUERY, customer_ids=[customer_id] if customer_id else (),
               detail={"actor": actor, "action": action, "returned": len(events)})
    return list(events)


@audited(Action.AUDIT_QUERY)
def audit_summary(svc: Services, caller: Caller, *, zone: str = "UTC", actor: str | None = None,
                  customer_id: str | None = None, action: str | None = None, since: dt.datetime | None = None,
                  until: dt.datetime | None = None) -> dict[str, Any]:
    """Every matching event counted: the total, per action, and per day in ``zone`` (for the charts)."""
    from zoneinfo import ZoneInfo

    from custodata.audit.query import count_by_action, times

    svc.require(caller, "audit.read", Action.AUDIT_QUERY)
    filters = {"actor": actor, "customer_id": customer_id, "action": action, "since": since, "until": until}
    per_action = count_by_action(svc.audit.store, **filters)
    tz = ZoneInfo(zone)
    per_day: dict[str, int] = {}
    for at in times(svc.audit.store, **filters):
        key = at.astimezone(tz).date().isoformat()
        per_day[key] = per_day.get(key, 0) + 1
    total = sum(per_action.values())
    svc.record(caller, Action.AUDIT_QUERY, customer_ids=[customer_id] if customer_id else (),
               detail={"target": "audit_summary", "actor": actor, "action": action, "counted": total})
    return {"total": total, "per_action": per_action, "per_day": dict(sorted(per_day.items()))}


@audited(Action.AUDIT_VERIFY)
def audit_verify(svc: Services, caller: Caller) -> Any:
    from custodata.audit.verify import verify

    svc.require(caller, "audit.verify", Action.AUDIT_VERIFY)
    report = verify(svc.ops, svc.audit_public_key(), anchor_file=svc.audit_anchor_file())
    svc.record(caller, Action.AUDIT_VERIFY, Result.OK if report.ok else Result.FAILED,
               detail={"checked": report.checked, "first_bad_seq": report.first_bad_seq,
                       "trust_anchor": report.trust_anchor})
    return report


@audited(Action.AUDIT_QUERY)
def audit_export(svc: Services, caller: Caller, path: Path, *, fmt: str = "jsonl", **filters: Any) -> int:
    svc.require(caller, "audit.export", Action.AUDIT_QUERY)
    n: int = svc.audit.export(path, fmt=fmt, **filters)
    svc.record(caller, Action.AUDIT_QUERY, detail={"exported": n, "format": fmt})
    return n


# ---- catalogue -----------------------------------------------------------------------------


@audited(Action.ADMIN)
def catalogue(svc: Services, caller: Caller) -> list[dict[str, Any]]:
    from custodata.classification.catalogue import Catalogue

    svc.require(caller, "catalogue.read", Action.ADMIN)
    with Catalogue(svc.ops.url) as cat:
        entries = [e.to_dict() for e in cat.entries()]
    svc.record(caller, Action.AUDIT_QUERY, detail={"target": "catalogue", "returned": len(entries)})
    return entries
