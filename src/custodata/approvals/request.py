"""What a maker-checker request is, who may act on it, and what goes wrong.

The workflow depends on no concrete identity or policy class: a :class:`Subject`
is anything with a person id, role, kind, branch and status, and authorisation
is a callable answering ``(subject, action) -> decision`` — the policy engine's
``check`` fits, and so does a lambda in a test.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from custodata.access.engine import Subject as Subject  # the one shape of whoever acts (re-exported)
from custodata.errors import CustodataError, StateError

CREATE_KIND = "create"  # a customer created in the master after search before create
CHANGE_KINDS = ("edit_field", "merge", "unmerge", CREATE_KIND)
EXPORT_KIND = "export"
ROLE_GRANT_KIND = "role_grant"
POLICY_IMPORT_KIND = "policy_import"
# requests that change who may do what rather than customer data (issue 10 points 5 and 6)
TRUST_KINDS = (ROLE_GRANT_KIND, POLICY_IMPORT_KIND)
ALL_KINDS = (*CHANGE_KINDS, EXPORT_KIND, *TRUST_KINDS)

# kind -> (the permission a maker needs to file it, the permission a checker needs to decide it).
# An administrator proposes a grant, a security officer (who owns the access policy) decides it,
# so the person who creates accounts never also decides what they may reach; a policy import is
# proposed by one security officer and decided by another.
_PERMISSIONS: dict[str, tuple[str, str]] = {
    **{kind: ("change.request", "change.approve") for kind in CHANGE_KINDS},
    CREATE_KIND: ("customer.create", "change.approve"),  # the front desk creates; a data steward approves
    EXPORT_KIND: ("export.request", "export.approve"),
    ROLE_GRANT_KIND: ("people.write", "policy.write"),
    POLICY_IMPORT_KIND: ("policy.write", "policy.write"),
}


class AccessDecisionLike(Protocol):
    """The policy engine's answer: allowed or not, the rule that decided, and why."""

    @property
    def allowed(self) -> bool: ...

    @property
    def rule(self) -> str | None: ...

    @property
    def reason(self) -> str: ...


Authorize = Callable[[Subject, str], AccessDecisionLike]


class ApprovalError(CustodataError):
    """Base of the errors of the maker-checker workflow."""


class ApprovalDenied(PermissionError, ApprovalError):
    """Refused: not authorised, deciding one's own request, or fetching someone else's export."""


class InvalidRequest(ValueError, ApprovalError):
    """A request's kind, payload or reason is not acceptable; the message names what and why."""


class RequestStateError(StateError, ApprovalError):
    """The request is not in a state that allows this (e.g. deciding one already decided)."""


class ExportExpired(RequestStateError):
    """The export file passed its expiry (or was purged): ask for a new export."""


def request_action(kind: str) -> str:
    """The policy action a maker needs to file a request of ``kind``."""
    return _PERMISSIONS.get(kind, _PERMISSIONS["edit_field"])[0]


def approve_action(kind: str) -> str:
    """The policy action a checker needs to decide a request of ``kind``."""
    return _PERMISSIONS.get(kind, _PERMISSIONS["edit_field"])[1]


@dataclass(frozen=True)
class Request:
    """One maker-checker request as stored; the payload's shape depends on ``kind``."""

    request_id: str
    kind: str
    status: str
    maker: str
    maker_role: str
    maker_branch: str | None
    created_at: dt.datetime
    reason: str
    payload: dict[str, Any]
    expires_at: dt.datetime
    checker: str | None = None
    checker_role: str | None = None
    decided_at: dt.datetime | None = None
    decision_note: str | None = None
    result: dict[str, Any] | None = field(default=None)

    @property
    def customer_ids(self) -> list[str]:
        """The customers the request touches (for export by search: none listed up front)."""
        p = self.payload
        if self.kind in TRUST_KINDS:
            return []
        if self.kind == "merge":
            return [str(p["survivor"]), str(p["absorbed"])]
        if self.kind == EXPORT_KIND:
            return [str(c) for c in p.get("customer_ids") or []]
        if self.kind == CREATE_KIND:  # the new customer once created; the candidates it was refused for
            return [str(c) for c in (p.get("customer_id"), *p.get("candidates", ())) if c]
        return [str(p["customer_id"])]

    @property
    def grantee(self) -> str | None:
        """The person a role grant is for: they may neither file nor decide it."""
        return str(self.payload["person_id"]) if self.kind == ROLE_GRANT_KIND else None

    @property
    def fields(self) -> list[str]:
        if self.kind == "edit_field":
            return [str(self.payload["field"])]
        if self.kind == EXPORT_KIND:
            return [str(f) for f in self.payload["fields"]]
        if self.kind == CREATE_KIND:
            return sorted(str(f) for f in self.payload.get("fields", ()))
        return []

    @property
    def purpose(self) -> str | None:
        value = self.payload.get("purpose")
        return str(value) if value is not None else None

    @classmethod
    def from_row(cls, row: Any) -> Request:
        m = row._mapping
        return cls(
            request_id=m["request_id"], kind=m["kind"], status=m["status"], maker=m["maker"],
            maker_role=m["maker_role"], maker_branch=m["maker_branch"], created_at=m["created_at"],
            reason=m["reason"], payload=json.loads(m["payload"]), expires_at=m["expires_at"],
            checker=m["checker"], checker_role=m["checker_role"], decided_at=m["decided_at"],
            decision_note=m["decision_note"], result=json.loads(m["result"]) if m["result"] else None,
        )

    def summary(self) -> dict[str, Any]:
        """A listing row: never the proposed value of a field (it may be sealed or sensitive)."""
        row = {
            "request_id": self.request_id, "kind": self.kind, "status": self.status, "maker": self.maker,
            "created_at": self.created_at, "customers": self.customer_ids, "fields": self.fields,
            "purpose": self.purpose, "reason": self.reason, "checker": self.checker,
            "expires_at": self.expires_at,
        }
        if self.kind == ROLE_GRANT_KIND:
            row.update(person_id=self.payload["person_id"], roles=list(self.payload.get("roles", [])),
                       portfolio=len(self.payload.get("portfolio", [])),
                       reactivate=self.payload.get("status") == "active")
        elif self.kind == POLICY_IMPORT_KIND:
            row.update(base_version=self.payload["base_version"], widens=list(self.payload["widens"]))
        return row
