"""Audit log figures: append rate (SQLite, PostgreSQL) and the time to verify N entries.

    python benchmarks/audit.py [N] [--engines sqlite,postgresql] [--skip-append] [--skip-verify]

Append: one caller appending alone, 50 threads appending one event each per
request (group commit), and batches of 1,000 via append_many.  Verify: N
entries (default 10,000,000) are written in bulk with hashes computed exactly
as the log computes them, with a signed checkpoint every 1,000, then the real
``custodata.audit.verify.verify`` checks them.  Scratch databases are removed
afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from custodata.audit import tables as t
from custodata.audit.canonical import GENESIS, US, at_text, entry_hash, signed_message
from custodata.audit.events import Action, AuditEvent
from custodata.audit.log import AuditLog
from custodata.audit.signing import CheckpointSigner
from custodata.audit.verify import verify
from custodata.ops import OpsStore, open_ops

PG_ADMIN = os.environ.get("CUSTODATA_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
T0 = dt.datetime(2026, 1, 1)


@contextmanager
def scratch_store(engine: str, folder: Path) -> Iterator[OpsStore]:
    if engine == "sqlite":
        path = folder / f"audit-{uuid.uuid4().hex[:8]}.sqlite"
        store = open_ops(f"sqlite:///{path}")
        try:
            yield store
        finally:
            store.close()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    name = f"cd_bench_audit_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        con.exec_driver_sql(f'CREATE DATABASE "{name}"')
    store = open_ops(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")
    try:
        yield store
    finally:
        store.close()
        with admin.connect() as con:
            con.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def event(i: int) -> AuditEvent:
    return AuditEvent(actor=f"staff{i % 500:04d}", action=Action.READ, role="teller", branch=f"BR{i % 40:03d}",
                      customer_ids=[f"C{i % 1_000_000:09d}"], fields=["name", "mobile"], purpose="service",
                      source_address=f"10.1.{i % 250}.{i % 200}")


def append_rates(engine: str, folder: Path, signer: CheckpointSigner) -> dict[str, float]:
    rates: dict[str, float] = {}
    with scratch_store(engine, folder) as store:
        log = AuditLog(store, signer)
        n = 1000
        started = time.perf_counter()
        for i in range(n):
            log.append(event(i))
        rates["1 caller, one event per append"] = n / (time.perf_counter() - started)

        threads, per = 50, 100
        def work(k: int) -> None:
            for i in range(per):
                log.append(event(k * per + i))
        pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
        started = time.perf_counter()
        for th in pool:
            th.start()
        for th in pool:
            th.join()
        rates["50 threads, one event per append (group commit)"] = threads * per / (time.perf_counter() - started)

        batches = 20
        started = time.perf_counter()
        for b in range(batches):
            log.append_many(event(b * 1000 + i) for i in range(1000))
        rates["append_many, 1,000 per call"] = batches * 1000 / (time.perf_counter() - started)
        assert verify(store, signer.public_key).ok  # noqa: S101 - a benchmark that built a broken chain is void
    return rates


def bulk_rows(n: int, signer: CheckpointSigner, every: int = 1000) -> Iterator[tuple[list[tuple[object, ...]],
                                                                                   list[tuple[object, ...]]]]:
    """Entries 1..n as the log would write them (same canonical text and hash), in chunks, with checkpoints."""
    prev = GENESIS
    rows: list[tuple[object, ...]] = []
    cps: list[tuple[object, ...]] = []
    detail, fields = "{}", '["mobile","name"]'
    for seq in range(1, n + 1):
        at = T0 + dt.timedelta(microseconds=seq * 3_000_017)
        at_s = at_text(at)
        actor, branch = f"staff{seq % 500:04d}", f"BR{seq % 40:03d}"
        ids = f'["C{seq % 1_000_000:09d}"]'
        addr = f"10.1.{seq % 250}.{seq % 200}"
        text = US.join((prev, str(seq), at_s, actor, "teller", branch, "read", "ok", ids, "1", fields, "service",
                        addr, "", detail, "custodata"))
        h = entry_hash(text)
        rows.append((seq, at_s, actor, "teller", branch, "read", "ok", ids, 1, fields, "service", addr, "",
                     detail, "custodata", prev, h))
        if seq % every == 0:
            cp_at = at + dt.timedelta(seconds=1)
            cps.append((seq, h, at_text(cp_at), signer.key_id, signer.sign(signed_message(seq, h, cp_at))))
        prev = h
        if len(rows) == 100_000 or seq == n:
            yield rows, cps
            rows, cps = [], []


COLS = ("seq", "at", "actor", "role", "branch", "action", "result", "customer_ids", "customer_count", "fields",
        "purpose", "source_address", "reason", "detail", "system", "prev_hash", "hash")


def bulk_load(store: OpsStore, n: int, signer: CheckpointSigner) -> float:
    """Write n entries directly (indexes dropped and rebuilt around the load); returns seconds."""
    started = time.perf_counter()
    indexes = list(t.audit_event.indexes)
    with store.begin() as con:
        for ix in indexes:
            ix.drop(con)
    raw = store.engine.raw_connection()
    last_hash = GENESIS
    try:
        cur = raw.cursor()
        if store.dialect == "sqlite":
            cur.execute("PRAGMA synchronous=OFF")
            ins = f"INSERT INTO audit_event ({','.join(COLS)}) VALUES ({','.join('?' * len(COLS))})"
            cins = "INSERT INTO audit_checkpoint (seq, hash, at, key_id, signature) VALUES (?,?,?,?,?)"
            for rows, cps in bulk_rows(n, signer):
                cur.executemany(ins, rows)
                cur.executemany(cins, cps)
                last_hash = str(rows[-1][-1])
        else:
            for rows, cps in bulk_rows(n, signer):
                with cur.copy(f"COPY audit_event ({','.join(COLS)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    for r in rows:
                        copy.write_row(r)
                with cur.copy("COPY audit_checkpoint (seq, hash, at, key_id, signature) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    for c in cps:
                        copy.write_row(c)
                last_hash = str(rows[-1][-1])
        raw.commit()
    finally:
        raw.close()
    with store.begin() as con:
        for ix in indexes:
            ix.create(con)
        con.execute(sa.delete(t.audit_head))
        con.execute(t.audit_head.insert().values(id=1, seq=n, hash=last_hash, floor_seq=0))
    if store.dialect == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as con:
            con.exec_driver_sql("VACUUM ANALYZE audit_event")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", nargs="?", type=int, default=10_000_000, help="entries to verify")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--skip-append", action="store_true")
    parser.add_argument("--skip-verify", action="store_true")
    parser.add_argument("--dir", type=Path, default=None, help="scratch folder for SQLite files")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="custodata-audit-bench-", dir=args.dir))
    signer = CheckpointSigner(folder / "audit-signing.pem")
    print(f"cores: {os.cpu_count()}")
    try:
        for engine in args.engines.split(","):
            if not args.skip_append:
                for what, rate in append_rates(engine, folder, signer).items():
                    print(f"{engine:10s} append  {what:50s} {rate:10,.0f} events/s", flush=True)
            if not args.skip_verify:
                with scratch_store(engine, folder) as store:
                    load = bulk_load(store, args.n, signer)
                    print(f"{engine:10s} bulk load of {args.n:,} entries: {load:,.0f}s", flush=True)
                    report = verify(store, signer.public_key)
                    status = "ok" if report.ok else f"FAILED: {report.problem}"
                    print(f"{engine:10s} verify  {report.checked:,} entries, {report.checkpoints:,} signed "
                          f"checkpoints: {report.seconds:.1f}s ({report.checked / report.seconds:,.0f} entries/s, "
                          f"{status})", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
