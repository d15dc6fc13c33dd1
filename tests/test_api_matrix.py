"""Every role × every endpoint of the API over a real deployment, on SQLite and PostgreSQL.

The expected table below is written out by hand from the issue's roles — it is
deliberately *not* derived from the policy code, so a policy change that widens
or narrows a role shows up here as a failing cell.  Allowed cells must answer
2xx; denied cells must answer 403 with the one error shape and leave a
``denied`` event in the audit log.  Masking is asserted on the allowed customer
cells.  The service clock is pinned to a Wednesday 10:00 in Shanghai so the
policy's office-hours windows (marketing, outsourced staff) are open whenever
the suite runs.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from custodata.api import create_app
from custodata.service import Services
from tests.deployment import Deployment

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 but works with the pinned httpx
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

FD, AG, MK, ST, SO, AU, AD = ("front_desk", "outsourced_agent", "marketer", "data_steward", "security_officer",
                              "auditor", "administrator")
ROLES = (FD, AG, MK, ST, SO, AU, AD)
EVERYONE = frozenset(ROLES)

# endpoint -> the roles that may use it; every other role must get 403
EXPECTED: dict[str, frozenset[str]] = {
    "me": EVERYONE,
    "search": frozenset({FD, AG, MK, ST, SO}),
    "view_own_customer": frozenset({FD, AG, MK, ST, SO}),       # own branch; the agent's portfolio
    "view_other_customer": frozenset({ST, SO}),                 # another branch; outside the portfolio
    "unmask_mobile": frozenset({FD, AG}),                       # purpose customer_service
    "lineage": frozenset({ST, SO}),
    "domains": frozenset({FD, MK, ST, AU, AD}),
    "request_change": frozenset({FD, ST}),
    "create_customer": frozenset({FD, ST}),                     # customer.create (issue 11 point 3)
    "create_state": frozenset({FD, ST}),                        # the maker, or a data steward
    "request_export": frozenset({MK, ST}),
    "inbox": EVERYONE,
    "mine": EVERYONE,
    "approve_export": frozenset({SO}),
    "reject_change": frozenset({ST}),
    "job_get": frozenset({FD, ST}),                             # the maker, the checker (a steward)
    "job_retry": frozenset({ST}),                               # the checker or a steward, never the maker
    "changes": frozenset({ST}),                                 # the change feed (and role integration)
    "download_export": frozenset({MK}),                         # only the recipient
    "audit_events": frozenset({SO, AU}),
    "audit_verify": frozenset({AU}),
    "audit_export": frozenset({AU}),
    "policy_get": frozenset({SO, AU}),
    "policy_versions": frozenset({SO, AU}),
    "policy_explain": frozenset({SO, AU}),
    "policy_put": frozenset({SO}),
    "people_list": frozenset({SO, AU, AD}),
    "people_create": frozenset({AD}),
    "people_status": frozenset({AD}),
    "people_grant_role": frozenset({AD}),
    "people_revoke_role": frozenset({AD}),
    "people_portfolio": frozenset({AD}),
    "catalogue": frozenset({ST, SO, AU, AD}),
    "alerts_list": frozenset({SO}),
    "alerts_get": frozenset({SO}),
    "alerts_triage": frozenset({SO}),
    "logout": EVERYONE,
    "logout_everywhere": EVERYONE,                              # one's own sessions only
    "people_mfa_reset": frozenset({AD}),                        # never one's own (tested in identity tests)
}

# the purpose each role states for its view (issue 10 point 2: a purpose outside the role's is refused)
OWN_PURPOSE: dict[str, str] = {MK: "marketing", SO: "fraud_investigation", AU: "audit"}

SHANGHAI_WEDNESDAY_10AM_UTC = dt.datetime(2026, 3, 4, 2, 0)  # naive UTC, like the store
TARGET = "matrix.target"  # a person only this file changes


@dataclass
class Api:
    dep: Deployment
    svc: Services
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)
    export_id: str = ""
    job_ref: tuple[int, str] | None = None
    create_ref: str = ""

    def person(self, role: str) -> str:
        return self.dep.logins[role].person_id

    def login(self, role: str) -> dict[str, str]:
        login = self.dep.logins[role]
        r = self.client.post("/api/v1/login", json={"person_id": login.person_id, "password": login.password,
                                                    "role": role})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def headers(self, role: str) -> dict[str, str]:
        if role not in self.tokens:
            self.tokens[role] = self.login(role)["Authorization"]
        return {"Authorization": self.tokens[role]}

    def own_customer(self, role: str) -> str:
        return self.dep.sample["portfolio" if role == AG else "in_branch"]

    def other_customer(self, role: str) -> str:
        return self.dep.sample["outside_portfolio" if role == AG else "out_of_branch"]

    def file_request(self, role: str, kind: str, payload: dict[str, Any]) -> str:
        r = self.client.post("/api/v1/requests", headers=self.headers(role),
                             json={"kind": kind, "payload": payload, "reason": "matrix test"})
        assert r.status_code == 201, r.text
        return str(r.json()["request_id"])

    def export_payload(self) -> dict[str, Any]:
        return {"customer_ids": [self.dep.sample["in_branch"]], "purpose": "marketing", "fields": ["name", "mobile"]}

    def alert_id(self) -> str:
        """One stored alert (saved once; saving again is a no-op) for the alert endpoints."""
        from custodata.monitoring.alerts import Alert, alert_id
        from custodata.monitoring.store import AlertStore

        start = dt.datetime(2026, 3, 4, 1, 0)
        alert = Alert(
            alert_id=alert_id("hoarding", "matrix.agent", start), scenario="hoarding", severity="medium",
            actor="matrix.agent", window_start=start, window_end=start + dt.timedelta(hours=1), score=3.0,
            summary="matrix.agent viewed 60 distinct customers", summary_zh="matrix.agent 查看了 60 位不同客户",
            evidence={"distinct_customers": 60, "baseline": 8.0}, first_event_at=start,
            detected_at=start + dt.timedelta(minutes=30))
        AlertStore(self.svc.ops, self.svc.audit).save([alert])
        return alert.alert_id

    def job(self) -> tuple[int, str]:
        """A failed job (and its request): an unmerge the front desk asked for, approved by the steward.

        It can only fail if applied (the customer was made by no merge), so the shared store is safe.
        """
        if not self.job_ref:
            request_id = self.file_request(FD, "unmerge", {"customer_id": self.dep.sample["in_branch"]})
            r = self.client.post(f"/api/v1/requests/{request_id}/approve", headers=self.headers(ST),
                                 json={"note": "matrix unmerge"})
            assert r.status_code == 202, r.text
            self.job_ref = (int(r.json()["job"]["job_id"]), request_id)
            _fail(self, self.job_ref[0])
        return self.job_ref

    def create_request(self) -> str:
        """A create the front desk files anyway (with a reason): pending, so no job touches the shared store."""
        if not self.create_ref:
            r = _create(self, FD)
            assert r.status_code == 202, r.text
            self.create_ref = str(r.json()["request_id"])
        return self.create_ref

    def change_payload(self) -> dict[str, Any]:
        return {"customer_id": self.dep.sample["in_branch"], "field": "email", "value": "li.ming@163.com"}


@pytest.fixture(scope="module")
def api(deployment: Deployment) -> Iterator[Api]:
    """The API over the deployment's store, with the service clock inside every policy time window."""
    svc = Services(deployment.svc.ops, deployment.out, clock=lambda: SHANGHAI_WEDNESDAY_10AM_UTC)
    for shared in ("audit", "directory"):  # one audit chain writer and one directory per store
        svc.__dict__[shared] = getattr(deployment.svc, shared)
    try:
        svc.directory.person(TARGET)
    except LookupError:
        svc.directory.create_person(TARGET, "矩阵测试", "employee", "总行", password="Matrix-target-2026",  # noqa: S106
                                    roles=(FD,), by="test")
    with TestClient(create_app(svc)) as client:
        yield Api(deployment, svc, client)


@pytest.fixture(scope="module")
def export_id(api: Api) -> str:
    """An export filed by the marketer and approved by the security officer, for the download cells."""
    request_id = api.file_request(MK, "export", api.export_payload())
    r = api.client.post(f"/api/v1/requests/{request_id}/approve", headers=api.headers(SO),
                        json={"note": "campaign approved"})
    assert r.status_code == 200, r.text
    return str(r.json()["export_id"])


Call = Callable[[Api, str], httpx.Response]


def _get(path: str | Callable[[Api, str], str], **params: Any) -> Call:
    def call(api: Api, role: str) -> httpx.Response:
        url = path(api, role) if callable(path) else path
        return api.client.get(url, headers=api.headers(role), params=params)
    return call


def _logout(api: Api, role: str) -> httpx.Response:
    return api.client.post("/api/v1/logout", headers=api.login(role))  # a session of its own


def _logout_everywhere(api: Api, role: str) -> httpx.Response:
    response = api.client.post("/api/v1/logout/everywhere", headers=api.headers(role))
    if response.status_code == 204:
        api.tokens.pop(role, None)  # every session of the caller ended, the cached one too
    return response


def _approve(api: Api, role: str) -> httpx.Response:
    request_id = api.file_request(MK, "export", api.export_payload())
    return api.client.post(f"/api/v1/requests/{request_id}/approve", headers=api.headers(role),
                           json={"note": "matrix approval"})


def _reject(api: Api, role: str) -> httpx.Response:
    request_id = api.file_request(FD, "edit_field", api.change_payload())
    return api.client.post(f"/api/v1/requests/{request_id}/reject", headers=api.headers(role),
                           json={"note": "matrix rejection"})


def _fail(api: Api, job_id: int) -> None:
    """Mark the job failed, as a worker would (no worker runs on the shared deployment)."""
    from custodata.jobs.tables import job

    with api.svc.ops.begin() as con:
        con.execute(job.update().where(job.c.id == job_id).values(state="failed", error="matrix failure"))
    assert api.job_ref is not None
    request_id = api.job_ref[1]
    if api.svc.approvals.get(request_id).status == "approved":
        api.svc.approvals.mark_failed(request_id, "matrix failure")


def _retry(api: Api, role: str) -> httpx.Response:
    job_id, _ = api.job()
    response = api.client.post(f"/api/v1/jobs/{job_id}/retry", headers=api.headers(role))
    _fail(api, job_id)  # failed again, for the next role
    return response


def _download(api: Api, role: str, export_id: str) -> httpx.Response:
    return api.client.get(f"/api/v1/exports/{export_id}/download", headers=api.headers(role))


def _create(api: Api, role: str) -> httpx.Response:
    return api.client.post("/api/v1/customers", headers=api.headers(role), json={
        "form": {"name": "矩阵建档", "mobile": "13812340000"}, "purpose": "customer_service",
        "reason": "matrix: create anyway"})


CALLS: dict[str, Call] = {
    "me": _get("/api/v1/me"),
    "search": lambda api, role: api.client.post("/api/v1/customers/search", headers=api.headers(role),
                                                json={"customer_id": api.own_customer(role)}),
    "view_own_customer": lambda api, role: api.client.get(  # each role with a purpose it may state
        f"/api/v1/customers/{api.own_customer(role)}", headers=api.headers(role),
        params={"purpose": OWN_PURPOSE.get(role, "customer_service")}),
    "view_other_customer": _get(lambda api, role: f"/api/v1/customers/{api.other_customer(role)}"),
    "unmask_mobile": lambda api, role: api.client.post(
        f"/api/v1/customers/{api.own_customer(role)}/unmask", headers=api.headers(role),
        json={"field": "mobile", "purpose": "customer_service"}),
    "lineage": _get(lambda api, role: f"/api/v1/customers/{api.own_customer(role)}/lineage"),
    "domains": _get("/api/v1/domains"),
    "changes": _get("/api/v1/changes?after=0&limit=5"),
    "request_change": lambda api, role: api.client.post(
        "/api/v1/requests", headers=api.headers(role),
        json={"kind": "edit_field", "payload": api.change_payload(), "reason": "customer called"}),
    "request_export": lambda api, role: api.client.post(
        "/api/v1/requests", headers=api.headers(role),
        json={"kind": "export", "payload": api.export_payload(), "reason": "spring campaign"}),
    "create_customer": _create,
    "create_state": lambda api, role: api.client.get(f"/api/v1/customers/create/{api.create_request()}",
                                                     headers=api.headers(role)),
    "inbox": _get("/api/v1/requests/inbox"),
    "mine": _get("/api/v1/requests/mine"),
    "approve_export": _approve,
    "reject_change": _reject,
    "job_get": lambda api, role: api.client.get(f"/api/v1/jobs/{api.job()[0]}", headers=api.headers(role)),
    "job_retry": _retry,
    "audit_events": _get("/api/v1/audit/events", limit=5),
    "audit_verify": _get("/api/v1/audit/verify"),
    "audit_export": _get("/api/v1/audit/export", format="jsonl"),
    "policy_get": _get("/api/v1/policy"),
    "policy_versions": _get("/api/v1/policy/versions"),
    "policy_explain": _get("/api/v1/policy/explain", role=MK, field="mobile"),
    "policy_put": lambda api, role: api.client.put(  # the document in force, re-worded: a request, never applied
        "/api/v1/policy", headers=api.headers(role),
        json={"document": api.svc.policies.export_yaml() + "\n# matrix proposal\n", "comment": "matrix"}),
    "people_list": _get("/api/v1/people"),
    "people_create": lambda api, role: api.client.post("/api/v1/people", headers=api.headers(role), json={
        "person_id": f"matrix.{role}", "display_name": "新员工", "kind": "employee", "branch": "总行",
        "password": "Matrix-new-2026", "roles": [MK]}),
    "people_status": lambda api, role: api.client.post(f"/api/v1/people/{TARGET}/status", headers=api.headers(role),
                                                       json={"status": "transferred", "reason": "matrix"}),
    "people_grant_role": lambda api, role: api.client.post(f"/api/v1/people/{TARGET}/roles",
                                                           headers=api.headers(role), json={"role": MK}),
    "people_revoke_role": lambda api, role: api.client.delete(f"/api/v1/people/{TARGET}/roles/{MK}",
                                                              headers=api.headers(role)),
    "people_portfolio": lambda api, role: api.client.put(
        f"/api/v1/people/{TARGET}/portfolio", headers=api.headers(role),
        json={"customer_ids": [api.dep.sample["in_branch"]]}),
    "catalogue": _get("/api/v1/catalogue"),
    "alerts_list": _get("/api/v1/alerts"),
    "alerts_get": lambda api, role: api.client.get(f"/api/v1/alerts/{api.alert_id()}", headers=api.headers(role)),
    "alerts_triage": lambda api, role: api.client.post(
        f"/api/v1/alerts/{api.alert_id()}/triage", headers=api.headers(role),
        json={"status": "acknowledged", "note": "matrix triage"}),
    "logout": _logout,
    "logout_everywhere": _logout_everywhere,
    "people_mfa_reset": lambda api, role: api.client.delete(f"/api/v1/people/{TARGET}/mfa",
                                                            headers=api.headers(role)),
}

CELLS = [(endpoint, role) for endpoint in EXPECTED for role in ROLES]


def test_the_table_covers_every_operation_of_the_spec(api: Api) -> None:
    spec = api.client.get("/api/openapi.json").json()
    operations = sum(len(ops) for ops in spec["paths"].values())
    public = 5  # login, activate (a one-time password), MFA enrol and confirm (the password), health
    shared = 2  # one route each: own/other customer's view; change/export request
    assert operations - public == len(EXPECTED) - shared
    assert set(CALLS) | {"download_export"} == set(EXPECTED)


@pytest.mark.parametrize(("endpoint", "role"), CELLS)
def test_cell(api: Api, endpoint: str, role: str, request: pytest.FixtureRequest) -> None:
    allowed = role in EXPECTED[endpoint]
    actor = api.person(role)
    denied_before = api.svc.audit.count(actor=actor, result="denied")
    if endpoint == "download_export":
        response = _download(api, role, request.getfixturevalue("export_id"))
    else:
        response = CALLS[endpoint](api, role)
    if allowed:
        assert 200 <= response.status_code < 300, (endpoint, role, response.status_code, response.text)
        return
    assert response.status_code == 403, (endpoint, role, response.status_code, response.text)
    error = response.json()["error"]
    assert error["code"] == "denied" and error["message"]
    assert api.svc.audit.count(actor=actor, result="denied") > denied_before, (endpoint, role)


# ---- masking on the allowed cells ------------------------------------------------------------

MOBILE_3_4 = re.compile(r"^1\d{2}\*{4}\d{4}$")


def _profile(api: Api, role: str) -> dict[str, Any]:
    r = api.client.get(f"/api/v1/customers/{api.own_customer(role)}", headers=api.headers(role),
                       params={"purpose": "customer_service"})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body: dict[str, Any] = r.json()
    assert body["masked_for"]["role"] == role
    return dict(body["profile"])


def _customer_with_mobile(api: Api) -> None:
    """Point the front desk and marketer at a customer of their branch who has a mobile."""
    with_mobile = None
    for cid in [api.dep.sample["in_branch"], *api.dep.svc.directory.portfolio(api.person(AG))]:
        full = api.dep.svc.served.get(cid)
        if full["profile"].get("mobile") and set(api.dep.svc.served.branches_of(str(full["customer_id"]))) & {
                api.dep.logins[FD].branch}:
            with_mobile = str(full["customer_id"])
            break
    assert with_mobile, "the deployment has no customer with a mobile in the front desk's branch"
    api.dep.sample.setdefault("mobile_customer", with_mobile)


def test_masking_per_role(api: Api) -> None:
    _customer_with_mobile(api)
    cid = api.dep.sample["mobile_customer"]
    shown: dict[str, Any] = {}
    for role in (FD, MK, ST):
        r = api.client.get(f"/api/v1/customers/{cid}", headers=api.headers(role))
        assert r.status_code == 200, (role, r.text)
        shown[role] = r.json()["profile"].get("mobile")
    plain = api.client.post(f"/api/v1/customers/{cid}/unmask", headers=api.headers(FD),
                            json={"field": "mobile", "purpose": "customer_service"}).json()["value"]
    assert plain and "*" not in plain
    assert MOBILE_3_4.match(shown[FD]), shown[FD]                          # front desk: first 3 and last 4
    assert shown[FD][:3] == plain[:3] and shown[FD][-4:] == plain[-4:]
    assert shown[MK] is None or shown[MK].count("*") > shown[FD].count("*")  # marketer: less than the desk
    for role in (FD, MK, ST):
        assert shown[role] != plain                                         # nobody sees it plain in the view


def test_agent_sees_portfolio_customers_masked_and_nobody_else(api: Api) -> None:
    profile = _profile(api, AG)
    assert all("*" in str(v) for k, v in profile.items() if k in ("mobile", "id_number") and v)
    found = api.client.post("/api/v1/customers/search", headers=api.headers(AG),
                            json={"customer_id": api.dep.sample["outside_portfolio"]}).json()
    assert found == []  # outside the portfolio: not even listed


def test_search_names_are_masked(api: Api) -> None:
    hits = api.client.post("/api/v1/customers/search", headers=api.headers(FD),
                           json={"customer_id": api.dep.sample["in_branch"]}).json()
    assert [h["customer_id"] for h in hits] == [api.dep.sample["in_branch"]]
    full_name = api.dep.svc.served.get(api.dep.sample["in_branch"])["profile"].get("name")
    assert hits[0]["name"] != full_name and "*" in str(hits[0]["name"])
