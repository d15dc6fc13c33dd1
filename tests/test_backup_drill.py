"""The recovery drill of issue 16, on SQLite and PostgreSQL: back up under load, erase, lose the disk, restore.

After the restore the audit chain verifies with the loss recorded as an event of its
own, the customer erased after the backup decrypts nowhere and is in no served or
published table, every other served document equals its state before the backup, and
the counts reconcile.  A second test tampers with backups in every way it can.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from custodata.audit.events import Action, AuditEvent
from custodata.audit.log import AuditLog
from custodata.audit.retention import load_settings
from custodata.audit.signing import CheckpointSigner
from custodata.audit.verify import verify
from custodata.backup import BackupError, restore, take_backup, verify_backup
from custodata.backup.ledger import ledger_path, read_ledger
from custodata.backup.manifest import FILES
from custodata.backup.restore import GAP_OPERATION, RESTORE_OPERATION, open_backup
from custodata.crypto.keyring import customer_key_id
from custodata.demo.sources import generate
from custodata.engine.store import open_store
from custodata.errors import CryptoError
from custodata.ops import open_ops
from custodata.pipeline import Pipeline
from custodata.serving.keys import protector_from_ops
from custodata.serving.publish import publish_served
from custodata.serving.tables import served_customer, served_generation

CUSTOMERS = 60


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small pipeline run, copied afresh by every test (nothing here is changed)."""
    out = tmp_path_factory.mktemp("backup-world") / "out"
    generate(CUSTOMERS, 5, out / "raw")
    Pipeline.create(out).run(out / "raw")
    return out


@dataclass
class Site:
    out: Path
    url: str
    log: AuditLog


@pytest.fixture
def site(world: Path, ops_url: str, tmp_path: Path) -> Iterator[Site]:
    out = tmp_path / "site" / "out"
    shutil.copytree(world, out, ignore=shutil.ignore_patterns("*.spill", "custodata.sqlite*"))
    ops = open_ops(ops_url, out_dir=out)
    batch = open_store(out / "custodata.duckdb", read_only=True)
    try:
        publish_served(batch, ops)
    finally:
        batch.close()
    log = AuditLog.for_out_dir(ops, out)
    log.append_many([AuditEvent(actor="u1", action=Action.READ, customer_ids=[f"C{i:09d}"]) for i in range(1, 21)])
    log.checkpoint()
    yield Site(out, ops_url, log)
    ops.close()


def _served(url: str, out: Path) -> dict[str, str]:
    ops = open_ops(url, out_dir=out)
    try:
        with ops.read() as con:
            gen = con.execute(sa.select(sa.func.max(served_generation.c.generation))
                              .where(served_generation.c.status == "active")).scalar()
            return {r.customer_id: r.doc for r in con.execute(
                sa.select(served_customer.c.customer_id, served_customer.c.doc)
                .where(served_customer.c.generation == gen))}
    finally:
        ops.close()


def _destroy(site: Site) -> None:
    """The disk is lost: the data folder and the operational store; the key folder and anchor file survive."""
    site.log.store.close()
    shutil.rmtree(site.out)
    if site.url.startswith("postgresql"):
        engine = sa.create_engine(site.url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with engine.connect() as con:
            con.exec_driver_sql("DROP SCHEMA public CASCADE")
            con.exec_driver_sql("CREATE SCHEMA public")
        engine.dispose()
    else:
        for p in Path(sa.make_url(site.url).database or "").parent.glob("ops.sqlite*"):
            p.unlink()


def test_recovery_drill(site: Site, tmp_path: Path) -> None:
    before = _served(site.url, site.out)
    victim = sorted(before)[3]
    # the backup is taken while clients keep writing audit events and reading the served view
    stop = threading.Event()
    written: list[int] = []

    def audited_clients() -> None:
        while not stop.is_set():
            written.extend(site.log.append_many([AuditEvent(actor="u2", action=Action.READ, customer_ids=[victim])]))

    def readers() -> None:
        while not stop.is_set():
            _served(site.url, site.out)

    threads = [threading.Thread(target=audited_clients), threading.Thread(target=readers)]
    for th in threads:
        th.start()
    try:
        manifest = take_backup(site.out, tmp_path / "backups" / "b1", ops_url=site.url)
    finally:
        stop.set()
        for th in threads:
            th.join()
    assert written, "no client wrote during the backup"
    head = manifest.audit_head["seq"]
    assert head >= 20 and manifest.last_checkpoint is not None
    assert manifest.counts["served"] == len(before)
    # after the backup: more events (checkpointed, so the anchor file knows them) and an erasure
    site.log.append_many([AuditEvent(actor="u3", action=Action.READ, customer_ids=["C000000002"]) for _ in range(7)])
    site.log.checkpoint()
    with site.log.store.read() as con:
        last_seq = int(con.exec_driver_sql("SELECT max(seq) FROM audit_event").scalar())
    pipeline = Pipeline.create(site.out)
    pipeline.ops_url = site.url
    pipeline.erase(victim, reason="PIPL request 42")
    assert any(r.customer_id == victim for r in read_ledger(ledger_path(site.out)))
    after_erasure = _served(site.url, site.out)
    assert victim not in after_erasure

    _destroy(site)
    anchor = load_settings().anchor_path(site.out, site.url)
    assert anchor.exists()
    report = restore(tmp_path / "backups" / "b1", site.out, ops_url=site.url)

    # erasure reached the backup: re-applied before anything serves
    assert report.erasures_reapplied == [victim]
    restored = _served(site.url, site.out)
    assert victim not in restored
    batch = open_store(site.out / "custodata.duckdb", read_only=True)
    try:
        assert f"customer:{victim}" in batch.erased
        with pytest.raises(CryptoError):
            batch.protector.keyring.cipher(customer_key_id(victim))
        assert batch.con.execute("SELECT count(*) FROM customer.golden WHERE customer_id = ?",
                                 [victim]).fetchone() == (0,)
    finally:
        batch.close()
    ops = open_ops(site.url, out_dir=site.out)
    try:
        with pytest.raises(CryptoError):
            protector_from_ops(ops, out_dir=site.out).keyring.cipher(customer_key_id(victim))
        # the audit chain verifies, with the loss recorded as an event of its own and signed over
        signer = CheckpointSigner.for_out_dir(site.out, create=False)
        result = verify(ops, signer.public_key, anchor_file=anchor)
        assert result.ok, result.problem
        assert result.last_seq == report.restore_seq and report.gap_seq == head + 1
        with ops.read() as con:
            gap = con.execute(sa.text("SELECT action, detail FROM audit_event WHERE seq = :s"),
                              {"s": report.gap_seq}).one()
            rest = con.execute(sa.text("SELECT detail, customer_ids FROM audit_event WHERE seq = :s"),
                               {"s": report.restore_seq}).one()
    finally:
        ops.close()
    detail = json.loads(gap.detail)
    assert gap.action == "admin" and detail["operation"] == GAP_OPERATION
    assert detail["lost_from_seq"] == head + 1 and detail["lost_to_seq"] == last_seq
    assert report.lost_events == last_seq - head
    assert json.loads(rest.detail)["operation"] == RESTORE_OPERATION and json.loads(rest.customer_ids) == [victim]
    kept = list(anchor.parent.glob(f"{anchor.stem}.before-restore-*"))
    assert len(kept) == 1, "the old anchor file is kept beside the new one"
    # published files hold no trace of the erased customer
    for parquet in (site.out / "published").glob("*.parquet"):
        assert victim not in json.dumps(pq.read_table(parquet).to_pylist(), default=str), parquet.name
    # every other served document is what it was before the backup; counts reconcile
    others = {c: d for c, d in before.items() if c != victim}
    changed = [c for c in others if restored.get(c) != others[c]]
    assert not [c for c in changed if c not in after_erasure or after_erasure[c] != restored[c]], \
        "a document differs from both its state before the backup and the live erasure's"
    assert len(changed) <= 3, f"only the erased customer's neighbours may be served again: {changed}"
    assert report.counts_after["served"] == manifest.counts["served"] - 1 == len(restored)
    assert report.counts_after["golden"] == manifest.counts["golden"] - 1
    assert report.counts_after["erased_customers"] == manifest.counts["erased_customers"] + 1


def test_backup_refuses_and_names_tampering(site: Site, tmp_path: Path) -> None:
    target = tmp_path / "b"
    manifest = take_backup(site.out, target, ops_url=site.url)
    verify_backup(target)
    # no key material travels with the data: the KEK and the token key are in no decrypted file
    header, _, key = open_backup(target)
    kek = json.loads(Path(os.environ["CUSTODATA_KEK_FILE"]).read_text())
    secrets = [kek["token_key"], *kek["keys"].values()]
    from custodata.backup.sealing import open_file

    for entry in manifest.files:
        body = bytearray()
        open_file(target / FILES / f"{entry.name}.sealed", key, header.backup_id, entry.name, body.extend)
        for secret in secrets:
            assert secret.encode() not in body and base64.b64decode(secret) not in body, entry.name
    store_entry = next(e for e in manifest.files if e.role == "batch_store")
    ops_entry = next(e for e in manifest.files if e.role.startswith("ops_"))

    def tampered(name: str) -> Path:
        copy = tmp_path / name
        shutil.copytree(target, copy)
        return copy

    flipped = tampered("flipped")
    sealed = flipped / FILES / f"{ops_entry.name}.sealed"
    data = bytearray(sealed.read_bytes())
    data[len(data) // 2] ^= 0x01
    sealed.write_bytes(bytes(data))
    with pytest.raises(BackupError, match=rf"{ops_entry.name}: chunk 0 fails authentication"):
        verify_backup(flipped)

    cut = tampered("cut")
    sealed = cut / FILES / f"{store_entry.name}.sealed"
    sealed.write_bytes(sealed.read_bytes()[:-100])
    with pytest.raises(BackupError, match=rf"{store_entry.name}: cut off"):
        verify_backup(cut)

    missing = tampered("missing")
    (missing / FILES / f"{store_entry.name}.sealed").unlink()
    (missing / FILES / "published" / "extra.parquet.sealed").write_bytes(b"x")
    with pytest.raises(BackupError, match="extra.parquet.sealed: not in the manifest.*custodata.duckdb: missing"):
        verify_backup(missing)

    swapped = tampered("swapped")  # a sealed file of another backup in this one's place
    other = take_backup(site.out, tmp_path / "other", ops_url=site.url)
    assert other.backup_id != manifest.backup_id
    sealed_name = f"{store_entry.name}.sealed"
    shutil.copy(tmp_path / "other" / FILES / sealed_name, swapped / FILES / sealed_name)
    with pytest.raises(BackupError, match=rf"{store_entry.name}: chunk 0 fails authentication"):
        verify_backup(swapped)

    header_edit = tampered("header")
    head = json.loads((header_edit / "backup.json").read_text())
    head["backup_id"] = other.backup_id
    (header_edit / "backup.json").write_text(json.dumps(head))
    with pytest.raises(BackupError, match="does not unwrap"):
        verify_backup(header_edit)

    # a tampered backup is refused before anything is written to the target
    fresh = tmp_path / "fresh" / "out"
    with pytest.raises(BackupError, match="fails authentication"):
        restore(flipped, fresh, ops_url=f"sqlite:///{tmp_path / 'fresh.sqlite'}" if "sqlite" in site.url else site.url)
    assert not fresh.exists()
    # a live store is not overwritten without --force
    with pytest.raises(BackupError, match="refusing to overwrite a live store"):
        restore(target, site.out, ops_url=site.url)
    # the backup refuses a target holding the key folder, or inside the data folder
    keys = Path(os.environ["CUSTODATA_KEK_FILE"]).parent
    with pytest.raises(BackupError, match="key folder .* is inside the backup target"):
        take_backup(site.out, keys.parent, ops_url=site.url)
    with pytest.raises(BackupError, match="inside the data folder"):
        take_backup(site.out, site.out / "bk", ops_url=site.url)


def test_store_lock_is_waited_for_then_refused(site: Site, tmp_path: Path) -> None:
    """While a writer holds the batch store the backup waits; past --wait it refuses and leaves nothing sealed."""
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('held', flush=True); time.sleep(30)", str(site.out / "custodata.duckdb")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(BackupError, match="stayed locked by a writer"):
            take_backup(site.out, tmp_path / "b", ops_url=site.url, wait_seconds=0.5)
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    assert not (tmp_path / "b" / "backup.json").exists()
    take_backup(site.out, tmp_path / "b2", ops_url=site.url)


def test_a_writer_waits_for_the_backup_lock(site: Site) -> None:
    """A job the worker starts while a backup reads the store waits for it instead of failing."""
    import subprocess
    import sys
    import time

    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], "
                               "read_only=True); print('held', flush=True); time.sleep(1.5)",
                               str(site.out / "custodata.duckdb")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        store = open_store(site.out / "custodata.duckdb")
        store.close()
        assert time.monotonic() - started > 0.5, "the store opened while another process held its lock"
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def test_cli_backup_verify_and_restore_into_a_new_folder(site: Site, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands, their one-line refusals, and a restore into a new folder with the keys restored first."""
    from typer.testing import CliRunner

    from custodata.audit.signing import default_key_path
    from custodata.cli.app import app

    runner = CliRunner()
    for args, message in ((["backup", "--out", str(tmp_path / "none"), "--to", str(tmp_path / "x")],
                           "no custodata store"),
                          (["backup", "verify", str(tmp_path / "none")], "no such backup folder"),
                          (["backup", "--out", str(site.out)], "give --to DIR")):
        result = runner.invoke(app, args)
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert message in " ".join(result.output.split())
    target = tmp_path / "b"
    result = runner.invoke(app, ["backup", "--out", str(site.out), "--db", site.url, "--to", str(target)])
    assert result.exit_code == 0, result.output
    assert "备份完成" in result.output
    result = runner.invoke(app, ["backup", "verify", str(target)])
    assert result.exit_code == 0 and "verifies" in result.output, result.output
    new_out = tmp_path / "new" / "out"
    new_db = f"sqlite:///{tmp_path / 'new.sqlite'}" if site.url.startswith("sqlite") else site.url
    if not site.url.startswith("sqlite"):
        _destroy(site)
    args = ["restore", "--from", str(target), "--out", str(new_out), "--db", new_db]
    result = runner.invoke(app, args)  # the new folder's key folder has no audit signing key yet
    assert result.exit_code == 1 and "audit signing key" in " ".join(result.output.split()), result.output
    monkeypatch.setenv("CUSTODATA_AUDIT_KEY", str(default_key_path(site.out)))
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "恢复完成" in result.output
    records = read_ledger(ledger_path(new_out))
    assert any(r.kind == "restore" and r.store == str(new_out.resolve()) for r in records)


def test_readme_documents_backup_and_restore() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    for text in ("custodata backup --out", "custodata backup verify", "custodata restore --from", "systemd",
                 "erasures.jsonl", "audit_gap"):
        assert text in readme, text
