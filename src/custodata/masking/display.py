"""The common financial display defaults as plain functions, for views that need no policy.

The terminal views predate the policy engine and call these directly; they
are thin wrappers over the operators' helpers so a value looks the same
whichever path shows it.  Anything role- or purpose-dependent belongs in
``custodata.masking.policy`` instead.
"""

from __future__ import annotations

from custodata.masking.operators import (
    MASK,
    AddressLevel,
    generalise_address_text,
    keep_chars,
    mask_email_text,
    mask_name_text,
)

__all__ = ["MASK", "mask_address", "mask_email", "mask_id", "mask_keep", "mask_mobile", "mask_name"]


def mask_keep(value: str | None, first: int, last: int) -> str | None:
    """Keep ``first`` leading and ``last`` trailing characters; mask the rest.

    Short values are masked whole rather than revealing most of themselves.
    """
    return None if value is None else keep_chars(value, first, last)


def mask_id(value: str | None) -> str | None:
    """Resident ID: first 6 (the issuing region) and last 4, as staff confirm IDs at the counter."""
    return mask_keep(value, 6, 4)


def mask_mobile(value: str | None) -> str | None:
    """Mobile: 3 + 4, e.g. 138****5678."""
    return mask_keep(value, 3, 4)


def mask_name(value: str | None) -> str | None:
    """Chinese names keep the family name (张*, 欧阳**); Latin names their first letter."""
    return None if value is None else mask_name_text(value)


def mask_address(value: str | None, keep: int | None = None, *, level: AddressLevel = "district") -> str | None:
    """Addresses down to the district (广东省深圳市南山区****); street and number are hidden.

    ``keep`` caps what is shown at that many characters, for displays (scan
    evidence) that must stay short whatever the address.
    """
    if value is None:
        return None
    masked = generalise_address_text(value, level)
    shown = masked.rstrip(MASK)
    if keep is None or len(shown) <= keep:
        return masked
    return shown[:keep] + MASK * 4


def mask_email(value: str | None) -> str | None:
    """``z***@example.com``: the mailbox hidden, its length too."""
    return None if value is None else mask_email_text(value)
