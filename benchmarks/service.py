"""Service benchmark: the customer 360° view through the API under load, against the raw indexed SQL look-up.

    .venv/bin/python benchmarks/service.py                                   # 1M customers, SQLite and PostgreSQL
    .venv/bin/python benchmarks/service.py --customers 20000 --seconds 5     # a quick run
    .venv/bin/python benchmarks/service.py --engines sqlite --workers 1 --json bench-out/service.json
    .venv/bin/python benchmarks/service.py --clients 1,10,50 --roles data_steward    # a concurrency sweep

What is measured, per engine (SQLite file in ``--data-dir``; PostgreSQL database
``custodata_bench`` on 127.0.0.1:5432, created if missing):

* **service**: ``GET /api/v1/customers/{id}?purpose=customer_service`` against
  ``uvicorn`` running the real application in a separate process on loopback, with 1
  and 2 workers.  Each request authenticates the bearer token (the person is re-read),
  asks the policy engine (permission and row rule), reads the served document, unwraps
  the customer's own data key and decrypts the profile, masks for the role and purpose,
  and appends the READ event to the hash-chained audit log.  ``--clients`` (50; a
  comma-separated list sweeps: 1 shows one request unqueued, 50 the queueing under
  load) concurrent clients in a closed loop (asyncio + httpx, one keep-alive connection each)
  ask for uniformly random customers for ``--seconds`` after ``--warmup`` seconds; any
  answer but 200 is an error and is printed.  Roles: ``data_steward`` (row scope: all
  customers) and ``front_desk`` (row scope: its branch; asked only for customers of its
  branch, so none is refused).
* **raw**: the peer, in the same run over the same data and the same customer ids: the
  same number of threads, each on its own connection, running the indexed primary-key
  read ``SELECT doc FROM served_customer WHERE generation = ? AND customer_id = ?`` —
  what any look-up has to do at the least.
* **ratios**: service / raw for p50 and p95 (targets: p95 ≤ 50 ms, ≤ 5× the raw look-up).
* **audit check**: the READ events of the benchmark person counted before and after
  each service run must grow by exactly the number of 200 answers (warm-up included).

Data: see :mod:`benchmarks.service_data` (a real pipeline run on 2,000 customers,
replicated with per-customer keys; built once and reused).  The load generator and the
server share this machine's cores (and the database server's), which the output states;
latencies include the client's own CPU time.  Audit append rate and verify time at 10M
entries come from ``benchmarks/audit.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

if __package__ in (None, ""):  # run as a script: make `benchmarks.service_data` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.service_data import (
    SEED,
    TEMPLATES,
    build_served,
    synthetic_id,
    template_of,
)

from custodata.audit.events import Action, Result
from custodata.audit.tables import audit_event
from custodata.crypto.kek import default_key_file
from custodata.identity.demo import DEMO_PEOPLE
from custodata.ops.store import OpsStore, open_ops
from custodata.service import Services
from custodata.service.demo import DemoLogin, seed_demo
from custodata.serving.tables import served_customer

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_DATABASE = "custodata_bench"
PURPOSE = "customer_service"
ROLES = ("data_steward", "front_desk")
TARGET_P95_MS = 50.0
TARGET_RATIO = 5.0
SAMPLE_IDS = 200_000  # distinct random ids drawn per run (ids repeat rarely, as over a day's visits)
CHECKED_BODIES = 20  # the first answers of a run are parsed and checked to be the customer asked for


class BenchmarkError(RuntimeError):
    """The benchmark cannot run as asked (server did not start, login refused, wrong data …)."""


# ---- measurement --------------------------------------------------------------------------------

@dataclass
class Measured:
    """Latencies (ms) of the measured window and what happened around it."""

    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    warmup_requests: int = 0
    ok_total: int = 0  # 200 answers, warm-up included (what the audit log must show)

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        return {
            "requests": len(lat), "errors": self.errors, "seconds": round(self.seconds, 2),
            "throughput": round(len(lat) / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(percentile(lat, 50), 2), "p95_ms": round(percentile(lat, 95), 2),
            "p99_ms": round(percentile(lat, 99), 2), "mean_ms": round(statistics.fmean(lat), 2) if lat else 0.0,
            "max_ms": round(lat[-1], 2) if lat else 0.0,
        }


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (0 when there are none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return float(sorted_values[rank - 1])


def customer_ids(customers: int, rng: random.Random, *, branch: str | None = None,
                 template_branches: Sequence[str | None] = (), count: int = SAMPLE_IDS) -> list[str]:
    """Random synthetic customer ids; with ``branch``, only customers of that branch."""
    if branch is None:
        return [synthetic_id(rng.randint(1, customers)) for _ in range(count)]
    wanted = {n for n, b in enumerate(template_branches) if b and f"|{branch}|" in b}
    if not wanted:
        raise BenchmarkError(f"no template customer is in branch {branch!r}")
    members = [i for i in range(1, customers + 1) if template_of(i, len(template_branches)) in wanted]
    if not members:
        raise BenchmarkError(f"no customer of branch {branch!r} among the first {customers:,}")
    return [synthetic_id(rng.choice(members)) for _ in range(count)]


# ---- the peer: raw indexed look-up --------------------------------------------------------------

MEASURE_GRACE = 30.0  # seconds past the window a client without a measured answer keeps trying


def raw_lookups(url: str, generation: int, ids: Sequence[str], *, clients: int, seconds: float,
                warmup: float) -> Measured:
    """``clients`` threads, each on its own connection, reading documents by primary key."""
    engine = sa.create_engine(url, pool_size=clients, max_overflow=0, pool_pre_ping=False)
    engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    stmt = sa.select(served_customer.c.doc).where(served_customer.c.generation == generation,
                                                  served_customer.c.customer_id == sa.bindparam("cid"))
    result = Measured()
    lock = threading.Lock()
    t_start = time.perf_counter()
    t_measure = t_start + warmup
    t_end = t_measure + seconds

    def client(n: int) -> None:
        rng = random.Random(n)
        mine: list[float] = []
        warm = 0
        with engine.connect() as con:
            while True:
                cid = ids[rng.randrange(len(ids))]
                t0 = time.perf_counter()
                # every client measures once, on a slow machine too (but a failing store still ends)
                if t0 >= t_end and (mine or t0 >= t_end + MEASURE_GRACE):
                    break
                doc = con.execute(stmt, {"cid": cid}).scalar_one_or_none()
                t1 = time.perf_counter()
                if doc is None:
                    with lock:
                        result.errors += 1
                        if len(result.error_samples) < 5:
                            result.error_samples.append(f"no row for {cid}")
                    continue
                if t0 >= t_measure:
                    mine.append((t1 - t0) * 1000)
                else:
                    warm += 1
        with lock:
            result.latencies_ms.extend(mine)
            result.warmup_requests += warm

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    result.seconds = max(0.0, time.perf_counter() - t_measure)
    result.ok_total = len(result.latencies_ms) + result.warmup_requests
    engine.dispose()
    return result


# ---- the service: uvicorn in its own process ----------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def server(data_dir: Path, url: str, *, workers: int, log: Path) -> Iterator[str]:
    """The real application under uvicorn on loopback; yields its base URL, stops it afterwards."""
    port = free_port()
    env = {**os.environ, "CUSTODATA_OUT": str(data_dir.resolve()), "CUSTODATA_DB_URL": url,
           # the service finds the KEK of a PostgreSQL store only through this (see the report's note)
           "CUSTODATA_KEK_FILE": str(default_key_file(data_dir).resolve())}
    cmd = [sys.executable, "-m", "uvicorn", "custodata.api.app:create_app_from_env", "--factory",
           "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
           "--no-access-log", "--log-level", "warning", "--no-server-header"]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as log_file:
        proc = subprocess.Popen(cmd, env=env, stdout=log_file, stderr=subprocess.STDOUT)  # noqa: S603
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(base, proc, log)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchmarkError(f"the server exited with {proc.returncode}; see {log}")
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise BenchmarkError(f"the server did not answer within {timeout:.0f} s; see {log}")


def login(base: str, person_id: str, password: str, role: str) -> str:
    import httpx

    answer = httpx.post(f"{base}/api/v1/login", json={"person_id": person_id, "password": password, "role": role},
                        timeout=30)
    if answer.status_code != 200:
        raise BenchmarkError(f"login as {person_id} ({role}) refused: HTTP {answer.status_code}")
    token: str = answer.json()["token"]
    return token


async def _http_load(base: str, token: str, ids: Sequence[str], *, clients: int, seconds: float,
                     warmup: float) -> Measured:
    import httpx

    result = Measured()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {token}"}
    loop = asyncio.get_running_loop()
    t_start = loop.time()
    t_measure = t_start + warmup
    t_end = t_measure + seconds
    checked = 0

    async def client(http: httpx.AsyncClient, n: int) -> None:
        nonlocal checked
        rng = random.Random(1000 + n)
        measured = 0
        while True:
            cid = ids[rng.randrange(len(ids))]
            t0 = time.perf_counter()
            # every client measures once, on a slow machine too (but a failing service still ends)
            if loop.time() >= t_end and (measured or loop.time() >= t_end + MEASURE_GRACE):
                return
            started = loop.time()
            try:
                answer = await http.get(f"/api/v1/customers/{cid}", params={"purpose": PURPOSE})
                status, body = answer.status_code, answer.content
            except httpx.HTTPError as exc:
                status, body = -1, type(exc).__name__.encode()
            ms = (time.perf_counter() - t0) * 1000
            if status != 200:
                result.errors += 1
                if len(result.error_samples) < 5:
                    result.error_samples.append(f"{cid}: HTTP {status} {body[:200]!r}")
                continue
            result.ok_total += 1
            if checked < CHECKED_BODIES:
                checked += 1
                if json.loads(body).get("customer_id") != cid:
                    raise BenchmarkError(f"asked for {cid}, the service answered another customer")
            if started >= t_measure:
                result.latencies_ms.append(ms)
                measured += 1
            else:
                result.warmup_requests += 1

    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as http:
        await asyncio.gather(*(client(http, n) for n in range(clients)))
    result.seconds = max(0.0, loop.time() - t_measure)
    return result


def http_load(base: str, token: str, ids: Sequence[str], *, clients: int, seconds: float,
              warmup: float) -> Measured:
    """``clients`` concurrent keep-alive clients in a closed loop asking for 360° views."""
    return asyncio.run(_http_load(base, token, ids, clients=clients, seconds=seconds, warmup=warmup))


def audit_reads(ops: OpsStore, actor: str) -> int:
    """READ events of ``actor`` that succeeded: one per view the service answered."""
    with ops.read() as con:
        return int(con.execute(sa.select(sa.func.count()).select_from(audit_event).where(
            audit_event.c.actor == actor, audit_event.c.action == Action.READ.value,
            audit_event.c.result == Result.OK.value)).scalar_one())


# ---- engines ------------------------------------------------------------------------------------

def engine_url(engine: str, data_dir: Path) -> str:
    if engine == "sqlite":
        return f"sqlite:///{(data_dir / 'custodata.sqlite').resolve()}"
    if engine == "postgresql":
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as con:
                exists = con.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :d"),
                                     {"d": PG_DATABASE}).first()
                if exists is None:
                    con.exec_driver_sql(f'CREATE DATABASE "{PG_DATABASE}"')
        finally:
            admin.dispose()
        return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + PG_DATABASE
    raise BenchmarkError(f"unknown engine {engine!r}: sqlite or postgresql")


def _demo_password(person_id: str) -> str:
    for p in DEMO_PEOPLE:
        if p.person_id == person_id:
            return p.password
    raise BenchmarkError(f"no demo person {person_id}")


@dataclass
class RunResult:
    engine: str
    scenario: str  # service | raw
    role: str
    workers: int | None
    summary: dict[str, Any]
    audit_reads_added: int | None = None
    audit_ok: bool | None = None
    error_samples: list[str] = field(default_factory=list)
    clients: int = 0


def bench_engine(engine: str, args: argparse.Namespace, say: Any = print) -> tuple[dict[str, Any], list[RunResult]]:
    """Build (or reuse) the data, then the service runs and the raw peer runs on one engine."""
    data_dir: Path = args.data_dir
    url = engine_url(engine, data_dir)
    if engine == "sqlite":
        from benchmarks.service_data import ensure_seed

        ensure_seed(data_dir, args.templates, SEED, say)  # the pipeline made the SQLite file: it goes first
    ops = open_ops(url)
    results: list[RunResult] = []
    try:
        build = build_served(ops, data_dir, args.customers, templates=args.templates, say=say)
        svc = Services(ops, data_dir)
        logins: dict[str, DemoLogin] = {}
        for demo in seed_demo(svc):
            logins.setdefault(demo.role, demo)  # the first person of each role (front.bj, not front.sh)
        template_branches = _template_branches(ops, build.generation, build.templates)
        rng = random.Random(args.seed)
        id_sets: dict[str, list[str]] = {}
        for role in args.roles:
            branch = logins[role].branch if role == "front_desk" else None
            id_sets[role] = customer_ids(args.customers, rng, branch=branch, template_branches=template_branches)
        for role in args.roles:
            person = logins[role]
            for workers in args.workers:
                with server(data_dir, url, workers=workers, log=data_dir / f"server-{engine}.log") as base:
                    token = login(base, person.person_id, _demo_password(person.person_id), role)
                    for clients in args.clients:
                        # a closed loop: every request of the run is answered before the count is taken
                        before = audit_reads(ops, person.person_id)
                        measured = http_load(base, token, id_sets[role], clients=clients, seconds=args.seconds,
                                             warmup=args.warmup)
                        added = audit_reads(ops, person.person_id) - before
                        run = RunResult(engine, "service", role, workers, measured.summary(), added,
                                        added == measured.ok_total, measured.error_samples, clients=clients)
                        results.append(run)
                        say(_line(run))
            for clients in args.clients:
                raw = raw_lookups(url, build.generation, id_sets[role], clients=clients, seconds=args.seconds,
                                  warmup=args.warmup)
                run = RunResult(engine, "raw", role, None, raw.summary(), error_samples=raw.error_samples,
                                clients=clients)
                results.append(run)
                say(_line(run))
        info = {"engine": engine, "customers": args.customers, "generation": build.generation,
                "load_seconds": round(build.seconds, 1), "built": build.built}
    finally:
        ops.close()
    return info, results


def _template_branches(ops: OpsStore, generation: int, templates: int) -> list[str | None]:
    """Branches of the first block of synthetic customers: one per template, in template order."""
    first = [synthetic_id(i) for i in range(1, templates + 1)]
    with ops.read() as con:
        rows: dict[str, str | None] = {str(r.customer_id): r.branches for r in con.execute(
            sa.select(served_customer.c.customer_id, served_customer.c.branches).where(
                served_customer.c.generation == generation, served_customer.c.customer_id.in_(first)))}
    return [rows.get(cid) for cid in first]


def _line(run: RunResult) -> str:
    s = run.summary
    who = f"{run.scenario:<7} {run.role:<12} " + (f"w={run.workers}" if run.workers else "   ") + f" c={run.clients:<3}"
    audit = "" if run.audit_ok is None else f"  audit +{run.audit_reads_added:,} {'ok' if run.audit_ok else 'MISMATCH'}"
    errors = f"  ERRORS {s['errors']}: {run.error_samples}" if s["errors"] else ""
    return (f"  {run.engine:<10} {who}  {s['requests']:>7,} req  {s['throughput']:>8,.1f}/s  p50 {s['p50_ms']:>7.2f}"
            f"  p95 {s['p95_ms']:>7.2f}  p99 {s['p99_ms']:>7.2f} ms{audit}{errors}")


# ---- report -------------------------------------------------------------------------------------

def ratios(results: Sequence[RunResult]) -> list[dict[str, Any]]:
    """Each service run against the raw run of the same engine and role."""
    raw = {(r.engine, r.role, r.clients): r.summary for r in results if r.scenario == "raw"}
    out = []
    for r in results:
        peer = raw.get((r.engine, r.role, r.clients))
        if r.scenario != "service" or peer is None:
            continue
        s = r.summary

        def ratio(a: float, b: float) -> float | None:
            return round(a / b, 1) if b else None

        out.append({
            "engine": r.engine, "role": r.role, "workers": r.workers, "clients": r.clients,
            "p50_ratio": ratio(s["p50_ms"], peer["p50_ms"]), "p95_ratio": ratio(s["p95_ms"], peer["p95_ms"]),
            "throughput_ratio": ratio(peer["throughput"], s["throughput"]),
            "p95_target_met": s["p95_ms"] <= TARGET_P95_MS,
            "ratio_target_met": (s["p95_ms"] / peer["p95_ms"] <= TARGET_RATIO) if peer["p95_ms"] else None,
        })
    return out


def table(results: Sequence[RunResult]) -> str:
    head = ("| engine | path | role | workers | clients | requests | req/s | p50 ms | p95 ms | p99 ms | errors | "
            "audit READ events |")
    lines = [head, "|" + "---|" * 12]
    for r in results:
        s = r.summary
        audit = "" if r.audit_ok is None else f"+{r.audit_reads_added:,} ({'= answers' if r.audit_ok else 'MISMATCH'})"
        lines.append(f"| {r.engine} | {'API 360° view' if r.scenario == 'service' else 'raw SQL by key'} | {r.role} "
                     f"| {r.workers or ''} | {r.clients} | {s['requests']:,} | {s['throughput']:,.1f} "
                     f"| {s['p50_ms']:.2f} | {s['p95_ms']:.2f} | {s['p99_ms']:.2f} | {s['errors']} | {audit} |")
    return "\n".join(lines)


def ratio_table(rows: Sequence[dict[str, Any]]) -> str:
    lines = ["| engine | role | workers | clients | p50 service/raw | p95 service/raw | raw/service req/s | "
             f"p95 ≤ {TARGET_P95_MS:.0f} ms | ≤ {TARGET_RATIO:.0f}× raw (p95) |", "|" + "---|" * 9]
    for r in rows:
        lines.append(f"| {r['engine']} | {r['role']} | {r['workers']} | {r['clients']} | {r['p50_ratio']}× "
                     f"| {r['p95_ratio']}× "
                     f"| {r['throughput_ratio']}× | {'yes' if r['p95_target_met'] else 'no'} "
                     f"| {'yes' if r['ratio_target_met'] else 'no'} |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--customers", type=int, default=1_000_000, help="synthetic customers served (default 1M)")
    p.add_argument("--engines", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    p.add_argument("--workers", default="1,2", help="uvicorn worker counts to run, comma-separated")
    p.add_argument("--roles", default=",".join(ROLES), help=f"roles to run as, comma-separated ({', '.join(ROLES)})")
    p.add_argument("--clients", default="50",
                   help="concurrent clients, comma-separated to sweep (e.g. 1,10,50; default 50)")
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds per run (default 20)")
    p.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds before measuring (default 3)")
    p.add_argument("--templates", type=int, default=TEMPLATES, help="customers the real pipeline runs on")
    p.add_argument("--seed", type=int, default=7, help="seed of the random customer choice")
    p.add_argument("--data-dir", type=Path, default=Path("bench-out/service"),
                   help="kept between runs: seed pipeline output, SQLite store (default bench-out/service)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures as JSON to this file")
    args = p.parse_args(argv)
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    args.workers = [int(w) for w in args.workers.split(",") if w.strip()]
    try:
        args.clients = [int(c) for c in str(args.clients).split(",") if c.strip()]
    except ValueError:
        p.error(f"--clients: {args.clients!r} is not a comma-separated list of whole numbers")
    if not args.clients or min(args.clients) < 1:
        p.error("--clients: give at least one count, each 1 or more")
    args.roles = [r.strip() for r in args.roles.split(",") if r.strip()]
    for role in args.roles:
        if role not in ROLES:
            p.error(f"--roles: {role!r} is not one of {', '.join(ROLES)}")
    if args.customers < args.templates:
        p.error(f"--customers must be at least --templates ({args.templates})")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    say = print  # noqa: T202 — a benchmark prints its figures
    say(f"service benchmark: {args.customers:,} customers, clients {args.clients}, {args.seconds:g} s per run "
        f"after {args.warmup:g} s warm-up; engines {', '.join(args.engines)}; workers {args.workers}")
    say(f"machine: {os.cpu_count()} CPUs shared by the server, the load generator and the database "
        "(and whatever else runs here); latencies include the client's own CPU time")
    infos, results = [], []
    for engine in args.engines:
        info, runs = bench_engine(engine, args, say)
        infos.append(info)
        results.extend(runs)
    rows = ratios(results)
    say("")
    say(f"## 360° view at {', '.join(map(str, args.clients))} concurrent clients over {args.customers:,} customers")
    say("")
    say(table(results))
    say("")
    say("## service against the raw indexed look-up (same run, same customers)")
    say("")
    say(ratio_table(rows))
    say("")
    for info in infos:
        built = f"built in {info['load_seconds']} s" if info["built"] else "reused from an earlier run"
        say(f"data {info['engine']}: {info['customers']:,} customers, generation {info['generation']}, {built}")
    say("audit append rate and verify time at 10M entries: see benchmarks/audit.py")
    report = {"config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "json"},
              "machine": machine(), "data": infos, "runs": [asdict(r) for r in results], "ratios": rows}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
