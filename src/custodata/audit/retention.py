"""Retention of the audit log: at least 180 days, enforced by configuration, purged only in signed prefixes.

Regulation asks for six months of access records at least, so a setting below
180 days is refused rather than honoured.  A purge deletes the oldest entries
only up to a signed checkpoint whose entries are all older than the retention
period; that checkpoint is kept, so verification starts from it, and the purge
itself is recorded in the chain (``admin`` / ``audit_purge``) and **signed**: the
signature covers the checkpoint it stops at, the newest time it removed, when it
ran and the retention rule, so verify can tell a purge from a prefix deleted by
hand with a well-chained forged purge event appended, and can check the age.
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
from custodata.audit.canonical import at_text, purge_message
from custodata.audit.events import Action, AuditEvent
from custodata.audit.log import naive_utc
from custodata.audit.verify import PURGE_OPERATION
from custodata.errors import ConfigError, StateError
from custodata.yamlconfig import load_yaml_model, validate

if TYPE_CHECKING:
    from custodata.audit.anchor import TrustAnchor
    from custodata.audit.log import AuditLog

MIN_RETENTION_DAYS = 180
CONFIG_ENV = "CUSTODATA_AUDIT_CONFIG"
CLOCK_SKEW = dt.timedelta(minutes=5)


class TrustAnchorSettings(BaseModel):
    """``trust_anchor:`` — the auditors' public key outside the data folder and its pinned fingerprint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    public_key: Path = Field(description="PEM public key given to the auditors (not the one in out/keys)")
    fingerprint: str = Field(description="its SHA-256 fingerprint, 64 hex digits (custodata audit anchor)")


class AuditSettings(BaseModel):
    """``audit.yaml``: how long entries are kept, how often the chain is signed, what verify trusts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retention_days: int = Field(default=MIN_RETENTION_DAYS, description="days every entry is kept, at least 180")
    checkpoint_every: int = Field(default=1000, ge=1, description="sign the chain every this many entries")
    checkpoint_seconds: int = Field(default=60, ge=1, description="and at the first append this long after the "
                                                                  "last signature")
    anchor_file: Path | None = Field(default=None, description="append-only copy of every checkpoint, outside "
                                                               "the store (default <out>-audit-anchor-<store>.jsonl)")
    trust_anchor: TrustAnchorSettings | None = Field(default=None, description="what verify checks signatures "
                                                                               "against")

    def anchor_path(self, out_dir: Path, store_url: str) -> Path:
        """The checkpoint anchor file: configured, else ``CUSTODATA_AUDIT_ANCHOR_FILE``, else beside ``out_dir``."""
        from custodata.audit.anchor import default_anchor_file

        return self.anchor_file or default_anchor_file(out_dir, store_url)

    def anchor(self, *, data_dir: Path | None = None) -> TrustAnchor | None:
        """The configured trust anchor (settings, else the environment), or None when none is pinned."""
        from custodata.audit.anchor import configured_anchor

        ta = self.trust_anchor
        return configured_anchor(ta.public_key if ta else None, ta.fingerprint if ta else None, data_dir=data_dir)

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
    """Delete entries older than the retention period, in whole checkpointed prefixes only; signed.

    ``now`` later than the clock (beyond a few minutes of skew) is refused: it
    would let a caller delete entries younger than the retention period.  A log
    without a signing key cannot purge: an unsigned purge is what a forger writes.
    """
    config = config or load_settings()
    if log.signer is None:
        raise StateError("purging the audit log needs its signing key: a purge is signed so verify can tell "
                         "it from entries deleted by hand")
    if not isinstance(config.retention_days, int) or config.retention_days < MIN_RETENTION_DAYS:
        raise ConfigError(f"retention_days must be at least {MIN_RETENTION_DAYS}")
    clock_now = naive_utc(log.clock())
    at = naive_utc(now) if now is not None else clock_now
    if at > clock_now + CLOCK_SKEW:
        raise StateError(f"purge time {at:%Y-%m-%d %H:%M} is in the future; entries younger than "
                         f"{config.retention_days} days can never be purged")
    cutoff = at - dt.timedelta(days=config.retention_days)
    e, c, h = t.audit_event.c, t.audit_checkpoint.c, t.audit_head.c
    with log.transaction() as con:
        head_seq, _ = log.lock_head(con)
        floor = int(con.execute(sa.select(h.floor_seq).where(h.id == 1)).scalar_one())
        # the oldest entry still inside the retention period bounds what may go, whatever the order of times
        young = con.execute(sa.select(sa.func.min(e.seq)).where(e.at >= cutoff, e.seq > floor)).scalar()
        limit = int(young) - 1 if young is not None else head_seq
        through = con.execute(sa.select(sa.func.max(c.seq)).where(c.seq > floor, c.seq <= limit)).scalar()
        if through is None:
            return PurgeReport(cutoff, floor, 0, None)
        through = int(through)
        through_hash = con.execute(sa.select(c.hash).where(c.seq == through)).scalar_one()
        newest = con.execute(sa.select(sa.func.max(e.at)).where(e.seq > floor, e.seq <= through)).scalar()
        newest = naive_utc(newest) if newest is not None else cutoff
        signature = log.signer.sign(purge_message(through, through_hash, newest, at, config.retention_days))
        deleted = con.execute(sa.delete(t.audit_event).where(e.seq <= through)).rowcount
        con.execute(sa.delete(t.audit_event_customer).where(t.audit_event_customer.c.seq <= through))
        con.execute(sa.delete(t.audit_checkpoint).where(c.seq < through))
        con.execute(sa.update(t.audit_head).where(h.id == 1).values(floor_seq=through))
        event = AuditEvent(actor=actor, action=Action.ADMIN, reason=f"retention {config.retention_days} days",
                           detail={"operation": PURGE_OPERATION, "through_seq": through, "deleted": deleted,
                                   "cutoff": cutoff.isoformat(sep=" ", timespec="seconds"),
                                   "through_hash": through_hash, "newest_at": at_text(newest),
                                   "purged_at": at_text(at), "retention_days": config.retention_days,
                                   "key_id": log.signer.key_id, "signature": signature})
        [event_seq] = log.append_in(con, [log.prepare(event)])
    return PurgeReport(cutoff, through, deleted, event_seq)


__all__ = ["CONFIG_ENV", "MIN_RETENTION_DAYS", "AuditSettings", "PurgeReport", "TrustAnchorSettings", "load_settings",
           "purge", "settings"]
