"""Pipeline SQL as data: every step is ``{sql, output_table}`` and one executor runs them.

Keeping the SQL as data (instead of ad-hoc ``con.execute`` calls spread over
the stages) gives one place that names, logs and times each step, and that
wraps a failure with the table it was building and the SQL that failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import duckdb

from custodata.errors import PipelineError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """One pipeline step: ``CREATE OR REPLACE TABLE output_table AS sql`` or a plain statement."""

    sql: str
    output_table: str | None = None
    params: tuple[Any, ...] = ()
    mode: str = "replace"  # replace | insert | execute

    def statement(self) -> str:
        if self.output_table is None or self.mode == "execute":
            return self.sql
        if self.mode == "insert":
            return f"INSERT INTO {self.output_table} BY NAME {self.sql}"
        return f"CREATE OR REPLACE TABLE {self.output_table} AS {self.sql}"


class Executor:
    """Runs steps on a DuckDB connection, timing each and wrapping failures."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.timings: dict[str, float] = {}

    def run(self, steps: Sequence[Step]) -> None:
        for step in steps:
            self.run_one(step)

    def run_one(self, step: Step) -> None:
        name = step.output_table or step.sql.split(None, 3)[:3].__str__()
        started = time.perf_counter()
        try:
            self.con.execute(step.statement(), list(step.params) if step.params else None)
        except duckdb.Error as exc:
            # one line for people; the SQL (which may carry literals) only at debug level
            log.debug("failed SQL:\n%s", step.statement())
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise PipelineError(f"step building {step.output_table or '(statement)'} failed: {first}") from exc
        elapsed = time.perf_counter() - started
        self.timings[name] = self.timings.get(name, 0.0) + elapsed
        log.debug("step %s took %.3fs", name, elapsed)

    def run_one_sql(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run a plain statement through the same naming, timing and error wrapping."""
        self.run_one(Step(sql, None, tuple(params), mode="execute"))

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.con.execute(sql, list(params) if params else None).fetchone()
        return None if row is None else row[0]

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, list(params) if params else None).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing: a run killed inside leaves the store as it was before."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")
