"""The service's cache of customer data keys: fresher reads win, erasure bites on the read, the cache is bounded."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from custodata.crypto.kek import LocalKeyFileProvider
from custodata.crypto.keyring import customer_key_id
from custodata.errors import CryptoError, KeyDestroyedError
from custodata.ops import open_ops
from custodata.serving import keys as served_keys
from custodata.serving.keys import ServedKeyRing


@pytest.fixture
def ring(ops_url: str, tmp_path: Path) -> Iterator[ServedKeyRing]:
    store = open_ops(ops_url)
    try:
        yield ServedKeyRing(store, LocalKeyFileProvider(tmp_path / "kek.json", create=True))
    finally:
        store.close()


def _wrapped(ring: ServedKeyRing, key_id: str) -> tuple[str, bytes]:
    return ring.provider.wrap(secrets.token_bytes(32), key_id)


def test_a_key_read_as_destroyed_refuses_at_once_even_when_cached(ring: ServedKeyRing) -> None:
    key_id = customer_key_id("C1")
    version, blob = _wrapped(ring, key_id)
    ring.offer(key_id, version, blob)
    sealed = ring.cipher(key_id).encrypt(b"\0" * 12, b"secret", b"aad")
    ring.offer(key_id, version, None)  # the document's read saw the key destroyed (erasure)
    with pytest.raises(KeyDestroyedError):
        ring.cipher(key_id)
    assert key_id not in ring
    assert sealed  # the ciphertext exists; only the key is gone


def test_a_replaced_key_is_unwrapped_again(ring: ServedKeyRing) -> None:
    key_id = customer_key_id("C2")
    first = _wrapped(ring, key_id)
    ring.offer(key_id, *first)
    sealed = ring.cipher(key_id).encrypt(b"\0" * 12, b"v", b"a")
    ring.offer(key_id, *_wrapped(ring, key_id))
    with pytest.raises(InvalidTag):  # the new key cannot open what the old one sealed
        ring.cipher(key_id).decrypt(b"\0" * 12, sealed, b"a")


def test_customer_keys_are_bounded_batch_keys_are_kept(ring: ServedKeyRing, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(served_keys, "MAX_CUSTOMER_KEYS", 3)
    batch = "b-batch-1"
    ring.offer(batch, *_wrapped(ring, batch))
    ids = [customer_key_id(f"C{i}") for i in range(10)]
    for key_id in ids:
        ring.offer(key_id, *_wrapped(ring, key_id))
        ring.cipher(key_id)
    assert batch in ring._wrapped
    assert [k for k in ring._wrapped if k != batch] == ids[-3:]
    assert set(ring._ciphers) <= {batch, *ids[-3:]}
    with pytest.raises(CryptoError):  # evicted and not in served_key: read again, found nowhere
        ring.cipher(ids[0])
