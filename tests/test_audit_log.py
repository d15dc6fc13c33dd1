"""The audit log on both engines: append, query, export, concurrency (threads and processes), signing keys."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from custodata.audit import tables as t
from custodata.audit.events import Action, AuditEvent, Result
from custodata.audit.log import _CONTROL, AuditDamagedError, AuditError, AuditLog, clean_text
from custodata.audit.query import AuditQueryError
from custodata.audit.signing import CheckpointSigner, load_public_key
from custodata.audit.verify import verify
from custodata.errors import ConfigError
from custodata.ops import OpsStore, open_ops

T0 = dt.datetime(2026, 3, 1, 9, 0, 0, 123456)


@pytest.fixture
def store(ops_url: str) -> Iterator[OpsStore]:
    s = open_ops(ops_url)
    yield s
    s.close()


@pytest.fixture
def signer(tmp_path: Path) -> CheckpointSigner:
    return CheckpointSigner(tmp_path / "keys" / "audit-signing.pem")


def _event(i: int, **kw: object) -> AuditEvent:
    base: dict[str, object] = dict(
        actor=f"u{i % 3}", role="teller", branch="BJ01", action=Action.READ, customer_ids=[f"C{i:09d}"],
        fields=["name", "mobile"], purpose="service", source_address="10.0.0.7",
        at=T0 + dt.timedelta(minutes=i),
    )
    base.update(kw)
    return AuditEvent(**base)  # type: ignore[arg-type]


def test_append_assigns_consecutive_seqs_and_round_trips(store: OpsStore, signer: CheckpointSigner) -> None:
    log = AuditLog(store, signer, checkpoint_every=5)
    assert log.append(_event(0, detail={"view": "360", "n": 1})) == 1
    assert log.append_many([_event(i) for i in range(1, 12)]) == list(range(2, 13))
    assert log.append_many([]) == []
    [got] = log.query(limit=1)
    assert (got.seq, got.actor, got.role, got.branch, got.action) == (1, "u0", "teller", "BJ01", "read")
    assert got.customer_ids == ("C000000000",) and got.customer_count == 1
    assert got.fields == ("name", "mobile") and got.detail == {"n": 1, "view": "360"}
    assert got.at == T0.replace(tzinfo=dt.UTC) and got.prev_hash == "0" * 64
    assert got.reason is None and got.system == "custodata"
    with store.read() as con:
        cps = con.execute(sa.select(t.audit_checkpoint.c.seq).order_by(t.audit_checkpoint.c.seq)).scalars().all()
    assert cps == [5, 10]
    assert verify(store, signer.public_key).ok


def test_queries_by_person_customer_action_result_and_time(store: OpsStore) -> None:
    log = AuditLog(store)
    log.append_many([_event(i) for i in range(30)])
    log.append(_event(30, actor="-", action=Action.LOGIN, result=Result.FAILED, customer_ids=(), fields=(),
                      reason="wrong password"))
    log.append(_event(31, action=Action.EXPORT, customer_ids=(), customer_count=5000))
    assert log.count() == 32
    assert [e.seq for e in log.query(actor="u1", limit=3)] == [2, 5, 8]
    assert log.count(actor="u1") == 11  # seq 2, 5 … 29 and the export (31)
    assert [e.seq for e in log.query(customer_id="C000000007")] == [8]
    assert log.count(customer_id="nobody") == 0
    [failed] = log.query(action="login", result="failed")
    assert failed.actor == "-" and failed.reason == "wrong password"
    [bulk] = log.query(action=Action.EXPORT)
    assert bulk.customer_count == 5000 and bulk.customer_ids == ()
    window = log.query(since=T0 + dt.timedelta(minutes=10), until=T0 + dt.timedelta(minutes=12))
    assert [e.seq for e in window] == [11, 12]
    aware = dt.datetime(2026, 3, 1, 17, 10, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert [e.seq for e in log.query(since=aware, limit=2)] == [11, 12]
    assert [e.seq for e in log.query(newest_first=True, limit=2, offset=1)] == [31, 30]
    with pytest.raises(AuditQueryError, match="limit"):
        log.query(limit=0)
    with pytest.raises(AuditQueryError, match="until"):
        log.query(since=T0, until=T0)


def test_hostile_text_is_recorded_safely(store: OpsStore) -> None:
    """A forged login name with line breaks, separators and 10 kB is still logged — made harmless, not lost."""
    log = AuditLog(store)
    seq = log.append(AuditEvent(actor="evil\nuser\x1f" + "x" * 10_000, action=Action.LOGIN, result=Result.FAILED,
                                source_address="::ffff:" + "1" * 100))
    [got] = log.query()
    assert got.seq == seq and "\n" not in got.actor and "\x1f" not in got.actor
    assert len(got.actor) == t.ACTOR_LEN and got.actor.endswith("…")
    assert got.source_address is not None and len(got.source_address) == t.ADDRESS_LEN
    assert verify(store).ok
    with pytest.raises(AuditError, match="detail"):
        log.append(AuditEvent(actor="a", action=Action.READ, detail={"x": object()}))


def test_export_jsonl_and_csv(store: OpsStore, tmp_path: Path) -> None:
    log = AuditLog(store)
    log.append_many([_event(i) for i in range(7)])
    log.append(_event(7, actor="=cmd|' /C calc'!A0", customer_ids=["C1", "C2"]))
    assert log.export(tmp_path / "a.jsonl", actor="u1") == 2
    lines = [json.loads(x) for x in (tmp_path / "a.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [x["seq"] for x in lines] == [2, 5]
    assert lines[0]["at"] == "2026-03-01T09:01:00.123456Z" and lines[0]["customer_ids"] == ["C000000001"]
    assert set(lines[0]) >= {"seq", "hash", "prev_hash", "detail", "purpose", "source_address"}
    assert log.export(tmp_path / "all.csv", fmt="csv") == 8
    with (tmp_path / "all.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[-1]["actor"].startswith("'=") and rows[-1]["customer_ids"] == "C1;C2"
    assert rows[0]["fields"] == "name;mobile" and rows[0]["role"] == "teller"
    with pytest.raises(AuditQueryError, match="format"):
        log.export(tmp_path / "x.xml", fmt="xml")
    assert not (tmp_path / "x.xml").exists()


def test_concurrent_threads_build_one_chain(store: OpsStore, signer: CheckpointSigner) -> None:
    log = AuditLog(store, signer, checkpoint_every=100)
    seqs: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            got = [log.append(_event(i, actor=f"thread{n}")) for i in range(200)]
            with lock:
                seqs.extend(got)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert sorted(seqs) == list(range(1, 1601))
    report = verify(store, signer.public_key)
    assert report.ok and report.checked == 1600 and report.checkpoints == 16
    assert log.count(actor="thread3") == 200


def test_deferred_appends_commit_through_the_committer_and_share_the_chain(store: OpsStore,
                                                                         signer: CheckpointSigner) -> None:
    """An event-loop caller queues without blocking; the answer waits for the commit, errors surface there."""
    log = AuditLog(store, signer, checkpoint_every=10)
    log.append(_event(0))

    async def request(n: int) -> list[int]:
        with log.deferred() as pending:
            assert log.append(_event(n, actor="loop")) == 0  # not known yet: nothing in the block may rely on it
        return await pending.wait()

    async def many() -> list[list[int]]:
        return await asyncio.gather(*(request(n) for n in range(1, 31)))

    got = asyncio.run(many())
    # threads appending the ordinary way meanwhile land on the same chain
    threads = [threading.Thread(target=lambda: log.append(_event(99, actor="thread"))) for _ in range(5)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(s for [s] in got) == list(range(2, 32))
    assert log.count(actor="loop") == 30 and log.count(actor="thread") == 5
    assert verify(store, signer.public_key).ok

    row = {k: v for k, v in log.prepare(_event(2)).items() if k != "_customers"}
    with store.begin() as con:  # a row beyond the head: every write of the chain now fails
        con.execute(t.audit_event.insert(), [{**row, "seq": 37, "prev_hash": "x", "hash": "y"}])

    async def refused() -> None:
        with log.deferred() as pending:
            log.append(_event(1, actor="after-damage"))
        await pending.wait()

    with pytest.raises(AuditDamagedError):  # the caller learns of it before answering
        asyncio.run(refused())
    assert log.count(actor="after-damage") == 0


def test_deferred_waiters_on_several_event_loops_are_each_woken(store: OpsStore, signer: CheckpointSigner) -> None:
    """A batch is settled with one wake-up per event loop: waiters on other loops in the same batch still wake."""
    log = AuditLog(store, signer, checkpoint_every=10)
    results: dict[int, list[list[int]]] = {}
    start = threading.Barrier(3)

    async def request(n: int) -> list[int]:
        with log.deferred() as pending:
            log.append(_event(n, actor="loops"))
        return await pending.wait()

    async def many(loop_no: int) -> list[list[int]]:
        return await asyncio.gather(*(request(loop_no * 100 + n) for n in range(20)))

    def run(loop_no: int) -> None:
        start.wait()
        results[loop_no] = asyncio.run(many(loop_no))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not any(th.is_alive() for th in threads)  # a waiter never woken would hang its loop
    seqs = sorted(s for got in results.values() for [s] in got)
    assert seqs == list(range(1, 61))
    assert verify(store, signer.public_key).ok


@given(st.text())
def test_clean_text_replaces_exactly_the_control_characters(text: str) -> None:
    """The printable fast path changes nothing: the result is always the regex replacement."""
    assert clean_text(text) == _CONTROL.sub("\ufffd", text)


def test_concurrent_processes_build_one_chain(ops_url: str, tmp_path: Path, signer: CheckpointSigner) -> None:
    store = open_ops(ops_url)
    try:
        log = AuditLog(store, signer, checkpoint_every=50)
        code = (
            "import sys; from custodata.ops import open_ops; from custodata.audit.log import AuditLog;"
            "from custodata.audit.signing import CheckpointSigner; from custodata.audit.events import AuditEvent;"
            "from pathlib import Path;"
            "log = AuditLog(open_ops(sys.argv[1]), CheckpointSigner(Path(sys.argv[2]), create=False),"
            " checkpoint_every=50);"
            "[log.append(AuditEvent(actor=sys.argv[3], action='read')) for _ in range(150)]"
        )
        procs = [subprocess.Popen([sys.executable, "-c", code, ops_url, str(signer.path), f"proc{n}"])
                 for n in range(2)]
        for i in range(150):
            log.append(_event(i, actor="main"))
        assert [p.wait(timeout=120) for p in procs] == [0, 0]
        report = verify(store, signer.public_key)
        assert report.ok and report.checked == 450 and report.checkpoints == 9
        assert log.count(actor="proc1") == 150
    finally:
        store.close()


def test_signing_key_file_is_private_and_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "audit-signing.pem"
    first = CheckpointSigner(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = CheckpointSigner(path)
    assert again.key_id == first.key_id and len(first.key_id) == 16
    (tmp_path / "pub.pem").write_bytes(first.public_pem())
    assert load_public_key(tmp_path / "pub.pem").public_bytes_raw() == first.public_key.public_bytes_raw()
    assert load_public_key(path).public_bytes_raw() == first.public_key.public_bytes_raw()
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        CheckpointSigner(path)
    with pytest.raises(ConfigError, match="not found"):
        CheckpointSigner(tmp_path / "absent.pem", create=False)
    (tmp_path / "junk.pem").write_text("junk")
    with pytest.raises(ConfigError, match="Ed25519"):
        load_public_key(tmp_path / "junk.pem")


def test_checkpoint_on_demand(store: OpsStore, signer: CheckpointSigner) -> None:
    log = AuditLog(store, signer, checkpoint_every=1000)
    assert log.checkpoint() is None
    log.append_many([_event(i) for i in range(3)])
    cp = log.checkpoint()
    assert cp is not None and cp.seq == 3 and cp.key_id == signer.key_id
    assert log.checkpoint() == cp
    assert verify(store, signer.public_key).checkpoints == 1
    with pytest.raises(AuditError):
        AuditLog(store, checkpoint_every=0)
