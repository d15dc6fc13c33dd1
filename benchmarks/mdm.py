"""Master-data benchmark: an approved correction until it is visible in the served 360° view.

    .venv/bin/python benchmarks/mdm.py                       # 20,000 customers, SQLite operational store
    .venv/bin/python benchmarks/mdm.py --customers 1000000 --db postgresql+psycopg://postgres@127.0.0.1/mdm

Generates the demo group's exports (``custodata.demo.sources``, fixed seed), runs
the pipeline once, then applies the same kind of steward correction (a customer's
name) alternately with incremental derivation (``Pipeline.derive = "incremental"``:
only the affected customers and their neighbours are derived and served again) and
with the old full rebuild (``"full"``: every golden record, relationship, layer row,
and a whole new served generation).  "Visible" is from the call until the served row
with the new name is committed in the operational store (checked by reading it back);
the incremental path then still rewrites the published Parquet files, reported apart.

``--creates N`` then measures search before create through the service layer, as the API
does it: a front-desk clerk's ``create_customer`` (a job the worker thread applies: the
duplicate check with the trained model, the one-record ``mdm`` batch, incremental
derivation, the served row) until the new customer is found by ``search`` — create →
searchable — and the refusal of a near-duplicate (the same name and mobile typed
differently) until its masked candidates are back.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

SEED = 2027
NAMES = ("赵新名", "钱更正", "孙核实", "李修订", "周确认", "吴复核")


def _served_name(ops_url: str, customer_id: str) -> str | None:
    from custodata.ops import open_ops
    from custodata.serving.tables import ACTIVE, served_customer, served_generation

    ops = open_ops(ops_url)
    try:
        with ops.read() as con:
            gen = con.execute(sa.select(served_generation.c.generation)
                              .where(served_generation.c.status == ACTIVE)).scalar_one()
            return con.execute(sa.select(served_customer.c.name).where(
                served_customer.c.generation == gen, served_customer.c.customer_id == customer_id)).scalar()
    finally:
        ops.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--customers", type=int, default=20_000, help="true customers to generate (default 20000)")
    parser.add_argument("--repeats", type=int, default=3, help="corrections per mode (default 3)")
    parser.add_argument("--folder", type=Path, help="working folder (default: a new temporary one)")
    parser.add_argument("--db", help="operational store URL (default: SQLite in the data folder)")
    parser.add_argument("--creates", type=int, default=0, help="creates after search to time (default 0)")
    parser.add_argument("--reuse", action="store_true",
                        help="the folder already holds a run of these customers: skip generating and the first run")
    parser.add_argument("--full-repeats", type=int, help="full-rebuild corrections to time (default: --repeats)")
    parser.add_argument("--merges", type=int, default=0, help="merges, each then unmerged, to time (default 0)")
    parser.add_argument("--batch", type=int, default=0,
                        help="records of a delta batch (half changed, half new) to time incrementally (default 0)")
    args = parser.parse_args()

    from custodata.demo.sources import generate
    from custodata.pipeline import Pipeline

    folder = args.folder or Path(tempfile.mkdtemp(prefix="mdm-bench-"))
    raw, out = folder / "raw", folder / "out"
    ops_url = args.db or f"sqlite:///{out / 'ops.sqlite'}"
    pipeline = Pipeline.create(out)
    pipeline.ops_url = ops_url
    pipeline.files_later = True  # as the job worker runs changes: the served view first, files when idle
    import duckdb

    if args.reuse:
        full_run = float(json.loads((folder / "first_run.json").read_text())["seconds"])
        print(f"reusing {out} (its first run took {full_run:.1f}s)")
    else:
        t0 = time.perf_counter()
        generate(args.customers, SEED, raw)
        print(f"generated {args.customers:,} customers in {time.perf_counter() - t0:.1f}s")
        t0 = time.perf_counter()
        pipeline.run(raw)
        full_run = time.perf_counter() - t0
        (folder / "first_run.json").write_text(json.dumps({"seconds": full_run}))
    con = duckdb.connect(str(pipeline.store_path), read_only=True)
    golden = int(con.execute("SELECT count(*) FROM customer.golden").fetchone()[0])  # type: ignore[index]
    print(f"pipeline run (full, from the exports): {golden:,} golden customers in {full_run:.1f}s")
    ids = [r[0] for r in con.execute(
        "SELECT customer_id FROM customer.golden WHERE kind = 'individual' ORDER BY hash(customer_id) LIMIT ?",
        [2 * args.repeats + 4 * args.merges + 1]).fetchall()]
    con.close()

    # the first change after a full run builds the look-up indexes (engine/lookups.py) the run dropped
    first = ids.pop()
    t0 = time.perf_counter()
    pipeline.derive = "incremental"
    pipeline.steward("correct", customer_id=first, field="name", value="首次更正", reason="benchmark", by="bench")
    print(f"  first change after the full run (look-up indexes built): visible {pipeline.timings['visible']:.2f}s")
    results: dict[str, list[dict[str, float]]] = {"incremental": [], "full": []}
    full_repeats = args.repeats if args.full_repeats is None else args.full_repeats
    for i in range(args.repeats):
        for mode in ("incremental", "full") if i < full_repeats else ("incremental",):
            cid = ids.pop()
            name = NAMES[i % len(NAMES)]
            pipeline.derive = mode
            t0 = time.perf_counter()
            pipeline.steward("correct", customer_id=cid, field="name", value=name, reason="benchmark", by="bench")
            total = time.perf_counter() - t0
            if _served_name(ops_url, cid) != name:
                raise SystemExit(f"the corrected name of {cid} is not served after a {mode} derivation")
            results[mode].append({**pipeline.timings, "total": total})
            print(f"  {mode:<11} {cid}: visible {pipeline.timings['visible']:.2f}s, call {total:.2f}s")

    def med(mode: str, key: str) -> float:
        return statistics.median(r.get(key, 0.0) for r in results[mode]) if results[mode] else float("nan")

    inc, full = med("incremental", "visible"), med("full", "visible")
    visible = [r["visible"] for r in results["incremental"]]
    print()
    print(f"customers: {golden:,}  operational store: {sa.make_url(ops_url).get_backend_name()}  "
          f"corrections: {args.repeats} incremental, {full_repeats} full (median)")
    print("| path | derive (s) | correction → visible (s) | whole call (s) |")
    print("|---|---:|---:|---:|")
    for mode in ("incremental", "full"):
        print(f"| {mode} | {med(mode, 'derive'):.2f} | {med(mode, 'visible'):.2f} | {med(mode, 'total'):.2f} |")
    if visible:
        print(f"correction → visible, incremental: p50 {_pct(visible, 0.5):.2f}s p95 {_pct(visible, 0.95):.2f}s")
    if full_repeats:
        print(f"incremental is {full / inc:.0f}× faster to visible ({inc:.2f}s vs {full:.2f}s)")
    if args.merges:
        _merges(pipeline, ops_url, ids, args.merges)
    if args.creates:
        _creates(out, ops_url, args.creates)
    if args.batch:
        _batch(pipeline, raw, folder, args.batch, full_run)


def _merges(pipeline: Any, ops_url: str, ids: list[str], n: int) -> None:
    """Merge two customers, then unmerge them: each until served (the absorbed id redirects, then is back)."""
    merged, split = [], []
    for _ in range(n):
        survivor, absorbed = ids.pop(), ids.pop()
        pipeline.derive = "incremental"
        pipeline.steward("merge", survivor=survivor, absorbed=absorbed, reason="benchmark")
        merged.append(pipeline.timings["visible"])
        if _served_name(ops_url, absorbed) is not None:
            raise SystemExit(f"{absorbed} is still served on its own after the merge")
        pipeline.steward("unmerge", customer_id=survivor, reason="benchmark")
        split.append(pipeline.timings["visible"])
        print(f"  merge {absorbed} into {survivor}: visible {merged[-1]:.2f}s; unmerge {split[-1]:.2f}s")
    print("| steward change (incremental) | p50 (s) | p95 (s) |")
    print("|---|---:|---:|")
    print(f"| merge → visible | {_pct(merged, 0.5):.2f} | {_pct(merged, 0.95):.2f} |")
    print(f"| unmerge → visible | {_pct(split, 0.5):.2f} | {_pct(split, 0.95):.2f} |")


def _batch(pipeline: Any, raw: Path, folder: Path, n: int, full_run: float) -> None:
    """A delta export of the auto-policy system: ``n`` records, half changed (a new address), half new policies."""
    import csv

    delta = folder / f"delta-{n}"
    shutil.rmtree(delta, ignore_errors=True)
    shutil.copytree(raw, delta)
    path = delta / "auto_policies.csv"
    with path.open(encoding="utf-8", errors="surrogateescape", newline="") as f:  # its broken rows stay broken
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    address, updated, number = header.index("TBR_DZ"), header.index("XGSJ"), header.index("BDH")
    rng = random.Random(SEED)
    whole = [r for r in body if len(r) == len(header)]  # the malformed rows of the export are left out
    picked = rng.sample(whole, min(n, len(whole)))
    out = []
    for i, row in enumerate(picked):
        row = list(row)
        if i % 2:  # a new policy of the same holder
            row[number] = f"PDBENCH{i:012d}"
        else:  # the holder moved
            row[address] = f"上海市浦东新区世纪大道{100 + i % 900}号{i % 30 + 1}楼"
        row[updated] = "2026-12-01 09:00:00"
        out.append(row)
    with path.open("w", encoding="utf-8", errors="surrogateescape", newline="") as f:
        csv.writer(f).writerows([header, *out])
    t0 = time.perf_counter()
    summary = pipeline.run(delta, derive="incremental")
    took = time.perf_counter() - t0
    mode = summary.resolution.mode if summary.resolution else "?"
    print(f"| delta batch of {len(out):,} records, incremental (resolution {mode}) | {took:.1f}s | "
          f"{100 * took / full_run:.1f} % of the full run ({full_run:.1f}s) | {summary.outputs.get('served')} |")
    print("  stages: " + ", ".join(f"{k} {v:.1f}s" for k, v in summary.stage_seconds.items()))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _creates(out: Path, ops_url: str, n: int) -> None:
    """Create → searchable and duplicate refusal, through the service layer with the worker in a thread."""
    from custodata.engine import profile
    from custodata.identity.demo import DEMO_PEOPLE, seed_demo_people
    from custodata.jobs.worker import WorkerThread, make_worker
    from custodata.ops import open_ops
    from custodata.service import Services, auth, customers
    from custodata.service.create import create_customer

    # each round is two identifier uses (the create, the near-duplicate): a minute passes between
    # rounds so the per-person rate cap (5 a minute) is not what the benchmark measures
    # and each run of the benchmark on the same store is a day after the one before: the front desk's
    # daily identifier-use limit (40) would otherwise refuse the third run of a day
    runs = out / "create_bench_runs"
    done_runs = int(runs.read_text()) if runs.exists() else 0
    runs.write_text(str(done_runs + 1))
    skew = [dt.timedelta(days=done_runs)]
    svc = Services(open_ops(ops_url, out_dir=out), out,
                   clock=lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None) + skew[0])
    seed_demo_people(svc.directory)
    login = next(p for p in DEMO_PEOPLE if p.role == "front_desk")
    session = auth.login(svc, login.person_id, login.password)
    front = auth.authenticate(svc, session.token)
    thread = WorkerThread(make_worker(svc), poll_seconds=1.0)
    thread.start()
    searchable, refused = [], []
    run = random.randrange(10**6)
    try:  # one create first, untimed: the worker's first job pays for imports and a cold store
        create_customer(svc, front, {"name": "预热客户", "mobile": f"137{run:08d}"}, purpose="customer_service",
                        wait=120)
        skew[0] += dt.timedelta(seconds=61)
        profile.reset()  # CUSTODATA_ENGINE_PROFILE: the timed creates only, not the warm-up
        for i in range(n):
            k = run + i  # new people every run: an earlier run's creates would be their duplicates
            name = f"建档{chr(0x4E00 + 37 * k % 20_000)}{chr(0x4E00 + (53 * k + 7) % 20_000)}"
            mobile = f"138{(k * 7_919_113 + 24_681_357) % 100_000_000:08d}"
            t0 = time.perf_counter()
            done = create_customer(svc, front, {"name": name, "mobile": mobile}, purpose="customer_service",
                                   wait=60)
            while not customers.search(svc, front, name=name, purpose="customer_service"):
                time.sleep(0.01)
            searchable.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            dup = create_customer(svc, front, {"name": f" {name} ", "mobile": f"+86 {mobile[:3]}-{mobile[3:]}"},
                                  purpose="customer_service", wait=60)
            refused.append(time.perf_counter() - t0)
            skew[0] += dt.timedelta(seconds=61)
            print(f"  create {done.customer_id}: searchable {searchable[-1]:.2f}s; near-duplicate "
                  f"{dup.status} in {refused[-1]:.2f}s")
    finally:
        thread.stop()
        svc.close()
        profile.dump()
    print("| search before create | p50 (s) | p95 (s) |")
    print("|---|---:|---:|")
    print(f"| create → searchable | {_pct(searchable, 0.5):.2f} | {_pct(searchable, 0.95):.2f} |")
    print(f"| near-duplicate → refused (409) | {_pct(refused, 0.5):.2f} | {_pct(refused, 0.95):.2f} |")


if __name__ == "__main__":
    main()
