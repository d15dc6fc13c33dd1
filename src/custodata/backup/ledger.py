"""The erasure ledger: every erasure recorded outside the data, so a restored backup cannot bring one back.

Erasure destroys a customer's data key in the live store, but a backup taken before
it still holds that key wrapped under the KEK the key provider keeps: the backup
plus the KEK would read the customer again.  So each erasure is also appended here,
one JSON line per customer, in the **key provider's folder** (beside ``kek.json``, or
``CUSTODATA_ERASURE_LEDGER``) — never in the data folder, never in a backup — and a
restore applies every erasure of the ledger the restored store does not know yet
before anything serves it (:mod:`custodata.backup.restore`).

Customer ids are a store's own, and one key provider serves many stores, so each line
names the data folder of the store that erased, and a restore applies the lines of the
backup's store and of every store it was itself restored from (``restore`` lines).
A line holds custodata ids and keyed tokens only (no name, no ID number in plain):
the customer ids, the ``meta.erased`` entity keys (observations, ID-number tokens)
so records re-ingested later stay blank even for a customer the backup never had,
when, and the reason.  Lines are hash-chained (``prev``), so a line deleted from the
middle to bring someone back is named by :func:`read_ledger`.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from custodata.backup.sealing import BackupError
from custodata.engine.port import BatchEngine

LEDGER_ENV = "CUSTODATA_ERASURE_LEDGER"
LEDGER_NAME = "erasures.jsonl"
GENESIS = "0" * 64
_lock = threading.Lock()


@dataclass(frozen=True)
class ErasureRecord:
    store: str                      # the data folder (resolved) whose store erased: ids are per store
    kind: str                       # erasure | restore (the store was restored from ``source``'s backup)
    source: str
    customer_id: str
    customer_ids: tuple[str, ...]
    entity_keys: tuple[str, ...]
    erased_at: str
    reason: str
    hash: str


def ledger_path(out_dir: Path) -> Path:
    """``CUSTODATA_ERASURE_LEDGER``, else ``erasures.jsonl`` beside the KEK file (the key provider's folder)."""
    configured = os.environ.get(LEDGER_ENV)
    if configured:
        return Path(configured)
    from custodata.crypto.kek import default_key_dir, default_key_file

    if os.environ.get("CUSTODATA_KEY_PROVIDER"):
        return default_key_dir(out_dir) / LEDGER_NAME
    return default_key_file(out_dir).parent / LEDGER_NAME


def _line_hash(prev: str, body: dict[str, Any]) -> str:
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{prev}\x1f{text}".encode()).hexdigest()


def read_ledger(path: Path) -> list[ErasureRecord]:
    """Every record, checked link by link; an edited, removed or inserted line is refused by number."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    records: list[ErasureRecord] = []
    prev = GENESIS
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            stored_prev, stored_hash = data.pop("prev"), data.pop("hash")
        except (ValueError, KeyError, AttributeError):
            raise BackupError(f"erasure ledger {path}: line {n} is not an erasure record (edited)") from None
        if stored_prev != prev or _line_hash(prev, data) != stored_hash:
            raise BackupError(f"erasure ledger {path}: line {n} does not follow line {n - 1} (a line was edited, "
                              "removed or inserted): erasures may be missing; restore the ledger from its copy")
        try:
            records.append(ErasureRecord(
                str(data["store"]), str(data.get("kind", "erasure")), str(data.get("source", "")),
                str(data.get("customer_id", "")), tuple(data.get("customer_ids", ())),
                tuple(data.get("entity_keys", ())), str(data.get("erased_at", "")), str(data.get("reason", "")),
                stored_hash))
        except (KeyError, TypeError):
            raise BackupError(f"erasure ledger {path}: line {n} lacks its store (edited)") from None
        prev = stored_hash
    return records


def ledger_head(path: Path) -> tuple[int, str]:
    """(records, hash of the last) — what a backup's manifest remembers of the ledger."""
    records = read_ledger(path)
    return len(records), records[-1].hash if records else GENESIS


def lineage(records: list[ErasureRecord], store: str) -> set[str]:
    """``store`` and every store it was restored from, transitively: whose erasures concern its customers."""
    found = {store}
    changed = True
    while changed:
        changed = False
        for r in records:
            if r.kind == "restore" and r.store in found and r.source not in found:
                found.add(r.source)
                changed = True
    return found


def record_restore(path: Path, *, store: str, source: str, at: str, backup_id: str) -> None:
    """Note that ``store`` now continues ``source`` (restored from its backup): its erasures concern it too."""
    _append(path, {"store": store, "kind": "restore", "source": source, "erased_at": at, "reason": backup_id},
            duplicate=lambda r: False)


def record_erasure(path: Path, *, store: str, customer_id: str, customer_ids: list[str], entity_keys: list[str],
                   erased_at: str, reason: str) -> bool:
    """Append one erasure durably (0600, fsync); False when the store's customer is in the ledger already."""
    return _append(path, {"store": store, "kind": "erasure", "customer_id": customer_id,
                          "customer_ids": list(customer_ids), "entity_keys": sorted(set(entity_keys)),
                          "erased_at": erased_at, "reason": reason},
                   duplicate=lambda r: r.kind == "erasure" and r.store == store and r.customer_id == customer_id)


def _append(path: Path, body: dict[str, Any], duplicate: Any) -> bool:
    from custodata.private_files import private_dir

    with _lock:
        records = read_ledger(path)
        if any(duplicate(r) for r in records):
            return False
        prev = records[-1].hash if records else GENESIS
        line = json.dumps({**body, "prev": prev, "hash": _line_hash(prev, body)}, ensure_ascii=False,
                          separators=(",", ":")) + "\n"
        private_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
    return True


def record_store_erasure(out_dir: Path, con: BatchEngine, customer_id: str, reason: str) -> None:
    """The hook erasure calls inside its transaction: the customer's ``meta.erased`` rows, to the ledger.

    Written before the store commits: should the commit then fail, a restore erases a
    customer whose erasure was asked for anyway — the safe side of the two.
    """
    sql = "SELECT entity_key, erased_at FROM meta.erased WHERE customer_id = ?"
    rows = con.rows(sql, [customer_id])
    if not rows:
        return
    keys = [str(r[0]) for r in rows]
    ids = sorted(k.removeprefix("customer:") for k in keys if k.startswith("customer:"))
    record_erasure(ledger_path(out_dir), store=str(out_dir.resolve()), customer_id=customer_id, customer_ids=ids,
                   entity_keys=keys, erased_at=str(max(r[1] for r in rows)), reason=reason)


__all__ = ["LEDGER_ENV", "ErasureRecord", "ledger_head", "ledger_path", "lineage", "read_ledger", "record_erasure",
           "record_restore", "record_store_erasure"]
