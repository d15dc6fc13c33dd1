"""Maker-checker requests on both store engines: who may file, who may decide, and what is audited."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from custodata.approvals import (
    ApprovalDenied,
    Approvals,
    InvalidRequest,
    RequestStateError,
    Subject,
    proposed_value,
)
from custodata.audit.events import Action, MemorySink, Result
from custodata.errors import NotFoundError
from custodata.ops import OpsStore, open_ops

SECRET = b"test watermark secret, 32 bytes!"

PERMISSIONS: dict[str, set[str]] = {
    "steward": {"change.request", "export.request", "export.download"},
    "steward_lead": {"change.request", "change.approve"},
    "export_approver": {"export.approve"},
    "teller": set(),
}


@dataclass(frozen=True)
class Person:
    person_id: str
    role: str
    kind: str = "employee"
    branch: str = "BJ01"
    status: str = "active"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: str | None
    reason: str


def authorize(subject: Subject, action: str) -> Decision:
    ok = subject.status == "active" and action in PERMISSIONS.get(subject.role, set())
    return Decision(ok, f"{subject.role}:{action}", "role grants it" if ok else f"role {subject.role} lacks {action}")


ALICE = Person("alice", "steward")           # maker
BOB = Person("bob", "steward_lead")          # change checker
CAROL = Person("carol", "export_approver")   # export checker
TOM = Person("tom", "teller")                # no rights


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 2, 9, 0)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def store(ops_url: str) -> Iterator[OpsStore]:
    opened = open_ops(ops_url)
    yield opened
    opened.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def approvals(store: OpsStore, sink: MemorySink, clock: Clock) -> Approvals:
    return Approvals(store, sink, authorize=authorize, watermark_secret=SECRET, clock=clock)


def _merge(approvals: Approvals, maker: Person = ALICE) -> str:
    return approvals.submit(maker, "merge", {"survivor": "C000000001", "absorbed": "C000000002"},
                            reason="same person, confirmed at the branch").request_id


def test_submit_is_pending_and_audited(approvals: Approvals, sink: MemorySink) -> None:
    rid = _merge(approvals)
    req = approvals.get(rid)
    assert (req.status, req.maker, req.kind, req.customer_ids) == ("pending", "alice", "merge",
                                                                   ["C000000001", "C000000002"])
    event = sink.events[-1]
    assert (event.action, event.result, event.actor) == (Action.CHANGE_REQUEST, Result.OK, "alice")
    assert list(event.customer_ids) == ["C000000001", "C000000002"]
    assert event.detail["request_id"] == rid


def test_maker_cannot_approve_own_request(approvals: Approvals, sink: MemorySink) -> None:
    lead = Person("bob", "steward_lead")
    rid = approvals.submit(lead, "unmerge", {"customer_id": "C000000003"}, reason="two people").request_id
    with pytest.raises(ApprovalDenied, match="cannot also decide it"):
        approvals.decide(rid, lead, approve=True, note="looks right")
    assert approvals.get(rid).status == "pending"
    assert (sink.events[-1].action, sink.events[-1].result) == (Action.APPROVE, Result.DENIED)
    assert rid not in [r.request_id for r in approvals.pending(lead)]  # not even in their inbox


def test_unauthorised_checker_refused(approvals: Approvals, sink: MemorySink) -> None:
    rid = _merge(approvals)
    for someone in (TOM, CAROL):  # no rights at all; export approver only
        with pytest.raises(ApprovalDenied, match="may not change.approve"):
            approvals.decide(rid, someone, approve=True, note="ok")
        assert sink.events[-1].result == Result.DENIED
    assert approvals.get(rid).status == "pending"


def test_unauthorised_maker_refused(approvals: Approvals, sink: MemorySink) -> None:
    with pytest.raises(ApprovalDenied, match="lacks change.request"):
        _merge(approvals, TOM)
    assert (sink.events[-1].action, sink.events[-1].result) == (Action.CHANGE_REQUEST, Result.DENIED)
    assert approvals.list_requests() == []


def test_approve_and_reject_flows(approvals: Approvals, sink: MemorySink) -> None:
    first, second = _merge(approvals), _merge(approvals)
    assert {r.request_id for r in approvals.pending(BOB)} == {first, second}
    assert approvals.pending(CAROL) == []  # export approver: change requests are not theirs
    approved = approvals.decide(first, BOB, approve=True, note="branch confirmed")
    assert (approved.status, approved.checker, approved.decision_note) == ("approved", "bob", "branch confirmed")
    assert (sink.events[-1].action, sink.events[-1].actor, sink.events[-1].reason) == (
        Action.APPROVE, "bob", "branch confirmed")
    rejected = approvals.decide(second, BOB, approve=False, note="different birth dates")
    assert rejected.status == "rejected" and sink.events[-1].action == Action.REJECT
    assert approvals.pending(BOB) == []
    with pytest.raises(RequestStateError, match="not pending"):
        approvals.decide(first, BOB, approve=False, note="changed my mind")
    assert [r.request_id for r in approvals.requested_by(ALICE)] != []


def test_decision_needs_a_note_and_request_needs_a_reason(approvals: Approvals) -> None:
    rid = _merge(approvals)
    with pytest.raises(InvalidRequest, match="note"):
        approvals.decide(rid, BOB, approve=True, note="  ")
    with pytest.raises(InvalidRequest, match="reason"):
        approvals.submit(ALICE, "merge", {"survivor": "C1", "absorbed": "C2"}, reason="")


@pytest.mark.parametrize(("kind", "payload", "message"), [
    ("rename", {}, "unknown request kind"),
    ("merge", {"survivor": "C000000001", "absorbed": "C000000001"}, "into itself"),
    ("merge", {"survivor": "C000000001"}, "'absorbed'"),
    ("edit_field", {"customer_id": "C000000001", "field": "segment", "value": "VIP"}, "cannot be corrected"),
    ("edit_field", {"customer_id": "C000000001", "field": "mobile", "value": "13812345678"}, "protected"),
    ("edit_field", {"customer_id": "C000000001", "field": "birth_date", "value": "2024-02-30"}, "not a valid"),
    ("export", {"customer_ids": ["C000000001"], "fields": ["name"], "purpose": "x", "format": "xlsx"}, "xlsx"),
    ("export", {"fields": ["name"], "purpose": "x"}, "exactly one"),
    ("export", {"customer_ids": ["C000000001"], "fields": [], "purpose": "x"}, "must not be empty"),
    ("export", {"customer_ids": ["C000000001"], "fields": ["name"]}, "'purpose'"),
])
def test_bad_payloads_are_refused_clearly(approvals: Approvals, kind: str, payload: dict[str, object],
                                          message: str) -> None:
    maker = ALICE
    with pytest.raises(InvalidRequest, match=message):
        approvals.submit(maker, kind, payload, reason="because")


def test_invalid_id_number_refused_without_echoing_it(approvals: Approvals) -> None:
    class Sealer:
        def encrypt(self, value: str | None, key_id: str, aad: str) -> str | None:
            return f"sealed({key_id},{aad})"

    sealed = Approvals(approvals.store, MemorySink(), authorize=authorize, watermark_secret=SECRET,
                       sealer=Sealer())
    with pytest.raises(InvalidRequest) as err:
        sealed.submit(ALICE, "edit_field", {"customer_id": "C000000001", "field": "id_number",
                                            "value": "110105198503071231"}, reason="typo")
    assert "110105198503071231" not in str(err.value)
    req = sealed.submit(ALICE, "edit_field", {"customer_id": "C000000001", "field": "id_number",
                                              "value": "110105198503071230"}, reason="typo")
    assert req.payload["value"] == "sealed(c-C000000001,C000000001|id_number)" and req.payload["sealed"]
    assert "110105198503071230" not in str(sealed.get(req.request_id))
    assert proposed_value(req) is None  # no key at hand: the checker's screen cannot show it


def test_expiry_and_cancel(approvals: Approvals, clock: Clock) -> None:
    stale, withdrawn = _merge(approvals), _merge(approvals)
    with pytest.raises(ApprovalDenied, match="only alice"):
        approvals.cancel(withdrawn, BOB)
    assert approvals.cancel(withdrawn, ALICE).status == "cancelled"
    clock.now += dt.timedelta(days=15)
    assert approvals.pending(BOB) == []
    with pytest.raises(RequestStateError, match="expired"):
        approvals.decide(stale, BOB, approve=True, note="late")
    assert approvals.get(stale).status == "expired"
    assert approvals.expire() == []  # already marked by the refused decision
    with pytest.raises(NotFoundError):
        approvals.get("CR-NOPE")


def test_expire_marks_overdue_requests(approvals: Approvals, clock: Clock) -> None:
    rid = _merge(approvals)
    assert approvals.expire(clock.now + dt.timedelta(days=1)) == []
    assert approvals.expire(clock.now + dt.timedelta(days=30)) == [rid]
    assert approvals.get(rid).status == "expired"


def test_apply_change_runs_the_steward_operation_and_audits_edit(approvals: Approvals, sink: MemorySink) -> None:
    class FakePipeline:
        def __init__(self) -> None:
            self.calls: list[tuple[str, dict[str, object]]] = []

        def steward(self, operation: str, **kwargs: object) -> list[str]:
            self.calls.append((operation, kwargs))
            if kwargs.get("customer_id") == "C000000404":
                raise NotFoundError("customer C000000404 not found")
            return ["C000000001", "merge #1"]

    pipe = FakePipeline()
    rid = _merge(approvals)
    with pytest.raises(RequestStateError, match="pending"):
        approvals.apply_change(rid, pipe)  # not approved yet
    approvals.decide(rid, BOB, approve=True, note="ok")
    applied = approvals.apply_change(approvals.get(rid), pipe)
    assert applied.status == "applied" and applied.result == {"result": ["C000000001", "merge #1"]}
    assert pipe.calls[0][0] == "merge" and str(pipe.calls[0][1]["reason"]).startswith(rid)
    assert (sink.events[-1].action, sink.events[-1].actor, sink.events[-1].result) == (Action.EDIT, "bob", Result.OK)
    bad = approvals.submit(ALICE, "unmerge", {"customer_id": "C000000404"}, reason="split").request_id
    approvals.decide(bad, BOB, approve=True, note="ok")
    with pytest.raises(NotFoundError):
        approvals.apply_change(bad, pipe)
    failed = approvals.get(bad)
    assert failed.status == "failed" and "not found" in str(failed.result)
    assert (sink.events[-1].action, sink.events[-1].result) == (Action.EDIT, Result.FAILED)
