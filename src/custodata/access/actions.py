"""The actions a person may be permitted: the vocabulary every path (API, console, exports, CLI) asks about.

Policies name these strings; a policy naming anything else fails at load, so a
typo cannot silently grant or withhold nothing.  Deny rules may also name a
group (``export.*``) or everything (``*``).
"""

from __future__ import annotations

from collections.abc import Iterable

CUSTOMER_SEARCH = "customer.search"
CUSTOMER_READ = "customer.read"
CUSTOMER_UNMASK = "customer.unmask"
CUSTOMER_LINEAGE = "customer.lineage"
CUSTOMER_CREATE = "customer.create"
CHANGE_REQUEST = "change.request"
CHANGE_APPROVE = "change.approve"
EXPORT_REQUEST = "export.request"
EXPORT_APPROVE = "export.approve"
EXPORT_DOWNLOAD = "export.download"
AUDIT_READ = "audit.read"
AUDIT_VERIFY = "audit.verify"
AUDIT_EXPORT = "audit.export"
POLICY_READ = "policy.read"
POLICY_WRITE = "policy.write"
PEOPLE_READ = "people.read"
PEOPLE_WRITE = "people.write"
CATALOGUE_READ = "catalogue.read"
CATALOGUE_WRITE = "catalogue.write"
DOMAINS_READ = "domains.read"
ALERTS_READ = "alerts.read"
ALERTS_TRIAGE = "alerts.triage"
CHANGES_READ = "changes.read"

# action -> what it lets a person do (shown by `custodata policy check` and the console)
ACTIONS: dict[str, str] = {
    CUSTOMER_SEARCH: "search customers (search before create)",
    CUSTOMER_READ: "read a customer's 360° view, masked",
    CUSTOMER_UNMASK: "see one field of one customer in plain, with a stated purpose",
    CUSTOMER_LINEAGE: "see which source records made a customer",
    CUSTOMER_CREATE: "create a customer in the master after a search (a likely duplicate needs a steward)",
    CHANGE_REQUEST: "ask for a golden-record edit, merge or unmerge",
    CHANGE_APPROVE: "approve or reject someone else's change request",
    EXPORT_REQUEST: "ask for a bulk export of customer data",
    EXPORT_APPROVE: "approve or reject someone else's export request",
    EXPORT_DOWNLOAD: "download an approved export addressed to oneself",
    AUDIT_READ: "query the audit log",
    AUDIT_VERIFY: "verify the audit log's hash chain",
    AUDIT_EXPORT: "export the audit log",
    POLICY_READ: "read the access and masking policy and its history",
    POLICY_WRITE: "import a new policy version",
    PEOPLE_READ: "list people, their roles and status",
    PEOPLE_WRITE: "create people, change status, grant and revoke roles",
    CATALOGUE_READ: "read the catalogue of sensitive fields",
    CATALOGUE_WRITE: "confirm or correct the catalogue",
    DOMAINS_READ: "read domain statistics (counts, quality), no customer values",
    ALERTS_READ: "read monitoring alerts",
    ALERTS_TRIAGE: "triage alerts, freeze accounts",
    CHANGES_READ: "read the change feed: which customers changed, how and which fields by name, no values",
}

# Actions that touch customer data: time windows restrict these, not administration.
CUSTOMER_DATA_ACTIONS: frozenset[str] = frozenset({
    CUSTOMER_SEARCH,
    CUSTOMER_READ,
    CUSTOMER_UNMASK,
    CUSTOMER_LINEAGE,
    CUSTOMER_CREATE,
    CHANGE_REQUEST,
    CHANGE_APPROVE,
    EXPORT_REQUEST,
    EXPORT_APPROVE,
    EXPORT_DOWNLOAD,
})


def matches(pattern: str, action: str) -> bool:
    """``pattern`` is an action, a group ``prefix.*`` or ``*``."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return action.startswith(pattern[:-1])
    return pattern == action


def expand(pattern: str, actions: Iterable[str] = ACTIONS) -> tuple[str, ...]:
    """The known actions a pattern stands for (empty: the pattern names nothing)."""
    return tuple(a for a in actions if matches(pattern, a))
