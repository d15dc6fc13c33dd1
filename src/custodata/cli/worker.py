"""``custodata worker``: apply the queued jobs (approved changes) to the batch store, one at a time.

``custodata serve`` runs a worker inside the server, so this command is for a
deployment that runs it apart (or serves from several machines), for draining
the queue once (``--once``) and for trying a failed job again (``--retry``).
However many run, the queue's lease lets one job run at a time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from custodata.cli.common import DbOpt, OutOpt, _clean_errors, cli_actor, console, services


@dataclass(frozen=True)
class _Operator:
    """The terminal's operator, as the audit log names whoever retries from here."""

    person_id: str
    role: str = "cli"
    kind: str = "employee"
    branch: str | None = None
    status: str = "active"


def register(app: typer.Typer) -> None:
    """Attach ``worker`` to the main CLI."""
    app.command("worker")(worker)


def worker(
    out: OutOpt = Path("out"), db: DbOpt = None,
    once: Annotated[bool, typer.Option("--once", help="Apply what is queued now, then stop.")] = False,
    retry: Annotated[int | None, typer.Option("--retry", metavar="JOB", min=1,
                                              help="Queue failed job JOB again (its request back to approved), "
                                                   "then work.")] = None,
    poll: Annotated[float, typer.Option(min=0.1, max=60, help="Seconds between looks at an empty queue.")] = 1.0,
) -> None:
    """Apply approved changes from the job queue in order (Ctrl+C stops after the current job)."""
    from custodata.jobs.queue import JobQueue
    from custodata.jobs.worker import make_worker

    with _clean_errors(), services(out, db) as svc:
        queue = JobQueue(svc.ops)
        if retry is not None:
            job = queue.get(retry)
            if job.state != "failed":
                from custodata.jobs.queue import JobError

                raise JobError(f"job {retry} is {job.state}: only a failed job is retried")
            svc.approvals.reopen(job.request_id, _Operator(cli_actor()))
            queue.retry(retry)
            console.print(f"job {retry} ({job.request_id}) queued again")
        work = make_worker(svc)
        if once:
            for done in work.drain():
                why = f" — {done.error}" if done.error else ""
                console.print(f"job {done.id} ({done.request_id}): {done.state}{why}")
            left = len(queue.list_jobs(states=("queued", "running")))
            console.print(f"{left} job(s) still queued or running" if left else "queue empty")
            return
        console.print(f"worker {work.owner} applying jobs from {svc.ops.url.split('@')[-1]} (Ctrl+C stops)")
        stop = threading.Event()
        try:
            work.run_forever(stop, poll_seconds=poll)
        except KeyboardInterrupt:
            stop.set()

