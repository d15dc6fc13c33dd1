"""Where SQLite and PostgreSQL differ for the operational store, in one place.

The operational store runs on both (:mod:`custodata.ops.store` refuses anything
else); the modules that use it ask here instead of testing the dialect's name
themselves, so a difference — an insert that ignores a conflict, how writers queue
behind each other, what wipes freed pages — is declared once and a third engine
would be one module's work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from custodata.errors import StateError

DIALECTS = ("sqlite", "postgresql")


def name_of(where: sa.Connection | sa.Engine | str) -> str:
    """The dialect's name, refused (one line) when it is neither SQLite nor PostgreSQL."""
    name = where if isinstance(where, str) else where.dialect.name
    if name not in DIALECTS:
        raise StateError(f"the operational store runs on SQLite or PostgreSQL, not {name}")
    return name


def insert(where: sa.Connection | sa.Engine | str, table: sa.Table) -> Any:
    """The dialect's own INSERT, which both extend with ``ON CONFLICT`` (do nothing / do update)."""
    if name_of(where) == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def bulk_insert(con: sa.Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Many rows into ``table`` inside the connection's transaction.

    PostgreSQL: COPY through psycopg, several times executemany's speed; SQLite: executemany.
    """
    if not rows:
        return
    if name_of(con) == "sqlite":
        con.execute(table.insert(), [dict(zip(columns, r, strict=True)) for r in rows])
        return
    dbapi = con.connection.driver_connection
    cols = ", ".join(f'"{c}"' for c in columns)
    with dbapi.cursor() as cur, cur.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as copy:  # type: ignore[union-attr]
        for row in rows:
            copy.write_row(row)


def lock_table(con: sa.Connection, table: str) -> None:
    """Writers of ``table`` one after another until this transaction commits.

    SQLite: the transaction already holds the database's one write lock (``BEGIN
    IMMEDIATE``); PostgreSQL: an EXCLUSIVE table lock (readers go on).
    """
    if name_of(con) == "postgresql":
        con.exec_driver_sql(f"LOCK TABLE {table} IN EXCLUSIVE MODE")


def advisory_lock(con: sa.Connection, key: int) -> None:
    """One holder of ``key`` at a time until this transaction ends (SQLite: its write lock already is)."""
    if name_of(con) == "postgresql":
        con.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def skip_locked(select: sa.Select[Any], where: sa.Connection | sa.Engine | str) -> sa.Select[Any]:
    """Rows another transaction holds are passed over, not waited for (SQLite has one writer anyway)."""
    return select.with_for_update(skip_locked=True) if name_of(where) == "postgresql" else select


def wipe_freed_pages(con: sa.Connection) -> None:
    """Deleted rows leave no copy in freed pages (SQLite's secure_delete; PostgreSQL's VACUUM does it later)."""
    if name_of(con) == "sqlite":
        con.exec_driver_sql("PRAGMA secure_delete = ON")


def settle(engine: sa.Engine, *tables: str) -> None:
    """After a bulk change: SQLite folds its WAL back (no old page kept beside the file); PostgreSQL, given
    ``tables``, refreshes their planner statistics."""
    with engine.connect() as con:
        if name_of(con) == "sqlite":
            con.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        elif tables:
            for table in tables:
                con.exec_driver_sql(f"ANALYZE {table}")
            con.commit()


def paramstyle(where: sa.Connection | sa.Engine | str) -> str:
    """The DB-API driver's positional marker, for the few statements run on a raw cursor."""
    return "?" if name_of(where) == "sqlite" else "%s"


def streaming_cursor(raw: Any, where: sa.Engine, *, name: str, rows: int = 20_000) -> Any:
    """A cursor that fetches a long result in pieces (PostgreSQL: server-side; SQLite steps lazily anyway)."""
    if name_of(where) == "postgresql":
        cur = raw.driver_connection.cursor(name=name)
        cur.itersize = rows
        return cur
    return raw.cursor()


def concat_sep(where: str) -> str:
    """SQL joining text with the unit separator (U+001F) between the parts."""
    return " || chr(31) || " if name_of(where) == "postgresql" else " || char(31) || "


def timestamp_text(column: str, where: str) -> str:
    """SQL rendering a timestamp column as ``YYYY-MM-DD HH:MM:SS.ffffff`` (SQLite stores it as that text)."""
    return f"to_char({column}, 'YYYY-MM-DD HH24:MI:SS.US')" if name_of(where) == "postgresql" else f'"{column}"'


def integer_text(column: str, where: str) -> str:
    """SQL rendering an integer column as text (SQLite's ``||`` converts by itself)."""
    return f"{column}::text" if name_of(where) == "postgresql" else f'"{column}"'


__all__ = ["DIALECTS", "advisory_lock", "bulk_insert", "concat_sep", "insert", "integer_text", "lock_table", "name_of",
           "paramstyle", "settle", "skip_locked", "streaming_cursor", "timestamp_text", "wipe_freed_pages"]
