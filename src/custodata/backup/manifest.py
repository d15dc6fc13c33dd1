"""What a backup holds and vouches for: the header in plain, the manifest sealed.

``backup.json`` (plain) says only what is needed to open the rest: the format, the
backup's id and time, the key provider and KEK version, and the backup key wrapped by
the provider.  ``manifest.sealed`` is sealed like every file (so it cannot be edited
without the key) and lists every file with its role, size and SHA-256, the versions
of custodata and the engines, the operational store's migration revision, the audit
chain head (seq and hash) and last signed checkpoint, the erasure ledger's head, the
counts to reconcile after a restore, and where the source deployment kept its store,
anchor file and ledger.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from custodata.backup.sealing import BackupError

FORMAT = "custodata-backup/1"
HEADER = "backup.json"
MANIFEST = "manifest.sealed"
FILES = "files"


@dataclass(frozen=True)
class Header:
    backup_id: str
    created_at: str
    provider: str
    kek_version: str
    wrapped_key: str  # base64 of the backup key wrapped by the provider
    out_dir: str      # the source data folder: where its key provider is found by default
    format: str = FORMAT

    def wrapped(self) -> bytes:
        return base64.b64decode(self.wrapped_key)

    def write(self, folder: Path) -> None:
        (folder / HEADER).write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, folder: Path) -> Header:
        path = folder / HEADER
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BackupError(f"{folder}: no {HEADER} — not a custodata backup, or incomplete") from None
        except (OSError, ValueError) as exc:
            raise BackupError(f"{path}: unreadable ({exc}) — altered or damaged") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise BackupError(f"{path}: not a {FORMAT} header (altered, or a backup of another version)")
        try:
            return cls(**data)
        except TypeError as exc:
            raise BackupError(f"{path}: header fields are wrong ({exc}) — altered") from None


@dataclass(frozen=True)
class FileEntry:
    name: str        # path inside the backup's files/ folder (sealed)
    role: str        # batch_store | batch_wal | ops_sqlite | ops_pg_dump | published | config
    target: str      # where it goes back, relative to the output folder ('' for a database dump)
    size: int
    sha256: str
    sealed_size: int


@dataclass
class Manifest:
    backup_id: str
    created_at: str
    versions: dict[str, str]
    source: dict[str, str]            # out_dir, ops_url (no password), dialect, anchor_file, ledger
    migration_revision: str | None
    audit_head: dict[str, Any]        # seq, hash, floor_seq
    last_checkpoint: dict[str, Any] | None
    ledger: dict[str, Any]            # records, hash
    counts: dict[str, int]
    files: list[FileEntry] = field(default_factory=list)
    snapshot_seconds: float = 0.0

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2, default=str).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        try:
            raw = json.loads(data)
            raw["files"] = [FileEntry(**f) for f in raw["files"]]
            return cls(**raw)
        except (ValueError, TypeError, KeyError) as exc:
            raise BackupError(f"{MANIFEST}: authenticated but not a manifest of this version ({exc})") from None


__all__ = ["FILES", "FORMAT", "HEADER", "MANIFEST", "FileEntry", "Header", "Manifest"]
