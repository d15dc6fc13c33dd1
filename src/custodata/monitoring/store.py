"""Alerts kept in the operational store, and their triage by the security officer.

The monitor gives each alert a deterministic id (scenario, person, window), so
saving is idempotent: re-scoring a stretch of the log after a restart finds
the alerts it already raised and neither duplicates them nor acts on them
twice — :meth:`AlertStore.save` says which alerts are new.  Triage
(acknowledge, false positive, escalate) is an administrative act on a security
record, so each one is appended to the audit log.  A false positive reaches
the live monitor through the table itself (:meth:`AlertStore.false_positives`),
so it feeds the person's baseline even when the officer triaged it in another
process than the one monitoring.
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from custodata.audit.events import Action, AuditEvent, AuditSink
from custodata.errors import CustodataError, NotFoundError, StateError
from custodata.monitoring import tables as t

if TYPE_CHECKING:
    from custodata.monitoring.alerts import Alert
    from custodata.ops.store import OpsStore

TRIAGE_STATUSES = ("acknowledged", "false_positive", "escalated")
# the officer's confirmation: a real incident, handed to investigation [已升级]; its day stays out of the person's
# baselines (``Monitor.confirm``), and the service may freeze the account with it
INCIDENT = "escalated"
MAX_LIST = 1000
NOTE_LEN = 2000


class AlertError(ValueError, CustodataError):
    """An alert cannot be stored or triaged as asked (unknown status, severity or empty note)."""


class AlertNotFoundError(NotFoundError):
    """No alert with that id."""


def naive_utc(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC).replace(tzinfo=None) if at.tzinfo is not None else at


def _opt_utc(at: dt.datetime | None) -> dt.datetime | None:
    return None if at is None else naive_utc(at)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class StoredAlert:
    """An alert as kept: what the monitor found plus where triage stands. Times are naive UTC."""

    alert_id: str
    scenario: str
    severity: str
    actor: str
    window_start: dt.datetime
    window_end: dt.datetime
    score: float
    summary: str
    summary_zh: str
    evidence: dict[str, Any]
    first_event_at: dt.datetime | None
    detected_at: dt.datetime
    status: str
    triaged_by: str | None = None
    triaged_at: dt.datetime | None = None
    note: str | None = None
    action_taken: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, times in ISO 8601 UTC with ``Z``."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = value.isoformat(timespec="seconds") + "Z" if isinstance(value, dt.datetime) else value
        return out

    def to_alert(self) -> Alert:
        """Back to the monitor's own type (for :meth:`Monitor.mark_false_positive`)."""
        from custodata.monitoring.alerts import Alert

        return Alert(alert_id=self.alert_id, scenario=self.scenario, severity=self.severity, actor=self.actor,
                     window_start=self.window_start, window_end=self.window_end, score=self.score,
                     summary=self.summary, summary_zh=self.summary_zh, evidence=dict(self.evidence),
                     first_event_at=self.first_event_at, detected_at=self.detected_at,
                     action_taken=self.action_taken)


def _stored(row: Any) -> StoredAlert:
    return StoredAlert(
        alert_id=row.alert_id, scenario=row.scenario, severity=row.severity, actor=row.actor,
        window_start=row.window_start, window_end=row.window_end, score=float(row.score), summary=row.summary,
        summary_zh=row.summary_zh, evidence=json.loads(row.evidence), first_event_at=row.first_event_at,
        detected_at=row.detected_at, status=row.status, triaged_by=row.triaged_by, triaged_at=row.triaged_at,
        note=row.note, action_taken=row.action_taken,
    )


def _row(alert: Alert, now: dt.datetime) -> dict[str, Any]:
    if alert.severity not in t.SEVERITIES:
        raise AlertError(f"alert {alert.alert_id}: severity must be one of {', '.join(t.SEVERITIES)}, "
                         f"not {alert.severity!r}")
    if not alert.alert_id or len(alert.alert_id) > t.ALERT_ID_LEN:
        raise AlertError(f"alert id must be 1 to {t.ALERT_ID_LEN} characters")
    try:
        evidence = json.dumps(dict(alert.evidence), ensure_ascii=False, sort_keys=True, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise AlertError(f"alert {alert.alert_id}: evidence is not JSON-serialisable: {exc}") from None
    return {
        "alert_id": alert.alert_id, "scenario": str(alert.scenario), "severity": alert.severity,
        "actor": str(alert.actor)[: t.ACTOR_LEN], "window_start": naive_utc(alert.window_start),
        "window_end": naive_utc(alert.window_end), "score": float(alert.score), "summary": alert.summary,
        "summary_zh": alert.summary_zh, "evidence": evidence, "first_event_at": _opt_utc(alert.first_event_at),
        "detected_at": naive_utc(alert.detected_at or now), "status": "open", "action_taken": alert.action_taken,
    }


def _json_default(value: Any) -> Any:
    """Evidence may carry times, sets and tuples; anything else is a bug in the detector."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


@dataclass
class AlertStore:
    """The alert table behind one operational store; triage is appended to ``audit``."""

    ops: OpsStore
    audit: AuditSink
    clock: Callable[[], dt.datetime] = utcnow

    # ---- writing ----------------------------------------------------------------------------

    def save(self, alerts: Iterable[Alert]) -> list[str]:
        """Store alerts not stored yet; returns the ids that were new, in the order given.

        An alert already stored is left as it is — its triage and action stand —
        even if the monitor raised it again with a higher score.
        """
        rows: dict[str, dict[str, Any]] = {}
        now = self.clock()
        for alert in alerts:
            rows.setdefault(alert.alert_id, _row(alert, now))
        if not rows:
            return []
        ids = list(rows)
        with self.ops.begin() as con:
            known = {r[0] for chunk in _chunks(ids, 500)
                     for r in con.execute(sa.select(t.alert.c.alert_id).where(t.alert.c.alert_id.in_(chunk)))}
            fresh = [rows[i] for i in ids if i not in known]
            if fresh:
                con.execute(_insert_ignoring_duplicates(con), fresh)
        return [r["alert_id"] for r in fresh]

    def set_action(self, alert_id: str, action: str, *, summary: str | None = None,
                   summary_zh: str | None = None) -> StoredAlert:
        """Record what was done about an alert (e.g. ``frozen``) and, optionally, the summary that says so."""
        values: dict[str, Any] = {"action_taken": action[:32]}
        if summary is not None:
            values["summary"] = summary
        if summary_zh is not None:
            values["summary_zh"] = summary_zh
        with self.ops.begin() as con:
            done = con.execute(sa.update(t.alert).where(t.alert.c.alert_id == alert_id).values(**values)).rowcount
        if not done:
            raise AlertNotFoundError(f"no alert {alert_id!r}")
        return self.get(alert_id)

    def triage(self, alert_id: str, *, by: str, status: str, note: str, role: str | None = None,
               source_address: str | None = None) -> StoredAlert:
        """Acknowledge, mark a false positive or escalate; audited as an ``admin`` event.

        A triage decision can be revised (an escalated alert may turn out to be
        a false positive) but never back to ``open`` and never to the status it has.
        """
        if status not in TRIAGE_STATUSES:
            raise AlertError(f"triage status must be one of {', '.join(TRIAGE_STATUSES)}, not {status!r}")
        note = (note or "").strip()
        if not note:
            raise AlertError("a triage decision needs a note saying why")
        if len(note) > NOTE_LEN:
            raise AlertError(f"a triage note is at most {NOTE_LEN} characters, not {len(note)}")
        now = self.clock()
        with self.ops.begin() as con:
            row = con.execute(sa.select(t.alert).where(t.alert.c.alert_id == alert_id)).one_or_none()
            if row is None:
                raise AlertNotFoundError(f"no alert {alert_id!r}")
            if row.status == status:
                raise StateError(f"alert {alert_id} is already {status}")
            con.execute(sa.update(t.alert).where(t.alert.c.alert_id == alert_id)
                        .values(status=status, triaged_by=by, triaged_at=now, note=note))
        self.audit.append(AuditEvent(
            actor=by, action=Action.ADMIN, role=role, source_address=source_address,
            detail={"operation": "alert_triage", "alert_id": alert_id, "scenario": row.scenario,
                    "subject": row.actor, "previous": row.status, "status": status},
        ))
        return self.get(alert_id)

    # ---- reading ----------------------------------------------------------------------------

    def get(self, alert_id: str) -> StoredAlert:
        with self.ops.read() as con:
            row = con.execute(sa.select(t.alert).where(t.alert.c.alert_id == alert_id)).one_or_none()
        if row is None:
            raise AlertNotFoundError(f"no alert {alert_id!r}")
        return _stored(row)

    def list(self, *, status: str | None = None, severity: str | None = None, actor: str | None = None,
             limit: int = 100) -> list[StoredAlert]:
        """Matching alerts, newest first."""
        if status is not None and status not in t.STATUSES:
            raise AlertError(f"status must be one of {', '.join(t.STATUSES)}, not {status!r}")
        if severity is not None and severity not in t.SEVERITIES:
            raise AlertError(f"severity must be one of {', '.join(t.SEVERITIES)}, not {severity!r}")
        if not 1 <= limit <= MAX_LIST:
            raise AlertError(f"limit must be between 1 and {MAX_LIST}, not {limit}")
        c = t.alert.c
        conds = [cond for cond in (
            c.status == status if status is not None else None,
            c.severity == severity if severity is not None else None,
            c.actor == actor if actor is not None else None,
        ) if cond is not None]
        stmt = sa.select(t.alert).where(*conds).order_by(c.detected_at.desc(), c.alert_id).limit(limit)
        with self.ops.read() as con:
            return [_stored(r) for r in con.execute(stmt)]

    def false_positives(self, *, triaged_since: dt.datetime | None = None) -> builtins.list[StoredAlert]:
        """Alerts marked false positive (since a time, inclusive), oldest decision first: the monitor's feedback."""
        return self.triaged("false_positive", triaged_since=triaged_since)

    def incidents(self, *, triaged_since: dt.datetime | None = None) -> builtins.list[StoredAlert]:
        """Alerts the security officer confirmed (``escalated``: a real incident, handed on), oldest first."""
        return self.triaged(INCIDENT, triaged_since=triaged_since)

    def triaged(self, status: str, *, triaged_since: dt.datetime | None = None) -> builtins.list[StoredAlert]:
        """Alerts of one triage status (decided since a time, inclusive), oldest decision first."""
        c = t.alert.c
        stmt = sa.select(t.alert).where(c.status == status)
        if triaged_since is not None:
            stmt = stmt.where(c.triaged_at >= naive_utc(triaged_since))
        with self.ops.read() as con:
            return [_stored(r) for r in con.execute(stmt.order_by(c.triaged_at, c.alert_id))]

    def counts(self, *, status: str | None = None) -> dict[str, int]:
        """Alerts per severity (every severity present, most severe last), optionally of one status."""
        c = t.alert.c
        stmt = sa.select(c.severity, sa.func.count()).group_by(c.severity)
        if status is not None:
            stmt = stmt.where(c.status == status)
        with self.ops.read() as con:
            found = {str(s): int(n) for s, n in con.execute(stmt)}
        return {s: found.get(s, 0) for s in t.SEVERITIES}

    # ---- the monitor's cursor ---------------------------------------------------------------

    def cursor(self, name: str) -> int:
        """The last audit sequence number the monitor ``name`` has scored (0: none yet)."""
        with self.ops.read() as con:
            value = con.execute(sa.select(t.monitor_cursor.c.last_seq)
                                .where(t.monitor_cursor.c.name == name)).scalar_one_or_none()
        return int(value or 0)

    def set_cursor(self, name: str, last_seq: int) -> None:
        with self.ops.begin() as con:
            stmt = _dialect_insert(con, t.monitor_cursor).values(name=name, last_seq=last_seq)
            con.execute(stmt.on_conflict_do_update(index_elements=["name"], set_={"last_seq": last_seq}))


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _dialect_insert(con: sa.Connection, table: sa.Table) -> Any:
    """The engine's own INSERT, which both engines extend with ON CONFLICT."""
    from custodata.ops import dialect

    return dialect.insert(con, table)


def _insert_ignoring_duplicates(con: sa.Connection) -> Any:
    """An insert that skips alert ids another process stored meanwhile."""
    return _dialect_insert(con, t.alert).on_conflict_do_nothing(index_elements=["alert_id"])


__all__ = ["TRIAGE_STATUSES", "AlertError", "AlertNotFoundError", "AlertStore", "StoredAlert"]
