"""The API's session handling, error shape and transport rules, on SQLite and PostgreSQL.

These need no served customer view: people, policies and the audit log only.
The full role × endpoint matrix over a real deployment is in test_api_matrix.py.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 but works with the pinned httpx
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

from custodata.api import create_app
from custodata.api.security import MAX_BODY_BYTES
from custodata.crypto.kek import load_provider
from custodata.identity.errors import LOGIN_FAILED
from custodata.service import Services
from tests.conftest import _drop_pg_database, _fresh_pg_database

# (login name, display name, kind, branch, role, password): one person per role this file needs
PEOPLE = (
    ("front.bj", "王晓燕", "employee", "北京朝阳支行", "front_desk", "Counter-pass-2026"),
    ("front.left", "钱进", "employee", "北京朝阳支行", "front_desk", "Counter-pass-2026"),
    ("front.frozen", "冯亮", "employee", "北京朝阳支行", "front_desk", "Counter-pass-2026"),
    ("security", "周建国", "employee", "总行", "security_officer", "Officer-pass-2026"),
    ("security2", "钱海燕", "employee", "总行", "security_officer", "Officer-two-pass-2026"),
    ("auditor", "吴静", "employee", "总行", "auditor", "Trail-pass-2026"),
    ("admin", "郑强", "employee", "总行", "administrator", "System-pass-2026"),
)
PASSWORDS = {p[0]: p[5] for p in PEOPLE}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def svc(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """One store per engine for the whole file (people are hashed with argon2: slow on purpose).

    Tests that change state (statuses, policy versions) use people and values of their own.
    """
    folder = tmp_path_factory.mktemp(f"api-{request.param}")
    pg_name = None
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'ops.sqlite'}"
    else:
        pg_name, url = _fresh_pg_database()
    load_provider(folder / "out", create=True)  # approvals watermark exports under its token key
    services = Services.open(folder / "out", url=url)
    for person_id, name, kind, branch, role, password in PEOPLE:
        services.directory.create_person(person_id, name, kind, branch, password=password, roles=(role,),
                                         by="test")
    try:
        yield services
    finally:
        services.close()
        if pg_name:
            _drop_pg_database(pg_name)


@pytest.fixture
def client(svc: Services) -> Iterator[TestClient]:
    with TestClient(create_app(svc)) as c:
        yield c


def login(client: TestClient, person_id: str) -> dict[str, str]:
    r = client.post("/api/v1/login", json={"person_id": person_id, "password": PASSWORDS[person_id]})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def assert_error_shape(body: dict[str, object], code: str) -> None:
    assert set(body) == {"error"}
    error = body["error"]
    assert isinstance(error, dict)
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]


def test_login_me_logout(client: TestClient) -> None:
    r = client.post("/api/v1/login", json={"person_id": "front.bj", "password": PASSWORDS["front.bj"]})
    assert r.status_code == 200
    body = r.json()
    assert body["role"] == "front_desk" and body["person"]["person_id"] == "front.bj"
    assert body["token_type"] == "bearer" and len(body["token"]) >= 32  # noqa: S105
    assert r.headers["cache-control"] == "no-store"
    headers = {"Authorization": f"Bearer {body['token']}"}
    me = client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200 and me.json()["branch"] == "北京朝阳支行"
    assert client.post("/api/v1/logout", headers=headers).status_code == 204
    after = client.get("/api/v1/me", headers=headers)
    assert after.status_code == 401
    assert_error_shape(after.json(), "unauthenticated")


@pytest.mark.parametrize("person_id, password, role", [
    ("front.bj", "wrong-password-1", None),        # wrong password
    ("nobody.here", "Counter-pass-2026", None),      # unknown person
    ("front.bj", "Counter-pass-2026", "auditor"),    # role not held
])
def test_failed_login_is_generic(client: TestClient, person_id: str, password: str, role: str | None) -> None:
    r = client.post("/api/v1/login", json={"person_id": person_id, "password": password, "role": role})
    assert r.status_code == 401
    assert_error_shape(r.json(), "unauthenticated")
    if role is None:  # with the right password, identity may say which role is not held; never otherwise
        assert r.json()["error"]["message"] == LOGIN_FAILED
    assert password not in r.text


def test_every_route_but_login_and_health_needs_a_token(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    # activate takes the one-time password itself instead of a token; the MFA enrolment the password too
    # (a role held to MFA has no session before it has a second factor)
    open_routes = {("post", "/api/v1/login"), ("post", "/api/v1/activate"), ("get", "/api/v1/health"),
                   ("post", "/api/v1/mfa/enrol"), ("post", "/api/v1/mfa/confirm")}
    checked = 0
    for path, operations in spec["paths"].items():
        for method in operations:
            if (method, path) in open_routes:
                continue
            concrete = path.replace("{customer_id}", "C000000001").replace("{request_id}", "R-1").replace(
                "{export_id}", "E-1").replace("{person_id}", "front.bj").replace("{role}", "marketer")
            for headers in ({}, {"Authorization": "Bearer not-a-real-token"}):
                r = client.request(method.upper(), concrete, headers=headers)
                assert r.status_code == 401, (method, path, headers, r.text)
                assert_error_shape(r.json(), "unauthenticated")
                checked += 1
    assert checked > 40


def test_health_and_spec_are_public(client: TestClient) -> None:
    health = client.get("/api/v1/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    spec = client.get("/api/openapi.json").json()
    assert spec["info"]["title"] == "custodata"
    assert all(p.startswith("/api/v1/") for p in spec["paths"])
    assert "/api/v1/customers/search" in spec["paths"]
    assert client.get("/api/docs").status_code == 200


def test_validation_errors_name_fields_but_never_echo_input(client: TestClient) -> None:
    headers = login(client, "front.bj")
    secret = "110101199003077777" * 3  # too long for an ID number: refused, and must not come back
    r = client.post("/api/v1/customers/search", headers=headers, json={"id_number": secret, "limit": 0})
    assert r.status_code == 422
    assert_error_shape(r.json(), "invalid")
    assert secret not in r.text
    assert {tuple(f["loc"]) for f in r.json()["error"]["fields"]} == {("body", "id_number"), ("body", "limit")}
    r = client.post("/api/v1/login", json={"person_id": "front.bj", "password": "x", "extra": "Top-Secret-1"})
    assert r.status_code == 422 and "Top-Secret-1" not in r.text


def test_oversized_body_is_refused(client: TestClient) -> None:
    headers = login(client, "security")
    r = client.put("/api/v1/policy", headers=headers,
                   json={"document": "x" * (MAX_BODY_BYTES + 10), "comment": "too big"})
    assert r.status_code == 413
    assert_error_shape(r.json(), "too_large")


def test_security_headers(client: TestClient) -> None:
    r = client.get("/api/v1/health")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("status", ["left", "frozen"])
def test_status_change_ends_a_live_token_on_the_next_request(client: TestClient, status: str) -> None:
    person_id = f"front.{status}"
    agent = login(client, person_id)
    assert client.get("/api/v1/me", headers=agent).status_code == 200
    admin = login(client, "admin")
    r = client.post(f"/api/v1/people/{person_id}/status", headers=admin, json={"status": status, "reason": "test"})
    assert r.status_code == 200 and r.json()["status"] == status
    r = client.get("/api/v1/me", headers=agent)
    assert r.status_code == 401
    assert_error_shape(r.json(), "unauthenticated")
    r = client.post("/api/v1/customers/search", headers=agent, json={"name": "王"})
    assert r.status_code == 401
    again = client.post("/api/v1/login", json={"person_id": person_id, "password": PASSWORDS[person_id]})
    assert again.status_code == 401


def test_people_administration(client: TestClient) -> None:
    admin = login(client, "admin")
    r = client.post("/api/v1/people", headers=admin, json={
        "person_id": "new.clerk", "display_name": "李新", "kind": "employee", "branch": "北京朝阳支行",
        "password": "Clerk-password-2026", "roles": ["front_desk"]})
    assert r.status_code == 201, r.text
    assert "password" not in r.text and "Clerk-password-2026" not in r.text
    assert r.json()["roles"] == [] and r.json()["pending_request"]
    security = login(client, "security")
    r = client.post(f"/api/v1/requests/{r.json()['pending_request']}/approve", headers=security,
                    json={"note": "new starter, HR ticket 88"})
    assert r.status_code == 200 and r.json()["status"] == "applied", r.text
    # the administrator's password is one-time: it opens no session until the clerk chooses their own
    r = client.post("/api/v1/login", json={"person_id": "new.clerk", "password": "Clerk-password-2026"})
    assert r.status_code == 401
    r = client.post("/api/v1/activate", json={"person_id": "new.clerk", "password": "Clerk-password-2026",
                                              "new_password": "Clerks-own-secret-7"})
    assert r.status_code == 204, r.text
    r = client.post("/api/v1/login", json={"person_id": "new.clerk", "password": "Clerks-own-secret-7"})
    assert r.status_code == 200 and r.json()["role"] == "front_desk"
    r = client.post("/api/v1/people/new.clerk/roles", headers=admin, json={"role": "marketer"})
    assert r.status_code == 202 and r.json()["status"] == "pending" and r.json()["kind"] == "role_grant"
    r = client.post(f"/api/v1/requests/{r.json()['request_id']}/approve", headers=security, json={"note": "ok"})
    assert r.status_code == 200 and r.json()["status"] == "applied", r.text
    r = client.delete("/api/v1/people/new.clerk/roles/marketer", headers=admin)
    assert r.status_code == 200 and r.json()["roles"] == ["front_desk"]
    # customers added to a portfolio widen what the person reaches: a request, like a role
    r = client.put("/api/v1/people/new.clerk/portfolio", headers=admin, json={"customer_ids": ["C000000001"]})
    assert r.status_code == 200 and r.json()["customer_ids"] == [] and r.json()["pending_request"]
    r = client.post(f"/api/v1/requests/{r.json()['pending_request']}/approve", headers=security,
                    json={"note": "new case"})
    assert r.status_code == 200 and r.json()["status"] == "applied", r.text
    r = client.put("/api/v1/people/new.clerk/portfolio", headers=admin, json={"customer_ids": ["C000000001"]})
    assert r.status_code == 200 and r.json()["customer_ids"] == ["C000000001"] and r.json()["pending_request"] is None
    # separation of duties: nobody grants themselves a role; the administrator may not also be the auditor
    r = client.post("/api/v1/people/admin/roles", headers=admin, json={"role": "auditor"})
    assert r.status_code == 409
    assert_error_shape(r.json(), "conflict")
    r = client.post("/api/v1/people/new.clerk/roles", headers=admin, json={"role": "administrator"})
    assert r.status_code == 409 and "separation of duties" in r.json()["error"]["message"]
    r = client.post("/api/v1/people", headers=admin, json={
        "person_id": "new.clerk", "display_name": "李新", "kind": "employee", "branch": "x",
        "password": "Clerk-password-2026"})
    assert r.status_code == 409
    r = client.post("/api/v1/people/nobody.here/status", headers=admin, json={"status": "frozen"})
    assert r.status_code == 404
    assert_error_shape(r.json(), "not_found")
    r = client.post("/api/v1/people", headers=admin, json={
        "person_id": "weak.pw", "display_name": "弱", "kind": "employee", "branch": "x", "password": "short"})
    assert r.status_code == 422 and "short" not in r.json()["error"]["message"]
    people = client.get("/api/v1/people", headers=admin).json()
    assert {p["person_id"] for p in people} >= {"admin", "front.bj", "new.clerk"}
    assert all("password_hash" not in p and "failed_logins" not in p for p in people)


def test_policy_and_audit_routes(client: TestClient) -> None:
    security = login(client, "security")
    text = client.get("/api/v1/policy", headers=security)
    assert text.status_code == 200 and text.headers["content-type"].startswith("application/yaml")
    assert "permissions" in text.text
    before = max(v["version"] for v in client.get("/api/v1/policy/versions", headers=security).json())
    changed = text.text.replace("max_per_day: 100", "max_per_day: 90")
    r = client.put("/api/v1/policy", headers=security, json={"document": changed, "comment": "fewer unmaskings"})
    assert r.status_code == 202 and r.json()["status"] == "pending", r.text
    assert r.json()["payload"]["narrows"] and not r.json()["payload"]["widens"]
    assert max(v["version"] for v in client.get("/api/v1/policy/versions", headers=security).json()) == before
    other = login(client, "security2")
    r = client.post(f"/api/v1/requests/{r.json()['request_id']}/approve", headers=other, json={"note": "fine"})
    assert r.status_code == 200 and r.json()["status"] == "applied", r.text
    r = client.put("/api/v1/policy", headers=security, json={"document": "access: [", "comment": "broken"})
    assert r.status_code == 422
    versions = client.get("/api/v1/policy/versions", headers=security).json()
    assert max(v["version"] for v in versions) == before + 1
    assert {"version", "sha256", "created_by", "created_at", "comment"} <= set(versions[0])
    r = client.get("/api/v1/policy/explain", headers=security,
                   params={"role": "marketer", "field": "mobile"})
    assert r.status_code == 200 and "marketer" in r.json()["explanation"]

    auditor = login(client, "auditor")
    r = client.get("/api/v1/audit/verify", headers=auditor)
    assert r.status_code == 200 and r.json()["ok"] is True and r.json()["checked"] > 0
    events = client.get("/api/v1/audit/events", headers=auditor, params={"action": "policy_change"}).json()
    assert any(str(e["detail"].get("comment")).startswith("fewer unmaskings [CR-") and "approved by security2"
               in str(e["detail"].get("comment")) for e in events)
    r = client.get("/api/v1/audit/export", headers=auditor, params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "policy_change" in r.text
    # the auditor may not change policy; the denial names the refusing rule and is itself audited
    r = client.put("/api/v1/policy", headers=auditor, json={"document": text.text, "comment": "not mine"})
    assert r.status_code == 403
    assert_error_shape(r.json(), "denied")
    denied = client.get("/api/v1/audit/events", headers=auditor,
                        params={"actor": "auditor", "action": "policy_change"}).json()
    assert [e["result"] for e in denied] == ["denied"]
