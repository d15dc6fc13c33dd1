"""Taking a backup while the service runs: one consistent moment of both stores, sealed as it is read.

The moment is the batch store's lock.  DuckDB lets one process write its file; a
read-only open takes a shared lock that no writer can take beside it, so while the
backup holds it the pipeline and the job worker cannot change the batch store, the
published files (written under the store) or the served view (published from it).
The backup waits for that lock (``wait_seconds``: a pipeline run in progress ends,
the job worker lets go when its queue is idle), then, holding it:

* seals the batch store file (and its write-ahead log, if one is left) byte for byte,
  and the published files;
* snapshots the operational store — SQLite through its online backup API, which
  copies a consistent image while the service keeps reading and writing;
  PostgreSQL with ``pg_dump`` under an exported snapshot, in whose transaction the
  audit head and counts are read, so the manifest states exactly what the dump holds;
* reads the audit chain head and last signed checkpoint from that snapshot.

The service is never stopped: audit events and requests written after the snapshot
are simply not in this backup (the restore detects and records their loss).  The lock
is held for the seconds the files take to read; a job the worker starts meanwhile
waits on the store lock (:func:`custodata.engine.store.open_store`).

Key material never goes in: only the files named here are read (never the key folder,
never a legacy ``OUT/keys``), and a target inside a key folder, or holding one, is
refused.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import secrets
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from custodata.backup.ledger import ledger_head, ledger_path
from custodata.backup.manifest import FILES, MANIFEST, FileEntry, Header, Manifest
from custodata.backup.sealing import BackupError, seal_bytes, seal_file, seal_stream, wrap_context
from custodata.engine import BatchEngine, file_engine
from custodata.errors import StoreLockedError
from custodata.private_files import private_dir, private_file

STORE_FILE = "custodata.duckdb"
CONFIG_ENVS = ("CUSTODATA_AUDIT_CONFIG", "CUSTODATA_IDENTITY_CONFIG")


def key_locations(out_dir: Path) -> list[Path]:
    """Every folder or file that holds key material for ``out_dir``: never inside a backup, nor it inside them."""
    from custodata.audit.signing import default_key_path
    from custodata.crypto.kek import LEGACY_KEY_DIR, default_key_dir, default_key_file

    found = [default_key_file(out_dir).parent, default_key_dir(out_dir), default_key_path(out_dir).parent,
             out_dir / LEGACY_KEY_DIR]
    for env in ("CUSTODATA_AUDIT_KEY", "CUSTODATA_CONSOLE_KEY_FILE"):
        if os.environ.get(env):
            found.append(Path(os.environ[env]).parent)
    return [p.resolve() for p in dict.fromkeys(found)]


def _check_target(out_dir: Path, target: Path) -> None:
    resolved = target.resolve()
    if resolved.is_relative_to(out_dir.resolve()):
        raise BackupError(f"{target}: the backup target is inside the data folder {out_dir}; a backup must live "
                          "apart from what it protects (another volume or host)")
    for keys in key_locations(out_dir):
        if keys.is_relative_to(resolved):
            raise BackupError(f"{target}: the key folder {keys} is inside the backup target; key material never "
                              "goes into a data backup — move the keys out (CUSTODATA_KEY_DIR) or back up elsewhere")
        if resolved.is_relative_to(keys):
            raise BackupError(f"{target}: the backup target is inside the key folder {keys}; keep data backups "
                              "and key backups apart")
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target}: the backup target exists and is not empty; give a new folder per backup")


@contextmanager
def batch_store_lock(path: Path, wait_seconds: float) -> Iterator[BatchEngine]:
    """A read-only engine on the batch store, taken as soon as no writer holds it (or a clear refusal)."""
    try:
        engine = file_engine(path, read_only=True, wait_seconds=wait_seconds)
    except StoreLockedError:
        raise BackupError(f"{path}: the batch store stayed locked by a writer for {wait_seconds:.0f} s "
                          "(a pipeline run or the job worker); try again, or raise --wait") from None
    try:
        yield engine
    finally:
        engine.close()


def _ops_state(fetch: Any) -> dict[str, Any]:
    """Audit head, last checkpoint, migration revision and served count, through ``fetch(sql)``."""
    head = fetch("SELECT seq, hash, floor_seq FROM audit_head WHERE id = 1")
    cp = fetch("SELECT seq, hash, at, key_id, signature FROM audit_checkpoint ORDER BY seq DESC LIMIT 1")
    rev = fetch("SELECT version_num FROM alembic_version")
    served = fetch("SELECT count(*) FROM served_customer WHERE generation = "
                   "(SELECT max(generation) FROM served_generation WHERE status = 'active')")
    return {
        "audit_head": {"seq": int(head[0]), "hash": str(head[1]), "floor_seq": int(head[2])} if head
        else {"seq": 0, "hash": "", "floor_seq": 0},
        "last_checkpoint": {"seq": int(cp[0]), "hash": str(cp[1]), "at": str(cp[2]), "key_id": str(cp[3]),
                            "signature": str(cp[4])} if cp else None,
        "migration_revision": str(rev[0]) if rev else None,
        "served": int(served[0]) if served else 0,
    }


def _sqlite_fetcher(con: sqlite3.Connection) -> Any:
    def fetch(sql: str) -> Any:
        try:
            return con.execute(sql).fetchone()
        except sqlite3.Error:
            return None
    return fetch


def pg_tool(name: str) -> str:
    """The full path of a PostgreSQL client program, or a clear refusal naming what to install."""
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed: install the PostgreSQL client of the server's version")
    return found


def pg_dsn(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, and the environment that gives it to pg_dump/pg_restore."""
    parsed = sa.make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    return parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def _snapshot_pg(url: str, files: Path, key: bytes, backup_id: str) -> tuple[FileEntry, dict[str, Any]]:
    """``pg_dump`` under an exported snapshot; the audit head read in that same snapshot."""
    from custodata.ops.store import make_engine

    name = "ops/pg_dump.custom"
    sealed_path = files / f"{name}.sealed"
    private_dir(sealed_path.parent)
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as con:
            snapshot = con.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()

            def fetch(sql: str) -> Any:
                try:
                    with con.begin_nested():
                        return con.execute(sa.text(sql)).fetchone()
                except sa.exc.DBAPIError:
                    return None
            state = _ops_state(fetch)
            state["server_version"] = str(con.execute(sa.text("SHOW server_version")).scalar_one())
            dsn, env = pg_dsn(url)
            proc = subprocess.Popen(  # noqa: S603  (fixed argv, no shell)
                [pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}",
                 f"--dbname={dsn}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
            with proc:  # closes every pipe, whatever happens
                assert proc.stdout is not None  # noqa: S101
                with sealed_path.open("xb") as dst:
                    sealed = seal_stream(proc.stdout, dst, key, backup_id, name)
                _, err = proc.communicate()
            if proc.returncode != 0:
                first = err.decode("utf-8", "replace").strip().splitlines()[:1]
                raise BackupError(f"pg_dump failed: {first[0] if first else proc.returncode}")
    finally:
        engine.dispose()
    private_file(sealed_path)
    return FileEntry(name, "ops_pg_dump", "", sealed.size, sealed.sha256, sealed.sealed_size), state


def _snapshot_sqlite(db_file: Path, files: Path, staging: Path, key: bytes,
                     backup_id: str) -> tuple[FileEntry, dict[str, Any]]:
    """SQLite's online backup API into a private staging file, sealed, then removed."""
    if not db_file.exists():
        raise BackupError(f"{db_file}: the operational store does not exist")
    copy = staging / "ops.sqlite"
    src = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    dst = sqlite3.connect(copy)
    try:
        src.backup(dst)  # a consistent image while other connections keep writing
        dst.execute("PRAGMA journal_mode=DELETE")
        state = _ops_state(_sqlite_fetcher(dst))
    finally:
        dst.close()
        src.close()
    name = "ops/custodata.sqlite"
    sealed_path = files / f"{name}.sealed"
    private_dir(sealed_path.parent)
    try:
        sealed = seal_file(copy, sealed_path, key, backup_id, name)
    finally:
        copy.unlink(missing_ok=True)
    state["server_version"] = sqlite3.sqlite_version
    return FileEntry(name, "ops_sqlite", "custodata.sqlite", sealed.size, sealed.sha256, sealed.sealed_size), state


def _seal(path: Path, files: Path, name: str, role: str, target: str, key: bytes, backup_id: str) -> FileEntry:
    sealed_path = files / f"{name}.sealed"
    private_dir(sealed_path.parent)
    sealed = seal_file(path, sealed_path, key, backup_id, name)
    return FileEntry(name, role, target, sealed.size, sealed.sha256, sealed.sealed_size)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"duckdb": version("duckdb"), "sqlalchemy": sa.__version__, "sqlite": sqlite3.sqlite_version}
    try:
        found["custodata"] = version("custodata")
    except PackageNotFoundError:
        found["custodata"] = "unknown"
    return found


def take_backup(out_dir: Path, target: Path, *, ops_url: str | None = None, config_files: Sequence[Path] = (),
                wait_seconds: float = 120.0) -> Manifest:
    """Back up the deployment of ``out_dir`` into the new folder ``target``; the manifest it sealed there."""
    from custodata.audit.retention import load_settings
    from custodata.crypto.kek import load_provider
    from custodata.ops.store import default_url

    started = time.perf_counter()
    store_path = out_dir / STORE_FILE
    if not store_path.exists():
        raise BackupError(f"no custodata store in {out_dir}: nothing to back up")
    _check_target(out_dir, target)
    url = ops_url or default_url(out_dir)
    dialect = sa.make_url(url).get_backend_name()
    if dialect not in ("sqlite", "postgresql"):
        raise BackupError(f"the operational store runs on SQLite or PostgreSQL, not {dialect}")
    configs = [Path(os.environ[e]) for e in CONFIG_ENVS if os.environ.get(e)] + list(config_files)
    for cfg in configs:
        if not cfg.is_file():
            raise BackupError(f"{cfg}: configuration file not found")
        if any(cfg.resolve().is_relative_to(k) for k in key_locations(out_dir)):
            raise BackupError(f"{cfg}: lies in a key folder; key material never goes into a data backup")

    provider = load_provider(out_dir, create=False)
    backup_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(4)
    key = secrets.token_bytes(32)
    kek_version, wrapped = provider.wrap(key, wrap_context(backup_id))

    private_dir(target)
    files = private_dir(target / FILES)
    staging = private_dir(target / ".staging")
    entries: list[FileEntry] = []
    try:
        with batch_store_lock(store_path, wait_seconds) as con:
            entries.append(_seal(store_path, files, "batch/custodata.duckdb", "batch_store", STORE_FILE, key,
                                 backup_id))
            wal = store_path.with_name(STORE_FILE + ".wal")
            if wal.exists():
                entries.append(_seal(wal, files, "batch/custodata.duckdb.wal", "batch_wal", wal.name, key, backup_id))
            published = out_dir / "published"
            if published.is_dir():
                for path in sorted(published.iterdir()):
                    if path.is_file() and (path.suffix == ".parquet" or path.name == ".stale"):
                        entries.append(_seal(path, files, f"published/{path.name}", "published",
                                             f"published/{path.name}", key, backup_id))
            if dialect == "sqlite":
                db_file = Path(sa.make_url(url).database or "")
                entry, state = _snapshot_sqlite(db_file, files, staging, key, backup_id)
            else:
                entry, state = _snapshot_pg(url, files, key, backup_id)
            entries.append(entry)
            counts = {"served": state["served"], **_batch_counts(con)}
        summary = out_dir / "run_summary.json"
        if summary.exists():
            entries.append(_seal(summary, files, "config/run_summary.json", "config", "run_summary.json", key,
                                 backup_id))
        for cfg in configs:
            entries.append(_seal(cfg, files, f"config/{cfg.name}", "config", f"restored-config/{cfg.name}", key,
                                 backup_id))
        ledger = ledger_path(out_dir)
        records, ledger_hash = ledger_head(ledger)
        manifest = Manifest(
            backup_id=backup_id, created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(),
            versions={**_versions(), "ops_server": state["server_version"]},
            source={"out_dir": str(out_dir.resolve()),
                    "ops_url": sa.make_url(url).render_as_string(hide_password=True), "dialect": dialect,
                    "anchor_file": str(load_settings().anchor_path(out_dir, url)), "ledger": str(ledger)},
            migration_revision=state["migration_revision"], audit_head=state["audit_head"],
            last_checkpoint=state["last_checkpoint"], ledger={"records": records, "hash": ledger_hash},
            counts=counts, files=entries, snapshot_seconds=round(time.perf_counter() - started, 3))
        (target / MANIFEST).write_bytes(seal_bytes(manifest.to_json(), key, backup_id, MANIFEST))
        private_file(target / MANIFEST)
        # the header last: a backup without one is recognisably unfinished
        Header(backup_id, manifest.created_at, provider.name, kek_version,
               base64.b64encode(wrapped).decode("ascii"), str(out_dir.resolve())).write(target)
        private_file(target / "backup.json")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _batch_counts(engine: BatchEngine) -> dict[str, int]:
    def count(table: str, sql: str) -> int:
        return int(engine.scalar(sql) or 0) if engine.exists(table) else 0
    return {"golden": count("customer.golden", "SELECT count(*) FROM customer.golden"),
            "erased_customers": count("meta.erased",
                                      "SELECT count(*) FROM meta.erased WHERE entity_key LIKE 'customer:%'"),
            "live_customer_keys": count("meta.data_key", "SELECT count(*) FROM meta.data_key "
                                        "WHERE owner LIKE 'customer:%' AND wrapped IS NOT NULL")}


__all__ = ["batch_store_lock", "key_locations", "pg_dsn", "pg_tool", "take_backup"]
