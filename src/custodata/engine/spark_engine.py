"""The batch-engine port on Apache Spark: the same stages on ``local[N]``, a standalone cluster or Spark Connect.

Tables are Parquet in a warehouse folder, one Spark database per custodata schema
(``{warehouse}/{schema}.db/{table}``); the catalogue is Spark's in-memory one, so a new
session registers the folders it finds. The stages' DuckDB SQL goes through
:mod:`custodata.engine.dialect` (SQLGlot plus the named fixes); ``?`` parameters become
Spark's named parameter markers.

Writes are "build the new table, then swap it in": a step writes ``{table}__cd_new`` and
renames it over the target, so a reader never sees half a table. Spark has no multi-table
transactions; :meth:`SparkEngine.transaction` keeps the previous version of every table
the batch writes (renamed aside, not deleted) and puts them back if the batch fails — on
one driver process, best effort: a driver killed mid-swap leaves the aside copies, which
the next session restores (:meth:`SparkEngine._recover`).

Arrow functions are shipped to the executors by pickling, so a function must be picklable
(closures over open connections are not; :meth:`SparkEngine.register` names the one that is
not). Temporary tables are written once to a per-session scratch folder and read as views,
because SQLGlot's temporary view would be evaluated again at every read.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from custodata.engine import dialect
from custodata.engine.port import ArrowFunction, BatchEngine, Params, Row, Step
from custodata.engine.sql import literal
from custodata.errors import EngineError

log = logging.getLogger("custodata.engine")
NEW_SUFFIX = "__cd_new"
ASIDE_SUFFIX = "__cd_aside"
MAIN = "main"  # DuckDB's default schema, where unqualified tables go (the stages also name main. tables)


def _first_line(exc: BaseException) -> str:
    """The error's first line; for a function that failed on an executor, what it raised.

    Spark's first line then says only that the Python worker threw. custodata's own errors
    (their messages are written to hold no customer value) are given whole; any other
    exception only by its type, as its message may quote the value it failed on.
    """
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    lines = text.splitlines()
    if lines[0].startswith("An exception was thrown from the Python worker"):
        raised = [line for line in lines[1:] if line and not line[0].isspace() and not line.startswith("Traceback")]
        if raised:
            kind, _, message = raised[-1].partition(": ")
            if kind.startswith("custodata.errors."):
                return f"{kind.rsplit('.', 1)[1]} on an executor: {message}"
            return f"{lines[0].rstrip(':')}: {kind}"
    return lines[0]


def _errors() -> tuple[type[BaseException], ...]:
    from py4j.protocol import Py4JError  # type: ignore[import-untyped]
    from pyspark.errors import PySparkException

    return (PySparkException, Py4JError, NotImplementedError)


def spark_type(t: pa.DataType) -> str:
    """The Spark DDL type of an Arrow type (function results)."""
    if pa.types.is_struct(t):
        return "struct<" + ",".join(f"{t.field(i).name}:{spark_type(t.field(i).type)}"
                                    for i in range(t.num_fields)) + ">"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"array<{spark_type(t.value_type)}>"
    simple = {pa.string(): "string", pa.large_string(): "string", pa.date32(): "date", pa.bool_(): "boolean",
              pa.float64(): "double", pa.int64(): "bigint", pa.int32(): "int", pa.binary(): "binary"}
    if t not in simple:
        raise TypeError(f"no Spark type for Arrow {t}")
    return simple[t]


class _Vectorised:
    """An :class:`ArrowFunction` as the executors call it: arguments cast to its types, NULLs as it asks.

    A module-level class (not a closure), so it pickles to the executors with the function it holds.
    """

    def __init__(self, f: ArrowFunction) -> None:
        self.fn, self.args, self.returns, self.nulls = f.fn, f.args, f.returns, f.nulls

    def __call__(self, *arrays: pa.Array) -> pa.Array:
        cast = [a if a.type == t else a.cast(t) for a, t in zip(arrays, self.args, strict=True)]
        if self.nulls or not cast:
            return self.fn(*cast)
        valid = cast[0].is_valid()
        for a in cast[1:]:
            valid = pc.and_(valid, a.is_valid())
        if pc.all(valid).as_py():
            return self.fn(*cast)
        picked = self.fn(*[pc.filter(a, valid) for a in cast])
        if len(picked) == 0:
            return pa.nulls(len(cast[0]), self.returns)
        index = pc.subtract(pc.cumulative_sum(valid.cast(pa.int64())), 1)
        gathered = picked.take(pc.if_else(valid, index, 0))
        return pc.if_else(valid, gathered, pa.scalar(None, self.returns))


def _as_function(wrapped: _Vectorised) -> Any:
    """A plain function over the wrapper (Spark's ``arrow_udf`` inspects functions, not callables).

    No annotations: with them Spark infers the UDF kind from the hints and refuses ``*arrays``.
    """

    def call(*arrays):  # type: ignore[no-untyped-def]
        return wrapped(*arrays)

    return call


def _plain(value: Any) -> Any:
    """Struct values as dicts (as DuckDB gives them), lists element by element; other values as they are."""
    from pyspark.sql import Row as SparkRow

    if isinstance(value, SparkRow):
        return {k: _plain(v) for k, v in value.asDict().items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _memory_bytes(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)b?\s*", text.lower())
    if not m:
        return 1 << 30
    return int(m.group(1)) * int(1024 ** " kmgt".index(m.group(2) or " "))


class SparkEngine(BatchEngine):
    """The port over one SparkSession and a warehouse folder of Parquet tables."""

    name = "spark"

    def __init__(self, spark: Any, warehouse: Path, *, owned: bool = False) -> None:
        self.spark = spark
        self.warehouse = Path(warehouse).resolve()
        self.owned = owned
        self.timings: dict[str, float] = {}
        self._scratch = self.warehouse / "_cd_temp" / uuid.uuid4().hex[:12]
        self._temps: dict[str, Path] = {}
        self._journal: dict[str, bool] | None = None  # table -> whether it existed before the batch
        self.warehouse.mkdir(parents=True, exist_ok=True)
        self._recover()
        # one session serves one warehouse's main: a second engine on the session finds it already there
        self._sql(f"CREATE DATABASE IF NOT EXISTS {MAIN} LOCATION {literal(str(self.warehouse / (MAIN + '.db')))}")
        self.spark.catalog.setCurrentDatabase(MAIN)

    # ---- the catalogue over the warehouse folder ---------------------------------------------
    def _recover(self) -> None:
        """Register the warehouse's databases and tables; an aside copy left by a killed batch goes back."""
        for db_dir in sorted(self.warehouse.glob("*.db")):
            db = db_dir.name[:-3]
            self._sql(f"CREATE DATABASE IF NOT EXISTS `{db}` LOCATION {literal(str(db_dir))}")
            for aside in db_dir.glob(f"*{ASIDE_SUFFIX}"):
                live = db_dir / aside.name[: -len(ASIDE_SUFFIX)]
                shutil.rmtree(live, ignore_errors=True)
                aside.rename(live)
            for new in db_dir.glob(f"*{NEW_SUFFIX}"):
                shutil.rmtree(new, ignore_errors=True)
            known = {t.name for t in self.spark.catalog.listTables(db)}
            for table_dir in sorted(p for p in db_dir.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
                if table_dir.name not in known and any(table_dir.glob("*.parquet")):
                    self._sql(f"CREATE TABLE `{db}`.`{table_dir.name}` USING parquet "
                              f"LOCATION {literal(str(table_dir))}")

    def _sql(self, text: str, params: Params | dict[str, Any] = ()) -> Any:
        args = params if isinstance(params, dict) else dialect.parameters(params)
        return self.spark.sql(text, args=args or None)

    def _location(self, table: str) -> Path | None:
        rows = self.spark.sql(f"DESCRIBE TABLE EXTENDED {table}").collect()
        info = {r[0]: r[1] for r in rows}
        loc = info.get("Location")
        return Path(str(loc).removeprefix("file:")) if loc and info.get("Type") == "EXTERNAL" else None

    def _drop(self, table: str) -> None:
        """Drop a table and its files (a table registered from the folder is external to Spark)."""
        if not self.spark.catalog.tableExists(table):
            return
        external = self._location(table)
        self.spark.sql(f"DROP TABLE {table}")
        if external is not None:
            shutil.rmtree(external, ignore_errors=True)

    def _rename(self, old: str, new: str) -> None:
        external = self._location(old)
        if external is None:
            self.spark.sql(f"ALTER TABLE {old} RENAME TO {new}")
            return
        # an external table keeps its folder on rename; move the folder to the new name as well
        target = external.parent / new.rpartition(".")[2]
        self.spark.sql(f"DROP TABLE {old}")
        external.rename(target)
        self.spark.sql(f"CREATE TABLE {new} USING parquet LOCATION {literal(str(target))}")

    def _qualified(self, table: str) -> str:
        return table if "." in table else f"{MAIN}.{table}"

    def _write_table(self, table: str, frame: Any) -> None:
        """``frame`` written as ``table``, built in full beside it first, then swapped in."""
        target = self._qualified(table)
        fresh = target + NEW_SUFFIX
        self._drop(fresh)
        frame.write.format("parquet").saveAsTable(fresh)
        self.swap_in(fresh, target)

    def _write_temp(self, name: str, frame: Any) -> None:
        """A temporary table written once and read as a view: it does not change under later reads."""
        path = self._scratch / f"{name}-{uuid.uuid4().hex[:8]}"
        frame.write.parquet(str(path))
        self.spark.read.parquet(str(path)).createOrReplaceTempView(name)
        old = self._temps.get(name)
        self._temps[name] = path
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    # ---- statements ---------------------------------------------------------------------------------
    def columns_of(self, node: exp.Expr) -> list[str]:
        """The columns of a table or query (for the dialect's rewrites), from Spark's analysis."""
        if isinstance(node, exp.Table):
            return self.columns(".".join(p.name for p in node.parts))
        return list(self.spark.sql(dialect.spark_sql(node)).columns)

    def _query(self, sql: str, params: Params) -> Any:
        trees = dialect.rewrite(sql, self)
        if len(trees) != 1:
            raise EngineError(f"one query expected, got {len(trees)} statements")
        return self._sql(dialect.spark_sql(trees[0]), params)

    def _statement(self, tree: exp.Expr, params: Params) -> None:
        if isinstance(tree, exp.Create):
            kind = (tree.args.get("kind") or "").upper()
            target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
            name = ".".join(p.name for p in target.parts) if isinstance(target, exp.Table) else ""
            if kind in ("SCHEMA", "DATABASE"):
                if_not = "IF NOT EXISTS " if tree.args.get("exists") else ""
                self._sql(f"CREATE DATABASE {if_not}`{name}` LOCATION "
                          f"{literal(str(self.warehouse / (name + '.db')))}")
                return
            query = tree.args.get("expression")
            if kind == "TABLE" and query is not None:
                temporary = any(isinstance(p, exp.TemporaryProperty)
                                for p in (tree.args.get("properties") or exp.Properties()).expressions)
                frame = self._sql(dialect.spark_sql(query), params)
                if temporary:
                    if name in self._temps and not tree.args.get("replace"):
                        raise EngineError(f"temporary table {name} already exists")
                    self._write_temp(name, frame)
                    return
                if self.exists(name) and not tree.args.get("replace"):
                    if tree.args.get("exists"):
                        return
                    raise EngineError(f"table {name} already exists")
                self._write_table(name, frame)
                return
            if kind == "TABLE" and tree.args.get("replace"):  # an empty table by its columns: Spark's
                fresh = tree.copy()  # datasource tables cannot REPLACE, so the old one goes first
                fresh.set("replace", False)
                if self.exists(name):
                    self._aside_or_drop(self._qualified(name))
                self._sql(dialect.spark_sql(fresh), params)
                return
        if isinstance(tree, exp.Drop) and (tree.args.get("kind") or "").upper() == "TABLE":
            for table in tree.args.get("tables") or [tree.this]:
                self._drop_statement(".".join(p.name for p in table.parts), bool(tree.args.get("exists")))
            return
        if isinstance(tree, exp.Insert) and isinstance(tree.expression, exp.Expression) and isinstance(
                tree.expression, exp.Query | exp.Values):
            target = tree.this
            columns = [c.name for c in target.expressions] if isinstance(target, exp.Schema) else None
            table = target.this if isinstance(target, exp.Schema) else target
            name = ".".join(p.name for p in table.parts)
            frame = self._sql(dialect.spark_sql(tree.expression), params)
            self._append(name, frame, list(frame.columns) if tree.args.get("by_name") else columns)
            return
        self._sql(dialect.spark_sql(tree), params)

    def _drop_statement(self, name: str, if_exists: bool) -> None:
        if name in self._temps:
            self.spark.catalog.dropTempView(name)
            shutil.rmtree(self._temps.pop(name), ignore_errors=True)
        elif self.exists(name):
            self._aside_or_drop(self._qualified(name))
        elif not if_exists:
            raise EngineError(f"table {name} does not exist")

    def _append(self, table: str, frame: Any, columns: Sequence[str] | None) -> None:
        """Rows added to ``table``: by the columns named, else by position (as INSERT does)."""
        if table in self._temps:
            have = self.spark.table(table).columns
            frame = frame.toDF(*(columns or have[: len(frame.columns)]))
            self._write_temp(table, self.spark.table(table).unionByName(frame, allowMissingColumns=True))
            return
        target = self._qualified(table)
        have = self.columns(target)
        frame = frame.toDF(*(columns or have[: len(frame.columns)]))
        from pyspark.sql import functions as F

        types = {f.name: f.dataType for f in self.spark.table(target).schema.fields}
        frame = frame.select(*[(F.col(f"`{c}`") if c in frame.columns else F.lit(None)).cast(types[c]).alias(c)
                               for c in have])
        if self._journal is not None and target not in self._journal:
            # the previous version stays aside until the batch commits: rebuild rather than append
            self._write_table(target, self.spark.table(target).unionByName(frame))
            return
        frame.write.insertInto(target)

    @staticmethod
    def _failures() -> tuple[type[BaseException], ...]:
        return (*_errors(), EngineError)

    def run(self, steps: Sequence[Step]) -> None:
        for step in steps:
            started = time.perf_counter()
            try:
                if step.output_table is None or step.mode == "execute":
                    for tree in dialect.rewrite(step.sql, self):
                        self._statement(tree, step.params)
                elif step.mode == "insert":
                    self._append(step.output_table, self._query(step.sql, step.params), None)
                else:
                    self._write_table(step.output_table, self._query(step.sql, step.params))
            except self._failures() as exc:
                log.debug("failed SQL:\n%s", step.sql)
                raise EngineError(
                    f"step building {step.output_table or '(statement)'} failed: {_first_line(exc)}") from exc
            elapsed = time.perf_counter() - started
            self.timings[step.name] = self.timings.get(step.name, 0.0) + elapsed
            log.debug("step %s took %.3fs", step.name, elapsed)

    def execute_many(self, sql: str, rows: Sequence[Params]) -> None:
        for params in rows:
            try:
                for tree in dialect.rewrite(sql, self):
                    self._statement(tree, params)
            except self._failures() as exc:
                log.debug("failed SQL:\n%s", sql)
                raise EngineError(f"statement failed: {_first_line(exc)}") from exc

    # ---- reads --------------------------------------------------------------------------------------
    def _frame(self, sql: str, params: Params) -> Any:
        try:
            return self._query(sql, params)
        except _errors() as exc:
            log.debug("failed SQL:\n%s", sql)
            raise EngineError(f"query failed: {_first_line(exc)}") from exc

    def _collect(self, frame: Any) -> list[Any]:
        try:
            return list(frame.collect())
        except _errors() as exc:
            raise EngineError(f"query failed: {_first_line(exc)}") from exc

    def rows(self, sql: str, params: Params = ()) -> list[Row]:
        return [tuple(_plain(v) for v in r) for r in self._collect(self._frame(sql, params))]

    def dicts(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        frame = self._frame(sql, params)
        return [dict(zip(frame.columns, (_plain(v) for v in r), strict=True)) for r in self._collect(frame)]

    def arrow(self, sql: str, params: Params = ()) -> pa.Table:
        frame = self._frame(sql, params)
        try:
            return frame.toArrow()
        except _errors() as exc:
            raise EngineError(f"query failed: {_first_line(exc)}") from exc

    def batches(self, sql: str, params: Params = (), *, rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        """Partition by partition through the driver (``toLocalIterator``), never the whole result."""
        frame = self._frame(sql, params)
        schema = frame.limit(0).toArrow().schema
        chunk: list[dict[str, Any]] = []
        try:
            for row in frame.toLocalIterator():
                chunk.append(row.asDict())
                if len(chunk) >= rows:
                    yield pa.RecordBatch.from_pylist(chunk, schema=schema)
                    chunk = []
        except _errors() as exc:
            raise EngineError(f"query failed: {_first_line(exc)}") from exc
        if chunk:
            yield pa.RecordBatch.from_pylist(chunk, schema=schema)

    # ---- data and functions -------------------------------------------------------------------------
    def put_arrow(self, name: str, data: pa.Table) -> None:
        self.spark.createDataFrame(data).createOrReplaceTempView(name)

    def drop_arrow(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)

    def register(self, functions: Sequence[ArrowFunction], *, replace: bool = False) -> None:
        from pyspark import cloudpickle
        from pyspark.sql.functions import arrow_udf  # type: ignore[attr-defined]

        for f in functions:
            if not replace and self.spark.catalog.functionExists(f.name):
                continue
            wrapped = _Vectorised(f)
            try:
                cloudpickle.dumps(wrapped)  # type: ignore[no-untyped-call]
            except Exception as exc:  # noqa: BLE001 - any pickling failure means it cannot reach executors
                raise EngineError(f"function {f.name} cannot be shipped to Spark's executors (not picklable: "
                                  f"{_first_line(exc)})") from exc
            udf = arrow_udf(_as_function(wrapped), spark_type(f.returns))
            if f.side_effects:
                udf = udf.asNondeterministic()
            self.spark.udf.register(f.name, udf)

    # ---- tables -------------------------------------------------------------------------------------
    def exists(self, table: str) -> bool:
        return bool(self.spark.catalog.tableExists(table))

    def columns(self, table: str) -> list[str]:
        try:
            return list(self.spark.table(table).columns)
        except _errors() as exc:
            raise EngineError(f"table {table}: {_first_line(exc)}") from exc

    def tables(self, schema: str | None = None) -> list[str]:
        found = []
        for db in [schema] if schema else [d.name for d in self.spark.catalog.listDatabases()]:
            if not self.spark.catalog.databaseExists(db):
                continue
            found += [f"{db}.{t.name}" for t in self.spark.catalog.listTables(db)
                      if not t.isTemporary and not t.name.endswith((NEW_SUFFIX, ASIDE_SUFFIX))]
        return sorted(found)

    def _aside_or_drop(self, target: str) -> None:
        """Inside a batch the first version of a table is kept aside (for a rollback), else dropped."""
        if self._journal is None:
            self._drop(target)
            return
        if target not in self._journal:
            self._journal[target] = True
            self._drop(target + ASIDE_SUFFIX)
            self._rename(target, target + ASIDE_SUFFIX)
        else:
            self._drop(target)

    def swap_in(self, new_table: str, target: str) -> None:
        target = self._qualified(target)
        if self.exists(target):
            self._aside_or_drop(target)
        elif self._journal is not None:
            self._journal.setdefault(target, False)
        self._rename(self._qualified(new_table), target)

    def write_parquet(self, sql: str, path: str, *, params: Params = ()) -> None:
        """A Parquet dataset at ``path``: a folder of part files (one file per task), as Spark writes."""
        try:
            self._frame(sql, params).write.mode("overwrite").parquet(path)
        except _errors() as exc:
            raise EngineError(f"writing {path} failed: {_first_line(exc)}") from exc

    _CSV_OPTIONS = {"delim": "sep", "sep": "sep", "quote": "quote", "escape": "escape", "header": "header",
                    "encoding": "encoding", "nullstr": "nullValue"}

    def read_csv(self, table: str, path: str, *, columns: Sequence[str], options: dict[str, Any]) -> None:
        from pyspark.sql.types import StringType, StructField, StructType

        unknown = sorted(set(options) - set(self._CSV_OPTIONS))
        if unknown:
            raise EngineError(f"reading {path}: CSV options {', '.join(unknown)} are not supported on Spark")
        opts = {self._CSV_OPTIONS[k]: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in options.items()}
        schema = StructType([StructField(c, StringType()) for c in columns])
        try:
            self._write_temp(table, self.spark.read.options(mode="PERMISSIVE", **opts).csv(path, schema=schema))
        except _errors() as exc:
            raise EngineError(f"reading {path} failed: {_first_line(exc)}") from exc

    # ---- transactions and session -------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Best effort on one driver: each table's previous version is kept aside and put back on failure."""
        if self._journal is not None:
            yield
            return
        self._journal = {}
        try:
            yield
        except BaseException:
            journal, self._journal = self._journal, None
            for table, existed in reversed(list(journal.items())):
                self._drop(table)
                if existed:
                    self._rename(table + ASIDE_SUFFIX, table)
            raise
        journal, self._journal = self._journal, None
        for table, existed in journal.items():
            if existed:
                self._drop(table + ASIDE_SUFFIX)

    @contextmanager
    def joins_as_written(self) -> Iterator[None]:
        """Spark reorders joins only under its cost-based optimiser; it is switched off inside."""
        key = "spark.sql.cbo.joinReorder.enabled"
        before = self.spark.conf.get(key, "false")
        self.spark.conf.set(key, "false")
        try:
            yield
        finally:
            self.spark.conf.set(key, before)

    def reset_session(self) -> None:
        for t in self.spark.catalog.listTables():
            if t.isTemporary:
                self.spark.catalog.dropTempView(t.name)
        for path in self._temps.values():
            shutil.rmtree(path, ignore_errors=True)
        self._temps.clear()

    def reader(self) -> SparkEngine:
        """A new session on the same context: its own temporary views, the same committed tables."""
        return SparkEngine(self.spark.newSession(), self.warehouse)

    def setting(self, name: str) -> str | None:
        value = self.spark.conf.get(name, None)
        return None if value is None else str(value)

    def memory_limit_bytes(self) -> int:
        conf = self.spark.sparkContext.getConf() if hasattr(self.spark, "sparkContext") else None
        text = (conf.get("spark.executor.memory", None) or conf.get("spark.driver.memory", "1g")) if conf else "1g"
        return _memory_bytes(text)

    def splink_api(self) -> Any:
        """Splink on this session; its lineage breaks checkpoint into the warehouse's own folder."""
        from splink import SparkAPI

        if hasattr(self.spark, "sparkContext"):  # Spark Connect has no SparkContext to checkpoint with
            self.spark.sparkContext.setCheckpointDir(str(self.warehouse / "_cd_checkpoints"))
        return SparkAPI(spark_session=self.spark)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        self.reset_session()
        shutil.rmtree(self._scratch, ignore_errors=True)
        if self.owned:
            self.spark.stop()


def session(master: str = "local[2]", *, app_name: str = "custodata", warehouse: Path | None = None,
            conf: dict[str, str] | None = None) -> Any:
    """The process's SparkSession: ``local[N]``, ``spark://host:7077`` or ``sc://host:15002`` (Spark Connect).

    The executors' Python is this interpreter, so the Arrow functions find the same packages;
    Spark's own ``default`` database goes to ``warehouse`` (else ``./spark-warehouse``).
    """
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if master.startswith("sc://"):
        return SparkSession.builder.remote(master).getOrCreate()
    builder = (SparkSession.builder.master(master).appName(app_name)
               .config("spark.sql.catalogImplementation", "in-memory")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.shuffle.partitions", "4"))
    if warehouse is not None:
        builder = builder.config("spark.sql.warehouse.dir", str(Path(warehouse).resolve() / "_spark_default"))
    try:  # Splink's Scala similarity functions (jaro_winkler …) for its comparisons on Spark
        from splink.backends.spark import similarity_jar_location

        builder = builder.config("spark.jars", similarity_jar_location())
    except ImportError:
        pass
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    _quiet(spark)
    return spark


def _quiet(spark: Any) -> None:
    """Keep the SQL out of Spark's logs: failures reach custodata as one-line EngineErrors instead.

    pyspark logs every failed query with its SQL fragment at ERROR (``SQLQueryContextLogger``),
    and a failed task logs the fragment in the JVM; the fragments may carry literal values.
    Executors on a cluster log through their workers' own configuration (not changed here).
    """
    from pyspark.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)
    spark.sparkContext.setLogLevel("FATAL")


def connect(warehouse: Path, *, master: str = "local[2]", conf: dict[str, str] | None = None) -> SparkEngine:
    """A Spark engine owning its session (``close`` stops it) on a warehouse folder."""
    try:
        spark = session(master, warehouse=warehouse, conf=conf)
    except Exception as exc:  # noqa: BLE001 - Java missing, master unreachable: one line
        raise EngineError(f"cannot start Spark on {master}: {_first_line(exc)}") from exc
    return SparkEngine(spark, warehouse, owned=True)
