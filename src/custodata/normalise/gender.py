"""Gender codes.

Systems encode gender as 男/女, M/F, male/female or the GB/T 2261.1 codes
1/2 (0 unknown, 9 not stated); the golden record needs one code, and the
gender encoded in the ID number is compared against it.
"""

from __future__ import annotations

from typing import Literal

from custodata.normalise.text import HALFWIDTH_TABLE

_GENDERS: dict[str, Literal["M", "F"]] = {
    "男": "M",
    "男性": "M",
    "男士": "M",
    "先生": "M",
    "m": "M",
    "male": "M",
    "man": "M",
    "1": "M",
    "女": "F",
    "女性": "F",
    "女士": "F",
    "f": "F",
    "female": "F",
    "woman": "F",
    "2": "F",
}


def normalise_gender(raw: str | None) -> Literal["M", "F"] | None:
    """``M`` or ``F``; anything else (未知, 0, 9, garbage) is unknown."""
    if raw is None:
        return None
    return _GENDERS.get(raw.translate(HALFWIDTH_TABLE).strip().lower())
