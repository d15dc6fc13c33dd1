import pytest
from hypothesis import given
from hypothesis import strategies as st

from custodata.normalise.idnumber import IdStatus
from custodata.normalise.uscc import (
    USCC_ALPHABET,
    check_uscc,
    make_uscc,
    normalise_uscc,
    uscc_check_char,
)

# 9 = registered by market regulation, 1 = enterprise, 440300 = Shenzhen.
SAMPLE = make_uscc("91440300MA5F00001")

# GB 32100 structure: authority (not 0), category (1-9), a six-digit region code, nine code characters.
first17s = st.builds(
    lambda authority, category, region, code: authority + category + region + code,
    st.sampled_from(USCC_ALPHABET[1:]),
    st.sampled_from("123456789"),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
    st.text(alphabet=USCC_ALPHABET, min_size=9, max_size=9),
)


def test_sample_shape() -> None:
    assert len(SAMPLE) == 18
    assert SAMPLE[-1] in USCC_ALPHABET


@pytest.mark.parametrize(
    ("raw", "status", "normalised"),
    [
        (SAMPLE, IdStatus.OK, SAMPLE),
        (SAMPLE.lower(), IdStatus.OK, SAMPLE),
        (f" {SAMPLE[:6]} {SAMPLE[6:]} ", IdStatus.OK, SAMPLE),
        ("".join(chr(ord(c) + 0xFEE0) for c in SAMPLE), IdStatus.OK, SAMPLE),
        (SAMPLE[:17], IdStatus.FORMAT, None),
        (SAMPLE + "1", IdStatus.FORMAT, None),
        (SAMPLE[:10] + "I" + SAMPLE[11:], IdStatus.FORMAT, None),  # I is not in the alphabet
        (SAMPLE[:10] + "O" + SAMPLE[11:], IdStatus.FORMAT, None),
        ("", IdStatus.EMPTY, None),
        (None, IdStatus.EMPTY, None),
        ("000000000000000000", IdStatus.PLACEHOLDER, None),  # checksum-valid, still a stand-in
        ("无", IdStatus.PLACEHOLDER, None),
    ],
)
def test_check_and_normalise(raw: str | None, status: IdStatus, normalised: str | None) -> None:
    assert check_uscc(raw) is status
    assert normalise_uscc(raw) == normalised


def test_bad_check_char_is_checksum() -> None:
    position = USCC_ALPHABET.index(SAMPLE[-1])
    wrong = USCC_ALPHABET[(position + 1) % len(USCC_ALPHABET)]
    assert check_uscc(SAMPLE[:17] + wrong) is IdStatus.CHECKSUM
    assert normalise_uscc(SAMPLE[:17] + wrong) is None


def test_check_char_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="17 characters"):
        uscc_check_char("9144030")
    with pytest.raises(ValueError, match="17 characters"):
        make_uscc("91440300MA5F0000I")


@given(first17s)
def test_make_uscc_round_trip(first17: str) -> None:
    code = make_uscc(first17)
    assert code[:17] == first17
    if len(set(code)) > 1:  # a code of one repeated character is a placeholder
        assert check_uscc(code) is IdStatus.OK
        assert normalise_uscc(code.lower()) == code


@given(first17s, st.sampled_from(USCC_ALPHABET))
def test_every_other_check_char_is_checksum(first17: str, check: str) -> None:
    code = first17 + check
    if check != uscc_check_char(first17) and len(set(code)) > 1:
        assert check_uscc(code) is IdStatus.CHECKSUM


@given(first17s, st.integers(min_value=0, max_value=16), st.integers(min_value=1, max_value=30))
def test_single_substitution_is_detected(first17: str, position: int, delta: int) -> None:
    code = make_uscc(first17)
    new = USCC_ALPHABET[(USCC_ALPHABET.index(code[position]) + delta) % 31]
    changed = code[:position] + new + code[position + 1 :]
    assert check_uscc(changed) is not IdStatus.OK
