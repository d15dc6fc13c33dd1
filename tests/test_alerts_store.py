"""The alert store on SQLite and PostgreSQL: idempotent saves, filters, triage audited, the monitor's cursor."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from custodata.audit.log import AuditLog
from custodata.monitoring.alerts import Alert, alert_id
from custodata.monitoring.store import AlertError, AlertNotFoundError, AlertStore
from custodata.ops import OpsStore, open_ops

NOW = dt.datetime(2026, 11, 25, 3, 0)


def _alert(actor: str = "agent01", scenario: str = "hoarding", severity: str = "high",
           start: dt.datetime = NOW, score: float = 5.0) -> Alert:
    return Alert(
        alert_id=alert_id(scenario, actor, start), scenario=scenario, severity=severity, actor=actor,
        window_start=start, window_end=start + dt.timedelta(hours=1), score=score,
        summary=f"{actor} viewed 60 distinct customers", summary_zh=f"{actor} 查看了 60 位不同客户",
        evidence={"events": [3, 4, 5], "distinct_customers": 60, "baseline": 8.0, "ratio": 7.5,
                  "customers_by_value": {"high_net_worth": 12}, "fields_by_level": {"3": 40}},
        first_event_at=start + dt.timedelta(minutes=1), detected_at=start + dt.timedelta(minutes=50),
    )


@pytest.fixture
def ops(ops_url: str) -> Iterator[OpsStore]:
    store = open_ops(ops_url)
    yield store
    store.close()


@pytest.fixture
def log(ops: OpsStore) -> AuditLog:
    return AuditLog(ops)


@pytest.fixture
def alerts(ops: OpsStore, log: AuditLog) -> AlertStore:
    return AlertStore(ops, log, clock=lambda: NOW + dt.timedelta(hours=2))


def test_save_is_idempotent_by_alert_id_and_keeps_the_evidence(alerts: AlertStore) -> None:
    first, second = _alert(), _alert(actor="clerk02", severity="medium")
    assert alerts.save([first, second]) == [first.alert_id, second.alert_id]
    assert alerts.save([first, _alert(score=99.0)]) == []  # same scenario, person and window: the same alert
    stored = alerts.get(first.alert_id)
    assert stored.score == 5.0 and stored.status == "open" and stored.evidence["ratio"] == 7.5
    assert stored.evidence["customers_by_value"] == {"high_net_worth": 12}
    assert stored.window_start == NOW and stored.first_event_at == NOW + dt.timedelta(minutes=1)
    assert stored.to_alert().to_dict() == first.to_dict()


def test_list_filters_by_status_severity_and_actor_newest_first(alerts: AlertStore) -> None:
    early = _alert(actor="a1", start=NOW - dt.timedelta(days=1))
    late = _alert(actor="a2", severity="low", scenario="multi_address")
    alerts.save([early, late])
    assert [a.alert_id for a in alerts.list()] == [late.alert_id, early.alert_id]
    assert [a.actor for a in alerts.list(severity="low")] == ["a2"]
    assert [a.actor for a in alerts.list(actor="a1")] == ["a1"]
    assert alerts.list(status="acknowledged") == []
    assert alerts.counts(status="open") == {"low": 1, "medium": 0, "high": 1, "critical": 0}
    with pytest.raises(AlertError):
        alerts.list(status="closed")
    with pytest.raises(AlertError):
        alerts.list(limit=0)


def test_triage_changes_the_status_and_is_audited(alerts: AlertStore, log: AuditLog) -> None:
    alert = _alert()
    alerts.save([alert])
    done = alerts.triage(alert.alert_id, by="sec01", status="escalated", note="passed to investigations",
                         role="security_officer")
    assert (done.status, done.triaged_by, done.note) == ("escalated", "sec01", "passed to investigations")
    assert done.triaged_at == NOW + dt.timedelta(hours=2)
    event = log.query(action="admin", newest_first=True, limit=1)[0]
    assert event.actor == "sec01" and event.role == "security_officer"
    assert event.detail == {"operation": "alert_triage", "alert_id": alert.alert_id, "scenario": "hoarding",
                            "subject": "agent01", "previous": "open", "status": "escalated"}
    assert alerts.false_positives() == []
    alerts.triage(alert.alert_id, by="sec01", status="false_positive", note="batch job agreed with the branch")
    assert [a.alert_id for a in alerts.false_positives()] == [alert.alert_id]
    assert alerts.false_positives(triaged_since=NOW + dt.timedelta(hours=3)) == []


@pytest.mark.parametrize(("status", "note", "error"), [
    ("closed", "why", AlertError), ("open", "why", AlertError), ("acknowledged", "  ", AlertError),
    ("acknowledged", "x" * 2001, AlertError),
])
def test_bad_triage_is_refused_and_not_audited(alerts: AlertStore, log: AuditLog, status: str, note: str,
                                               error: type[Exception]) -> None:
    alert = _alert()
    alerts.save([alert])
    before = log.count()
    with pytest.raises(error):
        alerts.triage(alert.alert_id, by="sec01", status=status, note=note)
    assert alerts.get(alert.alert_id).status == "open" and log.count() == before


def test_unknown_alert_and_repeated_status(alerts: AlertStore) -> None:
    from custodata.errors import StateError

    with pytest.raises(AlertNotFoundError):
        alerts.get("hoarding-0000")
    with pytest.raises(AlertNotFoundError):
        alerts.triage("hoarding-0000", by="sec01", status="acknowledged", note="n")
    alert = _alert()
    alerts.save([alert])
    alerts.triage(alert.alert_id, by="sec01", status="acknowledged", note="looking")
    with pytest.raises(StateError):
        alerts.triage(alert.alert_id, by="sec01", status="acknowledged", note="again")


def test_bad_alerts_are_refused_before_anything_is_stored(alerts: AlertStore) -> None:
    bad_severity = _alert(severity="urgent")
    unserialisable = _alert(actor="b")
    unserialisable.evidence["x"] = object()
    for bad in (bad_severity, unserialisable):
        with pytest.raises(AlertError):
            alerts.save([_alert(actor="fine"), bad])
    assert alerts.list() == []


def test_set_action_says_what_was_done(alerts: AlertStore) -> None:
    alert = _alert()
    alerts.save([alert])
    done = alerts.set_action(alert.alert_id, "frozen", summary="s. frozen", summary_zh="冻结")
    assert (done.action_taken, done.summary, done.summary_zh) == ("frozen", "s. frozen", "冻结")
    with pytest.raises(AlertNotFoundError):
        alerts.set_action("nope", "frozen")


def test_cursor_starts_at_zero_and_moves(alerts: AlertStore) -> None:
    assert alerts.cursor("live") == 0
    alerts.set_cursor("live", 42)
    alerts.set_cursor("live", 57)
    alerts.set_cursor("other", 3)
    assert (alerts.cursor("live"), alerts.cursor("other")) == (57, 3)
