"""SCIM 2.0 provisioning from the institution's IdP (issue 15 point 3), over HTTP as an IdP connector calls it.

Joiners, movers and leavers take effect on the person's next request, live sessions included;
every change is an identity change in the audit log; separation of duties holds on what the
IdP's groups add up to.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 but works with the pinned httpx
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

from custodata.api import create_app
from custodata.audit import tables as audit_tables
from custodata.crypto.kek import load_provider
from custodata.identity.settings import ClaimMapping, IdentitySettings, ScimSettings
from custodata.monitoring import people_from_directory
from custodata.service import Services

TOKEN = "scim-test-token-0123456789abcdef"  # noqa: S105 - a test token
IDP = {"Authorization": f"Bearer {TOKEN}"}
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
EXT = "urn:custodata:params:scim:schemas:1.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
MAPPING = ClaimMapping(group_roles={"CD-Counter": "front_desk", "CD-Stewards": "data_steward",
                                    "CD-Admins": "administrator", "CD-Audit": "auditor",
                                    "CD-Agents": "outsourced_agent"},
                       default_branch="总行")


def scim_settings(per_minute: int = 10_000) -> IdentitySettings:
    return IdentitySettings(scim=ScimSettings(token_sha256=hashlib.sha256(TOKEN.encode()).hexdigest(), idp="okta",
                                              requests_per_minute=per_minute, mapping=MAPPING))


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    folder: Path = tmp_path_factory.mktemp("scim")
    load_provider(folder / "out", create=True)
    services = Services.open(folder / "out", url=f"sqlite:///{folder / 'ops.sqlite'}")
    services.identity_settings = scim_settings()
    services.directory.create_person("front.local", "本地柜员", "employee", "总行", password="Local-pass-2026",  # noqa: S106
                                     roles=("front_desk",), by="t")
    yield services
    services.close()


@pytest.fixture(scope="module")
def client(svc: Services) -> Iterator[TestClient]:
    with TestClient(create_app(svc)) as c:
        yield c


def user(user_name: str, *, branch: str = "北京朝阳支行", kind: str = "employee", active: bool = True,
         **ext: Any) -> dict[str, Any]:
    return {"schemas": [CORE, EXT], "userName": user_name, "externalId": f"00u-{user_name}",
            "name": {"familyName": "王", "givenName": "小燕"}, "active": active,
            "emails": [{"value": f"{user_name}@bank.example", "primary": True}],  # kept by the IdP, ignored here
            EXT: {"branch": branch, "kind": kind, **ext}}


def make_group(client: TestClient, name: str, *members: str) -> str:
    r = client.post("/scim/v2/Groups", headers=IDP, json={
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name,
        "members": [{"value": m} for m in members]})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def me(client: TestClient, token: str) -> Any:
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def identity_events(svc: Services, person_id: str) -> list[dict[str, Any]]:
    a = audit_tables.audit_event
    with svc.ops.read() as con:
        rows = con.execute(sa.select(a.c.actor, a.c.result, a.c.detail).where(a.c.action == "identity_change")
                           .order_by(a.c.seq)).all()
    out = []
    for r in rows:
        detail = json.loads(r.detail) if isinstance(r.detail, str) else (r.detail or {})
        if detail.get("person_id") == person_id:
            out.append({"actor": r.actor, "result": r.result, **detail})
    return out


def test_a_joiner_gets_the_roles_of_their_groups_and_a_leaver_is_refused_on_the_next_request(
        client: TestClient, svc: Services) -> None:
    r = client.post("/scim/v2/Users", headers=IDP, json=user("wang.xy"))
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith("application/scim+json")
    assert r.json()["id"] == "wang.xy" and r.json()["active"] is True
    make_group(client, "CD-Counter", "wang.xy")
    person = svc.directory.person("wang.xy")
    assert person.roles == ("front_desk",) and person.source == "scim" and person.branch == "北京朝阳支行"
    assert person.display_name == "王 小燕"
    # the person signs in through the IdP (here: the session SSO opens) and works
    token = svc.directory.open_session("wang.xy", role=None, method="oidc", mfa=True).token
    assert me(client, token).json()["branch"] == "北京朝阳支行"
    # the IdP deactivates them: the live session is refused on its very next request
    r = client.patch("/scim/v2/Users/wang.xy", headers=IDP, json={
        "schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]})
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False
    assert me(client, token).status_code == 401
    assert svc.directory.person("wang.xy").status == "left"
    changes = identity_events(svc, "wang.xy")
    assert {"person_created", "role_granted", "status_changed"} <= {c["change"] for c in changes}
    assert all(c["actor"] == "scim:okta" for c in changes)
    left = next(c for c in changes if c["change"] == "status_changed")
    assert left["status"] == "left" and left["sessions_revoked"] == 1


def test_a_move_of_branch_and_role_bites_on_the_next_request(client: TestClient, svc: Services) -> None:
    assert client.post("/scim/v2/Users", headers=IDP, json=user("chen.lx")).status_code == 201
    unmapped = make_group(client, "Everyone-Beijing", "chen.lx")  # a group the mapping does not name: no role
    assert svc.directory.person("chen.lx").roles == ()
    stewards = make_group(client, "CD-Stewards")
    r = client.patch(f"/scim/v2/Groups/{stewards}", headers=IDP, json={
        "schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [{"value": "chen.lx"}]}]})
    assert r.status_code == 200, r.text
    assert svc.directory.person("chen.lx").roles == ("data_steward",)
    steward_token = svc.directory.open_session("chen.lx", role="data_steward", method="oidc", mfa=True).token
    # moved to another branch: the row rule of the live session narrows on its next request
    r = client.put("/scim/v2/Users/chen.lx", headers=IDP, json=user("chen.lx", branch="上海浦东支行"))
    assert r.status_code == 200, r.text
    assert me(client, steward_token).json()["branch"] == "上海浦东支行"
    # out of the stewards' group: the session acting as steward ends at once
    r = client.patch(f"/scim/v2/Groups/{stewards}", headers=IDP, json={
        "schemas": [PATCH], "Operations": [{"op": "remove", "path": 'members[value eq "chen.lx"]'}]})
    assert r.status_code == 200 and r.json()["members"] == []
    assert me(client, steward_token).status_code == 401
    assert svc.directory.person("chen.lx").roles == ()
    moved = [c for c in identity_events(svc, "chen.lx") if c["change"] == "person_updated"]
    assert moved and moved[-1]["branch"] == "上海浦东支行" and moved[-1]["previous_branch"] == "北京朝阳支行"
    assert client.get(f"/scim/v2/Groups/{unmapped}", headers=IDP).json()["members"][0]["value"] == "chen.lx"


def test_separation_of_duties_holds_on_what_the_idp_asserts(client: TestClient, svc: Services) -> None:
    assert client.post("/scim/v2/Users", headers=IDP, json=user("zheng.q", branch="总行")).status_code == 201
    admins = make_group(client, "CD-Admins", "zheng.q")
    r = client.post("/scim/v2/Groups", headers=IDP, json={"displayName": "CD-Audit", "members": [{"value": "zheng.q"}]})
    assert r.status_code == 409 and r.json()["scimType"] == "mutability"
    assert "separation of duties" in r.json()["detail"]
    assert svc.directory.person("zheng.q").roles == ("administrator",)
    assert client.get("/scim/v2/Groups?filter=displayName eq \"CD-Audit\"", headers=IDP).json()["totalResults"] == 0
    refused = [c for c in identity_events(svc, "zheng.q") if c["change"] == "idp_roles_refused"]
    assert refused and refused[-1]["result"] == "denied" and set(refused[-1]["roles"]) == {"administrator", "auditor"}
    assert admins


def test_a_leaving_status_reaches_monitoring_and_a_freeze_is_not_lifted_by_the_idp(
        client: TestClient, svc: Services) -> None:
    assert client.post("/scim/v2/Users", headers=IDP, json=user("liu.t", kind="outsourced")).status_code == 201
    r = client.patch("/scim/v2/Users/liu.t", headers=IDP, json={"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": f"{EXT}:status", "value": "leaving"}]})
    assert r.status_code == 200, r.text
    info = people_from_directory(svc.directory)["liu.t"]
    assert info.status == "leaving" and info.kind == "outsourced"
    svc.directory.set_status("liu.t", "frozen", by="sec.zhou", reason="monitoring alert")
    r = client.put("/scim/v2/Users/liu.t", headers=IDP, json=user("liu.t", kind="outsourced"))
    assert r.status_code == 200
    assert svc.directory.person("liu.t").status == "frozen"


def test_local_accounts_are_out_of_the_idps_reach(client: TestClient) -> None:
    r = client.put("/scim/v2/Users/front.local", headers=IDP, json=user("front.local"))
    assert r.status_code == 403
    r = client.post("/scim/v2/Users", headers=IDP, json=user("front.local"))
    assert r.status_code == 409 and r.json()["scimType"] == "uniqueness"
    r = client.post("/scim/v2/Groups", headers=IDP, json={"displayName": "CD-Stewards-2",
                                                          "members": [{"value": "front.local"}]})
    assert r.status_code == 403


def test_input_is_validated_and_never_echoed(client: TestClient) -> None:
    for body in (user("Bad Name!"), {**user("ok.name"), "active": "sometimes"},
                 user("ok.name2", kind="contractor"), {"schemas": [CORE]}):
        r = client.post("/scim/v2/Users", headers=IDP, json=body)
        assert r.status_code == 400, r.text
        assert r.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
        assert r.json()["scimType"] == "invalidValue"
        assert "Bad Name!" not in r.text and "sometimes" not in r.text and "contractor" not in r.text
    r = client.get('/scim/v2/Users?filter=title co "x"', headers=IDP)
    assert r.status_code == 400 and r.json()["scimType"] == "invalidFilter"
    found = client.get('/scim/v2/Users?filter=userName eq "wang.xy"', headers=IDP).json()
    assert found["totalResults"] == 1 and found["Resources"][0]["userName"] == "wang.xy"


def test_the_token_is_required_and_calls_are_rate_limited(client: TestClient, svc: Services) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        r = client.get("/scim/v2/Users", headers=headers)
        assert r.status_code == 401 and r.json()["status"] == "401"
    svc.identity_settings = scim_settings(per_minute=3)
    try:
        answers = [client.get("/scim/v2/ServiceProviderConfig", headers=IDP).status_code for _ in range(5)]
    finally:
        svc.identity_settings = scim_settings()
    assert answers[:3] == [200, 200, 200] and answers[3:] == [429, 429]


def test_delete_keeps_the_account_as_left(client: TestClient, svc: Services) -> None:
    assert client.post("/scim/v2/Users", headers=IDP, json=user("gone.soon")).status_code == 201
    assert client.delete("/scim/v2/Users/gone.soon", headers=IDP).status_code == 204
    assert svc.directory.person("gone.soon").status == "left"
    assert client.get("/scim/v2/Users/gone.soon", headers=IDP).json()["active"] is False
