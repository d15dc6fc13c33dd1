"""Backup and restore (数据备份与恢复): sealed consistent snapshots, verified restores that keep erasures.

* :func:`take_backup` — both stores, published files and configuration at one moment,
  sealed under a key from the key provider, with a manifest (:mod:`.snapshot`, :mod:`.sealing`,
  :mod:`.manifest`);
* :func:`verify_backup` and :func:`restore` — refuse altered or incomplete backups and live
  targets, re-apply erasures from the ledger, record the audit events the backup lost
  (:mod:`.restore`, :mod:`.ledger`).
"""

from custodata.backup.ledger import ledger_path, read_ledger, record_store_erasure
from custodata.backup.manifest import Manifest
from custodata.backup.restore import RestoreReport, restore, verify_backup
from custodata.backup.sealing import BackupError
from custodata.backup.snapshot import take_backup

__all__ = ["BackupError", "Manifest", "RestoreReport", "ledger_path", "read_ledger", "record_store_erasure",
           "restore", "take_backup", "verify_backup"]
