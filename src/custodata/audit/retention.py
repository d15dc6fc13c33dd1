"""Retention of the audit log: at least 180 days, enforced by configuration, purged only in signed prefixes.

Regulation asks for six months of access records at least, so a setting below
180 days is refused rather than honoured.  A purge deletes the oldest entries
only up to a signed checkpoint whose entries are all older than the retention
period; that checkpoint is kept, so verification starts from it, and the purge
itself is recorded in the chain (``admin`` / ``audit_purge``), so deleting a
prefix by hand is told apart from a purge.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator

from custodata.audit import tables as t
from custodata.audit.events import Action, AuditEvent
from custodata.audit.log import naive_utc
from custodata.audit.verify import PURGE_OPERATION
from custodata.errors import ConfigError, StateError
from custodata.yamlconfig import load_yaml_model, validate

if TYPE_CHECKING:
    from custodata.audit.log import AuditLog

MIN_RETENTION_DAYS = 180
CONFIG_ENV = "CUSTODATA_AUDIT_CONFIG"
CLOCK_SKEW = dt.timedelta(minutes=5)


class AuditSettings(BaseModel):
    """``audit.yaml``: how long entries are kept and how often the chain is signed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retention_days: int = Field(default=MIN_RETENTION_DAYS, description="days every entry is kept, at least 180")
    checkpoint_every: int = Field(default=1000, ge=1, description="sign the chain every this many entries")

    @field_validator("retention_days")
    @classmethod
    def _at_least_minimum(cls, value: int) -> int:
        if value < MIN_RETENTION_DAYS:
            raise ValueError(f"{value} days is below the legal minimum of {MIN_RETENTION_DAYS}; "
                             f"set {MIN_RETENTION_DAYS} or more")
        return value


def settings(retention_days: int = MIN_RETENTION_DAYS, checkpoint_every: int = 1000) -> AuditSettings:
    """Settings from code, checked like the file (a ConfigError below 180 days)."""
    return validate(AuditSettings, {"retention_days": retention_days, "checkpoint_every": checkpoint_every},
                    "audit settings")


def load_settings(path: Path | None = None) -> AuditSettings:
    """``path``, else ``CUSTODATA_AUDIT_CONFIG``, else the defaults (180 days, a checkpoint every 1000)."""
    chosen = path or (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
    if chosen is None:
        return AuditSettings()
    return load_yaml_model(AuditSettings, chosen, "audit configuration")


@dataclass(frozen=True)
class PurgeReport:
    cutoff: dt.datetime          # entries older than this may go (naive UTC)
    through_seq: int             # entries up to here are gone (0: nothing ever purged)
    deleted: int                 # entries deleted by this purge
    event_seq: int | None        # the purge's own audit entry (None when nothing was deleted)


def purge(log: AuditLog, config: AuditSettings | None = None, *, now: dt.datetime | None = None,
          actor: str = "system") -> PurgeReport:
    """Delete entries older than the retention period, in whole checkpointed prefixes only.

    ``now`` later than the clock (beyond a few minutes of skew) is refused: it
    would let a caller delete entries younger than the retention period.
    """
    config = config or load_settings()
    if not isinstance(config.retention_days, int) or config.retention_days < MIN_RETENTION_DAYS:
        raise ConfigError(f"retention_days must be at least {MIN_RETENTION_DAYS}")
    clock_now = naive_utc(log.clock())
    at = naive_utc(now) if now is not None else clock_now
    if at > clock_now + CLOCK_SKEW:
        raise StateError(f"purge time {at:%Y-%m-%d %H:%M} is in the future; entries younger than "
                         f"{config.retention_days} days can never be purged")
    cutoff = at - dt.timedelta(days=config.retention_days)
    e, c, h = t.audit_event.c, t.audit_checkpoint.c, t.audit_head.c
    with log.store.begin() as con:
        head_seq, _ = log.lock_head(con)
        floor = int(con.execute(sa.select(h.floor_seq).where(h.id == 1)).scalar_one())
        # the oldest entry still inside the retention period bounds what may go, whatever the order of times
        young = con.execute(sa.select(sa.func.min(e.seq)).where(e.at >= cutoff, e.seq > floor)).scalar()
        limit = int(young) - 1 if young is not None else head_seq
        through = con.execute(sa.select(sa.func.max(c.seq)).where(c.seq > floor, c.seq <= limit)).scalar()
        if through is None:
            return PurgeReport(cutoff, floor, 0, None)
        through = int(through)
        deleted = con.execute(sa.delete(t.audit_event).where(e.seq <= through)).rowcount
        con.execute(sa.delete(t.audit_event_customer).where(t.audit_event_customer.c.seq <= through))
        con.execute(sa.delete(t.audit_checkpoint).where(c.seq < through))
        con.execute(sa.update(t.audit_head).where(h.id == 1).values(floor_seq=through))
        event = AuditEvent(actor=actor, action=Action.ADMIN, reason=f"retention {config.retention_days} days",
                           detail={"operation": PURGE_OPERATION, "through_seq": through, "deleted": deleted,
                                   "cutoff": cutoff.isoformat(sep=" ", timespec="seconds")})
        [event_seq] = log.append_in(con, [log.prepare(event)])
    return PurgeReport(cutoff, through, deleted, event_seq)


__all__ = ["CONFIG_ENV", "MIN_RETENTION_DAYS", "AuditSettings", "PurgeReport", "load_settings", "purge", "settings"]
