"""Retention job figures: the report's seconds, what the shipped policy has due, and one apply and its re-run.

    python benchmarks/retention.py [--customers N] [--nth K]

A demo of N customers (default 20,000) goes through the pipeline; then ``expiry_report``
and ``personal_expiry`` are timed on the shipped policy as of today, and the retention job
is applied as of the K-th earliest personal expiry date (default 5: a handful of erasures,
plus whatever remarks and history have run out by then), then applied again (idempotent).
The scratch folder is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--nth", type=int, default=5)
    args = parser.parse_args()
    from custodata.demo.sources import generate
    from custodata.engine.store import open_store
    from custodata.jobs.retention import RetentionJob
    from custodata.pipeline import Pipeline
    from custodata.retention import expiry_report, load_policy
    from custodata.retention.expiry import personal_expiry
    from custodata.retention.report import DUE_NOW

    base = Path(tempfile.mkdtemp(prefix="cd-bench-retention-"))
    os.environ.setdefault("CUSTODATA_KEK_FILE", str(base / "keys" / "kek.json"))
    try:
        out = base / "out"
        generate(args.customers, 7, base / "raw")
        started = time.perf_counter()
        Pipeline.create(out).run(base / "raw")
        print(f"{args.customers:,} customers generated: pipeline {time.perf_counter() - started:.1f}s")
        policy = load_policy()
        store = open_store(out / "custodata.duckdb", read_only=True)
        try:
            started = time.perf_counter()
            lines = expiry_report(store.engine, policy, policy.today(), months=24)
            report_s = time.perf_counter() - started
            people = personal_expiry(store.engine, policy)
            golden = store.engine.scalar("SELECT count(*) FROM customer.golden")
        finally:
            store.close()
        due = sum(ln.customers for ln in lines if ln.when == DUE_NOW and ln.category == "个人信息")
        print(f"{golden:,} golden customers; report {report_s:.2f}s ({len(lines)} lines); "
              f"customers due today under the shipped policy: {due:,}")
        as_of = sorted({d.expires_on for d in people})[args.nth - 1]
        job = RetentionJob(out)
        started = time.perf_counter()
        outcome = job.apply(as_of)
        apply_s = time.perf_counter() - started
        print(f"apply as of {as_of}: {len(outcome.erased)} customers erased, {sum(outcome.anonymised.values()):,} "
              f"records anonymised, {outcome.archived_rows:,} history rows archived in {apply_s:.1f}s")
        started = time.perf_counter()
        again = job.apply(as_of)
        print(f"re-run: {time.perf_counter() - started:.1f}s, changed: {again.changed}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
