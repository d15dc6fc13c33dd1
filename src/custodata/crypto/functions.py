"""The crypto operations as vectorised DuckDB functions, so pipeline SQL stays declarative.

``cd_enc(value, key_id, aad)``, ``cd_dec(value, aad)``,
``cd_reenc(value, aad, key_id, new_aad)``, ``cd_tok(kind, value)`` and
``cd_erased(key)`` are bound to one :class:`Protector`; they are registered on
the pipeline's connection only, never on a read-only reporting connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import pyarrow as pa
from duckdb import sqltypes
from duckdb.func import ARROW, SPECIAL

from custodata.crypto.envelope import Protector


def _columns(*arrays: pa.Array) -> list[list[Any]]:
    return [a.to_pylist() for a in arrays]


def register_crypto(con: duckdb.DuckDBPyConnection, protector: Protector, erased: Callable[[str], bool]) -> None:
    V, B = sqltypes.VARCHAR, sqltypes.BOOLEAN
    existing = {r[0] for r in con.execute(
        "SELECT function_name FROM duckdb_functions() WHERE function_name IN "
        "('cd_enc', 'cd_dec', 'cd_reenc', 'cd_tok', 'cd_erased')"
    ).fetchall()}
    for name in existing:
        con.remove_function(name)

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

    con.create_function("cd_enc", enc, [V, V, V], V, type=ARROW, null_handling=SPECIAL, side_effects=True)
    con.create_function("cd_dec", dec, [V, V], V, type=ARROW, null_handling=SPECIAL)
    con.create_function("cd_reenc", reenc, [V, V, V, V], V, type=ARROW, null_handling=SPECIAL, side_effects=True)
    con.create_function("cd_tok", tok, [V, V], V, type=ARROW, null_handling=SPECIAL)
    con.create_function("cd_erased", is_erased, [V], B, type=ARROW, null_handling=SPECIAL)
