"""Alembic environment: runs on the engine custodata already opened."""

from __future__ import annotations

from alembic import context

from custodata.ops.store import load_tables

config = context.config
target_metadata = load_tables()


def run() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        from custodata.ops.store import make_engine

        engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as con:
        context.configure(connection=con, target_metadata=target_metadata, render_as_batch=True,
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
        con.commit()


run()
