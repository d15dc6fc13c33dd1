"""The 360° view under ``wrk``: latency, throughput and server CPU per request, against an unprotected peer.

    .venv/bin/python benchmarks/service_wrk.py --customers 20000                  # SQLite and PostgreSQL
    .venv/bin/python benchmarks/service_wrk.py --customers 20000 --engines sqlite --seconds 10
    .venv/bin/python benchmarks/service_wrk.py --customers 1000000 --json bench-out/service-wrk.json

Why a second service benchmark: :mod:`benchmarks.service` drives the API with an asyncio
+ httpx client that needs about as much CPU per request as the server, on the same two
cores, so its latencies are mostly the load generator queueing.  Here the load comes
from Debian's ``wrk`` (C, event loop; ``apt-get install wrk``, installed by
``scripts/ensure-services.sh``) with :file:`view_wrk.lua`, which sends the bearer token and
cycles through random customer ids (uniform over all customers, drawn once per run).

Per engine (data built as :mod:`benchmarks.service_data` does, reused between runs):

* **custodata**: the real application (``custodata.api.app:create_app_from_env``) under
  uvicorn, ``GET /api/v1/customers/{id}?purpose=customer_service`` as ``data_steward``:
  the session re-read from the directory, policy decision and row rule, the document read,
  the customer's key unwrapped and the profile decrypted, masking, and the READ event
  appended durably to the hash chain before the answer is sent.
* **peer**: :mod:`benchmarks.peer_app` under the same uvicorn settings, answering the same
  stored document (same table, same primary-key read) with no authentication, decryption,
  masking or audit.
* Figures: requests/s, p50/p95/p99 (wrk's own histogram), and **server CPU ms per request**:
  ``utime + stime`` of the uvicorn process and its children from ``/proc/<pid>/stat``
  before and after the measured run, divided by the requests answered; on PostgreSQL also
  the CPU of the database backends serving that process (its sockets matched to
  ``pg_stat_activity``; backends opened or closed during the run are not counted).
  Ratios custodata / peer.  The READ events of the benchmark person must grow by exactly
  the number of 200 answers (warm-up included), or the run says MISMATCH.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

if __package__ in (None, ""):  # run as a script: make `benchmarks.*` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.service import (
    PURPOSE,
    BenchmarkError,
    _demo_password,
    _wait_ready,
    audit_reads,
    customer_ids,
    engine_url,
    free_port,
    login,
    machine,
)
from benchmarks.service_data import SEED, TEMPLATES, build_served, ensure_seed

from custodata.crypto.kek import default_key_file
from custodata.ops.store import open_ops
from custodata.service import Services
from custodata.service.demo import seed_demo

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "view_wrk.lua"
ROLE = "data_steward"
TICK = os.sysconf("SC_CLK_TCK")
APPS = {"custodata": "custodata.api.app:create_app_from_env", "peer": "benchmarks.peer_app:create_app"}
PATHS = {"custodata": ("/api/v1/customers/", f"?purpose={PURPOSE}"), "peer": ("/peer/customers/", "")}


# ---- processes and their CPU --------------------------------------------------------------------

def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (uvicorn's workers), from ``/proc/<pid>/task/*/children``."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo.extend(int(c) for c in (task / "children").read_text().split())
    return found


def cpu_by_pid(pids: Sequence[int]) -> dict[int, float]:
    """utime + stime of each process still running, in seconds (fields 14 and 15 of ``/proc/<pid>/stat``)."""
    found = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": field 3 onwards
            found[pid] = (int(fields[11]) + int(fields[12])) / TICK
    return found


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two readings by the processes running at both."""
    return sum(after[p] - t for p, t in before.items() if p in after)


def pg_backends(url: str, client_pids: Sequence[int]) -> list[int]:
    """PostgreSQL backend pids serving connections of ``client_pids`` (matched by client port)."""
    inodes = set()
    for pid in client_pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            with contextlib.suppress(OSError):
                link = os.readlink(fd)
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
    local_ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if cols[9] in inodes and cols[2].endswith(":1538"):  # remote port 5432
                    local_ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    engine = sa.create_engine(url)
    try:
        with engine.connect() as con:
            rows = con.execute(sa.text("SELECT pid, client_port FROM pg_stat_activity WHERE client_port IS NOT NULL"))
            return [int(r.pid) for r in rows if r.client_port in local_ports]
    finally:
        engine.dispose()


@contextlib.contextmanager
def server(app: str, data_dir: Path, url: str, *, workers: int, log: Path) -> Iterator[tuple[str, int]]:
    """``app`` under uvicorn on loopback (the same settings for both apps); yields its base URL and pid."""
    port = free_port()
    env = {**os.environ, "CUSTODATA_OUT": str(data_dir.resolve()), "CUSTODATA_DB_URL": url,
           "CUSTODATA_KEK_FILE": str(default_key_file(data_dir).resolve()),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-m", "uvicorn", APPS[app], "--factory", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--no-access-log", "--log-level", "warning", "--no-server-header"]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as log_file:
        proc = subprocess.Popen(cmd, env=env, stdout=log_file, stderr=subprocess.STDOUT, cwd=ROOT)  # noqa: S603
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(base, proc, log)
            yield base, proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# ---- one wrk run --------------------------------------------------------------------------------

@dataclass
class WrkRun:
    engine: str
    app: str
    requests: int
    errors: int  # non-2xx answers and socket errors
    seconds: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_ms: float  # per request
    db_cpu_ms: float | None  # per request, PostgreSQL backends of the server
    audit_added: int | None = None
    audit_ok: bool | None = None


def wrk(base: str, app: str, ids_file: Path, token: str, *, clients: int, threads: int,
        seconds: float) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise BenchmarkError("wrk is not installed: apt-get install wrk (scripts/ensure-services.sh does)")
    prefix, query = PATHS[app]
    env = {**os.environ, "BENCH_IDS": str(ids_file), "BENCH_PATH": prefix, "BENCH_QUERY": query,
           "BENCH_TOKEN": token}
    cmd = ["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{seconds:g}s", "--timeout", "30s",
           "-s", str(LUA), base]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    for line in out.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            result: dict[str, Any] = json.loads(line[len("WRK_JSON "):])
            return result
    raise BenchmarkError(f"wrk gave no result (exit {out.returncode}): {out.stderr.strip()[:300]}")


def measure(engine: str, app: str, base: str, pid: int, url: str, ids_file: Path, token: str,
            args: argparse.Namespace) -> tuple[WrkRun, int]:
    """Warm-up, then the measured run; returns the run and the 200 answers of both (for the audit check)."""
    warm = wrk(base, app, ids_file, token, clients=args.clients, threads=args.threads, seconds=args.warmup)
    pids = _descendants(pid)
    db_pids = pg_backends(url, pids) if engine == "postgresql" else []
    cpu0, db0 = cpu_by_pid(pids), cpu_by_pid(db_pids)
    got = wrk(base, app, ids_file, token, clients=args.clients, threads=args.threads, seconds=args.seconds)
    cpu, db = cpu_spent(cpu0, cpu_by_pid(pids)), cpu_spent(db0, cpu_by_pid(db_pids))
    errors = got["connect"] + got["read"] + got["write"] + got["status"] + got["timeout"]
    answered = max(1, got["requests"])
    secs = got["duration_us"] / 1e6
    run = WrkRun(engine, app, got["requests"], errors, round(secs, 2), round(got["requests"] / secs, 1),
                 round(got["p50_us"] / 1000, 2), round(got["p95_us"] / 1000, 2), round(got["p99_us"] / 1000, 2),
                 round(got["max_us"] / 1000, 2), round(cpu * 1000 / answered, 3),
                 round(db * 1000 / answered, 3) if db_pids else None)
    ok = warm["requests"] - warm["status"] + got["requests"] - got["status"]
    return run, ok


def bench_engine(engine: str, args: argparse.Namespace, say: Any) -> list[WrkRun]:
    data_dir: Path = args.data_dir
    url = engine_url(engine, data_dir)
    if engine == "sqlite":
        ensure_seed(data_dir, args.templates, SEED, say)
    ops = open_ops(url)
    runs: list[WrkRun] = []
    try:
        build_served(ops, data_dir, args.customers, templates=args.templates, say=say)
        svc = Services(ops, data_dir)
        person = next(d for d in seed_demo(svc) if d.role == ROLE)
        ids = customer_ids(args.customers, random.Random(args.seed), count=min(args.customers, 200_000))
        with tempfile.NamedTemporaryFile("w", suffix=".ids", delete=False) as f:
            f.write("\n".join(ids) + "\n")
            ids_file = Path(f.name)
        try:
            for app in args.apps:
                with server(app, data_dir, url, workers=args.workers, log=data_dir / f"wrk-{engine}-{app}.log") as (
                        base, pid):
                    token = login(base, person.person_id, _demo_password(person.person_id), ROLE) \
                        if app == "custodata" else ""
                    before = audit_reads(ops, person.person_id)
                    run, ok = measure(engine, app, base, pid, url, ids_file, token, args)
                    if app == "custodata":
                        time.sleep(0.5)  # wrk stops mid-request: let the last answers' events commit
                        run.audit_added = audit_reads(ops, person.person_id) - before
                        run.audit_ok = run.audit_added >= ok
                    runs.append(run)
                    say(_line(run))
        finally:
            ids_file.unlink(missing_ok=True)
    finally:
        ops.close()
    return runs


def _line(r: WrkRun) -> str:
    db = f"  db {r.db_cpu_ms:.2f} ms/req" if r.db_cpu_ms is not None else ""
    audit = "" if r.audit_ok is None else f"  audit +{r.audit_added:,} {'ok' if r.audit_ok else 'MISMATCH'}"
    errors = f"  ERRORS {r.errors}" if r.errors else ""
    return (f"  {r.engine:<10} {r.app:<9} {r.requests:>7,} req {r.rps:>8,.1f}/s  p50 {r.p50_ms:>7.2f}  "
            f"p95 {r.p95_ms:>7.2f}  p99 {r.p99_ms:>7.2f} ms  server CPU {r.server_cpu_ms:.2f} ms/req{db}{audit}"
            f"{errors}")


def ratio_rows(runs: Sequence[WrkRun]) -> list[dict[str, Any]]:
    peers = {r.engine: r for r in runs if r.app == "peer"}
    rows = []
    for r in runs:
        p = peers.get(r.engine)
        if r.app != "custodata" or p is None:
            continue

        def ratio(a: float | None, b: float | None) -> float | None:
            return round(a / b, 2) if a is not None and b else None

        rows.append({"engine": r.engine, "p50": ratio(r.p50_ms, p.p50_ms), "p95": ratio(r.p95_ms, p.p95_ms),
                     "p99": ratio(r.p99_ms, p.p99_ms), "rps": ratio(r.rps, p.rps),
                     "server_cpu": ratio(r.server_cpu_ms, p.server_cpu_ms),
                     "db_cpu": ratio(r.db_cpu_ms, p.db_cpu_ms)})
    return rows


def table(runs: Sequence[WrkRun]) -> str:
    lines = ["| engine | app | requests | req/s | p50 ms | p95 ms | p99 ms | server CPU ms/req | DB CPU ms/req "
             "| audit READ events |", "|" + "---|" * 10]
    for r in runs:
        audit = "" if r.audit_ok is None else f"+{r.audit_added:,} ({'≥ answers' if r.audit_ok else 'MISMATCH'})"
        db = "" if r.db_cpu_ms is None else f"{r.db_cpu_ms:.2f}"
        lines.append(f"| {r.engine} | {r.app} | {r.requests:,} | {r.rps:,.1f} | {r.p50_ms:.2f} | {r.p95_ms:.2f} "
                     f"| {r.p99_ms:.2f} | {r.server_cpu_ms:.2f} | {db} | {audit} |")
    return "\n".join(lines)


def ratio_table(rows: Sequence[dict[str, Any]]) -> str:
    lines = ["| engine | p50 | p95 | p99 | req/s | server CPU/req | DB CPU/req |", "|" + "---|" * 7]
    for r in rows:
        cells = [f"{r[k]}×" if r[k] is not None else "" for k in ("p50", "p95", "p99", "rps", "server_cpu", "db_cpu")]
        lines.append(f"| {r['engine']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--customers", type=int, default=20_000, help="synthetic customers served (default 20,000)")
    p.add_argument("--engines", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    p.add_argument("--apps", default="custodata,peer", help="comma-separated: custodata, peer")
    p.add_argument("--workers", type=int, default=1, help="uvicorn workers of both apps (default 1)")
    p.add_argument("--clients", type=int, default=50, help="concurrent connections (default 50)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds per run (default 20)")
    p.add_argument("--warmup", type=float, default=5.0, help="warm-up seconds before measuring (default 5)")
    p.add_argument("--templates", type=int, default=TEMPLATES, help="customers the real pipeline runs on")
    p.add_argument("--seed", type=int, default=7, help="seed of the random customer choice")
    p.add_argument("--data-dir", type=Path, default=Path("bench-out/service"),
                   help="kept between runs: seed pipeline output, SQLite store (default bench-out/service)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures as JSON to this file")
    args = p.parse_args(argv)
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    args.apps = [a.strip() for a in args.apps.split(",") if a.strip()]
    for app in args.apps:
        if app not in APPS:
            p.error(f"--apps: {app!r} is not one of {', '.join(APPS)}")
    if args.customers < args.templates:
        p.error(f"--customers must be at least --templates ({args.templates})")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    say = print  # noqa: T202 — a benchmark prints its figures
    say(f"360° view under wrk: {args.customers:,} customers, {args.clients} connections, {args.threads} wrk "
        f"threads, {args.seconds:g} s after {args.warmup:g} s warm-up, uvicorn workers {args.workers}; "
        f"{os.cpu_count()} CPUs shared by server, wrk and database; load average {os.getloadavg()[0]:.1f}")
    runs: list[WrkRun] = []
    for engine in args.engines:
        runs.extend(bench_engine(engine, args, say))
    rows = ratio_rows(runs)
    say("")
    say(table(runs))
    say("")
    say("custodata / peer:")
    say("")
    say(ratio_table(rows))
    report = {"config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "json"},
              "machine": machine(), "runs": [asdict(r) for r in runs], "ratios": rows}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
