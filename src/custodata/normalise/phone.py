"""Mainland China mobile and landline numbers.

Phone numbers are written with every separator and country-code style there
is; matching needs one canonical form per number.  Mobiles are a strong
identifier, so stand-ins such as 13800000000 are refused rather than allowed
to link unrelated customers.  Digits of any script are read as ASCII
(``text.ascii_digits``); only the mainland's country code (+86, 0086, 86) is
dropped: ``+1 5715308405`` is a North American number, not the mobile
15715308405, so it is refused rather than turned into someone else's.
"""

from __future__ import annotations

import re
from functools import lru_cache

from custodata.normalise.idnumber import IdStatus
from custodata.normalise.text import HALFWIDTH_TABLE, ascii_digits, is_placeholder

# Anything but these characters means the value is not (only) a phone number.
_PHONE_CHARS = re.compile(r"[0-9\s\-()+.]+")
_NON_DIGITS = re.compile(r"[^0-9]+")
_DASHES = str.maketrans(dict.fromkeys("‐‑‒–—―－", "-"))
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
# A placeholder mobile: valid prefix, then the same digit eight times (13800000000).
_MOBILE_FILLER = re.compile(r"1[0-9]{2}([0-9])\1{7}")
_KNOWN_FAKE_MOBILES: frozenset[str] = frozenset({"13800138000"})

# Area codes: 010 and 02x have three digits, all others four (0 + three).
_LANDLINE = re.compile(r"(010|02[0-9]|0[3-9][0-9]{2})([1-9][0-9]{6,7})")
_EXTENSION = re.compile(r"(?:转|ext\.?|x|#|分机)\s*[0-9]{1,6}$", re.IGNORECASE)
_INTERNATIONAL = re.compile(r"[(\s]*\+")


def _digits(raw: str) -> str | None:
    s = ascii_digits(raw.translate(HALFWIDTH_TABLE)).translate(_DASHES).strip()
    if not _PHONE_CHARS.fullmatch(s):
        return None
    return _NON_DIGITS.sub("", s)


def _national(raw: str, digits: str, national_length: int) -> str | None:
    """The digits without the mainland's country code; None when another country's is given.

    ``+`` and ``00`` announce a country code, so after them only 86 is
    dropped and any other code refuses the number (``+1 5715308405`` must not
    become the mobile 15715308405).  A bare ``86`` is a country code only when
    the number is too long to be national.
    """
    if _INTERNATIONAL.match(raw.translate(HALFWIDTH_TABLE)):
        return digits[2:] if digits.startswith("86") else None
    if digits.startswith("00"):  # mainland numbers never start 00: an international prefix
        return digits[4:] if digits.startswith("0086") and len(digits) > national_length + 2 else None
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
    national = _national(raw, digits, 11)
    if national is None:
        return IdStatus.FORMAT, None
    digits = national
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
    s = _EXTENSION.sub("", ascii_digits(raw.translate(HALFWIDTH_TABLE)).strip())
    found = _digits(s)
    if not found:
        return None
    digits = _national(s, found, 10)
    if digits is None:
        return None
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
