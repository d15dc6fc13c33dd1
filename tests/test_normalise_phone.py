import pytest
from hypothesis import given
from hypothesis import strategies as st

from custodata.normalise.idnumber import IdStatus
from custodata.normalise.phone import check_mobile, normalise_landline, normalise_mobile


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "138-1234-5678",
        "138 1234 5678",
        "+86 138 1234 5678",
        "+8613812345678",
        "0086-13812345678",
        "(+86)13812345678",
        "（＋８６）１３８１２３４５６７８",
        "１３８１２３４５６７８",
        "138—1234—5678",
        "8613812345678",
    ],
)
def test_mobile_accepted(raw: str) -> None:
    assert normalise_mobile(raw) == "13812345678"
    assert check_mobile(raw) is IdStatus.OK


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("12812345678", IdStatus.FORMAT),  # no 12x prefix
        ("10012345678", IdStatus.FORMAT),
        ("23812345678", IdStatus.FORMAT),
        ("1381234567", IdStatus.FORMAT),  # 10 digits
        ("138123456789", IdStatus.FORMAT),  # 12 digits
        ("138-1234-567a", IdStatus.FORMAT),
        ("tel:13812345678", IdStatus.FORMAT),
        ("13800000000", IdStatus.PLACEHOLDER),
        ("13000000000", IdStatus.PLACEHOLDER),
        ("13800138000", IdStatus.PLACEHOLDER),
        ("11111111111", IdStatus.PLACEHOLDER),
        ("12345678901", IdStatus.PLACEHOLDER),
        ("无", IdStatus.PLACEHOLDER),
        ("", IdStatus.EMPTY),
        (None, IdStatus.EMPTY),
    ],
)
def test_mobile_rejected(raw: str | None, status: IdStatus) -> None:
    assert normalise_mobile(raw) is None
    assert check_mobile(raw) is status


@given(st.sampled_from("3456789"), st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_generated_mobiles(second: str, rest: str) -> None:
    number = f"1{second}{rest}"
    result = normalise_mobile(number)
    if result is not None:
        assert result == number
        assert normalise_mobile(f"+86 {number[:3]} {number[3:7]} {number[7:]}") == number
    else:
        assert check_mobile(number) is IdStatus.PLACEHOLDER


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("010-12345678", "010-12345678"),
        ("(010)12345678", "010-12345678"),
        ("（010）12345678", "010-12345678"),
        ("010 1234 5678", "010-12345678"),
        ("+86 10 12345678", "010-12345678"),
        ("0086 10 12345678", "010-12345678"),
        ("01012345678", "010-12345678"),
        ("0755-1234567", "0755-1234567"),
        ("0755-12345678", "0755-12345678"),
        ("075512345678", "0755-12345678"),
        ("021-62345678", "021-62345678"),
        ("0755-12345678转123", "0755-12345678"),
        ("0755-12345678 ext. 9", "0755-12345678"),
    ],
)
def test_landline_accepted(raw: str, expected: str) -> None:
    assert normalise_landline(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "12345678",  # no area code: ambiguous
        "13812345678",  # a mobile
        "+86 13812345678",
        "013-12345678",  # no such area code
        "0755-0234567",  # local numbers never start with 0
        "0755-123456",  # too short
        "021-88888888",  # repeated digit
        "无",
        "010-1234567a",
    ],
)
def test_landline_rejected(raw: str | None) -> None:
    assert normalise_landline(raw) is None
