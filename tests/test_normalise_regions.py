import csv
from collections import Counter
from pathlib import Path

import pytest

from custodata.normalise import regions
from custodata.normalise.regions import (
    city_short,
    city_to_province,
    district_to_city,
    gazetteer,
    load_regions,
    province_short,
)

CSV = Path(regions.__file__).with_name("regions.csv")
MUNICIPALITIES = {"北京市", "上海市", "天津市", "重庆市"}


def test_csv_header_and_shape() -> None:
    with CSV.open(encoding="utf-8") as f:
        reader = csv.reader(f)
        assert next(reader) == ["province", "city", "district", "postcode"]
        rows = list(reader)
    assert 300 <= len(rows) <= 400
    assert len(rows) == len(load_regions())
    assert len({tuple(r[:3]) for r in rows}) == len(rows), "duplicate district rows"


def test_every_province_level_division_is_present() -> None:
    provinces = {r.province for r in load_regions()}
    assert len(provinces) == 31
    assert MUNICIPALITIES <= provinces
    for name in (
        "广东省",
        "内蒙古自治区",
        "广西壮族自治区",
        "新疆维吾尔自治区",
        "西藏自治区",
        "宁夏回族自治区",
        "黑龙江省",
    ):
        assert name in provinces


def test_nesting_sizes_and_postcodes() -> None:
    cities_per_province: dict[str, set[str]] = {}
    districts_per_city = Counter[tuple[str, str]]()
    for r in load_regions():
        cities_per_province.setdefault(r.province, set()).add(r.city)
        districts_per_city[(r.province, r.city)] += 1
        assert len(r.postcode) == 6 and r.postcode.isdigit()
    for province, cities in cities_per_province.items():
        if province in MUNICIPALITIES:
            assert cities == {province}
        else:
            assert 2 <= len(cities) <= 4, province
    assert all(3 <= n <= 5 for n in districts_per_city.values())


def test_each_city_belongs_to_one_province() -> None:
    seen: dict[str, str] = {}
    for r in load_regions():
        assert seen.setdefault(r.city, r.province) == r.province


@pytest.mark.parametrize(
    ("province", "city", "district"),
    [
        ("广东省", "深圳市", "南山区"),
        ("浙江省", "杭州市", "西湖区"),
        ("四川省", "成都市", "武侯区"),
        ("北京市", "北京市", "海淀区"),
        ("上海市", "上海市", "浦东新区"),
        ("江苏省", "苏州市", "昆山市"),
    ],
)
def test_known_places(province: str, city: str, district: str) -> None:
    assert any(
        (r.province, r.city, r.district) == (province, city, district) for r in load_regions()
    )


@pytest.mark.parametrize(
    ("full", "short"),
    [
        ("广东省", "广东"),
        ("内蒙古自治区", "内蒙古"),
        ("北京市", "北京"),
        ("广西壮族自治区", "广西"),
        ("新疆维吾尔自治区", "新疆"),
        ("宁夏回族自治区", "宁夏"),
        ("西藏自治区", "西藏"),
        ("黑龙江省", "黑龙江"),
        ("香港特别行政区", "香港"),
    ],
)
def test_province_short(full: str, short: str) -> None:
    assert province_short(full) == short


def test_city_short() -> None:
    assert city_short("深圳市") == "深圳"
    assert city_short("呼和浩特市") == "呼和浩特"
    assert city_short("延边朝鲜族自治州") == "延边朝鲜族自治州"


def test_lookup_maps() -> None:
    assert city_to_province()["深圳市"] == "广东省"
    assert city_to_province()["吉林市"] == "吉林省"
    assert district_to_city()["南山区"] == ("广东省", "深圳市")
    # 鼓楼区 (南京, 徐州, 福州, 开封) and 朝阳区 (北京, 长春) are ambiguous: never guessed.
    assert "鼓楼区" not in district_to_city()
    assert "朝阳区" not in district_to_city()
    g = gazetteer()
    assert g.province_by_name["广西"] == "广西壮族自治区"
    assert g.city_by_name["深圳"] == "深圳市"
    assert g.postcode[("广东省", "深圳市", "南山区")] == "518052"
    assert "南山区" in g.districts_by_city["深圳市"]


def test_load_regions_is_cached() -> None:
    assert load_regions() is load_regions()
