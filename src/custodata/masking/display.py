"""Keep-first-N / keep-last-M masking, with the common financial display defaults."""

from __future__ import annotations

MASK = "*"


def mask_keep(value: str | None, first: int, last: int) -> str | None:
    """Keep ``first`` leading and ``last`` trailing characters; mask the rest.

    Short values are masked whole rather than revealing most of themselves.
    """
    if value is None:
        return None
    if len(value) <= first + last:
        return MASK * len(value)
    return value[:first] + MASK * (len(value) - first - last) + value[len(value) - last:]


def mask_id(value: str | None) -> str | None:
    """Resident ID: first 6 (region) and last 4."""
    return mask_keep(value, 6, 4)


def mask_mobile(value: str | None) -> str | None:
    """Mobile: 3 + 4, e.g. 138****5678."""
    return mask_keep(value, 3, 4)


def mask_name(value: str | None) -> str | None:
    """Chinese names keep the family name (张*, 欧阳**); Latin names their first letter."""
    if not value:
        return value
    if value.isascii():
        return value[0] + MASK * (len(value) - 1)
    keep = 2 if len(value) >= 4 else 1
    return value[:keep] + MASK * (len(value) - keep)


def mask_address(value: str | None, keep: int = 9) -> str | None:
    """Addresses down to about the district; the street and number are hidden."""
    if value is None:
        return None
    return value[:keep] + (MASK * 4 if len(value) > keep else "")


def mask_email(value: str | None) -> str | None:
    if value is None or "@" not in value:
        return mask_keep(value, 1, 0)
    user, _, domain = value.partition("@")
    return (user[:1] + MASK * 3) + "@" + domain
