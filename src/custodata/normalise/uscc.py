"""Unified social credit codes of organisations (GB 32100-2015).

The USCC is to a company what the resident ID is to a person: the key that
lets two systems' records of one company be linked with certainty, so it is
only trusted after the checksum passes.
"""

from __future__ import annotations

import re
from functools import lru_cache

from custodata.normalise.idnumber import IdStatus
from custodata.normalise.text import HALFWIDTH_TABLE, ascii_digits, is_placeholder

# The letters I, O, S, V and Z are excluded so they cannot be mistaken for digits.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE: dict[str, int] = {c: i for i, c in enumerate(USCC_ALPHABET)}
_WEIGHTS: tuple[int, ...] = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
#: The code's structure (GB 32100 §4): registration authority (1-9 or a letter), organisation
#: category (1-9), a six-digit administrative division code, nine organisation-code characters and
#: the check character.  The recogniser uses this same pattern, so both refuse a letter in the
#: region code.
USCC_SHAPE = "[1-9A-HJ-NPQRTUWXY][1-9][0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}"
_USCC = re.compile(USCC_SHAPE)
_SEPARATORS = re.compile(r"[\s\-_.]+")


def uscc_check_char(first17: str) -> str:
    """The MOD 31 check character over the first 17 characters."""
    if len(first17) != 17 or any(c not in _VALUE for c in first17):
        raise ValueError(f"expected 17 characters from {USCC_ALPHABET}, got {first17!r}")
    total = sum(_VALUE[c] * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def make_uscc(first17: str) -> str:
    """Complete 17 characters into a valid code, for generators and tests."""
    return first17 + uscc_check_char(first17)


@lru_cache(maxsize=1 << 16)
def _analyse(raw: str) -> tuple[IdStatus, str | None]:
    s = _SEPARATORS.sub("", ascii_digits(raw.translate(HALFWIDTH_TABLE))).upper()
    if not s:
        return IdStatus.EMPTY, None
    # Checked before the checksum: 18 zeros happen to carry a valid check character.
    if is_placeholder(s) or s.count(s[0]) == len(s):
        return IdStatus.PLACEHOLDER, None
    if not _USCC.fullmatch(s):
        return IdStatus.FORMAT, None
    if uscc_check_char(s[:17]) != s[17]:
        return IdStatus.CHECKSUM, None
    return IdStatus.OK, s


def check_uscc(raw: str | None) -> IdStatus:
    """Classify a raw USCC value."""
    if raw is None:
        return IdStatus.EMPTY
    return _analyse(raw)[0]


def normalise_uscc(raw: str | None) -> str | None:
    """The canonical upper-case code, or None unless it is a valid one."""
    if raw is None:
        return None
    return _analyse(raw)[1]
