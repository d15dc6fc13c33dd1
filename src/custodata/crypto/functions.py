"""The crypto operations as vectorised batch-engine functions, so pipeline SQL stays declarative.

``cd_enc(value, key_id, aad)``, ``cd_dec(value, aad)``,
``cd_reenc(value, aad, key_id, new_aad)``, ``cd_tok(kind, value)`` and
``cd_erased(key)`` are bound to one :class:`Protector`; they are registered on
the pipeline's connection only, never on a read-only reporting connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from custodata.crypto.envelope import Protector
from custodata.engine.port import ArrowFunction, BatchEngine


def _columns(*arrays: pa.Array) -> list[list[Any]]:
    return [a.to_pylist() for a in arrays]


def crypto_functions(protector: Protector, erased: Callable[[str], bool]) -> list[ArrowFunction]:
    """The crypto functions bound to one protector, as engine-neutral Arrow functions."""
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
