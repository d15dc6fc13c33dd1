"""Monitoring alerts through the same gate as everything else: the policy decides, the audit log records.

Alerts name people and the customers they touched, so reading them is itself
an access the log records (``audit_query`` with ``detail.target = "alerts"``);
a triage decision is recorded by the alert store as an ``admin`` event, and a
freeze with a confirmation as the identity change it is.
"""

from __future__ import annotations

from typing import Any

from custodata.access.actions import ALERTS_READ, ALERTS_TRIAGE
from custodata.audit.events import Action, Result
from custodata.identity.errors import PersonNotFoundError
from custodata.monitoring.store import INCIDENT, AlertError, AlertStore, StoredAlert
from custodata.service.context import AccessDenied, Caller, Services, audited

CONFIRMED_EN = "Confirmed by the security officer; the account was frozen."
CONFIRMED_ZH = "安全员确认为事件，账户已冻结。"


def _store(svc: Services) -> AlertStore:
    return AlertStore(svc.ops, svc.audit, clock=svc.clock)


@audited(Action.AUDIT_QUERY)
def list_alerts(svc: Services, caller: Caller, *, status: str | None = None, severity: str | None = None,
                actor: str | None = None, limit: int = 100) -> list[StoredAlert]:
    """Matching alerts, newest first."""
    svc.require(caller, ALERTS_READ, Action.AUDIT_QUERY)
    found = _store(svc).list(status=status, severity=severity, actor=actor, limit=limit)
    svc.record(caller, Action.AUDIT_QUERY, detail={"target": "alerts", "status": status, "severity": severity,
                                                    "actor": actor, "returned": len(found)})
    return found


def counts(svc: Services, caller: Caller, *, status: str | None = "open") -> dict[str, int]:
    """Alerts per severity (the dashboard's chart); no customer is named, so the read is not logged."""
    svc.require(caller, ALERTS_READ, Action.AUDIT_QUERY)
    return _store(svc).counts(status=status)


@audited(Action.AUDIT_QUERY)
def get(svc: Services, caller: Caller, alert_id: str) -> StoredAlert:
    svc.require(caller, ALERTS_READ, Action.AUDIT_QUERY)
    alert = _store(svc).get(alert_id)
    svc.record(caller, Action.AUDIT_QUERY, detail={"target": "alerts", "alert_id": alert_id})
    return alert


@audited(Action.ADMIN)
def triage(svc: Services, caller: Caller, alert_id: str, *, status: str, note: str,
           freeze: bool = False) -> StoredAlert:
    """Acknowledge, mark a false positive (fed back to the monitor's baseline) or escalate.

    ``escalated`` is the security officer's confirmation of an incident: the live
    monitor keeps that day out of the person's baselines and learnt hours
    (``Monitor.confirm``), so what was confirmed never becomes their normal.  Below the
    monitor's ``freeze_at`` severity nothing freezes by itself; ``freeze`` with the
    confirmation freezes the person's account at once (every session ends), audited as an
    identity change by the officer, and the alert says so.  ``freeze`` with any other
    status is refused.
    """
    svc.require(caller, ALERTS_TRIAGE, Action.ADMIN)
    store = _store(svc)
    if freeze and status != INCIDENT:
        raise AlertError(f"only a confirmed incident ({INCIDENT}) may freeze the account, not {status!r}")
    if store.get(alert_id).actor == caller.person_id:
        why = "separation of duties: nobody triages an alert about themselves"
        svc.record(caller, Action.ADMIN, Result.DENIED, reason=why,
                   detail={"operation": "alert_triage", "alert_id": alert_id})
        raise AccessDenied(why)  # recorded just above
    stored = store.triage(alert_id, by=caller.person_id, status=status, note=note, role=caller.role,
                          source_address=caller.source_address)
    if freeze:
        stored = _freeze(svc, caller, store, stored)
    return stored


def _freeze(svc: Services, caller: Caller, store: AlertStore, alert: StoredAlert) -> StoredAlert:
    """Freeze the person behind a confirmed alert (nothing to do for an unknown login or someone already out)."""
    directory = svc.directory
    try:
        person = directory.person(alert.actor)
    except (PersonNotFoundError, ValueError):
        return alert  # another system's user or an unknown login ("-"): nothing to freeze here
    if person.status in ("frozen", "left"):
        return alert
    directory.set_status(alert.actor, "frozen", by=caller.person_id,
                         reason=f"alert {alert.alert_id} confirmed by the security officer: {alert.note or ''}"[:1000])
    return store.set_action(alert.alert_id, "frozen", summary=f"{alert.summary} {CONFIRMED_EN}",
                            summary_zh=f"{alert.summary_zh}{CONFIRMED_ZH}")


def public(alert: StoredAlert) -> dict[str, Any]:
    """An alert as the API and the CLI show it (JSON-ready)."""
    return alert.to_dict()


__all__ = ["counts", "get", "list_alerts", "public", "triage"]
