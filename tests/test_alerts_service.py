"""Alerts through the service, the API, the console and the CLI over the real deployment (both engines).

Alerts are stored directly (as the monitor would store them) for people that exist only
here, so these tests change no state other tests of the deployment rely on.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from custodata.api import create_app
from custodata.cli.app import app as cli_app
from custodata.monitoring.alerts import Alert, alert_id
from custodata.monitoring.store import AlertStore
from custodata.service import Services
from tests.deployment import WORKDAY_MORNING, Deployment

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 but works with the pinned httpx
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient


@dataclass
class Api:
    dep: Deployment
    svc: Services
    client: TestClient
    tokens: dict[str, str]

    def headers(self, role: str) -> dict[str, str]:
        if role not in self.tokens:
            login = self.dep.logins[role]
            r = self.client.post("/api/v1/login", json={"person_id": login.person_id, "password": login.password})
            assert r.status_code == 200, r.text
            self.tokens[role] = r.json()["token"]
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def seed(self, severity: str = "high") -> Alert:
        """A fresh alert about a person of its own, stored as the monitor stores them."""
        actor = f"alerts.{uuid.uuid4().hex[:10]}"
        start = WORKDAY_MORNING - dt.timedelta(hours=2)
        alert = Alert(alert_id=alert_id("hoarding", actor, start), scenario="hoarding", severity=severity,
                      actor=actor, window_start=start, window_end=start + dt.timedelta(hours=1), score=6.5,
                      summary=f"{actor} viewed 80 distinct customers, 8.0× the peer baseline",
                      summary_zh=f"{actor} 查看了 80 位不同客户，为同岗基线的 8.0 倍",
                      evidence={"events": [11, 12, 13], "distinct_customers": 80, "baseline": 10.0, "ratio": 8.0,
                                "customers_by_value": {"high_net_worth": 9, "individual": 71}},
                      first_event_at=start, detected_at=start + dt.timedelta(minutes=55))
        assert AlertStore(self.svc.ops, self.svc.audit).save([alert]) == [alert.alert_id]
        return alert


@pytest.fixture(scope="module")
def api(deployment: Deployment) -> Iterator[Api]:
    svc = Services(deployment.svc.ops, deployment.out, clock=lambda: WORKDAY_MORNING)
    for shared in ("audit", "directory"):  # one audit chain writer and one directory per store
        svc.__dict__[shared] = getattr(deployment.svc, shared)
    with TestClient(create_app(svc)) as client:
        yield Api(deployment, svc, client, {})


def test_security_officer_lists_reads_and_triages_an_alert(api: Api) -> None:
    alert = api.seed()
    so = api.headers("security_officer")
    r = api.client.get("/api/v1/alerts", headers=so, params={"actor": alert.actor})
    assert r.status_code == 200, r.text
    [listed] = r.json()
    assert listed["alert_id"] == alert.alert_id and listed["status"] == "open"
    assert listed["evidence"]["ratio"] == 8.0 and listed["evidence"]["events"] == [11, 12, 13]
    assert api.client.get(f"/api/v1/alerts/{alert.alert_id}", headers=so).json()["summary_zh"] == alert.summary_zh
    r = api.client.post(f"/api/v1/alerts/{alert.alert_id}/triage", headers=so,
                        json={"status": "false_positive", "note": "quarter-end reporting run"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["triaged_by"], body["note"]) == ("false_positive", "sec.zhou",
                                                                  "quarter-end reporting run")
    [event] = api.svc.audit.query(actor="sec.zhou", action="admin", newest_first=True, limit=1)
    assert event.detail["alert_id"] == alert.alert_id and event.detail["status"] == "false_positive"
    assert event.role == "security_officer"
    reads = api.svc.audit.query(actor="sec.zhou", action="audit_query", newest_first=True, limit=2)
    assert {e.detail.get("target") for e in reads} == {"alerts"}


@pytest.mark.parametrize("role", ["front_desk", "outsourced_agent", "auditor", "administrator"])
def test_other_roles_are_refused_and_the_refusal_is_audited(api: Api, role: str) -> None:
    alert = api.seed()
    person = api.dep.logins[role].person_id
    before = api.svc.audit.count(actor=person, result="denied")
    headers = api.headers(role)
    for response in (api.client.get("/api/v1/alerts", headers=headers),
                     api.client.get(f"/api/v1/alerts/{alert.alert_id}", headers=headers),
                     api.client.post(f"/api/v1/alerts/{alert.alert_id}/triage", headers=headers,
                                     json={"status": "acknowledged", "note": "mine now"})):
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "denied"
    assert api.svc.audit.count(actor=person, result="denied") == before + 3
    assert AlertStore(api.svc.ops, api.svc.audit).get(alert.alert_id).status == "open"


@pytest.mark.parametrize(("path", "body", "status"), [
    ("/api/v1/alerts/hoarding-00000000000000ff/triage", {"status": "acknowledged", "note": "n"}, 404),
    ("/api/v1/alerts/{id}/triage", {"status": "open", "note": "n"}, 422),
    ("/api/v1/alerts/{id}/triage", {"status": "acknowledged", "note": ""}, 422),
    ("/api/v1/alerts/{id}/triage", {"status": "acknowledged", "note": "n", "extra": 1}, 422),
    ("/api/v1/alerts/DROP TABLE alert/triage", {"status": "acknowledged", "note": "n"}, 422),
])
def test_bad_triage_requests_are_refused_cleanly(api: Api, path: str, body: dict[str, object],
                                                 status: int) -> None:
    alert = api.seed()
    r = api.client.post(path.replace("{id}", alert.alert_id), headers=api.headers("security_officer"), json=body)
    assert r.status_code == status, r.text
    assert set(r.json()) == {"error"}


def test_acknowledging_twice_is_a_conflict(api: Api) -> None:
    alert = api.seed()
    so = api.headers("security_officer")
    url = f"/api/v1/alerts/{alert.alert_id}/triage"
    assert api.client.post(url, headers=so, json={"status": "acknowledged", "note": "on it"}).status_code == 200
    assert api.client.post(url, headers=so, json={"status": "acknowledged", "note": "again"}).status_code == 409


# ---- console ---------------------------------------------------------------------------------


def _console_login(client: TestClient, dep: Deployment, role: str) -> None:
    login = dep.logins[role]
    client.cookies.clear()
    r = client.post("/login", data={"person_id": login.person_id, "password": login.password, "next": "/alerts"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text


def test_console_dashboard_shows_evidence_and_triage_works_with_csrf(api: Api) -> None:
    alert = api.seed(severity="critical")
    client = TestClient(api.client.app)
    _console_login(client, api.dep, "security_officer")
    page = client.get("/alerts", params={"lang": "en"})
    assert page.status_code == 200
    html = page.text
    assert alert.alert_id in html and "Security alerts" in html and 'href="/alerts"' in html
    assert "8.0× the peer baseline" in html and "<svg" in html and "Critical" in html
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert csrf
    forged = client.post(f"/alerts/{alert.alert_id}/triage",
                         data={"status": "escalated", "note": "x", "csrf_token": "forged"})
    assert forged.status_code == 403
    done = client.post(f"/alerts/{alert.alert_id}/triage",
                       data={"status": "escalated", "note": "to investigations", "csrf_token": csrf.group(1)})
    assert done.status_code == 200 and "Escalated" in done.text
    stored = AlertStore(api.svc.ops, api.svc.audit).get(alert.alert_id)
    assert (stored.status, stored.triaged_by) == ("escalated", "sec.zhou")
    zh = client.get("/alerts", params={"lang": "zh", "status": "escalated"}).text
    assert "安全告警" in zh and "已升级" in zh and alert.summary_zh in zh


def test_console_refuses_the_dashboard_to_a_front_desk_clerk(api: Api) -> None:
    client = TestClient(api.client.app)
    _console_login(client, api.dep, "front_desk")
    page = client.get("/alerts")
    assert page.status_code == 403
    assert 'href="/alerts"' not in client.get("/search").text


# ---- CLI -------------------------------------------------------------------------------------


def test_cli_lists_shows_and_triages(api: Api) -> None:
    alert = api.seed()
    runner = CliRunner()
    where = ["--out", str(api.dep.out), "--db", api.dep.url]
    listed = runner.invoke(cli_app, ["alerts", "list", "--actor", alert.actor, "--json", *where])
    assert listed.exit_code == 0, listed.output
    assert f'"alert_id": "{alert.alert_id}"' in listed.output
    table = runner.invoke(cli_app, ["alerts", "list", "--severity", "high", *where])
    assert table.exit_code == 0 and "Alerts" in table.output
    shown = runner.invoke(cli_app, ["alerts", "show", alert.alert_id, *where])
    assert shown.exit_code == 0 and '"ratio": 8.0' in shown.output
    acked = runner.invoke(cli_app, ["alerts", "ack", alert.alert_id, "--note", "seen at the desk", *where])
    assert acked.exit_code == 0 and "acknowledged" in acked.output
    again = runner.invoke(cli_app, ["alerts", "ack", alert.alert_id, "--note", "twice", *where])
    assert again.exit_code == 1 and "already acknowledged" in again.output and "Traceback" not in again.output
    missing = runner.invoke(cli_app, ["alerts", "escalate", "hoarding-0000", "--note", "x", *where])
    assert missing.exit_code == 1 and "no alert" in missing.output
    [event] = api.svc.audit.query(action="admin", newest_first=True, limit=1)
    assert event.actor.startswith("cli:") and event.detail["alert_id"] == alert.alert_id
