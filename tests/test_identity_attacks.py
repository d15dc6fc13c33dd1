"""An attacker's tries at the identity work of issue 15, each against the running code.

Insiders with a staff account, an outsourced agent, a compromised IdP client, a stolen SCIM
token: each test is one way around a control, and says what must hold.  The OIDC claims are
fed to :class:`~custodata.identity.oidc.Admission` as a validated token's claims would be
(signature checks are ``tests/test_identity_oidc.py``'s, against a real provider).
"""

from __future__ import annotations

import datetime as dt
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
from custodata.crypto.kek import load_provider
from custodata.identity.errors import AuthenticationError
from custodata.identity.oidc import Admission, OidcClient, OidcError
from custodata.identity.provisioning import Provisioner, UserAssertion
from custodata.identity.settings import ClaimMapping, IdentitySettings, OidcSettings, ScimSettings
from custodata.service import Services
from tests.audit_helpers import events

TOKEN = "scim-attack-token-0123456789abcdef"  # noqa: S105 - a test token
IDP = {"Authorization": f"Bearer {TOKEN}"}
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
EXT = "urn:custodata:params:scim:schemas:1.0:User"
MAPPING = ClaimMapping(group_roles={"CD-Counter": "front_desk", "CD-Stewards": "data_steward",
                                    "CD-Admins": "administrator", "CD-Audit": "auditor",
                                    "CD-Marketing": "marketer"},
                       default_branch="总行")
OIDC = OidcSettings(issuer="http://127.0.0.1:9", client_id="custodata-console", redirect_uri="http://127.0.0.1/cb",
                    audience="urn:custodata:api", allow_http=True, idp="idaas", provision="create", mapping=MAPPING)


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    folder: Path = tmp_path_factory.mktemp("attacks")
    load_provider(folder / "out", create=True)
    services = Services.open(folder / "out", url=f"sqlite:///{folder / 'ops.sqlite'}")
    services.identity_settings = IdentitySettings(
        scim=ScimSettings(token_sha256=hashlib.sha256(TOKEN.encode()).hexdigest(), idp="okta",
                          requests_per_minute=10_000, mapping=MAPPING))
    services.directory.create_person("break.glass", "应急账号", "employee", "总行", password="Local-pass-2026",  # noqa: S106
                                     roles=("marketer",), by="t")
    yield services
    services.close()


@pytest.fixture(scope="module")
def client(svc: Services) -> Iterator[TestClient]:
    with TestClient(create_app(svc)) as c:
        yield c


@pytest.fixture(scope="module")
def gate(svc: Services) -> Admission:
    return Admission(svc.directory, OidcClient(OIDC))


def claims(sub: str, username: str, **more: Any) -> dict[str, Any]:
    return {"iss": OIDC.issuer, "aud": "urn:custodata:api", "exp": 4_102_444_800, "sub": sub,
            "preferred_username": username, "groups": ["CD-Marketing"], "branch": "总行", **more}


# ---- OIDC: who the token names ---------------------------------------------------------------------

def test_oidc_another_subject_choosing_an_existing_login_name_is_refused(svc: Services, gate: Admission) -> None:
    """preferred_username is not unique nor stable (OIDC Core 5.7): the account is bound to its first sub."""
    first = gate.person(claims("idp-uid-1", "wu.oidc"), via="console", source_address="10.0.0.1")
    assert first.source == "oidc" and first.external_id == "idp-uid-1"
    # the same person again: accepted
    assert gate.person(claims("idp-uid-1", "wu.oidc"), via="bearer", source_address=None).person_id == "wu.oidc"
    # a colleague at the IdP renames themselves wu.oidc: their sub is not the account's
    with pytest.raises(OidcError):
        gate.person(claims("idp-uid-2", "wu.oidc", groups=["CD-Stewards"]), via="console",
                    source_address="10.0.0.2")
    assert svc.directory.person("wu.oidc").roles == ("marketer",)  # nothing of the intruder's claims applied
    last = events(svc, "login")[-1]
    assert last["result"] == "denied" and "sub" in last["reason"]
    with pytest.raises(OidcError):
        gate.sign_in(claims("idp-uid-2", "wu.oidc"), source_address="10.0.0.2")


def test_oidc_local_and_break_glass_accounts_never_sign_in_whatever_the_claims(gate: Admission) -> None:
    for sub in ("break.glass", "idp-uid-9"):
        with pytest.raises(OidcError):
            gate.person(claims(sub, "break.glass"), via="console", source_address=None)
        with pytest.raises(OidcError):  # case and spaces are the same login name
            gate.person(claims(sub, " Break.Glass "), via="bearer", source_address=None)


def test_oidc_asserted_role_pair_in_two_steps_is_refused(svc: Services, gate: Admission) -> None:
    """Administrator now, auditor next: the second step may not leave both held (revocation first)."""
    gate.person(claims("idp-uid-3", "ma.admin", groups=["CD-Admins"]), via="console", source_address=None)
    with pytest.raises(OidcError):
        gate.person(claims("idp-uid-3", "ma.admin", groups=["CD-Admins", "CD-Audit"]), via="console",
                    source_address=None)
    assert svc.directory.person("ma.admin").roles == ("administrator",)
    moved = gate.person(claims("idp-uid-3", "ma.admin", groups=["CD-Audit"]), via="console", source_address=None)
    assert moved.roles == ("auditor",)
    # the groups claim as one string, or in other case, grants nothing more
    odd = gate.person(claims("idp-uid-3", "ma.admin", groups="CD-Audit"), via="console", source_address=None)
    assert odd.roles == ("auditor",)
    assert gate.person(claims("idp-uid-3", "ma.admin", groups=["cd-admins", "CD-AUDIT"]), via="console",
                       source_address=None).roles == ()


def test_oidc_mfa_claim_forms_that_are_not_a_list_or_listed_do_not_count(gate: Admission) -> None:
    c = gate.client
    assert c.has_mfa({"amr": ["pwd", "otp"]})
    for bad in ({"amr": "otp"}, {"amr": ["OTP"]}, {"amr": [["otp"]]}, {"amr": {"otp": 1}}, {"acr": "mfa"},
                {"acr": ["urn:bank:acr:mfa"]}, {"amr": []}, {}):
        assert not c.has_mfa(bad), bad


# ---- local passwords for accounts the IdP keeps ------------------------------------------------------

def test_password_login_to_an_sso_account_is_the_generic_refusal(svc: Services, client: TestClient) -> None:
    """A SCIM or OIDC account has no local password: trying one is a 401 like any other, and audited."""
    Provisioner(svc.directory, MAPPING, idp="okta").create_user(
        UserAssertion(user_name="he.scim", display_name="何", branch="总行"))
    with pytest.raises(AuthenticationError):
        svc.directory.login("he.scim", "Any-password-2026")
    assert events(svc, "login")[-1]["actor"] == "he.scim"
    r = client.post("/api/v1/login", json={"person_id": "he.scim", "password": "Any-password-2026"})
    unknown = client.post("/api/v1/login", json={"person_id": "no.such.person", "password": "Any-password-2026"})
    assert r.status_code == unknown.status_code == 401 and r.json() == unknown.json()
    with pytest.raises(AuthenticationError):  # MFA enrolment proves a password too
        svc.directory.begin_mfa("he.scim", "Any-password-2026")


# ---- SCIM with a stolen (or without a) token ---------------------------------------------------------

def scim_user(user_name: str, **ext: Any) -> dict[str, Any]:
    return {"schemas": [CORE, EXT], "userName": user_name, "displayName": "测试", "active": True,
            EXT: {"branch": "总行", **ext}}


def group(client: TestClient, name: str, *members: str) -> str:
    r = client.post("/scim/v2/Groups", headers=IDP, json={
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name,
        "members": [{"value": m} for m in members]})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def patch(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": list(ops)}


def test_scim_body_is_not_read_for_a_caller_without_the_token(client: TestClient) -> None:
    """Nobody without the IdP's token gets the JSON parser (or the validators) to work on their body."""
    for method, path in (("POST", "/scim/v2/Users"), ("PUT", "/scim/v2/Users/x"), ("PATCH", "/scim/v2/Users/x"),
                         ("POST", "/scim/v2/Groups"), ("PUT", "/scim/v2/Groups/x"), ("PATCH", "/scim/v2/Groups/x")):
        r = client.request(method, path, content=b"{not json" + b" " * 500_000,
                           headers={"Content-Type": "application/scim+json"})
        assert r.status_code == 401, (method, path, r.status_code, r.text[:200])


def test_scim_user_name_is_checked_whole_at_the_edge_and_never_echoed(client: TestClient) -> None:
    for bad in ("Evil Name!", "li.na\u0000x", "ｌｉ.na", "a\u202eb", "ad\nmin", "x" * 65, "\u212aong.name"):
        r = client.post("/scim/v2/Users", headers=IDP, json=scim_user(bad))
        assert r.status_code == 400, (bad, r.text)
        body = r.json()
        assert body["scimType"] == "invalidValue" and "userName" in body["detail"], body
        assert bad.lower() not in r.text and json.dumps(bad.lower())[1:-1] not in r.text
    for bad in ("\u0007铃", "name\x1b[2Jwiped", "a\u202edeliver"):  # control and bidi characters in a name
        r = client.post("/scim/v2/Users", headers=IDP, json={**scim_user("ok.name"), "displayName": bad})
        assert r.status_code == 400, (bad, r.text)
    # what IdPs really send: mixed case and spaces around, one login name
    r = client.post("/scim/v2/Users", headers=IDP, json={**scim_user(" Ok.Name@Bank.Example "), "displayName": "欧 凯"})
    assert r.status_code == 201 and r.json()["userName"] == "ok.name@bank.example", r.text


def test_scim_roles_or_groups_in_unexpected_places_grant_nothing(svc: Services, client: TestClient) -> None:
    assert client.post("/scim/v2/Users", headers=IDP, json=scim_user("zhou.scim")).status_code == 201
    for ops in ([{"op": "add", "path": "roles", "value": [{"value": "administrator"}]}],
                [{"op": "replace", "path": "groups", "value": [{"display": "CD-Admins"}]}],
                [{"op": "replace", "path": "Roles", "value": "administrator"}],
                [{"op": "replace", "path": f"{EXT}:roles", "value": ["administrator"]}]):
        r = client.patch("/scim/v2/Users/zhou.scim", headers=IDP, json=patch(*ops))
        assert r.status_code in (200, 400), r.text
    for value in ({"roles": ["administrator"]}, {"groups": [{"value": "CD-Admins"}]},
                  {EXT: {"roles": ["administrator"]}}, {"urn:custodata:params:scim:schemas:1.0:user": {"kind": "x"}},
                  {"USERNAME": "break.glass"}):
        r = client.patch("/scim/v2/Users/zhou.scim", headers=IDP, json=patch({"op": "replace", "value": value}))
        assert r.status_code in (200, 400), r.text
    person = svc.directory.person("zhou.scim")
    assert person.roles == () and person.person_id == "zhou.scim"
    # the userName path in any case cannot rename the account onto another
    r = client.patch("/scim/v2/Users/zhou.scim", headers=IDP,
                     json=patch({"op": "replace", "path": "USERNAME", "value": "break.glass"}))
    assert r.status_code == 400
    assert svc.directory.person("break.glass").source == "local"


def test_scim_group_tricks_do_not_break_separation_of_duties(svc: Services, client: TestClient) -> None:
    for name in ("qin.scim", "xu.scim"):
        assert client.post("/scim/v2/Users", headers=IDP, json=scim_user(name)).status_code == 201
    admins = group(client, "CD-Admins", "qin.scim")
    # a member named twice, in upper case or with spaces is one member
    other = group(client, "Unmapped", "xu.scim", "XU.SCIM", " xu.scim ")
    assert [m["value"] for m in client.get(f"/scim/v2/Groups/{other}", headers=IDP).json()["members"]] == ["xu.scim"]
    # a second group that adds the auditor's role: refused
    r = client.patch(f"/scim/v2/Groups/{other}", headers=IDP,
                     json=patch({"op": "add", "path": "members", "value": [{"value": "qin.scim"}]},
                                {"op": "replace", "path": "displayName", "value": "CD-Audit"}))
    assert r.status_code == 409, r.text
    # renamed to collide with the administrators' group name: refused, nothing changes
    r = client.patch(f"/scim/v2/Groups/{other}", headers=IDP,
                     json=patch({"op": "replace", "path": "displayName", "value": "CD-Admins"}))
    assert r.status_code == 409, r.text
    assert svc.directory.person("xu.scim").roles == ()
    # a local account is not the IdP's to put in a group
    r = client.patch(f"/scim/v2/Groups/{admins}", headers=IDP,
                     json=patch({"op": "add", "path": "members", "value": [{"value": "break.glass"}]}))
    assert r.status_code == 403
    assert svc.directory.person("break.glass").roles == ("marketer",)
    assert svc.directory.person("qin.scim").roles == ("administrator",)


def test_scim_filters_other_than_one_eq_are_refused(client: TestClient) -> None:
    for f in ('userName eq "a" or userName pr', 'userName pr', 'userName eq "a\\" or 1"', 'name.familyName eq "x"',
              'userName eq ""', "userName eq 'a'"):
        r = client.get("/scim/v2/Users", headers=IDP, params={"filter": f})
        assert r.status_code == 400 and r.json()["scimType"] == "invalidFilter", (f, r.text)


def test_a_password_tried_on_an_sso_account_takes_a_hash_check_like_any_other(
        svc: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """No timing tell which login names are SCIM/OIDC accounts: their 401 costs one argon2 check too."""
    Provisioner(svc.directory, MAPPING, idp="okta").create_user(
        UserAssertion(user_name="tang.scim", display_name="唐", branch="总行"))
    checks: list[str] = []
    real = svc.directory.passwords.hasher

    class Spy:
        def verify(self, stored: str, password: str) -> bool:
            checks.append(stored[:9])
            return bool(real.verify(stored, password))

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    monkeypatch.setattr(svc.directory.passwords, "hasher", Spy())
    for name in ("tang.scim", "no.such.person", "break.glass"):
        before = len(checks)
        with pytest.raises(AuthenticationError):
            svc.directory.login(name, "Wrong-pass-2026")
        assert len(checks) - before >= 1 and "$argon2" in checks[-1], (name, checks)


def test_a_flood_without_the_token_does_not_hold_back_the_idps_deactivation(
        svc: Services, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same address, no token: limited on its own count; the IdP's leaver push still goes through."""
    assert client.post("/scim/v2/Users", headers=IDP, json=scim_user("lu.leaver")).status_code == 201
    settings = svc.identity_settings
    assert settings.scim is not None
    monkeypatch.setattr(svc, "identity_settings", settings.model_copy(
        update={"scim": settings.scim.model_copy(update={"requests_per_minute": 3})}))
    answers = [client.get("/scim/v2/Users", headers={"Authorization": "Bearer guessed"}).status_code
               for _ in range(6)]
    assert answers[:3] == [401, 401, 401] and set(answers[3:]) == {429}
    r = client.delete("/scim/v2/Users/lu.leaver", headers=IDP)
    assert r.status_code == 204, r.text
    assert svc.directory.person("lu.leaver").status == "left"


# ---- the console's redirect after a login -------------------------------------------------------------

def test_the_target_after_login_cannot_leave_the_site_by_control_characters() -> None:
    """Browsers drop tab and newline from URLs: "/\\t/evil.example" is "//evil.example", another site."""
    from custodata.console.login import _safe_next

    for bad in ("/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "/\x00/x",
                "//evil.example", "/\\evil.example", "https://evil.example", " /x"):
        assert _safe_next(bad) == "/", repr(bad)
    assert _safe_next("/customers/C1?tab=history") == "/customers/C1?tab=history"


# ---- sessions ----------------------------------------------------------------------------------------

def test_parallel_logins_of_an_outsourced_seat_leave_one_live_session(ops_url: str) -> None:
    """The concurrent-session limit under a burst of logins at once (two browsers, a script)."""
    import threading

    from argon2 import PasswordHasher

    from custodata.audit.events import MemorySink
    from custodata.identity import tables as t
    from custodata.identity.directory import Directory
    from custodata.identity.settings import SessionSettings
    from custodata.ops import open_ops

    store = open_ops(ops_url)
    try:
        d = Directory(store, MemorySink(), clock=lambda: dt.datetime(2026, 3, 2, 9, 0),
                      hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
                      settings=IdentitySettings(sessions=SessionSettings(max_concurrent={"outsourced": 1})))
        d.create_person("agent.x", "外包坐席", "outsourced", "总行", password=None, roles=("outsourced_agent",),
                        by="t", source="scim")
        start = threading.Barrier(6)
        errors: list[BaseException] = []

        def one() -> None:
            try:
                start.wait()
                d.open_session("agent.x", role=None, method="oidc", mfa=False)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=one) for _ in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors, errors
        s = t.session.c
        with store.read() as con:
            live = con.execute(sa.select(sa.func.count()).select_from(t.session)
                               .where(s.person_id == "agent.x", s.revoked_at.is_(None))).scalar_one()
        assert live == 1
    finally:
        store.close()


# ---- the second factor ---------------------------------------------------------------------------------

def test_a_code_in_other_digits_is_a_wrong_code_not_a_server_error(svc: Services, client: TestClient) -> None:
    """'١٢٣٤٥٦' is six digits to str.isdigit: it reached hmac.compare_digest, which refuses non-ASCII text."""
    import pyotp

    d = svc.directory
    d.create_person("kong.mfa", "孔", "employee", "总行", password="Kong-pass-2026x", roles=("marketer",), by="t")  # noqa: S106
    secret = d.begin_mfa("kong.mfa", "Kong-pass-2026x").secret
    arabic = "١٢٣٤٥٦"
    with pytest.raises(AuthenticationError):
        d.confirm_mfa("kong.mfa", "Kong-pass-2026x", arabic)
    r = client.post("/api/v1/mfa/confirm", json={"person_id": "kong.mfa", "password": "Kong-pass-2026x",
                                                  "code": arabic})
    assert r.status_code in (401, 422), r.text
    d.confirm_mfa("kong.mfa", "Kong-pass-2026x", pyotp.TOTP(secret).at(d.now().replace(tzinfo=dt.UTC)))
    for otp in (arabic, "１２３４５６", "123\u00a0456"):
        with pytest.raises(AuthenticationError):
            d.login("kong.mfa", "Kong-pass-2026x", otp=otp)
        assert events(svc, "login")[-1]["reason"] == "wrong second factor"
    r = client.post("/api/v1/login", json={"person_id": "kong.mfa", "password": "Kong-pass-2026x", "otp": arabic})
    assert r.status_code == 401, r.text


def test_scim_then_oidc_cannot_add_up_to_a_separated_pair(svc: Services, gate: Admission) -> None:
    """A SCIM account keeps SCIM's roles whatever the token's groups; an oidc account is out of SCIM's reach."""
    scim = Provisioner(svc.directory, MAPPING, idp="okta")
    scim.create_user(UserAssertion(user_name="feng.scim", display_name="冯", branch="总行"))
    scim.create_group("CD-Admins-2", ["feng.scim"])
    svc.directory.grant_role("feng.scim", "administrator", by="sec.officer", approved_by="sec.qian")
    after = gate.person(claims("feng-sub", "feng.scim", groups=["CD-Audit"]), via="console", source_address=None)
    assert after.roles == ("administrator",)
    gate.person(claims("idp-uid-7", "gao.oidc", groups=["CD-Audit"]), via="console", source_address=None)
    with pytest.raises(PermissionError):
        scim.create_group("CD-Admins-3", ["gao.oidc"])
    assert svc.directory.person("gao.oidc").roles == ("auditor",)


def test_a_move_or_a_leave_bites_on_the_next_request_of_a_live_sso_session(svc: Services, client: TestClient,
                                                                           gate: Admission) -> None:
    assert client.post("/scim/v2/Users", headers=IDP, json=scim_user("jiang.mover")).status_code == 201
    stewards = group(client, "CD-Stewards", "jiang.mover")
    session = gate.sign_in(claims("jiang-sub", "jiang.mover"), source_address="10.0.0.5")
    me = {"Authorization": f"Bearer {session.token}"}
    assert client.get("/api/v1/me", headers=me).json()["role"] == "data_steward"
    r = client.patch("/scim/v2/Users/jiang.mover", headers=IDP,
                     json=patch({"op": "replace", "path": f"{EXT}:branch", "value": "杭州分行"}))
    assert r.status_code == 200, r.text
    assert client.get("/api/v1/me", headers=me).json()["branch"] == "杭州分行"  # the move, on the live session
    r = client.patch(f"/scim/v2/Groups/{stewards}", headers=IDP,
                     json=patch({"op": "remove", "path": 'members[value eq "jiang.mover"]'}))
    assert r.status_code == 200, r.text
    assert client.get("/api/v1/me", headers=me).status_code == 401  # the role it acted in is gone
    assert client.put(f"/scim/v2/Groups/{stewards}", headers=IDP, json={
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "CD-Stewards",
        "members": [{"value": "jiang.mover"}]}).status_code == 200
    again = gate.sign_in(claims("jiang-sub", "jiang.mover"))
    assert client.delete("/scim/v2/Users/jiang.mover", headers=IDP).status_code == 204
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {again.token}"}).status_code == 401
    with pytest.raises(AuthenticationError):  # a leaver signs in no more, whatever the IdP still issues
        gate.sign_in(claims("jiang-sub", "jiang.mover"))


def test_oidc_a_login_name_that_lower_cases_onto_another_is_refused(svc: Services, gate: Admission) -> None:
    """'\u212aong.scim' (KELVIN SIGN) is another user at the IdP but lower-cases to 'kong.scim'."""
    Provisioner(svc.directory, MAPPING, idp="okta").create_user(
        UserAssertion(user_name="kong.scim", display_name="孔", branch="总行"))
    assert gate.person(claims("kong-sub", "Kong.Scim"), via="console", source_address=None).person_id == "kong.scim"
    for confusable in ("\u212aong.scim", "kong.\u017fcim"):
        with pytest.raises(OidcError):
            gate.person(claims("other-sub", confusable), via="console", source_address=None)
