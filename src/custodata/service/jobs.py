"""Jobs through the service layer: who may follow a job and who may try it again.

A job carries out an approved change; it holds no customer data, but its request
says whom the change is about, so only the people on that request (the maker and
the checker) and those who may approve changes (data stewards) follow it.  A
failed job is tried again by its checker or a steward — never by its maker alone,
who cannot carry out their own change by insisting.
"""

from __future__ import annotations

from typing import Any

from custodata.audit.events import Action, Result
from custodata.jobs.queue import Job, JobError, JobQueue
from custodata.service.context import AccessDenied, Caller, Services, audited

STEWARD_PERMISSION = "change.approve"


def queue(svc: Services) -> JobQueue:
    """The job queue of the services' store (leases run on the wall clock, not the service clock)."""
    return JobQueue(svc.ops)


def _is_steward(svc: Services, caller: Caller) -> bool:
    return bool(svc.engine.check(caller.principal, STEWARD_PERMISSION, at=svc.clock()).allowed)


def _refuse(svc: Services, caller: Caller, job: Job, why: str) -> AccessDenied:
    svc.record(caller, Action.CHANGE_REQUEST, Result.DENIED, reason=why,
               detail={"job_id": job.id, "request_id": job.request_id})
    return AccessDenied(why)  # recorded just above


@audited(Action.CHANGE_REQUEST)
def get_job(svc: Services, caller: Caller, job_id: int) -> Job:
    """The job, for the maker or checker of its request, or a data steward."""
    job = queue(svc).get(job_id)
    req = svc.approvals.get(job.request_id)
    if caller.person_id in (req.maker, req.checker) or _is_steward(svc, caller):
        return job
    raise _refuse(svc, caller, job, f"job {job_id} is followed by its request's maker and checker and "
                                    "by data stewards only")


@audited(Action.CHANGE_REQUEST)
def retry_job(svc: Services, caller: Caller, job_id: int) -> Job:
    """Queue a failed job again (its request goes back to approved); by the checker or a steward."""
    jobs = queue(svc)
    job = jobs.get(job_id)
    req = svc.approvals.get(job.request_id)
    if caller.person_id == req.maker:
        raise _refuse(svc, caller, job, f"{req.request_id} is {caller.person_id}'s own request: its checker or "
                                        "a data steward retries it")
    if caller.person_id != req.checker and not _is_steward(svc, caller):
        raise _refuse(svc, caller, job, f"job {job_id} is retried by its request's checker or a data steward")
    if job.state != "failed":
        raise JobError(f"job {job_id} is {job.state}: only a failed job is retried")
    svc.approvals.reopen(req, caller.principal)  # first: a job queued over a failed request would fail again
    return jobs.retry(job_id)


def jobs_of(svc: Services, requests: list[Any]) -> dict[str, Job]:
    """The jobs of the listed requests (for the approvals pages), by request id."""
    return queue(svc).for_requests(r.request_id for r in requests)
