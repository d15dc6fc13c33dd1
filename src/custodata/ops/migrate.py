"""Schema migrations with Alembic, run from code (no alembic.ini to find at run time).

The migration scripts ship inside the package (``custodata/ops/migrations``).
"""

from __future__ import annotations

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


def upgrade(store: OpsStore, revision: str = "head") -> None:
    command.upgrade(alembic_config(store), revision)


def current(store: OpsStore) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with store.engine.connect() as con:
        heads = MigrationContext.configure(con).get_current_heads()
    return ",".join(sorted(heads)) or None
