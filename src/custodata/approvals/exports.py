"""Export files: written watermarked for one recipient, and traced back to them from a leaked copy.

A CSV is read by a person in a spreadsheet: it opens with the column names in Chinese
(客户号, 姓名, 手机号码 …) on the first line, so a filter or a sort takes the right row
as its header; times are in the institution's time zone to the second; cells hold
exactly the (masked) values, nothing hidden in them, a code in the words the console
shows for it (性别 女, 客户类型 个人, 来源系统 车险核心系统、信用卡系统: the labels of
:mod:`custodata.console.labels`) and a list as its items joined by 、; the mark column [导出标记] comes
last and the notice [导出人 … 仅限内部使用] after the table, a blank line apart, so a
spreadsheet's table region ends before it.  It is written with a UTF-8 byte-order mark
so Excel opens Chinese text correctly, and cells that a spreadsheet would run as a
formula are defused.  JSON lines (read by programs) keep the canonical field names and
codes and open with a notice object.  Files are written atomically and readable by their owner
only; the sha256 kept in ``export_file`` proves a downloaded file is the one produced.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from custodata.approvals.tables import export_file
from custodata.approvals.watermark import (
    canary_count,
    canary_rows,
    canary_seen,
    find_marks,
    find_visible_marks,
    mark_cell,
    visible_code,
)
from custodata.errors import NotFoundError
from custodata.ops.store import OpsStore

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
DEFAULT_TIMEZONE = "Asia/Shanghai"
MARK_COLUMN = "export_mark"  # the mark column's key in a row (导出标记)
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
# column names as a bank's staff read them (the console's field labels say the same: a test keeps them so)
COLUMN_LABELS: dict[str, str] = {
    "customer_id": "客户号", "name": "姓名", "name_pinyin": "姓名拼音", "family_name": "姓", "given_name": "名",
    "id_number": "证件号码", "id_type": "证件类型", "uscc": "统一社会信用代码", "birth_date": "出生日期",
    "age": "年龄", "gender": "性别", "mobile": "手机号码", "phone": "固定电话", "email": "电子邮箱",
    "address": "地址", "province": "省份", "city": "城市", "district": "区县", "postcode": "邮政编码",
    "kind": "客户类型", "customer_type": "客户分类", "segment": "客群", "tags": "标签", "sources": "来源系统",
    "n_records": "记录数", "first_seen": "首次出现", "last_updated": "最近更新", "deposit_balance": "存款余额",
    "premium_total": "保费合计", "credit_limit": "授信额度", "loan_total": "贷款合计", "n_auto": "车险保单数",
    "n_accident": "意外险保单数", "n_health": "健康险保单数", "n_policy_types": "险种数",
    "n_deposit": "存款账户数", "n_card": "银行卡数", "n_loan": "贷款笔数", "n_ticket": "服务工单数",
    "n_complaint": "投诉数", "raw_tags": "原始标签", MARK_COLUMN: "导出标记",
}
# cells that hold a code, and the kind of label (custodata.console.labels) a person reads it by
CODED_FIELDS: dict[str, str] = {
    "gender": "gender", "kind": "custkind", "customer_type": "custtype", "sources": "source", "source": "source",
    "business_type": "btype", "role": "partyrole",
}
_HEADER_ID = re.compile(r"导出编号[\s:：]*(EX-[0-9A-F]+)")


@dataclass(frozen=True)
class ExportFile:
    export_id: str
    request_id: str
    recipient: str
    watermark_id: str
    path: Path
    format: str
    rows: int
    sha256: str
    created_at: dt.datetime
    expires_at: dt.datetime
    downloaded_count: int = 0
    purged_at: dt.datetime | None = None

    @classmethod
    def from_row(cls, row: Any) -> ExportFile:
        m = row._mapping
        return cls(m["export_id"], m["request_id"], m["recipient"], m["watermark_id"], Path(m["path"]),
                   m["format"], m["rows"], m["sha256"], m["created_at"], m["expires_at"],
                   m["downloaded_count"], m["purged_at"])


@dataclass(frozen=True)
class WatermarkReport:
    """Who a file was exported to, and the evidence that says so."""

    export_id: str
    recipient: str
    created_at: dt.datetime
    request_id: str
    evidence: str
    marked_rows: int = 0
    canary_rows: int = 0
    header_export_id: str | None = None


def local_time(at: dt.datetime, zone: str = DEFAULT_TIMEZONE) -> dt.datetime:
    """A stored time (naive means UTC, as everywhere in custodata) in the institution's time zone, naive."""
    aware = at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at
    return aware.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def notice(recipient: str, export_id: str, created_at: dt.datetime, *, rows: int | None = None,
           zone: str = DEFAULT_TIMEZONE) -> str:
    count = f"共 {rows:,} 行 " if rows is not None else ""
    return (f"导出人 {recipient} 导出编号 {export_id} 导出时间 {local_time(created_at, zone):%Y-%m-%d %H:%M} "
            f"({zone}) {count}仅限内部使用，严禁外传")


def localise(row: dict[str, Any], zone: str = DEFAULT_TIMEZONE) -> dict[str, Any]:
    """The row with its times (datetimes, ISO timestamps) in local time to the second; dates stay dates."""
    out = dict(row)
    for key, value in row.items():
        at: dt.datetime | None = None
        if isinstance(value, dt.datetime):
            at = value
        elif isinstance(value, str) and _ISO_TIME.match(value):
            try:
                at = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                at = None
        if at is not None:
            out[key] = f"{local_time(at, zone):%Y-%m-%d %H:%M:%S}"
    return out


def _code_labels() -> dict[str, dict[str, tuple[str, str]]]:
    from custodata.console.labels import LABELS  # the console's one table of codes; imported when a file is written

    return LABELS


def _label(kind: str | None, value: Any, labels: dict[str, dict[str, tuple[str, str]]]) -> Any:
    if kind is None or not isinstance(value, str):
        return value
    found = labels.get(kind, {}).get(value)
    return found[0] if found else value


def _cell(value: Any, kind: str | None = None,
          labels: dict[str, dict[str, tuple[str, str]]] | None = None) -> str:
    """A CSV cell as a person reads it: a code as its zh-CN label, a list's items joined by 、."""
    if value is None:
        return ""
    labels = labels if labels is not None else {}
    if isinstance(value, list | tuple) and all(isinstance(v, str | int | float) for v in value):
        value = "、".join(str(_label(kind, v, labels)) for v in value)
    elif isinstance(value, list | dict | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    else:
        value = _label(kind, value, labels)
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text  # Excel would otherwise run it as a formula
    return text


def render(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], *, fmt: str, header: str,
) -> bytes:
    """The file's bytes (rows already watermarked, with the mark column).

    CSV: the Chinese column names, the rows, a blank line, the notice.  JSON lines: the
    notice object, then one object per row under the canonical names.
    """
    columns = [*[c for c in columns if c != MARK_COLUMN], MARK_COLUMN]
    if fmt == "jsonl":
        lines = [json.dumps({"_notice": header}, ensure_ascii=False)]
        lines += [json.dumps({c: r.get(c) for c in columns}, ensure_ascii=False, default=str) for r in rows]
        return ("\n".join(lines) + "\n").encode("utf-8")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([COLUMN_LABELS.get(c, c) for c in columns])
    labels = _code_labels()
    for r in rows:
        writer.writerow([_cell(r.get(c), CODED_FIELDS.get(c), labels) for c in columns])
    writer.writerow([])
    writer.writerow([f"# {header}"])
    return buf.getvalue().encode("utf-8-sig")


def watermark_rows(
    rows: Sequence[dict[str, Any]], *, secret: bytes, watermark_id: str,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows with canaries mixed in and each row's mark-column cell; and the canaries' signatures."""
    canaries = canary_rows(secret, watermark_id, rows, canary_count(len(rows)))
    for position, row, sig in canaries:  # a code is one a real row holds (an invented one would give it away)
        real = rows[position % len(rows)]
        for key in CODED_FIELDS:
            if key in row and isinstance(row[key], str):
                sig["values"] = [v for v in sig["values"] if v != row[key]]
                row[key] = real.get(key)
    mixed = list(rows)
    for position, row, _sig in sorted(canaries, key=lambda c: c[0], reverse=True):
        mixed.insert(position, row)
    code = visible_code(secret, watermark_id)
    marked = [{**r, MARK_COLUMN: mark_cell(code, i + 1)} for i, r in enumerate(mixed)]
    return marked, [sig for _p, _r, sig in canaries]


def write_atomically(path: Path, data: bytes) -> str:
    """Write ``data`` readable by the owner only; returns its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return hashlib.sha256(data).hexdigest()


def read_text(source: Path | str) -> str:
    """A file's text (UTF-8 with or without BOM, or UTF-16 as Excel saves "Unicode text"), or the text given."""
    if not isinstance(source, Path):
        return source
    data = source.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8-sig", errors="replace")


def read_watermark(source: Path | str, store: OpsStore, *, secret: bytes) -> WatermarkReport:
    """Identify the recipient of an exported file (or of text pasted from one).

    The mark column's codes are the proof (they carry a keyed tag), and so are the
    zero-width marks that files of earlier versions hid in their cells; canary rows
    back them up when the mark column was deleted; the notice line is reported but
    never trusted on its own, since anybody can type one.
    """
    text = read_text(source)
    lines = sum(1 for line in text.splitlines() if line.strip())
    marks = find_visible_marks(text, secret) + find_marks(text, secret)
    header = _HEADER_ID.search(text)
    header_id = header.group(1) if header else None
    with store.read() as con:
        by_mark = {r.watermark_id: r for r in con.execute(
            sa.select(export_file).where(export_file.c.watermark_id.in_(list(marks)))
        )} if marks else {}
        canary_hits: Counter[str] = Counter()
        for r in con.execute(sa.select(export_file.c.export_id, export_file.c.canaries)):
            for sig in json.loads(r.canaries):
                if canary_seen(sig, text):
                    canary_hits[r.export_id] += 1
        scores: Counter[str] = Counter()
        for wid, n in marks.items():
            if wid in by_mark:
                scores[by_mark[wid].export_id] += n
        for eid, n in canary_hits.items():
            scores[eid] += 5 * n
        if not scores:
            raise NotFoundError(
                "no custodata watermark in this text" + (
                    f" (its notice line names {header_id}, but a notice line alone proves nothing)"
                    if header_id else "")
            )
        best_id = scores.most_common(1)[0][0]
        row = con.execute(sa.select(export_file).where(export_file.c.export_id == best_id)).one()
    best = ExportFile.from_row(row)
    marked = marks.get(best.watermark_id, 0)
    parts = []
    if marked:
        parts.append(f"export mark (keyed tag verified) in {marked} of {lines} lines")
    if canary_hits.get(best_id):
        parts.append(f"{canary_hits[best_id]} canary row(s) fabricated for this export")
    if header_id == best_id:
        parts.append("the notice line agrees")
    elif header_id:
        parts.append(f"the notice line names {header_id} instead (edited or pasted together?)")
    else:
        parts.append("no notice line (removed)")
    others = [f"{eid} ({n})" for eid, n in scores.most_common() if eid != best_id]
    if others:
        parts.append("also traces of " + ", ".join(others))
    return WatermarkReport(best.export_id, best.recipient, best.created_at, best.request_id, "; ".join(parts),
                           marked, canary_hits.get(best_id, 0), header_id)

