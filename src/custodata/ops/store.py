"""Opening the operational store: one engine per URL, tuned per dialect.

The URL comes from the caller, else ``CUSTODATA_DB_URL``, else the embedded
default ``sqlite:///OUT/custodata.sqlite``.  SQLite is opened in WAL mode with a
busy timeout so the service's readers never block on the pipeline's refresh.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from custodata.errors import ConfigError
from custodata.ops.metadata import metadata

DB_FILE = "custodata.sqlite"
URL_ENV = "CUSTODATA_DB_URL"

# every module that registers tables on the shared metadata; imported before schema work
TABLE_MODULES = (
    "custodata.classification.catalogue",
    "custodata.audit.tables",
    "custodata.identity.tables",
    "custodata.access.tables",
    "custodata.serving.tables",
    "custodata.approvals.tables",
    "custodata.monitoring.tables",
    "custodata.jobs.tables",
    "custodata.changes.tables",
)


def load_tables() -> sa.MetaData:
    """Import every table module so ``metadata`` knows the whole schema."""
    for name in TABLE_MODULES:
        importlib.import_module(name)
    return metadata


def default_url(out_dir: Path | None = None) -> str:
    """``CUSTODATA_DB_URL`` if set, else the SQLite file in the output folder."""
    url = os.environ.get(URL_ENV)
    if url:
        return url
    folder = (out_dir or Path("out")).resolve()
    return f"sqlite:///{folder / DB_FILE}"


def _sqlite_pragmas(dbapi_con: Any, _record: Any) -> None:
    cur = dbapi_con.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _create_private(path: Path) -> None:
    """Create the SQLite file owner-only before SQLite does: its -wal and -shm files take the same mode."""
    from custodata.private_files import FILE_MODE, private_file

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
    except FileExistsError:
        private_file(path)  # a store of an older version, created 0644


def make_engine(url: str, **kwargs: Any) -> sa.Engine:
    """An engine for ``url``; a malformed URL is a configuration error, not a traceback."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"not a database URL: {url!r}") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _create_private(Path(parsed.database))
            # as many pooled connections as the server has worker threads (40): with SQLAlchemy's
            # 5 + 10 the rest waited for one, and each overflow connection was opened (pragmas and
            # all) and closed again per request
            kwargs.setdefault("pool_size", 20)
            kwargs.setdefault("max_overflow", 40)
        engine = sa.create_engine(parsed, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs.setdefault("pool_size", 20)
        kwargs.setdefault("max_overflow", 40)
        kwargs.setdefault("pool_pre_ping", True)
        return sa.create_engine(parsed, **kwargs)
    raise ConfigError(f"the operational store runs on SQLite or PostgreSQL, not {parsed.get_backend_name()}")


@dataclass
class OpsStore:
    """An open operational store."""

    url: str
    engine: sa.Engine
    _reader: sa.Engine | None = field(default=None, init=False, repr=False, compare=False)
    _reader_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def reader(self) -> sa.Engine:
        """An engine for single-statement reads whose connections are in autocommit from the start.

        No BEGIN/ROLLBACK round trips, and unlike ``engine.execution_options(isolation_level=
        "AUTOCOMMIT")`` on the shared pool, no switch to autocommit at every check-out and back
        at every check-in (on SQLite a ``PRAGMA`` each, twice per read).  Its own pool; an
        in-memory SQLite store has one connection only, so it shares the main engine's.
        """
        if self._reader is None:
            with self._reader_lock:
                if self._reader is None:
                    url = self.engine.url
                    if url.get_backend_name() == "sqlite" and (not url.database or url.database == ":memory:"):
                        self._reader = self.engine.execution_options(isolation_level="AUTOCOMMIT")
                    else:
                        self._reader = make_engine(url.render_as_string(hide_password=False),
                                                   isolation_level="AUTOCOMMIT")
        return self._reader

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """One transaction (SQLite: taken as a write lock at once, so no upgrade deadlock)."""
        with self.engine.connect() as con:
            if self.dialect == "sqlite":
                con.exec_driver_sql("BEGIN IMMEDIATE")
                try:
                    yield con
                    con.commit()
                except BaseException:
                    con.rollback()
                    raise
            else:
                with con.begin():
                    yield con

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as con:
            yield con

    def ensure_schema(self) -> None:
        """Bring the schema to the newest version (Alembic migrations), unless it is there already.

        Alembic reads its environment and every script at each upgrade (~0.1 s once
        imported, seconds in a fresh process): the job worker opens the store for every
        change it serves.  Reading the store's revision is one query.
        """
        from custodata.ops.migrate import current, head, upgrade

        if current(self) != head():
            upgrade(self)

    def close(self) -> None:
        if self._reader is not None and self._reader.pool is not self.engine.pool:
            self._reader.dispose()
        self.engine.dispose()


def open_ops(url: str | None = None, *, out_dir: Path | None = None, migrate: bool = True) -> OpsStore:
    """Open (and by default migrate) the operational store at ``url`` or the default."""
    resolved = url or default_url(out_dir)
    store = OpsStore(resolved, make_engine(resolved))
    if migrate:
        store.ensure_schema()
    return store
