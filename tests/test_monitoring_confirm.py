"""Freezing only when it is safe (issue 13 point 3): the monitor freezes by itself only at ``freeze_at``;
below it the security officer confirms the alert — ``escalated`` through the service's triage path, with
``freeze`` to freeze the account — and a confirmed incident stays out of the person's baselines, even when
the monitor learns of it before it has seen the day (a restart replaying its history).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from custodata.api import create_app
from custodata.monitoring import Alert, Monitor, MonitorConfig, MonitorEvent, PersonInfo, StaticCustomers
from custodata.monitoring.alerts import alert_id
from custodata.monitoring.config import AnomalySettings
from custodata.monitoring.live import LiveMonitor
from custodata.monitoring.store import AlertStore
from custodata.service import Services
from tests.deployment import WORKDAY_MORNING, Deployment

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 but works with the pinned httpx
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

CONFIG = MonitorConfig(anomaly=AnomalySettings(enabled=False))
START = dt.date(2026, 3, 2)  # a Monday


def _days(n: int) -> list[dt.date]:
    return [START + dt.timedelta(days=i) for i in range(n * 2) if (START + dt.timedelta(days=i)).weekday() < 5][:n]


def _history(confirm_first: bool) -> Monitor:
    """Ten working days of 20 customers a day, 400 on the eighth; the eighth confirmed before it is seen or not."""
    rng = random.Random(1)
    people = {"p": PersonInfo(actor="p", role="teller", branch="B1")}
    monitor = Monitor(CONFIG, people, StaticCustomers())
    days = _days(10)
    big = days[7]
    if confirm_first:
        at = dt.datetime.combine(big, dt.time(3))  # 11:00 in Shanghai
        monitor.confirm(Alert(alert_id="hoarding-1", scenario="hoarding", severity="medium", actor="p",
                              window_start=at, window_end=at + dt.timedelta(hours=1), score=3.0, summary="",
                              summary_zh=""))
    events = []
    for day in days:
        n = 400 if day == big else 20
        events += [MonitorEvent(at=dt.datetime.combine(day, dt.time(2)) + dt.timedelta(seconds=30 * k), actor="p",
                                action="read", customer_ids=(f"C{rng.randrange(10**6)}",)) for k in range(n)]
    events.append(MonitorEvent(at=dt.datetime.combine(days[-1] + dt.timedelta(days=1), dt.time(2)), actor="p",
                               action="login"))  # a new day closes the last one
    monitor.feed(events)
    return monitor


def test_a_confirmed_incident_learnt_before_its_day_is_replayed_stays_out_of_the_baseline() -> None:
    kept = {d for d, _ in _history(confirm_first=False).baselines.history["p"]}
    out = {d for d, _ in _history(confirm_first=True).baselines.history["p"]}
    big = _days(10)[7]
    assert big in kept, "an unconfirmed heavy day joins the history (capped)"
    assert big not in out and out == kept - {big}


# --- through the service, the API and the live monitor -------------------------------------------------

@dataclass
class Officer:
    dep: Deployment
    svc: Services
    client: TestClient
    headers: dict[str, str]

    def person_with_alert(self, severity: str) -> tuple[str, Alert]:
        """A person of their own (so no other test's state changes) and an alert about them."""
        pid = f"conf.{uuid.uuid4().hex[:8]}"
        self.svc.directory.create_person(pid, "测试员工", "employee", self.dep.logins["front_desk"].branch,
                                         password=f"Pw-{uuid.uuid4().hex}", roles=("front_desk",), by="test")
        start = WORKDAY_MORNING - dt.timedelta(hours=2)
        alert = Alert(alert_id=alert_id("out_of_scope", pid, start), scenario="out_of_scope", severity=severity,
                      actor=pid, window_start=start, window_end=start + dt.timedelta(hours=1), score=2.6,
                      summary=f"{pid} looked at 9 customers outside their scope",
                      summary_zh=f"{pid} 今日查看职责范围以外客户 9 位", evidence={"count": 9.0, "events": [1]},
                      first_event_at=start, detected_at=start + dt.timedelta(minutes=30))
        assert AlertStore(self.svc.ops, self.svc.audit).save([alert]) == [alert.alert_id]
        return pid, alert


@pytest.fixture(scope="module")
def officer(deployment: Deployment) -> Iterator[Officer]:
    svc = Services(deployment.svc.ops, deployment.out, clock=lambda: WORKDAY_MORNING)
    for shared in ("audit", "directory"):  # one audit chain writer and one directory per store
        svc.__dict__[shared] = getattr(deployment.svc, shared)
    with TestClient(create_app(svc)) as client:
        login = deployment.logins["security_officer"]
        r = client.post("/api/v1/login", json={"person_id": login.person_id, "password": login.password})
        assert r.status_code == 200, r.text
        yield Officer(deployment, svc, client, {"Authorization": f"Bearer {r.json()['token']}"})


def test_the_monitor_freezes_by_itself_only_at_freeze_at(officer: Officer) -> None:
    live = LiveMonitor(officer.svc, config=MonitorConfig())
    _, medium = officer.person_with_alert("medium")
    assert live.config.actions.freeze_at == "high"
    assert not live._freezes(medium)  # noqa: SLF001 — the decision itself, without a pass over the log
    medium.severity = "high"
    assert live._freezes(medium)  # noqa: SLF001


def test_the_officer_confirms_a_medium_alert_and_freezes_the_account(officer: Officer) -> None:
    svc = officer.svc
    pid, alert = officer.person_with_alert("medium")
    r = officer.client.post(f"/api/v1/alerts/{alert.alert_id}/triage", headers=officer.headers,
                            json={"status": "escalated", "note": "确认越权查询，移交调查", "freeze": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "escalated" and body["action_taken"] == "frozen"
    assert "frozen" in body["summary"] and "冻结" in body["summary_zh"]
    assert svc.directory.person(pid).status == "frozen"
    officer_id = officer.dep.logins["security_officer"].person_id
    change = svc.audit.query(action="identity_change", actor=officer_id, newest_first=True, limit=1)[0]
    assert change.detail.get("status") == "frozen" and alert.alert_id in (change.reason or "")
    triage = svc.audit.query(action="admin", actor=officer_id, newest_first=True, limit=1)[0]
    assert triage.detail["alert_id"] == alert.alert_id and triage.detail["status"] == "escalated"

    # the live monitor hears of the confirmation and keeps the day out of the person's baselines
    confirmed: list[str] = []

    class Core:
        def mark_false_positive(self, a: Alert) -> None:
            pass

        def confirm(self, a: Alert) -> None:
            confirmed.append(a.alert_id)

    LiveMonitor(svc, config=MonitorConfig())._feed_false_positives(Core())  # type: ignore[arg-type]  # noqa: SLF001
    assert alert.alert_id in confirmed


def test_freezing_needs_a_confirmation_and_a_plain_escalation_freezes_nothing(officer: Officer) -> None:
    svc = officer.svc
    pid, alert = officer.person_with_alert("medium")
    r = officer.client.post(f"/api/v1/alerts/{alert.alert_id}/triage", headers=officer.headers,
                            json={"status": "acknowledged", "note": "看过", "freeze": True})
    assert r.status_code in (400, 422), r.text
    assert svc.directory.person(pid).status == "active"
    assert AlertStore(svc.ops, svc.audit).get(alert.alert_id).status == "open"
    r = officer.client.post(f"/api/v1/alerts/{alert.alert_id}/triage", headers=officer.headers,
                            json={"status": "escalated", "note": "移交调查，暂不冻结"})
    assert r.status_code == 200 and r.json()["action_taken"] is None
    assert svc.directory.person(pid).status == "active"
