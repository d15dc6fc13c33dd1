"""The batch store: one DuckDB file holding every domain of the flow.

Schemas mirror DESIGN.md so a bank's staff find their way:
``landing`` (raw), ``business`` (业务数据分域/总域), ``customer`` (客户数据总域),
``layer`` (客户数据业务层分域/总域) and ``meta`` (batches, quarantine, runs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from custodata.engine.duckdb_engine import DuckDBEngine

if TYPE_CHECKING:  # crypto's key ring runs on the port: imported when a store opens, not before
    from custodata.crypto import Protector

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
    engine: DuckDBEngine
    protector: Protector
    erased: set[str] = field(default_factory=set)

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The native connection, for tests and tools that inspect the file; stages use :attr:`engine`."""
        return self.engine.con

    def reload_erased(self) -> None:
        """Erased customers, observations and ID tokens: never to be loaded again."""
        self.erased.clear()
        if self.table_exists("meta.erased"):
            self.erased.update(r[0] for r in self.engine.rows("SELECT entity_key FROM meta.erased"))

    def table_exists(self, qualified: str) -> bool:
        schema, _, name = qualified.rpartition(".")
        return self.engine.exists(f"{schema or 'main'}.{name}")

    def count(self, qualified: str) -> int:
        return self.engine.count(qualified)

    def close(self) -> None:
        self.engine.close()


def open_store(path: Path | None, *, threads: int | None = None, read_only: bool = False) -> BatchStore:
    """Open (creating if needed) the batch store; ``None`` gives an in-memory store for tests.

    The store comes with its protector: data keys from ``meta.data_key``, unwrapped by the
    KEK provider configured for the store's folder (``<folder>.keys/kek.json`` by default, see
    :func:`custodata.crypto.kek.default_key_file`; an in-memory store gets throw-away keys).
    The folder is kept 0700 and the file 0600: a store readable by others is a copy for them.
    DuckDB gets a memory limit and spills beyond it into ``<store file>.spill`` beside the
    store (see :mod:`custodata.engine.memory`, ``CUSTODATA_MEMORY_LIMIT``).
    """
    from custodata.crypto import Protector
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
    engine = DuckDBEngine(con)
    register_functions(engine)
    has_keys = engine.count("meta.data_key") > 0
    provider = (load_provider(path.parent, create=not read_only and not has_keys) if path is not None
                else MemoryKeyProvider())
    store = BatchStore(path, engine, Protector(KeyRing(engine, provider, read_only=read_only)))
    _check_key_custody(store, read_only=read_only)
    store.reload_erased()
    register_crypto(engine, store.protector, store.erased.__contains__)
    return store


LOCK_WAIT_ENV = "CUSTODATA_STORE_LOCK_WAIT"


def _connect(path: Path | None, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Connect, waiting a bounded while (``CUSTODATA_STORE_LOCK_WAIT`` s, default 60) for another process's lock.

    A backup holds the file read-only for the seconds it takes to read it
    (:mod:`custodata.backup.snapshot`); a job the worker starts meanwhile waits for it
    instead of failing.
    """
    from custodata.engine.duckdb_engine import connection

    return connection(path, read_only=read_only, wait_seconds=lock_wait_seconds() if path is not None else 0.0)


def lock_wait_seconds() -> float:
    """How long an open waits for another process's lock on the store (``CUSTODATA_STORE_LOCK_WAIT``)."""
    return float(os.environ.get(LOCK_WAIT_ENV, "60"))


def in_use(path: Path) -> bool:
    """Whether another process holds the store file now (a restore must not write under a running service)."""
    from custodata.engine.duckdb_engine import connection
    from custodata.errors import StoreLockedError

    if not path.exists():
        return False
    try:  # read-write: a reader (a backup) holds it too
        connection(path).close()
    except StoreLockedError:
        return True
    return False


def _check_key_custody(store: BatchStore, *, read_only: bool) -> None:
    """Refuse a key file that is not this store's: its tokens would silently stop matching."""
    from custodata.errors import ConfigError

    fingerprint = store.protector.fingerprint()
    if store.count("meta.key_check"):
        row = store.engine.one("SELECT token_fingerprint FROM meta.key_check")
        if row and row[0] != fingerprint:
            where = getattr(store.protector.keyring.provider, "path", store.protector.keyring.provider.name)
            raise ConfigError(f"{where}: this key file is not the one this store's data was protected with "
                              "(token key fingerprint differs); restore the right key file")
    elif not read_only:
        store.engine.execute("CREATE TABLE IF NOT EXISTS meta.key_check (token_fingerprint VARCHAR NOT NULL)")
        store.engine.execute("INSERT INTO meta.key_check VALUES (?)", [fingerprint])


def compact(path: Path) -> None:
    """Rewrite the store into a fresh file: freed pages of deleted rows do not survive on disk."""
    tmp = path.with_name(path.name + ".compact")
    for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
        leftover.unlink(missing_ok=True)
    from custodata.engine.memory import configure
    from custodata.engine.sql import literal
    from custodata.private_files import private_file

    db = duckdb.connect()
    try:  # bounded, and spilling beside the store: never into the working directory's .tmp
        configure(db, path)
        db.execute(f"ATTACH {literal(path)} AS src (READ_ONLY)")
        db.execute(f"ATTACH {literal(tmp)} AS dst")
        db.execute("COPY FROM DATABASE src TO dst")
        db.execute("DETACH dst")
        db.execute("DETACH src")
    finally:
        db.close()
    os.replace(private_file(tmp), path)
