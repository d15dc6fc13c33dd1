"""LDAP / Active Directory bind login (issue 15 point 1) against a real slapd started by the tests.

Debian's ``slapd`` (installed by ``scripts/ensure-services.sh``) runs as a private instance on two
free ports (``ldap://`` with StartTLS, ``ldaps://``, a certificate from a CA the test makes) with its
own configuration (``tests/ldap/slapd.conf.in``: memberof overlay, a site schema, a read-only
service account, anonymous reads refused) and is seeded with ``tests/ldap/seed.ldif`` by ``ldapadd``.
Logins go through the API as a browser or a script sends them; moves and leavers are made in the
directory with ldap3, as the institution's directory team would.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from ldap3 import MODIFY_ADD, MODIFY_DELETE, MODIFY_REPLACE, Connection, Server

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 but works with the pinned httpx
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

from custodata.api import create_app
from custodata.audit import tables as audit_tables
from custodata.crypto.kek import load_provider
from custodata.identity import tables as t
from custodata.identity.ldap import parse_directory_time
from custodata.identity.settings import ClaimMapping, IdentitySettings, LdapSettings
from custodata.service import Services
from tests.audit_helpers import events

HERE = Path(__file__).parent / "ldap"
BASE = "dc=bank,dc=test"
ROOT_DN, ROOT_PW = f"cn=admin,{BASE}", "Root-pw-for-tests-only"
SERVICE_DN, SERVICE_PW = f"cn=custodata-svc,ou=services,{BASE}", "Svc-Secret-9f3Kq"
PW_ENV = "CUSTODATA_TEST_LDAP_BIND_PW"
MAPPING = ClaimMapping(group_roles={"CD-Counter": "front_desk", "CD-Agents": "outsourced_agent",
                                    "CD-Stewards": "data_steward", "CD-Admins": "administrator",
                                    "CD-Audit": "auditor"},
                       branch_claim="departmentNumber", kind_claim="employeeType",
                       kind_values={"employee": "employee", "contractor": "outsourced", "partner": "partner"},
                       valid_to_claim="bankValidTo", default_branch="总行")


def password(uid: str) -> str:
    return f"Ldap-{uid}-2026"


def people_dn(uid: str) -> str:
    return f"uid={uid},ou=people,{BASE}"


def group_dn(name: str) -> str:
    return f"cn={name},ou=groups,{BASE}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _certificates(folder: Path) -> None:
    """A CA and a server certificate for 127.0.0.1 signed by it (ca.pem, server.pem, server.key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("custodata test CA")).issuer_name(name("custodata test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    server = (x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca.subject)
              .public_key(key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                          x509.DNSName("localhost")]), critical=False)
              .sign(ca_key, hashes.SHA256()))
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))


@dataclass(frozen=True)
class Slapd:
    url: str  # ldap://127.0.0.1:PORT (StartTLS offered)
    ldaps: str  # ldaps://127.0.0.1:PORT2
    ca_file: Path


@pytest.fixture(scope="module")
def slapd_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """A private slapd on two free ports (ldap:// with StartTLS, ldaps://), seeded, with a test CA's certificate.

    Stopped (by its own process) at the end.
    """
    binary = shutil.which("slapd") or "/usr/sbin/slapd"
    assert Path(binary).exists(), "slapd is missing: make test runs scripts/ensure-services.sh, which installs it"
    folder = tmp_path_factory.mktemp("slapd")
    (folder / "db").mkdir()
    _certificates(folder)
    tls = (f"TLSCACertificateFile {folder}/ca.pem\nTLSCertificateFile {folder}/server.pem\n"
           f"TLSCertificateKeyFile {folder}/server.key\n")
    conf = folder / "slapd.conf"
    conf.write_text(tls + (HERE / "slapd.conf.in").read_text().replace("@DIR@", str(folder))
                    .replace("@ROOTPW@", ROOT_PW).replace("@HERE@", str(HERE)))
    port, tls_port = _free_port(), _free_port()
    url, ldaps = f"ldap://127.0.0.1:{port}", f"ldaps://127.0.0.1:{tls_port}"
    log = (folder / "slapd.log").open("w")
    proc = subprocess.Popen([binary, "-f", str(conf), "-h", f"{url}/ {ldaps}/", "-d", "0"], stdout=log, stderr=log)
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                assert proc.poll() is None, (folder / "slapd.log").read_text()
                time.sleep(0.05)
        seeded = subprocess.run(["ldapadd", "-x", "-H", url, "-D", ROOT_DN, "-w", ROOT_PW,
                                 "-f", str(HERE / "seed.ldif")], capture_output=True, text=True, timeout=30)
        assert seeded.returncode == 0, seeded.stderr
        yield Slapd(url, ldaps, folder / "ca.pem")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def slapd(slapd_tls: Slapd) -> str:
    return slapd_tls.url


def modify(url: str, dn: str, changes: dict[str, Any]) -> None:
    """Change the directory as its administrators would (a move, a leaver)."""
    con = Connection(Server(url), user=ROOT_DN, password=ROOT_PW, auto_bind=True)
    try:
        assert con.modify(dn, changes), con.result
    finally:
        con.unbind()


def ldap_settings(url: str, **overrides: Any) -> LdapSettings:
    values: dict[str, Any] = {
        "url": url, "allow_plain": True, "name": "corp", "bind_dn": SERVICE_DN, "bind_password_env": PW_ENV,
        "user_base": f"ou=people,{BASE}", "user_filter": "(&(objectClass=inetOrgPerson)(uid={login}))",
        "disabled_filter": "(description=account-disabled)", "mapping": MAPPING, **overrides}
    return LdapSettings(**values)


def open_services(folder: Path, settings: IdentitySettings) -> Services:
    load_provider(folder / "out", create=True)
    services = Services.open(folder / "out", url=f"sqlite:///{folder / 'ops.sqlite'}")
    services.identity_settings = settings
    return services


@pytest.fixture(scope="module")
def svc(slapd: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    os.environ[PW_ENV] = SERVICE_PW
    services = open_services(tmp_path_factory.mktemp("ldap-svc"), IdentitySettings(ldap=ldap_settings(slapd)))
    # a local account under a name the directory also has: the directory never vouches for it
    services.directory.create_person("local.clash", "本地账户", "employee", "总行", password="Local-pass-2026",  # noqa: S106
                                     roles=("front_desk",), by="t")
    yield services
    services.close()
    os.environ.pop(PW_ENV, None)


@pytest.fixture(scope="module")
def client(svc: Services) -> Iterator[TestClient]:
    with TestClient(create_app(svc)) as c:
        yield c


def login(client: TestClient, uid: str, pw: str | None = None, **extra: Any) -> Any:
    return client.post("/api/v1/login", json={"person_id": uid, "password": pw or password(uid), **extra})


def me(client: TestClient, token: str) -> Any:
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def last_login(svc: Services, uid: str) -> dict[str, Any]:
    return [e for e in events(svc, "login") if e["actor"] == uid or e.get("login") == uid][-1]


# ---- bind and mapping ------------------------------------------------------------------------


def test_a_bind_opens_a_session_with_the_mapped_role_branch_and_kind(client: TestClient, svc: Services) -> None:
    r = login(client, "li.wei")
    assert r.status_code == 200, r.text
    person = me(client, r.json()["token"]).json()
    assert (person["role"], person["branch"], person["kind"]) == ("front_desk", "上海分行", "employee")
    stored = svc.directory.person("li.wei")
    assert stored.source == "ldap" and stored.display_name == "李伟" and stored.roles == ("front_desk",)
    assert stored.external_id == people_dn("li.wei")
    ok = last_login(svc, "li.wei")
    assert ok["result"] == "ok" and ok["method"] == "ldap" and ok["mfa"] is False
    created = [e for e in events(svc, "identity_change") if e["person_id"] == "li.wei"]
    assert created[0]["change"] == "person_created" and created[0]["actor"] == "ldap:corp"
    # a contractor maps to outsourced, the agents' group to the outsourced agent role
    r = login(client, "zhou.min")
    assert r.status_code == 200, r.text
    assert me(client, r.json()["token"]).json()["kind"] == "outsourced"
    assert svc.directory.person("zhou.min").roles == ("outsourced_agent",)


def test_wrong_password_unknown_and_role_less_people_get_the_one_generic_401(client: TestClient,
                                                                            svc: Services) -> None:
    wrong = login(client, "li.wei", "not-the-password-1")
    unknown = login(client, "nobody.here", "whatever-pass-1")
    role_less = login(client, "qian.none")  # right password, in no group that maps to a role
    assert wrong.status_code == unknown.status_code == role_less.status_code == 401
    assert wrong.json() == unknown.json() == role_less.json()
    assert last_login(svc, "li.wei")["reason"] == "wrong password"
    assert last_login(svc, "nobody.here")["reason"] == "not in the directory"
    assert last_login(svc, "qian.none")["reason"] == "holds no role"
    assert svc.directory.person("qian.none").roles == ()


def test_an_empty_password_is_never_sent_as_an_anonymous_bind(svc: Services) -> None:
    from custodata.identity.errors import AuthenticationError
    from custodata.service import auth

    with pytest.raises(AuthenticationError):
        auth.login(svc, "li.wei", "")
    assert last_login(svc, "li.wei")["reason"] == "wrong password"


def test_failed_binds_count_towards_the_lockout_like_local_passwords(client: TestClient, svc: Services) -> None:
    assert login(client, "lock.test").status_code == 200
    for _ in range(svc.directory.max_failures):
        assert login(client, "lock.test", "wrong-password-99").status_code == 401
    assert svc.directory.person("lock.test").failed_logins == svc.directory.max_failures
    # locked: the right password is refused without asking the directory, with the same answer
    r = login(client, "lock.test")
    assert r.status_code == 401 and r.json() == login(client, "nobody.here", "whatever-pass-1").json()
    assert last_login(svc, "lock.test")["reason"].startswith("locked")
    with svc.directory.store.begin() as con:  # the lock lifts after its time: move it into the past
        con.execute(sa.update(t.person).where(t.person.c.person_id == "lock.test")
                    .values(locked_until=dt.datetime(2000, 1, 1)))
    assert login(client, "lock.test").status_code == 200
    assert svc.directory.person("lock.test").failed_logins == 0


def test_a_person_disabled_in_the_directory_cannot_sign_in_and_loses_live_sessions(
        client: TestClient, svc: Services, slapd: str) -> None:
    r = login(client, "zhao.left")  # disabled from the start: never created here
    assert r.status_code == 401
    assert last_login(svc, "zhao.left")["reason"] == "disabled in the directory"
    with pytest.raises(Exception, match="no person"):
        svc.directory.person("zhao.left")
    # someone who worked yesterday is disabled today: the next login is refused and the live session ends
    token = login(client, "zhou.min").json()["token"]
    assert me(client, token).status_code == 200
    modify(slapd, people_dn("zhou.min"), {"description": [(MODIFY_REPLACE, ["account-disabled"])]})
    try:
        assert login(client, "zhou.min").status_code == 401
        assert last_login(svc, "zhou.min")["reason"] == "disabled in the directory"
        assert me(client, token).status_code == 401
    finally:
        modify(slapd, people_dn("zhou.min"), {"description": [(MODIFY_DELETE, [])]})
    assert login(client, "zhou.min").status_code == 200


def test_a_mover_gets_the_new_role_and_branch_at_the_next_login(client: TestClient, svc: Services,
                                                                 slapd: str) -> None:
    r = login(client, "wang.fang")
    assert r.status_code == 200, r.text
    steward_token = r.json()["token"]
    assert me(client, steward_token).json()["role"] == "data_steward"
    assert svc.directory.person("wang.fang").branch == "杭州分行"
    # the directory team moves her: from the stewards to the counter, from Hangzhou to Beijing
    modify(slapd, group_dn("CD-Stewards"), {"member": [(MODIFY_DELETE, [people_dn("wang.fang")])]})
    modify(slapd, group_dn("CD-Counter"), {"member": [(MODIFY_ADD, [people_dn("wang.fang")])]})
    modify(slapd, people_dn("wang.fang"), {"departmentNumber": [(MODIFY_REPLACE, ["北京分行"])]})
    r = login(client, "wang.fang")
    assert r.status_code == 200, r.text
    moved = me(client, r.json()["token"]).json()
    assert (moved["role"], moved["branch"]) == ("front_desk", "北京分行")
    assert svc.directory.person("wang.fang").roles == ("front_desk",)
    assert me(client, steward_token).status_code == 401  # the revoked role's session ends
    changes = {e["change"] for e in events(svc, "identity_change")
               if e["person_id"] == "wang.fang" and e["actor"] == "ldap:corp"}
    assert {"person_updated", "role_revoked", "role_granted"} <= changes


def test_groups_adding_up_to_administrator_and_auditor_are_refused_and_audited(
        client: TestClient, svc: Services, slapd: str) -> None:
    r = login(client, "sun.dual")
    assert r.status_code == 401
    refused = [e for e in events(svc, "identity_change") if e["person_id"] == "sun.dual"]
    assert refused[-1]["change"] == "idp_roles_refused" and refused[-1]["result"] == "denied"
    assert refused[-1]["actor"] == "ldap:corp" and set(refused[-1]["roles"]) == {"administrator", "auditor"}
    assert "separation of duties" in refused[-1]["reason"]
    assert last_login(svc, "sun.dual")["reason"] == "the directory's groups break separation of duties"
    with pytest.raises(Exception, match="no person"):
        svc.directory.person("sun.dual")
    # a counter clerk put into the administrators' group: refused too, and what they held is untouched
    modify(slapd, group_dn("CD-Admins"), {"member": [(MODIFY_ADD, [people_dn("li.wei")])]})
    try:
        assert login(client, "li.wei").status_code == 401
        assert svc.directory.person("li.wei").roles == ("front_desk",)
    finally:
        modify(slapd, group_dn("CD-Admins"), {"member": [(MODIFY_DELETE, [people_dn("li.wei")])]})


def test_the_directory_s_validity_end_applies_and_a_past_one_refuses(client: TestClient, svc: Services,
                                                                    slapd: str) -> None:
    end = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).replace(microsecond=0, tzinfo=None)
    modify(slapd, people_dn("zhou.min"), {"objectClass": [(MODIFY_ADD, ["bankPerson"])],
                                          "bankValidTo": [(MODIFY_REPLACE, [end.strftime("%Y%m%d%H%M%SZ")])]})
    try:
        assert login(client, "zhou.min").status_code == 200
        assert svc.directory.person("zhou.min").valid_to == end
        # the contract ended yesterday: the directory says so, the next login is refused
        modify(slapd, people_dn("zhou.min"), {"bankValidTo": [(MODIFY_REPLACE, [
            (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime("%Y%m%d%H%M%SZ")])]})
        assert login(client, "zhou.min").status_code == 401
        assert last_login(svc, "zhou.min")["reason"] == "outside the validity period"
    finally:
        modify(slapd, people_dn("zhou.min"), {"bankValidTo": [(MODIFY_DELETE, [])],
                                              "objectClass": [(MODIFY_DELETE, ["bankPerson"])]})
    assert login(client, "zhou.min").status_code == 200
    assert svc.directory.person("zhou.min").valid_to is None


def test_a_freeze_custodata_imposed_holds_whatever_the_directory_says(client: TestClient, svc: Services) -> None:
    assert login(client, "li.wei").status_code == 200
    svc.directory.set_status("li.wei", "frozen", by="sec.officer", reason="monitoring alert")
    try:
        assert login(client, "li.wei").status_code == 401
        assert last_login(svc, "li.wei")["reason"] == "account frozen"
        assert svc.directory.person("li.wei").status == "frozen"  # the bind did not lift it
    finally:
        svc.directory.set_status("li.wei", "active", by="sec.officer")


def test_a_local_account_keeps_its_local_password_and_the_directory_cannot_vouch_for_it(
        client: TestClient) -> None:
    assert login(client, "local.clash").status_code == 401  # the directory's password for that name
    r = login(client, "local.clash", "Local-pass-2026")
    assert r.status_code == 200 and me(client, r.json()["token"]).json()["display_name"] == "本地账户"


def test_the_console_login_form_signs_a_directory_account_in(client: TestClient) -> None:
    page = client.post("/login", data={"person_id": "li.wei", "password": password("li.wei")}, follow_redirects=False)
    assert page.status_code in (302, 303), page.text
    assert page.cookies or "set-cookie" in page.headers
    page = client.post("/login", data={"person_id": "li.wei", "password": "wrong-password-5"}, follow_redirects=False)
    assert page.status_code == 401


def test_totp_enrolled_in_custodata_applies_to_a_directory_account(client: TestClient, svc: Services) -> None:
    """The enrolment is proven by a bind with the directory password; then every login needs the code."""
    assert login(client, "lock.test").status_code == 200
    assert client.post("/api/v1/mfa/enrol", json={"person_id": "lock.test",
                                                  "password": "wrong-password-99"}).status_code == 401
    r = client.post("/api/v1/mfa/enrol", json={"person_id": "lock.test", "password": password("lock.test")})
    assert r.status_code == 200, r.text
    totp = pyotp.TOTP(r.json()["secret"])
    r = client.post("/api/v1/mfa/confirm", json={"person_id": "lock.test", "password": password("lock.test"),
                                                 "code": totp.now()})
    assert r.status_code == 200, r.text
    r = login(client, "lock.test")
    assert r.status_code == 401 and "otp" in r.json()["error"]["message"]
    wrong = "000000" if totp.now() != "000000" else "111111"
    assert login(client, "lock.test", otp=wrong).status_code == 401
    # the confirmation spent this time step's code: the next step's code opens the session
    real = svc.directory.clock
    svc.directory.clock = lambda: real() + dt.timedelta(seconds=30)
    try:
        r = login(client, "lock.test", otp=totp.at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)))
        assert r.status_code == 200, r.text
    finally:
        svc.directory.clock = real
    ok = last_login(svc, "lock.test")
    assert ok["method"] == "ldap+totp" and ok["mfa"] is True


def test_no_password_reaches_the_logs_or_the_audit_log(client: TestClient, svc: Services,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        login(client, "li.wei")
        login(client, "li.wei", "wrong-password-77")
        login(client, "sun.dual")
    a = audit_tables.audit_event
    with svc.ops.read() as con:
        audit_text = " ".join(str(tuple(r)) for r in con.execute(sa.select(a)).all())
    for secret in (SERVICE_PW, password("li.wei"), "wrong-password-77", password("sun.dual"), ROOT_PW):
        assert secret not in caplog.text
        assert secret not in audit_text


# ---- other shapes of directory ---------------------------------------------------------------


def test_dn_template_and_group_search_without_a_service_account(slapd: str, tmp_path: Path) -> None:
    settings = LdapSettings(url=slapd, allow_plain=True, user_dn_template="uid={login},ou=people," + BASE,
                            groups="search", group_base=f"ou=groups,{BASE}", mapping=MAPPING)
    services = open_services(tmp_path, IdentitySettings(ldap=settings))
    try:
        with TestClient(create_app(services)) as c:
            r = login(c, "li.wei")
            assert r.status_code == 200, r.text
            assert me(c, r.json()["token"]).json()["role"] == "front_desk"
            assert login(c, "li.wei", "wrong-password-1").status_code == 401
            assert login(c, "nobody.here", "whatever-pass-1").status_code == 401
            assert last_login(services, "li.wei")["reason"] == "wrong password or not in the directory"
    finally:
        services.close()


@pytest.mark.parametrize("how", ["starttls", "ldaps"])
def test_starttls_and_ldaps_check_the_directory_s_certificate(slapd_tls: Slapd, tmp_path: Path, how: str) -> None:
    os.environ[PW_ENV] = SERVICE_PW
    url = slapd_tls.url if how == "starttls" else slapd_tls.ldaps
    extra = {"start_tls": True, "allow_plain": False} if how == "starttls" else {"allow_plain": False}
    trusted = open_services(tmp_path / "trusted", IdentitySettings(ldap=ldap_settings(
        url, ca_file=slapd_tls.ca_file, **extra)))
    # the system's CAs do not know the test CA: the same server is refused, nothing is sent in plain
    untrusted = open_services(tmp_path / "untrusted", IdentitySettings(ldap=ldap_settings(url, **extra)))
    try:
        with TestClient(create_app(trusted)) as c:
            r = login(c, "li.wei")
            assert r.status_code == 200, r.text
        with TestClient(create_app(untrusted)) as c:
            assert login(c, "li.wei").status_code == 401
            assert last_login(untrusted, "li.wei")["reason"] == "directory unreachable"
    finally:
        trusted.close()
        untrusted.close()


def test_an_unreachable_directory_refuses_generically_and_local_break_glass_still_works(tmp_path: Path) -> None:
    os.environ[PW_ENV] = SERVICE_PW
    services = open_services(tmp_path, IdentitySettings(ldap=ldap_settings(f"ldap://127.0.0.1:{_free_port()}",
                                                                           timeout_seconds=1)))
    services.directory.create_person("admin.zheng", "郑管理", "employee", "总行", password="Break-glass-2026",  # noqa: S106
                                     roles=("administrator",), by="t")
    try:
        with TestClient(create_app(services)) as c:
            assert login(c, "li.wei").status_code == 401
            assert last_login(services, "li.wei")["reason"] == "directory unreachable"
            assert login(c, "admin.zheng", "Break-glass-2026").status_code == 200
    finally:
        services.close()


def test_settings_refuse_plain_ldap_to_another_machine_and_incomplete_searches() -> None:
    with pytest.raises(ValueError, match="start_tls"):
        LdapSettings(url="ldap://ad.bank.example", user_dn_template="uid={login},dc=x")
    with pytest.raises(ValueError, match="only for a server on this machine"):
        LdapSettings(url="ldap://ad.bank.example", allow_plain=True, user_dn_template="uid={login},dc=x")
    with pytest.raises(ValueError, match="bind_dn"):
        LdapSettings(url="ldaps://ad.bank.example")
    with pytest.raises(ValueError, match="group_base"):
        LdapSettings(url="ldaps://ad.bank.example", user_dn_template="uid={login},dc=x", groups="search")
    assert LdapSettings(url="ldap://ad.bank.example:389", start_tls=True, bind_dn="cn=svc",
                        bind_password_env="LDAP_PW", user_base="dc=bank").start_tls  # noqa: S106 - a variable's name


def test_the_readme_ldap_example_is_valid() -> None:
    import textwrap

    import yaml

    text = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Identity from the institution"):]
    block = next(b for b in section.split("```yaml\n")[1:] if b.lstrip().startswith("ldap:")).split("```", 1)[0]
    settings = IdentitySettings.model_validate(yaml.safe_load(textwrap.dedent(block)))
    assert settings.ldap is not None and settings.ldap.url.startswith("ldaps://")
    assert settings.ldap.mapping.roles(["CD-Counter", "Domain Users"]) == ("front_desk",)
    assert settings.ldap.mapping.kind("Contractor") == "outsourced"


@pytest.mark.parametrize(("value", "expected"), [
    ("20270101000000Z", dt.datetime(2027, 1, 1)),
    ("20270101080000+0800", dt.datetime(2027, 1, 1)),
    ("133801632000000000", dt.datetime(2025, 1, 1)),  # AD accountExpires (100 ns since 1601)
    ("0", None), ("9223372036854775807", None), (None, None),
])
def test_directory_times(value: str | None, expected: dt.datetime | None) -> None:
    assert parse_directory_time(value) == expected


def test_filter_and_dn_metacharacters_in_the_login_name_find_nobody(client: TestClient, svc: Services) -> None:
    """LDAP injection: a wildcard or a closing parenthesis never matches someone else's entry."""
    from custodata.identity.errors import AuthenticationError
    from custodata.service import auth

    names = ("*", "li*", "li.wei)(uid=*", "*)(|(uid=*", "li.wei,ou=people", "li.wei\\2a", "uid=li.wei",
             "li.wei\x00", "(li.wei)")
    for name in names:
        assert login(client, name, password("li.wei")).status_code in (401, 422), name  # the API's own check
        with pytest.raises(AuthenticationError):  # and below it, as the console calls it
            auth.login(svc, name, password("li.wei"))
    assert all(e["result"] != "ok" for e in events(svc, "login")[-len(names):])


def test_a_blank_or_odd_password_is_a_wrong_password_not_a_bind(client: TestClient, svc: Services) -> None:
    """A tab or NUL (which ldap3's SASLprep refuses to send) was audited as 'directory unreachable'."""
    assert login(client, "li.wei").status_code == 200  # the failure count starts again
    for pw in ("   ", "\t", password("li.wei") + "\x00", password("li.wei") + " "):
        r = login(client, "li.wei", pw)
        assert r.status_code == 401, repr(pw)
        assert last_login(svc, "li.wei")["reason"] == "wrong password", repr(pw)
    assert login(client, "li.wei").status_code == 200  # the lockout did not trip on four tries
