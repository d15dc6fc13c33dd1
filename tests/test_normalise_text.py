import pytest
from hypothesis import given
from hypothesis import strategies as st

from custodata.normalise.text import (
    clean_text,
    is_placeholder,
    simplified_table,
    to_halfwidth,
    to_simplified,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("１２３", "123"),
        ("ＡＢＣｘｙｚ", "ABCxyz"),
        ("（010）", "(010)"),
        ("a\u3000b", "a b"),
        ("＠－，！", "@-,!"),
        ("。、", "。、"),  # CJK punctuation has no ASCII twin: kept
        ("abc", "abc"),
    ],
)
def test_to_halfwidth(raw: str, expected: str) -> None:
    assert to_halfwidth(raw) == expected


@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E)))
def test_halfwidth_inverts_fullwidth(ascii_text: str) -> None:
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in ascii_text)
    assert to_halfwidth(fullwidth) == ascii_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("廣東省", "广东省"),
        ("張偉", "张伟"),
        ("歐陽", "欧阳"),
        ("號", "号"),
        ("广东省", "广东省"),
        ("abc 123", "abc 123"),
    ],
)
def test_to_simplified(raw: str, expected: str) -> None:
    assert to_simplified(raw) == expected


def test_simplified_table_is_reusable() -> None:
    table = simplified_table()
    assert table is simplified_table()
    assert table[ord("廣")] == "广"
    assert len(table) > 2000
    assert "廣東".translate(table) == "广东"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", None),
        ("   \u3000 ", None),
        ("  張　三  ", "张 三"),
        ("a \t\n b", "a b"),
        ("ＡＢＣ１２３", "ABC123"),
        ("zero\u200bwidth", "zerowidth"),
    ],
)
def test_clean_text(raw: str | None, expected: str | None) -> None:
    assert clean_text(raw) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "  ",
        *"""
        - -- / N/A NA null NULL None unknown 无 不详 未知 暂无 空 000000 00000000000
        111111111111111111 123456789 12345678901 987654321 000-0000-0000 ０００００００ ***
    """.split(),
    ],
)
def test_placeholders(value: str | None) -> None:
    assert is_placeholder(value)


@pytest.mark.parametrize(
    "value",
    ["张三", "13812345678", "518052", "2020-01-02", "12345", "0755", "abc", "朝阳区", "110105"],
)
def test_not_placeholders(value: str) -> None:
    assert not is_placeholder(value)


@given(st.sampled_from("0123456789"), st.integers(min_value=6, max_value=20))
def test_repeated_digit_is_placeholder(digit: str, length: int) -> None:
    assert is_placeholder(digit * length)


@given(st.text())
def test_clean_text_is_idempotent(raw: str) -> None:
    once = clean_text(raw)
    assert clean_text(once) == once


def test_simplified_table_is_closed() -> None:
    table = simplified_table()
    every_source = "".join(chr(k) for k in table)
    once = to_simplified(every_source)
    assert to_simplified(once) == once
    assert to_simplified("薴") == "苎"  # a chain in OpenCC's table: 薴 → 苧 → 苎
