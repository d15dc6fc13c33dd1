"""Tables of the monitoring (UEBA) inside the service: the alerts raised and how far the monitor has read.

An alert's evidence is JSON text: its shape depends on the scenario and nothing
queries inside it; it names customers by id and fields by name, never a value.
``monitor_cursor`` remembers the last audit sequence number each monitor has
scored, so a restarted service resumes where it stopped instead of rescoring
(and re-alerting on) the whole log.  Times are naive UTC.
"""

from __future__ import annotations

import sqlalchemy as sa

from custodata.ops.metadata import metadata

SEVERITIES = ("low", "medium", "high", "critical")
STATUSES = ("open", "acknowledged", "false_positive", "escalated")
ALERT_ID_LEN = 200
ACTOR_LEN = 255  # as the audit log's actor column


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


alert = sa.Table(
    "alert", metadata,
    sa.Column("alert_id", sa.String(ALERT_ID_LEN), primary_key=True),  # deterministic: scenario, actor, window
    sa.Column("scenario", sa.String(64), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(ACTOR_LEN), nullable=False),
    sa.Column("window_start", sa.DateTime(), nullable=False),
    sa.Column("window_end", sa.DateTime(), nullable=False),
    sa.Column("score", sa.Float(), nullable=False),
    sa.Column("summary", sa.Text(), nullable=False),
    sa.Column("summary_zh", sa.Text(), nullable=False),
    sa.Column("evidence", sa.Text(), nullable=False),  # JSON object
    sa.Column("first_event_at", sa.DateTime(), nullable=True),
    sa.Column("detected_at", sa.DateTime(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("triaged_by", sa.String(ACTOR_LEN), nullable=True),
    sa.Column("triaged_at", sa.DateTime(), nullable=True),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("action_taken", sa.String(32), nullable=True),  # e.g. "frozen"
    sa.CheckConstraint(_one_of("severity", SEVERITIES), name="severity"),
    sa.CheckConstraint(_one_of("status", STATUSES), name="status"),
    sa.Index(None, "status", "severity"),
    sa.Index(None, "actor"),
    sa.Index(None, "detected_at"),
)

monitor_cursor = sa.Table(
    "monitor_cursor", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("last_seq", sa.BigInteger(), nullable=False),
)

__all__ = ["SEVERITIES", "STATUSES", "alert", "metadata", "monitor_cursor"]
