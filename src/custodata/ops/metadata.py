"""The one SQLAlchemy ``MetaData`` every operational table registers on.

Each concept keeps its tables in its own module (``custodata.audit.tables``,
``custodata.access.tables`` …); Alembic migrations are generated from this
metadata once every module is imported (:func:`custodata.ops.store.load_tables`).
Constraint names follow a convention so migrations are the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})
