"""Generate an Alembic migration from the table modules: python scripts/new-migration.py REV_ID "message".

Upgrades a scratch SQLite file to every head, then autogenerates the difference
against the models as revision REV_ID.  Read the result: keep only your tables.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from custodata.ops.migrate import alembic_config
from custodata.ops.store import OpsStore, make_engine


def main() -> None:
    rev_id, message = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'scratch.sqlite'}"
        store = OpsStore(url, make_engine(url))
        cfg = alembic_config(store)
        command.upgrade(cfg, "head")
        command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id)
        store.close()


if __name__ == "__main__":
    main()
