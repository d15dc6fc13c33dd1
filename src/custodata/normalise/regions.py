"""A small gazetteer of mainland China administrative divisions.

Addresses in source systems name the same place in many ways (``广东省深圳市``,
``广东深圳``, ``深圳市南山区`` without a province).  The address splitter needs
to know which names are real divisions and how they nest so it can fill in
what a record left out; the demo-data generator needs real, consistent
(province, city, district, postcode) tuples.  The CSV is deliberately small:
it is a reference sample, not a complete register.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from types import MappingProxyType


@dataclass(frozen=True)
class Region:
    """One district (区/县/县级市) with the city and province it belongs to."""

    province: str
    city: str
    district: str
    postcode: str


# Autonomous regions carry the ethnic group in their official name, which no
# one writes in an everyday address; the short form is the customary one.
_PROVINCE_SHORT_SPECIAL: dict[str, str] = {
    "内蒙古自治区": "内蒙古",
    "广西壮族自治区": "广西",
    "西藏自治区": "西藏",
    "宁夏回族自治区": "宁夏",
    "新疆维吾尔自治区": "新疆",
    "香港特别行政区": "香港",
    "澳门特别行政区": "澳门",
}

_PROVINCE_SUFFIXES: tuple[str, ...] = ("特别行政区", "自治区", "省", "市")
_CITY_SUFFIXES: tuple[str, ...] = ("市", "地区", "盟")


def province_short(province: str) -> str:
    """Return the customary short form, since addresses often omit 省/自治区."""
    special = _PROVINCE_SHORT_SPECIAL.get(province)
    if special is not None:
        return special
    for suffix in _PROVINCE_SUFFIXES:
        if province.endswith(suffix) and len(province) > len(suffix) + 1:
            return province[: -len(suffix)]
    return province


def city_short(city: str) -> str:
    """Return the city without 市/地区/盟, keeping at least two characters.

    Autonomous prefectures (…自治州) have no customary short form that is safe
    to match inside free text, so they are returned unchanged.
    """
    for suffix in _CITY_SUFFIXES:
        if city.endswith(suffix) and len(city) - len(suffix) >= 2:
            return city[: -len(suffix)]
    return city


@dataclass(frozen=True)
class Gazetteer:
    """Lookup maps derived once from the region table.

    ``province_by_name`` and ``city_by_name`` accept both the full and the short
    form.  ``district_location`` only holds district names that occur under a
    single city (e.g. 南山区), because a name such as 鼓楼区 or 朝阳区 is shared
    by several cities and must not be used to guess one.
    """

    regions: tuple[Region, ...]
    provinces: frozenset[str]
    province_by_name: Mapping[str, str]
    city_province: Mapping[str, str]
    city_by_name: Mapping[str, str]
    district_location: Mapping[str, tuple[str, str]]
    districts_by_city: Mapping[str, frozenset[str]]
    postcode: Mapping[tuple[str, str, str], str]


@cache
def load_regions() -> tuple[Region, ...]:
    """Read the packaged CSV once; it is reference data and never changes at run time."""
    text = files("custodata.normalise").joinpath("regions.csv").read_text(encoding="utf-8")
    return tuple(
        Region(
            province=row["province"].strip(),
            city=row["city"].strip(),
            district=row["district"].strip(),
            postcode=row["postcode"].strip(),
        )
        for row in csv.DictReader(io.StringIO(text))
    )


@cache
def gazetteer() -> Gazetteer:
    """Build the lookup maps once per process."""
    regions = load_regions()
    province_by_name: dict[str, str] = {}
    city_province: dict[str, str] = {}
    city_by_name: dict[str, str] = {}
    district_cities: dict[str, set[tuple[str, str]]] = {}
    districts_by_city: dict[str, set[str]] = {}
    postcode: dict[tuple[str, str, str], str] = {}
    for region in regions:
        province_by_name[region.province] = region.province
        province_by_name.setdefault(province_short(region.province), region.province)
        city_province[region.city] = region.province
        city_by_name[region.city] = region.city
        city_by_name.setdefault(city_short(region.city), region.city)
        district_cities.setdefault(region.district, set()).add((region.province, region.city))
        districts_by_city.setdefault(region.city, set()).add(region.district)
        postcode[(region.province, region.city, region.district)] = region.postcode
    district_location = {
        district: next(iter(places))
        for district, places in district_cities.items()
        if len(places) == 1
    }
    return Gazetteer(
        regions=regions,
        provinces=frozenset(r.province for r in regions),
        province_by_name=MappingProxyType(province_by_name),
        city_province=MappingProxyType(city_province),
        city_by_name=MappingProxyType(city_by_name),
        district_location=MappingProxyType(district_location),
        districts_by_city=MappingProxyType(
            {city: frozenset(ds) for city, ds in districts_by_city.items()}
        ),
        postcode=MappingProxyType(postcode),
    )


def city_to_province() -> Mapping[str, str]:
    """City (full name, e.g. 深圳市) → province (full name)."""
    return gazetteer().city_province


def district_to_city() -> Mapping[str, tuple[str, str]]:
    """District → (province, city), only for district names that are unique."""
    return gazetteer().district_location
