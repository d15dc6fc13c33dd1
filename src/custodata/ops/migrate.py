"""Schema migrations with Alembic, run from code (no alembic.ini to find at run time).

The migration scripts ship inside the package (``custodata/ops/migrations``).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config

if TYPE_CHECKING:
    from custodata.ops.store import OpsStore

SCRIPTS = Path(__file__).with_name("migrations")


def alembic_config(store: OpsStore) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.set_main_option("sqlalchemy.url", store.url.replace("%", "%%"))
    cfg.attributes["engine"] = store.engine
    return cfg


@cache
def head() -> str:
    """The newest revision of the shipped scripts (read once a process: they ship with it)."""
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    return ",".join(sorted(ScriptDirectory.from_config(cfg).get_heads()))


def upgrade(store: OpsStore, revision: str = "head") -> None:
    command.upgrade(alembic_config(store), revision)


def current(store: OpsStore) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with store.engine.connect() as con:
        heads = MigrationContext.configure(con).get_current_heads()
    return ",".join(sorted(heads)) or None
