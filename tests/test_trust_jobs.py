"""Approved changes are jobs, applied in order by one worker (issue 10 point 14, issue 11 point 2).

Stops: three approvals at once, one applied and two HTTP 500 (``Scalar Function "cd_clean"
already exists``) left "failed" for good — every approving request ran the pipeline inline,
at the same time, on the one batch store.  Now an approval answers at once with a job; one
worker applies jobs one at a time under a lease, never twice, and a failed job says why and
can be retried.  Each test builds its own tiny world (the mini fixtures) on SQLite and
PostgreSQL, because applying changes alters golden records.
"""

from __future__ import annotations

import datetime as dt
import shutil
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from custodata.engine.store import open_store
from custodata.identity.demo import DEMO_PEOPLE, seed_demo_people
from custodata.jobs.queue import JobError, JobQueue
from custodata.jobs.worker import PipelineChanges, Worker, WorkerThread
from custodata.ops import open_ops
from custodata.pipeline import Pipeline
from custodata.service import AccessDenied, Caller, Services, auth, governance, jobs
from custodata.serving.publish import publish_served

with warnings.catch_warnings():  # starlette prefers httpx2 but works with the pinned httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

MINI = Path(__file__).parent / "fixtures" / "mini"
NOW = dt.datetime(2026, 11, 25, 3, 0)  # a Wednesday morning in Shanghai (naive UTC)
PASSWORDS = {p.person_id: p.password for p in DEMO_PEOPLE}
MAKER, CHECKER, OTHER_STEWARD = "steward.sun", "steward.li", "steward.he"
CUSTOMER = "C000000007"


@dataclass
class World:
    svc: Services
    out: Path
    workers: list[Worker] = field(default_factory=list)

    def worker(self, owner: str = "test-worker") -> Worker:
        made = Worker(JobQueue(self.svc.ops), self.svc.approvals,
                      PipelineChanges(self.out, ops_url=self.svc.ops.url, mappings_dir=MINI / "mappings"),
                      owner=owner)
        self.workers.append(made)
        return made

    def settle(self) -> None:
        """As when the workers go idle: each lets go of the store it holds between jobs."""
        for w in self.workers:
            w.changes.idle()

    def caller(self, person_id: str) -> Caller:
        password = PASSWORDS.get(person_id, "Steward-second-2026")
        session = auth.login(self.svc, person_id, password, source_address="10.1.1.1")
        return auth.authenticate(self.svc, session.token, source_address="10.1.1.1")

    def corrections(self) -> list[tuple[str, str | None]]:
        """(field, request id) of every correction in the batch store, in the order applied."""
        self.settle()
        store = open_store(self.out / "custodata.duckdb", read_only=True)
        try:
            return [(str(r[0]), r[1]) for r in store.con.execute(
                "SELECT field, request_id FROM customer.correction ORDER BY correction_id").fetchall()]
        finally:
            store.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("jobs-mini")
    Pipeline.create(out, mappings_dir=MINI / "mappings").run(MINI / "data")
    return out


@pytest.fixture
def world(built: Path, tmp_path: Path, ops_url: str) -> Iterator[World]:
    out = tmp_path / "out"
    shutil.copytree(built, out)
    ops = open_ops(ops_url)
    batch = open_store(out / "custodata.duckdb", read_only=True)
    try:
        publish_served(batch, ops)
    finally:
        batch.close()
    svc = Services(ops, out, clock=lambda: NOW)
    seed_demo_people(svc.directory)
    for person in (CHECKER, OTHER_STEWARD):
        svc.directory.create_person(person, "第二管理员", "employee", "总行", password="Steward-second-2026",  # noqa: S106
                                    roles=("data_steward",), by="test")
    world = World(svc, out)
    yield world
    world.settle()
    svc.close()


def _ask(w: World, maker: Caller, value: str, *, field: str = "address") -> str:
    req = governance.request(w.svc, maker, "edit_field", {"customer_id": CUSTOMER, "field": field, "value": value},
                             reason=f"customer called: {value}")
    return str(req.request_id)


def test_twenty_approvals_at_once_are_all_applied_in_order(world: World) -> None:
    """Stops: concurrent approvals racing on the batch store (two of three answered 500 and stayed failed).
    Twenty checkers' approvals arrive together while the worker runs: each answers at once with a queued
    job, none fails, and the worker applies all twenty, one after another, in the order of their jobs."""
    maker, checker = world.caller(MAKER), world.caller(CHECKER)
    ids = [_ask(world, maker, f"北京市朝阳区建国路{n}号") for n in range(1, 21)]
    thread = WorkerThread(world.worker(), poll_seconds=0.05)
    thread.start()
    try:
        with ThreadPoolExecutor(max_workers=20) as pool:
            answers = list(pool.map(lambda rid: governance.decide(world.svc, checker, rid, approve=True,
                                                                  note="verified by call-back"), ids))
        assert all(isinstance(a, governance.Queued) and a.request.status == "approved" for a in answers)
        queue = JobQueue(world.svc.ops)
        deadline = threading.Event()
        for _ in range(1200):  # a few seconds per job on the mini world, on two shared cores
            if not queue.has_work():
                break
            deadline.wait(0.25)
    finally:
        thread.stop(timeout=120)
    by_request = {a.request.request_id: a.job for a in answers}
    final = {rid: queue.get(by_request[rid].id) for rid in ids}
    assert {j.state for j in final.values()} == {"done"}, {j.id: (j.state, j.error) for j in final.values()}
    assert {world.svc.approvals.get(rid).status for rid in ids} == {"applied"}
    in_job_order = [j.request_id for j in sorted(final.values(), key=lambda j: j.id)]
    assert [rid for _, rid in world.corrections()] == in_job_order  # applied once each, in job order
    assert all(j.attempts == 1 for j in final.values())


def test_a_worker_killed_mid_job_resumes_without_applying_twice(world: World) -> None:
    """Stops: a restarted worker applying a change a second time, or a crashed one leaving it stuck.
    A worker claims a job and dies (its lease runs out); another takes the job up again and applies
    it once.  And when the first died after the batch store committed the change but before the
    request said so, the second finds it there and applies nothing again."""
    maker, checker = world.caller(MAKER), world.caller(CHECKER)
    first = governance.decide(world.svc, checker, _ask(world, maker, "北京市朝阳区建国路1号"), approve=True,
                              note="ok")
    second = governance.decide(world.svc, checker, _ask(world, maker, "北京市朝阳区建国路2号"), approve=True,
                               note="ok")
    short = JobQueue(world.svc.ops, lease=dt.timedelta(milliseconds=200))
    abandoned = short.claim("worker-that-dies")
    assert abandoned is not None and abandoned.id == first.job.id and abandoned.state == "running"
    assert short.claim("another-worker") is None  # one job at a time: the lease still holds
    threading.Event().wait(0.3)  # the dead worker's lease runs out
    resumed = world.worker()
    done = resumed.run_once()
    assert done is not None and done.id == first.job.id and done.state == "done" and done.attempts == 2
    assert [rid for _, rid in world.corrections()] == [first.request.request_id]

    # the second job: its worker dies after the batch store committed the change, before recording it
    taken = short.claim("worker-that-dies")
    assert taken is not None and taken.id == second.job.id
    req = world.svc.approvals.get(second.request.request_id)
    from custodata.approvals.changes import run_change

    run_change(req, Pipeline.create(world.out, mappings_dir=MINI / "mappings"))  # committed, then the crash
    threading.Event().wait(0.3)
    done = world.worker().run_once()
    assert done is not None and done.id == second.job.id and done.state == "done"
    applied = world.svc.approvals.get(second.request.request_id)
    assert applied.status == "applied" and applied.result and applied.result.get("resumed") is True
    assert [rid for _, rid in world.corrections()] == [first.request.request_id, second.request.request_id]
    assert world.worker().run_once() is None  # nothing left, nothing applied again


def test_a_failed_job_says_why_and_can_be_retried(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stops: a change that failed staying "failed" for good with a raw 500.  The job and the request
    both say why; the maker may not retry their own change, the checker (or a steward) may, and the
    retried job applies it."""
    maker, checker = world.caller(MAKER), world.caller(CHECKER)
    queued = governance.decide(world.svc, checker, _ask(world, maker, "北京市朝阳区建国路9号"), approve=True, note="ok")
    broken = world.worker()

    class Locked(PipelineChanges):
        def steward(self) -> Pipeline:
            raise OSError("batch store is locked by another process")

    broken.changes = Locked(world.out, ops_url=world.svc.ops.url, mappings_dir=MINI / "mappings")
    failed = broken.run_once()
    assert failed is not None and failed.state == "failed"
    assert failed.error == "OSError: batch store is locked by another process"
    req = world.svc.approvals.get(queued.request.request_id)
    assert req.status == "failed" and req.result == {"error": failed.error}
    assert jobs.get_job(world.svc, maker, failed.id).error == failed.error  # the maker follows it

    with pytest.raises(AccessDenied, match="own request"):
        jobs.retry_job(world.svc, maker, failed.id)
    front = world.caller("front.bj")
    with pytest.raises(AccessDenied, match="maker and checker"):
        jobs.get_job(world.svc, front, failed.id)
    retried = jobs.retry_job(world.svc, world.caller(OTHER_STEWARD), failed.id)
    assert retried.state == "queued" and retried.error is None
    assert world.svc.approvals.get(req.request_id).status == "approved"
    with pytest.raises(JobError, match="only a failed job"):
        jobs.retry_job(world.svc, checker, failed.id)
    done = world.worker().run_once()
    assert done is not None and done.state == "done" and done.attempts == 2
    assert world.svc.approvals.get(req.request_id).status == "applied"


def test_the_api_answers_202_with_the_job_to_follow(world: World) -> None:
    """Stops: the approving HTTP request running the whole rebuild (27-67 s, and 500s when concurrent).
    It answers 202 with the job; GET /jobs/{id} gives its state to the maker and checker only;
    a failed job is retried through POST /jobs/{id}/retry."""
    from custodata.api import create_app

    maker = world.caller(MAKER)
    rid = _ask(world, maker, "北京市朝阳区建国路5号")
    with TestClient(create_app(world.svc)) as client:
        def login(person_id: str) -> dict[str, str]:
            password = PASSWORDS.get(person_id, "Steward-second-2026")
            r = client.post("/api/v1/login", json={"person_id": person_id, "password": password})
            assert r.status_code == 200, r.text
            return {"Authorization": f"Bearer {r.json()['token']}"}

        checker, front = login(CHECKER), login("front.bj")
        r = client.post(f"/api/v1/requests/{rid}/approve", headers=checker, json={"note": "verified"})
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["status"] == "approved" and body["job"]["state"] == "queued"
        job_id = body["job"]["job_id"]
        assert client.get(f"/api/v1/jobs/{job_id}", headers=front).status_code == 403
        assert client.get("/api/v1/jobs/999999", headers=checker).status_code == 404
        world.worker().run_once()
        r = client.get(f"/api/v1/jobs/{job_id}", headers=login(MAKER))
        assert r.status_code == 200 and r.json()["state"] == "done", r.text
        assert "lease_owner" not in r.json()
        r = client.post(f"/api/v1/jobs/{job_id}/retry", headers=checker)
        assert r.status_code == 409 and "only a failed job" in r.json()["error"]["message"]
    assert world.svc.approvals.get(rid).status == "applied"


def test_the_terminal_worker_retries_and_drains_the_queue(world: World) -> None:
    """Stops: a failed change with no way back from the terminal.  ``custodata worker --retry JOB --once``
    queues the failed job again and applies it, in one clean run; retrying a job that did not fail is
    one line of error, not a traceback."""
    from typer.testing import CliRunner

    from custodata.cli.app import app

    maker, checker = world.caller(MAKER), world.caller(CHECKER)
    queued = governance.decide(world.svc, checker, _ask(world, maker, "北京市朝阳区建国路7号"), approve=True, note="ok")
    queue = JobQueue(world.svc.ops)
    assert queue.claim("worker-that-fails") is not None
    queue.finish(queued.job.id, "worker-that-fails", error="batch store was locked")
    world.svc.approvals.mark_failed(queued.request.request_id, "batch store was locked")
    runner = CliRunner()
    args = ["worker", "--out", str(world.out), "--db", world.svc.ops.url, "--once"]
    result = runner.invoke(app, [*args, "--retry", str(queued.job.id)])
    assert result.exit_code == 0, result.output
    assert f"job {queued.job.id} ({queued.request.request_id}): done" in result.output
    assert world.svc.approvals.get(queued.request.request_id).status == "applied"
    again = runner.invoke(app, [*args, "--retry", str(queued.job.id)])
    assert again.exit_code == 1 and "only a failed job is retried" in again.output
    assert "Traceback" not in again.output


def test_the_worker_writes_the_published_files_once_its_queue_is_empty(world: World,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Stops: every change waiting for all the Parquet files to be rewritten (seconds at 1M customers) before
    the next change could start, and files left stale for good.  A change the worker applies is served
    at once and marks the files stale; the worker's idle turns write them only after a quiet spell (a burst
    of jobs is not held up between two of them), then with the change in them."""
    import duckdb

    import custodata.jobs.worker as worker_module

    maker, checker = world.caller(MAKER), world.caller(CHECKER)
    rid = _ask(world, maker, "北京市海淀区中关村大街27号")
    governance.decide(world.svc, checker, rid, approve=True, note="verified by call-back")
    worker = world.worker()
    marker = world.out / "published" / ".stale"
    golden = world.out / "published" / "golden.parquet"
    assert worker.run_once() is not None  # the change: applied, served
    assert world.svc.approvals.get(rid).status == "applied"
    assert marker.exists()
    def address() -> object:
        row = duckdb.sql(f"SELECT address FROM '{golden}' WHERE customer_id = '{CUSTOMER}'").fetchone()
        return row[0] if row else None
    assert address() != "北京市海淀区中关村大街27号"  # not yet in the files
    assert worker.run_once() is None and marker.exists()  # idle, but a job just finished: not yet
    monkeypatch.setattr(worker_module, "FILES_AFTER_IDLE_SECONDS", 0.0)
    assert worker.run_once() is None  # idle long enough: the files
    assert not marker.exists()
    assert "中关村大街27号" in str(address())
