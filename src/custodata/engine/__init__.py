"""The batch engine: the port every stage runs through (:mod:`custodata.engine.port`) and its engines."""

from __future__ import annotations

from pathlib import Path

from custodata.engine.port import ArrowFunction, BatchEngine, Step
from custodata.engine.store import BatchStore, open_store


def memory_engine(*, threads: int | None = None) -> BatchEngine:
    """A throw-away in-memory engine (standalone tools such as ``custodata dedupe``)."""
    from custodata.engine.duckdb_engine import connect

    return connect(None, threads=threads)


def file_engine(path: Path, *, read_only: bool = True, wait_seconds: float = 0.0) -> BatchEngine:
    """An engine on a store file without the store's keys and functions (a scan, a backup's consistent read).

    Another process's lock is waited for up to ``wait_seconds``, then refused with
    :class:`~custodata.errors.StoreLockedError`.
    """
    from custodata.engine.duckdb_engine import connect

    return connect(path, read_only=read_only, wait_seconds=wait_seconds)


def is_engine_error(exc: BaseException) -> bool:
    """Whether ``exc`` came from the engine, wrapped or raw (Splink runs SQL on it too)."""
    from custodata.engine.duckdb_engine import is_engine_error as native

    return native(exc)


__all__ = ["ArrowFunction", "BatchEngine", "BatchStore", "Step", "file_engine", "is_engine_error", "memory_engine",
           "open_store"]
