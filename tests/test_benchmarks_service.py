"""Smoke tests of benchmarks/service.py at a couple of hundred customers: right data, right counting.

No timing is asserted (timings on a shared machine prove nothing in a test).  What is
checked: replicated customers open under their own keys and nobody else's, a second
build is skipped, the service path audits every view and the raw peer reads the same
customers, and a whole run through uvicorn answers every request with 200.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from benchmarks import service
from benchmarks.service_data import SEED, build_served, synthetic_id

from custodata.crypto.keyring import customer_key_id
from custodata.errors import CryptoError
from custodata.ops import open_ops
from custodata.ops.store import OpsStore
from custodata.service import Caller, Services
from custodata.service import customers as customer_service
from custodata.service.demo import DemoLogin, seed_demo
from custodata.serving.served_view import ServedView
from custodata.serving.tables import served_customer, served_key

TEMPLATES = 60
CUSTOMERS = 200


def _quiet(_: str) -> None:
    return None


@pytest.fixture(scope="module")
def seed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from benchmarks.service_data import ensure_seed

    return ensure_seed(tmp_path_factory.mktemp("service-bench"), TEMPLATES, SEED, _quiet)


@pytest.fixture
def ops(ops_url: str) -> Iterator[OpsStore]:
    # the served keys are wrapped under the session's KEK file (CUSTODATA_KEK_FILE, set by conftest)
    store = open_ops(ops_url)
    yield store
    store.close()


def test_replicated_customers_open_under_their_own_keys(ops: OpsStore, seed_dir: Path) -> None:
    report = build_served(ops, seed_dir, CUSTOMERS, templates=TEMPLATES, say=_quiet)
    assert report.built and report.customers == CUSTOMERS and report.templates > 0
    with ops.read() as con:
        n = con.execute(sa.select(sa.func.count()).select_from(served_customer)
                        .where(served_customer.c.generation == report.generation)).scalar_one()
        keys = set(con.execute(sa.select(served_key.c.key_id)).scalars())
    assert n == CUSTOMERS
    assert {customer_key_id(synthetic_id(i)) for i in range(1, CUSTOMERS + 1)} <= keys

    view = ServedView(ops)
    first, twin = synthetic_id(1), synthetic_id(1 + report.templates)  # copies of the same template
    a, b = view.get(first), view.get(twin)
    assert a["customer_id"] == first and b["customer_id"] == twin
    enc_a, enc_b = view.get_encrypted(first), view.get_encrypted(twin)
    protected = [f for f, v in enc_a["profile"].items() if isinstance(v, str) and v.startswith("cd1:")]
    assert protected, "the template has no protected profile field"
    for f in protected:
        assert enc_a["profile"][f].startswith(f"cd1:{customer_key_id(first)}:")
        assert enc_a["profile"][f] != enc_b["profile"][f]
        assert a["profile"][f] == b["profile"][f] and not a["profile"][f].startswith("cd1:")
    # a ciphertext moved to the twin does not open there
    moved = {**enc_b, "profile": {**enc_b["profile"], protected[0]: enc_a["profile"][protected[0]]}}
    from custodata.serving.customer_360 import decrypt_view

    with pytest.raises(CryptoError):
        decrypt_view(moved, view.protector)


def test_a_second_build_is_reused(ops: OpsStore, seed_dir: Path) -> None:
    built = build_served(ops, seed_dir, CUSTOMERS, templates=TEMPLATES, say=_quiet)
    again = build_served(ops, seed_dir, CUSTOMERS, templates=TEMPLATES, say=_quiet)
    assert not again.built and again.generation == built.generation and again.templates == built.templates


def test_service_views_are_audited_and_the_raw_peer_reads_the_same(ops: OpsStore, seed_dir: Path) -> None:
    report = build_served(ops, seed_dir, CUSTOMERS, templates=TEMPLATES, say=_quiet)
    svc = Services(ops, seed_dir)
    logins: dict[str, DemoLogin] = {}
    for demo in seed_demo(svc):
        logins.setdefault(demo.role, demo)
    steward = logins["data_steward"]
    session = svc.directory.login(steward.person_id, steward.password, role="data_steward")
    caller = Caller(svc.directory.authenticate(session.token), "127.0.0.1")
    ids = [synthetic_id(i) for i in (1, 77, CUSTOMERS)]
    before = service.audit_reads(ops, steward.person_id)
    for cid in ids:
        assert customer_service.view(svc, caller, cid, purpose=service.PURPOSE)["customer_id"] == cid
    assert service.audit_reads(ops, steward.person_id) - before == len(ids)

    raw = service.raw_lookups(ops.url, report.generation, ids, clients=3, seconds=0.3, warmup=0.05)
    assert raw.errors == 0 and raw.latencies_ms

    front = logins["front_desk"]
    branches = service._template_branches(ops, report.generation, report.templates)
    import random

    chosen = service.customer_ids(CUSTOMERS, random.Random(1), branch=front.branch, template_branches=branches,
                                  count=50)
    served = ServedView(ops)
    assert all(front.branch in served.branches_of(cid) for cid in chosen)


@pytest.mark.parametrize(("values", "q", "expected"), [
    ([], 50, 0.0), ([7.0], 99, 7.0), ([1.0, 2.0, 3.0, 4.0], 50, 2.0), ([1.0, 2.0, 3.0, 4.0], 95, 4.0),
    ([float(i) for i in range(1, 101)], 95, 95.0), ([float(i) for i in range(1, 101)], 99, 99.0),
])
def test_percentile_is_nearest_rank(values: list[float], q: float, expected: float) -> None:
    assert service.percentile(values, q) == expected


def test_a_whole_run_through_uvicorn_answers_every_request(seed_dir: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "figures.json"
    report = service.main(["--engines", "sqlite", "--customers", str(CUSTOMERS), "--templates", str(TEMPLATES),
                           "--seconds", "1", "--warmup", "0.3", "--workers", "1", "--clients", "4",
                           "--data-dir", str(seed_dir), "--json", str(out)])
    printed = capsys.readouterr().out
    runs = report["runs"]
    assert {(r["scenario"], r["role"]) for r in runs} == {
        ("service", "data_steward"), ("raw", "data_steward"), ("service", "front_desk"), ("raw", "front_desk")}
    for r in runs:
        assert r["summary"]["errors"] == 0, r["error_samples"]
        assert r["summary"]["requests"] > 0
        if r["scenario"] == "service":
            assert r["audit_ok"] is True and r["audit_reads_added"] > 0
    assert len(report["ratios"]) == 2
    assert json.loads(out.read_text(encoding="utf-8"))["ratios"] == report["ratios"]
    assert "| sqlite | API 360° view | data_steward | 1 |" in printed
    assert "service/raw" in printed
