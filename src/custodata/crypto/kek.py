"""Key-encryption keys (KEK): the root of the envelope, behind a pluggable provider.

Data keys are only ever stored wrapped by a KEK, and the KEK never sits in the
batch store, nor by default in its folder.  The default provider keeps versioned
KEKs in a local key file (mode 0600, in ``<out>.keys/`` beside the data folder
``<out>/``); a bank plugs in its KMS or Vault by implementing
:class:`KeyProvider` and naming the class in ``CUSTODATA_KEY_PROVIDER``.
Rotating the KEK adds a version; data keys are re-wrapped, data is not touched.

The provider also holds the token key (HMAC): tokens must be equal across every
store and system of the institution for joins to work, so the key belongs to
the institution's key custody, not to one store, and KEK rotation leaves it be.
"""

from __future__ import annotations

import base64
import importlib
import json
import logging
import os
import secrets
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from custodata.errors import ConfigError, CryptoError

KEY_FILE_FORMAT = "custodata-kek/1"
KEK_FILE_ENV = "CUSTODATA_KEK_FILE"
KEY_DIR_ENV = "CUSTODATA_KEY_DIR"
KEK_FILE_NAME = "kek.json"
KEY_DIR_SUFFIX = ".keys"  # out/ -> out.keys/
LEGACY_KEY_DIR = "keys"  # OUT/keys/ of versions before the key folder moved out of the data folder

log = logging.getLogger(__name__)


@runtime_checkable
class KeyProvider(Protocol):
    """What custodata needs from a KMS: wrap and unwrap data keys, rotate its own key."""

    name: str

    def current_version(self) -> str: ...

    def versions(self) -> list[str]:
        """Every KEK version the provider can still unwrap with."""
        ...

    def wrap(self, key: bytes, context: str) -> tuple[str, bytes]:
        """Encrypt a data key under the current KEK, bound to ``context``; returns (version, blob)."""
        ...

    def unwrap(self, version: str, blob: bytes, context: str) -> bytes: ...

    def rotate(self) -> str:
        """Make a new KEK version current and return it; old versions still unwrap."""
        ...

    def retire(self, version: str) -> None:
        """Forget an old KEK version once nothing is wrapped under it any more."""
        ...

    def token_key(self) -> bytes:
        """The institution-wide HMAC key for tokens: the same in every store, untouched by KEK rotation."""
        ...


class LocalKeyFileProvider:
    """Versioned 256-bit KEKs in a JSON key file readable only by its owner."""

    name = "local-file"

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        self._keys: dict[str, bytes] = {}
        self._current = ""
        self._token_key = b""
        self._load_or_create(create)

    def _load_or_create(self, create: bool) -> None:
        if not self.path.exists():
            if not create:
                raise ConfigError(
                    f"{self.path}: key file not found, and this store's data keys are wrapped under it; "
                    "restore it or point CUSTODATA_KEK_FILE at it (a new key file would make the data unreadable)"
                )
            self._keys = {"1": AESGCM.generate_key(256)}
            self._current = "1"
            self._token_key = secrets.token_bytes(32)
            self._save()
            return
        if os.stat(self.path).st_mode & 0o077:
            raise ConfigError(f"{self.path}: the key file is readable by group or others; chmod 600 it")
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("format") != KEY_FILE_FORMAT:
                raise ValueError(f"format is not {KEY_FILE_FORMAT}")
            self._keys = {str(v): base64.b64decode(k) for v, k in data["keys"].items()}
            self._current = str(data["current"])
            self._token_key = base64.b64decode(data["token_key"])
            if len(self._token_key) != 32:
                raise ValueError("the token key is not 256 bits")
            if self._current not in self._keys or any(len(k) != 32 for k in self._keys.values()):
                raise ValueError("current version missing or a key is not 256 bits")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{self.path}: not a usable key file ({exc})") from None

    def _save(self) -> None:
        """Write durably before anything is wrapped under a new KEK: temp file (0600), fsync, rename, fsync dir."""
        from custodata.private_files import private_dir

        private_dir(self.path.parent)  # the key folder: 0700
        fd, tmp = tempfile.mkstemp(prefix=".kek-", dir=self.path.parent)  # 0600, O_EXCL
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"format": KEY_FILE_FORMAT, "current": self._current,
                           "keys": {v: base64.b64encode(k).decode() for v, k in self._keys.items()},
                           "token_key": base64.b64encode(self._token_key).decode()}, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def current_version(self) -> str:
        return self._current

    def versions(self) -> list[str]:
        return sorted(self._keys, key=int)

    def wrap(self, key: bytes, context: str) -> tuple[str, bytes]:
        nonce = secrets.token_bytes(12)
        return self._current, nonce + AESGCM(self._keys[self._current]).encrypt(nonce, key, context.encode())

    def unwrap(self, version: str, blob: bytes, context: str) -> bytes:
        kek = self._keys.get(version)
        if kek is None:
            raise CryptoError(f"KEK version {version} is not in {self.path} (retired or wrong key file)")
        try:
            return AESGCM(kek).decrypt(blob[:12], blob[12:], context.encode())
        except InvalidTag:
            raise CryptoError(f"data key {context} does not unwrap under KEK version {version}") from None

    def rotate(self) -> str:
        version = str(max(int(v) for v in self._keys) + 1)
        self._keys[version] = AESGCM.generate_key(256)
        self._current = version
        self._save()
        return version

    def token_key(self) -> bytes:
        return self._token_key

    def retire(self, version: str) -> None:
        if version == self._current:
            raise CryptoError("the current KEK version cannot be retired")
        self._keys.pop(version, None)
        self._save()


class MemoryKeyProvider(LocalKeyFileProvider):
    """KEKs that live and die with the process: for in-memory stores in tests and throw-away runs."""

    name = "memory"

    def __init__(self) -> None:
        self._keys = {"1": AESGCM.generate_key(256)}
        self._current = "1"
        self._token_key = secrets.token_bytes(32)
        self.path = Path("(memory)")

    def _save(self) -> None:
        return None


def default_key_dir(out_dir: Path) -> Path:
    """The key folder for a data folder: ``CUSTODATA_KEY_DIR``, else the sibling ``<out>.keys/``.

    Never inside the data folder by default: a copy of ``out/`` (a backup, a support
    bundle, a stolen disk image of the data volume) must not carry the key that opens
    it. Production points ``CUSTODATA_KEY_DIR`` (or ``CUSTODATA_KEK_FILE``) at
    another volume, or uses a KMS through ``CUSTODATA_KEY_PROVIDER``.
    """
    configured = os.environ.get(KEY_DIR_ENV)
    if configured:
        return Path(configured)
    data = out_dir.resolve()
    return data.with_name(data.name + KEY_DIR_SUFFIX)


def default_key_file(out_dir: Path) -> Path:
    """``CUSTODATA_KEK_FILE``, else ``kek.json`` in :func:`default_key_dir`.

    A deployment of an older version keeps its ``OUT/keys/kek.json`` (the store's data
    keys are wrapped under it): it goes on being used, with a warning to move it.
    """
    configured = os.environ.get(KEK_FILE_ENV)
    if configured:
        return Path(configured)
    legacy = out_dir / LEGACY_KEY_DIR / KEK_FILE_NAME
    if legacy.exists() and not os.environ.get(KEY_DIR_ENV):
        return legacy
    return default_key_dir(out_dir) / KEK_FILE_NAME


def key_location_warning(out_dir: Path, key_file: Path) -> str | None:
    """Why ``key_file`` is badly placed for the data folder ``out_dir``, or None when it is apart from it."""
    data, key = out_dir.resolve(), key_file.resolve()
    if not key.is_relative_to(data):
        return None
    return (f"WARNING: the key file {key_file} is inside the data folder {out_dir}: a copy of the folder "
            f"decrypts everything. Move it out (default {default_key_dir(out_dir) / KEK_FILE_NAME}) or set "
            f"{KEY_DIR_ENV} / {KEK_FILE_ENV} to a folder on another volume.")


_warned: set[Path] = set()


def _warn_key_location(out_dir: Path, key_file: Path) -> None:
    """Log the warning once per key file and process (every store open would repeat it)."""
    message = key_location_warning(out_dir, key_file)
    if message and key_file not in _warned:
        _warned.add(key_file)
        log.warning(message)


def load_provider(out_dir: Path, *, create: bool = True) -> KeyProvider:
    """The configured provider: ``CUSTODATA_KEY_PROVIDER=module:Class`` or the local key file.

    ``create`` allows a new key file; it is only given for a store that has no data keys yet.
    """
    spec = os.environ.get("CUSTODATA_KEY_PROVIDER")
    if not spec:
        key_file = default_key_file(out_dir)
        _warn_key_location(out_dir, key_file)
        return LocalKeyFileProvider(key_file, create=create)
    module, _, cls = spec.partition(":")
    try:
        provider = getattr(importlib.import_module(module), cls)(out_dir)
    except (ImportError, AttributeError, TypeError) as exc:
        raise ConfigError(f"CUSTODATA_KEY_PROVIDER={spec}: cannot load it ({exc}); give module:Class") from None
    if not isinstance(provider, KeyProvider):
        raise ConfigError(f"CUSTODATA_KEY_PROVIDER={spec}: does not implement KeyProvider")
    return provider
