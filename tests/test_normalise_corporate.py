import pytest
from hypothesis import given
from hypothesis import strategies as st

from custodata.normalise.corporate import company_name_key, normalise_company_name


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("腾讯科技（深圳）有限公司", "腾讯科技(深圳)有限公司"),
        ("腾讯科技 (深圳) 有限公司", "腾讯科技(深圳)有限公司"),
        ("腾讯科技【深圳】有限公司", "腾讯科技(深圳)有限公司"),
        ("騰訊科技（深圳）有限公司", "腾讯科技(深圳)有限公司"),
        ("华为 技术 有限公司", "华为技术有限公司"),
        ("Apple  Inc.", "Apple Inc."),
        ("ＡＢＣ 科技有限公司", "ABC科技有限公司"),
        (None, None),
        ("", None),
        ("无", None),
    ],
)
def test_normalise_company_name(raw: str | None, expected: str | None) -> None:
    assert normalise_company_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("腾讯科技（深圳）有限公司", "腾讯科技"),
        ("腾讯科技有限公司", "腾讯科技"),
        ("深圳市腾讯计算机系统有限公司", "腾讯计算机系统"),
        ("华为技术有限公司", "华为技术"),
        ("华为技术有限责任公司", "华为技术"),
        ("华为技术股份有限公司", "华为技术"),
        ("(广东)美的制冷设备有限公司", "美的制冷设备"),
        ("广东美的制冷设备有限公司", "美的制冷设备"),
        ("普华永道中天会计师事务所（特殊普通合伙）", "普华永道中天会计师事务所"),
        ("复星国际集团有限公司", "复星国际"),
        ("無錫華潤微電子有限公司", "华润微电子"),
        # Too little left without the region: the region is the name.
        ("北京银行股份有限公司", "北京银行"),
        ("上海银行", "上海银行"),
        # A branch is a different party from its head office.
        ("中国平安财产保险股份有限公司深圳分公司", "中国平安财产保险股份有限公司深圳分公司"),
        ("Apple Inc.", "APPLE"),
        ("Huawei Technologies Co., Ltd.", "HUAWEITECHNOLOGIES"),
        (None, None),
        ("", None),
    ],
)
def test_company_name_key(raw: str | None, expected: str | None) -> None:
    assert company_name_key(raw) == expected


@pytest.mark.parametrize(
    "suffix", ["有限公司", "有限责任公司", "股份有限公司", "集团有限公司", "（有限合伙）", " 集团"]
)
def test_legal_forms_share_a_key(suffix: str) -> None:
    assert company_name_key("星河数据科技" + suffix) == "星河数据科技"


@given(st.text(alphabet="星河数据科技云智能网络信息服务贸易", min_size=4, max_size=10))
def test_key_is_stable(core: str) -> None:
    key = company_name_key(core + "有限公司")
    assert key is not None
    assert company_name_key(key) == key


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Huawei Technologies Co.,Ltd.", "HUAWEITECHNOLOGIES"),
        ("Tesco", "TESCO"),
        ("Tesco PLC Limited", "TESCOPLC"),
        ("Acme Corporation", "ACME"),
    ],
)
def test_latin_legal_forms(raw: str, expected: str) -> None:
    assert company_name_key(raw) == expected
