"""Verifying and restoring a backup: refuse what is altered or incomplete, keep erasures, account for lost events.

A restore is the moment a deployment could quietly break its promises: bring back a
customer erased after the backup, or continue the audit chain from the old head as
if nothing had been written since.  So, in order, before anything serves the data:

1. **verify** every sealed file against the sealed manifest (authentication, size,
   SHA-256; files missing or extra) — any fault refuses the restore, naming the file;
2. refuse to write over a live store (a batch store, SQLite file or PostgreSQL
   database with tables) without ``force``, and over a store another process holds
   even with it; refuse a key provider or audit signing key that is not the backup's;
3. put the files back and load the operational store (SQLite file, or ``pg_restore``),
   then migrate it to this version's schema;
4. apply every erasure of the erasure ledger (:mod:`custodata.backup.ledger`) that the
   restored store does not know: the customer is erased again through the pipeline
   (keys destroyed, served view and published files rewritten); a customer the backup
   never had still gets its ``meta.erased`` rows, so re-ingested records stay blank;
5. **the audit gap**: checkpoints of the old anchor file beyond the backup's head name
   events the backup lost; the restored chain gets an ``audit_gap`` event of its own
   (what was lost, from which seq to which), then a ``backup_restore`` event, and a
   signed checkpoint anchored in a fresh anchor file that starts with the old
   checkpoints the restored chain still has — the old file is kept beside it, renamed,
   as evidence, never rewritten.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from custodata.backup.ledger import ErasureRecord, ledger_path, lineage, read_ledger, record_restore
from custodata.backup.manifest import FILES, HEADER, MANIFEST, FileEntry, Header, Manifest
from custodata.backup.sealing import BackupError, open_bytes, open_file, open_stream, unwrap_backup_key
from custodata.backup.snapshot import STORE_FILE, pg_dsn, pg_tool
from custodata.engine.store import in_use
from custodata.errors import ConfigError, NotFoundError

GAP_OPERATION = "audit_gap"
RESTORE_OPERATION = "backup_restore"


@dataclass(frozen=True)
class VerifiedBackup:
    folder: Path
    header: Header
    manifest: Manifest
    key: bytes
    seconds: float


@dataclass
class RestoreReport:
    backup_id: str
    out_dir: str
    ops_url: str
    files: int
    bytes: int
    erasures_reapplied: list[str] = field(default_factory=list)
    erasures_recorded_only: list[str] = field(default_factory=list)
    backup_head_seq: int = 0
    lost_events: int | None = None   # None: no anchor file to tell
    lost_to_seq: int | None = None
    gap_seq: int | None = None
    restore_seq: int | None = None
    counts_before: dict[str, int] = field(default_factory=dict)
    counts_after: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def open_backup(folder: Path, *, keys_for: Path | None = None) -> tuple[Header, Manifest, bytes]:
    """Header, the authenticated manifest and the backup key (unwrapped by the provider for ``keys_for``)."""
    from custodata.crypto.kek import load_provider

    if not folder.is_dir():
        raise BackupError(f"{folder}: no such backup folder")
    header = Header.read(folder)
    try:
        provider = load_provider(keys_for or Path(header.out_dir), create=False)
    except ConfigError as exc:
        raise BackupError(f"cannot reach the key provider to open the backup: {exc}") from None
    key = unwrap_backup_key(provider, header.kek_version, header.wrapped(), header.backup_id)
    try:
        sealed = (folder / MANIFEST).read_bytes()
    except FileNotFoundError:
        raise BackupError(f"{folder}: {MANIFEST} is missing (incomplete)") from None
    manifest = Manifest.from_json(open_bytes(sealed, key, header.backup_id, MANIFEST))
    if manifest.backup_id != header.backup_id:
        raise BackupError(f"{MANIFEST}: belongs to backup {manifest.backup_id}, not {header.backup_id} (swapped)")
    return header, manifest, key


def verify_backup(folder: Path, *, keys_for: Path | None = None) -> VerifiedBackup:
    """Authenticate every file of the backup; :class:`BackupError` naming every fault found."""
    started = time.perf_counter()
    header, manifest, key = open_backup(folder, keys_for=keys_for)
    problems: list[str] = []
    files = folder / FILES
    listed = {f"{e.name}.sealed" for e in manifest.files}
    present = {str(p.relative_to(files)) for p in files.rglob("*") if p.is_file()} if files.is_dir() else set()
    for extra in sorted(present - listed):
        problems.append(f"{FILES}/{extra}: not in the manifest (inserted)")
    for entry in manifest.files:
        try:
            got = open_file(files / f"{entry.name}.sealed", key, header.backup_id, entry.name, lambda _b: None)
        except BackupError as exc:
            problems.append(str(exc))
            continue
        if got.size != entry.size or got.sha256 != entry.sha256:
            problems.append(f"{entry.name}: its content does not match the manifest (replaced)")
    if problems:
        raise BackupError(f"backup {folder} refused — " + "; ".join(problems))
    return VerifiedBackup(folder, header, manifest, key, time.perf_counter() - started)


# ---- refusing a live target ----------------------------------------------------------------------


def _pg_has_tables(url: str) -> bool:
    from custodata.ops.store import make_engine

    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as con:
            return bool(con.execute(sa.text(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")).scalar())
    except sa.exc.OperationalError as exc:
        raise BackupError(f"cannot reach the target database: {str(exc.orig).strip().splitlines()[0]}") from None
    finally:
        engine.dispose()


def _check_target(verified: VerifiedBackup, out_dir: Path, url: str, *, force: bool) -> None:
    from custodata.audit.signing import CheckpointSigner

    manifest = verified.manifest
    dialect = sa.make_url(url).get_backend_name()
    if dialect != manifest.source["dialect"]:
        raise BackupError(f"the backup holds a {manifest.source['dialect']} operational store; restore it into "
                          f"{manifest.source['dialect']}, not {dialect}")
    store = out_dir / STORE_FILE
    live = []
    if store.exists():
        live.append(str(store))
        if in_use(store):
            raise BackupError(f"{store}: the batch store is held by a running process (pipeline, worker); stop it "
                              "before restoring over it")
    if dialect == "sqlite":
        db = Path(sa.make_url(url).database or "")
        if db.exists() and db.stat().st_size > 0:
            live.append(str(db))
    elif _pg_has_tables(url):
        live.append(sa.make_url(url).render_as_string(hide_password=True))
    if live and not force:
        raise BackupError(f"refusing to overwrite a live store ({', '.join(live)}); restore into a new folder or "
                          "database, or give --force")
    checkpoint = manifest.last_checkpoint
    if checkpoint:
        try:
            signer = CheckpointSigner.for_out_dir(out_dir, create=False)
        except ConfigError as exc:
            raise BackupError(f"the audit log's signing key is needed to continue the chain: {exc} (restore it by "
                              "the key procedure first)") from None
        if signer.key_id != checkpoint["key_id"]:
            raise BackupError(f"{signer.path}: this audit signing key ({signer.key_id}) is not the one that signed "
                              f"the backup's checkpoints ({checkpoint['key_id']}); restore the right key first")


# ---- putting files back --------------------------------------------------------------------------


def _write_file(verified: VerifiedBackup, entry: FileEntry, path: Path) -> None:
    from custodata.private_files import private_dir, private_file

    private_dir(path.parent)
    tmp = path.with_name(path.name + ".restoring")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        open_file(verified.folder / FILES / f"{entry.name}.sealed", verified.key, verified.header.backup_id,
                  entry.name, fh.write)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(private_file(tmp), path)


def _clear_old(out_dir: Path, url: str) -> None:
    """What a forced restore replaces: a stale WAL would be replayed onto the restored file, old files served."""
    for leftover in (out_dir / f"{STORE_FILE}.wal", out_dir / "run_summary.json"):
        leftover.unlink(missing_ok=True)
    shutil.rmtree(out_dir / "published", ignore_errors=True)
    if sa.make_url(url).get_backend_name() == "sqlite":
        db = Path(sa.make_url(url).database or "")
        for suffix in ("", "-wal", "-shm", "-journal"):
            db.with_name(db.name + suffix).unlink(missing_ok=True)
        return
    from custodata.ops.store import make_engine

    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        with engine.begin() as con:
            con.execute(sa.text("DROP SCHEMA public CASCADE"))
            con.execute(sa.text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def _pg_restore(verified: VerifiedBackup, entry: FileEntry, url: str) -> None:
    dsn, env = pg_dsn(url)
    proc = subprocess.Popen(  # noqa: S603  (fixed argv, no shell)
        [pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", f"--dbname={dsn}"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    with proc:  # closes every pipe, whatever happens
        assert proc.stdin is not None  # noqa: S101
        try:
            with (verified.folder / FILES / f"{entry.name}.sealed").open("rb") as src:
                for piece in open_stream(src, verified.key, verified.header.backup_id, entry.name):
                    proc.stdin.write(piece)
        finally:
            proc.stdin.close()
        err = proc.stderr.read() if proc.stderr else b""
    if proc.wait() != 0:
        first = err.decode("utf-8", "replace").strip().splitlines()[:1]
        raise BackupError(f"pg_restore failed: {first[0] if first else proc.returncode}")


# ---- erasures and the audit gap ------------------------------------------------------------------


def _ledger_records(manifest: Manifest, out_dir: Path) -> list[ErasureRecord]:
    """The erasures of the backup's store and its lineage, from its ledger and the restore target's."""
    paths = list(dict.fromkeys([Path(manifest.source["ledger"]), ledger_path(out_dir)]))
    records = [r for path in paths for r in read_ledger(path)]
    stores = lineage(records, manifest.source["out_dir"]) | lineage(records, str(out_dir.resolve()))
    seen: dict[str, ErasureRecord] = {}
    for record in records:
        if record.kind == "erasure" and record.store in stores:
            seen.setdefault(record.customer_id, record)
    return list(seen.values())


def _reapply_erasures(out_dir: Path, url: str, manifest: Manifest, report: RestoreReport) -> None:
    """Every erasure of the ledger the restored store does not know, through the pipeline's own erasure."""
    from custodata.engine.store import open_store
    from custodata.pipeline import Pipeline

    records = _ledger_records(manifest, out_dir)
    store = open_store(out_dir / STORE_FILE)
    try:
        due = [r for r in records if f"customer:{r.customer_id}" not in store.erased]
    finally:
        store.close()
    pipeline = Pipeline.create(out_dir)
    pipeline.ops_url = url
    for record in due:
        try:
            pipeline.erase(record.customer_id, reason=record.reason)
            report.erasures_reapplied.append(record.customer_id)
        except NotFoundError:  # created after the backup: only its marks, so its records stay blank if re-ingested
            store = open_store(out_dir / STORE_FILE)
            try:
                erased_at = dt.datetime.fromisoformat(record.erased_at)
                store.engine.execute_many("INSERT OR IGNORE INTO meta.erased VALUES (?, ?, ?, ?)",
                                          [[k, record.customer_id, erased_at, record.reason]
                                           for k in record.entity_keys])
            finally:
                store.close()
            report.erasures_recorded_only.append(record.customer_id)


def _rebase_anchor(manifest: Manifest, old_anchor: Path, new_anchor: Path) -> tuple[list[Any], Path | None]:
    """Old anchor records, and where the old file is kept when the new one takes its path."""
    from custodata.audit.anchor import AnchorFile, AnchorRecord

    records = [r for r in AnchorFile(old_anchor).records() if isinstance(r, AnchorRecord)]
    kept: Path | None = None
    if new_anchor.exists():  # the old deployment's file (same path), or a restore's before: kept, never rewritten
        kept = new_anchor.with_name(f"{new_anchor.stem}.before-restore-{manifest.backup_id}{new_anchor.suffix}")
        os.replace(new_anchor, kept)
    head = int(manifest.audit_head["seq"])
    still = [r for r in records if r.seq <= head]
    AnchorFile(new_anchor).append({"seq": r.seq, "hash": r.hash, "at": r.at, "key_id": r.key_id,
                                   "signature": r.signature} for r in still)
    return [r for r in records if r.seq > head], kept


def _record_audit(out_dir: Path, url: str, manifest: Manifest, report: RestoreReport, actor: str,
                  anchor_file: Path | None) -> None:
    from custodata.audit.events import Action, AuditEvent
    from custodata.audit.log import AuditLog
    from custodata.audit.retention import load_settings
    from custodata.ops.store import open_ops

    ops = open_ops(url, out_dir=out_dir)
    try:
        settings = load_settings()
        new_anchor = settings.anchor_path(out_dir, url)
        old_anchor = anchor_file or Path(manifest.source["anchor_file"])
        old_exists = old_anchor.exists()
        lost, kept = _rebase_anchor(manifest, old_anchor, new_anchor)
        head = int(manifest.audit_head["seq"])
        report.backup_head_seq = head
        log = AuditLog.for_out_dir(ops, out_dir, settings)
        base = {"backup_id": manifest.backup_id, "backup_created_at": manifest.created_at,
                "backup_head_seq": head, "backup_head_hash": manifest.audit_head["hash"]}
        if lost or not old_exists:
            last = max((r.seq for r in lost), default=None)
            report.lost_events = (last - head) if last is not None else None
            report.lost_to_seq = last
            gap = {**base, "operation": GAP_OPERATION, "lost_from_seq": head + 1, "lost_to_seq": last,
                   "lost_at_least": report.lost_events, "anchor_file_before": str(kept or old_anchor),
                   "last_lost_checkpoint_hash": next((r.hash for r in lost if r.seq == last), None)}
            reason = (f"events {head + 1}..{last} written after backup {manifest.backup_id} were lost in the restore"
                      if last is not None else
                      f"no checkpoint anchor file ({old_anchor}) to tell what was written after backup "
                      f"{manifest.backup_id}: events after entry {head} may be lost")
            report.gap_seq = log.append(AuditEvent(actor=actor, action=Action.ADMIN, reason=reason, detail=gap))
        report.restore_seq = log.append(AuditEvent(
            actor=actor, action=Action.ADMIN, customer_ids=report.erasures_reapplied + report.erasures_recorded_only,
            reason=f"restored from backup {manifest.backup_id}",
            detail={**base, "operation": RESTORE_OPERATION, "erasures_reapplied": len(report.erasures_reapplied),
                    "erasures_recorded_only": len(report.erasures_recorded_only)}))
        log.checkpoint()
        report.counts_after = _counts(ops, out_dir)
    finally:
        ops.close()


def _counts(ops: Any, out_dir: Path) -> dict[str, int]:
    from custodata.engine import file_engine
    from custodata.serving.tables import served_customer, served_generation

    with ops.read() as con:
        gen = con.execute(sa.select(sa.func.max(served_generation.c.generation))
                          .where(served_generation.c.status == "active")).scalar()
        served = con.execute(sa.select(sa.func.count()).select_from(served_customer)
                             .where(served_customer.c.generation == gen)).scalar() if gen is not None else 0
    engine = file_engine(out_dir / STORE_FILE)
    try:
        golden = engine.scalar("SELECT count(*) FROM customer.golden")
        erased = engine.scalar("SELECT count(*) FROM meta.erased WHERE entity_key LIKE 'customer:%'")
    finally:
        engine.close()
    return {"served": int(served or 0), "golden": int(golden or 0), "erased_customers": int(erased or 0)}


def restore(folder: Path, out_dir: Path, *, ops_url: str | None = None, force: bool = False,
            anchor_file: Path | None = None, actor: str = "cli:restore") -> RestoreReport:
    """Restore the backup in ``folder`` into ``out_dir`` (and ``ops_url``); see the module's steps."""
    from custodata.ops.store import default_url, open_ops
    from custodata.private_files import private_dir

    started = time.perf_counter()
    if (folder / HEADER).exists() and folder.resolve().is_relative_to(out_dir.resolve()):
        raise BackupError(f"{folder}: the backup lies inside the restore target {out_dir}")
    verified = verify_backup(folder, keys_for=out_dir)
    manifest = verified.manifest
    url = ops_url or default_url(out_dir)
    _check_target(verified, out_dir, url, force=force)
    private_dir(out_dir)
    _clear_old(out_dir, url)
    report = RestoreReport(manifest.backup_id, str(out_dir), sa.make_url(url).render_as_string(hide_password=True),
                           len(manifest.files), sum(e.size for e in manifest.files),
                           counts_before=dict(manifest.counts))
    for entry in manifest.files:
        if entry.role == "ops_pg_dump":
            _pg_restore(verified, entry, url)
        elif entry.role == "ops_sqlite":
            _write_file(verified, entry, Path(sa.make_url(url).database or ""))
        else:
            _write_file(verified, entry, out_dir / entry.target)
    open_ops(url, out_dir=out_dir).close()  # brought to this version's schema
    if Path(manifest.source["out_dir"]) != out_dir.resolve():
        record_restore(ledger_path(out_dir), store=str(out_dir.resolve()), source=manifest.source["out_dir"],
                       at=dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(), backup_id=manifest.backup_id)
    _reapply_erasures(out_dir, url, manifest, report)
    _record_audit(out_dir, url, manifest, report, actor, anchor_file)
    report.seconds = time.perf_counter() - started
    return report


__all__ = ["GAP_OPERATION", "RESTORE_OPERATION", "RestoreReport", "VerifiedBackup", "open_backup", "restore",
           "verify_backup"]
