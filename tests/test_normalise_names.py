import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from custodata.normalise.names import (
    COMPOUND_SURNAMES,
    family_name,
    name_pinyin,
    normalise_name,
)
from custodata.normalise.text import is_placeholder


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("张伟", "张伟"),
        ("張偉", "张伟"),
        (" 张 伟 ", "张伟"),
        ("张\u3000伟", "张伟"),
        ("阿依古丽·买买提", "阿依古丽·买买提"),
        ("阿依古丽・买买提", "阿依古丽·买买提"),
        ("阿依古丽•买买提", "阿依古丽·买买提"),
        ("阿依古丽‧买买提", "阿依古丽·买买提"),
        ("阿依古丽 . 买买提", "阿依古丽·买买提"),
        ("ZHANG WEI", "ZHANG WEI"),
        ("Zhang Wei", "ZHANG WEI"),
        ("zhang  wei", "ZHANG WEI"),
        ("Zhang, Wei", "ZHANG WEI"),
        ("zhang-wei", "ZHANG WEI"),
        ("Ｚｈａｎｇ Ｗｅｉ", "ZHANG WEI"),
        ("O'Brien", "OBRIEN"),
        (None, None),
        ("", None),
        ("无", None),
        ("不详", None),
        ("123", None),
    ],
)
def test_normalise_name(raw: str | None, expected: str | None) -> None:
    assert normalise_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("张伟", "zhangwei"),
        ("張偉", "zhangwei"),
        ("ZHANG WEI", "zhangwei"),
        ("Zhang Wei", "zhangwei"),
        ("zhang-wei", "zhangwei"),
        ("Zhang, Wei", "zhangwei"),
        ("张玮", "zhangwei"),  # homophone typo shares the key
        ("Zhang伟", "zhangwei"),
        ("欧阳娜娜", "ouyangnana"),
        ("歐陽娜娜", "ouyangnana"),
        # Surname readings differ from the common reading of the character.
        ("单田芳", "shantianfang"),
        ("曾国藩", "zengguofan"),
        ("区志伟", "ouzhiwei"),
        ("仇英", "qiuying"),
        ("解缙", "xiejin"),
        ("尉迟恭", "yuchigong"),
        ("长孙无忌", "zhangsunwuji"),
        ("阿依古丽·买买提", "ayigulimaimaiti"),
        ("吕布", "lvbu"),
        (None, None),
        ("", None),
        ("无", None),
    ],
)
def test_name_pinyin(raw: str | None, expected: str | None) -> None:
    assert name_pinyin(raw) == expected


def test_surname_reading_only_applies_to_the_first_character() -> None:
    # 单 inside a given name keeps its common reading.
    assert name_pinyin("王单") == "wangdan"
    assert name_pinyin("张曾") == "zhangceng"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("张伟", "张"),
        ("張偉", "张"),
        ("欧阳娜娜", "欧阳"),
        ("司马光", "司马"),
        ("诸葛亮", "诸葛"),
        ("上官婉儿", "上官"),
        ("单田芳", "单"),
        ("阿依古丽·买买提", None),
        ("ZHANG WEI", None),
        (None, None),
        ("", None),
    ],
)
def test_family_name(raw: str | None, expected: str | None) -> None:
    assert family_name(raw) == expected


def test_compound_surnames_include_the_common_ones() -> None:
    common = "欧阳 司马 诸葛 上官 皇甫 尉迟 公孙 慕容 令狐 东方 夏侯 长孙 宇文 司徒 端木".split()
    assert set(common) <= COMPOUND_SURNAMES


han = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
COMMON = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"


@given(st.text(alphabet=han, min_size=2, max_size=4))
def test_chinese_names_have_ascii_keys(name: str) -> None:
    assume(not is_placeholder(name))  # 不明, 未知 ...
    key = name_pinyin(name)
    assert key is not None
    assert key.isalpha()  # characters pypinyin does not know are kept as they are
    assert key == key.lower()
    assert " " not in key
    # Spacing and script variants of the same name share the key.
    assert name_pinyin(" ".join(name)) == key


@given(st.text(alphabet=COMMON, min_size=2, max_size=4))
def test_common_names_have_ascii_keys(name: str) -> None:
    key = name_pinyin(name)
    assert key is not None and key.isascii() and key.isalpha()


@given(
    st.lists(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8),
        min_size=1,
        max_size=3,
    )
)
def test_latin_key_ignores_case_and_separators(words: list[str]) -> None:
    assume(not is_placeholder(" ".join(words)))  # nil, none, na ...
    expected = "".join(words)
    assert name_pinyin(" ".join(w.upper() for w in words)) == expected
    assert name_pinyin("-".join(w.capitalize() for w in words)) == expected


@given(st.text())
def test_normalise_name_is_idempotent(raw: str) -> None:
    once = normalise_name(raw)
    assert normalise_name(once) == once
