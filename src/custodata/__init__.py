"""custodata: a customer data control system for banks and insurers.

Unify scattered business data into governed customer domains (one golden
record per real customer, with lineage) and protect it.  The public surface is
re-exported here; heavy engines (DuckDB, Splink) are imported lazily so that
``import custodata`` stays cheap.
"""

from __future__ import annotations

from custodata.errors import (
    ConfigError,
    CustodataError,
    MappingError,
    NotFoundError,
    PipelineError,
    SourceError,
    StateError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "CustodataError",
    "MappingError",
    "NotFoundError",
    "PipelineError",
    "SourceError",
    "StateError",
    "__version__",
]
