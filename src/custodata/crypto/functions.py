"""The crypto operations as vectorised batch-engine functions, so pipeline SQL stays declarative.

``cd_enc(value, key_id, aad)``, ``cd_dec(value, aad)``,
``cd_reenc(value, aad, key_id, new_aad)``, ``cd_tok(kind, value)`` and
``cd_erased(key)`` are bound to one protector; they are registered on
the pipeline's connection only, never on a read-only reporting connection.

On DuckDB the protector is the store's :class:`Protector` (in-process key ring).  On Spark
the functions are pickled to the executors, so they are built over an
:class:`~custodata.crypto.executor.ExecutorProtector` (wrapped keys and a reference to the
key provider, see that module) — ``crypto_functions(ExecutorProtector.from_keyring(...))``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa

from custodata.crypto.envelope import Protector, Sealing
from custodata.crypto.executor import ExecutorProtector
from custodata.crypto.keyring import KeyRing
from custodata.engine.port import ArrowFunction, BatchEngine


def _columns(*arrays: pa.Array) -> list[list[Any]]:
    return [a.to_pylist() for a in arrays]


def crypto_functions(protector: Sealing, erased: Callable[[str], bool] | None = None) -> list[ArrowFunction]:
    """The crypto functions bound to one protector, as engine-neutral Arrow functions.

    ``erased`` tells an erased entity key; an :class:`ExecutorProtector` carries its own
    erased set, so for Spark it may be left out (the closures then pickle with it alone).
    """
    if erased is None:
        if not isinstance(protector, ExecutorProtector):
            raise TypeError("crypto_functions: give erased (only an ExecutorProtector carries its erased set)")
        erased = protector.is_erased
    V, B = pa.string(), pa.bool_()

    def enc(values: pa.Array, keys: pa.Array, aads: pa.Array) -> pa.Array:
        v, k, a = _columns(values, keys, aads)
        return pa.array([None if x is None else protector.encrypt(x, kk, aa)
                         for x, kk, aa in zip(v, k, a, strict=True)], pa.string())

    def dec(values: pa.Array, aads: pa.Array) -> pa.Array:
        v, a = _columns(values, aads)
        return pa.array([protector.decrypt(x, aa) for x, aa in zip(v, a, strict=True)], pa.string())

    def reenc(values: pa.Array, aads: pa.Array, keys: pa.Array, new_aads: pa.Array) -> pa.Array:
        v, a, k, n = _columns(values, aads, keys, new_aads)
        return pa.array([protector.reencrypt(x, aa, kk, nn) for x, aa, kk, nn in zip(v, a, k, n, strict=True)],
                        pa.string())

    def tok(kinds: pa.Array, values: pa.Array) -> pa.Array:
        k, v = _columns(kinds, values)
        return pa.array([protector.token(kk, x) for kk, x in zip(k, v, strict=True)], pa.string())

    def is_erased(keys: pa.Array) -> pa.Array:
        return pa.array([k is not None and erased(k) for k in keys.to_pylist()], pa.bool_())

    return [
        ArrowFunction("cd_enc", enc, (V, V, V), V, side_effects=True),
        ArrowFunction("cd_dec", dec, (V, V), V),
        ArrowFunction("cd_reenc", reenc, (V, V, V, V), V, side_effects=True),
        ArrowFunction("cd_tok", tok, (V, V), V),
        ArrowFunction("cd_erased", is_erased, (V,), B),
    ]


def register_crypto(engine: BatchEngine, protector: Protector, erased: Callable[[str], bool]) -> None:
    """Bind the crypto functions to ``protector`` on ``engine``, replacing an earlier binding."""
    engine.register(crypto_functions(protector, erased), replace=True)


def register_crypto_on_executors(engine: BatchEngine, keyring: KeyRing, key_ids: Iterable[str] | None, *,
                                 erased: Iterable[str] = (), out_dir: Path | None = None) -> ExecutorProtector:
    """Bind the crypto functions for an engine whose functions run elsewhere (Spark's executors).

    The functions carry the wrapped keys of ``key_ids`` (every key of the store if None) and
    a reference to the key provider, never a key. Call it after :meth:`KeyRing.ensure` has
    made the keys a step encrypts under, and again when a later step needs new ones: an
    executor never makes a key.
    """
    executor = ExecutorProtector.from_keyring(keyring, key_ids, erased=erased, out_dir=out_dir)
    engine.register(crypto_functions(executor), replace=True)
    return executor
