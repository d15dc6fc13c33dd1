"""Masking operators: table-driven cases (short values, full width, None, empty) and properties."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custodata.errors import ConfigError
from custodata.masking import (
    MaskingContext,
    Operator,
    OperatorParams,
    ParamsError,
    get_operator,
    mask_address,
    mask_email,
    mask_id,
    mask_keep,
    mask_mobile,
    mask_name,
    operator_names,
    register,
)
from custodata.masking.operators import keep_chars, redact_identifiers
from custodata.normalise import id_check_char

TODAY = dt.date(2024, 6, 1)
CTX = MaskingContext(today=TODAY)


def valid_id(first17: str) -> str:
    return first17 + id_check_char(first17)


def luhn_card(first: str) -> str:
    """Complete a card number with its Luhn check digit."""
    for check in "0123456789":
        digits = first + check
        total = 0
        for i, c in enumerate(reversed(digits)):
            d = int(c)
            if i % 2:
                d = d * 2 - 9 if d > 4 else d * 2
            total += d
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


ID = valid_id("44030519900307001")
ID_BAD_CHECKSUM = ID[:-1] + ("0" if ID[-1] != "0" else "1")
CARD = luhn_card("622202123456789012")  # 19 digits
CARD_BAD_LUHN = CARD[:-1] + str((int(CARD[-1]) + 1) % 10)

CASES: list[tuple[str, dict[str, Any], object, object]] = [
    # keep
    ("keep", {"first": 6, "last": 4}, CARD, CARD[:6] + "*" * 9 + CARD[-4:]),
    ("keep", {"first": 3, "last": 4}, "13812345678", "138****5678"),
    ("keep", {"first": 3, "last": 4}, "１３８１２３４５６７８", "１３８****５６７８"),
    ("keep", {"first": 3, "last": 4}, "1234567", "*******"),  # short: masked whole
    ("keep", {"first": 3, "last": 4}, "12", "**"),
    ("keep", {"first": 3, "last": 4}, "", ""),
    ("keep", {"first": 3, "last": 4}, None, None),
    ("keep", {"first": 0, "last": 4}, "6217001234567890", "************7890"),
    ("keep", {"first": 6, "last": 4, "mask_length": 4}, CARD, CARD[:6] + "****" + CARD[-4:]),
    ("keep", {"first": 1, "last": 1, "char": "#"}, "abcd", "a##d"),
    ("keep", {"first": 2, "last": 4}, "91440300MA5G0XKQ4L", "91************KQ4L"),
    ("keep", {"first": 6, "last": 4}, 12345678901234, "123456****1234"),  # numbers are text here
    # mask_all, redact, null, plain
    ("mask_all", {}, "张三", "**"),
    ("mask_all", {"mask_length": 6}, "ab", "******"),
    ("mask_all", {}, "", ""),
    ("mask_all", {}, None, None),
    ("redact", {}, "13812345678", None),
    ("null", {}, "13812345678", None),
    ("redact", {}, None, None),
    ("plain", {}, "13812345678", "13812345678"),
    ("plain", {}, 42, 42),
    ("plain", {}, None, None),
    # name
    # a fixed two mask characters whatever the length: the mask does not tell how long the name is
    ("name", {}, "张伟", "张**"),
    ("name", {}, "张三丰", "张**"),
    ("name", {}, "欧阳锋", "欧阳**"),
    ("name", {}, "司马相如", "司马**"),
    ("name", {}, "欧阳", "欧**"),  # nothing but a compound surname: keep one character
    ("name", {}, "张", "**"),
    ("name", {}, "張 偉", "张**"),  # traditional, spaced: normalised first
    ("name", {}, "ZHANG WEI", "Z**"),
    ("name", {}, "Li Lei", "L**"),
    ("name", {}, "阿依古丽·买买提", "阿**"),
    ("name", {"show": "last_char"}, "张伟", "**伟"),
    ("name", {"mask_length": 3}, "欧阳锋", "欧阳***"),
    ("name", {"mask_length": None}, "张三丰", "张**"),
    ("name", {"mask_length": None}, "甘露", "甘*"),  # a policy may ask for one per character
    ("name", {}, "", ""),
    ("name", {}, None, None),
    # email
    ("email", {}, "zhangwei@example.com", "z***@example.com"),
    ("email", {}, "a@b.cn", "***@b.cn"),
    ("email", {}, "zw＠qq.com", "z***@qq.com"),
    ("email", {"domain": False}, "zhangwei@example.com", "z***@***"),
    ("email", {}, "noat", "n***"),
    ("email", {}, "", ""),
    ("email", {}, None, None),
    # landline
    ("landline", {}, "0755-12345678", "0755-******78"),
    ("landline", {}, "(010)87654321", "010-******21"),
    ("landline", {}, "０７５５－１２３４５６７８", "0755-******78"),
    ("landline", {"last": 0}, "0755-12345678", "0755-********"),
    ("landline", {}, "12345", "***45"),
    ("landline", {}, "", ""),
    # generalise: dates
    ("generalise", {"to": "age_band"}, "1990-03-07", "30-39岁"),
    ("generalise", {"to": "age_band", "band": 5}, "1990-03-07", "30-34岁"),
    ("generalise", {"to": "age_band", "band": 1}, "1990-03-07", "34岁"),
    ("generalise", {"to": "age_band"}, "1990-06-02", "30-39岁"),  # 33 the day before the birthday
    ("generalise", {"to": "age_band", "band": 1}, "1990-06-02", "33岁"),
    ("generalise", {"to": "age_band"}, dt.date(2001, 1, 1), "20-29岁"),
    ("generalise", {"to": "year"}, "1990/3/7", "1990"),
    ("generalise", {"to": "year"}, "１９９０年３月７日", "1990"),
    ("generalise", {"to": "year_month"}, "19900307", "1990-03"),
    ("generalise", {"to": "year"}, "1990-02-30", "**********"),  # cannot exist: masked, not guessed
    ("generalise", {"to": "age_band"}, "2030-01-01", "****"),  # born in the future
    ("generalise", {"to": "year"}, "", ""),
    ("generalise", {"to": "year"}, None, None),
    # generalise: addresses
    ("generalise", {"to": "district"}, "广东省深圳市南山区科技园路1号", "广东省深圳市南山区****"),
    ("generalise", {"to": "city"}, "广东省深圳市南山区科技园路1号", "广东省深圳市****"),
    ("generalise", {"to": "province"}, "广东省深圳市南山区科技园路1号", "广东省****"),
    ("generalise", {"to": "district"}, "深圳南山区科技园路１号", "广东省深圳市南山区****"),
    ("generalise", {"to": "district"}, "廣東省深圳市南山區科技園路1號", "广东省深圳市南山区****"),
    ("generalise", {"to": "district"}, "北京市朝阳区建国路88号", "北京市朝阳区****"),
    ("generalise", {"to": "city"}, "北京市朝阳区建国路88号", "北京市****"),
    ("generalise", {"to": "district"}, "科技园路1号", "****"),  # no division known: nothing shown
    ("generalise", {"to": "district"}, "", ""),
]


@pytest.mark.parametrize(("name", "params", "value", "expected"), CASES)
def test_operator_cases(name: str, params: dict[str, Any], value: object, expected: object) -> None:
    assert get_operator(name).operate(value, params, CTX) == expected


FREE_TEXT_CASES: list[tuple[dict[str, Any], str, str]] = [
    ({}, f"客户来电，手机13812345678，身份证{ID}。", f"客户来电，手机138****5678，身份证{ID[:6]}********{ID[-4:]}。"),
    ({}, f"卡号{CARD}已挂失", f"卡号{CARD[:6]}*********{CARD[-4:]}已挂失"),
    ({}, "手机１３８１２３４５６７８", "手机１３８****５６７８"),
    ({}, "电话 138-1234-5678 找张先生", "电话 138******5678 找张先生"),
    ({}, "2023-01-05 13812345678 来电", "2023-01-05 138****5678 来电"),  # a date, then a mobile
    ({}, "金额5000元，保单共3份", "金额5000元，保单共3份"),  # short numbers stay
    ({}, "邮箱 zw@qq.com", "邮箱 z***@qq.com"),
    # near-misses: a wrong checksum or Luhn digit is not shown as an ID / card, but still hidden whole
    ({}, f"身份证{ID_BAD_CHECKSUM}", "身份证" + "*" * 18),
    ({}, f"卡号{CARD_BAD_LUHN}", "卡号" + "*" * 19),
    ({"other_digits_from": None}, f"卡号{CARD_BAD_LUHN}", f"卡号{CARD_BAD_LUHN}"),
    (
        {"style": "label"},
        f"手机13812345678 证件{ID} 卡{CARD} 邮箱a@b.cn",
        "手机[手机号] 证件[身份证号] 卡[银行卡号] 邮箱[邮箱]",
    ),
    ({"mobile": [0, 4]}, "手机13812345678", "手机*******5678"),
    ({"email": False}, "邮箱 zw@qq.com", "邮箱 zw@qq.com"),
    ({}, "", ""),
    ({}, "无", "无"),
]


@pytest.mark.parametrize(("params", "text", "expected"), FREE_TEXT_CASES)
def test_free_text(params: dict[str, Any], text: str, expected: str) -> None:
    assert get_operator("free_text").operate(text, params) == expected


def test_free_text_none() -> None:
    assert get_operator("free_text").operate(None) is None


def test_hash_plain_keyed_and_required_key() -> None:
    op = get_operator("hash")
    plain = op.operate("13812345678", {"length": 16})
    assert plain == hashlib.sha256(b"13812345678").hexdigest()[:16]
    keyed = op.operate("13812345678", {"length": 32}, MaskingContext(hash_key=b"k"))
    assert keyed == hmac.new(b"k", b"13812345678", hashlib.sha256).hexdigest()[:32]
    assert op.operate("13812345678", {"require_key": True}) is None
    assert op.operate("13812345678", {}) == op.operate("13812345678", {})  # stable: joins still work
    assert op.operate(None, {}) is None


def test_token_uses_the_vault_then_falls_back_to_hash() -> None:
    seen: list[tuple[str, str | None]] = []

    def vault(value: str, type_: str | None) -> str:
        seen.append((value, type_))
        return f"TK-{len(seen)}"

    op = get_operator("token")
    assert op.operate("13812345678", {}, MaskingContext(tokenise=vault, sensitive_type="mobile")) == "TK-1"
    assert seen == [("13812345678", "mobile")]
    assert op.operate("13812345678", {}) == get_operator("hash").operate("13812345678", {})
    assert op.operate(None, {}, MaskingContext(tokenise=vault)) is None


def test_age_band_uses_real_today_without_context() -> None:
    born = dt.date(dt.date.today().year - 35, 1, 1)  # 35 on every day of this year
    assert get_operator("generalise").operate(born, {"to": "age_band"}) == "30-39岁"


def test_describe() -> None:
    assert get_operator("keep").describe({"first": 6, "last": 4}) == "keep(6,4)"
    assert get_operator("generalise").describe({"to": "age_band"}) == "generalise(age_band, band=10)"
    assert get_operator("generalise").describe({"to": "district"}) == "generalise(district)"
    assert get_operator("mask_all").describe({}) == "mask_all"
    assert get_operator("free_text").describe({"style": "label"}) == "free_text(style=label)"


@pytest.mark.parametrize(
    ("name", "params", "key", "fragment"),
    [
        ("keep", {"frist": 6}, "frist", "Did you mean 'first'?"),
        ("keep", {"first": -1}, "first", "greater than or equal to 0"),
        ("keep", {"char": "**"}, "char", "at most 1 character"),
        ("generalise", {"to": "town"}, "to", "'age_band', 'year', 'year_month', 'province', 'city' or 'district'"),
        ("generalise", {}, "to", "Field required"),
        ("hash", {"length": 4}, "length", "greater than or equal to 8"),
        ("free_text", {"style": "hide"}, "style", "'mask' or 'label'"),
        ("free_text", {"mobile": [3, -1]}, "", "first and last must be >= 0"),
        ("plain", {"first": 1}, "first", "allowed parameters: none"),
    ],
)
def test_params_errors_name_the_parameter(name: str, params: dict[str, Any], key: str, fragment: str) -> None:
    with pytest.raises(ParamsError) as info:
        get_operator(name).validate(params)
    assert info.value.key == key
    assert fragment in str(info.value)
    assert isinstance(info.value, ConfigError)


def test_registry() -> None:
    names = operator_names()
    for expected in ("keep", "redact", "null", "hash", "token", "generalise", "email", "name", "free_text",
                     "mask_all", "plain", "landline"):
        assert expected in names
    with pytest.raises(ConfigError, match="unknown masking operator 'keeep'.*Did you mean 'keep'"):
        get_operator("keeep")
    with pytest.raises(ConfigError, match="already registered"):
        register(get_operator("keep"))


def test_an_institution_can_register_its_own_operator() -> None:
    class _Params(OperatorParams):
        suffix: str = "…"

    class Truncate(Operator[_Params]):
        name = "test_truncate"
        params_model = _Params

        def operate(self, value: object, params: Any = None, context: MaskingContext | None = None) -> object:
            return None if value is None else str(value)[:1] + self.parse(params).suffix

    register(Truncate(), replace=True)
    assert get_operator("test_truncate").operate("张伟", {}) == "张…"


def test_display_functions() -> None:
    assert mask_id(ID) == ID[:6] + "*" * 8 + ID[-4:]
    assert mask_mobile("13812345678") == "138****5678"
    assert mask_keep("6222021234567890", 6, 4) == "622202******7890"
    assert mask_name("欧阳锋") == "欧阳**"
    assert mask_address("广东省深圳市南山区科技园路1号") == "广东省深圳市南山区****"
    assert mask_address("广东省深圳市南山区科技园路1号", level="city") == "广东省深圳市****"
    assert mask_address("深圳南山区科技园路1号", keep=5) == "广东省深圳****"  # capped display
    assert mask_email("zhangwei@example.com") == "z***@example.com"
    for fn in (mask_id, mask_mobile, mask_name, mask_address, mask_email):
        assert fn(None) is None


# ---------------------------------------------------------------------------------------------
# Properties

VALID_PARAMS: dict[str, dict[str, Any]] = {
    "keep": {"first": 3, "last": 4},
    "redact": {},
    "null": {},
    "hash": {},
    "token": {},
    "generalise": {"to": "age_band"},
    "email": {},
    "name": {},
    "landline": {},
    "free_text": {},
    "mask_all": {},
    "plain": {},
}
ODD_VALUES = st.one_of(
    st.none(),
    st.text(),
    st.text(alphabet="0123456789０１２３４５６７８９-Xx @＠.·张欧阳省市区路号 ", max_size=40),
    st.dates(),
    st.integers(),
    st.floats(allow_nan=True),
)


@pytest.mark.parametrize("name", sorted(VALID_PARAMS))
@given(value=ODD_VALUES)
def test_operators_are_total(name: str, value: object) -> None:
    op = get_operator(name)
    out = op.operate(value, VALID_PARAMS[name], CTX)
    if value is None:
        assert out is None


LEVELS = ["year", "year_month", "province", "city", "district"]


@given(value=st.one_of(st.none(), st.text()), to=st.sampled_from(LEVELS))
def test_generalise_is_total_for_every_level(value: str | None, to: str) -> None:
    out = get_operator("generalise").operate(value, {"to": to}, CTX)
    assert (out is None) == (value is None)


@given(text=st.text(), first=st.integers(0, 8), last=st.integers(0, 8))
def test_keep_never_reveals_more_than_first_plus_last(text: str, first: int, last: int) -> None:
    out = get_operator("keep").operate(text, {"first": first, "last": last, "char": "\x00"})
    assert isinstance(out, str)
    assert len(out) == len(text)
    revealed = [i for i, c in enumerate(out) if c != "\x00"]
    assert len(revealed) <= first + last
    assert all(out[i] == text[i] for i in revealed)
    assert all(i < first or i >= len(text) - last for i in revealed)


@given(text=st.text(), first=st.integers(0, 8), last=st.integers(0, 8), length=st.integers(1, 8))
def test_keep_with_fixed_mask_length_shows_only_the_kept_ends(text: str, first: int, last: int, length: int) -> None:
    out = keep_chars(text, first, last, "\x00", length)
    shown = out.replace("\x00", "")
    assert len(shown) <= first + last


@given(name=st.text(max_size=12))
def test_name_never_reveals_more_than_a_compound_surname(name: str) -> None:
    out = get_operator("name").operate(name, {"char": "\x00"})
    assert isinstance(out, str)
    assert len(out.replace("\x00", "")) <= 2


MOBILES = st.builds(lambda p, rest: p + rest, st.sampled_from(["139", "186", "150", "177"]),
                    st.text(alphabet="0123456789", min_size=8, max_size=8))
NOISE = st.text(alphabet="客户来电称手机号码是，。 abc", max_size=10)


@given(before=NOISE, mobile=MOBILES, after=NOISE)
def test_free_text_never_shows_a_whole_mobile(before: str, mobile: str, after: str) -> None:
    out = redact_identifiers(before + mobile + after)
    assert mobile not in out
    assert out.startswith(before)


@given(value=st.text(min_size=1))
def test_hash_is_deterministic_and_keyed(value: str) -> None:
    op = get_operator("hash")
    a = op.operate(value, {}, MaskingContext(hash_key=b"a"))
    assert a == op.operate(value, {}, MaskingContext(hash_key=b"a"))
    assert a != op.operate(value, {}, MaskingContext(hash_key=b"b"))


def test_parsed_params_are_accepted_and_checked() -> None:
    keep = get_operator("keep")
    parsed = keep.parse({"first": 3, "last": 4})
    assert keep.operate("13812345678", parsed) == "138****5678"
    assert keep.describe(parsed) == "keep(3,4)"
    with pytest.raises(ParamsError, match="keep takes KeepParams, not NameParams"):
        keep.operate("13812345678", get_operator("name").parse({}))


@pytest.mark.parametrize("text", ["a" * 20000, "1-" * 10000 + "x", "a@" + "b." * 5000 + "!", "x@" + "a-" * 5000])
def test_free_text_is_linear_on_long_adversarial_text(text: str) -> None:
    import time

    start = time.perf_counter()
    redact_identifiers(text)
    assert time.perf_counter() - start < 0.5  # quadratic scanning took seconds here
