import datetime as dt

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from custodata.normalise.idnumber import (
    IdStatus,
    check_id,
    id_birth_date,
    id_check_char,
    id_gender,
    normalise_id,
)

PROVINCES = ["11", "31", "44", "51", "65"]


def valid_id(first17: str) -> str:
    return first17 + id_check_char(first17)


# Valid sample IDs, computed with the check function rather than guessed.
MALE_1990 = valid_id("44030519900307001")  # 17th digit 1: male
FEMALE_1985 = valid_id("11010819851224002")  # 17th digit 2: female


@st.composite
def valid_ids(draw: st.DrawFn) -> str:
    province = draw(st.sampled_from(PROVINCES))
    area = draw(st.text(alphabet="0123456789", min_size=4, max_size=4))
    born = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2020, 12, 31)))
    sequence = draw(st.text(alphabet="0123456789", min_size=3, max_size=3))
    return valid_id(f"{province}{area}{born:%Y%m%d}{sequence}")


def test_check_char_examples() -> None:
    # The known 15 → 18 conversion: 110105491231002 → 11010519491231002X.
    assert id_check_char("11010519491231002") == "X"
    with pytest.raises(ValueError, match="17 digits"):
        id_check_char("1101051949123100")
    with pytest.raises(ValueError, match="17 digits"):
        id_check_char("1101051949123100A")


@pytest.mark.parametrize(
    ("raw", "status", "normalised"),
    [
        (MALE_1990, IdStatus.OK, MALE_1990),
        (FEMALE_1985, IdStatus.OK, FEMALE_1985),
        ("110105491231002", IdStatus.OK, "11010519491231002X"),
        ("11010519491231002X", IdStatus.OK, "11010519491231002X"),
        ("11010519491231002x", IdStatus.OK, "11010519491231002X"),
        (" 110105-19491231-002x ", IdStatus.OK, "11010519491231002X"),
        ("１１０１０５１９４９１２３１００２Ｘ", IdStatus.OK, "11010519491231002X"),
        ("110105 1949 1231 002X", IdStatus.OK, "11010519491231002X"),
        ("11010519491231002Y", IdStatus.FORMAT, None),
        ("11010519491231002", IdStatus.FORMAT, None),  # 17 digits
        ("1101051949123100212", IdStatus.FORMAT, None),  # 19 digits
        ("11010519490231002X", IdStatus.FORMAT, None),  # 31 February
        ("11010518991231002X", IdStatus.FORMAT, None),  # born before 1900
        ("99010519491231002X", IdStatus.FORMAT, None),  # no province 99
        ("110105491331002", IdStatus.FORMAT, None),  # 15 digits, month 13
        ("110101300101001", IdStatus.OK, valid_id("11010119300101001")),
        ("", IdStatus.EMPTY, None),
        ("   ", IdStatus.EMPTY, None),
        (None, IdStatus.EMPTY, None),
        ("000000000000000000", IdStatus.PLACEHOLDER, None),
        ("111111111111111111", IdStatus.PLACEHOLDER, None),
        ("11111111111111111X", IdStatus.PLACEHOLDER, None),
        ("123456789012345678", IdStatus.PLACEHOLDER, None),
        ("无", IdStatus.PLACEHOLDER, None),
        ("-", IdStatus.EMPTY, None),  # separators only: nothing left
    ],
)
def test_check_and_normalise(raw: str | None, status: IdStatus, normalised: str | None) -> None:
    assert check_id(raw) is status
    assert normalise_id(raw) == normalised


def test_one_digit_off_in_check_char_is_checksum() -> None:
    wrong = "1" if MALE_1990[-1] != "1" else "2"
    assert check_id(MALE_1990[:17] + wrong) is IdStatus.CHECKSUM
    assert normalise_id(MALE_1990[:17] + wrong) is None


def test_future_birth_date_is_format() -> None:
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    assert check_id(valid_id(f"110105{tomorrow:%Y%m%d}001")) is IdStatus.FORMAT


def test_birth_date_and_gender() -> None:
    assert id_birth_date(MALE_1990) == dt.date(1990, 3, 7)
    assert id_gender(MALE_1990) == "M"
    assert id_birth_date(FEMALE_1985) == dt.date(1985, 12, 24)
    assert id_gender(FEMALE_1985) == "F"
    assert id_birth_date("110105491231002") == dt.date(1949, 12, 31)
    assert id_gender("110105491231002") == "F"
    assert id_birth_date("garbage") is None
    assert id_gender(None) is None


@given(valid_ids())
def test_valid_ids_round_trip(id18: str) -> None:
    assert check_id(id18) is IdStatus.OK
    assert normalise_id(id18) == id18
    assert normalise_id(id18.lower()) == id18
    assert id_birth_date(id18) == dt.date(int(id18[6:10]), int(id18[10:12]), int(id18[12:14]))
    assert id_gender(id18) == ("M" if int(id18[16]) % 2 else "F")


@given(valid_ids(), st.sampled_from("0123456789X"))
def test_any_other_check_char_is_checksum(id18: str, check: str) -> None:
    assume(check != id18[-1])
    assert check_id(id18[:17] + check) is IdStatus.CHECKSUM


@given(valid_ids(), st.integers(min_value=0, max_value=16), st.integers(min_value=1, max_value=9))
def test_single_digit_change_is_never_ok(id18: str, position: int, delta: int) -> None:
    digit = str((int(id18[position]) + delta) % 10)
    changed = id18[:position] + digit + id18[position + 1 :]
    assert check_id(changed) is not IdStatus.OK


@given(valid_ids())
def test_fifteen_digit_ids_convert_to_eighteen(id18: str) -> None:
    assume("1900" <= id18[6:10] <= "1999")
    id15 = id18[:6] + id18[8:17]
    assert normalise_id(id15) == id18
