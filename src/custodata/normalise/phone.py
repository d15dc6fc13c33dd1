"""Mainland China mobile and landline numbers.

Phone numbers are written with every separator and country-code style there
is; matching needs one canonical form per number.  Mobiles are a strong
identifier, so stand-ins such as 13800000000 are refused rather than allowed
to link unrelated customers.
"""

from __future__ import annotations

import re
from functools import lru_cache

from custodata.normalise.idnumber import IdStatus
from custodata.normalise.text import HALFWIDTH_TABLE, is_placeholder

# Anything but these characters means the value is not (only) a phone number.
_PHONE_CHARS = re.compile(r"[\d\s\-()+.]+")
_NON_DIGITS = re.compile(r"\D+")
_DASHES = str.maketrans(dict.fromkeys("‐‑‒–—―－", "-"))
_MOBILE = re.compile(r"1[3-9]\d{9}")
# A placeholder mobile: valid prefix, then the same digit eight times (13800000000).
_MOBILE_FILLER = re.compile(r"1\d\d(\d)\1{7}")
_KNOWN_FAKE_MOBILES: frozenset[str] = frozenset({"13800138000"})

# Area codes: 010 and 02x have three digits, all others four (0 + three).
_LANDLINE = re.compile(r"(010|02\d|0[3-9]\d\d)([1-9]\d{6,7})")
_EXTENSION = re.compile(r"(?:转|ext\.?|x|#|分机)\s*\d{1,6}$", re.IGNORECASE)


def _digits(raw: str) -> str | None:
    s = raw.translate(HALFWIDTH_TABLE).translate(_DASHES).strip()
    if not _PHONE_CHARS.fullmatch(s):
        return None
    return _NON_DIGITS.sub("", s)


def _strip_country_code(digits: str, national_length: int) -> str:
    if digits.startswith("0086") and len(digits) > national_length + 2:
        return digits[4:]
    if digits.startswith("86") and len(digits) > national_length:
        return digits[2:]
    return digits


@lru_cache(maxsize=1 << 18)
def _analyse_mobile(raw: str) -> tuple[IdStatus, str | None]:
    if not raw.strip():
        return IdStatus.EMPTY, None
    if is_placeholder(raw):
        return IdStatus.PLACEHOLDER, None
    digits = _digits(raw)
    if digits is None:
        return IdStatus.FORMAT, None
    digits = _strip_country_code(digits, 11)
    if is_placeholder(digits) or digits in _KNOWN_FAKE_MOBILES or _MOBILE_FILLER.fullmatch(digits):
        return IdStatus.PLACEHOLDER, None
    if not _MOBILE.fullmatch(digits):
        return IdStatus.FORMAT, None
    return IdStatus.OK, digits


def check_mobile(raw: str | None) -> IdStatus:
    """Classify a raw mobile value (never CHECKSUM: mobiles carry no check digit)."""
    if raw is None:
        return IdStatus.EMPTY
    return _analyse_mobile(raw)[0]


def normalise_mobile(raw: str | None) -> str | None:
    """The 11 national digits of a plausible mainland mobile, else None."""
    if raw is None:
        return None
    return _analyse_mobile(raw)[1]


@lru_cache(maxsize=1 << 16)
def normalise_landline(raw: str | None) -> str | None:
    """``AREA-NUMBER`` (e.g. ``0755-1234567``) with any extension dropped, else None.

    Without an area code a local number is ambiguous across cities, so it is
    refused rather than guessed.
    """
    if raw is None:
        return None
    s = _EXTENSION.sub("", raw.translate(HALFWIDTH_TABLE).strip())
    digits = _digits(s)
    if not digits:
        return None
    digits = _strip_country_code(digits, 10)
    if not digits.startswith("0"):
        digits = "0" + digits  # +86 10 ... drops the trunk prefix
    match = _LANDLINE.fullmatch(digits)
    if match is None:
        return None
    area, number = match.groups()
    # Only a repeated digit is refused: 12345678 is a real (and much used) example number.
    if number.count(number[0]) == len(number):
        return None
    return f"{area}-{number}"
