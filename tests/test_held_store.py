"""The worker's held batch store: one connection kept between changes, each change starting clean."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from custodata.engine.held_store import HeldStore


def _temps(con: duckdb.DuckDBPyConnection) -> list[str]:
    tables = con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()
    views = con.execute("SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal").fetchall()
    return sorted(str(r[0]) for r in [*tables, *views])


def test_a_change_leaves_nothing_for_the_next_one(tmp_path: Path) -> None:
    """Stops one change reading another's leftovers: stages ask whether a temp table exists (an affected
    set, a cut) and would take a previous change's for their own.  The connection is the same one, with
    no temporary table or view left, and what the change committed is there."""
    held = HeldStore(tmp_path / "custodata.duckdb")
    store = held.open()
    store.con.execute("CREATE TABLE main.kept AS SELECT 1 AS x")
    store.con.execute("CREATE TEMP TABLE _affected AS SELECT 'C1' AS customer_id")
    store.con.execute("CREATE TEMP VIEW er_old_input AS SELECT 1 AS y")
    held.done(store)
    again = held.open()
    try:
        assert again is store  # held: not opened afresh
        assert _temps(again.con) == []
        assert again.con.execute("SELECT x FROM main.kept").fetchall() == [(1,)]
    finally:
        held.done(again)
        held.release()
    assert not held.is_open


def test_a_failed_change_closes_the_store(tmp_path: Path) -> None:
    """Stops an aborted transaction from being handed to the next change: after a failure the
    connection is closed and the next use opens a fresh one, without the failed change's writes."""
    held = HeldStore(tmp_path / "custodata.duckdb")
    store = held.open()
    store.con.execute("CREATE TABLE main.t (x INTEGER)")
    store.con.execute("BEGIN")
    store.con.execute("INSERT INTO main.t VALUES (1)")
    with pytest.raises(duckdb.Error):
        store.con.execute("SELECT * FROM no_such_table")
    held.done(store, failed=True)
    assert not held.is_open
    fresh = held.open()
    try:
        assert fresh is not store
        assert fresh.con.execute("SELECT count(*) FROM main.t").fetchone() == (0,)
    finally:
        held.done(fresh)
        held.release()


def test_a_nested_open_is_an_error_not_a_hang(tmp_path: Path) -> None:
    """Stops a step that opens the store inside another from waiting on itself for ever."""
    held = HeldStore(tmp_path / "custodata.duckdb")
    store = held.open()
    try:
        with pytest.raises(RuntimeError, match="nested"):
            held.open()
    finally:
        held.done(store)
        held.release()


def test_released_the_file_is_free_for_another_connection(tmp_path: Path) -> None:
    """Stops the worker keeping the file from everyone else: once it lets go (idle), another
    connection of a different configuration (a read-only look, a shell's run) opens it."""
    path = tmp_path / "custodata.duckdb"
    held = HeldStore(path)
    held.done(held.open())
    with pytest.raises(duckdb.Error):
        duckdb.connect(str(path), read_only=True)
    held.release()
    other = duckdb.connect(str(path), read_only=True)
    other.close()
