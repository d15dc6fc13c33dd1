"""OpenID Connect single sign-on (issue 15 point 1) against a real provider the tests start.

The provider is panva's ``oidc-provider`` (OpenID Certified), pinned in
``tests/oidc_provider/package-lock.json`` and installed by ``scripts/ensure-oidc-provider.sh``
(``make services``; the fixture calls it too).  Nothing of the client is mocked: the console's
authorization-code + PKCE redirects are followed with httpx through the provider's own
interaction endpoints, ID tokens and JWT access tokens are the provider's, signed with its keys.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import select
import shutil
import socket
import subprocess
import time
import urllib.parse
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwk, jwt
from joserfc.jwk import KeySet

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 but works with the pinned httpx
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

from custodata.api import create_app
from custodata.crypto.kek import load_provider
from custodata.identity.errors import LOGIN_FAILED
from custodata.identity.oidc import Admission, OidcClient, OidcError
from custodata.identity.provisioning import Provisioner, UserAssertion
from custodata.identity.settings import ClaimMapping, IdentitySettings, MfaSettings, OidcSettings
from custodata.service import Services
from tests.audit_helpers import events

ROOT = Path(__file__).resolve().parent.parent
PROVIDER = ROOT / "tests" / "oidc_provider"
API = "urn:custodata:api"
OTHER_API = "urn:other:api"
CONSOLE_SECRET = "console-secret-for-the-test-provider"  # noqa: S105 - the test provider's client secret
CALLBACK = "http://testserver/login/sso/callback"
CLI_CALLBACK = "http://127.0.0.1/cli/callback"
MAPPING = ClaimMapping(group_roles={"CD-Counter": "front_desk", "CD-Stewards": "data_steward",
                                    "CD-Admins": "administrator", "CD-Audit": "auditor",
                                    "CD-Marketing": "marketer"},
                       default_branch="总行")
MFA = ["pwd", "otp"]
USERS: dict[str, dict[str, Any]] = {
    "li.na": {"name": "李娜", "groups": ["CD-Counter"], "branch": "杭州分行", "employee_type": "employee",
              "amr": MFA, "acr": "urn:custodata:mfa"},
    "wang.pwd": {"name": "王平", "groups": ["CD-Counter"], "branch": "杭州分行", "amr": ["pwd"],
                 "acr": "urn:custodata:pwd"},
    "chen.mkt": {"name": "陈敏", "groups": ["CD-Marketing"], "branch": "总行", "employee_type": "outsourced",
                 "amr": ["pwd"], "acr": "urn:custodata:pwd", "valid_to": "2099-12-31T00:00:00+08:00"},
    "zhao.sod": {"name": "赵双", "groups": ["CD-Admins", "CD-Audit"], "branch": "总行", "amr": MFA,
                 "acr": "urn:custodata:mfa"},
    "sun.scim": {"name": "孙思", "groups": [], "branch": "ignored", "amr": MFA, "acr": "urn:custodata:mfa"},
    "front.local": {"name": "本地", "groups": ["CD-Counter"], "branch": "总行", "amr": MFA,
                    "acr": "urn:custodata:mfa"},
    "never.seen": {"name": "未见", "groups": ["CD-Marketing"], "branch": "总行", "amr": ["pwd"],
                   "acr": "urn:custodata:pwd"},
    "nobody.new": {"name": "新人", "groups": ["CD-Marketing"], "branch": "总行", "amr": ["pwd"],
                   "acr": "urn:custodata:pwd"},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The OIDC provider on a free port, its users in a file the test may rewrite (a mover)."""
    assert shutil.which("node"), "Node.js is needed for the test OIDC provider: run make services"
    setup = subprocess.run([str(ROOT / "scripts" / "ensure-oidc-provider.sh")], capture_output=True, text=True,
                           check=False)
    assert setup.returncode == 0, f"scripts/ensure-oidc-provider.sh failed: {setup.stdout}{setup.stderr}"
    folder = tmp_path_factory.mktemp("oidc-provider")
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}"
    users_file = folder / "users.json"
    users_file.write_text(json.dumps(USERS, ensure_ascii=False), encoding="utf-8")
    conf = {
        "issuer": issuer, "port": port, "kid": "idp-key-1", "resources": [API, OTHER_API],
        "users_file": str(users_file),
        "clients": [
            {"client_id": "custodata-console", "client_secret": CONSOLE_SECRET, "redirect_uris": [CALLBACK],
             "grant_types": ["authorization_code"], "response_types": ["code"],
             "token_endpoint_auth_method": "client_secret_basic"},
            {"client_id": "custodata-cli", "redirect_uris": [CLI_CALLBACK], "grant_types": ["authorization_code"],
             "response_types": ["code"], "token_endpoint_auth_method": "none"},
        ],
    }
    (folder / "conf.json").write_text(json.dumps(conf), encoding="utf-8")
    process = subprocess.Popen(["node", str(PROVIDER / "provider.js"), str(folder / "conf.json")],  # noqa: S603,S607
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline() if ready else ""
        assert line.startswith("ready"), f"the OIDC provider did not start: {line!r}"
        yield {"issuer": issuer, "users_file": users_file}
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def oidc_settings(issuer: str, **changes: Any) -> OidcSettings:
    values: dict[str, Any] = {
        "issuer": issuer, "client_id": "custodata-console", "client_secret_env": "CUSTODATA_TEST_OIDC_SECRET",
        "redirect_uri": CALLBACK, "audience": API, "allow_http": True, "idp": "keycloak", "provision": "create",
        "mapping": MAPPING, "mfa_acr": ("urn:custodata:mfa",), **changes}
    return OidcSettings(**values)


@pytest.fixture(scope="module")
def svc(provider: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    mp = pytest.MonkeyPatch()
    mp.setenv("CUSTODATA_TEST_OIDC_SECRET", CONSOLE_SECRET)
    folder = tmp_path_factory.mktemp("oidc")
    load_provider(folder / "out", create=True)
    services = Services.open(folder / "out", url=f"sqlite:///{folder / 'ops.sqlite'}")
    services.identity_settings = IdentitySettings(mfa=MfaSettings(enforce=True),
                                                  oidc=oidc_settings(provider["issuer"]))
    services.directory.create_person("front.local", "本地柜员", "employee", "总行", password="Local-pass-2026",  # noqa: S106
                                     roles=("marketer",), by="t")
    yield services
    services.close()
    mp.undo()


@pytest.fixture(scope="module")
def client(svc: Services) -> Iterator[TestClient]:
    with TestClient(create_app(svc)) as c:
        yield c


# ---- driving the provider like a browser ---------------------------------------------------------

def provider_login(auth_url: str, login: str) -> httpx.URL:
    """Follow the provider's redirects and its login interaction; returns the redirect back to the client."""
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        url = httpx.URL(auth_url)
        for _ in range(10):
            r = browser.get(url)
            assert r.status_code in (302, 303), r.text[:300]
            url = url.join(r.headers["location"])
            if url.path.startswith("/interaction/"):
                assert browser.get(url).status_code == 200  # the provider's login page
                r = browser.post(url.join(url.path + "/login"), data={"login": login})
                assert r.status_code == 303, r.text[:300]
                url = url.join(r.headers["location"])
                continue
            if not url.host.startswith("127.0.0.1") or url.path.startswith("/cli"):
                return url
        raise AssertionError("the provider never redirected back")


def console_sso(client: TestClient, login: str, *, next: str = "/") -> httpx.Response:
    client.cookies.clear()
    start = client.get("/login/sso", params={"next": next}, follow_redirects=False)
    assert start.status_code == 303, start.text[:300]
    back = provider_login(start.headers["location"], login)
    assert back.path == "/login/sso/callback"
    answer: httpx.Response = client.get(f"{back.path}?{back.query.decode()}", follow_redirects=False)
    return answer


def cli_tokens(issuer: str, login: str, *, resource: str = API, nonce: str | None = None) -> dict[str, Any]:
    """Tokens as a command-line client gets them: code + PKCE with a resource indicator."""
    verifier = generate_token(64)
    params = {"response_type": "code", "client_id": "custodata-cli", "redirect_uri": CLI_CALLBACK,
              "scope": "openid groups", "state": generate_token(16), "resource": resource,
              "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256",
              **({"nonce": nonce} if nonce else {})}
    back = provider_login(f"{issuer}/auth?{urllib.parse.urlencode(params)}", login)
    code = dict(urllib.parse.parse_qsl(back.query.decode()))["code"]
    r = httpx.post(f"{issuer}/token", data={"grant_type": "authorization_code", "code": code,
                                            "redirect_uri": CLI_CALLBACK, "client_id": "custodata-cli",
                                            "code_verifier": verifier}, timeout=10)
    assert r.status_code == 200, r.text
    return dict(r.json())


def api_token(issuer: str, login: str, *, resource: str = API) -> str:
    token = str(cli_tokens(issuer, login, resource=resource)["access_token"])
    assert token.count(".") == 2  # a JWT, not an opaque handle
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


# ---- the console ------------------------------------------------------------------------------

def test_console_login_by_code_and_pkce_opens_a_session_and_provisions_the_person(
        client: TestClient, svc: Services) -> None:
    start = client.get("/login/sso", params={"next": "/search"}, follow_redirects=False)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(start.headers["location"]).query))
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["state"] and query["nonce"] and "code_verifier" not in query
    assert "custodata_sso" in start.headers["set-cookie"] and "samesite=lax" in start.headers["set-cookie"].lower()

    r = console_sso(client, "li.na", next="/search")
    assert r.status_code == 200, events(svc, "login")[-3:]
    assert 'url=/search' in r.text  # a same-site hop, so the Strict session cookie is sent
    token = client.cookies.get("custodata_session")
    assert token
    me = client.get("/api/v1/me", headers=bearer(token)).json()
    assert me["person_id"] == "li.na" and me["role"] == "front_desk" and me["branch"] == "杭州分行"
    person = svc.directory.person("li.na")
    assert person.source == "oidc" and person.roles == ("front_desk",) and person.kind == "employee"
    login = [e for e in events(svc, "login") if e["actor"] == "li.na" and e["result"] == "ok"][-1]
    assert login["method"] == "oidc" and login["mfa"] is True and login["idp"] == "keycloak"
    created = [e for e in events(svc, "identity_change") if e.get("person_id") == "li.na"]
    assert created and all(e["actor"] == "oidc:keycloak" for e in created)
    # the console page itself with the session cookie
    assert client.get("/search", follow_redirects=False).status_code == 200


def test_a_replayed_or_forged_callback_is_refused_and_audited(client: TestClient, svc: Services,
                                                              provider: dict[str, Any]) -> None:
    client.cookies.clear()
    start = client.get("/login/sso", follow_redirects=False)
    back = provider_login(start.headers["location"], "li.na")
    params = dict(urllib.parse.parse_qsl(back.query.decode()))
    forged = client.get("/login/sso/callback", params={**params, "state": "not-the-state"})
    assert forged.status_code == 401 and "custodata_session" not in forged.headers.get("set-cookie", "")
    assert events(svc, "login")[-1]["reason"] == "state does not match this browser's login"
    # another browser (no flow cookie) presenting a stolen code: refused too
    client.cookies.clear()
    stolen = client.get("/login/sso/callback", params=params)
    assert stolen.status_code == 401
    assert events(svc, "login")[-1]["reason"].startswith("no login in progress")


def test_group_to_role_mapping_follows_the_provider_on_every_login(client: TestClient, svc: Services,
                                                                   provider: dict[str, Any]) -> None:
    r = console_sso(client, "chen.mkt")
    assert r.status_code == 200
    person = svc.directory.person("chen.mkt")
    assert person.roles == ("marketer",) and person.kind == "outsourced"
    assert person.valid_to == dt.datetime(2099, 12, 30, 16, 0)  # +08:00 kept as UTC
    # the IdP moves the person to the stewards: the next login holds that role, not the old one
    users = json.loads(provider["users_file"].read_text(encoding="utf-8"))
    users["chen.mkt"]["groups"] = ["CD-Stewards"]
    users["chen.mkt"]["amr"] = MFA
    provider["users_file"].write_text(json.dumps(users, ensure_ascii=False), encoding="utf-8")
    try:
        assert console_sso(client, "chen.mkt").status_code == 200
        assert svc.directory.person("chen.mkt").roles == ("data_steward",)
        changes = {e["change"] for e in events(svc, "identity_change")
                   if e.get("person_id") == "chen.mkt" and e["actor"] == "oidc:keycloak"}
        assert {"person_created", "role_granted", "role_revoked"} <= changes
    finally:
        provider["users_file"].write_text(json.dumps(USERS, ensure_ascii=False), encoding="utf-8")


def test_separation_of_duties_holds_on_what_the_provider_asserts(client: TestClient, svc: Services) -> None:
    r = console_sso(client, "zhao.sod")
    assert r.status_code == 401 and "custodata_session" not in r.headers.get("set-cookie", "")
    assert "统一身份认证登录失败" in r.text
    refused = [e for e in events(svc, "identity_change") if e.get("person_id") == "zhao.sod"]
    assert refused and refused[-1]["change"] == "idp_roles_refused" and refused[-1]["result"] == "denied"
    assert sorted(refused[-1]["roles"]) == ["administrator", "auditor"]
    assert refused[-1]["actor"] == "oidc:keycloak"
    with pytest.raises(LookupError):
        svc.directory.person("zhao.sod")  # nothing written


def test_a_role_that_can_unmask_needs_the_providers_mfa_claim(client: TestClient, svc: Services) -> None:
    r = console_sso(client, "wang.pwd")  # front_desk (customer.unmask) with amr [pwd] only
    assert r.status_code == 401
    denied = [e for e in events(svc, "login") if e["actor"] == "wang.pwd"][-1]
    assert denied["result"] == "denied" and "second factor required" in denied["reason"]
    # a marketer (no unmasking) may sign in with a password at the provider
    client.cookies.clear()
    users_ok = console_sso(client, "nobody.new")
    assert users_ok.status_code == 200
    assert svc.directory.person("nobody.new").roles == ("marketer",)


def test_scim_provisioned_people_sign_in_through_oidc_and_local_accounts_do_not(
        client: TestClient, svc: Services) -> None:
    scim = Provisioner(svc.directory, MAPPING, idp="okta")
    scim.create_user(UserAssertion(user_name="sun.scim", display_name="孙思", branch="宁波分行"))
    scim.create_group("CD-Stewards", ["sun.scim"])
    r = console_sso(client, "sun.scim")
    assert r.status_code == 200, r.text[:300]
    token = client.cookies.get("custodata_session")
    me = client.get("/api/v1/me", headers=bearer(str(token))).json()
    assert me["role"] == "data_steward" and me["branch"] == "宁波分行"  # SCIM's, not the token's
    assert svc.directory.person("sun.scim").source == "scim"
    # custodata's own accounts (demo, break-glass) are out of the provider's reach
    assert console_sso(client, "front.local").status_code == 401
    assert "local account does not sign in" in events(svc, "login")[-1]["reason"]


def test_provision_match_refuses_a_person_the_directory_lacks(client: TestClient, svc: Services,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    gate = svc.oidc
    assert gate is not None
    monkeypatch.setattr(gate, "settings", gate.settings.model_copy(update={"provision": "match"}))
    r = console_sso(client, "never.seen")
    assert r.status_code == 401
    with pytest.raises(LookupError):
        svc.directory.person("never.seen")
    assert events(svc, "login")[-1]["reason"] == "unknown user (oidc.provision is match)"


# ---- the API's bearer tokens --------------------------------------------------------------------

def test_the_api_accepts_the_providers_access_token(client: TestClient, svc: Services,
                                                    provider: dict[str, Any]) -> None:
    token = api_token(provider["issuer"], "li.na")
    assert claims_of(token)["aud"] == API
    r = client.get("/api/v1/me", headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json()["person_id"] == "li.na" and r.json()["role"] == "front_desk"
    # the access token carries no branch claim: that is no assertion, the person stays where they are
    assert "branch" not in claims_of(token) and r.json()["branch"] == "杭州分行"
    # a customer-data route runs through the service layer as that person (audited as li.na)
    r = client.get("/api/v1/customers/C000000001", headers=bearer(token))
    assert r.status_code in (403, 404), r.text
    read = [e for e in events(svc, "read") if e["actor"] == "li.na"]
    assert read, "the customer read is audited as the IdP's person"
    # the person is re-read on every request: frozen in custodata, the live token is refused
    svc.directory.set_status("li.na", "frozen", by="sec.officer", reason="test")
    try:
        assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
        assert events(svc, "login")[-1]["reason"] == "account frozen"
    finally:
        svc.directory.set_status("li.na", "active", by="sec.officer", reason="test")


def test_the_api_refuses_a_wrong_audience_an_expired_token_and_an_unknown_key(
        client: TestClient, svc: Services, provider: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    other = api_token(provider["issuer"], "li.na", resource=OTHER_API)
    assert client.get("/api/v1/me", headers=bearer(other)).status_code == 401
    assert "aud" in events(svc, "login")[-1]["reason"]

    good = api_token(provider["issuer"], "li.na")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)  # past exp (300 s) and the leeway (60 s)
    monkeypatch.setattr(svc.directory, "clock", lambda: later)
    assert client.get("/api/v1/me", headers=bearer(good)).status_code == 401
    assert "exp" in events(svc, "login")[-1]["reason"]
    monkeypatch.undo()

    gate = svc.oidc
    assert gate is not None
    fetches = gate.client.key_fetches
    rogue = jwk.RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    forged_claims = {**claims_of(good), "jti": "forged"}
    forged = jwt.encode({"alg": "RS256", "kid": "rogue", "typ": "at+jwt"}, forged_claims, rogue)
    assert client.get("/api/v1/me", headers=bearer(forged)).status_code == 401
    assert events(svc, "login")[-1]["reason"] == "signed with a key the provider does not publish"
    assert gate.client.key_fetches <= fetches + 1  # one refresh for an unknown key id, no more
    again = jwt.encode({"alg": "RS256", "kid": "rogue-2"}, forged_claims, rogue)
    assert client.get("/api/v1/me", headers=bearer(again)).status_code == 401
    assert gate.client.key_fetches <= fetches + 1  # within the refresh interval: the cache answers

    # the provider's key id with someone else's signature, and an HMAC "signed" with a public value
    spoofed = jwt.encode({"alg": "RS256", "kid": "idp-key-1"}, forged_claims, rogue)
    assert client.get("/api/v1/me", headers=bearer(spoofed)).status_code == 401
    assert events(svc, "login")[-1]["reason"] == "access token: bad signature"
    hmac_token = jwt.encode({"alg": "HS256", "kid": "idp-key-1"}, forged_claims, jwk.OctKey.import_key("x" * 32))
    assert client.get("/api/v1/me", headers=bearer(hmac_token)).status_code == 401
    assert "not allowed" in events(svc, "login")[-1]["reason"]
    # the genuine token still works (nothing above poisoned the key cache)
    assert client.get("/api/v1/me", headers=bearer(good)).status_code == 200

    # a key rotation: the cache holds only an old key; the provider's new kid makes it fetch the set again
    monkeypatch.setattr(gate.client, "_keys", KeySet([jwk.RSAKey.import_key(rogue.as_dict(private=False))]))
    monkeypatch.setattr(gate.client, "_keys_at", time.monotonic() - 60)
    before = gate.client.key_fetches
    assert client.get("/api/v1/me", headers=bearer(good)).status_code == 200
    assert gate.client.key_fetches == before + 1


def test_an_api_token_without_the_mfa_claim_is_refused_for_an_unmasking_role(
        client: TestClient, svc: Services, provider: dict[str, Any]) -> None:
    token = api_token(provider["issuer"], "wang.pwd")
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    assert "second factor required" in events(svc, "login")[-1]["reason"]


def test_an_id_token_for_another_login_or_another_client_is_refused(svc: Services, provider: dict[str, Any]) -> None:
    gate = svc.oidc
    assert gate is not None
    # an ID token the provider minted for the command-line client: its aud is not the console's client id
    id_token = str(cli_tokens(provider["issuer"], "li.na", nonce="nonce-of-that-login")["id_token"])
    with pytest.raises(OidcError) as refused:
        gate.client.verify_id_token(id_token, "nonce-of-that-login")
    assert "aud" in refused.value.reason and str(refused.value) == LOGIN_FAILED  # the caller learns nothing
    # the same token with the audience accepted: the nonce of another login is refused
    cli = OidcClient(oidc_settings(provider["issuer"], client_id="custodata-cli"))
    assert cli.verify_id_token(id_token, "nonce-of-that-login")["sub"] == "li.na"
    with pytest.raises(OidcError) as refused:
        cli.verify_id_token(id_token, "nonce-of-this-login")
    assert refused.value.reason == "ID token: nonce does not match this login"


def test_the_readme_example_is_valid_and_unsafe_settings_are_refused() -> None:
    import yaml
    from pydantic import ValidationError

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Identity from the institution"):]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0].replace("<from `custodata people scim-token`>",
                                                                          "ab" * 32)
    settings = IdentitySettings.model_validate(yaml.safe_load(example))
    assert settings.oidc is not None and settings.oidc.audience == API and settings.oidc.provision == "match"
    for bad in ({"algorithms": ["HS256"]}, {"algorithms": ["none"]}, {"allow_http": False}):
        with pytest.raises(ValidationError):
            oidc_settings("http://127.0.0.1:1", **bad)


def test_a_provider_that_cannot_be_reached_refuses_tokens_and_does_not_fail_the_server(
        svc: Services, provider: dict[str, Any]) -> None:
    token = api_token(provider["issuer"], "li.na")
    down = Admission(svc.directory, OidcClient(oidc_settings(f"http://127.0.0.1:{_free_port()}")))
    with pytest.raises(OidcError):
        down.bearer(token, source_address="10.0.0.9")
    last = events(svc, "login")[-1]
    assert last["reason"] == "the provider's keys cannot be read now" and last["via"] == "bearer"


def test_an_id_token_is_not_accepted_as_an_access_token(svc: Services, provider: dict[str, Any]) -> None:
    # a deployment that left audience at the client id: the ID token's aud would match
    tokens = cli_tokens(provider["issuer"], "li.na", nonce="n-1")
    same_aud = Admission(svc.directory, OidcClient(oidc_settings(provider["issuer"], client_id="custodata-cli",
                                                                 audience=None)))
    with pytest.raises(OidcError) as refused:
        same_aud.client.verify_access_token(str(tokens["id_token"]))
    assert "not an access token" in refused.value.reason


def test_logout_everywhere_with_the_providers_access_token_ends_the_console_sessions(
        client: TestClient, svc: Services, provider: dict[str, Any]) -> None:
    """A laptop left signed in: from the API, with the IdP's token, every custodata session of the person ends."""
    assert console_sso(client, "li.na").status_code == 200
    session = str(client.cookies.get("custodata_session"))
    assert client.get("/api/v1/me", headers=bearer(session)).status_code == 200
    token = api_token(provider["issuer"], "li.na")
    r = client.post("/api/v1/logout/everywhere", headers=bearer(token))
    assert r.status_code == 204, r.text
    assert client.get("/api/v1/me", headers=bearer(session)).status_code == 401


def test_jwt_header_tricks_and_oversized_tokens_are_refused(client: TestClient, svc: Services,
                                                            provider: dict[str, Any]) -> None:
    """jku/x5u/jwk in the header name the attacker's key: never fetched nor used; alg none; a huge token."""
    good = api_token(provider["issuer"], "li.na")
    assert client.get("/api/v1/me", headers=bearer(good)).status_code == 200
    rogue = jwk.RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    forged = {**claims_of(good), "groups": ["CD-Admins"], "jti": "forged-2"}
    public = rogue.as_dict(private=False)
    for header in ({"alg": "RS256", "jku": "http://127.0.0.1:1/jwks.json"},
                   {"alg": "RS256", "kid": "idp-key-1", "x5u": "http://127.0.0.1:1/cert.pem"},
                   {"alg": "RS256", "jwk": public},
                   {"alg": "RS256", "kid": "../../etc/passwd' OR 1=1 --"}):
        token = jwt.encode(header, forged, rogue)
        assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401, header
    head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    assert client.get("/api/v1/me", headers=bearer(f"{head}.{body}.")).status_code == 401
    assert "not allowed" in events(svc, "login")[-1]["reason"]
    huge = f"{head}.{body}{'A' * 9000}.sig"
    assert client.get("/api/v1/me", headers=bearer(huge)).status_code == 401
    assert svc.directory.person("li.na").roles == ("front_desk",)  # no forged claim was ever applied
