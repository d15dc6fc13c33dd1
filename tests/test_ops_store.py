"""The operational store migrates to the same schema on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from custodata.errors import ConfigError
from custodata.ops import open_ops
from custodata.ops.migrate import current
from custodata.ops.store import load_tables, make_engine


def test_migrations_build_the_whole_schema(ops_url: str) -> None:
    store = open_ops(ops_url)
    try:
        tables = set(sa.inspect(store.engine).get_table_names())
        assert set(load_tables().tables) <= tables
        assert current(store) is not None
        store.ensure_schema()  # idempotent
    finally:
        store.close()


def test_migrations_match_the_models(ops_url: str) -> None:
    """A model changed without a migration is caught here, on both engines."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    store = open_ops(ops_url)
    try:
        with store.engine.connect() as con:
            diff = compare_metadata(MigrationContext.configure(con), load_tables())
        assert diff == []
    finally:
        store.close()


@pytest.mark.parametrize("url", ["mysql://x@y/z", "not a url"])
def test_bad_urls_are_refused_clearly(url: str) -> None:
    with pytest.raises(ConfigError):
        make_engine(url)


def test_migrations_go_down_and_up_again(ops_url: str) -> None:
    """Every migration can be undone (a failed release is rolled back the same way on both engines)."""
    from alembic import command

    from custodata.ops.migrate import alembic_config, upgrade

    store = open_ops(ops_url)
    try:
        command.downgrade(alembic_config(store), "base")
        assert current(store) is None
        assert not set(load_tables().tables) & set(sa.inspect(store.engine).get_table_names())
        upgrade(store)
        assert set(load_tables().tables) <= set(sa.inspect(store.engine).get_table_names())
    finally:
        store.close()
