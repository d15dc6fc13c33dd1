"""The roles of custodata and the duties no one person may combine.

Chinese banking regulation (三员分立: 系统管理员, 安全管理员, 安全审计员) asks
that the system administrator, the security officer and the auditor be three
different people, so none of them can act and then hide or approve the act.
The administrator and the auditor also hold no role that reaches customer data:
one would read customers through an account they run, the other audit their own reading.
These rules are data (``SOD_CONFLICTS``) so a bank can read them, and
:func:`check_separation` is the one place that enforces them, both when a person
is created and when a role is granted.
"""

from __future__ import annotations

from collections.abc import Iterable

from custodata.identity.errors import IdentityError, SeparationOfDutiesError

ROLES: dict[str, str] = {
    "front_desk": "柜面/客服",
    "outsourced_agent": "外包坐席",
    "marketer": "营销",
    "data_steward": "数据管理员",
    "security_officer": "安全管理员",
    "auditor": "审计",
    "administrator": "系统管理员",
    "integration": "下游系统接口",
}

ROLE_LABELS_EN: dict[str, str] = {
    "front_desk": "Front desk / customer service",
    "outsourced_agent": "Outsourced agent",
    "marketer": "Marketer",
    "data_steward": "Data steward",
    "security_officer": "Security officer",
    "auditor": "Auditor",
    "administrator": "Administrator",
    "integration": "Downstream system (change feed)",
}

# A login without an explicit role acts in the least powerful role held: powers are asked for, never implied.
ROLE_PRECEDENCE: tuple[str, ...] = (
    "integration", "outsourced_agent", "front_desk", "marketer", "data_steward", "auditor", "security_officer",
    "administrator",
)

# Roles that reach customer data (search, read, unmask, change or export it).  The administrator
# creates accounts and proposes grants: holding any of these too would let them read customers in
# plain through an account they run (issue 10 point 5), so administrator excludes every one of them.
CUSTOMER_DATA_ROLES: frozenset[str] = frozenset({
    "front_desk", "outsourced_agent", "marketer", "data_steward", "security_officer",
})

SOD_CONFLICTS: frozenset[frozenset[str]] = frozenset({
    frozenset({"administrator", "auditor"}),
    frozenset({"security_officer", "auditor"}),
    *(frozenset({officer, role}) for officer in ("administrator", "auditor") for role in CUSTOMER_DATA_ROLES),
})


def role_label(role: str) -> str:
    """``"柜面/客服 (front_desk)"``: how people and the console name a role."""
    return f"{ROLES.get(role, role)} ({role})"


def check_role(role: str) -> str:
    """The role if it exists, else an error that lists the roles there are."""
    if role not in ROLES:
        raise IdentityError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    return role


def check_separation(roles: Iterable[str]) -> None:
    """Refuse a set of roles that one person must not hold together."""
    held = frozenset(roles)
    for conflict in sorted(SOD_CONFLICTS, key=sorted):
        if conflict <= held:
            a, b = sorted(conflict)
            raise SeparationOfDutiesError(
                f"separation of duties: one person may not hold both {role_label(a)} and {role_label(b)}")


def default_role(roles: Iterable[str]) -> str | None:
    """The role a login acts in when none is asked for: the first held in :data:`ROLE_PRECEDENCE`."""
    held = set(roles)
    return next((r for r in ROLE_PRECEDENCE if r in held), None)
