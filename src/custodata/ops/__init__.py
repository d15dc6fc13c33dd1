"""The operational store [运营库]: identities, policies, approvals, audit and the served customer view.

SQLite by default (one file beside the batch store), PostgreSQL in production;
the same SQLAlchemy 2 code and the same tests run on both.
"""

from custodata.ops.metadata import metadata
from custodata.ops.store import OpsStore, default_url, open_ops

__all__ = ["OpsStore", "default_url", "metadata", "open_ops"]
