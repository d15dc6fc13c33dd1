"""The batch-engine port on DuckDB: the embedded default, one file, spilling beyond its memory limit.

Everything DuckDB-specific the stages used to hold lives here: the connection, its
errors (turned into :class:`~custodata.errors.EngineError` with the first line only; the
SQL, which may carry literals, goes to the debug log), the catalogue queries, Arrow
function registration and the optimiser switch of :meth:`joins_as_written`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from duckdb import sqltypes
from duckdb.func import ARROW, DEFAULT, SPECIAL

from custodata.engine import profile
from custodata.engine.port import ArrowFunction, BatchEngine, Params, Row, Step
from custodata.engine.sql import literal
from custodata.errors import EngineError, StoreLockedError

log = logging.getLogger("custodata.engine")
LOCK_POLL_SECONDS = 0.2


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def statement(step: Step) -> str:
    """The DuckDB statement a step stands for."""
    if step.output_table is None or step.mode == "execute":
        return step.sql
    if step.mode == "insert":
        return f"INSERT INTO {step.output_table} BY NAME {step.sql}"
    return f"CREATE OR REPLACE TABLE {step.output_table} AS {step.sql}"


def duckdb_type(t: pa.DataType) -> Any:
    """The DuckDB type of an Arrow type, for function signatures."""
    if pa.types.is_struct(t):
        return duckdb.struct_type({t.field(i).name: duckdb_type(t.field(i).type) for i in range(t.num_fields)})
    if pa.types.is_list(t):
        return duckdb.list_type(duckdb_type(t.value_type))
    simple = {pa.string(): sqltypes.VARCHAR, pa.large_string(): sqltypes.VARCHAR, pa.date32(): sqltypes.DATE,
              pa.bool_(): sqltypes.BOOLEAN, pa.float64(): sqltypes.DOUBLE, pa.int64(): sqltypes.BIGINT,
              pa.int32(): sqltypes.INTEGER}
    if t not in simple:
        raise TypeError(f"no DuckDB type for Arrow {t}")
    return simple[t]


class DuckDBEngine(BatchEngine):
    """The port over one DuckDB connection (owned: :meth:`close` closes it)."""

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.timings: dict[str, float] = {}

    # ---- steps ---------------------------------------------------------------------------
    def run(self, steps: Sequence[Step]) -> None:
        for step in steps:
            sql = statement(step)
            started = time.perf_counter()
            try:
                self.con.execute(sql, list(step.params) if step.params else None)
            except duckdb.Error as exc:
                log.debug("failed SQL:\n%s", sql)
                raise EngineError(
                    f"step building {step.output_table or '(statement)'} failed: {_first_line(exc)}") from exc
            elapsed = time.perf_counter() - started
            self.timings[step.name] = self.timings.get(step.name, 0.0) + elapsed
            profile.record(sql, elapsed)
            log.debug("step %s took %.3fs", step.name, elapsed)

    def execute_many(self, sql: str, rows: Sequence[Params]) -> None:
        if not rows:
            return
        started = time.perf_counter()
        try:
            self.con.executemany(sql, [list(r) for r in rows])
        except duckdb.Error as exc:
            log.debug("failed SQL:\n%s", sql)
            raise EngineError(f"statement failed: {_first_line(exc)}") from exc
        profile.record(sql, time.perf_counter() - started)

    # ---- reads ---------------------------------------------------------------------------
    def _query(self, sql: str, params: Params) -> duckdb.DuckDBPyConnection:
        started = time.perf_counter()
        try:
            return self.con.execute(sql, list(params) if params else None)
        except duckdb.Error as exc:
            log.debug("failed SQL:\n%s", sql)
            raise EngineError(f"query failed: {_first_line(exc)}") from exc
        finally:
            profile.record(sql, time.perf_counter() - started)

    def rows(self, sql: str, params: Params = ()) -> list[Row]:
        return self._query(sql, params).fetchall()

    def one(self, sql: str, params: Params = ()) -> Row | None:
        return self._query(sql, params).fetchone()

    def dicts(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        cur = self._query(sql, params)
        cols = [d[0] for d in cur.description or []]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def arrow(self, sql: str, params: Params = ()) -> pa.Table:
        return self._query(sql, params).fetch_arrow_table()

    def batches(self, sql: str, params: Params = (), *, rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        reader = self._query(sql, params).fetch_record_batch(rows)
        try:
            yield from reader
        except duckdb.Error as exc:
            raise EngineError(f"query failed: {_first_line(exc)}") from exc

    # ---- data and functions --------------------------------------------------------------
    def put_arrow(self, name: str, data: pa.Table) -> None:
        self.con.register(name, data)

    def drop_arrow(self, name: str) -> None:
        self.con.unregister(name)

    def register(self, functions: Sequence[ArrowFunction], *, replace: bool = False) -> None:
        names = [f.name for f in functions]
        if not names:
            return
        existing = {str(r[0]) for r in self.rows(
            "SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_name IN "
            f"({', '.join(literal(n) for n in names)})")}
        for f in functions:
            if f.name in existing:
                if not replace:
                    continue
                self.con.remove_function(f.name)
            self.con.create_function(
                f.name, f.fn, [duckdb_type(a) for a in f.args], duckdb_type(f.returns), type=ARROW,
                null_handling=SPECIAL if f.nulls else DEFAULT, side_effects=f.side_effects)

    # ---- tables --------------------------------------------------------------------------
    def exists(self, table: str) -> bool:
        # duckdb_tables() first, then the views: information_schema.tables builds its whole
        # catalogue view per call, about ten times the cost, and a one-record create asks ~40 times
        schema, _, name = table.rpartition(".")
        where, params = ("schema_name = ? AND ", [schema, name]) if schema else ("", [name])
        row = self.one(f"SELECT count(*) FROM duckdb_tables() WHERE {where}table_name = ?", params)
        if not (row and row[0]):
            row = self.one(f"SELECT count(*) FROM duckdb_views() WHERE NOT internal AND {where}view_name = ?",
                           params)
        return bool(row and row[0])

    def columns(self, table: str) -> list[str]:
        schema, _, name = table.rpartition(".")
        return [str(r[0]) for r in self.rows(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            + ("AND table_schema = ? " if schema else "") + "ORDER BY ordinal_position",
            [name, schema] if schema else [name])]

    def tables(self, schema: str | None = None) -> list[str]:
        rows = self.rows("SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT temporary"
                         + (" AND schema_name = ?" if schema else ""), [schema] if schema else [])
        return sorted(f"{s}.{t}" for s, t in rows)

    def swap_in(self, new_table: str, target: str) -> None:
        _, _, bare = target.rpartition(".")
        self.execute(f"DROP TABLE IF EXISTS {target}")
        self.execute(f"ALTER TABLE {new_table} RENAME TO {bare}")

    def write_parquet(self, sql: str, path: str, *, params: Params = ()) -> None:
        self.execute(f"COPY ({sql}) TO {literal(path)} (FORMAT parquet)", params)

    def write_csv(self, sql: str, path: str, *, params: Params = (), delimiter: str = ",") -> None:
        self.execute(f"COPY ({sql}) TO {literal(path)} (HEADER, DELIMITER {literal(delimiter)})", params)

    def read_csv(self, table: str, path: str, *, columns: Sequence[str], options: dict[str, Any]) -> None:
        cols = "{" + ", ".join(f"{literal(c)}: 'VARCHAR'" for c in columns) + "}"
        extra = "".join(f", {k} = {literal(v) if isinstance(v, str) else v}" for k, v in options.items())
        self.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM read_csv(?, columns = {cols}"
                     f"{extra})", [path])

    # ---- transactions and session --------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    @contextmanager
    def joins_as_written(self) -> Iterator[None]:
        before = self.setting("disabled_optimizers") or ""
        disabled = ",".join(x for x in (before, "join_order") if x)
        self.con.execute(f"SET disabled_optimizers = {literal(disabled)}")
        try:
            yield
        finally:
            self.con.execute(f"SET disabled_optimizers = {literal(before)}")

    def reset_session(self) -> None:
        for (name,) in self.rows("SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal"):
            self.con.execute(f'DROP VIEW IF EXISTS temp."{name}"')
        for (name,) in self.rows("SELECT table_name FROM duckdb_tables() WHERE temporary"):
            self.con.execute(f'DROP TABLE IF EXISTS temp."{name}"')

    def reader(self) -> DuckDBEngine:
        return DuckDBEngine(self.con.cursor())

    def setting(self, name: str) -> str | None:
        row = self.one("SELECT current_setting(?)", [name])
        return None if row is None or row[0] is None else str(row[0])

    def memory_limit_bytes(self) -> int:
        from custodata.engine.memory import connection_limit_bytes

        return connection_limit_bytes(self.con)

    def splink_api(self) -> Any:
        from splink import DuckDBAPI

        return DuckDBAPI(connection=self.con)

    def close(self) -> None:
        self.con.close()


def connect(path: Path | None = None, *, read_only: bool = False, threads: int | None = None,
            wait_seconds: float = 0.0) -> DuckDBEngine:
    """A DuckDB engine on a file, or in memory (tools such as ``custodata dedupe`` and tests).

    DuckDB lets one process hold a file; another process's lock is waited for up to
    ``wait_seconds`` (a backup reading the store for a few seconds), then refused with
    :class:`StoreLockedError`, which names the file.
    """
    return DuckDBEngine(connection(path, read_only=read_only, threads=threads, wait_seconds=wait_seconds))


def connection(path: Path | None = None, *, read_only: bool = False, threads: int | None = None,
               wait_seconds: float = 0.0) -> duckdb.DuckDBPyConnection:
    """The raw connection behind :func:`connect`, for the batch store's own set-up."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            con = duckdb.connect(str(path) if path else ":memory:", read_only=read_only)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise EngineError(f"cannot open {path}: {_first_line(exc)}") from exc
            if time.monotonic() >= deadline:
                raise StoreLockedError(f"{path}: the batch store is held by another process (a pipeline run, "
                                       f"the job worker or a backup) and stayed so for {wait_seconds:.0f} s") from exc
            time.sleep(LOCK_POLL_SECONDS)
        except duckdb.Error as exc:
            raise EngineError(f"cannot open {path or 'an in-memory store'}: {_first_line(exc)}") from exc
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def is_engine_error(exc: BaseException) -> bool:
    """Whether ``exc`` came from the engine (for the CLI's one-line errors)."""
    return isinstance(exc, duckdb.Error | EngineError)
