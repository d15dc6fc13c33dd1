"""Encryption at rest: envelope encryption (KEK -> data keys -> AES-GCM fields) and keyed tokens."""

from custodata.crypto.envelope import Protector, is_ciphertext, is_token
from custodata.crypto.kek import KeyProvider, LocalKeyFileProvider, load_provider
from custodata.crypto.keyring import KeyRing, batch_key_id, customer_key_id

__all__ = [
    "KeyProvider", "KeyRing", "LocalKeyFileProvider", "Protector", "batch_key_id", "customer_key_id",
    "is_ciphertext", "is_token", "load_provider",
]
