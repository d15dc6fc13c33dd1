"""Splitting Chinese postal addresses into province, city, district and detail.

Addresses are the weakest identifier and the messiest field: the same flat is
``广东省深圳市南山区科技园路1号``, ``深圳南山区科技园路１号`` and, from a Hong
Kong branch, ``廣東省深圳市南山區科技園路1號``.  Entity resolution compares the
parts separately (a shared district is weak evidence, a shared detail strong)
and the canonical ``full`` string as one field, so parts left out by the writer
are filled from the gazetteer where that is unambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache

from custodata.normalise.regions import gazetteer, province_short
from custodata.normalise.text import clean_text, is_placeholder


@dataclass(frozen=True)
class Address:
    """One address in parts; names are the full official forms where recognised."""

    province: str | None
    city: str | None
    district: str | None
    detail: str
    full: str


MUNICIPALITIES: frozenset[str] = frozenset({"北京市", "上海市", "天津市", "重庆市"})

_WHITESPACE = re.compile(r"\s+")
_COUNTRY = re.compile(r"(?:中华人民共和国|中国)")
_LEADING_PUNCT = re.compile(r"^[,，、;；:：.。·\-]+")
# Fallbacks for places outside the gazetteer: a name body that cannot contain
# digits or the words that start the street part, followed by a division suffix.
_BODY = r"[^\d省市区县旗路街道号巷弄村镇乡()]"
_PROVINCE_SUFFIX = re.compile(rf"{_BODY}{{2,7}}?(?:省|自治区|特别行政区)")
_CITY_SUFFIX = re.compile(rf"{_BODY}{{2,8}}?(?:自治州|地区|盟|市)")
_DISTRICT_SUFFIX = re.compile(rf"{_BODY}{{1,8}}?(?:自治县|自治旗|新区|区|县|旗|市)")


def _alternation(names: Iterable[str], guards: dict[str, str]) -> re.Pattern[str]:
    # Longest first, so 内蒙古自治区 wins over 内蒙古 and 浦东新区 over any shorter name.
    parts = []
    for name in sorted(set(names), key=len, reverse=True):
        guard = guards.get(name)
        parts.append(re.escape(name) + (f"(?!{guard})" if guard else ""))
    return re.compile("|".join(parts))


# Streets are named after places (南京路, 北京东路, 海南大道), so a short place name
# followed by a street word is the street, not the place.
_STREET = r"[路街道巷弄桥]|[东西南北中]路|大[道街]"


@dataclass(frozen=True)
class _Matchers:
    province: re.Pattern[str]
    city: re.Pattern[str]
    district: re.Pattern[str]
    district_places: dict[str, tuple[tuple[str, str], ...]]


@cache
def _matchers() -> _Matchers:
    gaz = gazetteer()
    # A short province name followed by 市 is a city (吉林市), not the province.
    province_guard = {
        short: f"市|{_STREET}" for short, full in gaz.province_by_name.items() if short != full
    }
    # A short city name followed by 区/县/旗 is a district (大同区 lies in 大庆市).
    city_guard = {
        short: f"[区县旗]|{_STREET}" for short, full in gaz.city_by_name.items() if short != full
    }
    places: dict[str, list[tuple[str, str]]] = {}
    for region in gaz.regions:
        place = (region.province, region.city)
        if place not in places.setdefault(region.district, []):
            places[region.district].append(place)
    return _Matchers(
        province=_alternation(gaz.province_by_name, province_guard),
        city=_alternation(gaz.city_by_name, city_guard),
        district=_alternation(places, {}),
        district_places={d: tuple(p) for d, p in places.items()},
    )


@lru_cache(maxsize=1 << 17)
def split_address(raw: str | None) -> Address | None:
    """Split an address; None only for blank or placeholder values.

    An address with no recognisable division still yields an Address whose
    parts are None and whose detail is the whole cleaned text.
    """
    text = clean_text(raw)
    if text is None or is_placeholder(text):
        return None
    s = _WHITESPACE.sub("", text)
    s = s[m.end() :] if (m := _COUNTRY.match(s)) else s
    gaz = gazetteer()
    matchers = _matchers()
    province = city = district = None
    pos = 0

    if m := matchers.province.match(s):
        province = gaz.province_by_name[m.group()]
        pos = m.end()
    elif m := _PROVINCE_SUFFIX.match(s):
        province = m.group()
        pos = m.end()

    if province in MUNICIPALITIES:
        city = province
        # 北京市北京市朝阳区 / 上海市市辖区黄浦区: drop the repeated city level.
        for repeat in (province, province_short(province), "市辖区"):
            if s.startswith(repeat, pos):
                pos += len(repeat)
    elif m := matchers.city.match(s, pos):
        city = gaz.city_by_name[m.group()]
        pos = m.end()
    elif m := _CITY_SUFFIX.match(s, pos):
        city = m.group()
        pos = m.end()

    if m := matchers.district.match(s, pos):
        district = m.group()
        pos = m.end()
    elif m := _DISTRICT_SUFFIX.match(s, pos):
        district = m.group()
        pos = m.end()

    if district is not None and city is None:
        candidates = [
            place
            for place in matchers.district_places.get(district, ())
            if province is None or place[0] == province
        ]
        if len(candidates) == 1:
            province, city = candidates[0]
    if city is not None and province is None:
        province = gaz.city_province.get(city)

    detail = _LEADING_PUNCT.sub("", s[pos:])
    levels = [province, None if city == province else city, district]
    full = "".join(part for part in levels if part) + detail
    return Address(province=province, city=city, district=district, detail=detail, full=full)
