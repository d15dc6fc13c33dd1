"""Scale benchmark: the user's own command, raw exports → published, at 1M and 10M source records.

    .venv/bin/python benchmarks/scale.py                                   # ~1M source records
    .venv/bin/python benchmarks/scale.py --customers 400000,4000000 --workdir /data/scale
    .venv/bin/python benchmarks/scale.py --customers 20000 --no-peer       # a quick look

For each size the raw exports are generated once (``custodata generate --customers N --seed
11``, ~2.5 source records per customer) and kept in ``WORKDIR/cN/raw``; then
``custodata run RAW --out WORKDIR/cN/ours --json`` runs in a child process, exactly as a user
types it (landing, customer domain, resolution, layer, relationships, publish into the
operational store, compaction).  Its wall time and peak resident memory are the child's own
(``wait4``), so the benchmark's memory never mixes in.  ``CUSTODATA_MEMORY_LIMIT`` is passed
through (``--memory-limit``; default: the engine's default share of the machine).

The peer, in the same run and on the same data, is plain Splink (``benchmarks/resolution.py``'s
set-up over our store's person observations), so the resolution stage is reported as a ratio to
it and both are scored against the generator's truth: pairwise precision, recall and F1 on
persons.  Targets (issue 12): 1M in ≤ 6 min at ≤ 4 GB; 10M in ≤ 60 min at ≤ 12 GB; resolution
≤ 2.5× plain Splink's time; F1 no lower than before.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks.resolution` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.resolution import export_clusters, pairwise_metrics, run_worker

SEED = 11
CLI = Path(sys.executable).with_name("custodata")


def _child(cmd: list[str], env: dict[str, str], log: Path) -> tuple[int, float, float, str]:
    """Run ``cmd``; its exit code, wall seconds, peak RSS (MiB) and standard output."""
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as err, subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=err, env=env, text=True,
    ) as proc:
        out = proc.stdout.read() if proc.stdout else ""
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.perf_counter() - started, usage.ru_maxrss / 1024, out


def generate(folder: Path, customers: int) -> dict[str, Any]:
    raw = folder / "raw"
    if (raw / "ground_truth.csv").exists() and (raw / "generation.json").exists():
        return {"reused": True}
    shutil.rmtree(raw, ignore_errors=True)
    code, wall, _, out = _child([str(CLI), "generate", "--out", str(raw), "--customers", str(customers),
                                 "--seed", str(SEED)], dict(os.environ), folder / "generate.log")
    if code:
        raise SystemExit(f"custodata generate failed (exit {code}); see {folder / 'generate.log'}")
    print(f"  {out.strip()}", file=sys.stderr)
    return {"reused": False, "seconds": wall}


def run_ours(folder: Path, memory_limit: str | None) -> dict[str, Any]:
    out = folder / "ours"
    shutil.rmtree(out, ignore_errors=True)  # a fresh store: a second run would only load what is new
    env = dict(os.environ)
    if memory_limit:
        env["CUSTODATA_MEMORY_LIMIT"] = memory_limit
    log = folder / "run.log"
    code, wall, peak, stdout = _child([str(CLI), "run", str(folder / "raw"), "--out", str(out), "--json"],
                                      env, log)
    if code:
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-20:])
        raise SystemExit(f"custodata run failed (exit {code}, peak {peak:,.0f} MiB):\n{tail}")
    summary = json.loads(stdout)
    return {"wall": wall, "peak_mb": peak, "stages": summary["stage_seconds"],
            "read": sum(s["read"] for s in summary["sources"]),
            "customers": sum(summary["customers_by_type"].values())}


def report(rows: list[dict[str, Any]]) -> str:
    stages = sorted({s for r in rows for s in r["ours"]["stages"]},
                    key=lambda s: min(list(r["ours"]["stages"]).index(s) for r in rows if s in r["ours"]["stages"]))
    lines = ["| | " + " | ".join(f"{r['ours']['read']:,} records" for r in rows) + " |",
             "|---|" + "---:|" * len(rows)]

    def row(label: str, cells: list[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("customers", [f"{r['ours']['customers']:,}" for r in rows])
    row("memory limit", [r["memory_limit"] or "default" for r in rows])
    for s in stages:
        row(f"stage {s} (s)", [f"{r['ours']['stages'].get(s, 0):.1f}" for r in rows])
    row("**wall, custodata run (s)**", [f"**{r['ours']['wall']:.0f}**" for r in rows])
    row("**peak RSS (MiB)**", [f"**{r['ours']['peak_mb']:,.0f}**" for r in rows])
    row("F1 / precision / recall (persons)",
        [f"{r['f1']['ours']['f1']:.4f} / {r['f1']['ours']['precision']:.4f} / {r['f1']['ours']['recall']:.4f}"
         for r in rows])
    if any("plain" in r for r in rows):
        row("plain Splink: seconds / peak MiB",
            [f"{sum(r['plain']['stages'].values()):.0f} / {r['plain']['peak_mb']:,.0f}" if "plain" in r else "—"
             for r in rows])
        row("plain Splink F1", [f"{r['f1']['plain']['f1']:.4f}" if "plain" in r else "—" for r in rows])
        row("resolution ÷ plain Splink (time)",
            [f"{r['ours']['stages'].get('resolve', 0) / sum(r['plain']['stages'].values()):.2f}×"
             if "plain" in r else "—" for r in rows])
        row("peak RSS ÷ plain Splink", [f"{r['ours']['peak_mb'] / r['plain']['peak_mb']:.2f}×"
                                         if "plain" in r else "—" for r in rows])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", default="400000",
                        help="comma-separated true-customer counts (~2.5 source records each)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/custodata-scale"))
    parser.add_argument("--memory-limit", default=None,
                        help="CUSTODATA_MEMORY_LIMIT for the run, e.g. 3GB (default: the engine's share)")
    parser.add_argument("--no-peer", action="store_true", help="skip plain Splink")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    rows = []
    for n in (int(x) for x in args.customers.split(",")):
        folder = args.workdir / f"c{n}"
        folder.mkdir(parents=True, exist_ok=True)
        print(f"{n:,} customers in {folder}", file=sys.stderr)
        row: dict[str, Any] = {"customers_generated": n, "memory_limit": args.memory_limit,
                               "generate": generate(folder, n)}
        row["ours"] = run_ours(folder, args.memory_limit)
        print(f"  custodata run: {row['ours']['wall']:.0f}s, peak {row['ours']['peak_mb']:,.0f} MiB", file=sys.stderr)
        export_clusters(folder)
        systems: tuple[str, ...] = ("ours",)
        if not args.no_peer:
            row["plain"] = run_worker("plain", "generated", folder)
            systems = ("ours", "plain")
        row["f1"] = pairwise_metrics(folder, systems)
        rows.append(row)
        print(report(rows), file=sys.stderr)
    print(report(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
