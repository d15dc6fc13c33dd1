"""Classification and grading [分类分级]: which data is sensitive, and how sensitive.

``grading`` is imported eagerly (every protection concern asks it); the
recognisers, the scan and the catalogue load on first use, so importing the
grading table never pulls in DuckDB readers or SQLAlchemy, and masking can use
the recognisers without an import cycle.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from custodata.classification.grading import Grading, TypeGrade, load_grading

if TYPE_CHECKING:
    from custodata.classification.catalogue import (
        Catalogue,
        CatalogueEntry,
        CatalogueError,
        RecordResult,
        Status,
    )
    from custodata.classification.config import ClassificationConfig, ScanSettings, load_config
    from custodata.classification.recognisers import (
        Match,
        Recogniser,
        Registry,
        Span,
        build_registry,
        default_registry,
        find_all,
        recognise,
    )
    from custodata.classification.sampling import TableSample, sample_table, source_id
    from custodata.classification.scan import ColumnFinding, ScanReport, scan_table, scan_values

_LAZY: dict[str, str] = {
    **dict.fromkeys(("Catalogue", "CatalogueEntry", "CatalogueError", "RecordResult", "Status"), "catalogue"),
    **dict.fromkeys(("ClassificationConfig", "ScanSettings", "load_config"), "config"),
    **dict.fromkeys(("Match", "Recogniser", "Registry", "Span", "build_registry", "default_registry", "find_all",
                     "recognise"), "recognisers"),
    **dict.fromkeys(("TableSample", "sample_table", "source_id"), "sampling"),
    **dict.fromkeys(("ColumnFinding", "ScanReport", "scan_table", "scan_values"), "scan"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'custodata.classification' has no attribute '{name}'")
    return getattr(import_module(f"custodata.classification.{module}"), name)


__all__ = [
    "Catalogue",
    "CatalogueEntry",
    "CatalogueError",
    "ClassificationConfig",
    "ColumnFinding",
    "Grading",
    "Match",
    "Recogniser",
    "RecordResult",
    "Registry",
    "ScanReport",
    "ScanSettings",
    "Span",
    "Status",
    "TableSample",
    "TypeGrade",
    "build_registry",
    "default_registry",
    "find_all",
    "load_config",
    "load_grading",
    "recognise",
    "sample_table",
    "scan_table",
    "scan_values",
    "source_id",
]
