"""Issue 10 points 7-11: the audit log cannot be forged by whoever holds the database (and its data folder).

Each test names the attack it stops; the store-level ones run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from custodata.audit import tables as t
from custodata.audit.anchor import TrustAnchor, fingerprint
from custodata.audit.canonical import at_text, canonical, entry_hash, purge_message, signed_message
from custodata.audit.events import Action, AuditEvent
from custodata.audit.log import DAMAGED_SCENARIO, AuditDamagedError, AuditLog
from custodata.audit.retention import settings
from custodata.audit.signing import CheckpointSigner, default_key_path
from custodata.audit.verify import rebuild_customer_index, verify
from custodata.errors import ConfigError, StateError
from custodata.ops import OpsStore, open_ops

NOW = dt.datetime(2027, 1, 1, 12, 0, 0)
E, C, H = t.audit_event.c, t.audit_checkpoint.c, t.audit_head.c


class Clock:
    def __init__(self, at: dt.datetime = NOW) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


@pytest.fixture
def signer(tmp_path: Path) -> CheckpointSigner:
    return CheckpointSigner(tmp_path / "out" / "keys" / "audit-signing.pem")


@pytest.fixture
def anchor(tmp_path: Path, signer: CheckpointSigner) -> TrustAnchor:
    """The auditors' copy of the public key, outside the data folder, its fingerprint pinned."""
    path = tmp_path / "auditors" / "audit.pub.pem"
    path.parent.mkdir()
    path.write_bytes(signer.public_pem())
    return TrustAnchor.load(path, fingerprint(signer.public_key), data_dir=tmp_path / "out")


@pytest.fixture
def anchor_file(tmp_path: Path) -> Path:
    return tmp_path / "worm" / "audit-anchor.jsonl"


@pytest.fixture
def store(ops_url: str) -> Iterator[OpsStore]:
    s = open_ops(ops_url)
    yield s
    s.close()


def _log(store: OpsStore, signer: CheckpointSigner, anchor_file: Path | None = None, clock: Clock | None = None,
         every: int = 10) -> AuditLog:
    return AuditLog(store, signer, checkpoint_every=every, anchor_file=anchor_file, clock=clock or Clock())


def _events(n: int, *, days_old: float = 0, start: int = 0) -> list[AuditEvent]:
    return [AuditEvent(actor=f"u{i % 3}", action=Action.READ, role="teller", customer_ids=[f"C{i}"],
                       at=NOW - dt.timedelta(days=days_old) + dt.timedelta(seconds=i)) for i in range(start, start + n)]


def _row(con: sa.Connection, seq: int) -> dict[str, Any]:
    return dict(con.execute(sa.select(t.audit_event).where(E.seq == seq)).one()._mapping)


def _rechain(con: sa.Connection, start: int, end: int, edit: dict[str, Any]) -> str:
    """Edit entry ``start`` and recompute every later hash, as someone with the database would."""
    prev = _row(con, start - 1)["hash"] if start > 1 else "0" * 64
    for seq in range(start, end + 1):
        row = _row(con, seq) | {"prev_hash": prev} | (edit if seq == start else {})
        row["hash"] = prev = entry_hash(canonical(prev, row))
        con.execute(sa.update(t.audit_event).where(E.seq == seq).values({k: v for k, v in row.items() if k != "seq"}))
    con.execute(sa.update(t.audit_head).values(hash=prev))
    return str(prev)


def _resign(con: sa.Connection, key: CheckpointSigner) -> None:
    """Re-sign every checkpoint of the store over the (rewritten) entries it names."""
    for cp in con.execute(sa.select(t.audit_checkpoint)).all():
        hash_ = _row(con, cp.seq)["hash"]
        con.execute(sa.update(t.audit_checkpoint).where(C.seq == cp.seq).values(
            hash=hash_, key_id=key.key_id, signature=key.sign(signed_message(cp.seq, hash_, cp.at))))


# ---- point 7: purges are signed and only of entries past the retention ------------------------------


def _forge_purge(store: OpsStore, log: AuditLog, through: int, extra: dict[str, Any] | None = None) -> None:
    with store.begin() as con:
        con.execute(sa.delete(t.audit_event).where(E.seq <= through))
        con.execute(sa.delete(t.audit_event_customer).where(t.audit_event_customer.c.seq <= through))
        con.execute(sa.delete(t.audit_checkpoint).where(C.seq < through))
        con.execute(sa.update(t.audit_head).values(floor_seq=through))
    log.append(AuditEvent(actor="system", action=Action.ADMIN, reason="retention 180 days",
                          detail={"operation": "audit_purge", "through_seq": through, "deleted": through,
                                  "cutoff": "2026-07-05 12:00:00", **(extra or {})}))


def test_forged_purge_fails_verify(store: OpsStore, signer: CheckpointSigner, anchor: TrustAnchor) -> None:
    """Attack: delete entries 1..50 (all recent), set the head's floor, append one well-chained audit_purge
    event — verify used to say ok. Now the purge must carry a signature under the trust anchor."""
    log = _log(store, signer)
    log.append_many(_events(60))
    _forge_purge(store, log, 50)
    report = verify(store, anchor)
    assert not report.ok and report.first_bad_seq == 51
    assert "is not signed (forged purge)" in (report.problem or "")


def test_forged_purge_with_a_made_up_signature_fails(store: OpsStore, signer: CheckpointSigner,
                                                     anchor: TrustAnchor) -> None:
    """Attack: the forged purge event copies the shape of a genuine one, signature included."""
    log = _log(store, signer)
    log.append_many(_events(60))
    with store.read() as con:
        h50 = con.execute(sa.select(C.hash).where(C.seq == 50)).scalar_one()
    _forge_purge(store, log, 50, {"through_hash": h50, "newest_at": "2026-01-01 00:00:00.000000",
                                  "purged_at": at_text(NOW), "retention_days": 180, "key_id": signer.key_id,
                                  "signature": "ab" * 64})
    report = verify(store, anchor)
    assert not report.ok and "invalid signature (forged purge)" in (report.problem or "")


def test_signed_purge_of_young_entries_fails(store: OpsStore, signer: CheckpointSigner, anchor: TrustAnchor) -> None:
    """Attack: even a purge signed with the real key may not remove entries younger than 180 days."""
    log = _log(store, signer)
    log.append_many(_events(60, days_old=30))
    with store.read() as con:
        h50 = con.execute(sa.select(C.hash).where(C.seq == 50)).scalar_one()
        newest = con.execute(sa.select(sa.func.max(E.at)).where(E.seq <= 50)).scalar_one()
    sig = signer.sign(purge_message(50, h50, newest, NOW, 180))
    _forge_purge(store, log, 50, {"through_hash": h50, "newest_at": at_text(newest), "purged_at": at_text(NOW),
                                  "retention_days": 180, "key_id": signer.key_id, "signature": sig})
    report = verify(store, anchor)
    assert not report.ok and "removed entries younger than 180 days" in (report.problem or "")


def test_genuine_purge_is_signed_and_verifies(store: OpsStore, signer: CheckpointSigner, anchor: TrustAnchor) -> None:
    """The honest path still works: old entries purged, the purge signed, verify ok under the anchor."""
    log = _log(store, signer)
    log.append_many(_events(25, days_old=400))
    log.append_many(_events(5, days_old=1, start=25))
    report = log.purge(settings(retention_days=180))
    assert report.through_seq == 20
    [event] = log.query(action="admin")
    assert event.detail["key_id"] == signer.key_id and len(event.detail["signature"]) == 128
    result = verify(store, anchor)
    assert result.ok, result.problem


def test_purge_needs_the_signing_key(store: OpsStore) -> None:
    """An unsigned purge is what a forger writes, so custodata never writes one."""
    log = AuditLog(store, clock=Clock())
    log.append_many(_events(5, days_old=400))
    with pytest.raises(StateError, match="signing key"):
        log.purge(settings())


# ---- point 8: a trust anchor outside the data folder, pinned, and a loud warning without one -------


def test_chain_resigned_with_a_replaced_key_fails_under_the_trust_anchor(
        store: OpsStore, signer: CheckpointSigner, anchor: TrustAnchor, tmp_path: Path) -> None:
    """Attack: rewrite entry 15, recompute the chain, replace out/keys/audit-signing.pem with a key of one's
    own and re-sign every checkpoint — checking against the key beside the log says ok."""
    _log(store, signer).append_many(_events(40))
    forger = CheckpointSigner(tmp_path / "forger.pem")
    with store.begin() as con:
        _rechain(con, 15, 40, {"actor": "someone-else"})
        _resign(con, forger)
    beside_the_log = verify(store, forger.public_key)
    assert beside_the_log.ok and beside_the_log.trust_anchor is None
    assert any("NO TRUST ANCHOR" in w for w in beside_the_log.warnings)
    report = verify(store, anchor)
    assert not report.ok and "signed by unknown key" in (report.problem or "")
    assert report.trust_anchor == fingerprint(signer.public_key) and not any("NO TRUST" in w for w in report.warnings)


def test_replaced_anchor_key_file_is_refused_by_the_pinned_fingerprint(signer: CheckpointSigner,
                                                                         tmp_path: Path) -> None:
    """Attack: swap the auditors' public-key file for the forger's key; the pinned fingerprint refuses it."""
    path = tmp_path / "audit.pub.pem"
    path.write_bytes(CheckpointSigner(tmp_path / "forger.pem").public_pem())
    with pytest.raises(ConfigError, match="was replaced"):
        TrustAnchor.load(path, fingerprint(signer.public_key))


def test_anchor_inside_the_data_folder_is_warned(signer: CheckpointSigner, tmp_path: Path) -> None:
    """A key kept in the data folder can be replaced with the data: the report says so."""
    inside = tmp_path / "out" / "audit.pub.pem"
    inside.write_bytes(signer.public_pem())
    found = TrustAnchor.load(inside, fingerprint(signer.public_key), data_dir=tmp_path / "out")
    assert any("inside the data folder" in w for w in found.warnings)


# ---- point 9: checkpoints on time too, anchored outside the store ----------------------------------


def test_checkpoint_on_time_as_well_as_count(store: OpsStore, signer: CheckpointSigner) -> None:
    """Attack window: a quiet log signed every 1,000 entries left up to 999 entries rewritable for days."""
    clock = Clock()
    log = AuditLog(store, signer, checkpoint_every=1000, checkpoint_seconds=60, clock=clock)
    log.append_many(_events(3))
    clock.at += dt.timedelta(seconds=30)
    log.append_many(_events(2, start=3))
    with store.read() as con:
        assert con.execute(sa.select(sa.func.count()).select_from(t.audit_checkpoint)).scalar() == 0
    clock.at += dt.timedelta(seconds=31)
    log.append_many(_events(1, start=5))
    clock.at += dt.timedelta(seconds=10)
    log.append_many(_events(1, start=6))
    clock.at += dt.timedelta(seconds=60)
    log.append_many(_events(1, start=7))
    with store.read() as con:
        assert [int(s) for s in con.execute(sa.select(C.seq).order_by(C.seq)).scalars()] == [6, 8]


def test_truncated_tail_with_its_checkpoints_is_caught_by_the_anchor_file(
        store: OpsStore, signer: CheckpointSigner, anchor: TrustAnchor, anchor_file: Path) -> None:
    """Attack: cut the tail after 15, delete the checkpoints beyond and move the head back — the store alone
    shows a consistent shorter chain; the anchor file outside it does not."""
    _log(store, signer, anchor_file).append_many(_events(25))
    assert len(anchor_file.read_text().splitlines()) == 2
    with store.begin() as con:
        h15 = _row(con, 15)["hash"]
        con.execute(sa.delete(t.audit_event).where(E.seq > 15))
        con.execute(sa.delete(t.audit_event_customer).where(t.audit_event_customer.c.seq > 15))
        con.execute(sa.delete(t.audit_checkpoint).where(C.seq > 15))
        con.execute(sa.update(t.audit_head).values(seq=15, hash=h15))
    assert verify(store, anchor).ok  # what the store alone can tell
    report = verify(store, anchor, anchor_file=anchor_file)
    assert not report.ok and report.first_bad_seq == 16
    assert "the anchor file holds a checkpoint at 20 (truncated)" in (report.problem or "")


def test_rewrite_resigned_with_the_real_key_is_caught_by_the_anchor_file(
        store: OpsStore, signer: CheckpointSigner, anchor: TrustAnchor, anchor_file: Path) -> None:
    """Attack: someone holding the data folder and its key rewrites entry 12 and re-signs the store's
    checkpoints with the genuine key; only the copies anchored elsewhere still show the old hashes."""
    _log(store, signer, anchor_file).append_many(_events(25))
    with store.begin() as con:
        _rechain(con, 12, 25, {"actor": "someone-else"})
        _resign(con, signer)
    assert verify(store, anchor).ok
    report = verify(store, anchor, anchor_file=anchor_file)
    assert report.anchored == 2 and not report.ok and report.first_bad_seq == 11
    assert "checkpoint anchored at 20 does not match entry 20: entries 11..20 were rewritten" in (report.problem or "")


def test_anchor_file_gets_only_committed_checkpoints_and_warns_when_gone(
        store: OpsStore, signer: CheckpointSigner, anchor: TrustAnchor, anchor_file: Path) -> None:
    """A rolled-back batch anchors nothing; a deleted anchor file is said loudly, not passed over."""
    log = _log(store, signer, anchor_file)
    log.append_many(_events(9))
    with pytest.raises(RuntimeError), log.transaction() as con:
        log.append_in(con, [log.prepare(e) for e in _events(3, start=9)])
        raise RuntimeError("rolled back")
    assert not anchor_file.exists()
    log.append_many(_events(3, start=9))
    ok = verify(store, anchor, anchor_file=anchor_file)
    assert ok.ok and ok.anchored == 1 and ok.warnings == ()
    anchor_file.unlink()
    gone = verify(store, anchor, anchor_file=anchor_file)
    assert any("holds no checkpoint" in w for w in gone.warnings)
    assert any("NO CHECKPOINT ANCHOR FILE" in w for w in verify(store, anchor).warnings)


# ---- point 10: the customer index is checked against the chain ------------------------------------


def test_deleted_customer_index_rows_are_named(store: OpsStore, signer: CheckpointSigner,
                                               anchor: TrustAnchor) -> None:
    """Attack: delete the audit_event_customer rows of customer C7 so queries by customer hide their events."""
    log = _log(store, signer)
    log.append_many(_events(20))
    assert [e.seq for e in log.query(customer_id="C7")] == [8]
    with store.begin() as con:
        con.execute(sa.delete(t.audit_event_customer).where(t.audit_event_customer.c.customer_id == "C7"))
    report = verify(store, anchor)
    assert not report.ok and report.first_bad_seq == 8 and report.index_missing == 1
    assert "customer index lacks 1 row(s)" in (report.problem or "")
    assert rebuild_customer_index(store) == 20
    assert verify(store, anchor).ok and [e.seq for e in log.query(customer_id="C7")] == [8]


def test_forged_customer_index_rows_are_named(store: OpsStore, signer: CheckpointSigner, anchor: TrustAnchor) -> None:
    """Attack: index rows pointing another customer's query at events that never named them."""
    _log(store, signer).append_many(_events(20))
    with store.begin() as con:
        con.execute(t.audit_event_customer.insert(), [{"customer_id": "C99", "seq": 4}])
    report = verify(store, anchor)
    assert not report.ok and report.first_bad_seq == 4 and report.index_extra == 1


def test_customer_ids_are_part_of_the_hashed_entry(store: OpsStore, signer: CheckpointSigner,
                                                   anchor: TrustAnchor) -> None:
    """Attack: drop a customer from an event itself (and its index row) — the entry's hash covers the ids."""
    _log(store, signer).append_many(_events(20))
    with store.begin() as con:
        con.execute(sa.update(t.audit_event).where(E.seq == 8).values(customer_ids="[]"))
        con.execute(sa.delete(t.audit_event_customer).where(t.audit_event_customer.c.seq == 8))
    report = verify(store, anchor)
    assert report.first_bad_seq == 8 and "hash does not match its content" in (report.problem or "")


# ---- point 11: a row beyond the head --------------------------------------------------------------


def _insert_beyond_head(store: OpsStore) -> int:
    with store.begin() as con:
        head_seq, head_hash = con.execute(sa.select(H.seq, H.hash)).one()
        row = _row(con, head_seq) | {"seq": head_seq + 1, "actor": "ghost", "prev_hash": head_hash}
        row["hash"] = entry_hash(canonical(head_hash, row))
        con.execute(t.audit_event.insert(), [row])
    return int(head_seq) + 1


def test_row_beyond_the_head_is_named_by_verify(store: OpsStore, signer: CheckpointSigner,
                                                anchor: TrustAnchor) -> None:
    """Attack: one well-chained row inserted after the head (the head left alone) — verify said ok."""
    _log(store, signer).append_many(_events(12))
    seq = _insert_beyond_head(store)
    report = verify(store, anchor)
    assert not report.ok and report.first_bad_seq == seq and "beyond the chain head" in (report.problem or "")


def test_append_after_a_row_beyond_the_head_refuses_clearly_and_alerts(
        store: OpsStore, signer: CheckpointSigner, caplog: pytest.LogCaptureFixture) -> None:
    """Attack: the same row made every audited request (login included) fail with a raw IntegrityError."""
    from custodata.monitoring.store import AlertStore

    log = _log(store, signer)
    log.append_many(_events(12))
    _insert_beyond_head(store)
    with caplog.at_level(logging.CRITICAL, logger="custodata.audit"), pytest.raises(AuditDamagedError) as caught:
        log.append(AuditEvent(actor="front.bj", action=Action.LOGIN))
    assert not isinstance(caught.value.__cause__, sa.exc.IntegrityError)
    assert "rows were written beyond its chain head (entry 12)" in str(caught.value)
    assert any(r.levelno == logging.CRITICAL for r in caplog.records)
    alerts = AlertStore(store, log).list()
    assert [(a.scenario, a.severity) for a in alerts] == [(DAMAGED_SCENARIO, "critical")]
    with pytest.raises(AuditDamagedError):  # still refused, and no second alert
        log.append_many(_events(2))
    assert len(AlertStore(store, log).list()) == 1


def test_api_answers_503_not_500_when_the_log_is_damaged() -> None:
    """The service refuses with the one error shape and says why, instead of an internal error."""
    import json

    from custodata.api.errors import to_response

    response = to_response(AuditDamagedError(12))
    assert response.status_code == 503
    body = json.loads(bytes(response.body))
    assert body["error"]["code"] == "audit_unavailable" and "custodata audit verify" in body["error"]["message"]


@pytest.fixture
def cli() -> typer.Typer:
    from custodata.cli.audit import register

    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        pass

    return app


def test_cli_verify_names_the_row_beyond_the_head_without_a_traceback(cli: typer.Typer, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI used to die with a raw IntegrityError when recording its own verification."""
    monkeypatch.delenv("CUSTODATA_AUDIT_ANCHOR", raising=False)
    monkeypatch.delenv("CUSTODATA_AUDIT_ANCHOR_FINGERPRINT", raising=False)
    out = tmp_path / "out"
    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    store = open_ops(url)
    AuditLog.for_out_dir(store, out).append_many(_events(12))
    _insert_beyond_head(store)
    store.close()
    result = CliRunner().invoke(cli, ["audit", "verify", "--out", str(out), "--db", url])
    assert result.exit_code == 1, result.output
    assert "beyond the chain head" in result.output and "could not be recorded" in result.output
    assert "Traceback" not in result.output and "IntegrityError" not in result.output


def test_cli_verify_warns_loudly_without_a_trust_anchor_and_uses_one_when_pinned(
        cli: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Attack (point 8, CLI): the key in out/keys is replaced and the chain re-signed; verify without an
    anchor says ok only with a WARNING, and with the pinned anchor exits 1."""
    monkeypatch.delenv("CUSTODATA_AUDIT_ANCHOR", raising=False)
    monkeypatch.delenv("CUSTODATA_AUDIT_ANCHOR_FINGERPRINT", raising=False)
    monkeypatch.delenv("CUSTODATA_AUDIT_KEY", raising=False)
    out = tmp_path / "out"
    url = f"sqlite:///{tmp_path / 'ops.sqlite'}"
    store = open_ops(url)
    AuditLog.for_out_dir(store, out, settings(checkpoint_every=5)).append_many(_events(12))
    key_path = default_key_path(out)
    auditors = tmp_path / "auditors.pem"
    anchored = CliRunner().invoke(cli, ["audit", "anchor", str(auditors), "--out", str(out)])
    assert anchored.exit_code == 0, anchored.output
    pin = anchored.output.split("fingerprint: ")[1].split()[0]
    key_path.unlink()
    forger = CheckpointSigner(key_path)
    with store.begin() as con:
        _rechain(con, 3, 12, {"actor": "someone-else"})
        _resign(con, forger)
    store.close()
    args = ["audit", "verify", "--out", str(out), "--db", url, "--anchor-file", str(tmp_path / "none.jsonl")]
    unanchored = CliRunner().invoke(cli, args)
    assert unanchored.exit_code == 0 and "WARNING" in unanchored.output and "NO TRUST ANCHOR" in unanchored.output
    monkeypatch.setenv("CUSTODATA_AUDIT_ANCHOR", str(auditors))
    monkeypatch.setenv("CUSTODATA_AUDIT_ANCHOR_FINGERPRINT", pin)
    pinned = CliRunner().invoke(cli, args)
    assert pinned.exit_code == 1 and "signed by unknown key" in pinned.output
    assert "NO TRUST ANCHOR" not in pinned.output


def test_other_key_is_not_an_anchor_for_the_real_one() -> None:
    """Fingerprints are the full SHA-256 and differ between keys (a 16-digit prefix is not what is pinned)."""
    a, b = Ed25519PrivateKey.generate().public_key(), Ed25519PrivateKey.generate().public_key()
    assert len(fingerprint(a)) == 64 and fingerprint(a) != fingerprint(b)
