"""Schemathesis fuzzes every operation of the published spec: no input may produce a server error.

Each operation is called with the token of a role that may use it (so the
generated input reaches the service layer instead of stopping at a 403), on
SQLite, over the deployment's published customers.  Bounded to a few examples
per operation so the file runs in well under two minutes on a shared machine.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from custodata.api import create_app
from custodata.service import Services

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 but works with the pinned httpx
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

PEOPLE = (
    ("fz.front", "王晓燕", "employee", "北京朝阳支行", "front_desk", "Counter-fuzz-2026"),
    ("fz.steward", "孙丽华", "employee", "总行", "data_steward", "Curator-fuzz-2026"),
    ("fz.security", "周建国", "employee", "总行", "security_officer", "Officer-fuzz-2026"),
    ("fz.auditor", "吴静", "employee", "总行", "auditor", "Trail-fuzz-2026"),
    ("fz.admin", "郑强", "employee", "总行", "administrator", "System-fuzz-2026"),
)

# which person each group of routes is fuzzed as: one who may use it
ROUTE_OWNERS: tuple[tuple[str, str], ...] = (
    ("/api/v1/people", "fz.admin"),
    ("/api/v1/policy", "fz.security"),
    ("/api/v1/alerts", "fz.security"),
    ("/api/v1/audit", "fz.auditor"),
    ("/api/v1/requests", "fz.steward"),
    ("/api/v1/exports", "fz.steward"),
    ("/api/v1/catalogue", "fz.steward"),
    ("/api/v1/customers", "fz.steward"),  # scope: all customers, so inputs reach the documents
)


# The spec is read when the module is collected, so the application exists from import on;
# its store is a throwaway SQLite file, people are added by the fixture below.
_FOLDER = Path(tempfile.mkdtemp(prefix="custodata-api-fuzz-"))
_SERVICES = Services.open(_FOLDER / "out", url=f"sqlite:///{_FOLDER / 'ops.sqlite'}")
APP = create_app(_SERVICES)
schema = schemathesis.openapi.from_asgi("/api/openapi.json", APP)


@pytest.fixture(scope="module")
def tokens(deployment_world: Path) -> Iterator[dict[str, str]]:
    """A live token per person (filled by :func:`token_for`); the store is seeded first, removed after.

    The deployment's customers are published into the throwaway store, so customer routes
    are fuzzed against real (encrypted) documents rather than answering "nothing published".
    """
    from custodata.engine.store import open_store
    from custodata.serving.publish import publish_served

    batch = open_store(deployment_world / "custodata.duckdb", read_only=True)
    try:
        publish_served(batch, _SERVICES.ops)
    finally:
        batch.close()
    for person_id, name, kind, branch, role, password in PEOPLE:
        _SERVICES.directory.create_person(person_id, name, kind, branch, password=password, roles=(role,),
                                          by="test")
    try:
        yield {}
    finally:
        _SERVICES.close()
        shutil.rmtree(_FOLDER, ignore_errors=True)


def token_for(tokens: dict[str, str], path: str) -> str | None:
    owner = next((person for prefix, person in ROUTE_OWNERS if path.startswith(prefix)), "fz.front")
    if owner not in tokens:
        password = next(p[5] for p in PEOPLE if p[0] == owner)
        with TestClient(APP) as client:
            r = client.post("/api/v1/login", json={"person_id": owner, "password": password})
        if r.status_code != 200:  # the fuzzer froze or demoted this person: carry on without a token
            return None
        tokens[owner] = r.json()["token"]
    return tokens[owner]


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_input_makes_a_server_error(case: Any, tokens: dict[str, str]) -> None:
    token = token_for(tokens, case.path)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = case.call(headers=headers)
    if response.status_code == 401 or case.path == "/api/v1/logout":
        tokens.clear()  # the token ended: log in again for the next case
    case.validate_response(response, checks=[not_a_server_error])
