"""Sealing a backup: every file encrypted and authenticated in chunks, under a key from the key provider.

A stolen backup must reveal nothing and a changed one must be refused.  Each backup
gets a fresh 256-bit backup key, stored only **wrapped** by the key provider
(:meth:`custodata.crypto.kek.KeyProvider.wrap`, the KEK a bank keeps in its KMS), so the
backup folder alone opens nothing.  Every file is sealed as a stream of AES-GCM chunks
(4 MiB, so a store of gigabytes never sits in memory) under a key derived per file
(HKDF over the backup key and the file's name): a chunk's nonce is its number, its
associated data names the backup, the file, the chunk and whether it is the last one —
so chunks cannot be reordered, moved between files or backups, and a file cut short
(no last chunk) is refused as truncated.

Sealed file layout: ``MAGIC`` then, per chunk, a 4-byte big-endian length and the
ciphertext with its tag.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from custodata.errors import CryptoError, CustodataError

MAGIC = b"CDBK1\n"
CHUNK = 4 * 1024 * 1024
_LEN = struct.Struct(">I")


class BackupError(CustodataError):
    """A backup cannot be taken, or a backup is tampered with, incomplete or not for this key."""


@dataclass(frozen=True)
class Sealed:
    """What sealing one file gave: its plaintext size and SHA-256, and the sealed size."""

    size: int
    sha256: str
    sealed_size: int
    chunks: int


def file_key(backup_key: bytes, backup_id: str, name: str) -> AESGCM:
    """The AES-GCM key of one file of one backup: HKDF(backup key, info = backup id + file name)."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=f"custodata-backup\x1f{backup_id}\x1f{name}".encode()).derive(backup_key)
    return AESGCM(derived)


def _aad(backup_id: str, name: str, index: int, last: bool) -> bytes:
    return f"{backup_id}\x1f{name}\x1f{index}\x1f{int(last)}".encode()


def _nonce(index: int) -> bytes:
    return index.to_bytes(12, "big")


def seal_stream(source: IO[bytes], target: IO[bytes], backup_key: bytes, backup_id: str, name: str, *,
                chunk: int = CHUNK) -> Sealed:
    """Read ``source`` to its end and write it sealed to ``target``; hashes the plaintext on the way."""
    cipher = file_key(backup_key, backup_id, name)
    digest = hashlib.sha256()
    target.write(MAGIC)
    written, size, index = len(MAGIC), 0, 0
    current = source.read(chunk)
    while True:
        following = source.read(chunk) if current else b""
        last = not following
        digest.update(current)
        size += len(current)
        body = cipher.encrypt(_nonce(index), current, _aad(backup_id, name, index, last))
        target.write(_LEN.pack(len(body)))
        target.write(body)
        written += _LEN.size + len(body)
        index += 1
        if last:
            break
        current = following
    return Sealed(size, digest.hexdigest(), written, index)


def seal_file(path: Path, target: Path, backup_key: bytes, backup_id: str, name: str) -> Sealed:
    with path.open("rb") as src, target.open("xb") as dst:
        return seal_stream(src, dst, backup_key, backup_id, name)


def open_stream(source: IO[bytes], backup_key: bytes, backup_id: str, name: str) -> Iterator[bytes]:
    """The plaintext chunks of a sealed file; :class:`BackupError` naming the file and chunk at the first fault."""
    cipher = file_key(backup_key, backup_id, name)
    if source.read(len(MAGIC)) != MAGIC:
        raise BackupError(f"{name}: not a sealed backup file (its header is wrong)")
    index = 0
    pending: bytes | None = None
    while True:
        head = source.read(_LEN.size)
        if not head:
            break
        if len(head) < _LEN.size:
            raise BackupError(f"{name}: cut off inside chunk {index} (truncated)")
        (length,) = _LEN.unpack(head)
        if length > CHUNK + 16 or length < 16:
            raise BackupError(f"{name}: chunk {index} has an impossible length (altered)")
        body = source.read(length)
        if len(body) < length:
            raise BackupError(f"{name}: cut off inside chunk {index} (truncated)")
        if pending is not None:
            yield pending
        try:
            pending = cipher.decrypt(_nonce(index), body, _aad(backup_id, name, index, False))
            last = False
        except InvalidTag:
            try:
                pending = cipher.decrypt(_nonce(index), body, _aad(backup_id, name, index, True))
            except InvalidTag:
                raise BackupError(f"{name}: chunk {index} fails authentication (altered, reordered or from "
                                  "another backup)") from None
            last = True
        index += 1
        if last:
            if source.read(1):
                raise BackupError(f"{name}: data after its last chunk (appended)")
            yield pending
            return
    raise BackupError(f"{name}: ends without its last chunk (truncated)")


def open_file(path: Path, backup_key: bytes, backup_id: str, name: str, sink: Callable[[bytes], object]) -> Sealed:
    """Authenticate and decrypt a sealed file into ``sink``; the plaintext's size and SHA-256."""
    digest = hashlib.sha256()
    size = chunks = 0
    try:
        with path.open("rb") as src:
            for piece in open_stream(src, backup_key, backup_id, name):
                digest.update(piece)
                size += len(piece)
                chunks += 1
                sink(piece)
    except FileNotFoundError:
        raise BackupError(f"{name}: missing from the backup (incomplete)") from None
    return Sealed(size, digest.hexdigest(), path.stat().st_size, chunks)


def seal_bytes(data: bytes, backup_key: bytes, backup_id: str, name: str) -> bytes:
    import io

    out = io.BytesIO()
    seal_stream(io.BytesIO(data), out, backup_key, backup_id, name)
    return out.getvalue()


def open_bytes(data: bytes, backup_key: bytes, backup_id: str, name: str) -> bytes:
    import io

    return b"".join(open_stream(io.BytesIO(data), backup_key, backup_id, name))


def unwrap_backup_key(provider: object, version: str, blob: bytes, backup_id: str) -> bytes:
    """The backup key, unwrapped by the provider; a clear refusal when this provider cannot."""
    from custodata.crypto.kek import KeyProvider

    assert isinstance(provider, KeyProvider)  # noqa: S101  (typed for mypy; load_provider checked it)
    try:
        return provider.unwrap(version, blob, wrap_context(backup_id))
    except CryptoError as exc:
        raise BackupError(f"the backup key does not unwrap with this key provider ({exc}): wrong key file, "
                          "a retired KEK version, or an altered backup header") from None


def wrap_context(backup_id: str) -> str:
    return f"backup-{backup_id}"
