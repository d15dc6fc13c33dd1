"""Each domain step on a tiny hand-made financial group: marks, quarantine, reconciliation."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from custodata.engine.store import open_store
from custodata.pipeline import Pipeline
from tests.helpers import state_digest

MINI = Path(__file__).parent / "fixtures" / "mini"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mini")
    Pipeline.create(out, mappings_dir=MINI / "mappings").run(MINI / "data")
    return out


def _con(out: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(out / "custodata.duckdb"), read_only=True)


def test_quarantine_reasons_per_row(run_dir: Path) -> None:
    con = _con(run_dir)
    got = sorted(con.execute("SELECT system, coalesce(record_key, '-'), reason FROM meta.quarantine").fetchall())
    con.close()
    assert got == [
        ("policy_core", "-", "CSV_MALFORMED"),  # P007,broken,line
        ("policy_core", "-", "MISSING_RECORD_KEY"),
        ("policy_core", "P004", "ID_CHECKSUM"),
        ("policy_core", "P005", "DATE_INVALID"),  # 2024-02-30
        ("policy_core", "P006", "AMOUNT_INVALID"),
        ("service_desk", "-", "CSV_MALFORMED"),  # broken JSON line
    ]


def test_quarantine_details_name_the_rule_never_the_value(run_dir: Path) -> None:
    con = _con(run_dir)
    rows = con.execute("SELECT reason, detail, raw FROM meta.quarantine").fetchall()
    con.close()
    assert all(raw is None or raw.startswith("cd1:") for _, _, raw in rows)  # raw rows encrypted
    details = " ".join(str(d) for _, d, _ in rows)
    assert "2024-02-30" not in details and "not a date" in details


def test_counts_reconcile_per_source(run_dir: Path) -> None:
    con = _con(run_dir)
    rows = con.execute("SELECT system, read_rows, accepted, quarantined FROM meta.batch ORDER BY system").fetchall()
    assert rows == [("policy_core", 9, 4, 5), ("service_desk", 4, 3, 1)]
    for system, _read, accepted, quarantined in rows:
        in_domain = con.execute("SELECT count(*) FROM business.total WHERE _source = ?", [system]).fetchone()
        in_quarantine = con.execute("SELECT count(*) FROM meta.quarantine WHERE system = ?", [system]).fetchone()
        assert in_domain is not None and in_domain[0] == accepted
        assert in_quarantine is not None and in_quarantine[0] == quarantined
    con.close()


def test_every_row_keeps_its_marks(run_dir: Path) -> None:
    con = _con(run_dir)
    for table in ("business.auto_policy", "business.service"):
        missing = con.execute(
            f"SELECT count(*) FROM {table} WHERE _source IS NULL OR _business_type IS NULL OR "
            "_batch_id IS NULL OR _ingested_at IS NULL OR length(_record_hash) <> 64"
        ).fetchone()
        assert missing == (0,)
    con.close()


def test_domains_flow_in_order(run_dir: Path) -> None:
    con = _con(run_dir)
    total = con.execute("SELECT count(*) FROM business.total").fetchone()
    assert total == (7,)
    # P002 names a holder and an insured: two party observations from one record
    roles = con.execute(
        "SELECT role FROM customer.party WHERE source = 'policy_core' AND record_key = 'P002' ORDER BY role"
    ).fetchall()
    assert roles == [("insured",), ("policy_holder",)]
    # normalisation: traditional name, full-width digits, province filled from the city
    p = con.execute(
        "SELECT name, mobile, province, district FROM customer.party WHERE obs_id = 'policy_core:P002:policy_holder'"
    ).fetchone()
    assert p is not None and (p[0], p[2], p[3]) == ("张伟", "北京市", "朝阳区")
    # the mobile is stored encrypted, bound to its observation, beside its keyed token
    store = open_store(run_dir / "custodata.duckdb", read_only=True)
    assert p[1].startswith("cd1:")
    assert store.protector.decrypt(p[1], "policy_core:P002:policy_holder|mobile") == "13812345678"
    p8 = con.execute("SELECT mobile, mobile_token FROM customer.party "
                     "WHERE obs_id = 'policy_core:P008:policy_holder'").fetchone()
    assert p8 is not None
    assert store.protector.decrypt(p8[0], "policy_core:P008:policy_holder|mobile") == "13700002222"
    assert p8[1] == store.protector.token("mobile", "13700002222")
    # every observation has exactly one customer; layer sub-domains add up to the total domain
    xref = con.execute("SELECT count(*), count(DISTINCT obs_id) FROM customer.xref").fetchone()
    obs = con.execute("SELECT count(*) FROM customer.party").fetchone()
    assert xref is not None and obs is not None and xref[0] == xref[1] == obs[0]
    layers = con.execute(
        "SELECT (SELECT count(*) FROM layer.individual) + (SELECT count(*) FROM layer.high_net_worth) + "
        "(SELECT count(*) FROM layer.corporate) + (SELECT count(*) FROM layer.sme), "
        "(SELECT count(*) FROM layer.customer_view), (SELECT count(*) FROM customer.golden)"
    ).fetchone()
    assert layers is not None and layers[0] == layers[1] == layers[2]
    con.close()


def test_rerun_is_idempotent(tmp_path: Path) -> None:
    pipeline = Pipeline.create(tmp_path, mappings_dir=MINI / "mappings")
    pipeline.run(MINI / "data")
    first = state_digest(pipeline.store_path)
    again = pipeline.run(MINI / "data")
    assert all(s.skipped for s in again.sources)
    assert state_digest(pipeline.store_path) == first
    forced = pipeline.run(MINI / "data", force=True)
    assert not any(s.skipped for s in forced.sources)
    assert state_digest(pipeline.store_path) == first
