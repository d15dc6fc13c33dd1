"""Data keys: one per batch and one per customer, stored wrapped in the batch store.

A data key (DEK) encrypts field values; it is kept only wrapped by the KEK
(:mod:`custodata.crypto.kek`), bound to its own key id so wrapped keys cannot
be swapped.  A customer's key is what erasure destroys: once its row is
wiped, nothing encrypted under it can ever be read again, backups included.
A destroyed key id is never re-created.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from custodata.crypto.kek import KeyProvider
from custodata.engine.port import BatchEngine
from custodata.errors import CryptoError, KeyDestroyedError, StateError

DATA_KEY_TABLE = "meta.data_key"

DATA_KEY_DDL = f"""
CREATE TABLE IF NOT EXISTS {DATA_KEY_TABLE} (
    key_id VARCHAR PRIMARY KEY,
    owner VARCHAR NOT NULL,           -- batch:<batch id> | customer:<customer id>
    kek_version VARCHAR,
    wrapped BLOB,                     -- NULL once destroyed
    created_at TIMESTAMP NOT NULL,
    destroyed_at TIMESTAMP
)
"""


def batch_key_id(batch_id: str) -> str:
    return f"b-{batch_id}"


CUSTOMER_KEY_PREFIX = "c-"
# the key create forms are sealed under while they wait (the service seals, the worker opens)
INTAKE_KEY_ID = "b-mdm-intake"


def customer_key_id(customer_id: str) -> str:
    return f"{CUSTOMER_KEY_PREFIX}{customer_id}"


_READ_LOCK = threading.RLock()  # one reader connection per key ring, one statement at a time
_READ_ALL_PAST = 5_000  # keys asked for at once past which reading them all is cheaper


class KeyRing:
    """The store's data keys, unwrapped lazily and cached for this process only."""

    def __init__(self, db: BatchEngine, provider: KeyProvider, *, read_only: bool = False) -> None:
        self.db = db
        self.provider = provider
        self.read_only = read_only
        if not read_only:
            db.execute(DATA_KEY_DDL)
        self._wrapped: dict[str, tuple[str, bytes]] = {}
        self._destroyed: set[str] = set()
        self._ciphers: dict[str, AESGCM] = {}
        self._complete = False  # whether every key of the store has been read
        self.reload()

    def reload(self) -> None:
        """Forget what was read; keys are read again when asked for, unwrapping when used.

        Not every key at once: a store holds one data key per customer, and a change that
        reads a few customers' keys must not read a million (0.5 s at 400k customers, per
        job).  Whatever needs them all (rotation, a batch's many new keys) reads them all.
        """
        self._wrapped.clear()
        self._destroyed.clear()
        self._ciphers.clear()
        self._complete = False

    @property
    def _key_reader(self) -> BatchEngine:
        """A connection of its own for reading keys: a key is asked for inside a running statement (an
        encryption function), where the store's own connection cannot run another.  It sees what is
        committed; keys made or destroyed in the current transaction are in the caches already."""
        reader = getattr(self, "_reader_con", None)
        if reader is None:
            reader = self._reader_con = self.db.reader()
        return reader

    def _has_table(self) -> bool:
        if getattr(self, "_table_seen", False):
            return True
        exists = self._key_reader.one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'meta' AND table_name = 'data_key'"
        )
        self._table_seen = bool(exists and exists[0])
        return self._table_seen

    def _remember(self, rows: Iterable[tuple[Any, Any, Any]]) -> None:
        for key_id, version, wrapped in rows:
            if wrapped is None:
                self._destroyed.add(str(key_id))
                self._wrapped.pop(str(key_id), None)
            else:
                self._wrapped[str(key_id)] = (str(version), bytes(wrapped))

    def _load_all(self) -> None:
        if self._complete:
            return
        with _READ_LOCK:
            self._load_all_locked()

    def _load_all_locked(self) -> None:
        if self._complete:
            return
        if self._has_table():
            self._remember(self._key_reader.rows(
                f"SELECT key_id, kek_version, wrapped FROM {DATA_KEY_TABLE}"))
        self._complete = True

    def _read_keys(self, key_ids: Iterable[str]) -> None:
        """Read the keys of ``key_ids`` not read yet (all of them, past a few thousand).

        Threads share a key ring (the service decrypts on many), and a DuckDB connection
        serves one statement at a time: reads are serialised.
        """
        if self._complete:
            return
        with _READ_LOCK:
            self._read_keys_locked(key_ids)

    def _read_keys_locked(self, key_ids: Iterable[str]) -> None:
        if self._complete:
            return
        missing = [k for k in dict.fromkeys(key_ids) if k not in self._wrapped and k not in self._destroyed]
        if len(missing) > _READ_ALL_PAST:
            self._load_all_locked()
            return
        if missing and self._has_table():
            self._remember(self._key_reader.rows(
                f"SELECT key_id, kek_version, wrapped FROM {DATA_KEY_TABLE} "
                "WHERE key_id IN (SELECT unnest(?::VARCHAR[]))",
                [missing]))

    def __contains__(self, key_id: str) -> bool:
        self._read_keys([key_id])
        return key_id in self._wrapped

    def cipher(self, key_id: str) -> AESGCM:
        """The AES-GCM cipher of a data key; a destroyed key raises :class:`KeyDestroyedError`."""
        found = self._ciphers.get(key_id)
        if found is not None:
            return found
        self._read_keys([key_id])
        if key_id in self._destroyed:
            raise KeyDestroyedError(f"data key {key_id} was destroyed")
        entry = self._wrapped.get(key_id)
        if entry is None:
            raise CryptoError(f"no data key {key_id} in this store")
        cipher = AESGCM(self.provider.unwrap(entry[0], entry[1], key_id))
        self._ciphers[key_id] = cipher
        return cipher

    def wrapped(self, key_ids: Iterable[str] | None = None) -> tuple[dict[str, tuple[str, bytes]], frozenset[str]]:
        """The keys as stored — ``{key id: (KEK version, wrapped key)}`` — and which of them were destroyed.

        What Spark's executors get (:mod:`custodata.crypto.executor`): wrapped keys only, which
        open under the KEK alone. ``None`` gives every key of the store. Nothing is created here:
        an id the store does not hold is simply not in the answer.
        """
        if key_ids is None:
            self._load_all()
            return dict(self._wrapped), frozenset(self._destroyed)
        wanted = list(dict.fromkeys(key_ids))
        self._read_keys(wanted)
        return ({k: self._wrapped[k] for k in wanted if k in self._wrapped},
                frozenset(k for k in wanted if k in self._destroyed))

    def ensure(self, key_ids: Iterable[str], owner_of: dict[str, str] | None = None) -> int:
        """Create the keys that do not exist yet (in bulk); refuse to revive destroyed ones."""
        key_ids = list(key_ids)
        self._read_keys(key_ids)
        wanted = [k for k in dict.fromkeys(key_ids) if k not in self._wrapped]
        revived = [k for k in wanted if k in self._destroyed]
        if revived:
            raise StateError(f"data key {revived[0]} was destroyed (erased customer); it is never re-created")
        if not wanted:
            return 0
        if self.read_only:
            raise StateError(f"data key {wanted[0]} does not exist and the store is open read-only")
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        versions, blobs, owners = [], [], []
        for key_id in wanted:
            if ":" in key_id:
                raise CryptoError(f"key id {key_id!r} must not contain ':'")
            version, blob = self.provider.wrap(secrets.token_bytes(32), key_id)
            versions.append(version)
            blobs.append(blob)
            owners.append((owner_of or {}).get(key_id, key_id))
            self._wrapped[key_id] = (version, blob)
        new_keys = pa.table({
            "key_id": wanted, "owner": owners, "kek_version": versions,
            "wrapped": pa.array(blobs, pa.binary()), "created_at": pa.array([now] * len(wanted), pa.timestamp("us")),
        })
        self.db.put_arrow("_new_keys", new_keys)
        try:
            self.db.execute(f"INSERT INTO {DATA_KEY_TABLE} SELECT key_id, owner, kek_version, wrapped, created_at, "
                            "NULL FROM _new_keys")
        finally:
            self.db.drop_arrow("_new_keys")
        return len(wanted)

    def destroy(self, key_ids: Iterable[str]) -> int:
        """Crypto-shred: wipe the wrapped keys; what they encrypted is unreadable from now on."""
        key_ids = list(key_ids)
        self._read_keys(key_ids)
        ids = [k for k in dict.fromkeys(key_ids) if k in self._wrapped]
        if not ids:
            return 0
        self.db.execute(
            f"UPDATE {DATA_KEY_TABLE} SET wrapped = NULL, kek_version = NULL, destroyed_at = now() "
            "WHERE list_contains(?, key_id)", [ids]
        )
        for k in ids:
            self._wrapped.pop(k, None)
            self._ciphers.pop(k, None)
            self._destroyed.add(k)
        return len(ids)

    def rewrap(self) -> int:
        """Re-wrap every live data key under the provider's current KEK version (rotation)."""
        current = self.provider.current_version()
        self._load_all()
        stale = [(k, v, b) for k, (v, b) in self._wrapped.items() if v != current]
        rows = []
        for key_id, version, blob in stale:
            new_version, new_blob = self.provider.wrap(self.provider.unwrap(version, blob, key_id), key_id)
            rows.append((key_id, new_version, new_blob))
            self._wrapped[key_id] = (new_version, new_blob)
        if rows:
            rewrapped = pa.table({
                "key_id": [r[0] for r in rows], "kek_version": [r[1] for r in rows],
                "wrapped": pa.array([r[2] for r in rows], pa.binary()),
            })
            self.db.put_arrow("_rewrapped", rewrapped)
            try:
                self.db.execute(f"UPDATE {DATA_KEY_TABLE} AS d SET kek_version = r.kek_version, wrapped = r.wrapped "
                                "FROM _rewrapped r WHERE d.key_id = r.key_id")
            finally:
                self.db.drop_arrow("_rewrapped")
        return len(rows)

    def versions_in_use(self) -> set[str]:
        self._load_all()
        return {v for v, _ in self._wrapped.values()}
