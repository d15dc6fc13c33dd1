"""Approved golden-record changes carried out on a real (tiny) pipeline store."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from custodata.approvals import Approvals, proposed_value
from custodata.audit.events import Action, MemorySink
from custodata.engine.store import open_store
from custodata.ops import OpsStore, open_ops
from custodata.pipeline import Pipeline
from custodata.resolution.steward import CorrectionError
from tests.test_approvals import ALICE, BOB, SECRET, authorize

MINI = Path(__file__).parent / "fixtures" / "mini"
CAROL_T1 = "C000000007"  # the service-desk caller 张玮 (T1): a customer of their own, no address on file


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("approvals-mini")
    Pipeline.create(out, mappings_dir=MINI / "mappings").run(MINI / "data")
    return out


@pytest.fixture
def pipeline(built: Path, tmp_path: Path) -> Pipeline:
    out = tmp_path / "out"
    shutil.copytree(built, out)
    return Pipeline.create(out, mappings_dir=MINI / "mappings")


@pytest.fixture
def ops(ops_url: str) -> Iterator[OpsStore]:
    store = open_ops(ops_url)
    yield store
    store.close()


def _golden(pipeline: Pipeline, customer_id: str) -> tuple[dict[str, object], list[tuple[str, str]], str | None]:
    store = open_store(pipeline.store_path, read_only=True)
    try:
        cur = store.con.execute("SELECT * FROM customer.golden WHERE customer_id = ?", [customer_id])
        cols = [d[0] for d in cur.description or []]
        row = dict(zip(cols, cur.fetchone() or (), strict=True))
        history = store.con.execute(
            "SELECT field, cause FROM customer.history WHERE customer_id = ? AND cause LIKE 'correction%' "
            "ORDER BY field", [customer_id]).fetchall()
        mobile = store.protector.decrypt(str(row["mobile"]), f"{customer_id}|mobile") if row.get("mobile") else None
        return row, history, mobile
    finally:
        store.close()


def test_field_corrections_reach_the_golden_record_and_survive_reruns(pipeline: Pipeline, ops: OpsStore) -> None:
    sink = MemorySink()
    batch = open_store(pipeline.store_path, read_only=True)
    try:
        approvals = Approvals(ops, sink, authorize=authorize, watermark_secret=SECRET, sealer=batch.protector)
        name = approvals.submit(ALICE, "edit_field", {"customer_id": CAROL_T1, "field": "address",
                                                      "value": "北京市朝阳区建国路2号"}, reason="customer called in")
        mobile = approvals.submit(ALICE, "edit_field", {"customer_id": CAROL_T1, "field": "mobile",
                                                        "value": "139-0000-1111"}, reason="new number")
        assert str(mobile.payload["value"]).startswith("cd1:")  # sealed in the operational store
        assert proposed_value(mobile, batch.protector) == "13900001111"  # the checker can be shown it
        token = batch.protector.token("mobile", "13900001111")
    finally:
        batch.close()
    for req in (name, mobile):
        approvals.decide(req.request_id, BOB, approve=True, note="verified by call-back")
        assert approvals.apply_change(req.request_id, pipeline).status == "applied"
    assert [e.action for e in sink.events[-2:]] == [Action.APPROVE, Action.EDIT]

    row, history, plain_mobile = _golden(pipeline, CAROL_T1)
    assert row["address"] == "北京市朝阳区建国路2号"
    assert plain_mobile == "13900001111" and row["mobile_token"] == token
    assert history == [("address", f"correction: {name.request_id}"), ("mobile", f"correction: {mobile.request_id}")]

    pipeline.run(MINI / "data", force=True)  # a new batch: survivorship does not undo the steward's fix
    row, _history, plain_mobile = _golden(pipeline, CAROL_T1)
    assert (row["address"], plain_mobile) == ("北京市朝阳区建国路2号", "13900001111")


def test_merge_and_unmerge_through_approvals(pipeline: Pipeline, ops: OpsStore) -> None:
    approvals = Approvals(ops, MemorySink(), authorize=authorize, watermark_secret=SECRET)
    merge = approvals.submit(ALICE, "merge", {"survivor": "C000000001", "absorbed": CAROL_T1},
                             reason="张玮 is 张伟 (same mobile)")
    approvals.decide(merge.request_id, BOB, approve=True, note="call recording checked")
    done = approvals.apply_change(merge.request_id, pipeline)
    assert done.result == {"result": ["C000000001", "merge #1"]}
    store = open_store(pipeline.store_path, read_only=True)
    gone = store.con.execute("SELECT count(*) FROM customer.golden WHERE customer_id = ?", [CAROL_T1]).fetchone()
    assert gone == (0,)
    store.close()
    unmerge = approvals.submit(ALICE, "unmerge", {"customer_id": "C000000001"}, reason="different people")
    approvals.decide(unmerge.request_id, BOB, approve=True, note="ID numbers differ")
    assert approvals.apply_change(unmerge.request_id, pipeline).result == {"result": [CAROL_T1]}
    row, _history, _mobile = _golden(pipeline, CAROL_T1)
    assert row["customer_id"] == CAROL_T1


def test_correction_of_unknown_customer_fails_and_is_recorded(pipeline: Pipeline, ops: OpsStore) -> None:
    approvals = Approvals(ops, MemorySink(), authorize=authorize, watermark_secret=SECRET)
    req = approvals.submit(ALICE, "edit_field", {"customer_id": "C000000999", "field": "name", "value": "王五"},
                           reason="typo")
    approvals.decide(req.request_id, BOB, approve=True, note="ok")
    with pytest.raises(LookupError, match="C000000999 not found"):
        approvals.apply_change(req.request_id, pipeline)
    assert approvals.get(req.request_id).status == "failed"


def test_steward_refuses_uncorrectable_fields(pipeline: Pipeline) -> None:
    with pytest.raises(CorrectionError, match="cannot be corrected"):
        pipeline.steward("correct", customer_id=CAROL_T1, field="province", value="北京市", reason="x", by="u")
