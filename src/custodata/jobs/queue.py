"""The job queue in the operational store: enqueue, claim one at a time in order, finish, retry.

Claiming is atomic on both engines: on SQLite the claim runs in a ``BEGIN
IMMEDIATE`` transaction (one writer at a time), on PostgreSQL under a
transaction-scoped advisory lock, and the job row is then taken with a
conditional ``UPDATE … WHERE state = 'queued'`` (``FOR UPDATE SKIP LOCKED`` when
reading it on PostgreSQL).  Only one job runs at a time in the whole deployment:
no job is claimed while another holds a live lease, so two worker processes
never both write the batch store and jobs are applied in the order of their ids.
A lease that ran out (its worker died) puts the job back at the head of the
queue, up to :data:`MAX_ATTEMPTS` tries.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from custodata.errors import NotFoundError, StateError
from custodata.jobs.tables import job
from custodata.ops import dialect
from custodata.ops.store import OpsStore

APPLY_CHANGE = "apply_change"
DEFAULT_LEASE = dt.timedelta(seconds=60)
MAX_ATTEMPTS = 5
_CLAIM_LOCK = 0x6A6F6273  # PostgreSQL advisory lock key of the claim ("jobs")
# set when this process queues a job: a worker thread of the same process (custodata serve) starts at
# once instead of at its next poll, so a create at the front desk is searchable within its wait
WORK_QUEUED = threading.Event()


def utc_now() -> dt.datetime:
    """Naive UTC, as the operational store keeps times."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class JobError(StateError):
    """A job is not in a state that allows this (retrying one that did not fail, finishing a lost lease)."""


@dataclass(frozen=True)
class Job:
    """One job as stored."""

    id: int
    kind: str
    request_id: str
    state: str
    attempts: int
    error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    lease_owner: str | None
    lease_expires_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Job:
        m = row._mapping
        return cls(**{name: m[name] for name in cls.__dataclass_fields__})

    def summary(self) -> dict[str, Any]:
        """What callers are shown: the state and why it failed, not which host holds the lease."""
        return {"job_id": self.id, "kind": self.kind, "request_id": self.request_id, "state": self.state,
                "attempts": self.attempts, "error": self.error, "created_at": self.created_at,
                "started_at": self.started_at, "finished_at": self.finished_at}


class JobQueue:
    """Jobs over one operational store."""

    def __init__(self, store: OpsStore, *, lease: dt.timedelta = DEFAULT_LEASE,
                 clock: Callable[[], dt.datetime] = utc_now, max_attempts: int = MAX_ATTEMPTS) -> None:
        self.store, self.lease, self.clock, self.max_attempts = store, lease, clock, max_attempts

    # --- asking -------------------------------------------------------------------------------
    def enqueue(self, request_id: str, *, kind: str = APPLY_CHANGE) -> Job:
        """The job carrying out ``request_id``: queued now, or the one already queued for it."""
        values = {"kind": kind, "request_id": request_id, "state": "queued", "attempts": 0,
                  "created_at": self.clock()}
        insert = dialect.insert(self.store.dialect, job)
        with self.store.begin() as con:
            con.execute(insert.values(**values).on_conflict_do_nothing(index_elements=["request_id"]))
        found = self.for_request(request_id)
        if found is None:  # the request row went meanwhile (the foreign key would have refused the insert)
            raise NotFoundError(f"no request {request_id} to queue a job for")
        WORK_QUEUED.set()
        return found

    def get(self, job_id: int) -> Job:
        with self.store.read() as con:
            row = con.execute(sa.select(job).where(job.c.id == job_id)).first()
        if row is None:
            raise NotFoundError(f"no job {job_id}")
        return Job.from_row(row)

    def for_request(self, request_id: str) -> Job | None:
        with self.store.read() as con:
            row = con.execute(sa.select(job).where(job.c.request_id == request_id)).first()
        return Job.from_row(row) if row is not None else None

    def for_requests(self, request_ids: Iterable[str]) -> dict[str, Job]:
        """The jobs of these requests, by request id (requests without a job are absent)."""
        ids = list(dict.fromkeys(request_ids))
        if not ids:
            return {}
        with self.store.read() as con:
            rows = con.execute(sa.select(job).where(job.c.request_id.in_(ids))).all()
        return {r.request_id: Job.from_row(r) for r in rows}

    def list_jobs(self, *, states: Iterable[str] | None = None, limit: int = 200) -> list[Job]:
        """Jobs, newest first."""
        q = sa.select(job).order_by(job.c.id.desc()).limit(limit)
        if states is not None:
            q = q.where(job.c.state.in_(list(states)))
        with self.store.read() as con:
            return [Job.from_row(r) for r in con.execute(q)]

    def has_work(self) -> bool:
        """Whether anything is queued or running (a cheap read before trying to claim)."""
        with self.store.read() as con:
            return con.execute(sa.select(job.c.id).where(job.c.state.in_(("queued", "running")))
                               .limit(1)).first() is not None

    # --- working ------------------------------------------------------------------------------
    def _serialise(self, con: sa.Connection) -> None:
        """Claims one after another (SQLite: the transaction already holds the write lock)."""
        dialect.advisory_lock(con, _CLAIM_LOCK)

    def claim(self, owner: str) -> Job | None:
        """Take the oldest queued job for ``owner`` — unless a job is running under a live lease.

        A running job whose lease ran out is put back first (or failed, after
        :attr:`max_attempts` tries), so a crashed worker's job resumes.
        """
        now = self.clock()
        with self.store.begin() as con:
            self._serialise(con)
            self._reclaim_expired(con, now)
            running = con.execute(sa.select(job.c.id).where(job.c.state == "running").limit(1)).first()
            if running is not None:
                return None
            head = sa.select(job.c.id).where(job.c.state == "queued").order_by(job.c.id).limit(1)
            head = dialect.skip_locked(head, con)
            row = con.execute(head).first()
            if row is None:
                return None
            taken = con.execute(job.update().where(job.c.id == row.id, job.c.state == "queued").values(
                state="running", attempts=job.c.attempts + 1, started_at=now, finished_at=None,
                lease_owner=owner, lease_expires_at=now + self.lease))
            if taken.rowcount != 1:
                return None
            claimed = con.execute(sa.select(job).where(job.c.id == row.id)).one()
        return Job.from_row(claimed)

    def _reclaim_expired(self, con: sa.Connection, now: dt.datetime) -> None:
        stale = job.c.state == "running", job.c.lease_expires_at < now
        con.execute(job.update().where(*stale, job.c.attempts >= self.max_attempts).values(
            state="failed", finished_at=now, lease_owner=None, lease_expires_at=None,
            error=sa.func.coalesce(job.c.error, "") + f"gave up after {self.max_attempts} tries: "
                  "each time its worker stopped before finishing (lease expired)"))
        con.execute(job.update().where(*stale).values(
            state="queued", lease_owner=None, lease_expires_at=None,
            error="the previous try's worker stopped before finishing (lease expired); tried again"))

    def renew(self, job_id: int, owner: str) -> bool:
        """Extend ``owner``'s lease on a running job; False when the lease was lost."""
        with self.store.begin() as con:
            done = con.execute(job.update().where(
                job.c.id == job_id, job.c.state == "running", job.c.lease_owner == owner,
            ).values(lease_expires_at=self.clock() + self.lease))
        return done.rowcount == 1

    def finish(self, job_id: int, owner: str, *, error: str | None = None) -> Job:
        """Mark ``owner``'s running job done, or failed with ``error`` saying why."""
        with self.store.begin() as con:
            done = con.execute(job.update().where(
                job.c.id == job_id, job.c.state == "running", job.c.lease_owner == owner,
            ).values(state="failed" if error else "done", error=error, finished_at=self.clock(),
                     lease_owner=None, lease_expires_at=None))
        if done.rowcount != 1:
            raise JobError(f"job {job_id} is no longer held by {owner}: its lease expired and it was taken over")
        return self.get(job_id)

    def retry(self, job_id: int) -> Job:
        """Queue a failed job again (it keeps its id, so it goes first)."""
        with self.store.begin() as con:
            done = con.execute(job.update().where(job.c.id == job_id, job.c.state == "failed").values(
                state="queued", error=None, started_at=None, finished_at=None))
        if done.rowcount != 1:
            current = self.get(job_id)  # raises NotFoundError for an unknown job
            raise JobError(f"job {job_id} is {current.state}: only a failed job is retried")
        return self.get(job_id)


__all__ = ["APPLY_CHANGE", "DEFAULT_LEASE", "MAX_ATTEMPTS", "WORK_QUEUED", "Job", "JobError", "JobQueue"]
