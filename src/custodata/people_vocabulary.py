"""The words for staff, defined once: what kind of person someone is and where they stand.

The directory, the access policy, the API and SCIM schemas, the console and the
monitor's roster all check against these, so a new kind or status is one change here
(and a migration of the CHECK constraints), not a hunt through seven copies.
"""

from __future__ import annotations

from typing import Literal, get_args

PersonKind = Literal["employee", "outsourced", "partner"]
PersonStatus = Literal["active", "transferred", "leaving", "left", "frozen"]

PERSON_KINDS: tuple[PersonKind, ...] = get_args(PersonKind)
PERSON_STATUSES: tuple[PersonStatus, ...] = get_args(PersonStatus)
# statuses that may still hold a session; the access policy narrows transferred and leaving people
AUTHENTICATING_STATUSES: frozenset[PersonStatus] = frozenset({"active", "transferred", "leaving"})
# statuses that end every live session at once
DISABLED_STATUSES: frozenset[PersonStatus] = frozenset({"left", "frozen"})

__all__ = ["AUTHENTICATING_STATUSES", "DISABLED_STATUSES", "PERSON_KINDS", "PERSON_STATUSES", "PersonKind",
           "PersonStatus"]
