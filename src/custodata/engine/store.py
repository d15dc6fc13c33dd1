"""The batch store: one DuckDB file holding every domain of the flow.

Schemas mirror DESIGN.md so a bank's staff find their way:
``landing`` (raw), ``business`` (业务数据分域/总域), ``customer`` (客户数据总域),
``layer`` (客户数据业务层分域/总域) and ``meta`` (batches, quarantine, runs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from custodata.crypto import Protector
from custodata.engine.executor import Executor

SCHEMAS = ("business", "customer", "layer", "meta")

_META_DDL = """
CREATE TABLE IF NOT EXISTS meta.batch (
    batch_id VARCHAR PRIMARY KEY,
    system VARCHAR NOT NULL,
    business_type VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    ingested_at TIMESTAMP NOT NULL,
    status VARCHAR NOT NULL,              -- landed | loaded
    read_rows BIGINT,
    accepted BIGINT,
    quarantined BIGINT
);
CREATE TABLE IF NOT EXISTS meta.quarantine (
    batch_id VARCHAR NOT NULL,
    system VARCHAR NOT NULL,
    row_no BIGINT,
    record_key VARCHAR,
    reason VARCHAR NOT NULL,
    detail VARCHAR,
    raw VARCHAR
);
CREATE TABLE IF NOT EXISTS meta.run (
    run_id VARCHAR PRIMARY KEY,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    mode VARCHAR NOT NULL,
    summary JSON
);
CREATE TABLE IF NOT EXISTS meta.erased (
    entity_key VARCHAR PRIMARY KEY,       -- customer:<id> | obs:<source:record_key:role> | id_number:<token>
    customer_id VARCHAR,
    erased_at TIMESTAMP NOT NULL,
    reason VARCHAR
);
"""


@dataclass
class BatchStore:
    """An open DuckDB batch store with custodata's functions registered."""

    path: Path | None
    con: duckdb.DuckDBPyConnection
    protector: Protector
    erased: set[str] = field(default_factory=set)
    executor: Executor = field(init=False)

    def __post_init__(self) -> None:
        self.executor = Executor(self.con)

    def reload_erased(self) -> None:
        """Erased customers, observations and ID tokens: never to be loaded again."""
        self.erased.clear()
        if self.table_exists("meta.erased"):
            self.erased.update(r[0] for r in self.con.execute("SELECT entity_key FROM meta.erased").fetchall())

    def table_exists(self, qualified: str) -> bool:
        schema, _, name = qualified.rpartition(".")
        row = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? "
            "AND table_name = ?",
            [schema or "main", name],
        ).fetchone()
        return bool(row and row[0])

    def count(self, qualified: str) -> int:
        if not self.table_exists(qualified):
            return 0
        row = self.con.execute(f"SELECT count(*) FROM {qualified}").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self.con.close()


def open_store(path: Path | None, *, threads: int | None = None, read_only: bool = False) -> BatchStore:
    """Open (creating if needed) the batch store; ``None`` gives an in-memory store for tests.

    The store comes with its protector: data keys from ``meta.data_key``, unwrapped by the
    KEK provider configured for the store's folder (``<folder>.keys/kek.json`` by default, see
    :func:`custodata.crypto.kek.default_key_file`; an in-memory store gets throw-away keys).
    The folder is kept 0700 and the file 0600: a store readable by others is a copy for them.
    DuckDB gets a memory limit and spills beyond it into ``<store file>.spill`` beside the
    store (see :mod:`custodata.engine.memory`, ``CUSTODATA_MEMORY_LIMIT``).
    """
    from custodata.crypto.functions import register_crypto
    from custodata.crypto.kek import MemoryKeyProvider, load_provider
    from custodata.crypto.keyring import KeyRing
    from custodata.engine.functions import register_functions
    from custodata.engine.memory import configure
    from custodata.private_files import private_dir, private_file

    if path is not None and not read_only:
        private_dir(path.parent)
    con = _connect(path, read_only=read_only)
    if path is not None and not read_only:
        private_file(path)
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    # bounded memory, the rest spilled beside the store (engine/memory.py); insertion order stays
    # preserved: landing numbers source rows with row_number() OVER (), which needs the file's order
    configure(con, path)
    con.execute("SET preserve_insertion_order = true")
    if not read_only:
        for schema in SCHEMAS:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute(_META_DDL)
    register_functions(con)
    has_keys = _count(con, "meta", "data_key") > 0
    provider = (load_provider(path.parent, create=not read_only and not has_keys) if path is not None
                else MemoryKeyProvider())
    store = BatchStore(path, con, Protector(KeyRing(con, provider, read_only=read_only)))
    _check_key_custody(store, read_only=read_only)
    store.reload_erased()
    register_crypto(con, store.protector, store.erased.__contains__)
    return store


LOCK_WAIT_ENV = "CUSTODATA_STORE_LOCK_WAIT"


def _connect(path: Path | None, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Connect, waiting a bounded while (``CUSTODATA_STORE_LOCK_WAIT`` s, default 60) for another process's lock.

    A backup holds the file read-only for the seconds it takes to read it
    (:mod:`custodata.backup.snapshot`); a job the worker starts meanwhile waits for it
    instead of failing.
    """
    import os
    import time

    if path is None:
        return duckdb.connect(":memory:")
    deadline = time.monotonic() + float(os.environ.get(LOCK_WAIT_ENV, "60"))
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def _count(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> int:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, table]
    ).fetchone()
    if not exists or not exists[0]:
        return 0
    row = con.execute(f"SELECT count(*) FROM {schema}.{table}").fetchone()
    return int(row[0]) if row else 0


def _check_key_custody(store: BatchStore, *, read_only: bool) -> None:
    """Refuse a key file that is not this store's: its tokens would silently stop matching."""
    from custodata.errors import ConfigError

    fingerprint = store.protector.fingerprint()
    if store.count("meta.key_check"):
        row = store.con.execute("SELECT token_fingerprint FROM meta.key_check").fetchone()
        if row and row[0] != fingerprint:
            where = getattr(store.protector.keyring.provider, "path", store.protector.keyring.provider.name)
            raise ConfigError(f"{where}: this key file is not the one this store's data was protected with "
                              "(token key fingerprint differs); restore the right key file")
    elif not read_only:
        store.con.execute("CREATE TABLE IF NOT EXISTS meta.key_check (token_fingerprint VARCHAR NOT NULL)")
        store.con.execute("INSERT INTO meta.key_check VALUES (?)", [fingerprint])
