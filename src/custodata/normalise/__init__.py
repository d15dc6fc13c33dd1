"""Chinese-aware normalisation of single values, before entity resolution and validation."""

from __future__ import annotations

from custodata.normalise.regions import (
    Region,
    city_short,
    city_to_province,
    district_to_city,
    gazetteer,
    load_regions,
    province_short,
)

__all__ = [
    "Region",
    "city_short",
    "city_to_province",
    "district_to_city",
    "gazetteer",
    "load_regions",
    "province_short",
]
