"""The audit event schema: one record per access, login, denial, edit, export or policy change.

This is the contract between custodata's audit log, the insider-leak monitoring
that reads it, and access logs of other bank systems mapped onto it
(documented in ``docs/audit-events.md``).  Customer data never appears in an
event: customers are named by their custodata id, fields by canonical name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class Action(StrEnum):
    LOGIN = "login"
    LOGOUT = "logout"
    READ = "read"              # a customer's 360° view (masked)
    SEARCH = "search"          # search-before-create; customer_ids are the hits
    UNMASK = "unmask"          # one field of one customer shown in plain, with a purpose
    EXPORT_REQUEST = "export_request"
    EXPORT = "export"          # an approved export file produced
    DOWNLOAD = "download"      # an export file fetched
    CHANGE_REQUEST = "change_request"  # golden-record edit, merge or unmerge asked for
    APPROVE = "approve"
    REJECT = "reject"
    EDIT = "edit"              # an approved change applied
    POLICY_CHANGE = "policy_change"
    IDENTITY_CHANGE = "identity_change"  # person created, status changed, role granted/revoked
    AUDIT_QUERY = "audit_query"
    AUDIT_VERIFY = "audit_verify"
    ADMIN = "admin"            # other administration (catalogue decisions, key rotation …)


class Result(StrEnum):
    OK = "ok"
    DENIED = "denied"          # refused by policy (the reason says which rule)
    FAILED = "failed"          # e.g. wrong password, bad input, not found
    ERROR = "error"            # the system failed


@dataclass(frozen=True)
class AuditEvent:
    """One audited action. ``at`` is UTC; ``customer_count`` is ``len(customer_ids)`` unless bulk."""

    actor: str                                 # person id (login name), or "-" for an unknown login
    action: Action | str
    result: Result | str = Result.OK
    role: str | None = None                    # the role the actor acted in
    branch: str | None = None                  # the actor's branch
    customer_ids: Sequence[str] = ()
    customer_count: int | None = None          # for bulk actions (export) where ids are not listed
    fields: Sequence[str] = ()                 # canonical field names touched
    purpose: str | None = None                 # purpose of use, when stated
    source_address: str | None = None          # client IP
    reason: str | None = None                  # why denied/failed, or the decision's explanation
    detail: dict[str, Any] = field(default_factory=dict)  # action-specific, never customer data
    at: dt.datetime | None = None              # set by the log when None
    system: str = "custodata"                  # the system the event comes from (mapped logs differ)

    def count(self) -> int:
        return self.customer_count if self.customer_count is not None else len(self.customer_ids)


class AuditSink(Protocol):
    """Where events go: the hash-chained log in production, a list in unit tests."""

    def append(self, event: AuditEvent) -> int:
        """Append durably and return the event's sequence number."""
        ...


class MemorySink:
    """An :class:`AuditSink` for unit tests of modules that only emit events."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def append(self, event: AuditEvent) -> int:
        self.events.append(event)
        return len(self.events)
