"""Field encryption and keyed tokens, as used by every stage that stores a protected field.

A protected value is stored as ``cd1:<key id>:<base64(nonce | ciphertext | tag)>``:
AES-GCM under a data key, with the field and the record it belongs to bound
as associated data, so a ciphertext copied into another row or column does
not decrypt.  Exact-match work (joins, look-ups, entity-resolution blocking)
uses keyed deterministic tokens instead of plaintext: HMAC-SHA256 under the
institution's token key (held by the KEK provider), over the normalised value and its kind.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from custodata.crypto.keyring import KeyRing
from custodata.errors import CryptoError
from custodata.normalise import is_placeholder

PREFIX = "cd1"
TOKEN_PREFIX = "tk1"  # noqa: S105  (a format marker, not a secret)


def is_ciphertext(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX + ":")


def is_token(value: object) -> bool:
    return isinstance(value, str) and value.startswith(TOKEN_PREFIX + ":")


class Sealing:
    """The envelope's formats over a source of data-key ciphers and the token key.

    :class:`Protector` (the driver's, over the store's key ring) and
    :class:`custodata.crypto.executor.ExecutorProtector` (Spark's executors, over wrapped
    keys handed out by the driver) share these formats, so either side reads what the
    other wrote.
    """

    def cipher(self, key_id: str) -> AESGCM:
        raise NotImplementedError

    def token_key(self) -> bytes:
        raise NotImplementedError

    def encrypt(self, value: str | None, key_id: str, aad: str) -> str | None:
        if value is None:
            return None
        nonce = secrets.token_bytes(12)
        sealed = self.cipher(key_id).encrypt(nonce, value.encode("utf-8"), aad.encode("utf-8"))
        return f"{PREFIX}:{key_id}:{base64.b64encode(nonce + sealed).decode('ascii')}"

    def decrypt(self, value: str | None, aad: str) -> str | None:
        """The plaintext, or :class:`CryptoError` if the value was moved, altered or its key destroyed."""
        if value is None:
            return None
        try:
            prefix, key_id, body = value.split(":", 2)
            blob = base64.b64decode(body, validate=True)
        except ValueError:
            raise CryptoError("not a custodata ciphertext") from None
        if prefix != PREFIX or len(blob) < 28:
            raise CryptoError("not a custodata ciphertext")
        try:
            return self.cipher(key_id).decrypt(blob[:12], blob[12:], aad.encode("utf-8")).decode("utf-8")
        except InvalidTag:
            raise CryptoError(
                f"ciphertext does not belong to {aad} (moved from another row or field, or altered)"
            ) from None

    def reencrypt(self, value: str | None, aad: str, key_id: str, new_aad: str) -> str | None:
        return self.encrypt(self.decrypt(value, aad), key_id, new_aad)

    def fingerprint(self) -> str:
        """Identifies the token key without revealing it: a store remembers it to refuse a wrong key file."""
        return hmac.new(self.token_key(), b"custodata key check", hashlib.sha256).hexdigest()[:16]

    def token(self, kind: str, value: str | None) -> str | None:
        """Deterministic keyed token of a normalised value; placeholders get none (they must not match)."""
        if value is None or is_placeholder(value):
            return None
        digest = hmac.new(self.token_key(), f"{kind}\x1f{value}".encode(), hashlib.sha256).digest()[:16]
        return f"{TOKEN_PREFIX}:{base64.urlsafe_b64encode(digest).decode('ascii').rstrip('=')}"


class Protector(Sealing):
    """Encrypts, decrypts and tokenises with one store's key ring (in the driver's process)."""

    def __init__(self, keyring: KeyRing) -> None:
        self.keyring = keyring
        self._token_key = keyring.provider.token_key()

    def cipher(self, key_id: str) -> AESGCM:
        return self.keyring.cipher(key_id)

    def token_key(self) -> bytes:
        return self._token_key
