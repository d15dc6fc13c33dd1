"""Approved exports carry their recipient's watermark, and a leaked copy is traced back to them."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from pathlib import Path

import pytest

from custodata.approvals import ApprovalDenied, Approvals, ExportExpired, RequestStateError, read_watermark
from custodata.approvals.exports import COLUMN_LABELS
from custodata.approvals.watermark import ZERO_WIDTH, find_marks, find_visible_marks, invisible_mark, visible_code
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


def test_mark_column_code_round_trip_and_forgery() -> None:
    code = visible_code(SECRET, "0123456789abcdef")
    assert len(code) == 20 and code.isalnum() and not set(code) & set("ILOU")
    assert find_visible_marks(f"C000000001,张*,138****0001,00007-{code}\r\n", SECRET) == {"0123456789abcdef": 1}
    assert find_visible_marks(f"00007-{code}", b"another secret of 32 bytes......") == {}  # keyed: no forging
    tampered = code[:-1] + ("0" if code[-1] != "0" else "1")
    assert find_visible_marks(f"00007-{tampered}", SECRET) == {}
    assert find_visible_marks(f"X00007-{code}", SECRET) == {}  # only a whole cell's code


def test_invisible_mark_of_earlier_files_is_still_read() -> None:
    mark = invisible_mark(SECRET, "0123456789abcdef")
    assert set(mark) <= set(ZERO_WIDTH) and len(mark) == 48
    assert find_marks(f"张*{mark},138****0001", SECRET) == {"0123456789abcdef": 1}
    assert find_marks(f"x{mark}", b"another secret of 32 bytes......") == {}  # keyed: no forging, no noise
    escaped = json.dumps({"name": "张*" + mark})  # ASCII-escaped JSON still carries it
    assert find_marks(escaped, SECRET) == {"0123456789abcdef": 1}


def _table(text: str) -> list[list[str]]:
    """The CSV's table: from its header line to the blank line before the notice."""
    rows = list(csv.reader(io.StringIO(text)))
    return rows[:rows.index([])]


def test_export_file_is_watermarked_and_limited_to_approved_columns(
    approvals: Approvals, store: OpsStore, sink: MemorySink, tmp_path: Path,
) -> None:
    export_id, path = _export(approvals, tmp_path)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the Chinese text
    text = data.decode("utf-8-sig")
    # the first line is the header a spreadsheet filters on, in Chinese; the notice comes after the table
    table = _table(text)
    assert table[0] == ["客户号", "姓名", "手机号码", "地址", "出生日期", "客群", "导出标记"]
    last = text.splitlines()[-1]
    assert "导出人 alice" in last and f"导出编号 {export_id}" in last and "仅限内部使用" in last
    assert "共 61 行" in last and "(Asia/Shanghai)" in last
    assert "must not be exported" not in text
    assert len(table) - 1 == 60 + 1  # one canary per 50 rows
    assert path.stat().st_mode & 0o077 == 0
    event = sink.events[-1]
    assert (event.action, event.actor, event.customer_count, list(event.fields)) == (
        Action.EXPORT, "alice", 60, FIELDS)
    assert approvals.get(approvals.export(export_id).request_id).status == "applied"


def test_cells_hold_exactly_the_values_so_filters_find_what_people_type(
    approvals: Approvals, tmp_path: Path,
) -> None:
    _, path = _export(approvals, tmp_path)
    text = path.read_text(encoding="utf-8-sig")
    assert not set(text) & set(ZERO_WIDTH) and "\u2060" not in text  # nothing invisible anywhere
    table = _table(text)
    header, body = table[0], table[1:]
    by_id = {r[0]: dict(zip(header, r, strict=True)) for r in body}
    for want in _masked_rows(60):
        got = by_id[str(want["customer_id"])]
        assert [got["姓名"], got["手机号码"], got["地址"], got["客群"]] == [
            want["name"], want["mobile"], want["address"], want["segment"]]
    # a filter on 姓名 = 张* finds every such customer (and the odd canary shaped like them)
    typed = [r for r in by_id.values() if r["姓名"] == "张*"]
    assert len([r for r in typed if not r["客户号"].startswith("C9")]) == 30
    # each row's mark: its number in the file, then the export's code
    marks = [r[-1] for r in body]
    assert [m.split("-")[0] for m in marks] == [f"{i:05d}" for i in range(1, len(body) + 1)]
    assert len({m.split("-")[1] for m in marks}) == 1


def test_export_times_are_local_to_the_second(approvals: Approvals, tmp_path: Path) -> None:
    req = approvals.submit(ALICE, "export", {"customer_ids": ["C000000001"], "fields": ["name", "last_updated"],
                                             "purpose": "campaign review"}, reason="review")
    approvals.decide(req.request_id, CAROL, approve=True, note="ok")
    rows = [{"customer_id": "C000000001", "name": "张*", "last_updated": "2026-03-04T03:00:00"}]
    ex = approvals.produce_export(req.request_id, rows=rows, requester=ALICE, out_dir=tmp_path / "x")
    table = _table(ex.path.read_text(encoding="utf-8-sig"))
    assert table[0][:3] == ["客户号", "姓名", "最近更新"]
    real = next(r for r in table[1:] if r[0] == "C000000001")
    assert real[2] == "2026-03-04 11:00:00"  # 03:00 UTC is 11:00 in Beijing
    canary = next(r for r in table[1:] if r[0] != "C000000001")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", canary[2])  # shaped like the real ones


def test_export_headers_say_what_the_console_says() -> None:
    from custodata.console.i18n import ZH

    for field, label in COLUMN_LABELS.items():
        if f"field.{field}" in ZH:
            assert ZH[f"field.{field}"] == label, field


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_read_back_whole_file_without_notice_and_pasted_rows(
    approvals: Approvals, store: OpsStore, tmp_path: Path, fmt: str,
) -> None:
    export_id, path = _export(approvals, tmp_path, fmt=fmt)
    other_id, _ = _export(approvals, tmp_path, maker=DAVE, fmt=fmt)  # another recipient, the same customers
    whole = read_watermark(path, store, secret=SECRET)
    assert (whole.export_id, whole.recipient) == (export_id, "alice")
    assert "notice line agrees" in whole.evidence

    lines = [line for line in path.read_text(encoding="utf-8-sig").splitlines() if "导出人" not in line]
    cut = tmp_path / f"cut.{fmt}"
    cut.write_text("\n".join(lines), encoding="utf-8")
    report = read_watermark(cut, store, secret=SECRET)
    assert (report.export_id, report.recipient) == (export_id, "alice") and "removed" in report.evidence

    pasted = "\n".join(lines[25:45])  # 20 rows copied into a new document
    report = read_watermark(pasted, store, secret=SECRET)
    assert (report.export_id, report.recipient, report.marked_rows) == (export_id, "alice", 20)
    assert other_id != export_id


def test_forged_notice_line_does_not_move_the_blame(approvals: Approvals, store: OpsStore, tmp_path: Path) -> None:
    alice_id, alice_path = _export(approvals, tmp_path)
    dave_id, _ = _export(approvals, tmp_path, maker=DAVE)
    text = alice_path.read_text(encoding="utf-8-sig")
    forged = "\n".join(line.replace(alice_id, dave_id).replace("alice", "dave") if "导出人" in line else line
                        for line in text.splitlines())
    report = read_watermark(forged, store, secret=SECRET)
    assert report.recipient == "alice" and f"names {dave_id} instead" in report.evidence


def test_canary_rows_trace_a_copy_with_the_mark_column_deleted(
    approvals: Approvals, store: OpsStore, tmp_path: Path,
) -> None:
    export_id, path = _export(approvals, tmp_path, n=120)
    _export(approvals, tmp_path, maker=DAVE, n=120)
    table = _table(path.read_text(encoding="utf-8-sig"))
    assert table[0][-1] == "导出标记"
    buf = io.StringIO()
    csv.writer(buf).writerows(row[:-1] for row in table)  # the column deleted, the notice left behind
    report = read_watermark(buf.getvalue(), store, secret=SECRET)
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


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_cells_a_person_reads_carry_the_consoles_labels(
    approvals: Approvals, store: OpsStore, tmp_path: Path, fmt: str,
) -> None:
    """Issue 14: 性别 女, not F; 客户类型 个人, not individual; 来源系统 in words; JSON lines keep the codes."""
    fields = ["name", "gender", "kind", "customer_type", "sources", "tags"]
    n = 60
    ids = [f"C{i + 1:09d}" for i in range(n)]
    rows = [{"customer_id": cid, "name": "张*", "gender": "F" if i % 2 else "M",
             "kind": "individual" if i % 3 else "company", "customer_type": "high_net_worth" if i % 5 else "sme",
             "sources": ["auto_core", "card_core"], "tags": ["车主客户", "信用卡客户"]} for i, cid in enumerate(ids)]
    req = approvals.submit(ALICE, "export", {"customer_ids": ids, "fields": fields, "purpose": "campaign review",
                                             "format": fmt}, reason="labels")
    approvals.decide(req.request_id, CAROL, approve=True, note="ok")
    ex = approvals.produce_export(req.request_id, rows=rows, requester=ALICE, out_dir=tmp_path / "x")
    text = ex.path.read_text(encoding="utf-8-sig")
    if fmt == "jsonl":
        body = [json.loads(line) for line in text.splitlines()[1:]]
        assert {r["gender"] for r in body} == {"F", "M"} and {r["kind"] for r in body} == {"individual", "company"}
    else:
        table = _table(text)
        header, body_rows = table[0], table[1:]
        assert header[:7] == ["客户号", "姓名", "性别", "客户类型", "客户分类", "来源系统", "标签"]
        got = {r[0]: r for r in body_rows}
        for i, cid in enumerate(ids):
            r = got[cid]
            assert r[2] == ("女" if i % 2 else "男")
            assert r[3] == ("个人" if i % 3 else "企业")
            assert r[4] == ("高净值客户" if i % 5 else "小微企业")
            assert r[5] == "车险核心系统、信用卡系统" and r[6] == "车主客户、信用卡客户"
        # a canary's codes are real ones too, in the same words: nothing tells it apart
        canaries = [r for r in body_rows if r[0].startswith("C9")]
        assert canaries and all(r[2] in ("女", "男") and r[3] in ("个人", "企业") for r in canaries)
        assert not any(code in text for code in ("individual", "high_net_worth", "auto_core"))
    report = read_watermark(ex.path, store, secret=SECRET)
    assert (report.export_id, report.recipient) == (ex.export_id, "alice")
