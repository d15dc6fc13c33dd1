"""A small real deployment for service, API and console tests.

Generated data → the pipeline → the served view in the operational store (SQLite in
the output folder, or a fresh PostgreSQL database) → the shipped policy and the demo
people for every role.  ``sample`` names customers in and out of each person's reach.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from custodata.demo.sources import generate
from custodata.engine.store import open_store
from custodata.ops import open_ops
from custodata.pipeline import Pipeline
from custodata.service import Services
from custodata.service.demo import DemoLogin, branch_customers, seed_demo
from custodata.serving.publish import publish_served
from tests.conftest import _drop_pg_database, _fresh_pg_database

CUSTOMERS = 300
# the policy's time windows (outsourced 08:00-21:00, marketing 08:30-18:30 on weekdays, Asia/Shanghai)
# are judged at this instant, a Wednesday 11:00 in Shanghai, so results do not depend on when tests run;
# tests of the windows themselves set ``svc.clock`` explicitly
WORKDAY_MORNING = dt.datetime(2026, 11, 25, 3, 0)  # naive UTC


@dataclass
class Deployment:
    svc: Services
    out: Path
    url: str
    logins: dict[str, DemoLogin]            # role -> the demo person acting in it (first of its role)
    people: dict[str, DemoLogin]            # person_id -> login
    sample: dict[str, str] = field(default_factory=dict)
    """in_branch: a customer of the front desk's/agent's branch; out_of_branch: one elsewhere;
    portfolio: in the agent's portfolio; outside_portfolio: in the agent's branch, not its portfolio."""


def build_world(base: Path, customers: int = CUSTOMERS, seed: int = 5) -> Path:
    """A pipeline run into ``base/out`` (its served view goes to the SQLite store there)."""
    out = base / "out"
    generate(customers, seed, out / "raw")
    Pipeline.create(out).run(out / "raw")
    return out


def deploy(out: Path, url: str) -> Deployment:
    ops = open_ops(url)
    if not url.startswith("sqlite"):  # the pipeline published to the SQLite default; serve here too
        batch = open_store(out / "custodata.duckdb", read_only=True)
        try:
            publish_served(batch, ops)
        finally:
            batch.close()
    svc = Services(ops, out, clock=lambda: WORKDAY_MORNING)
    logins = seed_demo(svc)
    by_role: dict[str, DemoLogin] = {}
    for login in logins:
        by_role.setdefault(login.role, login)
    by_branch = branch_customers(svc)
    agent = by_role["outsourced_agent"]
    portfolio = svc.directory.portfolio(agent.person_id)
    home = by_branch[by_role["front_desk"].branch]
    elsewhere = [c for ids in by_branch.values() for c in ids if c not in set(home)]
    sample = {
        "in_branch": home[0],
        "out_of_branch": elsewhere[0],
        "portfolio": portfolio[0],
        "outside_portfolio": next(c for c in by_branch[agent.branch] if c not in portfolio),
    }
    return Deployment(svc, out, url, by_role, {login.person_id: login for login in logins}, sample)


@pytest.fixture(scope="session")
def deployment_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_world(tmp_path_factory.mktemp("deployment"))


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def deployment(request: pytest.FixtureRequest, deployment_world: Path) -> Iterator[Deployment]:
    """The deployment on each engine (session-wide: tests must not change shared state they rely on)."""
    if request.param == "sqlite":
        dep = deploy(deployment_world, f"sqlite:///{deployment_world / 'custodata.sqlite'}")
        yield dep
        dep.svc.close()
        return
    name, url = _fresh_pg_database()
    dep = deploy(deployment_world, url)
    try:
        yield dep
    finally:
        dep.svc.close()
        _drop_pg_database(name)


class Clock:
    """A settable service clock (naive UTC, like the store)."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            return self.at

    def tick(self, seconds: int = 61) -> None:
        with self._lock:
            self.at += dt.timedelta(seconds=seconds)


@pytest.fixture
def on_day(deployment: Deployment) -> Iterator[Any]:
    """Set the deployment's clock for one test; put the old one back after."""
    before = deployment.svc.clock

    def set_clock(at: dt.datetime) -> Clock:
        clock = Clock(at)
        deployment.svc.clock = clock
        return clock

    yield set_clock
    deployment.svc.clock = before
