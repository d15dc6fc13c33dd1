"""The crypto functions on Spark's executors (issue 12 point 1): keys without the batch store.

What one engine seals the other opens, tokens are equal on both, the pickled functions carry
no key (neither a data key, nor the token key, nor a KEK), an executor never makes a key, and
``cd_erased`` answers alike.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from custodata.crypto import KeyRing, LocalKeyFileProvider, Protector
from custodata.crypto.executor import ExecutorProtector, provider_ref
from custodata.crypto.functions import crypto_functions, register_crypto, register_crypto_on_executors
from custodata.crypto.kek import MemoryKeyProvider
from custodata.engine.duckdb_engine import DuckDBEngine, connect
from custodata.errors import CryptoError, EngineError

pytest.importorskip("pyspark")

from custodata.engine.spark_engine import SparkEngine  # noqa: E402

NAMES = ["张三", "李四", "x", None]
ERASED = {"C9"}


@dataclass
class World:
    duck: DuckDBEngine
    spark: SparkEngine
    keyring: KeyRing
    protector: Protector
    executor: ExecutorProtector


@pytest.fixture(scope="module")
def world(spark_session: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    provider = LocalKeyFileProvider(Path(os.environ["CUSTODATA_KEK_FILE"]))  # the session's one key custody
    duck = connect(None)
    duck.execute("CREATE SCHEMA meta")
    keyring = KeyRing(duck, provider)
    keyring.ensure(["b-1", "c-C1"])
    protector = Protector(keyring)
    register_crypto(duck, protector, ERASED.__contains__)
    spark = SparkEngine(spark_session, tmp_path_factory.mktemp("crypto-warehouse"))
    executor = register_crypto_on_executors(spark, keyring, ["b-1", "c-C1"], erased=ERASED)
    yield World(duck, spark, keyring, protector, executor)
    spark.close()
    duck.close()


def _put(engine: Any, name: str, **columns: list[Any]) -> None:
    engine.put_arrow(name, pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()}))


def test_sealed_on_spark_opens_on_duckdb_and_back(world: World) -> None:
    _put(world.spark, "_plain", i=["1", "2", "3", "4"], v=NAMES)
    sealed = world.spark.rows("SELECT i, cd_enc(v, 'c-C1', 'name:' || i) FROM _plain ORDER BY i")
    assert all(ct is None or ct.startswith("cd1:c-C1:") for _, ct in sealed)
    _put(world.duck, "_sealed", i=[r[0] for r in sealed], ct=[r[1] for r in sealed])
    assert [r[0] for r in world.duck.rows("SELECT cd_dec(ct, 'name:' || i) FROM _sealed ORDER BY i")] == NAMES

    _put(world.duck, "_plain", i=["1", "2", "3", "4"], v=NAMES)
    sealed = world.duck.rows("SELECT i, cd_enc(v, 'b-1', 'name:' || i) FROM _plain ORDER BY i")
    _put(world.spark, "_sealed", i=[r[0] for r in sealed], ct=[r[1] for r in sealed])
    assert [r[0] for r in world.spark.rows("SELECT cd_dec(ct, 'name:' || i) FROM _sealed ORDER BY i")] == NAMES
    moved = world.spark.rows("SELECT i, cd_reenc(ct, 'name:' || i, 'c-C1', 'moved:' || i) FROM _sealed ORDER BY i")
    assert [world.protector.decrypt(ct, f"moved:{i}") for i, ct in moved] == NAMES


def test_tokens_equal_on_both_engines(world: World) -> None:
    sql = "SELECT cd_tok('name', v) FROM (VALUES ('张三'), ('x'), ('UNKNOWN')) AS t(v) ORDER BY v"
    on_spark, on_duck = world.spark.rows(sql), world.duck.rows(sql)
    assert on_spark == on_duck
    assert on_spark[1][0] == world.protector.token("name", "x") and on_spark[1][0].startswith("tk1:")


def test_erased_agrees(world: World) -> None:
    sql = "SELECT k, cd_erased(k) FROM (VALUES ('C9'), ('C1'), (NULL)) AS t(k) ORDER BY k NULLS LAST"
    assert world.spark.rows(sql) == world.duck.rows(sql) == [("C1", False), ("C9", True), (None, False)]


def test_pickled_functions_carry_no_key(world: World) -> None:
    from pyspark import cloudpickle

    world.executor.encrypt("used once here", "b-1", "a")  # caches unwrapped keys in this process: not in the payload
    world.executor.token("name", "x")
    payload = cloudpickle.dumps(crypto_functions(world.executor))  # type: ignore[no-untyped-call]
    provider = world.keyring.provider
    assert isinstance(provider, LocalKeyFileProvider)
    secrets = [provider.token_key(), *provider._keys.values()]
    secrets += [provider.unwrap(v, b, k) for k, (v, b) in world.executor.wrapped.items()]
    assert len(secrets) >= 4
    for secret in secrets:
        assert secret not in payload
        assert base64.b64encode(secret) not in payload
    assert world.executor.wrapped["b-1"][1] in payload  # what it does carry: the wrapped key
    # the DuckDB-bound functions cannot be shipped at all (the protector holds the store)
    with pytest.raises(EngineError, match="cannot be shipped"):
        world.spark.register(crypto_functions(world.protector, ERASED.__contains__), replace=True)


def test_executor_never_creates_a_key(world: World) -> None:
    with pytest.raises(EngineError, match="created on the driver"):
        world.spark.rows("SELECT cd_enc(v, 'c-NEVER', 'a') FROM (VALUES ('x')) AS t(v)")
    assert "c-NEVER" not in world.keyring
    with pytest.raises(CryptoError, match="created on the driver"):
        world.executor.encrypt("x", "c-NEVER", "a")

    world.keyring.ensure(["c-LATER"])  # the driver makes the key, then hands it out again
    register_crypto_on_executors(world.spark, world.keyring, ["b-1", "c-C1", "c-LATER"], erased=ERASED)
    try:
        [(sealed,)] = world.spark.rows("SELECT cd_enc(v, 'c-LATER', 'a') FROM (VALUES ('x')) AS t(v)")
        assert world.protector.decrypt(sealed, "a") == "x"
    finally:
        world.spark.register(crypto_functions(world.executor), replace=True)


def test_destroyed_key_and_in_memory_kek_stay_on_the_driver(world: World) -> None:
    world.keyring.ensure(["c-GONE"])
    world.keyring.destroy(["c-GONE"])
    gone = ExecutorProtector.from_keyring(world.keyring, ["c-GONE", "b-1"])
    assert gone.destroyed == {"c-GONE"} and set(gone.wrapped) == {"b-1"}
    with pytest.raises(CryptoError, match="destroyed"):
        gone.encrypt("x", "c-GONE", "a")
    with pytest.raises(CryptoError, match="in-memory"):
        provider_ref(MemoryKeyProvider())
