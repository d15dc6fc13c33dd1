"""Monitoring alerts through the same gate as everything else: the policy decides, the audit log records.

Alerts name people and the customers they touched, so reading them is itself
an access the log records (``audit_query`` with ``detail.target = "alerts"``);
a triage decision is recorded by the alert store as an ``admin`` event.
"""

from __future__ import annotations

from typing import Any

from custodata.access.actions import ALERTS_READ, ALERTS_TRIAGE
from custodata.audit.events import Action, Result
from custodata.monitoring.store import AlertStore, StoredAlert
from custodata.service.context import AccessDenied, Caller, Services, audited


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
def triage(svc: Services, caller: Caller, alert_id: str, *, status: str, note: str) -> StoredAlert:
    """Acknowledge, mark a false positive (fed back to the monitor's baseline) or escalate."""
    svc.require(caller, ALERTS_TRIAGE, Action.ADMIN)
    store = _store(svc)
    if store.get(alert_id).actor == caller.person_id:
        why = "separation of duties: nobody triages an alert about themselves"
        svc.record(caller, Action.ADMIN, Result.DENIED, reason=why,
                   detail={"operation": "alert_triage", "alert_id": alert_id})
        raise AccessDenied(why)  # recorded just above
    return store.triage(alert_id, by=caller.person_id, status=status, note=note, role=caller.role,
                              source_address=caller.source_address)


def public(alert: StoredAlert) -> dict[str, Any]:
    """An alert as the API and the CLI show it (JSON-ready)."""
    return alert.to_dict()


__all__ = ["counts", "get", "list_alerts", "public", "triage"]
