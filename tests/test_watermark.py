"""Approved exports carry their recipient's watermark, and a leaked copy is traced back to them."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest

from custodata.approvals import ApprovalDenied, Approvals, ExportExpired, RequestStateError, read_watermark
from custodata.approvals.watermark import ZERO_WIDTH, find_marks, invisible_mark
from custodata.audit.events import Action, MemorySink, Result
from custodata.errors import NotFoundError
from custodata.ops import OpsStore
from tests.test_approvals import ALICE, BOB, CAROL, SECRET, Clock, Person, approvals, authorize, clock, sink, store

__all__ = ["approvals", "clock", "sink", "store"]  # fixtures shared with test_approvals

DAVE = Person("dave", "steward", branch="SH02")
FIELDS = ["name", "mobile", "address", "birth_date", "segment"]


def _masked_rows(n: int, offset: int = 0) -> list[dict[str, object]]:
    """Rows as mask_view leaves them for a steward: names and mobiles partly hidden."""
    rows: list[dict[str, object]] = []
    for i in range(offset, offset + n):
        rows.append({
            "customer_id": f"C{i + 1:09d}", "name": "张*" if i % 2 else "李**",
            "mobile": f"138****{i:04d}", "address": "北京市朝阳区****", "birth_date": f"{1960 + i % 40}-**-**",
            "segment": "mass" if i % 3 else "affluent", "secret_extra": "must not be exported",
        })
    return rows


def _export(approvals: Approvals, tmp_path: Path, maker: Person = ALICE, n: int = 60, fmt: str = "csv",
            offset: int = 0) -> tuple[str, Path]:
    ids = [f"C{i + 1:09d}" for i in range(offset, offset + n)]
    req = approvals.submit(maker, "export", {"customer_ids": ids, "fields": FIELDS, "purpose": "campaign review",
                                             "format": fmt}, reason="quarterly review")
    approvals.decide(req.request_id, CAROL, approve=True, note="scope ok")
    ex = approvals.produce_export(req.request_id, rows=_masked_rows(n, offset), requester=maker,
                                  out_dir=tmp_path / "exports")
    return ex.export_id, ex.path


def test_invisible_mark_round_trip_and_forgery() -> None:
    mark = invisible_mark(SECRET, "0123456789abcdef")
    assert set(mark) <= set(ZERO_WIDTH) and len(mark) == 48
    assert find_marks(f"张*{mark},138****0001", SECRET) == {"0123456789abcdef": 1}
    assert find_marks(f"x{mark}", b"another secret of 32 bytes......") == {}  # keyed: no forging, no noise
    escaped = json.dumps({"name": "张*" + mark})  # ASCII-escaped JSON still carries it
    assert find_marks(escaped, SECRET) == {"0123456789abcdef": 1}


def test_export_file_is_watermarked_and_limited_to_approved_columns(
    approvals: Approvals, store: OpsStore, sink: MemorySink, tmp_path: Path,
) -> None:
    export_id, path = _export(approvals, tmp_path)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the Chinese text
    text = data.decode("utf-8-sig")
    first = text.splitlines()[0]
    assert "导出人 alice" in first and f"导出编号 {export_id}" in first and "仅限内部使用" in first
    table = list(csv.reader(io.StringIO(text)))[1:]
    assert table[0] == ["customer_id", *FIELDS]
    assert "must not be exported" not in text
    assert len(table) - 1 == 60 + 1  # one canary per 50 rows
    assert path.stat().st_mode & 0o077 == 0
    event = sink.events[-1]
    assert (event.action, event.actor, event.customer_count, list(event.fields)) == (
        Action.EXPORT, "alice", 60, FIELDS)
    assert approvals.get(approvals.export(export_id).request_id).status == "applied"


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_read_back_whole_file_headless_and_pasted_rows(
    approvals: Approvals, store: OpsStore, tmp_path: Path, fmt: str,
) -> None:
    export_id, path = _export(approvals, tmp_path, fmt=fmt)
    other_id, _ = _export(approvals, tmp_path, maker=DAVE, fmt=fmt)  # another recipient, the same customers
    whole = read_watermark(path, store, secret=SECRET)
    assert (whole.export_id, whole.recipient) == (export_id, "alice")
    assert "notice line agrees" in whole.evidence

    lines = path.read_text(encoding="utf-8-sig").splitlines()
    headless = tmp_path / f"headless.{fmt}"
    headless.write_text("\n".join(lines[1:]), encoding="utf-8")
    report = read_watermark(headless, store, secret=SECRET)
    assert (report.export_id, report.recipient) == (export_id, "alice") and "removed" in report.evidence

    pasted = "\n".join(lines[25:45])  # 20 rows copied into a new document
    report = read_watermark(pasted, store, secret=SECRET)
    assert (report.export_id, report.recipient, report.marked_rows) == (export_id, "alice", 20)
    assert other_id != export_id


def test_forged_notice_line_does_not_move_the_blame(approvals: Approvals, store: OpsStore, tmp_path: Path) -> None:
    alice_id, alice_path = _export(approvals, tmp_path)
    dave_id, _ = _export(approvals, tmp_path, maker=DAVE)
    lines = alice_path.read_text(encoding="utf-8-sig").splitlines()
    forged = "\n".join([lines[0].replace(alice_id, dave_id).replace("alice", "dave"), *lines[1:]])
    report = read_watermark(forged, store, secret=SECRET)
    assert report.recipient == "alice" and f"names {dave_id} instead" in report.evidence


def test_canary_rows_trace_a_copy_with_invisible_characters_stripped(
    approvals: Approvals, store: OpsStore, tmp_path: Path,
) -> None:
    export_id, path = _export(approvals, tmp_path, n=120)
    _export(approvals, tmp_path, maker=DAVE, n=120)
    text = path.read_text(encoding="utf-8-sig")
    for ch in ZERO_WIDTH:
        text = text.replace(ch, "")
    stripped = "\n".join(text.splitlines()[1:])
    report = read_watermark(stripped, store, secret=SECRET)
    assert (report.export_id, report.recipient, report.marked_rows) == (export_id, "alice", 0)
    assert report.canary_rows == 2


def test_text_without_marks_is_not_attributed(approvals: Approvals, store: OpsStore, tmp_path: Path) -> None:
    _export(approvals, tmp_path)
    with pytest.raises(NotFoundError, match="no custodata watermark"):
        read_watermark("C000000001,张*,138****0001\n", store, secret=SECRET)


def test_only_the_recipient_downloads_until_expiry(
    approvals: Approvals, store: OpsStore, sink: MemorySink, clock: Clock, tmp_path: Path,
) -> None:
    export_id, path = _export(approvals, tmp_path)
    assert approvals.download(export_id, ALICE) == path
    assert (sink.events[-1].action, sink.events[-1].result) == (Action.DOWNLOAD, Result.OK)
    assert approvals.export(export_id).downloaded_count == 1
    with pytest.raises(ApprovalDenied, match="not addressed to you") as refused:
        approvals.download(export_id, BOB)
    assert "alice" not in str(refused.value)  # the person trying is not told who the recipient is (point 21)
    assert (sink.events[-1].action, sink.events[-1].result) == (Action.DOWNLOAD, Result.DENIED)
    assert "exported to alice only" in (sink.events[-1].reason or "")  # the log says it
    clock.now += dt.timedelta(days=8)
    with pytest.raises(ExportExpired, match="expired"):
        approvals.download(export_id, ALICE)
    assert sink.events[-1].result == Result.FAILED
    assert approvals.purge_expired() == [export_id]
    assert not path.exists() and approvals.export(export_id).purged_at is not None
    # the record outlives the file: a leaked copy is still traced after the purge
    assert path.name.startswith(export_id)


def test_export_only_for_its_maker_and_only_once(approvals: Approvals, tmp_path: Path) -> None:
    req = approvals.submit(ALICE, "export", {"customer_ids": ["C000000001"], "fields": ["name"],
                                             "purpose": "complaint"}, reason="complaint file")
    with pytest.raises(ApprovalDenied, match="may not export.approve"):
        approvals.decide(req.request_id, BOB, approve=True, note="ok")
    approvals.decide(req.request_id, CAROL, approve=True, note="ok")
    with pytest.raises(ApprovalDenied, match="only they receive"):
        approvals.produce_export(req, rows=_masked_rows(1), requester=DAVE, out_dir=tmp_path)
    with pytest.raises(ValueError, match="outside export request"):
        approvals.produce_export(req, rows=_masked_rows(2), requester=ALICE, out_dir=tmp_path)
    approvals.produce_export(req, rows=_masked_rows(1), requester=ALICE, out_dir=tmp_path)
    with pytest.raises(RequestStateError, match="applied"):
        approvals.produce_export(req, rows=_masked_rows(1), requester=ALICE, out_dir=tmp_path)


def test_authorize_is_a_plain_callable() -> None:
    assert authorize(ALICE, "export.request").allowed and not authorize(ALICE, "export.approve").allowed
