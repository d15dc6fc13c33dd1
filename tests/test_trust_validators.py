"""Input that breaks validators (issue 10 point 22), and a property test against python-stdnum.

The rule under test: digits of any script are digits.  Every identifier
validator reads Unicode decimal digits (Arabic-Indic, Devanagari, mathematical,
full width) as ASCII before checking, never raises on them, and returns ASCII.
Only the mainland's country code is dropped from phone numbers; the USCC's
region code is six digits in the normaliser and the recogniser alike; e-mail
classification is syntax, stand-ins are a matching concern.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.cn import ric, uscc
from typer.testing import CliRunner

from custodata.classification.recognisers import (
    BankCardRecogniser,
    MobileRecogniser,
    UsccRecogniser,
    find_all,
    luhn_ok,
    recognise,
)
from custodata.classification.scan import scan_values
from custodata.cli.app import app
from custodata.normalise import (
    IdStatus,
    ascii_digits,
    check_id,
    check_mobile,
    check_uscc,
    email_address,
    id_check_char,
    is_placeholder,
    make_uscc,
    normalise_email,
    normalise_id,
    normalise_landline,
    normalise_mobile,
    normalise_uscc,
)
from custodata.normalise.idnumber import _PROVINCE_CODES
from custodata.normalise.uscc import USCC_ALPHABET, USCC_SHAPE

ID = "11010519491231002X"
MOBILE = "13812345678"
# Zero of each script: Arabic-Indic, extended Arabic-Indic, Devanagari, Bengali, Thai,
# full width, mathematical bold and monospace (the last two are outside the BMP).
ZEROS = (0x0660, 0x06F0, 0x0966, 0x09E6, 0x0E50, 0xFF10, 0x1D7CE, 0x1D7F6)
SCRIPT_IDS = [pytest.param(z, id=f"U+{z:04X}") for z in ZEROS]


def _in_script(s: str, zero: int, positions: range | None = None) -> str:
    """``s`` with its ASCII digits (at ``positions``, default all) written in another script."""
    chosen = positions if positions is not None else range(len(s))
    return "".join(chr(zero + int(c)) if i in chosen and c.isdigit() else c for i, c in enumerate(s))


# --------------------------------------------------------------------------- other-script digits


@pytest.mark.parametrize("zero", SCRIPT_IDS)
@pytest.mark.parametrize("where", [range(18), range(15, 16), range(0, 6), range(16, 17)])
def test_other_script_digits_in_an_id_never_raise_and_read_as_ascii(zero: int, where: range) -> None:
    """Attack: one Arabic-Indic/Devanagari/mathematical digit in an ID made check_id, recognise and
    find_all raise (ValueError from the checksum), so a crafted value crashed a scan or masking."""
    raw = _in_script(ID, zero, where)
    assert check_id(raw) is IdStatus.OK
    assert normalise_id(raw) == ID
    match = recognise(raw)
    assert match is not None and match.type == "id_number"
    spans = find_all(f"客户证件 {raw} 已核实")
    assert [(s.type, s.start, s.end) for s in spans] == [("id_number", 5, 23)]


@given(st.text(alphabet=st.characters(categories=["Nd"]) | st.sampled_from("Xx -"), max_size=24))
def test_any_decimal_digits_never_raise(raw: str) -> None:
    """Attack: any mix of Unicode decimal digits must not crash a validator (denial of a scan)."""
    folded = ascii_digits(raw)
    assert len(folded) == len(raw) and folded.isascii()
    assert check_id(raw) is check_id(folded)
    assert check_uscc(raw) is check_uscc(folded)
    assert check_mobile(raw) is check_mobile(folded)
    recognise(raw)
    find_all(raw)
    for value in (normalise_id(raw), normalise_uscc(raw), normalise_mobile(raw), normalise_landline(raw)):
        assert value is None or value.isascii()


def test_scan_cli_survives_other_script_digits(tmp_path: Path) -> None:
    """Attack: `custodata scan` printed a traceback on a column with one Arabic-Indic digit in an ID."""
    ids = [_in_script(ID, 0x0660, range(i % 18, i % 18 + 1)) for i in range(40)]
    source = tmp_path / "customers.csv"
    source.write_text("cert_no\n" + "\n".join(ids) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["scan", str(source), "--out", str(tmp_path / "report.json")])
    assert result.exit_code == 0, result.output
    assert result.exception is None and "Traceback" not in result.output
    assert '"type": "id_number"' in (tmp_path / "report.json").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- mobiles


@pytest.mark.parametrize("zero", SCRIPT_IDS)
def test_normalise_mobile_returns_ascii_and_recogniser_never_takes_raw_digits(zero: int) -> None:
    """Attack: normalise_mobile returned non-ASCII digits unchanged (a second, unmatchable form of
    one customer's mobile that escapes byte searches), and the recogniser accepted them raw."""
    raw = _in_script(MOBILE, zero, range(3, 11))
    assert normalise_mobile(raw) == MOBILE
    assert check_mobile(raw) is IdStatus.OK
    # validate() takes prepared values only: raw other-script digits are never a mobile as such...
    assert not MobileRecogniser().validate(raw)
    # ...recognise() prepares (reads them as ASCII) first, so the value is found like any other.
    match = recognise(raw)
    assert match is not None and match.type == "mobile"


@pytest.mark.parametrize(
    "raw",
    ["+1 5715308405", "+1 (571) 530-8405", "+15715308405", "(+1) 571 530 8405", "001 571 530 8405",
     "+13812345678", "+44 1571 530840", "＋１ ５７１５３０８４０５"],
)
def test_a_foreign_country_code_is_not_dropped(raw: str) -> None:
    """Attack: `+1 5715308405` (a US number) became the mainland mobile 15715308405, linking a
    foreign customer to whoever holds that mainland number."""
    assert normalise_mobile(raw) is None
    assert check_mobile(raw) is IdStatus.FORMAT
    match = recognise(raw)
    assert match is None or match.type != "mobile"


def test_a_foreign_landline_is_not_made_mainland() -> None:
    """Attack: +7 55 1234567 (a foreign number) became the Shenzhen landline 0755-1234567."""
    assert normalise_landline("+7 55 1234567") is None
    assert normalise_landline("+86 755 2345 6789") == "0755-23456789"


@pytest.mark.parametrize(
    "raw", ["+86 138 1234 5678", "+86-13812345678", "(+86)13812345678", "0086 13812345678",
            "008613812345678", "8613812345678", "86-138-1234-5678"],
)
def test_the_mainland_country_code_is_still_dropped(raw: str) -> None:
    """The +86 / 0086 / 86 forms of one mobile stay one mobile (no regression of the fix above)."""
    assert normalise_mobile(raw) == MOBILE


# --------------------------------------------------------------------------- USCC


def test_check_uscc_refuses_letters_in_the_region_code() -> None:
    """Attack: check_uscc accepted 91A1B2C3… (letters where GB 32100 puts the six-digit region code)
    while its recogniser refused it: the pipeline trusted, as a company key, a code no authority issues."""
    forged = make_uscc("91A1B2C3D4E5F6G7H")
    assert check_uscc(forged) is IdStatus.FORMAT
    assert normalise_uscc(forged) is None
    assert recognise(forged) is None
    assert check_uscc(make_uscc("91440300MA5F00001")) is IdStatus.OK


@given(st.text(alphabet=USCC_ALPHABET, min_size=18, max_size=18))
@example(make_uscc("91A1B2C3D4E5F6G7H"))
def test_check_uscc_agrees_with_its_recogniser(code: str) -> None:
    """The normaliser and the recogniser answer the same for every code (one shape, one checksum)."""
    assert (check_uscc(code) is IdStatus.OK) == UsccRecogniser().validate(code)


# --------------------------------------------------------------------------- e-mail


def test_a_column_of_example_addresses_is_email() -> None:
    """Attack: a column of valid e-mails on example.* domains was typed as nothing, so its
    addresses went unprotected; stand-ins are refused for matching only."""
    values = [f"user{i}@example.{('com', 'org', 'net')[i % 3]}" for i in range(60)]
    finding = scan_values("c07", values)
    assert finding.type == "email"
    assert all(normalise_email(v) is None for v in values)  # still never links two customers
    assert all(email_address(v) == v for v in values)


def test_email_local_part_over_64_is_refused() -> None:
    """Attack: a 65+ character local part (no mail server accepts it, RFC 5321) passed as an address."""
    assert email_address("a" * 64 + "@qq.com") is not None
    for raw in ("a" * 65 + "@qq.com", "zhang." + "w" * 60 + "@163.com"):
        assert email_address(raw) is None
        assert normalise_email(raw) is None
        assert recognise(raw) is None


@pytest.mark.parametrize(
    ("raw", "folded"),
    [("zhang@mail.xn--fiqs8s", "zhang@mail.xn--fiqs8s"),
     ("zhang@公司.中国", "zhang@xn--55qx5d.xn--fiqs8s"),
     ("Zhang@Mail.XN--FIQS8S", "zhang@mail.xn--fiqs8s")],
)
def test_idn_top_level_domains_are_accepted(raw: str, folded: str) -> None:
    """Attack (data loss): addresses under .中国 (xn--fiqs8s) were refused, so neither matched nor
    classified, nor masked in free text."""
    assert normalise_email(raw) == folded
    match = recognise(raw)
    assert match is not None and match.type == "email"
    assert [s.type for s in find_all(f"邮箱 {folded} 联系")] == ["email"]


# --------------------------------------------------------------------------- python-stdnum

_TODAY = dt.date.today()
_DIGITS_X = "0123456789X"


def _ric_core_ok(number: str) -> bool:
    """stdnum.cn.ric's checks but the birth place (its gazetteer differs from ours)."""
    if len(number) != 18 or not (number[:17].isascii() and number[:17].isdigit()):
        return False
    if ric.calc_check_digit(number) != number[-1]:
        return False
    try:
        ric.get_birth_date(number)
    except ric.InvalidComponent:
        return False
    return True


def _ric_valid(number: str) -> bool:
    """stdnum.cn.ric.is_valid; stdnum 2.2 raises KeyError for city-level codes (110001): unknown place."""
    try:
        return ric.is_valid(number)
    except KeyError:
        return False


def _mutate(s: str, alphabet: str, draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(("none", "substitute", "transpose", "drop", "insert")))
    i = draw(st.integers(0, len(s) - 1))
    c = draw(st.sampled_from(alphabet))
    if kind == "substitute":
        return s[:i] + c + s[i + 1:]
    if kind == "transpose" and i + 1 < len(s):
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    if kind == "drop":
        return s[:i] + s[i + 1:]
    if kind == "insert":
        return s[:i] + c + s[i:]
    return s


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    """Valid IDs (random province, date, sequence) with one typo at most, random strings, and
    either written partly in another script's digits."""
    if draw(st.booleans()):
        number = draw(st.text(alphabet=_DIGITS_X, min_size=17, max_size=19))
    else:
        number = _valid_id(draw)
    if draw(st.integers(0, 3)) == 0:
        start = draw(st.integers(0, len(number)))
        number = _in_script(number, draw(st.sampled_from(ZEROS)), range(start, start + draw(st.integers(1, 18))))
    return number


def _valid_id(draw: st.DrawFn) -> str:
    """A valid ID (or, birth dates out of range, a near one) with one typo at most."""
    province = draw(st.sampled_from(sorted(_PROVINCE_CODES)))
    born = draw(st.dates(dt.date(1890, 1, 1), _TODAY + dt.timedelta(days=400)))
    first17 = province + draw(st.text("0123456789", min_size=4, max_size=4)) + born.strftime("%Y%m%d") + draw(
        st.text("0123456789", min_size=3, max_size=3))
    return _mutate(first17 + id_check_char(first17), _DIGITS_X, draw)


@settings(max_examples=600, deadline=None)
@given(resident_ids())
def test_check_id_agrees_with_stdnum(number: str) -> None:
    """Attack surface: a validator that disagrees with the reference accepts IDs that are no IDs
    (merging people) or refuses real ones, or raises on other-script digits; compared with
    stdnum.cn.ric on valid and mutated IDs.  stdnum takes ASCII only, so it is given the value
    with its digits read as ASCII, custodata's documented rule."""
    ours = check_id(number) is IdStatus.OK
    number = ascii_digits(number)
    if ours:
        assert _ric_core_ok(number)
    if _ric_core_ok(number):
        born = ric.get_birth_date(number)
        expected = (number[:2] in _PROVINCE_CODES and dt.date(1900, 1, 1) <= born <= _TODAY
                    and not is_placeholder(number[:17]))
        assert ours == expected
    # stdnum also takes births before 1900 and in the future; custodata refuses both on purpose.
    if (_ric_valid(number) and dt.date(1900, 1, 1) <= ric.get_birth_date(number) <= _TODAY
            and not is_placeholder(number[:17])):
        assert ours


@st.composite
def usccs(draw: st.DrawFn) -> str:
    """Structured codes (digits in the region code or not) with one typo at most, or random codes."""
    if draw(st.booleans()):
        return draw(st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=19))
    first17 = (draw(st.sampled_from(USCC_ALPHABET)) + draw(st.sampled_from(USCC_ALPHABET))
               + draw(st.text(alphabet=st.sampled_from("0123456789") | st.sampled_from(USCC_ALPHABET),
                              min_size=6, max_size=6))
               + draw(st.text(alphabet=USCC_ALPHABET, min_size=9, max_size=9)))
    return _mutate(make_uscc(first17), USCC_ALPHABET, draw)


@settings(max_examples=600, deadline=None)
@given(usccs())
@example(make_uscc("91A1B2C3D4E5F6G7H"))
def test_check_uscc_agrees_with_stdnum(code: str) -> None:
    """Attack surface: a USCC stdnum.cn.uscc refuses (letters in the region code, bad check
    character) must not become a trusted company key, and a valid one must not be lost."""
    ours = check_uscc(code) is IdStatus.OK
    stand_in = is_placeholder(code) or (bool(code) and code.count(code[0]) == len(code))
    checksum_ok = len(code) == 18 and all(c in USCC_ALPHABET for c in code) and uscc.calc_check_digit(code) == code[-1]
    assert ours == (re.fullmatch(USCC_SHAPE, code) is not None and checksum_ok and not stand_in)
    if ours and code[0].isdigit():  # stdnum also wants a digit for the registration authority
        assert uscc.is_valid(code)
    if uscc.is_valid(code) and code[0] != "0" and code[1] != "0" and not stand_in:
        assert ours


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    """Luhn-valid numbers with one typo at most, random digit strings, or other-script digits."""
    choice = draw(st.sampled_from(("valid", "random", "script")))
    if choice == "random":
        return draw(st.text("0123456789", min_size=1, max_size=24))
    body = draw(st.text("0123456789", min_size=12, max_size=18))
    number = body + luhn.calc_check_digit(body)
    if choice == "script":
        return _in_script(number, draw(st.sampled_from(ZEROS)), range(draw(st.integers(0, len(number) - 1)), 99))
    return _mutate(number, "0123456789", draw)


@settings(max_examples=600, deadline=None)
@given(card_numbers())
def test_luhn_agrees_with_stdnum(number: str) -> None:
    """Attack surface: a Luhn check that took other-script digits (int('٣') works) validated
    numbers stdnum.luhn refuses; the card recogniser must agree with the reference too."""
    assert luhn_ok(number) == luhn.is_valid(number)
    if re.fullmatch(r"[3-6][0-9]{15,18}", number) and number.count(number[0]) != len(number):
        assert BankCardRecogniser().validate(number) == luhn.is_valid(number)
