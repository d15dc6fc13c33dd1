"""Access decisions [访问控制]: policies as data, one engine for every path.

``document`` validates the policy document (masking + access sections, one
YAML file); ``engine`` answers every question a path asks — may this person
take this action now, reach this customer, unmask this field for this purpose,
and how is this field shown — with the rule id and an explanation;
``store`` keeps every version in the operational store and audits each change.
"""

from custodata.access.actions import ACTIONS, CUSTOMER_DATA_ACTIONS
from custodata.access.engine import AccessDecision, PolicyEngine, Subject
from custodata.access.policy_document import (
    AccessConfig,
    PolicyDocument,
    default_document,
    default_document_yaml,
    parse_document,
    parse_document_yaml,
)
from custodata.access.store import PolicyStore, PolicyVersionInfo

__all__ = [
    "ACTIONS",
    "CUSTOMER_DATA_ACTIONS",
    "AccessConfig",
    "AccessDecision",
    "PolicyDocument",
    "PolicyEngine",
    "PolicyStore",
    "PolicyVersionInfo",
    "Subject",
    "default_document",
    "default_document_yaml",
    "parse_document",
    "parse_document_yaml",
]
