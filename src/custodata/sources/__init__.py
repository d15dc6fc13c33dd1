"""Source systems: declarative mappings, readers into landing, and demo data."""

from custodata.sources.mapping import (
    PartyMapping,
    SourceMapping,
    TagColumn,
    default_mappings_dir,
    load_mapping,
    load_mappings,
    parse_mapping,
)

__all__ = [
    "PartyMapping",
    "SourceMapping",
    "TagColumn",
    "default_mappings_dir",
    "load_mapping",
    "load_mappings",
    "parse_mapping",
]
