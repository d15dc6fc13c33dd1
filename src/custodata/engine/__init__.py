"""The batch engine: pipeline SQL as data, run by one executor over DuckDB."""

from custodata.engine.executor import Executor, Step
from custodata.engine.store import BatchStore, open_store

__all__ = ["BatchStore", "Executor", "Step", "open_store"]
