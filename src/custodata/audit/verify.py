"""Verifying the audit chain: any edit, deletion, insertion, reordering or truncation, and where it starts.

Each entry must sit at the next ``seq``, link to its predecessor's hash and
hash to its own canonical form; signed checkpoints must verify under the
public key and match the entry they name, which also catches a chain rewritten
with freshly computed hashes and a tail cut off behind the last checkpoint.

Ten million entries are checked in about a minute on two cores: the canonical
text of each row is built by the database, Python only hashes and compares,
and ranges of ``seq`` are checked in parallel processes (each range checks its
own links; the seams between ranges are checked here against the hashes the
ranges report).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from custodata.audit import tables as t
from custodata.audit.canonical import GENESIS, SEPARATORS, US, canonical_sql, signed_message
from custodata.audit.signing import key_id, verify_signature

if TYPE_CHECKING:
    from custodata.ops.store import OpsStore

Progress = Callable[[int, int], None]
PublicKeys = Ed25519PublicKey | Iterable[Ed25519PublicKey] | None

CHUNK = 500_000          # entries per range
PARALLEL_FROM = 1_000_000  # below this, process start-up costs more than it saves
PURGE_OPERATION = "audit_purge"


@dataclass(frozen=True)
class VerifyReport:
    """The outcome; when not ``ok``, ``first_bad_seq`` is the earliest entry found wrong and ``problem`` says how."""

    ok: bool
    checked: int
    first_seq: int | None
    last_seq: int | None
    checkpoints: int
    signatures_checked: bool
    first_bad_seq: int | None
    problem: str | None
    seconds: float


@dataclass(frozen=True)
class _Range:
    lo: int
    hi: int
    first_prev: str | None
    last_hash: str | None
    checked: int
    bad_seq: int | None
    problem: str | None


def _missing(seq: int) -> str:
    if seq == 1:
        return "entry 1: missing — the chain does not start at 1 (deleted)"
    return f"entry {seq}: missing — sequence gap after {seq - 1} (deleted)"


def _broken_link(seq: int) -> str:
    return f"entry {seq}: previous hash does not match entry {seq - 1} (inserted, deleted or reordered)"


def _select_sql(dialect: str) -> str:
    param = "?" if dialect == "sqlite" else "%s"
    return (f"SELECT seq, prev_hash, hash, {canonical_sql(dialect)} FROM audit_event "
            f"WHERE seq >= {param} AND seq <= {param} ORDER BY seq")


def _check_rows(rows: Iterable[tuple[int, str, str, str | None]], lo: int, hi: int) -> _Range:
    """The hot loop: gap, link and content checks, stopping at the first bad entry of the range."""
    sha256 = hashlib.sha256
    expected = lo
    prev: str | None = None
    first_prev: str | None = None
    for seq, prev_hash, hash_, text in rows:
        if seq != expected:
            return _Range(lo, hi, first_prev, prev, expected - lo, expected, _missing(expected))
        if prev is None:
            first_prev = prev_hash
        elif prev_hash != prev:
            return _Range(lo, hi, first_prev, prev, seq - lo, seq, _broken_link(seq))
        if text is None or sha256(text.encode()).hexdigest() != hash_ or text.count(US) != SEPARATORS:
            return _Range(lo, hi, first_prev, prev, seq - lo, seq,
                          f"entry {seq}: hash does not match its content (edited)")
        prev = hash_
        expected += 1
    if expected <= hi:
        return _Range(lo, hi, first_prev, prev, expected - lo, expected, _missing(expected))
    return _Range(lo, hi, first_prev, prev, expected - lo, None, None)


def _check_range(engine: sa.Engine, lo: int, hi: int) -> _Range:
    raw = engine.raw_connection()
    try:
        if engine.dialect.name == "postgresql":
            cur: Any = raw.driver_connection.cursor(name="audit_verify")  # type: ignore[union-attr]
            cur.itersize = 20_000
        else:
            cur = raw.cursor()
        try:
            cur.execute(_select_sql(engine.dialect.name), (lo, hi))
            return _check_rows(cur, lo, hi)
        finally:
            cur.close()
    finally:
        raw.rollback()
        raw.close()


_worker_engines: dict[str, sa.Engine] = {}


def _worker(args: tuple[str, int, int]) -> _Range:
    """Runs in a pool process: one engine per process, reused for each of its ranges."""
    from custodata.ops.store import make_engine

    url, lo, hi = args
    engine = _worker_engines.get(url)
    if engine is None:
        engine = _worker_engines[url] = make_engine(url)
    return _check_range(engine, lo, hi)


def _keys(public_key: PublicKeys) -> dict[str, Ed25519PublicKey] | None:
    if public_key is None:
        return None
    keys = [public_key] if isinstance(public_key, Ed25519PublicKey) else list(public_key)
    return {key_id(k): k for k in keys}


def _scan(store: OpsStore, lo: int, hi: int, workers: int, progress: Progress | None) -> list[_Range]:
    ranges = [(r, min(r + CHUNK - 1, hi)) for r in range(lo, hi + 1, CHUNK)]
    total = hi - lo + 1
    results: list[_Range] = []
    in_memory = ":memory:" in store.url or store.url.rstrip("/").endswith("sqlite:")
    if workers > 1 and total >= PARALLEL_FROM and not in_memory:
        ctx = multiprocessing.get_context("spawn")  # never fork a process that may run threads
        with ctx.Pool(min(workers, len(ranges))) as pool:
            for result in pool.imap_unordered(_worker, [(store.url, a, b) for a, b in ranges]):
                results.append(result)
                if progress is not None:
                    progress(sum(r.hi - r.lo + 1 for r in results), total)
    else:
        for a, b in ranges:
            results.append(_check_range(store.engine, a, b))
            if progress is not None:
                progress(b - lo + 1, total)
    return sorted(results, key=lambda r: r.lo)


def verify(store: OpsStore, public_key: PublicKeys = None, *, progress: Progress | None = None,
           workers: int | None = None) -> VerifyReport:
    """Check the whole retained chain and its checkpoints; signatures only when ``public_key`` is given.

    Entries appended while verifying are left for the next run; the bounds are
    read checkpoints first, then the head, then the last entry, so concurrent
    appends never look like truncation.
    """
    started = time.perf_counter()
    keys = _keys(public_key)
    e, c, h = t.audit_event.c, t.audit_checkpoint.c, t.audit_head.c
    with store.read() as con:
        cps = con.execute(sa.select(c.seq, c.hash, c.at, c.key_id, c.signature).order_by(c.seq)).all()
        head = con.execute(sa.select(h.seq, h.hash, h.floor_seq).where(h.id == 1)).first()
        last = con.execute(sa.select(sa.func.max(e.seq))).scalar()
    floor = int(head.floor_seq) if head is not None else 0
    lo, hi = floor + 1, int(last) if last is not None else floor
    problems: list[tuple[int, str]] = []

    results = _scan(store, lo, hi, workers or min(2, os.cpu_count() or 1), progress) if hi >= lo else []
    cp_by_seq = {int(cp.seq): cp for cp in cps}
    start_hash = GENESIS
    if floor > 0:
        floor_cp = cp_by_seq.get(floor)
        if floor_cp is None:
            problems.append((lo, f"entry {lo}: entries up to {floor} were purged but the checkpoint at {floor} "
                                 "that vouches for them is missing"))
        else:
            start_hash = floor_cp.hash
    previous: _Range | None = None
    for r in results:  # the seam first: within a range the link is also checked before the content
        if r.first_prev is not None:
            expected = start_hash if previous is None else previous.last_hash
            if (previous is None or previous.problem is None) and r.first_prev != expected:
                problems.append((r.lo, _broken_link(r.lo)))
        if r.problem is not None and r.bad_seq is not None:
            problems.append((r.bad_seq, r.problem))
        previous = r
    checked = sum(r.checked for r in results)

    # head: a tail cut off (and the head left alone) or a last entry replaced
    if head is not None and int(head.seq) > hi:
        problems.append((hi + 1, f"chain ends at {hi} but its head records {head.seq} (truncated)"))
    elif head is not None and int(head.seq) == hi and previous is not None and previous.problem is None \
            and previous.last_hash != head.hash:
        problems.append((hi, f"entry {hi}: does not match the chain head (edited)"))

    scan_first = min((seq for seq, _ in problems), default=None)
    problems.extend(_checkpoint_problems(store, cps, keys, floor, hi, scan_first))
    if floor > 0 and not _purge_recorded(store, floor):
        problems.append((lo, f"entry {lo}: entries up to {floor} are gone but no purge event records it (deleted)"))

    first = min(problems, key=lambda p: p[0], default=None)  # the earliest; ties keep the order found
    return VerifyReport(
        ok=first is None, checked=checked, first_seq=lo if hi >= lo else None, last_seq=hi if hi >= lo else None,
        checkpoints=sum(1 for cp in cps if cp.seq >= floor), signatures_checked=keys is not None,
        first_bad_seq=first[0] if first else None, problem=first[1] if first else None,
        seconds=time.perf_counter() - started,
    )


def _checkpoint_problems(store: OpsStore, cps: Sequence[sa.Row[Any]], keys: dict[str, Ed25519PublicKey] | None,
                         floor: int, hi: int, scan_first: int | None) -> list[tuple[int, str]]:
    """Signatures, agreement with the entries they name, and checkpoints beyond the end of the chain.

    A checkpoint that no longer matches its entry says only that something up
    to it since the last sound checkpoint was rewritten; when the scan already
    named a bad entry in that stretch, that entry is the better answer.
    """
    e, c = t.audit_event.c, t.audit_checkpoint.c
    with store.read() as con:
        entry_hash = {int(s): hh for s, hh in con.execute(
            sa.select(e.seq, e.hash).join_from(t.audit_checkpoint, t.audit_event, e.seq == c.seq))}
    problems: list[tuple[int, str]] = []
    good = floor  # last checkpoint found sound: entries up to it are vouched for
    for cp in cps:
        seq = int(cp.seq)
        if seq < floor:
            continue
        if seq > hi:
            problems.append((hi + 1, f"chain ends at {hi} but checkpoint at {seq} covers it (truncated)"))
            break
        if keys is not None:
            key = keys.get(cp.key_id)
            if key is None:
                problems.append((seq, f"checkpoint at {seq}: signed by unknown key {cp.key_id}"))
                break
            if not verify_signature(key, cp.signature, signed_message(seq, cp.hash, cp.at)):
                problems.append((seq, f"checkpoint at {seq}: signature invalid"))
                break
        if seq > floor and entry_hash.get(seq) != cp.hash:
            if scan_first is not None and scan_first <= seq:
                break
            problems.append((good + 1, f"checkpoint at {seq} does not match entry {seq}: entries "
                                       f"{good + 1}..{seq} were rewritten"))
            break
        good = seq
    return problems


def _purge_recorded(store: OpsStore, floor: int) -> bool:
    e = t.audit_event.c
    with store.read() as con:
        details = con.execute(sa.select(e.detail).where(e.action == "admin", e.seq > floor)).scalars()
        for text in details:
            try:
                detail = json.loads(text)
            except ValueError:
                continue
            if isinstance(detail, dict) and detail.get("operation") == PURGE_OPERATION \
                    and detail.get("through_seq") == floor:
                return True
    return False


__all__ = ["PURGE_OPERATION", "Progress", "PublicKeys", "VerifyReport", "verify"]
