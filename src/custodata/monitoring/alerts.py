"""An alert: what the monitor saw, how far it is from normal, and the events behind it.

The security officer decides from the alert alone whether to act, so it
carries the evidence (the events — at most 50 references —, the counts, the
baseline and how far off it is, and what was touched by customer value class
and field level) and says in English and Chinese what happened.  Its id is
derived from scenario, person and window start, so the same finding seen
again (a replay, an incremental run after a batch run) is the same alert.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

SCENARIOS: tuple[str, ...] = (
    "hoarding", "off_hours_bulk", "out_of_scope", "departing_exfiltration", "repeated_unmask",
    "failed_login_burst", "shared_customers", "multi_address", "new_data_kind",
)
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
MAX_EVIDENCE_EVENTS = 50


def alert_id(scenario: str, actor: str, window_start: dt.datetime) -> str:
    """Deterministic id: the same scenario, person and window always give the same id."""
    key = f"{scenario}\x1f{actor}\x1f{window_start.isoformat(timespec='seconds')}"
    return f"{scenario}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def severity_rank(severity: str) -> int:
    """Order of severities (low 0 … critical 3) for comparisons such as 'freeze at high or above'."""
    return SEVERITIES.index(severity)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="microseconds") + "Z"


def _time(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    text = str(value)
    at = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    return at.astimezone(dt.UTC).replace(tzinfo=None) if at.tzinfo is not None else at


@dataclass
class Alert:
    """One finding; times are naive UTC, ``detected_at`` is the event time at which it was raised."""

    alert_id: str
    scenario: str
    severity: str
    actor: str
    window_start: dt.datetime
    window_end: dt.datetime
    score: float
    summary: str
    summary_zh: str
    evidence: dict[str, Any] = field(default_factory=dict)
    first_event_at: dt.datetime | None = None
    detected_at: dt.datetime | None = None
    action_taken: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (times ISO 8601 UTC with ``Z``)."""
        return {
            "alert_id": self.alert_id, "scenario": self.scenario, "severity": self.severity, "actor": self.actor,
            "window_start": _iso(self.window_start), "window_end": _iso(self.window_end),
            "score": round(self.score, 3), "summary": self.summary, "summary_zh": self.summary_zh,
            "evidence": self.evidence, "first_event_at": _iso(self.first_event_at),
            "detected_at": _iso(self.detected_at), "action_taken": self.action_taken,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        """The inverse of :meth:`to_dict` (for stores and files)."""
        start, end = _time(data["window_start"]), _time(data["window_end"])
        if start is None or end is None:
            raise ValueError("an alert needs window_start and window_end")
        return cls(
            alert_id=str(data["alert_id"]), scenario=str(data["scenario"]), severity=str(data["severity"]),
            actor=str(data["actor"]), window_start=start, window_end=end, score=float(data["score"]),
            summary=str(data["summary"]), summary_zh=str(data["summary_zh"]), evidence=dict(data.get("evidence") or {}),
            first_event_at=_time(data.get("first_event_at")), detected_at=_time(data.get("detected_at")),
            action_taken=data.get("action_taken"),
        )
