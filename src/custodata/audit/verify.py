"""Verifying the audit chain: any edit, deletion, insertion, reordering or truncation, and where it starts.

Each entry must sit at the next ``seq``, link to its predecessor's hash and
hash to its own canonical form; signed checkpoints must verify under the
public key and match the entry they name, which also catches a chain rewritten
with freshly computed hashes and a tail cut off behind the last checkpoint.
Beyond the chain itself: no row may sit beyond the chain head; a purged prefix
needs a purge signed under the key that removed only entries older than the
retention period; every checkpoint of the anchor file outside the store must
match its entry; and the customer index must be exactly what the chained
``customer_ids`` say.  Without a trust anchor (the auditors' pinned key) or an
anchor file the report says so in ``warnings``.

Ten million entries are checked in about a minute on two cores: the canonical
text of each row is built by the database, Python only hashes and compares,
and ranges of ``seq`` are checked in parallel processes (each range checks its
own links; the seams between ranges are checked here against the hashes the
ranges report).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from custodata.audit import tables as t
from custodata.audit.anchor import (
    NO_ANCHOR_FILE_WARNING,
    NO_ANCHOR_WARNING,
    AnchorFile,
    AnchorRecord,
    TrustAnchor,
)
from custodata.audit.canonical import GENESIS, SEPARATORS, US, canonical_sql, purge_message, signed_message
from custodata.audit.signing import key_id, verify_signature
from custodata.ops import dialect as ops_dialect

if TYPE_CHECKING:
    from custodata.ops.store import OpsStore

Progress = Callable[[int, int], None]
PublicKeys = TrustAnchor | Ed25519PublicKey | Iterable[Ed25519PublicKey] | None
MIN_RETENTION_DAYS = 180  # the legal minimum, also in custodata.audit.retention (which imports this module)
PURGE_SKEW = dt.timedelta(minutes=5)

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
    trust_anchor: str | None = None           # fingerprint of the pinned key signatures were checked under
    anchored: int = 0                          # checkpoints of the anchor file compared with the chain
    index_missing: int = 0                     # customer-index rows the chain calls for but absent
    index_extra: int = 0                       # customer-index rows no chained entry calls for
    warnings: tuple[str, ...] = ()             # what this verification could not vouch for


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
    param = ops_dialect.paramstyle(dialect)
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
        cur = ops_dialect.streaming_cursor(raw, engine, name="audit_verify")
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
    if isinstance(public_key, TrustAnchor):
        keys = [public_key.public_key]
    else:
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


def verify(store: OpsStore, public_key: PublicKeys = None, *, anchor_file: AnchorFile | Path | None = None,
           progress: Progress | None = None, workers: int | None = None) -> VerifyReport:
    """Check the whole retained chain, its checkpoints, purge, anchor file and customer index.

    Signatures are checked only when ``public_key`` is given; only a
    :class:`~custodata.audit.anchor.TrustAnchor` (the auditors' pinned key) counts
    as independent of the data — anything else leaves a warning in the report.
    Entries appended while verifying are left for the next run; the bounds are
    read checkpoints first, then the head, then the last entry, so concurrent
    appends never look like truncation, and a row beyond the head is named only
    when the head has not moved past it since.
    """
    started = time.perf_counter()
    keys = _keys(public_key)
    anchor = public_key if isinstance(public_key, TrustAnchor) else None
    warnings: list[str] = list(anchor.warnings) if anchor is not None else [NO_ANCHOR_WARNING]
    if keys is None:
        warnings[-1:] = ["NO PUBLIC KEY: checkpoint and purge signatures were not checked"]
    file = AnchorFile(anchor_file) if isinstance(anchor_file, Path) else anchor_file
    if file is None:
        warnings.append(NO_ANCHOR_FILE_WARNING)
    e, c, h = t.audit_event.c, t.audit_checkpoint.c, t.audit_head.c
    with store.read() as con:
        cps = con.execute(sa.select(c.seq, c.hash, c.at, c.key_id, c.signature).order_by(c.seq)).all()
        head = con.execute(sa.select(h.seq, h.hash, h.floor_seq).where(h.id == 1)).first()
        last = con.execute(sa.select(sa.func.max(e.seq))).scalar()
    floor = int(head.floor_seq) if head is not None else 0
    lo, hi = floor + 1, int(last) if last is not None else floor
    if head is not None:
        hi = min(hi, max(int(head.seq), floor))  # rows beyond the head are not the chain: named below
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
    if floor > 0:
        floor_cp = cp_by_seq.get(floor)
        problems.extend(_purge_problems(store, floor, floor_cp.hash if floor_cp is not None else None, keys))
    anchored = 0
    if file is not None:
        anchored, found, notes = _anchor_file_problems(store, file, keys, floor, hi, cps)
        problems.extend(found)
        warnings.extend(notes)
    if head is not None:  # after the others: at the same entry, "truncated" is the better answer
        problems.extend(_beyond_head(store, int(head.seq)))
    missing = extra = 0
    if not problems:  # an edited entry's customer_ids may not even be JSON; the scan named it already
        missing, extra, found = _index_problems(store, floor, hi)
        problems.extend(found)

    first = min(problems, key=lambda p: p[0], default=None)  # the earliest; ties keep the order found
    return VerifyReport(
        ok=first is None, checked=checked, first_seq=lo if hi >= lo else None, last_seq=hi if hi >= lo else None,
        checkpoints=sum(1 for cp in cps if cp.seq >= floor), signatures_checked=keys is not None,
        first_bad_seq=first[0] if first else None, problem=first[1] if first else None,
        seconds=time.perf_counter() - started, trust_anchor=anchor.fingerprint if anchor is not None else None,
        anchored=anchored, index_missing=missing, index_extra=extra, warnings=tuple(warnings),
    )


def _beyond_head(store: OpsStore, head_seq: int) -> list[tuple[int, str]]:
    """Rows past the chain head that the head has not moved past since (not a concurrent append)."""
    e, ec, h = t.audit_event.c, t.audit_event_customer.c, t.audit_head.c
    with store.read() as con:
        firsts = [con.execute(sa.select(sa.func.min(col)).where(col > head_seq)).scalar() for col in (e.seq, ec.seq)]
        now = con.execute(sa.select(h.seq).where(h.id == 1)).scalar()
    now = int(now or 0)
    found = []
    for first, what in zip(firsts, ("an entry", "a customer-index row"), strict=True):
        if first is not None and int(first) > now:
            found.append((int(first), f"entry {first}: {what} sits beyond the chain head (entry {now}) — written "
                                      "by hand (inserted); every append is refused until it is removed"))
    return [min(found)] if found else []


def _purge_problems(store: OpsStore, floor: int, floor_hash: str | None,
                    keys: dict[str, Ed25519PublicKey] | None) -> list[tuple[int, str]]:
    """The purge that set the floor: recorded, signed under the key, and only of entries past the retention."""
    e = t.audit_event.c
    lo = floor + 1
    candidates = []
    with store.read() as con:
        for seq, at, text in con.execute(sa.select(e.seq, e.at, e.detail).where(e.action == "admin", e.seq > floor)
                                         .order_by(e.seq)):
            try:
                detail = json.loads(text)
            except ValueError:
                continue
            if isinstance(detail, dict) and detail.get("operation") == PURGE_OPERATION \
                    and detail.get("through_seq") == floor:
                candidates.append((int(seq), at, detail))
    if not candidates:
        return [(lo, f"entry {lo}: entries up to {floor} are gone but no purge event records it (deleted)")]
    found: list[str] = []
    for seq, at, detail in candidates:
        why = _purge_fault(detail, floor, floor_hash, at, keys)
        if why is None:
            return []
        found.append(f"entry {lo}: entries up to {floor} are gone and the purge recorded at entry {seq} {why}")
    return [(lo, found[0])]


def _purge_fault(detail: dict[str, Any], floor: int, floor_hash: str | None, event_at: dt.datetime,
                 keys: dict[str, Ed25519PublicKey] | None) -> str | None:
    try:
        newest = dt.datetime.fromisoformat(str(detail["newest_at"]))
        purged = dt.datetime.fromisoformat(str(detail["purged_at"]))
        retention = int(detail["retention_days"])
        signature, signer, through_hash = str(detail["signature"]), str(detail["key_id"]), str(detail["through_hash"])
    except (KeyError, TypeError, ValueError):
        return "is not signed (forged purge)"
    if keys is not None:
        key = keys.get(signer)
        if key is None:
            return f"is signed by unknown key {signer} (forged purge)"
        if not verify_signature(key, signature, purge_message(floor, through_hash, newest, purged, retention)):
            return "has an invalid signature (forged purge)"
    if floor_hash is not None and through_hash != floor_hash:
        return f"names another entry {floor} than the checkpoint kept there (forged purge)"
    needed = max(retention, MIN_RETENTION_DAYS)
    if purged - newest < dt.timedelta(days=needed):
        return f"removed entries younger than {needed} days (newest {newest:%Y-%m-%d}, purged {purged:%Y-%m-%d})"
    if purged > event_at + PURGE_SKEW:
        return "claims a purge time later than its own entry (forged purge)"
    return None


def _anchor_file_problems(store: OpsStore, file: AnchorFile, keys: dict[str, Ed25519PublicKey] | None, floor: int,
                          hi: int, cps: Sequence[sa.Row[Any]]) -> tuple[int, list[tuple[int, str]], list[str]]:
    """Every checkpoint the anchor file holds must match the chain: rewrites and truncation the store hides."""
    e, h = t.audit_event.c, t.audit_head.c
    records: list[AnchorRecord] = []
    problems: list[tuple[int, str]] = []
    for item in file.records():
        if isinstance(item, str):
            problems.append((hi + 1, item))
        else:
            records.append(item)
    notes: list[str] = []
    if not records:
        if cps:
            notes.append(f"the checkpoint anchor file {file.path} holds no checkpoint though the store has "
                         f"{len(cps)}: it was removed, emptied or never written; nothing outside the store vouches")
        return 0, problems, notes
    wanted = sorted({r.seq for r in records if floor < r.seq <= hi})
    hashes: dict[int, str] = {}
    with store.read() as con:
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            hashes.update((int(s), hh) for s, hh in con.execute(sa.select(e.seq, e.hash).where(e.seq.in_(chunk))))
        head_now = int(con.execute(sa.select(h.seq).where(h.id == 1)).scalar() or 0)
    good = floor
    for rec in sorted(records, key=lambda r: r.seq):
        if keys is not None:
            key = keys.get(rec.key_id)
            if key is None or not verify_signature(key, rec.signature, signed_message(rec.seq, rec.hash, rec.at)):
                problems.append((max(rec.seq, floor + 1), f"checkpoint anchor file line {rec.line}: the checkpoint "
                                                          f"at {rec.seq} is not signed by the key (forged)"))
                break
        if rec.seq <= floor:
            continue
        if rec.seq > hi:
            if rec.seq > head_now:
                problems.append((hi + 1, f"chain ends at {hi} but the anchor file holds a checkpoint at {rec.seq} "
                                         "(truncated)"))
            break
        if hashes.get(rec.seq) != rec.hash:
            problems.append((good + 1, f"checkpoint anchored at {rec.seq} does not match entry {rec.seq}: entries "
                                       f"{good + 1}..{rec.seq} were rewritten"))
            break
        good = rec.seq
    last_cp = max((int(cp.seq) for cp in cps), default=0)
    last_anchored = max(r.seq for r in records)
    if last_cp > last_anchored:
        notes.append(f"the checkpoint anchor file {file.path} ends at checkpoint {last_anchored} but the store has "
                     f"checkpoints up to {last_cp}: entries after {last_anchored} are vouched for by the store only")
    return len(records), problems, notes


_INDEX_SQL = {
    "sqlite": ("json_each(e.customer_ids) AS j", "j.value"),
    "postgresql": ("LATERAL json_array_elements_text(e.customer_ids::json) AS j(value)", "j.value"),
}


def _index_problems(store: OpsStore, floor: int, hi: int) -> tuple[int, int, list[tuple[int, str]]]:
    """Rebuild the customer index from the chained ``customer_ids`` and compare it row for row."""
    source, value = _INDEX_SQL[store.dialect]
    param = ops_dialect.paramstyle(store.dialect)
    missing_sql = (f"SELECT count(*), min(e.seq) FROM audit_event e CROSS JOIN {source} "
                   f"WHERE e.seq > {param} AND e.seq <= {param} AND NOT EXISTS (SELECT 1 FROM audit_event_customer c "
                   f"WHERE c.seq = e.seq AND c.customer_id = {value})")
    extra_sql = (f"SELECT count(*), min(c.seq) FROM audit_event_customer c WHERE c.seq <= {param} AND NOT EXISTS "
                 f"(SELECT 1 FROM audit_event e CROSS JOIN {source} WHERE e.seq = c.seq AND {value} = c.customer_id)")
    try:
        with store.read() as con:
            n_missing, first_missing = con.exec_driver_sql(missing_sql, (floor, hi)).one()
            n_extra, first_extra = con.exec_driver_sql(extra_sql, (hi,)).one()
    except sa.exc.DBAPIError:
        return 0, 0, [(floor + 1, "the customer index could not be rebuilt: an entry's customer_ids is not JSON "
                                  "(edited)")]
    problems: list[tuple[int, str]] = []
    if n_missing:
        problems.append((int(first_missing), f"entry {first_missing}: customer index lacks {n_missing} row(s) the "
                                             "chain names — its events are hidden from customer queries (deleted)"))
    if n_extra:
        problems.append((int(first_extra), f"entry {first_extra}: customer index has {n_extra} row(s) no chained "
                                           "entry names (inserted)"))
    return int(n_missing or 0), int(n_extra or 0), problems


def rebuild_customer_index(store: OpsStore) -> int:
    """Replace the customer index by what the chained entries name (after verify reported it wrong)."""
    source, value = _INDEX_SQL[store.dialect]
    with store.begin() as con:
        con.execute(sa.delete(t.audit_event_customer))
        return int(con.exec_driver_sql(
            f"INSERT INTO audit_event_customer (customer_id, seq) SELECT DISTINCT {value}, e.seq "
            f"FROM audit_event e CROSS JOIN {source}").rowcount)


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


__all__ = ["PURGE_OPERATION", "Progress", "PublicKeys", "VerifyReport", "rebuild_customer_index", "verify"]
