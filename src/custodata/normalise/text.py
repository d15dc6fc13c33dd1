"""Character-level text cleaning shared by every other normaliser.

Source systems mix full-width and half-width forms (input methods switch to
full width in Chinese mode), traditional and simplified characters (Hong Kong
and Taiwan branches, older systems) and stray whitespace.  Two values that a
human reads as identical must compare equal before entity resolution, so
every normaliser starts here.  Everything is a ``str.translate`` table or a
precompiled regex because these run once per value on millions of values.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from types import MappingProxyType

# U+FF01..U+FF5E are the full-width twins of ASCII 0x21..0x7E, at a fixed offset.
_HALFWIDTH: dict[int, int | str | None] = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_HALFWIDTH[0x3000] = " "  # ideographic space
# Characters that are invisible but make two strings unequal: deleting them is always safe.
_INVISIBLE: dict[int, int | str | None] = dict.fromkeys(
    (0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD), None
)
HALFWIDTH_TABLE: Mapping[int, int | str | None] = MappingProxyType({**_HALFWIDTH, **_INVISIBLE})

_WHITESPACE = re.compile(r"\s+")
# Every Unicode decimal digit (category Nd) but 0-9: Arabic-Indic ٣, Devanagari ३, Bengali ৩,
# mathematical 𝟑, full width ３ ... (in str patterns, \d is exactly category Nd).
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")


def _ascii_digit(match: re.Match[str]) -> str:
    return str(unicodedata.decimal(match.group()))


def ascii_digits(s: str) -> str:
    """Read every Unicode decimal digit as its ASCII digit, one character for one.

    The rule for every identifier (IDs, USCCs, mobiles, landlines, cards): a
    digit is a digit in whatever script it was typed, so ``١١٠١٠٥…`` is
    validated as ``110105…`` and normalised output is always ASCII.  Mixed
    scripts used to reach the checksum code unfolded and raise; refusing them
    instead would let an identifier typed in another script pass unmasked
    through free text.  Only category Nd counts: superscripts, circled digits
    and Chinese numerals are not digits here.  One code point for one keeps
    the offsets of spans found in the folded text valid in the original.
    """
    if s.isascii():
        return s
    return _OTHER_DIGIT.sub(_ascii_digit, s)


def to_halfwidth(s: str) -> str:
    """Fold full-width ASCII and the ideographic space, which Chinese input methods emit."""
    return s.translate(HALFWIDTH_TABLE)


def _opencc_dictionary(name: str) -> Path:
    # find_spec locates the package without importing it: we only want its data file.
    spec = find_spec("opencc")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("opencc-python-reimplemented is required for to_simplified")
    return Path(next(iter(spec.submodule_search_locations))) / "dictionary" / name


@cache
def simplified_table() -> Mapping[int, str]:
    """Traditional → simplified character table, built once from OpenCC's TSCharacters.

    Character-level conversion with the first candidate is deliberately crude
    (乾 always becomes 干): normalisation only needs both sides of a comparison
    to be mapped the same way, not a publishable text.
    """
    table: dict[int, str] = {}
    text = _opencc_dictionary("TSCharacters.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        source, _, targets = line.partition("\t")
        candidates = targets.split()
        if len(source) != 1 or not candidates or candidates[0] == source:
            continue
        table[ord(source)] = candidates[0]
    # Resolve chains (薴 → 苧 → 苎) so that converting twice changes nothing.
    for key, target in table.items():
        seen = {key}
        while len(target) == 1 and ord(target) in table and ord(target) not in seen:
            seen.add(ord(target))
            target = table[ord(target)]
        table[key] = target
    return MappingProxyType(table)


@cache
def _clean_table() -> Mapping[int, int | str | None]:
    # One merged table so clean_text walks the string once; the key sets are disjoint.
    return MappingProxyType({**simplified_table(), **HALFWIDTH_TABLE})


def to_simplified(s: str) -> str:
    """Fold traditional characters so 廣東 and 广东 compare equal."""
    return s.translate(simplified_table())


def clean_text(s: str | None) -> str | None:
    """The common first step: half width, simplified, whitespace collapsed; blank → None."""
    if s is None:
        return None
    cleaned = _WHITESPACE.sub(" ", s.translate(_clean_table())).strip()
    return cleaned or None


# Compared after half width, strip and lower case.
_PLACEHOLDER_WORDS: frozenset[str] = frozenset(
    {
        "-",
        "--",
        "---",
        "/",
        "//",
        "\\",
        ".",
        "..",
        "...",
        "?",
        "0",
        "n/a",
        "n.a.",
        "na",
        "null",
        "nil",
        "nan",
        "none",
        "unknown",
        "undefined",
        "无",
        "没有",
        "不详",
        "未知",
        "暂无",
        "空",
        "不明",
        "未填",
        "未填写",
        "待定",
        "待补充",
    }
)
_NO_LETTER_OR_DIGIT = re.compile(r"[\W_]*")
_DIGIT_SEPARATORS = re.compile(r"[\s\-/.()]+")
# A string is an ascending (descending) run with wrap-around iff it is a substring of these.
_ASCENDING = "0123456789" * 5
_DESCENDING = "9876543210" * 5
_MIN_RUN = 6


def is_placeholder(s: str | None) -> bool:
    """Whether a value is a stand-in for "unknown" rather than data.

    Counters and data-entry staff fill mandatory fields with 无, ``-``,
    ``000000`` or ``123456789``; such values must not be matched on (every
    customer with ID ``111111111111111111`` would merge into one) nor reported
    as malformed data, so they are recognised separately from format errors.
    """
    if s is None:
        return True
    t = ascii_digits(s.translate(HALFWIDTH_TABLE)).strip().lower()
    if not t or t in _PLACEHOLDER_WORDS or _NO_LETTER_OR_DIGIT.fullmatch(t):
        return True
    digits = _DIGIT_SEPARATORS.sub("", t)
    if len(digits) < _MIN_RUN or not (digits.isascii() and digits.isdigit()):
        return False
    if digits.count(digits[0]) == len(digits):
        return True
    return len(digits) <= len(_ASCENDING) - 10 and (digits in _ASCENDING or digits in _DESCENDING)
