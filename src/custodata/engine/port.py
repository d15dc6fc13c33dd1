"""The batch-engine port: the few primitives every stage runs through, on DuckDB or Spark.

Stages build their tables from SQL given as data (:class:`Step`), ask the engine small
questions (a count, whether a table exists, a few rows), hand it Python data as Arrow
tables and register vectorised functions as :class:`ArrowFunction` — never a connection.
One implementation per engine (:mod:`custodata.engine.duckdb_engine`; the Spark one
follows the same contract) holds the connection, its dialect and its errors, so no
module outside :mod:`custodata.engine` imports ``duckdb`` or ``pyspark``
(``tests/test_engine_port.py`` enforces it).

Writes build the new table and then swap it in (:meth:`BatchEngine.swap_in`), so a batch
commits all or nothing on an engine without transactions too; on DuckDB the swap runs
inside the batch's transaction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

Row = tuple[Any, ...]
Params = Sequence[Any]


@dataclass(frozen=True)
class Step:
    """One pipeline step: build ``output_table`` from ``sql`` (replace or insert), or run a statement."""

    sql: str
    output_table: str | None = None
    params: tuple[Any, ...] = ()
    mode: str = "replace"  # replace | insert | execute

    @property
    def name(self) -> str:
        return self.output_table or " ".join(self.sql.split(None, 3)[:3])


@dataclass(frozen=True)
class ArrowFunction:
    """A vectorised scalar function (``cd_*``) as data: the engine decides how to register it.

    ``fn`` takes one Arrow array per argument and returns an array of ``returns``;
    ``nulls`` says the function sees NULLs itself (else NULL in gives NULL out without a
    call); ``side_effects`` marks functions whose result must not be cached or folded
    (encryption draws a fresh nonce each call).
    """

    name: str
    fn: Callable[..., pa.Array]
    args: tuple[pa.DataType, ...]
    returns: pa.DataType
    nulls: bool = True
    side_effects: bool = False


class BatchEngine(ABC):
    """What the stages may ask of the batch engine."""

    name: str
    timings: dict[str, float]

    # ---- steps (SQL as data) -------------------------------------------------------------
    @abstractmethod
    def run(self, steps: Sequence[Step]) -> None:
        """Run steps in order, each timed and named; a failure names the table it was building."""

    def run_one(self, step: Step) -> None:
        self.run([step])

    def execute(self, sql: str, params: Params = ()) -> None:
        """A statement (DDL, INSERT, UPDATE …) through the same naming, timing and errors as a step."""
        self.run([Step(sql, None, tuple(params), mode="execute")])

    def build(self, table: str, sql: str, params: Params = ()) -> None:
        """``table`` (re)built from ``sql``."""
        self.run([Step(sql, table, tuple(params))])

    def append(self, table: str, sql: str, params: Params = ()) -> None:
        """Rows of ``sql`` added to ``table`` by column name."""
        self.run([Step(sql, table, tuple(params), mode="insert")])

    @abstractmethod
    def execute_many(self, sql: str, rows: Sequence[Params]) -> None:
        """One parameterised statement for many rows (small lists from Python)."""

    # ---- reads ---------------------------------------------------------------------------
    @abstractmethod
    def rows(self, sql: str, params: Params = ()) -> list[Row]: ...

    @abstractmethod
    def dicts(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        """Rows as ``{column: value}``, in the result's column order."""

    def one(self, sql: str, params: Params = ()) -> Row | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def scalar(self, sql: str, params: Params = ()) -> Any:
        row = self.one(sql, params)
        return None if row is None else row[0]

    @abstractmethod
    def arrow(self, sql: str, params: Params = ()) -> pa.Table: ...

    @abstractmethod
    def batches(self, sql: str, params: Params = (), *, rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        """The result in record batches of about ``rows`` rows, never all at once."""

    # ---- data from Python and functions --------------------------------------------------
    @abstractmethod
    def put_arrow(self, name: str, data: pa.Table) -> None:
        """Make an Arrow table readable as ``name`` until :meth:`drop_arrow` (or the session ends)."""

    @abstractmethod
    def drop_arrow(self, name: str) -> None: ...

    @abstractmethod
    def register(self, functions: Sequence[ArrowFunction], *, replace: bool = False) -> None:
        """Register vectorised functions; without ``replace`` one already there is kept."""

    # ---- tables --------------------------------------------------------------------------
    @abstractmethod
    def exists(self, table: str) -> bool:
        """Whether ``schema.name`` (or a temporary ``name``) is a table or view."""

    def count(self, table: str) -> int:
        if not self.exists(table):
            return 0
        return int(self.scalar(f"SELECT count(*) FROM {table}") or 0)

    @abstractmethod
    def columns(self, table: str) -> list[str]: ...

    @abstractmethod
    def tables(self, schema: str | None = None) -> list[str]:
        """Persistent tables as ``schema.name``, optionally of one schema."""

    @abstractmethod
    def swap_in(self, new_table: str, target: str) -> None:
        """Replace ``target`` by the fully built ``new_table`` (which is gone after)."""

    @abstractmethod
    def write_parquet(self, sql: str, path: str, *, params: Params = ()) -> None: ...

    def write_csv(self, sql: str, path: str, *, params: Params = (), delimiter: str = ",") -> None:
        """The result as one delimited file at ``path`` (the driver's file system), header first.

        Quoted as DuckDB's ``COPY … (HEADER)`` quotes: a value only when it holds the
        delimiter, a quote or a line break, or is the empty string (NULL is written as
        nothing). This default streams :meth:`batches` through the driver (what Spark
        does: one file, not a folder of part files); an engine may write it natively.
        """
        with open(path, "w", encoding="utf-8", newline="") as out:
            header_written = False
            for batch in self.batches(sql, params):
                if not header_written:
                    out.write(csv_line(batch.schema.names, delimiter))
                    header_written = True
                for row in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                    out.write(csv_line(row, delimiter))
            if not header_written:
                out.write(csv_line(self._result_columns(sql, params), delimiter))

    def _result_columns(self, sql: str, params: Params) -> list[str]:
        """The column names of a result with no rows (an empty CSV still has its header)."""
        return list(self.arrow(f"SELECT * FROM ({sql}) AS empty_result LIMIT 0", params).schema.names)

    @abstractmethod
    def read_csv(self, table: str, path: str, *, columns: Sequence[str], options: dict[str, Any]) -> None:
        """A delimited source file as a table of text columns (the landing's raw rows)."""

    # ---- transactions and sessions -------------------------------------------------------
    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """All or nothing: a run killed inside leaves the store as it was before."""

    @abstractmethod
    def joins_as_written(self) -> AbstractContextManager[None]:
        """Statements inside keep the join order their SQL writes (see engine.lookups)."""

    @abstractmethod
    def reset_session(self) -> None:
        """Drop the temporary tables and views of the last use (a held store's next user starts clean)."""

    @abstractmethod
    def reader(self) -> BatchEngine:
        """Another session on the same store, for reads asked for inside a running statement
        (a key looked up by an encryption function); it sees what is committed."""

    @abstractmethod
    def setting(self, name: str) -> str | None: ...

    @abstractmethod
    def memory_limit_bytes(self) -> int:
        """The memory the engine runs under (what a stage sizes its chunks by)."""

    @abstractmethod
    def splink_api(self) -> Any:
        """Splink's database API over this engine's own session."""

    @abstractmethod
    def close(self) -> None: ...


def csv_value(value: Any, delimiter: str = ",") -> str:
    """One CSV field as DuckDB writes it: quoted only when it must be, NULL as nothing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text == "" or delimiter in text or '"' in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_line(values: Sequence[Any], delimiter: str = ",") -> str:
    return delimiter.join(csv_value(v, delimiter) for v in values) + "\n"
