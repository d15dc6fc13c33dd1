import pytest
from hypothesis import given
from hypothesis import strategies as st

from custodata.normalise.address import Address, split_address
from custodata.normalise.regions import Region, load_regions, province_short

NANSHAN = ("广东省", "深圳市", "南山区", "科技园路1号")


@pytest.mark.parametrize(
    "raw",
    [
        "广东省深圳市南山区科技园路1号",
        "广东深圳南山区科技园路1号",
        "广东省 深圳市 南山区 科技园路 1 号",
        "深圳市南山区科技园路1号",
        "深圳南山区科技园路1号",
        "南山区科技园路1号",
        "广东省深圳市南山区科技园路１号",
        "廣東省深圳市南山區科技園路1號",
        "中国广东省深圳市南山区科技园路1号",
        "广东省深圳市南山区，科技园路1号",
        "中华人民共和国广东省深圳市南山区科技园路1号",
    ],
)
def test_variants_of_one_address_agree(raw: str) -> None:
    address = split_address(raw)
    assert address is not None
    assert (address.province, address.city, address.district, address.detail) == NANSHAN
    assert address.full == "广东省深圳市南山区科技园路1号"


@pytest.mark.parametrize(
    ("raw", "province", "city", "district", "detail"),
    [
        ("北京市朝阳区建国路88号", "北京市", "北京市", "朝阳区", "建国路88号"),
        ("北京朝阳区建国路88号", "北京市", "北京市", "朝阳区", "建国路88号"),
        ("北京市北京市朝阳区建国路88号", "北京市", "北京市", "朝阳区", "建国路88号"),
        ("上海市市辖区浦东新区世纪大道100号", "上海市", "上海市", "浦东新区", "世纪大道100号"),
        ("上海市黄浦区南京东路100号", "上海市", "上海市", "黄浦区", "南京东路100号"),
        ("浙江杭州西湖区文三路100号", "浙江省", "杭州市", "西湖区", "文三路100号"),
        ("成都市武侯区人民南路4段1号", "四川省", "成都市", "武侯区", "人民南路4段1号"),
        # 吉林 is a province and a city.
        ("吉林市船营区解放路1号", "吉林省", "吉林市", "船营区", "解放路1号"),
        ("吉林省吉林市船营区解放路1号", "吉林省", "吉林市", "船营区", "解放路1号"),
        # 朝阳区 exists in 北京 and 长春: the city decides, nothing is guessed without it.
        ("长春市朝阳区人民大街1号", "吉林省", "长春市", "朝阳区", "人民大街1号"),
        ("朝阳区建国路88号", None, None, "朝阳区", "建国路88号"),
        ("吉林省朝阳区人民大街1号", "吉林省", "长春市", "朝阳区", "人民大街1号"),
        ("江苏省苏州市昆山市前进路1号", "江苏省", "苏州市", "昆山市", "前进路1号"),
        ("内蒙古鄂尔多斯准格尔旗1号", "内蒙古自治区", "鄂尔多斯市", "准格尔旗", "1号"),
        (
            "新疆维吾尔自治区乌鲁木齐市新市区北京南路1号",
            "新疆维吾尔自治区",
            "乌鲁木齐市",
            "新市区",
            "北京南路1号",
        ),
        ("黑龙江大庆市大同区1号", "黑龙江省", "大庆市", "大同区", "1号"),
        # Outside the gazetteer: split by suffix.
        (
            "湖北省恩施土家族苗族自治州恩施市舞阳大道1号",
            "湖北省",
            "恩施土家族苗族自治州",
            "恩施市",
            "舞阳大道1号",
        ),
        ("台湾省台北市信义区信义路五段7号", "台湾省", "台北市", "信义区", "信义路五段7号"),
        ("广东省东莞市松山湖大道8号", "广东省", "东莞市", None, "松山湖大道8号"),
        # Streets named after places are not places.
        ("南京路100号", None, None, None, "南京路100号"),
        ("海南路1号", None, None, None, "海南路1号"),
        ("建设路100号", None, None, None, "建设路100号"),
    ],
)
def test_split(
    raw: str, province: str | None, city: str | None, district: str | None, detail: str
) -> None:
    address = split_address(raw)
    assert address is not None
    assert (address.province, address.city, address.district, address.detail) == (
        province,
        city,
        district,
        detail,
    )


def test_full_is_canonical_and_municipality_not_doubled() -> None:
    address = split_address("北京朝阳区建国路88号")
    assert address == Address("北京市", "北京市", "朝阳区", "建国路88号", "北京市朝阳区建国路88号")


@pytest.mark.parametrize("raw", [None, "", "  ", "无", "不详", "-"])
def test_empty(raw: str | None) -> None:
    assert split_address(raw) is None


regions = st.sampled_from(load_regions())


@given(regions, st.integers(min_value=1, max_value=999), st.booleans(), st.booleans())
def test_gazetteer_addresses_split_back(
    region: Region, number: int, short_province: bool, drop_province: bool
) -> None:
    province = province_short(region.province) if short_province else region.province
    prefix = "" if drop_province else province
    city = "" if region.city == region.province else region.city
    raw = f"{prefix}{city}{region.district}幸福路{number}号"
    address = split_address(raw)
    assert address is not None
    assert address.district == region.district
    assert address.detail == f"幸福路{number}号"
    if not drop_province or city:
        assert (address.province, address.city) == (region.province, region.city)
