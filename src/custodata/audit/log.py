"""The hash-chained audit log [审计日志]: append-only, one linear chain across threads and processes.

Every entry carries ``seq`` (consecutive from 1), the hash of the entry before
it and its own hash over its canonical form (:mod:`custodata.audit.canonical`).
Appenders serialise on the single ``audit_head`` row (``SELECT … FOR UPDATE``
on PostgreSQL, the write lock of ``BEGIN IMMEDIATE`` on SQLite), so processes
sharing one database still extend one chain.  Within a process, concurrent
callers are group-committed: whichever caller finds the writer idle writes
every event queued so far in one transaction, and each caller returns only once
its own event is committed — fifty requests cost a few transactions, not fifty.
A caller that must not block (a route answered on the event loop) appends inside
:meth:`AuditLog.deferred`: its events join the same queue, a committer thread
writes them, and the caller awaits :meth:`PendingAppends.wait` before it sends
anything, so an answer still goes out only once its event is committed.
Every ``checkpoint_every`` entries, and at the first append ``checkpoint_seconds``
after the last signature, the chain head is signed (Ed25519), which bounds what
someone with write access to the database can rewrite unnoticed; each checkpoint
is also appended to the anchor file outside the store once committed
(:mod:`custodata.audit.anchor`).  Rows found beyond the chain head (someone wrote
into the log by hand) stop every append with :class:`AuditDamagedError`, a
critical log line and a ``critical`` alert, never a raw driver error.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from custodata.audit import tables as t
from custodata.audit.canonical import GENESIS, canonical, entry_hash, signed_message
from custodata.audit.events import AuditEvent
from custodata.errors import CustodataError, StateError

if TYPE_CHECKING:
    from custodata.audit.anchor import AnchorFile
    from custodata.audit.query import StoredEvent
    from custodata.audit.retention import AuditSettings, PurgeReport
    from custodata.audit.signing import CheckpointSigner
    from custodata.ops.store import OpsStore

Clock = Callable[[], dt.datetime]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HEAD_ID = 1
_log = logging.getLogger("custodata.audit")
DAMAGED_SCENARIO = "audit_log_damaged"


class AuditError(ValueError, CustodataError):
    """An event cannot be recorded as given (e.g. its detail is not JSON-serialisable)."""


class AuditDamagedError(StateError):
    """The log holds rows beyond its chain head: nothing is recorded (so nothing audited runs) until removed."""

    def __init__(self, head_seq: int) -> None:
        super().__init__(f"the audit log is damaged: rows were written beyond its chain head (entry {head_seq}), "
                         "so nothing can be recorded; the request was refused. An administrator must run "
                         "`custodata audit verify` and remove them")
        self.head_seq = head_seq


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def naive_utc(at: dt.datetime) -> dt.datetime:
    """Stored form of a time: UTC without tzinfo (a naive input is taken as UTC already)."""
    return at.astimezone(dt.UTC).replace(tzinfo=None) if at.tzinfo is not None else at


def clean_text(value: object, limit: int | None = None) -> str:
    """Text as stored: control characters replaced, cut to the column's width.

    A malicious login name must still be recorded, so odd input is made safe
    (no separator, no line breaks to forge log lines) rather than refused.
    """
    if value is None:
        return ""
    text = value if type(value) is str else str(value)
    # a printable string holds no control character (they are all category Cc): most fields, no regex pass
    if not text.isprintable():
        text = _CONTROL.sub("\ufffd", text)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise AuditError(f"audit event {what} is not JSON-serialisable: {exc}") from None


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    at: dt.datetime
    key_id: str
    signature: str


@dataclass
class _Waiter:
    rows: list[dict[str, Any]]
    done: bool = False
    seqs: list[int] = field(default_factory=list)
    error: BaseException | None = None
    # futures of the event loops awaiting it, settled (queue lock held) once it is done
    wakers: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = field(default_factory=list)


class PendingAppends:
    """The events appended inside :meth:`AuditLog.deferred`, queued for the committer thread.

    Nothing may be sent to the person before :meth:`wait` returns: it raises the first
    append that failed, so the answer is then an error, never data whose reading went
    unrecorded.
    """

    def __init__(self, log: AuditLog) -> None:
        self._log = log
        self._waiters: list[_Waiter] = []

    def __len__(self) -> int:
        return len(self._waiters)

    def add(self, waiter: _Waiter) -> None:
        self._waiters.append(waiter)

    async def wait(self) -> list[int]:
        """The sequence numbers of every event, once all are committed (raises the first failure)."""
        loop = asyncio.get_running_loop()
        for waiter in self._waiters:
            future: asyncio.Future[None] = loop.create_future()
            with self._log._cv:
                if not waiter.done:
                    waiter.wakers.append((loop, future))
                else:
                    future.set_result(None)
            await future
        for waiter in self._waiters:
            if waiter.error is not None:
                raise waiter.error
        return [seq for w in self._waiters for seq in w.seqs]


def _settle(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():  # cancelled meanwhile (the client went away): nothing to tell
            future.set_result(None)


_DEFERRED: ContextVar[PendingAppends | None] = ContextVar("custodata_audit_deferred", default=None)


class AuditLog:
    """The production :class:`~custodata.audit.events.AuditSink`; thread-safe, shareable by many threads."""

    def __init__(self, store: OpsStore, signer: CheckpointSigner | None = None, *,
                 checkpoint_every: int = 1000, checkpoint_seconds: float | None = 60,
                 anchor_file: AnchorFile | Path | None = None, clock: Clock = utc_now) -> None:
        from custodata.audit.anchor import AnchorFile

        if checkpoint_every < 1:
            raise AuditError(f"checkpoint_every must be at least 1, not {checkpoint_every}")
        if checkpoint_seconds is not None and checkpoint_seconds <= 0:
            raise AuditError(f"checkpoint_seconds must be positive, not {checkpoint_seconds}")
        self.store = store
        self.signer = signer
        self.checkpoint_every = checkpoint_every
        self.checkpoint_interval = dt.timedelta(seconds=checkpoint_seconds) if checkpoint_seconds else None
        self.anchor_file = AnchorFile(anchor_file) if isinstance(anchor_file, Path) else anchor_file
        self.clock = clock
        self._cv = threading.Condition()
        self._queue: list[_Waiter] = []
        self._writing = False
        self._committer: threading.Thread | None = None  # started by the first deferred append
        self._unsigned_since: dt.datetime | None = None  # when this process left the first entry unsigned
        self._local = threading.local()  # checkpoints of the open transaction, anchored once it commits
        self._alerted: set[int] = set()
        self._ensure_head()

    @classmethod
    def for_out_dir(cls, store: OpsStore, out_dir: Path, settings: AuditSettings | None = None) -> AuditLog:
        """The log as deployed: signing key from ``out_dir`` (or ``CUSTODATA_AUDIT_KEY``), configured
        intervals, checkpoints anchored in the configured file (default ``<out>-audit-anchor-<store>.jsonl``)."""
        from custodata.audit.retention import load_settings
        from custodata.audit.signing import CheckpointSigner

        chosen = settings or load_settings()
        return cls(store, CheckpointSigner.for_out_dir(out_dir), checkpoint_every=chosen.checkpoint_every,
                   checkpoint_seconds=chosen.checkpoint_seconds, anchor_file=chosen.anchor_path(out_dir, store.url))

    # --- transactions that anchor their checkpoints ------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """A write transaction of the store; checkpoints made in it reach the anchor file once it commits."""
        self._local.pending = []
        try:
            with self.store.begin() as con:
                yield con
        except AuditDamagedError as exc:
            self._local.pending = []
            self._raise_damage_alert(exc.head_seq)
            raise
        except BaseException:
            self._local.pending = []
            raise
        pending, self._local.pending = self._local.pending, []
        if pending and self.anchor_file is not None:
            try:
                self.anchor_file.append(pending)
            except CustodataError as exc:  # committed already: say so loudly, verify will show the gap
                _log.error("audit checkpoint %s committed but not anchored: %s", pending[-1]["seq"], exc)

    def _raise_damage_alert(self, head_seq: int) -> None:
        """Critical log line and a ``critical`` alert for the security officer (once per head position)."""
        if head_seq in self._alerted:
            return
        self._alerted.add(head_seq)
        _log.critical("audit log damaged: rows beyond the chain head (entry %d); every audited request is "
                      "refused until they are removed (custodata audit verify names them)", head_seq)
        try:
            from custodata.monitoring.alerts import Alert
            from custodata.monitoring.store import AlertStore

            now = naive_utc(self.clock())
            AlertStore(self.store, self).save([Alert(
                alert_id=f"{DAMAGED_SCENARIO}-{head_seq}", scenario=DAMAGED_SCENARIO, severity="critical",
                actor="-", window_start=now, window_end=now, score=1.0,
                summary=f"The audit log has rows beyond its chain head (entry {head_seq}): nothing can be "
                        "recorded and audited requests are refused. Run `custodata audit verify`.",
                summary_zh=f"审计日志链头（第 {head_seq} 条）之后被写入了记录：无法再记录审计事件，"
                           "所有需审计的请求均被拒绝。请运行 custodata audit verify。",
                evidence={"head_seq": head_seq}, first_event_at=now, detected_at=now)])
        except Exception as exc:  # the log line above is the alert of last resort
            _log.error("could not store the audit-damage alert: %s", type(exc).__name__)

    # --- appending -------------------------------------------------------------------------

    def append(self, event: AuditEvent) -> int:
        """Append durably; returns the event's sequence number once it is committed (0 when deferred)."""
        return self.append_many([event])[0]

    @contextmanager
    def deferred(self) -> Iterator[PendingAppends]:
        """Appends in this block are queued and return at once, each seq given as 0; await the pending ones.

        For a route answered on the event loop, which must not wait for a commit: the
        committer thread writes the queue in group-committed transactions, and the route
        sends its answer (or its refusal) only after ``await pending.wait()``.  Code in the
        block must not act on an appended event as if committed (nothing in the block reads
        the log back).
        """
        pending = PendingAppends(self)
        token = _DEFERRED.set(pending)
        try:
            yield pending
        finally:
            _DEFERRED.reset(token)

    def append_many(self, events: Iterable[AuditEvent]) -> list[int]:
        """Append events as consecutive entries (one transaction, possibly shared with other callers)."""
        rows = [self.prepare(e) for e in events]
        if not rows:
            return []
        waiter = _Waiter(rows)
        pending = _DEFERRED.get()
        if pending is not None:
            with self._cv:
                self._queue.append(waiter)
                if self._committer is None:
                    self._committer = threading.Thread(target=self._commit_queued, name="custodata-audit-committer",
                                                       daemon=True)
                    self._committer.start()
                self._cv.notify_all()
            pending.add(waiter)
            return [0] * len(rows)
        self._cv.acquire()
        try:
            self._queue.append(waiter)
            while True:
                while not waiter.done and self._writing:
                    self._cv.wait()
                if waiter.done:
                    break
                self._write_queued()
        finally:
            self._cv.release()
        if waiter.error is not None:
            raise waiter.error
        return waiter.seqs

    def _commit_queued(self) -> None:
        """The committer thread: whenever events are queued and no caller is writing, write them all."""
        self._cv.acquire()
        try:
            while True:
                while not self._queue or self._writing:
                    self._cv.wait()
                self._write_queued()
        finally:
            self._cv.release()

    def _write_queued(self) -> None:
        """Write everything queued as one batch: the queue lock is held on entry and on return, not meanwhile."""
        self._writing = True
        batch, self._queue = self._queue, []
        self._cv.release()
        try:
            self._write_batch(batch)
        except BaseException as exc:  # never leave a waiter hanging, whatever broke
            for w in batch:
                if not w.done:
                    w.error, w.done = exc, True
        finally:
            self._cv.acquire()
            self._writing = False
            self._wake(batch)
            self._cv.notify_all()

    @staticmethod
    def _wake(batch: list[_Waiter]) -> None:
        """Tell the deferred waiters of a written batch (queue lock held): one wake-up per event loop.

        A batch holds the events of a dozen requests or more, nearly all awaited on the one
        loop of the process; one ``call_soon_threadsafe`` per waiter was a self-pipe write
        and a loop wake-up each, where one for the whole batch settles them all.
        """
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for w in batch:
            for loop, future in w.wakers:
                by_loop.setdefault(loop, []).append(future)
            w.wakers.clear()
        for loop, futures in by_loop.items():
            with suppress(RuntimeError):  # the loop closed meanwhile (shutdown): no one is waiting
                loop.call_soon_threadsafe(_settle, futures)

    def _write_batch(self, batch: list[_Waiter]) -> None:
        """One transaction for the whole batch; on failure each caller is retried alone.

        Retrying alone keeps one caller's bad event (or a lost connection) from
        failing its neighbours; each waiter ends with its seqs or its own error.
        """
        try:
            with self.transaction() as con:
                seqs = self.append_in(con, [row for w in batch for row in w.rows])
        except BaseException as exc:
            if len(batch) == 1:
                batch[0].error = exc
                batch[0].done = True
                return
            for w in batch:
                self._write_batch([w])
            return
        i = 0
        for w in batch:
            w.seqs = seqs[i:i + len(w.rows)]
            i += len(w.rows)
            w.done = True

    def append_in(self, con: sa.Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
        """Chain prepared rows inside the caller's write transaction (locks the head first).

        Open the transaction with :meth:`transaction` so its checkpoints reach the anchor file.
        """
        head = con.execute(_LOCK_HEAD).one_or_none()
        if head is None:
            raise StateError("the audit log has no chain head row: open it with AuditLog(store) first")
        head_seq, seq, prev = int(head.seq), int(head.seq), str(head.hash)
        events: list[dict[str, Any]] = []
        customers: list[dict[str, Any]] = []
        checkpoints: list[dict[str, Any]] = []
        for prepared in rows:
            seq += 1
            row = {k: v for k, v in prepared.items() if k != "_customers"}
            row["seq"] = seq
            row["prev_hash"] = prev
            row["hash"] = prev = entry_hash(canonical(prev, row))
            events.append(row)
            customers.extend({"seq": seq, "customer_id": c} for c in prepared["_customers"])
            if self.signer is not None and seq % self.checkpoint_every == 0:
                checkpoints.append(self._checkpoint_row(seq, prev))
        if events and self._time_due(head.cp_at) and not (checkpoints and checkpoints[-1]["seq"] == seq):
            checkpoints.append(self._checkpoint_row(seq, prev))
        try:
            if con.dialect.name == "postgresql" and len(events) + len(customers) <= _ONE_STATEMENT_ROWS:
                _one_statement(con, events, customers, checkpoints, seq, prev)
            else:
                con.execute(t.audit_event.insert(), events)
                if customers:
                    con.execute(t.audit_event_customer.insert(), customers)
                if checkpoints:
                    con.execute(t.audit_checkpoint.insert(), checkpoints)
                con.execute(_MOVE_HEAD, {"new_seq": seq, "new_hash": prev})
        except sa.exc.IntegrityError:
            # seq is the only key an append can clash on: a row already sits beyond the head
            raise AuditDamagedError(head_seq) from None
        if self.signer is not None and events:
            self._unsigned_since = None if checkpoints and checkpoints[-1]["seq"] == seq else (
                self._unsigned_since or naive_utc(self.clock()))
        pending = getattr(self._local, "pending", None)
        if pending is not None:
            pending.extend(checkpoints)
        return [e["seq"] for e in events]

    def _time_due(self, last_checkpoint_at: dt.datetime | None) -> bool:
        """A checkpoint is due when the last signature (or this process's first unsigned entry) is too old."""
        if self.signer is None or self.checkpoint_interval is None:
            return False
        since = last_checkpoint_at if last_checkpoint_at is not None else self._unsigned_since
        return since is not None and naive_utc(self.clock()) - since >= self.checkpoint_interval

    def prepare(self, event: AuditEvent) -> dict[str, Any]:
        """The stored form of an event, before it gets its place in the chain."""
        ids = list(dict.fromkeys(clean_text(c, t.CUSTOMER_ID_LEN) for c in event.customer_ids))
        at = naive_utc(event.at or self.clock())
        return {
            "at": at,
            "actor": clean_text(event.actor, t.ACTOR_LEN) or "-",
            "role": clean_text(event.role, t.ROLE_LEN),
            "branch": clean_text(event.branch, t.BRANCH_LEN),
            "action": clean_text(event.action, t.ACTION_LEN),
            "result": clean_text(event.result, t.RESULT_LEN),
            "customer_ids": _json(ids, "customer_ids"),
            "customer_count": event.customer_count if event.customer_count is not None else len(ids),
            "fields": _json([clean_text(f) for f in event.fields], "fields"),
            "purpose": clean_text(event.purpose),
            "source_address": clean_text(event.source_address, t.ADDRESS_LEN),
            "reason": clean_text(event.reason),
            "detail": _json(dict(event.detail), "detail"),
            "system": clean_text(event.system, t.SYSTEM_LEN) or "custodata",
            "_customers": ids,
        }

    # --- the chain head ----------------------------------------------------------------------

    def _ensure_head(self) -> None:
        values = {"id": _HEAD_ID, "seq": 0, "hash": GENESIS, "floor_seq": 0}
        from custodata.ops import dialect

        stmt: sa.Executable = dialect.insert(self.store.dialect, t.audit_head).values(values).on_conflict_do_nothing()
        with self.store.begin() as con:
            con.execute(stmt)

    @staticmethod
    def lock_head(con: sa.Connection) -> tuple[int, str]:
        head = con.execute(_LOCK_HEAD).one_or_none()
        if head is None:
            raise StateError("the audit log has no chain head row: open it with AuditLog(store) first")
        return int(head.seq), str(head.hash)

    # --- checkpoints --------------------------------------------------------------------------

    def _checkpoint_row(self, seq: int, hash_: str) -> dict[str, Any]:
        if self.signer is None:
            raise StateError("checkpoints need a signing key: give AuditLog a CheckpointSigner")
        at = naive_utc(self.clock())
        return {"seq": seq, "hash": hash_, "at": at, "key_id": self.signer.key_id,
                "signature": self.signer.sign(signed_message(seq, hash_, at))}

    def checkpoint(self) -> Checkpoint | None:
        """Sign the current chain head now (e.g. before handing the log to an auditor); None when empty."""
        with self.transaction() as con:
            seq, hash_ = self.lock_head(con)
            if seq == 0:
                return None
            existing = con.execute(sa.select(t.audit_checkpoint).where(t.audit_checkpoint.c.seq == seq)).first()
            if existing is not None:
                return Checkpoint(existing.seq, existing.hash, existing.at, existing.key_id, existing.signature)
            row = self._checkpoint_row(seq, hash_)
            con.execute(t.audit_checkpoint.insert(), [row])
            self._local.pending.append(row)
        return Checkpoint(**row)

    # --- reading and retention (delegated; kept here so the log is the one object callers hold) -----

    def query(self, **filters: Any) -> list[StoredEvent]:
        from custodata.audit.query import query

        return query(self.store, **filters)

    def count(self, **filters: Any) -> int:
        from custodata.audit.query import count

        return count(self.store, **filters)

    def export(self, path: Path, fmt: str = "jsonl", **filters: Any) -> int:
        from custodata.audit.query import export

        return export(self.store, path, fmt, **filters)

    def purge(self, settings: AuditSettings | None = None, *, now: dt.datetime | None = None,
              actor: str = "system") -> PurgeReport:
        from custodata.audit.retention import purge

        return purge(self, settings, now=now, actor=actor)


_ONE_STATEMENT_ROWS = 500  # beyond this a batch is inserted table by table (bound-parameter limit)
# the per-append statements, built once so SQLAlchemy compiles them once per dialect
_LAST_CHECKPOINT_AT = (sa.select(t.audit_checkpoint.c.at).order_by(t.audit_checkpoint.c.seq.desc()).limit(1)
                       .scalar_subquery())
_LOCK_HEAD = sa.select(t.audit_head.c.seq, t.audit_head.c.hash, _LAST_CHECKPOINT_AT.label("cp_at")).where(
    t.audit_head.c.id == _HEAD_ID).with_for_update()
_MOVE_HEAD = t.audit_head.update().where(t.audit_head.c.id == _HEAD_ID).values(
    seq=sa.bindparam("new_seq", type_=sa.BigInteger), hash=sa.bindparam("new_hash", type_=sa.String))


def _one_statement(con: sa.Connection, events: list[dict[str, Any]], customers: list[dict[str, Any]],
                   checkpoints: list[dict[str, Any]], seq: int, hash_: str) -> None:
    """PostgreSQL: the batch's inserts as data-modifying CTEs of the head update, one round trip.

    Same rows, same transaction, same head lock as the statement-per-table path; only
    the round trips and SQLAlchemy's per-call compilation of multi-row inserts are saved
    (the SQL text is made once per batch shape).
    """
    sections = [(t.audit_event.name, events), (t.audit_event_customer.name, customers),
                (t.audit_checkpoint.name, checkpoints)]
    shape = tuple((name, tuple(rows[0]) if rows else (), len(rows)) for name, rows in sections)
    params: dict[str, Any] = {"head_seq": seq, "head_hash": hash_}
    for n, (_, rows) in enumerate(sections):
        columns = shape[n][1]
        for i, row in enumerate(rows):
            for k, column in enumerate(columns):
                params[f"p{n}_{i}_{k}"] = row[column]
    con.exec_driver_sql(_pg_batch_sql(shape), params)


@lru_cache(maxsize=256)
def _pg_batch_sql(shape: tuple[tuple[str, tuple[str, ...], int], ...]) -> str:
    ctes = []
    for n, (table, columns, count) in enumerate(shape):
        if not count:
            continue
        names = ", ".join(f'"{c}"' for c in columns)
        rows = ", ".join("(" + ", ".join(f"%(p{n}_{i}_{k})s" for k in range(len(columns))) + ")"
                         for i in range(count))
        ctes.append(f'c{n} AS (INSERT INTO "{table}" ({names}) VALUES {rows})')
    return (f"WITH {', '.join(ctes)} UPDATE \"{t.audit_head.name}\" SET seq = %(head_seq)s, hash = %(head_hash)s "
            f"WHERE id = {_HEAD_ID}")


__all__ = ["DAMAGED_SCENARIO", "AuditDamagedError", "AuditError", "AuditLog", "Checkpoint", "Clock", "PendingAppends",
           "clean_text", "naive_utc", "utc_now"]
