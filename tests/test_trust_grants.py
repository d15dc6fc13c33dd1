"""One person cannot widen access: grants and policy imports need a second person (issue 10 points 5 and 6).

Each test runs on a fresh operational store of its own (SQLite and PostgreSQL),
with the demo people, because it changes who may do what.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from custodata.api import create_app
from custodata.approvals import ApprovalDenied
from custodata.crypto.kek import load_provider
from custodata.errors import ConfigError
from custodata.identity.demo import DEMO_PEOPLE, seed_demo_people
from custodata.identity.errors import PasswordChangeRequired, SeparationOfDutiesError
from custodata.monitoring.store import AlertStore
from custodata.ops import open_ops
from custodata.service import AccessDenied, Caller, Services, admin, alerts, auth, governance

with warnings.catch_warnings():  # starlette prefers httpx2 but works with the pinned httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

NOW = dt.datetime(2026, 11, 25, 3, 0)  # a Wednesday morning in Shanghai (naive UTC)
OTP1, OTP2, OTP3 = "Chosen-by-admin-1", "Chosen-by-admin-2", "Chosen-by-admin-3"  # one-time passwords
PASSWORDS = {p.person_id: p.password for p in DEMO_PEOPLE}


@pytest.fixture
def svc(ops_url: str, tmp_path: Path) -> Iterator[Services]:
    load_provider(tmp_path / "out", create=True)  # the watermark key of exports comes from it
    services = Services(open_ops(ops_url), tmp_path / "out", clock=lambda: NOW)
    seed_demo_people(services.directory)
    yield services
    services.close()


def as_(svc: Services, person_id: str, role: str | None = None) -> Caller:
    session = auth.login(svc, person_id, PASSWORDS[person_id], role=role, source_address="10.1.1.1")
    return auth.authenticate(svc, session.token, source_address="10.1.1.1")


def denials(svc: Services, actor: str) -> list[str]:
    return [e.reason or "" for e in svc.audit.query(actor=actor, limit=1000) if e.result == "denied"]


# ---- point 5: people and roles --------------------------------------------------------------


def test_an_administrator_cannot_log_in_as_a_person_they_created(svc: Services) -> None:
    """Stops: an administrator creates a security officer with a password of their choosing and logs
    in as them.  The password is one-time (it opens no session) and the role waits for approval."""
    boss = as_(svc, "admin.zheng")
    person, request = admin.create_person(svc, boss, "shadow.so", "影子", "employee", "总行",
                                          password=OTP1, roles=["security_officer"])
    assert person.roles == () and person.must_change_password
    assert request is not None and request.status == "pending" and request.kind == "role_grant"
    with pytest.raises(PasswordChangeRequired):
        auth.login(svc, "shadow.so", "Chosen-by-admin-1")
    # even after the holder chose their own password, no role until a security officer approves
    auth.activate(svc, "shadow.so", "Chosen-by-admin-1", "Own-secret-of-shadow-9")
    with pytest.raises(Exception, match="login"):
        auth.login(svc, "shadow.so", "Own-secret-of-shadow-9")
    assert svc.directory.person("shadow.so").roles == ()


def test_a_password_reset_by_someone_else_is_one_time(svc: Services) -> None:
    """Stops: an administrator resets a security officer's password and logs in as them."""
    svc.directory.set_password("sec.zhou", "Admin-knows-this-1", by="admin.zheng")
    with pytest.raises(PasswordChangeRequired):
        auth.login(svc, "sec.zhou", "Admin-knows-this-1")
    with pytest.raises(Exception, match="differ"):
        auth.activate(svc, "sec.zhou", "Admin-knows-this-1", "Admin-knows-this-1")


def test_nobody_grants_roles_to_themselves(svc: Services) -> None:
    """Stops: an administrator grants themselves data_steward and reads customers in plain."""
    boss = as_(svc, "admin.zheng")
    with pytest.raises(SeparationOfDutiesError, match="themselves"):
        admin.grant_role(svc, boss, "admin.zheng", "data_steward")
    assert "data_steward" not in svc.directory.person("admin.zheng").roles
    assert any("themselves" in r for r in denials(svc, "admin.zheng"))
    # and not through the request API either
    with pytest.raises(ApprovalDenied, match="themselves"):
        svc.approvals.submit(boss.principal, "role_grant", {"person_id": "admin.zheng", "roles": ["marketer"]},
                             reason="self")


def test_administrator_excludes_every_customer_data_role(svc: Services) -> None:
    """Stops: a second administrator account that also holds a customer-data role (asked for by a
    colleague) reads customers in plain: the request is refused when filed."""
    boss = as_(svc, "admin.zheng")
    _, _ = admin.create_person(svc, boss, "admin.two", "二号", "employee", "总行", password=OTP2,
                               roles=["administrator"])
    for role in ("data_steward", "front_desk", "marketer", "security_officer"):
        with pytest.raises(SeparationOfDutiesError):
            admin.create_person(svc, boss, f"both.{role[:5]}", "双", "employee", "总行",
                                password=OTP3, roles=["administrator", role])


def test_a_grant_takes_effect_only_when_a_security_officer_approves(svc: Services) -> None:
    """Stops: one administrator widening anyone's access alone; the grantee never decides their own grant."""
    boss = as_(svc, "admin.zheng")
    req = admin.grant_role(svc, boss, "mkt.zhao", "data_steward")
    assert "data_steward" not in svc.directory.person("mkt.zhao").roles
    # the grantee (were they a checker) does not see it and cannot decide it
    sec = as_(svc, "sec.zhou")
    assert req.request_id in {r.request_id for r in governance.inbox(svc, sec)}
    with pytest.raises(ApprovalDenied):
        governance.decide(svc, boss, req.request_id, approve=True, note="mine")
    applied = governance.decide(svc, sec, req.request_id, approve=True, note="ticket HR-1209")
    assert applied.status == "applied"
    assert "data_steward" in svc.directory.person("mkt.zhao").roles
    [event] = [e for e in svc.audit.query(action="identity_change", limit=1000)
               if e.detail.get("change") == "role_granted" and e.detail.get("role") == "data_steward"]
    assert (event.actor, event.detail["approved_by"]) == ("admin.zheng", "sec.zhou")


def test_a_security_officer_cannot_approve_their_own_role_grant(svc: Services) -> None:
    """Stops: a security officer approving a grant of more roles to themselves."""
    boss = as_(svc, "admin.zheng")
    req = admin.grant_role(svc, boss, "sec.zhou", "front_desk")
    sec = as_(svc, "sec.zhou")
    assert req.request_id not in {r.request_id for r in governance.inbox(svc, sec)}
    with pytest.raises(ApprovalDenied, match="cannot decide"):
        governance.decide(svc, sec, req.request_id, approve=True, note="for me")
    assert "front_desk" not in svc.directory.person("sec.zhou").roles


# ---- point 6: policies and alerts -----------------------------------------------------------


def _widened(svc: Services) -> str:
    doc = yaml.safe_load(svc.policies.export_yaml())
    doc["access"]["permissions"]["security_officer"].append("people.write")
    for rule in doc["access"]["unmask"]:
        rule.pop("max_per_day", None)
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def test_a_policy_import_waits_for_another_security_officer(svc: Services) -> None:
    """Stops: one security officer importing a policy that gives themselves people.write and removes
    every daily limit, effective at once.  The checker sees what it widens."""
    before = svc.policies.latest_version()
    zhou, qian = as_(svc, "sec.zhou"), as_(svc, "sec.qian")
    req = admin.policy_import(svc, zhou, _widened(svc), comment="tidy up")
    assert req.status == "pending" and svc.policies.latest_version() == before
    assert "people.write" not in svc.engine.document.access.permissions["security_officer"]
    widens = req.payload["widens"]
    assert "role security_officer gains people.write" in widens
    assert any("daily limit goes from" in w and "no limit" in w for w in widens)
    assert req.payload["diff"].startswith("---")
    with pytest.raises(ApprovalDenied, match="maker-checker"):
        governance.decide(svc, zhou, req.request_id, approve=True, note="self")
    assert req.request_id in {r.request_id for r in governance.inbox(svc, qian)}
    applied = governance.decide(svc, qian, req.request_id, approve=True, note="reviewed widening, ticket SEC-7")
    assert applied.status == "applied"
    assert svc.policies.latest_version() == (before or 0) + 1
    assert "people.write" in svc.engine.document.access.permissions["security_officer"]


def test_an_import_over_a_replaced_base_is_refused(svc: Services) -> None:
    """Stops: approving a difference that was computed against a policy no longer in force."""
    zhou, qian = as_(svc, "sec.zhou"), as_(svc, "sec.qian")
    first = admin.policy_import(svc, zhou, _widened(svc), comment="one")
    doc = yaml.safe_load(svc.policies.export_yaml())
    doc["access"]["limits"]["identifier_searches_per_day"] = 10
    second = admin.policy_import(svc, qian, yaml.safe_dump(doc, allow_unicode=True, sort_keys=False),
                                 comment="two")
    assert second.payload["narrows"]
    governance.decide(svc, qian, first.request_id, approve=True, note="ok")
    with pytest.raises(Exception, match="in force now"):
        governance.decide(svc, zhou, second.request_id, approve=True, note="ok")
    assert svc.approvals.get(second.request_id).status == "failed"


def test_a_policy_cannot_give_the_auditor_or_administrator_customer_data(svc: Services) -> None:
    """Stops: a policy that gives the auditor customer.read (三员分立 is part of the policy's validation)."""
    zhou = as_(svc, "sec.zhou")
    doc = yaml.safe_load(svc.policies.export_yaml())
    doc["access"]["permissions"]["auditor"].append("customer.read")
    with pytest.raises(ConfigError, match="auditor"):
        admin.policy_import(svc, zhou, yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), comment="x")


def test_nobody_triages_an_alert_about_themselves(svc: Services) -> None:
    """Stops: a security officer marking the alert raised on their own activity a false positive."""
    from custodata.monitoring.alerts import Alert

    store = AlertStore(svc.ops, svc.audit, clock=svc.clock)
    alert = Alert(alert_id="AL-SELF-1", scenario="bulk_export", severity="high", actor="sec.zhou",
                  window_start=NOW, window_end=NOW, score=9.0, summary="big export", summary_zh="大量导出")
    [alert_id] = store.save([alert])
    zhou = as_(svc, "sec.zhou")
    with pytest.raises(AccessDenied, match="themselves"):
        alerts.triage(svc, zhou, alert_id, status="false_positive", note="not me")
    assert store.get(alert_id).status == "open"
    assert any("themselves" in r for r in denials(svc, "sec.zhou"))
    triaged = alerts.triage(svc, as_(svc, "sec.qian"), alert_id, status="escalated", note="looked at it")
    assert triaged.status == "escalated"


# ---- the console: the same flow, in the users' language ---------------------------------------

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def _console(svc: Services, person_id: str) -> tuple[TestClient, str]:
    client = TestClient(create_app(svc))
    r = client.post("/login", data={"person_id": person_id, "password": PASSWORDS[person_id]},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get("/approvals")
    match = CSRF.search(page.text)
    assert match, page.text
    return client, match.group(1)


def test_console_grants_and_imports_go_through_a_second_person(svc: Services) -> None:
    """Stops the same attacks through the console: the administrator's form files a request, the
    security officer decides it in the inbox, seeing what a policy import widens."""
    boss, token = _console(svc, "admin.zheng")
    r = boss.post("/people", data={"csrf_token": token, "person_id": "new.teller", "display_name": "新柜员",
                                   "kind": "employee", "branch": "北京朝阳支行", "password": "One-time-pass-77",
                                   "roles": "front_desk"})
    assert r.status_code == 200 and "待安全管理员批准" in r.text, r.text
    assert svc.directory.person("new.teller").roles == ()
    zhou, ztoken = _console(svc, "sec.zhou")
    r = zhou.post("/policies", data={"csrf_token": ztoken, "yaml": _widened(svc), "comment": "limits"})
    assert r.status_code == 200 and "另一位安全管理员" in r.text, r.text
    qian, _ = _console(svc, "sec.qian")
    inbox = qian.get("/approvals").text
    assert "授予访问权限" in inbox and "导入策略" in inbox and "role security_officer gains people.write" in inbox
    # a one-time password leads to the activation form, then into the console
    teller = TestClient(create_app(svc))
    r = teller.post("/login", data={"person_id": "new.teller", "password": "One-time-pass-77"})
    assert r.status_code == 401 and 'action="/activate"' in r.text
    r = teller.post("/activate", data={"person_id": "new.teller", "password": "One-time-pass-77",
                                       "new_password": "Tellers-own-pass-8"}, follow_redirects=False)
    assert r.status_code == 401  # no role approved yet: the new password works, the login still refuses
    assert svc.directory.person("new.teller").must_change_password is False


def test_the_terminal_approval_of_a_role_grant_carries_it_out(svc: Services, ops_url: str, tmp_path: Path) -> None:
    """Stops a grant approved at the terminal being left approved but never applied (a request stuck
    half-way looks decided to the maker and is never retried)."""
    from typer.testing import CliRunner

    from custodata.cli.app import app as cli

    boss = as_(svc, "admin.zheng")
    req = admin.grant_role(svc, boss, "mkt.zhao", "front_desk")
    result = CliRunner().invoke(cli, ["approvals", "approve", req.request_id, "--as", "sec.zhou", "--role",
                                      "security_officer", "--note", "HR ticket 9", "--out", str(tmp_path / "out"),
                                      "--db", ops_url, "--password-stdin"], input=PASSWORDS["sec.zhou"] + "\n")
    assert result.exit_code == 0, result.output
    assert "applied" in result.output
    assert svc.approvals.get(req.request_id).status == "applied"
    assert "front_desk" in svc.directory.person("mkt.zhao").roles


def test_portfolio_additions_and_reactivation_need_a_security_officer(svc: Services) -> None:
    """Stops an administrator giving an account customers (an outsourced agent reaches only its portfolio)
    or undoing the monitor's freeze on their own; removals and freezes stay immediate."""
    boss, sec = as_(svc, "admin.zheng"), as_(svc, "sec.zhou")
    before = svc.directory.portfolio("agent.wx")
    kept, req = admin.set_portfolio(svc, boss, "agent.wx", [*before, "C000000042"])
    assert kept == before and req is not None and req.payload["portfolio"] == ["C000000042"]
    governance.decide(svc, sec, req.request_id, approve=True, note="new collection case 7")
    assert "C000000042" in svc.directory.portfolio("agent.wx")
    kept, req = admin.set_portfolio(svc, boss, "agent.wx", before)  # removal: at once, no request
    assert req is None and "C000000042" not in kept
    assert admin.set_status(svc, boss, "agent.wx", "frozen", reason="alert 9").status == "frozen"
    pending = admin.set_status(svc, boss, "agent.wx", "active", reason="cleared")
    assert pending.kind == "role_grant" and svc.directory.person("agent.wx").status == "frozen"
    with pytest.raises(SeparationOfDutiesError):
        admin.set_status(svc, boss, "agent.wx", "transferred")  # not around the request either
    governance.decide(svc, sec, pending.request_id, approve=True, note="alert 9 was a false positive")
    assert svc.directory.person("agent.wx").status == "active"


def test_a_policy_widening_shown_as_narrowing_is_caught(svc: Services) -> None:
    """Stops widening that the comparison reported as narrowing: a time window added for people another
    window covers (windows are alternatives), and an unmask rule widened in two harmless-looking steps."""
    from custodata.access.policy_document import parse_document_yaml
    from custodata.access.widening import compare

    text = svc.policies.export_yaml()
    old = parse_document_yaml(text)
    doc = yaml.safe_load(text)
    doc["access"]["windows"].append({"id": "marketing-late", "roles": ["marketer"], "from": "18:30", "to": "08:30"})
    widens, _ = compare(old, parse_document_yaml(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)))
    assert any("marketing-late" in w for w in widens)
    doc = yaml.safe_load(text)
    rule = next(r for r in doc["access"]["unmask"] if "outsourced_agent" in r["roles"])
    rule["max_level"] = 4
    step1 = parse_document_yaml(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    rule["fields"], rule["types"] = [], []
    step2 = parse_document_yaml(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    widens, _ = compare(step1, step2)
    assert any(w.startswith("role outsourced_agent may now unmask") and "id_number" in w for w in widens), widens
