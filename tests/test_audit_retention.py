"""Retention: never below 180 days, purges only whole old signed prefixes, the chain still verifies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from custodata.audit import tables as t
from custodata.audit.events import Action, AuditEvent
from custodata.audit.log import AuditLog
from custodata.audit.retention import load_settings, settings
from custodata.audit.signing import CheckpointSigner
from custodata.audit.verify import verify
from custodata.errors import ConfigError, StateError
from custodata.ops import open_ops

NOW = dt.datetime(2027, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture
def log(ops_url: str, tmp_path: Path) -> Iterator[AuditLog]:
    store = open_ops(ops_url)
    yield AuditLog(store, CheckpointSigner(tmp_path / "k.pem"), checkpoint_every=10, clock=lambda: NOW)
    store.close()


def _old(days: float, n: int) -> list[AuditEvent]:
    return [AuditEvent(actor="u", action=Action.READ, at=NOW - dt.timedelta(days=days)) for _ in range(n)]


@pytest.mark.parametrize("days", [0, 30, 179])
def test_retention_below_180_days_is_refused(days: int, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="180"):
        settings(retention_days=days)
    (tmp_path / "audit.yaml").write_text(f"retention_days: {days}\n")
    with pytest.raises(ConfigError, match=r"audit.yaml: key 'retention_days'.*minimum of 180"):
        load_settings(tmp_path / "audit.yaml")


def test_settings_file_and_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUSTODATA_AUDIT_CONFIG", raising=False)
    assert load_settings().retention_days == 180
    (tmp_path / "audit.yaml").write_text("retention_days: 400\ncheckpoint_every: 500\n")
    monkeypatch.setenv("CUSTODATA_AUDIT_CONFIG", str(tmp_path / "audit.yaml"))
    assert load_settings() == settings(400, 500)
    (tmp_path / "bad.yaml").write_text("retention: 400\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_settings(tmp_path / "bad.yaml")


def test_purge_deletes_whole_old_checkpointed_prefixes_and_keeps_verify_ok(log: AuditLog) -> None:
    log.append_many(_old(400, 25))      # 1..25: old; checkpoints at 10 and 20
    log.append_many(_old(100, 10))      # 26..35: young
    report = log.purge(settings(retention_days=365))
    assert (report.through_seq, report.deleted, report.event_seq) == (20, 20, 36)
    assert log.count() == 16 and min(e.seq for e in log.query()) == 21
    result = verify(log.store, log.signer.public_key if log.signer else None)
    assert result.ok and result.first_seq == 21 and result.checked == 16
    [purge_event] = log.query(action="admin")
    assert purge_event.detail["through_seq"] == 20 and purge_event.detail["operation"] == "audit_purge"
    again = log.purge(settings(retention_days=365))
    assert again.deleted == 0 and again.through_seq == 20
    # after the next checkpoint (40) the old 21..25 still cannot go: 26..35 are young and sit before it
    log.append_many(_old(1, 5))
    assert log.purge(settings(retention_days=365)).deleted == 0


def test_young_entries_are_never_purged(log: AuditLog) -> None:
    log.append_many(_old(179, 30))
    assert log.purge(settings()).deleted == 0
    with pytest.raises(StateError, match="future"):
        log.purge(settings(), now=NOW + dt.timedelta(days=30))
    assert log.count() == 30


def test_hand_deleted_prefix_is_not_a_purge(log: AuditLog) -> None:
    log.append_many(_old(400, 25))
    with log.store.begin() as con:  # imitate a purge without the purge event
        con.execute(sa.delete(t.audit_event).where(t.audit_event.c.seq <= 10))
        con.execute(sa.update(t.audit_head).values(floor_seq=10))
    report = verify(log.store)
    assert report.first_bad_seq == 11 and "no purge event" in (report.problem or "")
