"""Every refusal leaves an audit event, and refusals say no more than they must (issue 10 point 21).

An insider probing the service (malformed criteria, fields that do not exist, requests
that are not there) learned from the answers while the log stayed silent; reads of
people, policy, catalogue and the approvals inbox were not recorded at all.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from custodata.api import create_app
from custodata.errors import CustodataError
from custodata.service import Caller, admin, auth, customers
from custodata.service.context import refusal_reason
from tests.deployment import Deployment

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

FD, SO, AD, AU = "front_desk", "security_officer", "administrator", "auditor"


@pytest.fixture
def client(deployment: Deployment) -> Iterator[TestClient]:
    with TestClient(create_app(deployment.svc)) as c:
        yield c


def _headers(client: TestClient, dep: Deployment, role: str) -> dict[str, str]:
    login = dep.logins[role]
    r = client.post("/api/v1/login", json={"person_id": login.person_id, "password": login.password, "role": role})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _caller(dep: Deployment, role: str) -> Caller:
    login = dep.logins[role]
    session = auth.login(dep.svc, login.person_id, login.password, role=role)
    return auth.authenticate(dep.svc, session.token)


def _last(dep: Deployment, role: str, **filters: Any) -> Any:
    [event] = dep.svc.audit.query(actor=dep.logins[role].person_id, newest_first=True, limit=1, **filters)
    return event


def test_invalid_search_criteria_are_audited_without_the_value(client: TestClient, deployment: Deployment) -> None:
    """Stops a clerk probing the search schema (or feeding it identifiers) with nothing in the log."""
    headers = _headers(client, deployment, FD)
    before = deployment.svc.audit.count(actor=deployment.logins[FD].person_id, result="failed")
    r = client.post("/api/v1/customers/search", headers=headers, json={"id_number": "1101"*10, "bogus": 1})
    assert r.status_code == 422
    event = _last(deployment, FD)
    assert (event.action, event.result) == ("search", "failed")
    assert "1101" not in str(event.detail) + (event.reason or "")
    assert deployment.svc.audit.count(actor=deployment.logins[FD].person_id, result="failed") == before + 1
    # and through the service layer: no criterion at all, recorded once
    clerk = _caller(deployment, FD)
    failed = deployment.svc.audit.count(actor=deployment.logins[FD].person_id, result="failed")
    with pytest.raises(ValueError, match="at least one"):
        customers.search(deployment.svc, clerk)
    assert (_last(deployment, FD).action, _last(deployment, FD).result) == ("search", "failed")
    assert deployment.svc.audit.count(actor=deployment.logins[FD].person_id, result="failed") == failed + 1


def test_unmask_of_an_unknown_field_is_audited(deployment: Deployment) -> None:
    """Stops probing which fields exist through unmask without a trace."""
    caller = _caller(deployment, FD)
    with pytest.raises(CustodataError, match="cannot unmask"):
        customers.unmask(deployment.svc, caller, deployment.sample["in_branch"], "no_such_field",
                         purpose="customer_service")
    event = _last(deployment, FD)
    assert event.action == "unmask" and event.result in ("failed", "denied")


def test_reads_of_people_policy_and_catalogue_are_audited(deployment: Deployment) -> None:
    """Stops an auditor or officer reading who may do what (and the catalogue) unrecorded."""
    svc = deployment.svc
    auditor = _caller(deployment, AU)
    admin.people(svc, auditor)
    assert _last(deployment, AU).detail.get("target") == "people"
    admin.policy_export(svc, auditor)
    assert _last(deployment, AU).detail.get("target") == "policy"
    admin.policy_history(svc, auditor)
    assert _last(deployment, AU).detail.get("target") == "policy_history"
    admin.catalogue(svc, auditor)
    assert _last(deployment, AU).detail.get("target") == "catalogue"


def test_refusal_reasons_never_carry_an_identifier() -> None:
    """Stops a refusal message quoting an ID number or mobile from writing it into the audit log."""
    reason = refusal_reason(ValueError("'11010519491231002X' is not a valid ID number; mobile 138-1234-5678"))
    assert "11010519491231002X" not in reason and "1234" not in reason
    assert "C000000042" in refusal_reason(ValueError("customer C000000042 has no field 'x'"))


def test_malformed_change_and_missing_request_are_audited(deployment: Deployment) -> None:
    """Stops probing the approvals path (payload shapes, request ids) without a trace."""
    from custodata.service import governance

    svc = deployment.svc
    clerk = _caller(deployment, FD)
    with pytest.raises((ValueError, CustodataError)):
        governance.request(svc, clerk, "edit_field", {"customer_id": deployment.sample["in_branch"],
                                                      "field": "no_such_field", "value": "x"}, reason="probe")
    event = _last(deployment, FD)
    assert event.result in ("failed", "denied") and event.action == "change_request"
    steward = _caller(deployment, "data_steward")
    with pytest.raises(CustodataError):
        governance.decide(svc, steward, "CR-NOSUCHREQUEST", approve=True, note="probe")
    event = _last(deployment, "data_steward")
    assert (event.action, event.result) == ("approve", "failed") and "CR-NOSUCHREQUEST" in (event.reason or "")
    governance.inbox(svc, steward)
    assert _last(deployment, "data_steward").detail.get("target") == "inbox"


def test_an_identifier_typed_as_a_customer_id_never_reaches_the_log(deployment: Deployment) -> None:
    """Stops a clerk writing a mobile or ID number into the audit log and its customer index by asking for
    it as a customer id (the refusal used to record the value as the customer)."""
    clerk = _caller(deployment, FD)
    failed = deployment.svc.audit.count(actor=deployment.logins[FD].person_id, result="failed")
    with pytest.raises(CustodataError):
        customers.view(deployment.svc, clerk, "13812345678", purpose="customer_service")
    event = _last(deployment, FD)
    assert "13812345678" not in repr(event)
    assert event.customer_ids == () and event.detail.get("unrecognised_ids") == 1
    assert deployment.svc.audit.count(actor=deployment.logins[FD].person_id, result="failed") == failed + 1
    assert deployment.svc.audit.query(customer_id="13812345678") == []
    with pytest.raises(CustodataError):
        customers.view(deployment.svc, clerk, deployment.sample["in_branch"], purpose="110105194912310021")
    assert "110105194912310021" not in repr(_last(deployment, FD))
