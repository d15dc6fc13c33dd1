"""The protector Spark's executors get: wrapped keys and where the KEK is, never a key.

On DuckDB the crypto functions run in the driver's process over the store's
:class:`~custodata.crypto.envelope.Protector`.  On Spark they run in executor processes,
and whatever they hold is pickled and sent there over Spark's RPC — unencrypted unless
``spark.network.crypto.enabled`` is set.  So :class:`ExecutorProtector` carries only:

* a :class:`ProviderRef` — how to open the key provider (the key file's path, or the
  ``CUSTODATA_KEY_PROVIDER`` class and its argument), never key bytes;
* the data keys a step needs in their *wrapped* form (``key id → (KEK version, wrapped)``),
  which open under the KEK only, and the ids of destroyed keys;
* the erased entity keys (``cd_erased``): customer ids, no key material.

On first use in an executor process it opens the provider through the reference and
unwraps the keys it is asked for, caching provider, ciphers and the token key for that
process (Python workers are reused across tasks).  The token key reaches executors the
same way as the KEK: each executor asks the provider for it; it is never in the payload.

Data keys are created on the driver only (:meth:`KeyRing.ensure` before the step): an
executor asked for a key it was not handed raises :class:`CryptoError` instead of making
one — a key made there would never reach the store and its data could never be read.

Trust assumption: every executor must reach the key provider.  With the local key file
that means the file at the same path on every worker (one machine, or a shared private
mount); on a real cluster it is the institution's KMS, with executors' credentials for it.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from custodata.crypto.envelope import Sealing
from custodata.crypto.kek import KeyProvider, LocalKeyFileProvider, MemoryKeyProvider
from custodata.crypto.keyring import KeyRing
from custodata.errors import ConfigError, CryptoError, KeyDestroyedError

LOCAL_FILE = "custodata.crypto.executor:open_key_file"


@dataclass(frozen=True)
class ProviderRef:
    """How an executor opens the key provider: ``factory`` (``module:callable``) called with ``argument``."""

    factory: str
    argument: str

    def open(self) -> KeyProvider:
        module, _, name = self.factory.partition(":")
        try:
            provider = getattr(importlib.import_module(module), name)(Path(self.argument))
        except (ImportError, AttributeError, TypeError) as exc:
            raise ConfigError(f"key provider {self.factory}: cannot open it on this executor ({exc})") from None
        if not isinstance(provider, KeyProvider):
            raise ConfigError(f"key provider {self.factory}: does not implement KeyProvider")
        return provider


def open_key_file(path: Path) -> LocalKeyFileProvider:
    """The local key file, never created: an executor must not make a new KEK."""
    return LocalKeyFileProvider(path, create=False)


def provider_ref(provider: KeyProvider, out_dir: Path | None = None) -> ProviderRef:
    """The reference executors open ``provider`` by.

    A key file is referenced by its path; a ``CUSTODATA_KEY_PROVIDER`` class by its
    ``module:Class`` and the store folder it was opened for (``out_dir``). A throw-away
    in-memory KEK cannot reach another process at all.
    """
    if isinstance(provider, MemoryKeyProvider):
        raise CryptoError("an in-memory key provider cannot reach Spark's executors; use a key file or a KMS")
    if isinstance(provider, LocalKeyFileProvider):
        return ProviderRef(LOCAL_FILE, str(Path(provider.path).resolve()))
    spec = os.environ.get("CUSTODATA_KEY_PROVIDER")
    cls = type(provider)
    if spec != f"{cls.__module__}:{cls.__qualname__}" or out_dir is None:
        raise CryptoError(f"key provider {provider.name}: executors open it through CUSTODATA_KEY_PROVIDER "
                          "and the store folder; give the folder (out_dir) it was loaded for")
    return ProviderRef(spec, str(out_dir))


# ---- per executor process: the provider, its token key and unwrapped keys, never pickled -----------
_LOCK = threading.Lock()
_PROVIDERS: dict[ProviderRef, KeyProvider] = {}
_TOKEN_KEYS: dict[ProviderRef, bytes] = {}
_CIPHERS: dict[tuple[ProviderRef, str, str, bytes], AESGCM] = {}


def _provider(ref: ProviderRef) -> KeyProvider:
    found = _PROVIDERS.get(ref)
    if found is None:
        with _LOCK:
            found = _PROVIDERS.get(ref)
            if found is None:
                found = _PROVIDERS[ref] = ref.open()
    return found


def forget_process_keys() -> None:
    """Drop this process's unwrapped keys and providers (tests; a KEK rotation on a long-lived worker)."""
    with _LOCK:
        _PROVIDERS.clear()
        _TOKEN_KEYS.clear()
        _CIPHERS.clear()


class ExecutorProtector(Sealing):
    """Encrypts, decrypts and tokenises in an executor, over wrapped keys the driver handed out."""

    def __init__(self, ref: ProviderRef, wrapped: dict[str, tuple[str, bytes]],
                 destroyed: Iterable[str] = (), erased: Iterable[str] = ()) -> None:
        self.ref = ref
        self.wrapped = dict(wrapped)
        self.destroyed = frozenset(destroyed)
        self.erased = frozenset(erased)

    @classmethod
    def from_keyring(cls, keyring: KeyRing, key_ids: Iterable[str] | None = None, *,
                     erased: Iterable[str] = (), out_dir: Path | None = None) -> ExecutorProtector:
        """The executors' protector for ``key_ids`` (every key of the store if None), made on the driver.

        Keys a step will encrypt under must exist first (:meth:`KeyRing.ensure`): none is
        created here nor on an executor.
        """
        wrapped, destroyed = keyring.wrapped(key_ids)
        return cls(provider_ref(keyring.provider, out_dir), wrapped, destroyed, erased)

    def __getstate__(self) -> dict[str, Any]:
        """Exactly the safe fields: a future attribute holding a key must not ride along unnoticed."""
        return {"ref": self.ref, "wrapped": self.wrapped, "destroyed": self.destroyed, "erased": self.erased}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def cipher(self, key_id: str) -> AESGCM:
        entry = self.wrapped.get(key_id)
        if entry is None:
            if key_id in self.destroyed:
                raise KeyDestroyedError(f"data key {key_id} was destroyed")
            raise CryptoError(f"data key {key_id} was not handed to the executors: data keys are created on the "
                              "driver only (ensure them before the step)")
        version, blob = entry
        slot = (self.ref, key_id, version, blob)
        found = _CIPHERS.get(slot)
        if found is None:
            found = AESGCM(_provider(self.ref).unwrap(version, blob, key_id))
            with _LOCK:
                _CIPHERS[slot] = found
        return found

    def token_key(self) -> bytes:
        found = _TOKEN_KEYS.get(self.ref)
        if found is None:
            found = _provider(self.ref).token_key()
            with _LOCK:
                _TOKEN_KEYS[self.ref] = found
        return found

    def is_erased(self, key: str) -> bool:
        return key in self.erased
