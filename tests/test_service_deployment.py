"""The service layer over a real deployment: every path checks, masks and audits."""

from __future__ import annotations

from pathlib import Path

import pytest

from custodata.service import AccessDenied, Caller, auth, customers
from tests.deployment import Deployment


def _caller(dep: Deployment, role: str) -> Caller:
    login = dep.logins[role]
    session = auth.login(dep.svc, login.person_id, login.password, source_address="10.0.0.7")
    return auth.authenticate(dep.svc, session.token, source_address="10.0.0.7")


def test_front_desk_sees_a_masked_customer_of_its_branch(deployment: Deployment) -> None:
    caller = _caller(deployment, "front_desk")
    view = customers.view(deployment.svc, caller, deployment.sample["in_branch"], purpose="customer_service")
    assert view["masked_for"]["role"] == "front_desk"
    mobile = view["profile"].get("mobile")
    assert mobile is None or "*" in mobile
    events = deployment.svc.audit.query(actor=caller.person_id, action="read", limit=5, newest_first=True)
    assert events and events[0].customer_ids == (view["customer_id"],) or list(events[0].customer_ids) == [
        view["customer_id"]]


def test_front_desk_is_refused_outside_its_branch_and_the_refusal_is_audited(deployment: Deployment) -> None:
    caller = _caller(deployment, "front_desk")
    with pytest.raises(AccessDenied):
        customers.view(deployment.svc, caller, deployment.sample["out_of_branch"])
    denied = deployment.svc.audit.query(actor=caller.person_id, action="read", limit=20, newest_first=True)
    assert any(e.result == "denied" for e in denied)


def test_outsourced_agent_reaches_only_its_portfolio(deployment: Deployment) -> None:
    caller = _caller(deployment, "outsourced_agent")
    customers.view(deployment.svc, caller, deployment.sample["portfolio"])
    with pytest.raises(AccessDenied):
        customers.view(deployment.svc, caller, deployment.sample["outside_portfolio"])


@pytest.mark.parametrize("role", ["auditor", "administrator"])
def test_roles_without_customer_data_are_refused(deployment: Deployment, role: str) -> None:
    caller = _caller(deployment, role)
    with pytest.raises(AccessDenied):
        customers.view(deployment.svc, caller, deployment.sample["in_branch"])


def test_unmask_needs_a_purpose_and_is_logged_with_it(deployment: Deployment) -> None:
    svc = deployment.svc
    caller = _caller(deployment, "front_desk")
    cid = deployment.sample["in_branch"]
    with pytest.raises(AccessDenied):
        customers.unmask(svc, caller, cid, "mobile", purpose=None)
    shown = customers.unmask(svc, caller, cid, "mobile", purpose="customer_service")
    assert shown["value"] is None or "*" not in str(shown["value"])
    last = svc.audit.query(actor=caller.person_id, action="unmask", limit=1, newest_first=True)[0]
    assert last.result == "ok" and last.purpose == "customer_service" and list(last.fields) == ["mobile"]


def test_search_returns_only_visible_customers_and_never_logs_the_criteria(deployment: Deployment) -> None:
    svc = deployment.svc
    caller = _caller(deployment, "outsourced_agent")
    full = svc.served.get(deployment.sample["portfolio"])
    name = full["profile"]["name"]
    hits = customers.search(svc, caller, name=name)
    assert deployment.sample["portfolio"] in {h["customer_id"] for h in hits}
    assert all(h["name"] != name or "*" in h["name"] for h in hits)
    last = svc.audit.query(actor=caller.person_id, action="search", limit=1, newest_first=True)[0]
    assert name not in repr(last)


def test_demo_alerts_come_from_simulated_activity_and_are_stored_once(tmp_path: Path) -> None:
    from custodata.monitoring.store import AlertStore
    from custodata.ops import open_ops
    from custodata.service import Services
    from custodata.service.demo import demo_alerts

    svc = Services(open_ops(f"sqlite:///{tmp_path / 'ops.sqlite'}"), tmp_path)
    try:
        n = demo_alerts(svc, tmp_path / "activity")
        assert n > 0 and (tmp_path / "activity" / "labels.json").exists()
        stored = AlertStore(svc.ops, svc.audit).list(limit=1000)
        assert len(stored) == n
        assert {a.scenario for a in stored} & {"hoarding", "off_hours_bulk", "departing_exfiltration"}
        assert demo_alerts(svc, tmp_path / "activity") == n  # the same alerts again: nothing new stored
        assert len(AlertStore(svc.ops, svc.audit).list(limit=1000)) == n
    finally:
        svc.close()
