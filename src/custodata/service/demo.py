"""A demo deployment's people: one per role, placed in branches that really hold customers.

The generated group's branches come from its data (支行 of the bank, 分公司 of the
insurers), so branch-bound people (front desk, marketer, outsourced agent) are
put in the branches with the most served customers — otherwise a newcomer logging
in as a front-desk clerk would find nobody.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import sqlalchemy as sa

from custodata.identity.demo import DEMO_ACTOR, DEMO_PEOPLE, DemoPerson
from custodata.identity.errors import PersonExistsError, PersonNotFoundError
from custodata.service.context import Services
from custodata.serving.tables import ACTIVE, served_customer, served_generation

BRANCH_BOUND = ("front_desk", "outsourced_agent", "marketer")
PORTFOLIO_SIZE = 25  # at most; never the whole branch, so the agent meets customers outside it


@dataclass(frozen=True)
class DemoLogin:
    person_id: str
    display_name: str
    role: str
    branch: str
    password: str


def branch_customers(svc: Services) -> dict[str, list[str]]:
    """Active generation's customers per branch, most populated branch first (customer ids sorted)."""
    with svc.ops.read() as con:
        generation = con.execute(
            sa.select(sa.func.max(served_generation.c.generation)).where(served_generation.c.status == ACTIVE)
        ).scalar()
        if generation is None:
            return {}
        rows = con.execute(
            sa.select(served_customer.c.customer_id, served_customer.c.branches)
            .where(served_customer.c.generation == generation).order_by(served_customer.c.customer_id)
        ).all()
    members: dict[str, list[str]] = {}
    for cid, branches in rows:
        for b in (branches or "").split("|"):
            if b:
                members.setdefault(b, []).append(str(cid))
    order = Counter({b: len(ids) for b, ids in members.items()})
    return {b: members[b] for b, _ in order.most_common()}


def _placed(people: tuple[DemoPerson, ...], branches: list[str]) -> list[DemoPerson]:
    """Branch-bound people into the busiest branches: the first front desk, agent and marketer share one."""
    if not branches:
        return list(people)
    out, front_desks = [], 0
    for p in people:
        if p.role == "front_desk":
            out.append(replace(p, branch=branches[min(front_desks, len(branches) - 1)]))
            front_desks += 1
        elif p.role in BRANCH_BOUND:
            out.append(replace(p, branch=branches[0]))
        else:
            out.append(p)
    return out


def seed_demo(svc: Services) -> list[DemoLogin]:
    """Seed the policy and the demo people (idempotent); the agent's portfolio comes from its branch."""
    svc.policies.seed_default(by=DEMO_ACTOR)
    by_branch = branch_customers(svc)
    branches = list(by_branch)
    logins = []
    for p in _placed(DEMO_PEOPLE, branches):
        try:
            svc.directory.person(p.person_id)
        except PersonNotFoundError:
            try:
                svc.directory.create_person(p.person_id, p.display_name, p.kind, p.branch, password=p.password,
                                            roles=(p.role,), by=DEMO_ACTOR)
            except PersonExistsError:
                pass
        if p.gets_portfolio and branches and not svc.directory.portfolio(p.person_id):
            members = by_branch[p.branch]
            share = members[: max(1, min(PORTFOLIO_SIZE, len(members) // 2))]
            svc.directory.set_portfolio(p.person_id, share, by=DEMO_ACTOR)
        person = svc.directory.person(p.person_id)
        logins.append(DemoLogin(p.person_id, p.display_name, p.role, person.branch, p.password))
    return logins


DEMO_SCENARIOS = ("hoarding", "off_hours_bulk", "departing_exfiltration", "repeated_unmask")


def demo_alerts(svc: Services, folder: Path) -> int:
    """A simulated month of a branch network's activity, with labelled insiders, scored for the dashboard.

    The simulated staff are not the demo people (they never log in), so the alerts are stored
    for the security officer's dashboard without freezing anyone; the files stay in ``folder``
    for ``custodata detect``.  Returns the number of alerts stored (idempotent).
    """
    from custodata.demo.monitoring_world_a import SimulationConfig, simulate, write_outputs
    from custodata.monitoring.detectors import detect
    from custodata.monitoring.events import load_events
    from custodata.monitoring.people import read_customers, read_people
    from custodata.monitoring.store import AlertStore

    config = SimulationConfig(people=40, days=20, inject=DEMO_SCENARIOS, cases_per_scenario=1, seed=7)
    write_outputs(simulate(config), folder)
    events, _ = load_events(folder / "events.jsonl")
    alerts = detect(events, read_people(folder / "people.csv"), read_customers(folder / "customers.csv"))
    AlertStore(svc.ops, svc.audit).save(alerts)
    return len(alerts)
