"""Data keys for the service: the wrapped keys copied into the operational store.

The service decrypts served documents without opening the batch store, so the
wrapped data keys travel with the documents (``served_key``).  They are still
wrapped by the KEK: whoever reads the operational store without the KEK provider
gets ciphertext and wrapped keys only.  A destroyed key (erasure) is copied as
NULL, so it is dead in the service as soon as the next publish lands.

Keys are fetched one at a time when first used and cached for the process; a
million customers' keys are never all read at start.  A customer's own key usually
arrives with the document itself (:meth:`ServedKeyRing.offer`, the same statement),
which is fresher than any cache: a key destroyed by erasure is refused on that very
read.  At most :data:`MAX_CUSTOMER_KEYS` customer keys stay cached (oldest out first);
batch keys, few and used by every document, stay for the process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from custodata.crypto.envelope import Protector
from custodata.crypto.kek import KeyProvider, load_provider
from custodata.crypto.keyring import CUSTOMER_KEY_PREFIX, KeyRing
from custodata.errors import CryptoError, KeyDestroyedError, StateError
from custodata.ops.store import OpsStore
from custodata.serving.tables import served_key

MAX_CUSTOMER_KEYS = 10_000  # unwrapped customer keys kept; a million would only cost memory, rarely a hit


class ServedKeyRing(KeyRing):
    """A read-only :class:`KeyRing` over ``served_key``; never creates, destroys or re-wraps a key."""

    def __init__(self, ops: OpsStore, provider: KeyProvider) -> None:  # no DuckDB connection behind it
        self.ops = ops
        self.provider = provider
        self.read_only = True
        self._wrapped: dict[str, tuple[str, bytes]] = {}
        self._destroyed: set[str] = set()
        self._ciphers: dict[str, AESGCM] = {}
        self._complete = True  # the base class's batch reads are not for it: it reads its keys one by one
        self._customer_keys: dict[str, None] = {}  # insertion order: oldest first
        self._lock = threading.Lock()
        self._reader = ops.engine.execution_options(isolation_level="AUTOCOMMIT")  # one-statement reads

    def reload(self) -> None:
        """Forget every cached key: the next use reads it again (after a publish, a key may be destroyed)."""
        with self._lock:
            self._wrapped.clear()
            self._destroyed.clear()
            self._ciphers.clear()
            self._customer_keys.clear()

    def _fetch(self, key_id: str) -> None:
        with self._reader.connect() as con:
            row = con.execute(_KEY_STMT, {"key_id": key_id}).first()
        if row is not None:
            self.offer(key_id, row.kek_version, row.wrapped)

    def offer(self, key_id: str, kek_version: str | None, wrapped: bytes | None) -> None:
        """The ``served_key`` row of ``key_id`` as just read: it replaces what is cached (NULL: destroyed)."""
        with self._lock:
            if wrapped is None:
                self._wrapped.pop(key_id, None)
                self._ciphers.pop(key_id, None)
                self._customer_keys.pop(key_id, None)
                self._destroyed.add(key_id)
                return
            entry = (str(kek_version), bytes(wrapped))
            self._destroyed.discard(key_id)
            if self._wrapped.get(key_id) != entry:
                self._ciphers.pop(key_id, None)
                self._wrapped.pop(key_id, None)  # re-inserted last: the newest leaves last
                self._wrapped[key_id] = entry
            if key_id.startswith(CUSTOMER_KEY_PREFIX):
                self._evict(key_id)

    def _evict(self, key_id: str) -> None:
        """Note ``key_id`` as the newest customer key; forget the oldest beyond the bound (lock held)."""
        self._customer_keys.pop(key_id, None)
        self._customer_keys[key_id] = None
        while len(self._customer_keys) > MAX_CUSTOMER_KEYS:
            oldest = next(iter(self._customer_keys))
            del self._customer_keys[oldest]
            self._wrapped.pop(oldest, None)
            self._ciphers.pop(oldest, None)

    def __contains__(self, key_id: object) -> bool:
        if not isinstance(key_id, str):
            return False
        if key_id not in self._wrapped and key_id not in self._destroyed:
            self._fetch(key_id)
        return key_id in self._wrapped

    def cipher(self, key_id: str) -> AESGCM:
        found = self._ciphers.get(key_id)
        if found is not None:
            return found
        if key_id not in self._wrapped and key_id not in self._destroyed:
            self._fetch(key_id)
        if key_id in self._destroyed:
            raise KeyDestroyedError(f"data key {key_id} was destroyed")
        entry = self._wrapped.get(key_id)
        if entry is None:
            raise CryptoError(f"no data key {key_id} in the served view")
        cipher = AESGCM(self.provider.unwrap(entry[0], entry[1], key_id))
        with self._lock:
            if self._wrapped.get(key_id) == entry:  # not destroyed or replaced meanwhile
                self._ciphers[key_id] = cipher
        return cipher

    def ensure(self, key_ids: Iterable[str], owner_of: dict[str, str] | None = None) -> int:
        raise StateError("the served view's key ring is read-only: data keys are made by the pipeline")

    def destroy(self, key_ids: Iterable[str]) -> int:
        raise StateError("the served view's key ring is read-only: erase through the pipeline")

    def rewrap(self) -> int:
        raise StateError("the served view's key ring is read-only: rotate the KEK through the pipeline")

    def versions_in_use(self) -> set[str]:
        with self.ops.read() as con:
            rows = con.execute(sa.select(served_key.c.kek_version).where(served_key.c.wrapped.is_not(None))
                               .distinct()).all()
        return {str(r[0]) for r in rows}


_KEY_STMT = sa.select(served_key.c.kek_version, served_key.c.wrapped).where(
    served_key.c.key_id == sa.bindparam("key_id", type_=sa.String))


def _store_folder(ops: OpsStore) -> Path:
    """The output folder a SQLite operational store sits in; else the default ``out``."""
    url = sa.make_url(ops.url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent
    return Path("out")


def protector_from_ops(ops: OpsStore, provider: KeyProvider | None = None, *, out_dir: Path | None = None) -> Protector:
    """A :class:`Protector` over the served keys and the institution's KEK provider.

    Without ``provider``, the one configured for ``out_dir`` (by default the folder of a
    SQLite store, else ``out``) is loaded; a missing key file is an error, never re-created.
    """
    if provider is None:
        provider = load_provider(out_dir or _store_folder(ops), create=False)
    return Protector(ServedKeyRing(ops, provider))
