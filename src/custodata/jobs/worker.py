"""The worker: applies queued jobs one at a time, in order, and never twice.

Each cycle it claims the head of the queue (see :mod:`custodata.jobs.queue`),
renews its lease from a heartbeat thread while the change runs, and records the
outcome on both the job and the request.  Before applying it looks at the
request: one already ``applied`` (a worker died after recording it) is done
without touching the batch store; on a later try of a job, the batch store
itself is asked whether the change is already there (a worker died after the
store committed it but before the request said so), and then only the served
view is republished.  A failure leaves the request ``failed`` and the job
``failed`` with the same message, to be retried.

Approved changes whose job was never queued (the process stopped between the
decision and the enqueue) are adopted on start and then every minute.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from custodata.approvals.request import CHANGE_KINDS, Request
from custodata.errors import CustodataError, NotFoundError
from custodata.jobs.queue import WORK_QUEUED, Job, JobError, JobQueue

if TYPE_CHECKING:
    from custodata.approvals import Approvals, Steward
    from custodata.pipeline import Pipeline
    from custodata.service import Services

log = logging.getLogger("custodata.jobs")

ADOPT_EVERY_SECONDS = 60.0
# the published files are rewritten once no job came for this long: a burst of changes (a front desk
# creating customers one after another) is not held up behind a whole export between two of its jobs
FILES_AFTER_IDLE_SECONDS = 5.0


class BatchChanges(Protocol):
    """What the worker needs of the batch store (:class:`PipelineChanges` is the real one)."""

    def steward(self) -> Steward: ...

    def already_applied(self, request: Request) -> bool: ...

    def republish(self) -> None: ...

    def catch_up(self, stop: Callable[[], bool] = lambda: False) -> None: ...

    def idle(self) -> None: ...


class PipelineChanges:
    """The batch store of one output folder, through :class:`custodata.pipeline.Pipeline`."""

    def __init__(self, out_dir: Path, *, ops_url: str | None = None, mappings_dir: Path | None = None,
                 config_path: Path | None = None) -> None:
        from custodata.engine.held_store import HeldStore

        self.out_dir, self.ops_url, self.mappings_dir = out_dir, ops_url, mappings_dir
        self.config_path = config_path  # resolution settings (the duplicate threshold of creates)
        # the worker is the store's one writer: it keeps it open from one change to the next, until idle
        self.held = HeldStore(out_dir / "custodata.duckdb")

    def _pipeline(self) -> Pipeline:
        """The pipeline serving into the worker's own operational store (``--db``), not the folder's default."""
        from custodata.pipeline import Pipeline

        pipeline = Pipeline.create(self.out_dir, mappings_dir=self.mappings_dir, config_path=self.config_path)
        pipeline.ops_url = self.ops_url
        pipeline.files_later = True  # the served view is what a change waits for; files when idle
        pipeline.holder = self.held
        return pipeline

    def steward(self) -> Steward:
        return self._pipeline()

    def already_applied(self, request: Request) -> bool:
        from custodata.resolution.steward import request_applied

        if not (self.out_dir / "custodata.duckdb").exists():
            return False
        with self._pipeline().using() as store:  # the held store: a second connection to it would be refused
            if request.kind == "create":  # its one mdm record, by the key the request gave it
                return bool(store.table_exists("business.master") and store.engine.one(
                    "SELECT 1 FROM business.master WHERE _source = 'mdm' AND record_key = ? LIMIT 1",
                    [str(request.payload.get("record_key"))]))
            return request_applied(store.engine, request.request_id, request.kind)

    def republish(self) -> None:
        pipeline = self._pipeline()
        with pipeline.using() as store:
            pipeline.publish(store)

    def catch_up(self, stop: Callable[[], bool] = lambda: False) -> None:
        """The published files, when changes served in place left them stale (``stop``: a job is waiting)."""
        if (self.out_dir / "published" / ".stale").exists():  # a stat per idle poll, no pipeline built
            self._pipeline().write_stale_files(stop=stop)

    def idle(self) -> None:
        """Let the store go: a shell's ``custodata run`` or a backup may open the file while no job comes."""
        if self.held.is_open:
            self.held.release()


def worker_name() -> str:
    """Who holds a lease: host, process and a random part (two threads of one process differ too)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _message(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first if isinstance(exc, CustodataError) else f"{type(exc).__name__}: {first}"


class Worker:
    """Applies the jobs of one operational store to one batch store."""

    def __init__(self, queue: JobQueue, approvals: Approvals, changes: BatchChanges, *,
                 owner: str | None = None) -> None:
        self.queue, self.approvals, self.changes = queue, approvals, changes
        self.owner = owner or worker_name()
        self._adopted_at = 0.0
        self._worked_at = 0.0  # when the last job finished (monotonic)

    # --- one job ------------------------------------------------------------------------------
    def adopt_orphans(self) -> list[Job]:
        """Queue approved changes that have no job (oldest decision first)."""
        approved = [r for r in self.approvals.list_requests(status="approved", limit=1000) if r.kind in CHANGE_KINDS]
        have = self.queue.for_requests(r.request_id for r in approved)
        orphans = sorted((r for r in approved if r.request_id not in have),
                         key=lambda r: (r.decided_at or r.created_at, r.request_id))
        self._adopted_at = time.monotonic()
        return [self.queue.enqueue(r.request_id) for r in orphans]

    def run_once(self) -> Job | None:
        """Claim and carry out the head of the queue; the finished job, or None when there was nothing to do."""
        if time.monotonic() - self._adopted_at >= ADOPT_EVERY_SECONDS:
            self.adopt_orphans()
        if not self.queue.has_work():
            if time.monotonic() - self._worked_at < FILES_AFTER_IDLE_SECONDS:
                return None
            try:  # idle: now the files the changes left stale, giving way as soon as a job is queued
                self.changes.catch_up(stop=self.queue.has_work)
            except Exception as exc:  # tried again when next idle; the served view is already current
                log.warning("the published files could not be written yet: %s", _message(exc))
            if not self.queue.has_work():
                self.changes.idle()
            return None
        claimed = self.queue.claim(self.owner)
        if claimed is None:
            return None
        beat = _Heartbeat(self.queue, claimed.id, self.owner)
        beat.start()
        try:
            error = self._carry_out(claimed)
        finally:
            beat.stop()
        self._worked_at = time.monotonic()
        try:
            return self.queue.finish(claimed.id, self.owner, error=error)
        except JobError as exc:  # lost the lease meanwhile: whoever took it over decides
            log.error("%s", exc)
            return self.queue.get(claimed.id)

    def _carry_out(self, job: Job) -> str | None:
        """Apply the job's request; the error message, or None when it is applied."""
        try:
            req = self.approvals.get(job.request_id)
        except NotFoundError as exc:
            return str(exc)
        if req.status == "applied":
            return None  # recorded before the worker stopped: nothing to apply again
        if req.status == "failed":
            error = (req.result or {}).get("error", "failed")
            return f"{req.request_id} failed: {error}"
        if req.status != "approved":
            return f"{req.request_id} is {req.status}, not approved: nothing to apply"
        if req.kind not in CHANGE_KINDS:
            return f"{req.request_id} is a {req.kind} request: the worker only applies changes"
        try:
            if job.attempts > 1 and self.changes.already_applied(req):
                self.changes.republish()  # the store has it; the served view may not yet
                self.approvals.confirm_applied(req, [f"found applied in the batch store (try {job.attempts})"],
                                               resumed=True)
                return None
            self.approvals.apply_change(req, self.changes.steward())
        except Exception as exc:  # on the job here, and on the request (apply_change did, unless it never ran)
            message = _message(exc)
            log.warning("job %s (%s) failed: %s", job.id, req.request_id, message)
            if self.approvals.get(req.request_id).status == "approved":
                self.approvals.mark_failed(req.request_id, message)
            return message
        return None

    # --- many ---------------------------------------------------------------------------------
    def drain(self, *, limit: int | None = None) -> list[Job]:
        """Run jobs until none is left to claim (or ``limit`` jobs ran)."""
        done: list[Job] = []
        try:
            while limit is None or len(done) < limit:
                finished = self.run_once()
                if finished is None:
                    break
                done.append(finished)
        finally:
            self.changes.idle()  # the store is closed (checkpointed) when the caller gets the jobs
        return done

    def run_forever(self, stop: threading.Event, *, poll_seconds: float = 1.0) -> None:
        """Poll until ``stop`` is set; an error of the store is logged and tried again, never fatal."""
        try:
            while not stop.is_set():
                try:
                    finished = self.run_once()
                except Exception:
                    log.exception("the job worker could not reach the operational store; trying again")
                    finished = None
                if finished is None and not stop.is_set():
                    WORK_QUEUED.wait(poll_seconds)  # woken at once by a job queued in this process
                    WORK_QUEUED.clear()
        finally:
            self.changes.idle()


class _Heartbeat:
    """Renews a job's lease every third of its length while the job runs."""

    def __init__(self, queue: JobQueue, job_id: int, owner: str) -> None:
        self.queue, self.job_id, self.owner = queue, job_id, owner
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"job-{job_id}-lease", daemon=True)

    def _run(self) -> None:
        every = max(self.queue.lease.total_seconds() / 3, 0.05)
        while not self._stop.wait(every):
            try:
                if not self.queue.renew(self.job_id, self.owner):
                    log.error("lost the lease on job %s", self.job_id)
                    return
            except Exception:
                log.exception("could not renew the lease on job %s", self.job_id)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class WorkerThread:
    """The worker in a background thread of the server (``custodata serve``)."""

    def __init__(self, worker: Worker, *, poll_seconds: float = 1.0) -> None:
        self.worker, self.poll_seconds = worker, poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.worker.run_forever, args=(self._stop,),
                                        kwargs={"poll_seconds": self.poll_seconds}, name="custodata-jobs",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current job (its lease expires if it cannot finish in time)."""
        self._stop.set()
        WORK_QUEUED.set()  # out of its wait now
        if self._thread is not None:
            self._thread.join(timeout=timeout)


def make_worker(services: Services, *, mappings_dir: Path | None = None, owner: str | None = None) -> Worker:
    """The worker of a :class:`custodata.service.Services` (its store, approvals and output folder)."""
    return Worker(JobQueue(services.ops), services.approvals,
                  PipelineChanges(services.out_dir, ops_url=services.ops.url, mappings_dir=mappings_dir), owner=owner)

__all__ = ["BatchChanges", "PipelineChanges", "Worker", "WorkerThread", "make_worker", "worker_name"]
