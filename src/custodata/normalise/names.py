"""Personal names: one written form, a pinyin key, and the family name.

The same customer appears as 張偉, 张伟, ``张 伟``, ``ZHANG WEI`` (passport,
bank card) and, after a typo at the counter, 张玮.  Entity resolution compares
the cleaned name for exact agreement and the tone-less pinyin key for
cross-script and homophone agreement, so both are produced here, once per
distinct name (names repeat heavily, hence the caches).
"""

from __future__ import annotations

import re
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

from custodata.normalise.text import clean_text, is_placeholder

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_WHITESPACE = re.compile(r"\s+")
# Minority names such as 阿依古丽·买买提 use a middle dot that every system types differently.
_DOTS = str.maketrans(dict.fromkeys("・•‧·･.。∙⋅", "·"))
_REPEATED_DOT = re.compile(r"·{2,}")
_APOSTROPHES = str.maketrans(dict.fromkeys("'’‘`", ""))
_NON_LETTERS = re.compile(r"[^\W\d_]+")  # runs of letters, Unicode-aware

COMPOUND_SURNAMES: frozenset[str] = frozenset(
    "欧阳 司马 诸葛 上官 皇甫 尉迟 公孙 慕容 令狐 东方 夏侯 长孙 宇文 司徒 端木 司空 "
    "轩辕 独孤 南宫 西门 万俟 闻人 澹台 公冶 宗政 濮阳 淳于 单于 太叔 申屠 钟离 呼延 "
    "赫连 拓跋 百里 东郭 第五 公羊 梁丘 左丘 亓官 巫马 乐正 段干 仲孙 谷梁 羊舌 微生 "
    "公西 漆雕 宰父 颛孙 子车 司寇 东门 公良 鲜于 闾丘".split()
)

# Characters whose reading as a surname differs from their most common reading,
# which is the one pypinyin picks (单 → dan, 曾 → ceng, 区 → qu ...).
SURNAME_READINGS: dict[str, str] = {
    "单": "shan",
    "曾": "zeng",
    "区": "ou",
    "仇": "qiu",
    "解": "xie",
    "查": "zha",
    "朴": "piao",
    "乐": "yue",
    "盖": "ge",
    "缪": "miao",
    "覃": "qin",
    "尉": "wei",
    "翟": "zhai",
    "种": "chong",
    "重": "chong",
    "秘": "bi",
    "繁": "po",
    "召": "shao",
    "员": "yun",
    "黑": "he",
    "那": "na",
    "柏": "bai",
    "薄": "bo",
    "折": "she",
    "隗": "wei",
    "句": "gou",
    "阚": "kan",
    "谌": "chen",
    "郇": "huan",
    "眭": "sui",
    "燕": "yan",
    "臧": "zang",
    "尉迟": "yuchi",
    "万俟": "moqi",
    "单于": "chanyu",
    "长孙": "zhangsun",
    "澹台": "tantai",
    "乐正": "yuezheng",
    "亓官": "qiguan",
}

_LATIN_TO_PINYIN = str.maketrans({"ü": "v", "Ü": "v"})


def _is_han(s: str) -> bool:
    return _HAN.search(s) is not None


@lru_cache(maxsize=1 << 18)
def normalise_name(raw: str | None) -> str | None:
    """The name as it should be stored and compared exactly.

    Chinese names lose all spaces (``张 伟`` is 张伟) and get one middle dot;
    Latin names are upper-cased letter words, so ``Zhang, Wei`` is ``ZHANG WEI``.
    """
    s = clean_text(raw)
    if s is None or is_placeholder(s):
        return None
    if _is_han(s):
        s = _WHITESPACE.sub("", s).translate(_DOTS)
        s = _REPEATED_DOT.sub("·", s).strip("·")
    else:
        s = " ".join(_NON_LETTERS.findall(s.translate(_APOSTROPHES))).upper()
    return s or None


def _leading_surname(name: str) -> str:
    return name[:2] if name[:2] in COMPOUND_SURNAMES else name[:1]


def family_name(raw: str | None) -> str | None:
    """The family name of a Chinese name (compound surnames included).

    Returns None for Latin names (word order is not reliable) and for
    minority names written with a middle dot, which carry no family name.
    """
    name = normalise_name(raw)
    if name is None or "·" in name or not _HAN.match(name):
        return None
    return _leading_surname(name)


def _syllables(text: str) -> list[str]:
    return lazy_pinyin(text, style=Style.NORMAL) if text else []


@lru_cache(maxsize=1_000_000)
def name_pinyin(raw: str | None) -> str | None:
    """A tone-less, space-less, lower-case pinyin key (张伟, 張偉, ZHANG WEI → zhangwei).

    The surname is read on its own with its surname reading (曾 is zeng, not
    ceng), so a phrase reading across the surname and given name cannot apply.
    """
    name = normalise_name(raw)
    if name is None:
        return None
    if not _is_han(name):
        parts = [name.translate(_LATIN_TO_PINYIN)]
    elif "·" in name or not _HAN.match(name):
        parts = _syllables(name.replace("·", ""))
    else:
        surname = _leading_surname(name)
        reading = SURNAME_READINGS.get(surname)
        parts = [reading] if reading else _syllables(surname)
        parts += _syllables(name[len(surname) :])
    key = "".join(c for c in "".join(parts).lower() if c.isalpha())
    return key or None
