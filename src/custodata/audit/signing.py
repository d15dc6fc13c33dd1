"""Signing keys of the audit checkpoints (Ed25519).

A checkpoint signs (seq, hash, time) of the chain; whoever holds only the
public key can then tell a genuine chain prefix from one rewritten by someone
with write access to the database.  The private key lives in a PEM file that is
created once, readable only by its owner, and never overwritten: a new key
would make every later checkpoint unverifiable against the published one.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from custodata.errors import ConfigError

KEY_ENV = "CUSTODATA_AUDIT_KEY"


def default_key_path(out_dir: Path) -> Path:
    """``CUSTODATA_AUDIT_KEY`` if set, else ``audit-signing.pem`` in the key folder beside the data.

    Not in the data folder: whoever copies or rewrites ``out/`` should not hold the key that
    signs the log too.  A deployment of an older version keeps ``OUT/keys/audit-signing.pem``
    where it is (its checkpoints are signed with it).
    """
    configured = os.environ.get(KEY_ENV)
    if configured:
        return Path(configured)
    from custodata.crypto.kek import default_key_dir

    old = out_dir / "keys" / "audit-signing.pem"
    return old if old.exists() else default_key_dir(out_dir) / "audit-signing.pem"


def key_id(public_key: Ed25519PublicKey) -> str:
    """The key's fingerprint: first 16 hex digits of SHA-256 over the raw public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def verify_signature(public_key: Ed25519PublicKey, signature_hex: str, message: bytes) -> bool:
    try:
        public_key.verify(bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A public key from a PEM file (the auditor's copy), or the public half of a private key file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the audit public key ({exc.strerror})") from None
    try:
        if b"PRIVATE KEY" in data:
            private = serialization.load_pem_private_key(data, password=None)
            if not isinstance(private, Ed25519PrivateKey):
                raise ValueError("not an Ed25519 key")
            return private.public_key()
        public = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise ConfigError(f"{path}: not an Ed25519 PEM key ({exc})") from None
    if not isinstance(public, Ed25519PublicKey):
        raise ConfigError(f"{path}: not an Ed25519 public key")
    return public


class CheckpointSigner:
    """Signs checkpoints with the Ed25519 key in ``path`` (created, mode 0600, when absent and allowed)."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        self._private = self._load_or_create(create)
        self.public_key: Ed25519PublicKey = self._private.public_key()
        self.key_id: str = key_id(self.public_key)

    @classmethod
    def load_or_create(cls, path: Path) -> CheckpointSigner:
        return cls(path, create=True)

    @classmethod
    def for_out_dir(cls, out_dir: Path, *, create: bool = True) -> CheckpointSigner:
        return cls(default_key_path(out_dir), create=create)

    def _load_or_create(self, create: bool) -> Ed25519PrivateKey:
        if not self.path.exists():
            if not create:
                raise ConfigError(f"{self.path}: audit signing key not found; point {KEY_ENV} at it")
            return self._create()
        if os.stat(self.path).st_mode & 0o077:
            raise ConfigError(f"{self.path}: the audit signing key is readable by group or others; chmod 600 it")
        try:
            key = serialization.load_pem_private_key(self.path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"{self.path}: not a usable audit signing key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"{self.path}: the audit signing key must be Ed25519")
        return key

    def _create(self) -> Ed25519PrivateKey:
        """Write a new key durably and atomically, never over a key another process just wrote.

        The PEM goes to a private temporary file first and is then hard-linked
        into place: the link fails when the file exists, so a concurrent
        creator's key wins and nobody ever reads a half-written file.
        """
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".audit-key-", dir=self.path.parent)  # 0600, O_EXCL
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                return self._load_or_create(create=False)
        finally:
            Path(tmp).unlink(missing_ok=True)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return key

    def sign(self, message: bytes) -> str:
        """The signature of ``message`` as 128 hex digits."""
        return self._private.sign(message).hex()

    def public_pem(self) -> bytes:
        """The public key to hand to auditors (``custodata audit verify --public-key``)."""
        return self.public_key.public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)


__all__ = ["KEY_ENV", "CheckpointSigner", "default_key_path", "key_id", "load_public_key", "verify_signature"]
