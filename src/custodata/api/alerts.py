"""Monitoring alert routes (the security officer lists, reads and triages alerts) and the live monitor's lifespan."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Path, Query
from pydantic import BaseModel, Field, StringConstraints

from custodata.api.deps import CallerDep, ServicesDep
from custodata.api.schemas import ID_PATTERN, Input
from custodata.service import Services
from custodata.service import alerts as alert_service

router = APIRouter(tags=["alerts"])

AlertId = Annotated[str, Path(pattern=r"^[a-z0-9_]{1,64}-[0-9a-f]{1,64}$", max_length=140,
                              description="the alert's id, e.g. hoarding-1f3a…")]
Status = Literal["open", "acknowledged", "false_positive", "escalated"]
Severity = Literal["low", "medium", "high", "critical"]


class AlertOut(BaseModel):
    """An alert with its evidence: event sequence numbers, counts, the baseline and how far off it is."""

    alert_id: str
    scenario: str
    severity: str
    actor: str
    window_start: dt.datetime
    window_end: dt.datetime
    score: float
    summary: str
    summary_zh: str
    evidence: dict[str, Any]
    first_event_at: dt.datetime | None = None
    detected_at: dt.datetime
    status: str
    triaged_by: str | None = None
    triaged_at: dt.datetime | None = None
    note: str | None = None
    action_taken: str | None = None


class TriageIn(Input):
    status: Literal["acknowledged", "false_positive", "escalated"]
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    freeze: bool = Field(False, description="with escalated (a confirmed incident): freeze the person's account now")


def _out(alert: Any) -> AlertOut:
    return AlertOut(**{name: getattr(alert, name) for name in AlertOut.model_fields})


@router.get("/alerts", response_model=list[AlertOut])
def list_alerts(
    caller: CallerDep, svc: ServicesDep,
    status: Status | None = None,
    severity: Severity | None = None,
    actor: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AlertOut]:
    """Alerts matching every filter given, newest first; the read is audited."""
    return [_out(a) for a in alert_service.list_alerts(svc, caller, status=status, severity=severity, actor=actor,
                                                       limit=limit)]


@router.get("/alerts/{alert_id}", response_model=AlertOut)
def get_alert(alert_id: AlertId, caller: CallerDep, svc: ServicesDep) -> AlertOut:
    return _out(alert_service.get(svc, caller, alert_id))


@router.post("/alerts/{alert_id}/triage", response_model=AlertOut)
def triage(alert_id: AlertId, body: TriageIn, caller: CallerDep, svc: ServicesDep) -> AlertOut:
    """Acknowledge, mark a false positive (the monitor learns from it) or escalate — the officer's confirmation of
    an incident, kept out of the person's baselines, with ``freeze`` to freeze the account; audited."""
    return _out(alert_service.triage(svc, caller, alert_id, status=body.status, note=body.note,
                                     freeze=body.freeze))


def monitor_lifespan(services: Services) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start the live monitor with the application and stop it on shutdown (``create_app(..., monitor=True)``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from custodata.monitoring.live import LiveMonitor

        live = LiveMonitor(services)
        app.state.monitor = live
        live.start()
        try:
            yield
        finally:
            live.stop()

    return lifespan
