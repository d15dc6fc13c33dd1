"""Recognisers: each accepts valid values and refuses the near-misses a pattern would let through."""

from __future__ import annotations

from pathlib import Path

import pytest

from custodata.classification.config import column_key, load_config
from custodata.classification.recognisers import (
    MOBILE_SEGMENTS,
    Match,
    PatternRecogniser,
    Recogniser,
    Registry,
    default_registry,
    find_all,
    luhn_ok,
    mask_keep,
    recognise,
)
from custodata.errors import ConfigError, NotFoundError
from custodata.normalise.idnumber import id_check_char
from custodata.normalise.uscc import make_uscc


def _id(first17: str) -> str:
    return first17 + id_check_char(first17)


def _luhn(first: str) -> str:
    return next(first + d for d in "0123456789" if luhn_ok(first + d))


def _bump(s: str, i: int) -> str:
    """The same value with the digit at ``i`` off by one: the typo a checksum exists to catch."""
    return s[:i] + str((int(s[i]) + 1) % 10) + s[i + 1:]


ID = _id("11010519491231002")  # 11010519491231002X
ID_F = _id("44030519900307002")
ID15 = "130503670401001"
USCC = make_uscc("91440300MA5F00001")
CARD = _luhn("622848001234567")  # UnionPay, 16 digits
CARD19 = _luhn("621700123456789012")
PERMIT_HK = _id("81000019900101123")

CASES: list[tuple[str, str, bool]] = [
    # resident ID: 18 with check character, 15-digit old form
    ("cn_resident_id", ID, True),
    ("cn_resident_id", ID.lower(), True),
    ("cn_resident_id", ID_F, True),
    ("cn_resident_id", ID15, True),
    ("cn_resident_id", f"{ID[:6]} {ID[6:14]} {ID[14:]}", True),
    ("cn_resident_id", "１１０１０５１９４９１２３１００２Ｘ", True),  # full width
    ("cn_resident_id", _bump(ID_F, 16), False),  # check character off
    ("cn_resident_id", _bump(ID_F, 3), False),
    ("cn_resident_id", ID_F[:17], False),  # wrong length
    ("cn_resident_id", ID_F + "1", False),
    ("cn_resident_id", _id("99030519900307002"), False),  # no province 99
    ("cn_resident_id", _id("44030519900230002"), False),  # 30 February
    ("cn_resident_id", _id("44030521990307002"), False),  # born in the future
    ("cn_resident_id", "130503671301001", False),  # old form, month 13
    ("cn_resident_id", "111111111111111111", False),  # placeholder
    # residence permits of Hong Kong / Macao / Taiwan residents
    ("hmt_residence_permit", PERMIT_HK, True),
    ("hmt_residence_permit", ID, False),
    ("hmt_residence_permit", _bump(PERMIT_HK, 17), False),
    # USCC
    ("cn_uscc", USCC, True),
    ("cn_uscc", USCC.lower(), True),
    ("cn_uscc", USCC[:17] + ("0" if USCC[17] != "0" else "1"), False),  # check character off
    ("cn_uscc", USCC[:-1], False),
    ("cn_uscc", USCC[:8] + "I" + USCC[9:], False),  # I is not in the alphabet
    ("cn_uscc", "0" + USCC[1:], False),  # no registration authority 0
    # bank card: issuer prefix 3-6, 16-19 digits, Luhn
    ("bank_card_luhn", CARD, True),
    ("bank_card_luhn", CARD19, True),
    ("bank_card_luhn", f"{CARD[:4]} {CARD[4:8]} {CARD[8:12]} {CARD[12:]}", True),
    ("bank_card_luhn", _bump(CARD, 15), False),  # Luhn fails
    ("bank_card_luhn", _bump(CARD, 7), False),
    ("bank_card_luhn", _luhn("12284800123456"), False),  # 15 digits
    ("bank_card_luhn", _luhn("922848001234567"), False),  # prefix 9
    ("bank_card_luhn", _luhn("122848001234567"), False),  # prefix 1
    ("bank_card_luhn", "4444444444444448"[:15] + "4", False),  # one digit repeated
    # mobile: allocated segments, +86 / 0086 / separators
    ("cn_mobile", "13812345678", True),
    ("cn_mobile", "+8613812345678", True),
    ("cn_mobile", "+86 138 1234 5678", True),
    ("cn_mobile", "0086-138-1234-5678", True),
    ("cn_mobile", "198-1234-5678", True),
    ("cn_mobile", "１３８１２３４５６７８", True),
    ("cn_mobile", "1381234567", False),  # 10 digits
    ("cn_mobile", "138123456789", False),  # 12 digits
    ("cn_mobile", "12812345678", False),  # prefix 12
    ("cn_mobile", "14012345678", False),  # 140: data-only segment
    ("cn_mobile", "15412345678", False),  # 154: unassigned
    ("cn_mobile", "13800000000", False),  # placeholder
    ("cn_mobile", "23812345678", False),
    # landline: area code required
    ("cn_landline", "010-62345678", True),
    ("cn_landline", "0755-2345678", True),
    ("cn_landline", "(021) 6234 5678", True),
    ("cn_landline", "+86 10 6234 5678", True),
    ("cn_landline", "0571-87654321转123", True),
    ("cn_landline", "62345678", False),  # no area code
    ("cn_landline", "0755-1234567", False),  # a local number does not start with 1
    ("cn_landline", "0755-23456", False),  # too short
    ("cn_landline", "13812345678", False),
    # e-mail
    ("email", "zhang.wei@163.com", True),
    ("email", "ZHANGWEI@QQ.COM", True),
    ("email", "zhang.wei@163", False),
    ("email", "zhang.wei@@163.com", False),
    # stand-ins are still addresses: matching (normalise_email) refuses them, classification does not
    ("email", "none@none.com", True),
    ("email", "test@example.com", True),
    # passports and permits
    ("cn_passport", "E12345678", True),
    ("cn_passport", "EA1234567", True),
    ("cn_passport", "G12345678", True),
    ("cn_passport", "E1234567", False),
    ("cn_passport", "E123456789", False),
    ("cn_passport", "X12345678", False),
    ("cn_passport", "EI1234567", False),  # no letter I
    ("hmt_travel_permit", "H12345678", True),
    ("hmt_travel_permit", "M1234567801", True),
    ("hmt_travel_permit", "C12345678", True),
    ("hmt_travel_permit", "CA1234567", True),
    ("hmt_travel_permit", "H1234567", False),
    ("hmt_travel_permit", "H123456789", False),  # 9 digits
    ("hmt_travel_permit", "K12345678", False),
    ("tw_compatriot_permit", "12345678", True),
    ("tw_compatriot_permit", "1234567", False),
    # names (one value: a candidate; the column decides, see test_scan)
    ("person_name", "张伟", True),
    ("person_name", "欧阳娜娜", True),
    ("person_name", "張偉", True),  # traditional
    ("person_name", "李先生", True),
    ("person_name", "阿依古丽·买买提", True),
    ("person_name", "ZHANG WEI", True),
    ("person_name", "Liu Hongjian", True),
    ("person_name", "张", False),  # family name only
    ("person_name", "张三丰丰丰", False),  # too long
    ("person_name", "苹果", False),  # 苹 is no family name
    ("person_name", "JOHN SMITH", False),
    ("person_name", "张伟1", False),
    # addresses: structure from the gazetteer plus a street detail
    ("cn_address", "广东省深圳市南山区科技园路1号", True),
    ("cn_address", "深圳南山区科技园路１号", True),
    ("cn_address", "北京市朝阳区建国路88号SOHO现代城2号楼1201室", True),
    ("cn_address", "甘肃兰州七里河区光明路371号", True),
    ("cn_address", "广东省深圳市", False),  # a region, no street
    ("cn_address", "深圳市腾讯计算机系统有限公司", False),  # an organisation
    ("cn_address", "科技园路1号", False),  # no division
    ("cn_address", "hello world 1", False),
    # dates of birth (the column name must say so; see test_scan)
    ("birth_date", "1990-03-07", True),
    ("birth_date", "19900307", True),
    ("birth_date", "1990年3月7日", True),
    ("birth_date", "1990-02-30", False),  # impossible date
    ("birth_date", "1899-12-31", False),  # before 1900
    ("birth_date", "2999-01-01", False),  # in the future
    ("birth_date", "not a date", False),
    # IP addresses
    ("ip_address", "192.168.1.20", True),
    ("ip_address", "2001:db8::1", True),
    ("ip_address", "192.168.1.256", False),
    ("ip_address", "192.168.1", False),
    ("ip_address", "6939.14", False),
    # vehicle plates
    ("cn_vehicle_plate", "粤B12345", True),
    ("cn_vehicle_plate", "京AD12345", True),  # new energy
    ("cn_vehicle_plate", "沪A·C1234", True),
    ("cn_vehicle_plate", "粤B1234", False),  # too short
    ("cn_vehicle_plate", "A12345", False),  # no province
    ("cn_vehicle_plate", "粤I12345", False),  # no letter I
    # gender, company, region, amount, postcode, secrets
    ("gender", "男", True),
    ("gender", "F", True),
    ("gender", "未知", False),
    ("company_name", "深圳市腾讯计算机系统有限公司", True),
    ("company_name", "Acme Trading Co., Ltd.", True),
    ("company_name", "张伟", False),
    ("cn_region", "广东省", True),
    ("cn_region", "深圳", True),
    ("cn_region", "北京市朝阳区", True),
    ("cn_region", "科技园路", False),
    ("amount", "1,234.56", True),
    ("amount", "¥100", True),
    ("amount", "12.3.4", False),
    ("cn_postcode", "518057", True),
    ("cn_postcode", "5180571", False),
    ("auth_secret", "$2b$12$abcdefghijklmnopqrstuv", True),
    ("auth_secret", "a b", False),
    # configured patterns (recognisers.yaml)
    ("auto_policy_no", "PDAA2021450300000001", True),
    ("auto_policy_no", "PDAA202145030000001", False),
    ("health_policy_no", "H2020140000000001", True),
    ("health_policy_no", "H1234567890", False),
    ("accident_policy_no", "880620230000000001", True),
    ("accident_policy_no", "8806202300000000010001", True),
    ("accident_policy_no", "880720230000000001", False),
    ("deposit_account_no", "43021100000000001", True),
    ("deposit_account_no", "4302110000", False),
]


@pytest.mark.parametrize(("name", "value", "valid"), CASES, ids=[f"{n}:{v}" for n, v, _ in CASES])
def test_recogniser(name: str, value: str, valid: bool) -> None:
    recogniser = default_registry().get(name)
    match = recogniser.recognise(value)
    assert (match is not None) is valid
    if match is not None:
        assert match.type == recogniser.type and match.recogniser == name
        assert 0 < match.score <= 1 and match.explanation  # every classification says why


def test_every_recogniser_type_is_graded() -> None:
    from custodata.classification.grading import load_grading

    grading = load_grading()
    for recogniser in default_registry():
        assert recogniser.type in grading.types, recogniser.name


def test_every_recogniser_is_tested() -> None:
    tested = {name for name, _, valid in CASES if valid} & {name for name, _, valid in CASES if not valid}
    untested = set(default_registry().names()) - tested - {"generic_policy_no"}
    assert not untested


@pytest.mark.parametrize(
    ("value", "type_"),
    [(ID, "id_number"), (CARD, "bank_card"), ("+86 138 1234 5678", "mobile"), (USCC, "uscc"),
     ("zhang@163.com", "email"), (PERMIT_HK, "permit"), ("hello", None), ("", None), (None, None)],
)
def test_registry_recognise_picks_the_surest(value: str | None, type_: str | None) -> None:
    match = recognise(value)
    assert (match.type if match else None) == type_


def test_explanations_never_quote_the_value() -> None:
    for name, value, valid in CASES:
        if valid and len(value) > 2:
            match = default_registry().get(name).recognise(value)
            assert isinstance(match, Match) and value not in match.explanation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("客户留言：请拨打13812345678联系。", [("mobile", "13812345678")]),
        ("客户申请变更联系电话，原号码13488506007，新号码15098815849，已提交后台。",
         [("mobile", "13488506007"), ("mobile", "15098815849")]),
        (f"身份证{ID}，卡号{CARD[:4]} {CARD[4:8]} {CARD[8:12]} {CARD[12:]}，邮箱zhang@163.com",
         [("id_number", ID), ("bank_card", f"{CARD[:4]} {CARD[4:8]} {CARD[8:12]} {CARD[12:]}"),
          ("email", "zhang@163.com")]),
        # full width: the span indexes the original text
        ("回电号码＋８６ １３８１２３４５６７８", [("mobile", "＋８６ １３８１２３４５６７８")]),
        ("办公电话0755-23456789转分机", [("landline", "0755-23456789")]),
        (f"订单号{_bump(ID_F, 16)}已发货", []),  # 18 digits, checksum off: not an ID
        ("客户来电挂失信用卡（尾号7736），已办理临时挂失。", []),
        ("请拨打12812345678", []),  # no such mobile segment
        ("护照号E12345678，台胞证12345678", [("passport", "E12345678"), ("permit", "12345678")]),
        ("订单E12345678，编号12345678", []),  # weak patterns need context words in text
        ("", []),
    ],
)
def test_find_all(text: str, expected: list[tuple[str, str]]) -> None:
    spans = find_all(text)
    assert [(s.type, text[s.start:s.end]) for s in spans] == expected
    assert all(s.explanation for s in spans)


def test_find_all_prefers_the_validated_span() -> None:
    # an 18-digit ID may also pass Luhn: the overlapping spans resolve to the surer one
    ids = [_id(f"44030519900307{i:03d}") for i in range(200)]
    both = next(i for i in ids if i.isdigit() and luhn_ok(i))
    assert [s.type for s in find_all(f"证件{both}")] == ["id_number"]


def test_registry_by_name() -> None:
    registry = default_registry()
    assert registry.get("cn_mobile").type == "mobile"
    assert [r.name for r in registry.for_type("policy_number")][:1] == ["auto_policy_no"]
    with pytest.raises(NotFoundError, match="no recogniser named 'nope'"):
        registry.get("nope")


def test_registry_refuses_duplicates_and_nameless() -> None:
    class Nameless(Recogniser):
        def validate(self, value: str) -> bool:
            return True

    with pytest.raises(ConfigError, match="needs a name"):
        Registry([Nameless()])
    mobile = default_registry().get("cn_mobile")
    with pytest.raises(ConfigError, match="registered twice"):
        Registry([mobile, mobile])


def test_custom_recogniser_registers_and_finds() -> None:
    class StaffId(Recogniser):
        name = "staff_id"
        type = "account_number"
        reason = "staff number"
        finder = __import__("re").compile(r"ST\d{6}")

        def validate(self, value: str) -> bool:
            return value.startswith("ST") and value[2:].isdigit() and len(value) == 8

    registry = Registry([StaffId()])
    assert registry.recognise("ST123456") == Match("account_number", 1.0, "staff_id", "staff number")
    assert [s.start for s in registry.find_all("工号ST123456")] == [2]


def test_masking_helpers() -> None:
    assert mask_keep("11010519491231002X", 6, 4) == "110105********002X"
    assert mask_keep("abc", 2, 2) == "***"
    registry = default_registry()
    assert registry.get("cn_resident_id").mask(ID) == "110105********002X"
    assert registry.get("cn_mobile").mask("+86 138 1234 5678") == "138****5678"
    assert registry.get("bank_card_luhn").mask(CARD) == CARD[:6] + "******" + CARD[-4:]
    assert registry.get("person_name").mask("欧阳娜娜") == "欧阳**"
    assert registry.get("email").mask("zhang@163.com") == "z***@163.com"
    for name, value, valid in CASES:
        if valid:
            masked = registry.get(name).mask(value)
            assert value not in masked and "*" in masked, (name, value, masked)


def test_mobile_segments_are_three_digit_prefixes() -> None:
    assert all(len(p) == 3 and p.startswith("1") for p in MOBILE_SEGMENTS)
    assert "138" in MOBILE_SEGMENTS and "140" not in MOBILE_SEGMENTS


@pytest.mark.parametrize(
    ("column", "key", "types"),
    [
        ("holderIdNo", "_holder_id_no_", {"id_number", "person_name"}),
        ("TBR_ZJHM", "_tbr_zjhm_", {"id_number"}),
        ("TBRSJHM", "_tbrsjhm_", {"mobile"}),
        ("客户 手机", "_客户_手机_", {"mobile"}),
        ("BIRTH_DT", "_birth_dt_", {"birth_date"}),
        ("c07", "_c07_", set()),
    ],
)
def test_column_name_hints(column: str, key: str, types: set[str]) -> None:
    assert column_key(column) == key
    assert load_config().hinted_types(column) == types


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("scan: {threshold: 2}", "scan.threshold"),
        ("hints: {shoe_size: ['shoe']}", "hints.shoe_size: not a type of the grading table"),
        ("patterns: [{name: x, type: account_number, regex: '(['}]", "not a valid regular expression"),
        ("patterns: [{name: x, type: nonsense, regex: 'x'}]", "patterns.0.type: 'nonsense'"),
        ("colour: blue", "colour"),
        ("scan: [", "not valid YAML"),
    ],
)
def test_config_errors_name_the_file_and_key(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "recognisers.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError, match="recognisers.yaml") as info:
        load_config(path)
    assert message in str(info.value)


def test_pattern_recogniser_from_config(tmp_path: Path) -> None:
    path = tmp_path / "recognisers.yaml"
    path.write_text("patterns: [{name: staff_no, type: account_number, regex: 'ST\\d{6}', score: 0.9}]\n",
                    encoding="utf-8")
    config = load_config(path)
    recogniser = PatternRecogniser(config.patterns[0])
    assert recogniser.recognise("ST123456") is not None and recogniser.recognise("ST12345") is None
    assert recogniser.score == 0.9 and not recogniser.requires_hint
