"""Every corruption of the audit chain is detected and the first bad entry named, on both engines."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from custodata.audit import tables as t
from custodata.audit.canonical import canonical, entry_hash
from custodata.audit.events import Action, AuditEvent
from custodata.audit.log import AuditLog
from custodata.audit.signing import CheckpointSigner
from custodata.audit.verify import verify
from custodata.ops import OpsStore, open_ops

T0 = dt.datetime(2026, 3, 1, 9, 0, 0)
E = t.audit_event.c


@pytest.fixture
def signer(tmp_path: Path) -> CheckpointSigner:
    return CheckpointSigner(tmp_path / "audit-signing.pem")


@pytest.fixture
def chain(ops_url: str, signer: CheckpointSigner) -> Iterator[OpsStore]:
    """40 entries, a signed checkpoint every 10."""
    store = open_ops(ops_url)
    log = AuditLog(store, signer, checkpoint_every=10)
    log.append_many(AuditEvent(actor=f"u{i % 4}", action=Action.READ, role="teller", customer_ids=[f"C{i}"],
                               fields=["name"], at=T0 + dt.timedelta(seconds=i)) for i in range(40))
    yield store
    store.close()


def _row(con: sa.Connection, seq: int) -> dict[str, Any]:
    return dict(con.execute(sa.select(t.audit_event).where(E.seq == seq)).one()._mapping)


def _check(store: OpsStore, signer: CheckpointSigner, first_bad: int, words: str) -> None:
    report = verify(store, signer.public_key)
    assert not report.ok
    assert report.first_bad_seq == first_bad, report.problem
    assert report.problem is not None and words in report.problem


def test_intact_chain_verifies(chain: OpsStore, signer: CheckpointSigner) -> None:
    report = verify(chain, signer.public_key, progress=lambda done, total: None)
    assert report.ok and report.checked == 40 and report.checkpoints == 4 and report.signatures_checked
    assert (report.first_seq, report.last_seq, report.first_bad_seq, report.problem) == (1, 40, None, None)


# every text column on SQLite: the property test below; here the typed ones on both engines
@pytest.mark.parametrize(("column", "value"), [
    ("actor", "u9"), ("at", T0 + dt.timedelta(microseconds=1)), ("customer_count", 7),
])
def test_edit_of_any_field_is_named(chain: OpsStore, signer: CheckpointSigner, column: str, value: object) -> None:
    with chain.begin() as con:
        con.execute(sa.update(t.audit_event).where(E.seq == 17).values({column: value}))
    _check(chain, signer, 17, "hash does not match its content (edited)")


def test_deletion_is_named(chain: OpsStore, signer: CheckpointSigner) -> None:
    with chain.begin() as con:
        con.execute(sa.delete(t.audit_event).where(E.seq == 12))
    _check(chain, signer, 12, "sequence gap after 11 (deleted)")


def test_deleting_the_first_entry_is_named(chain: OpsStore, signer: CheckpointSigner) -> None:
    with chain.begin() as con:
        con.execute(sa.delete(t.audit_event).where(E.seq == 1))
    _check(chain, signer, 1, "does not start at 1")


def test_deletion_with_renumbering_is_named(chain: OpsStore, signer: CheckpointSigner) -> None:
    with chain.begin() as con:
        con.execute(sa.delete(t.audit_event).where(E.seq == 12))
        con.execute(sa.update(t.audit_event).where(E.seq > 12).values(seq=-E.seq))
        con.execute(sa.update(t.audit_event).where(E.seq < 0).values(seq=-E.seq - 1))
    _check(chain, signer, 12, "previous hash does not match entry 11")


@pytest.mark.parametrize(("at", "first_bad", "words"), [
    (24, 25, "previous hash does not match entry 24"),
    # at a checkpoint's place the signed hash no longer matches: the stretch since the last sound one is named
    (20, 11, "checkpoint at 20 does not match entry 20: entries 11..20 were rewritten"),
])
def test_forged_insertion_is_named(chain: OpsStore, signer: CheckpointSigner, at: int, first_bad: int,
                                   words: str) -> None:
    """A forged entry with a correct hash slipped in, later entries renumbered: the chain breaks after it."""
    with chain.begin() as con:
        prev = _row(con, at - 1)["hash"]
        forged = _row(con, at) | {"actor": "ghost", "prev_hash": prev}
        forged["hash"] = entry_hash(canonical(prev, forged))
        con.execute(sa.update(t.audit_event).where(E.seq >= at).values(seq=-E.seq))
        con.execute(sa.update(t.audit_event).where(E.seq < 0).values(seq=-E.seq + 1))
        con.execute(t.audit_event.insert(), [forged])
    _check(chain, signer, first_bad, words)


def test_reordering_is_named(chain: OpsStore, signer: CheckpointSigner) -> None:
    with chain.begin() as con:
        a, b = _row(con, 23), _row(con, 27)
        con.execute(sa.update(t.audit_event).where(E.seq == 23).values({k: v for k, v in b.items() if k != "seq"}))
        con.execute(sa.update(t.audit_event).where(E.seq == 27).values({k: v for k, v in a.items() if k != "seq"}))
    _check(chain, signer, 23, "previous hash does not match entry 22")


def test_rewritten_chain_is_caught_by_the_checkpoint(chain: OpsStore, signer: CheckpointSigner) -> None:
    """An attacker edits entry 15 and recomputes every later hash: only the signature can tell."""
    with chain.begin() as con:
        prev = _row(con, 14)["hash"]
        for seq in range(15, 41):
            row = _row(con, seq) | {"prev_hash": prev}
            if seq == 15:
                row["actor"] = "someone-else"
            row["hash"] = prev = entry_hash(canonical(prev, row))
            con.execute(sa.update(t.audit_event).where(E.seq == seq).values(prev_hash=row["prev_hash"],
                                                                            hash=row["hash"], actor=row["actor"]))
        con.execute(sa.update(t.audit_head).values(hash=prev))
    _check(chain, signer, 11, "checkpoint at 20 does not match entry 20: entries 11..20 were rewritten")


@pytest.mark.parametrize("fix_head", [True, False])
def test_truncated_tail_is_named(chain: OpsStore, signer: CheckpointSigner, fix_head: bool) -> None:
    with chain.begin() as con:
        con.execute(sa.delete(t.audit_event).where(E.seq > 25))
        if fix_head:
            con.execute(sa.update(t.audit_head).values(seq=25, hash=_row(con, 25)["hash"]))
    _check(chain, signer, 26, "chain ends at 25")


def test_forged_checkpoint_signature_is_named(chain: OpsStore, signer: CheckpointSigner) -> None:
    with chain.begin() as con:
        con.execute(sa.update(t.audit_checkpoint).where(t.audit_checkpoint.c.seq == 20)
                    .values(signature="00" * 64))
    _check(chain, signer, 20, "checkpoint at 20: signature invalid")


def test_checkpoint_by_another_key_is_named(chain: OpsStore, signer: CheckpointSigner) -> None:
    other = Ed25519PrivateKey.generate().public_key()
    report = verify(chain, other)
    assert not report.ok and report.first_bad_seq == 10 and "signed by unknown key" in (report.problem or "")
    assert verify(chain, [other, signer.public_key]).ok


def test_without_a_public_key_links_are_still_checked(chain: OpsStore) -> None:
    report = verify(chain)
    assert report.ok and not report.signatures_checked
    with chain.begin() as con:
        con.execute(sa.update(t.audit_event).where(E.seq == 33).values(reason="x"))
    assert verify(chain).first_bad_seq == 33


def test_parallel_ranges_check_their_seams(chain: OpsStore, signer: CheckpointSigner,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Small ranges in worker processes: a broken link exactly at a seam is still named."""
    import custodata.audit.verify as v

    monkeypatch.setattr(v, "CHUNK", 8)
    monkeypatch.setattr(v, "PARALLEL_FROM", 1)
    assert verify(chain, signer.public_key, workers=2).ok
    with chain.begin() as con:
        con.execute(sa.update(t.audit_event).where(E.seq == 17).values(prev_hash="f" * 64))
    report = verify(chain, signer.public_key, workers=2)
    assert report.first_bad_seq == 17 and "previous hash does not match entry 16" in (report.problem or "")


# ---- property: any change of any stored value of any entry is found at that entry (SQLite, one chain) -----

_COLUMNS = [c.name for c in t.audit_event.columns if c.name not in ("seq", "at", "customer_count")]
assert "hash" in _COLUMNS and "prev_hash" in _COLUMNS


@pytest.fixture(scope="module")
def sqlite_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpsStore]:
    store = open_ops(f"sqlite:///{tmp_path_factory.mktemp('prop') / 'ops.sqlite'}")
    AuditLog(store).append_many(AuditEvent(actor=f"u{i}", action="read", customer_ids=[f"C{i}"], at=T0)
                                for i in range(25))
    yield store
    store.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seq=st.integers(1, 25), column=st.sampled_from(_COLUMNS), text=st.text(max_size=12))
def test_any_edit_is_found_at_its_entry(sqlite_chain: OpsStore, seq: int, column: str, text: str) -> None:
    with sqlite_chain.begin() as con:
        original = _row(con, seq)[column]
        if text == original:
            return
        con.execute(sa.update(t.audit_event).where(E.seq == seq).values({column: text}))
    try:
        report = verify(sqlite_chain)
        assert report.first_bad_seq == seq, (column, report.problem)
    finally:
        with sqlite_chain.begin() as con:
            con.execute(sa.update(t.audit_event).where(E.seq == seq).values({column: original}))
    assert verify(sqlite_chain).ok
