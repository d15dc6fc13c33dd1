"""Demo people [演示人员]: one person per role, so the console and the API can be tried at once.

The passwords are published here on purpose and meet the password policy; they
exist only for demo stores.  Seeding is idempotent: people who exist already
are left as they are (their roles, status and password are not reset), only an
empty portfolio of the outsourced agent is filled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from custodata.identity.directory import Directory
from custodata.identity.errors import PersonExistsError, PersonNotFoundError

DEMO_ACTOR = "system:demo"


@dataclass(frozen=True)
class DemoPerson:
    person_id: str
    display_name: str
    kind: str
    branch: str
    role: str
    password: str
    gets_portfolio: bool = False


DEMO_PEOPLE: tuple[DemoPerson, ...] = (
    DemoPerson("front.bj", "王晓燕", "employee", "北京朝阳支行", "front_desk", "Demo-front-2026"),
    DemoPerson("front.sh", "陈立新", "employee", "上海浦东支行", "front_desk", "Demo-front-sh-2026"),
    DemoPerson("agent.wx", "刘婷", "outsourced", "北京朝阳支行", "outsourced_agent", "Demo-agent-2026",
               gets_portfolio=True),
    DemoPerson("mkt.zhao", "赵明", "employee", "北京朝阳支行", "marketer", "Demo-market-2026"),
    DemoPerson("steward.sun", "孙丽华", "employee", "总行", "data_steward", "Demo-steward-2026"),
    DemoPerson("sec.zhou", "周建国", "employee", "总行", "security_officer", "Demo-security-2026"),
    # a second security officer: a policy import is approved by another one (issue 10 point 6)
    DemoPerson("sec.qian", "钱海燕", "employee", "总行", "security_officer", "Demo-security-qian-2026"),
    DemoPerson("audit.wu", "吴静", "employee", "总行", "auditor", "Demo-audit-2026"),
    DemoPerson("admin.zheng", "郑强", "employee", "总行", "administrator", "Demo-admin-2026"),
    # the account a system downstream follows the change feed with (issue 11 point 4)
    DemoPerson("feed.crm", "CRM 下游接口", "employee", "总行", "integration", "Demo-feed-2026"),
)


def seed_demo_people(directory: Directory, *, portfolio_customers: Sequence[str] = ()) -> list[tuple[str, str, str]]:
    """Create the demo people that are missing; returns ``(person_id, role, password)`` for each of them."""
    seeded: list[tuple[str, str, str]] = []
    for p in DEMO_PEOPLE:
        try:
            directory.person(p.person_id)
        except PersonNotFoundError:
            try:
                directory.create_person(p.person_id, p.display_name, p.kind, p.branch, password=p.password,
                                        roles=(p.role,), by=DEMO_ACTOR)
            except PersonExistsError:  # another process seeded it meanwhile
                pass
        if p.gets_portfolio and portfolio_customers and not directory.portfolio(p.person_id):
            directory.set_portfolio(p.person_id, portfolio_customers, by=DEMO_ACTOR)
        seeded.append((p.person_id, p.role, p.password))
    return seeded
