"""Backup and restore figures on SQLite and PostgreSQL, against plain copies of the same data in the same run.

    python benchmarks/backup.py [--customers N] [--engines sqlite,postgresql] [--keep DIR]

A demo of N customers (default 20,000) is generated and run through the pipeline once;
its served view is published to each engine's operational store.  Then, per engine:

* ``custodata`` backup (sealed, manifest, under the store lock) and verify, then a
  restore into a fresh folder / database (verify again, files back, migrate, ledger,
  audit gap and checkpoint);
* the peer: a plain copy of the same files (``shutil.copy2`` of the batch store,
  published files and SQLite file; ``pg_dump --format=custom`` and ``pg_restore``
  for PostgreSQL) — no encryption, no checks, no consistency beyond pg_dump's;

and prints seconds, sizes and the ratio custodata / peer, then the recovery point and
recovery time they imply.  RPO: a backup's moment is its start (the batch store's lock and the
operational snapshot), and it can be used once it has ended, so losing the live store just
before the next backup ends loses ``interval + backup seconds`` — shown for the README's
nightly timer and for the tightest schedule (backups back to back, interval = backup seconds).
RTO: ``restore`` (which verifies the whole backup first, loads, migrates, re-applies erasures,
records the audit gap); starting the service is not counted.  Targets (issue 16): backup
≤ 2 min, restore ≤ 5 min.  Scratch folders and databases are removed unless ``--keep`` is given.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

PG_ADMIN = os.environ.get("CUSTODATA_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def _pg_db() -> tuple[str, str]:
    name = f"cd_bench_backup_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        con.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return name, PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def _drop(name: str) -> None:
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        con.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _world(base: Path, customers: int) -> tuple[Path, float, int, int]:
    """The pipeline run once: (out folder, seconds, source records written, golden customers resolved)."""
    from custodata.demo.sources import generate
    from custodata.engine.store import open_store
    from custodata.pipeline import Pipeline

    out = base / "site" / "out"
    written = generate(customers, 7, base / "raw")
    started = time.perf_counter()
    Pipeline.create(out).run(base / "raw")
    seconds = time.perf_counter() - started
    store = open_store(out / "custodata.duckdb", read_only=True)
    try:
        golden = int(store.engine.scalar("SELECT count(*) FROM customer.golden"))
    finally:
        store.close()
    return out, seconds, sum(written.records.values()), golden


def _publish(out: Path, url: str) -> None:
    from custodata.audit.events import Action, AuditEvent
    from custodata.audit.log import AuditLog
    from custodata.engine.store import open_store
    from custodata.ops import open_ops
    from custodata.serving.publish import publish_served

    ops = open_ops(url, out_dir=out)
    batch = open_store(out / "custodata.duckdb", read_only=True)
    try:
        publish_served(batch, ops)
    finally:
        batch.close()
    log = AuditLog.for_out_dir(ops, out)
    log.append_many([AuditEvent(actor="bench", action=Action.READ, customer_ids=[f"C{i:09d}"])
                     for i in range(1, 10_001)])
    log.checkpoint()
    ops.close()


def _peer_sqlite(out: Path, db_file: Path, dest: Path) -> tuple[float, float, int]:
    started = time.perf_counter()
    dest.mkdir(parents=True)
    shutil.copy2(out / "custodata.duckdb", dest / "custodata.duckdb")
    shutil.copytree(out / "published", dest / "published")
    shutil.copy2(db_file, dest / "ops.sqlite")
    copied = time.perf_counter() - started
    back = dest.parent / "peer-restored"
    started = time.perf_counter()
    shutil.copytree(dest, back)
    return copied, time.perf_counter() - started, _size(dest)


def _peer_pg(out: Path, url: str, dest: Path) -> tuple[float, float, int]:
    from custodata.backup.snapshot import pg_dsn

    dest.mkdir(parents=True)
    dsn, env = pg_dsn(url)
    started = time.perf_counter()
    shutil.copy2(out / "custodata.duckdb", dest / "custodata.duckdb")
    shutil.copytree(out / "published", dest / "published")
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", f"--file={dest / 'ops.dump'}",  # noqa: S607
                    f"--dbname={dsn}"], check=True, env=env)
    copied = time.perf_counter() - started
    name, target = _pg_db()
    try:
        tdsn, tenv = pg_dsn(target)
        started = time.perf_counter()
        shutil.copytree(dest, dest.parent / "peer-restored")
        subprocess.run(["pg_restore", "--no-owner", f"--dbname={tdsn}", str(dest / "ops.dump")],  # noqa: S607
                       check=True, env=tenv)
        restored = time.perf_counter() - started
    finally:
        _drop(name)
    return copied, restored, _size(dest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    from custodata.audit.signing import default_key_path
    from custodata.backup import restore, take_backup, verify_backup

    base = args.keep or Path(tempfile.mkdtemp(prefix="cd-bench-backup-"))
    os.environ.setdefault("CUSTODATA_KEK_FILE", str(base / "keys" / "kek.json"))
    out, run_seconds, records, golden = _world(base, args.customers)
    os.environ["CUSTODATA_AUDIT_KEY"] = str(default_key_path(out))  # restores into new folders use the same key
    print(f"{args.customers:,} customers generated ({records:,} source records, {golden:,} golden customers): "
          f"pipeline {run_seconds:.1f}s, batch store {_size(out / 'custodata.duckdb') / 1048576:,.1f} MiB")
    rows = []
    pg_names: list[str] = []
    try:
        for engine in args.engines.split(","):
            if engine == "sqlite":
                db_file = base / "ops.sqlite"
                url = f"sqlite:///{db_file}"
                target_url = f"sqlite:///{base / 'restored-ops.sqlite'}"
            else:
                name, url = _pg_db()
                pg_names.append(name)
                tname, target_url = _pg_db()
                pg_names.append(tname)
            _publish(out, url)
            dest = base / f"backup-{engine}"
            started = time.perf_counter()
            manifest = take_backup(out, dest, ops_url=url)
            backup_s = time.perf_counter() - started
            started = time.perf_counter()
            verify_backup(dest)
            verify_s = time.perf_counter() - started
            started = time.perf_counter()
            restore(dest, base / f"restored-{engine}" / "out", ops_url=target_url)
            restore_s = time.perf_counter() - started
            size = _size(dest)
            peer_dir = base / f"peer-{engine}" / "copy"
            if engine == "sqlite":
                peer_b, peer_r, peer_size = _peer_sqlite(out, db_file, peer_dir)
            else:
                peer_b, peer_r, peer_size = _peer_pg(out, url, peer_dir)
            rows.append((engine, backup_s, verify_s, restore_s, size, peer_b, peer_r, peer_size,
                         sum(f.size for f in manifest.files)))
    finally:
        for name in pg_names:
            _drop(name)
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    print(f"{'engine':<11}{'backup s':>9}{'verify s':>9}{'restore s':>10}{'sealed MiB':>11}"
          f"{'peer copy s':>12}{'peer rest s':>12}{'peer MiB':>9}{'backup x':>9}{'restore x':>10}{'size x':>7}")
    for engine, b, v, r, size, pb, pr, ps, _plain in rows:
        print(f"{engine:<11}{b:>9.2f}{v:>9.2f}{r:>10.2f}{size / 1048576:>11.1f}{pb:>12.2f}{pr:>12.2f}"
              f"{ps / 1048576:>9.1f}{b / pb:>9.1f}{r / pr:>10.1f}{size / ps:>7.3f}")
    print("(x = custodata / peer; sizes: sealed backup folder vs the plain copy / pg_dump folder, "
          f"plain bytes sealed {', '.join(f'{e} {p / 1048576:,.1f} MiB' for e, *_, p in rows)})")
    print(f"{'engine':<11}{'RPO nightly':>14}{'RPO tightest s':>15}{'RTO s':>8}"
          f"{'backup<=120s':>13}{'restore<=300s':>14}")
    for engine, b, _v, r, *_ in rows:
        print(f"{engine:<11}{'24 h + ' + format(b, '.0f') + ' s':>14}{2 * b:>15.1f}{r:>8.1f}"
              f"{'met' if b <= 120 else 'NOT met':>13}{'met' if r <= 300 else 'NOT met':>14}")

if __name__ == "__main__":
    main()
