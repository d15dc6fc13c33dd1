"""Job routes: follow the job an approval queued, and try a failed one again."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, FastAPI, Path

from custodata.api.deps import CallerDep, ServicesDep
from custodata.api.schemas import public
from custodata.service import jobs

if TYPE_CHECKING:
    from custodata.service import Services

router = APIRouter(tags=["jobs"])

JobId = Annotated[int, Path(ge=1, le=2**62)]


@router.get("/jobs/{job_id}", response_model=dict[str, Any])
def get_job(job_id: JobId, caller: CallerDep, svc: ServicesDep) -> dict[str, Any]:
    """A job's state (queued, running, done, failed) and why it failed; for its maker, checker and stewards."""
    result: dict[str, Any] = public(jobs.get_job(svc, caller, job_id).summary())
    return result


@router.post("/jobs/{job_id}/retry", status_code=202, response_model=dict[str, Any])
def retry_job(job_id: JobId, caller: CallerDep, svc: ServicesDep) -> dict[str, Any]:
    """Queue a failed job again (its request goes back to approved); by its checker or a data steward."""
    result: dict[str, Any] = public(jobs.retry_job(svc, caller, job_id).summary())
    return result


def worker_lifespan(services: Services) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Run the job worker in a thread for the application's lifetime (``create_app(..., worker=True)``).

    Every process of a deployment may run one: the queue's lease lets only one job run at a
    time across all of them, so they never both write the batch store.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from custodata.jobs.worker import WorkerThread, make_worker

        thread = WorkerThread(make_worker(services))
        app.state.job_worker = thread
        thread.start()
        try:
            yield
        finally:
            thread.stop()

    return lifespan
