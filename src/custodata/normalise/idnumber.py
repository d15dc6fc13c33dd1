"""PRC resident identity numbers (GB 11643-1999).

The ID number is the strongest identifier a Chinese customer record carries,
so a wrong one is worse than none: it can merge two people.  Only numbers that
pass the format, birth-date and checksum tests are returned for matching; the
status tells data-quality reports *why* the others were rejected.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from functools import lru_cache
from typing import Literal

from custodata.normalise.text import HALFWIDTH_TABLE, ascii_digits, is_placeholder


class IdStatus(StrEnum):
    """Why an identifier was (not) accepted; shared by IDs, USCCs and mobiles."""

    OK = "ok"
    EMPTY = "empty"
    PLACEHOLDER = "placeholder"
    FORMAT = "format"
    CHECKSUM = "checksum"


_WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_ID18 = re.compile(r"[0-9]{17}[0-9X]")
_ID15 = re.compile(r"[0-9]{15}")
_SEPARATORS = re.compile(r"[\s\-_.]+")
# First two digits: province-level division codes (GB/T 2260), plus 71/81/82/83 used by
# Taiwan, Hong Kong and Macao residents' residence permits.
_PROVINCE_CODES: frozenset[str] = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 "
    "61 62 63 64 65 71 81 82 83".split()
)
_MIN_BIRTH = dt.date(1900, 1, 1)


def id_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character over the first 17 digits."""
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise ValueError(f"expected 17 digits, got {first17!r}")
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def _birth_date(yyyymmdd: str) -> dt.date | None:
    try:
        born = dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return None
    # date.today() per call: an ID born "tomorrow" is a typo, and the clock moves on.
    if born < _MIN_BIRTH or born > dt.date.today():
        return None
    return born


def _structure_ok(id18: str) -> bool:
    return id18[:2] in _PROVINCE_CODES and _birth_date(id18[6:14]) is not None


@lru_cache(maxsize=1 << 18)
def _analyse(raw: str) -> tuple[IdStatus, str | None]:
    # Cached: the same person's ID recurs in every policy, account and ticket.
    # Digits of any script are read as ASCII (text.ascii_digits) before any check.
    s = _SEPARATORS.sub("", ascii_digits(raw.translate(HALFWIDTH_TABLE))).upper()
    if not s:
        return IdStatus.EMPTY, None
    if is_placeholder(s) or (len(s) == 18 and is_placeholder(s[:17])):
        return IdStatus.PLACEHOLDER, None
    if _ID15.fullmatch(s):
        first17 = s[:6] + "19" + s[6:]
        if not _structure_ok(first17 + "0"):
            return IdStatus.FORMAT, None
        return IdStatus.OK, first17 + id_check_char(first17)
    if not _ID18.fullmatch(s) or not _structure_ok(s):
        return IdStatus.FORMAT, None
    if id_check_char(s[:17]) != s[17]:
        return IdStatus.CHECKSUM, None
    return IdStatus.OK, s


def check_id(raw: str | None) -> IdStatus:
    """Classify a raw ID value; an old 15-digit ID with a valid birth date is OK."""
    if raw is None:
        return IdStatus.EMPTY
    return _analyse(raw)[0]


def normalise_id(raw: str | None) -> str | None:
    """The canonical 18-character ID, or None unless it is a valid one.

    Old 15-digit IDs (issued before 1999, century implied as 19) are upgraded
    so that both generations of the same person's ID compare equal.
    """
    if raw is None:
        return None
    return _analyse(raw)[1]


def id_birth_date(id_number: str | None) -> dt.date | None:
    """Birth date encoded in a valid ID (15 or 18 digits), for cross-checking birth_date."""
    id18 = normalise_id(id_number)
    if id18 is None:
        return None
    return _birth_date(id18[6:14])


def id_gender(id_number: str | None) -> Literal["M", "F"] | None:
    """Gender encoded in a valid ID: the 17th digit is odd for men."""
    id18 = normalise_id(id_number)
    if id18 is None:
        return None
    return "M" if int(id18[16]) % 2 else "F"
