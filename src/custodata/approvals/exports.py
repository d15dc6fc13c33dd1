"""Export files: written watermarked for one recipient, and traced back to them from a leaked copy.

CSV is written with a UTF-8 byte-order mark so Excel opens Chinese text
correctly, and cells that a spreadsheet would run as a formula are defused.
JSON lines open with a notice object.  Files are written atomically and
readable by their owner only; the sha256 kept in ``export_file`` proves a
downloaded file is the one produced.
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

import sqlalchemy as sa

from custodata.approvals.tables import export_file
from custodata.approvals.watermark import (
    canary_count,
    canary_rows,
    canary_seen,
    find_marks,
    invisible_mark,
    mark_row,
)
from custodata.errors import NotFoundError
from custodata.ops.store import OpsStore

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
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


def notice(recipient: str, export_id: str, created_at: dt.datetime) -> str:
    return (f"导出人 {recipient} 导出编号 {export_id} 导出时间 {created_at:%Y-%m-%d %H:%M} UTC "
            "仅限内部使用，严禁外传 (internal use only)")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text  # Excel would otherwise run it as a formula
    return text


def render(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], *, fmt: str, header: str,
) -> bytes:
    """The file's bytes: notice line, then the rows (already watermarked)."""
    if fmt == "jsonl":
        lines = [json.dumps({"_notice": header}, ensure_ascii=False)]
        lines += [json.dumps({c: r.get(c) for c in columns}, ensure_ascii=False, default=str) for r in rows]
        return ("\n".join(lines) + "\n").encode("utf-8")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([f"# {header}"])
    writer.writerow(list(columns))
    for r in rows:
        writer.writerow([_cell(r.get(c)) for c in columns])
    return buf.getvalue().encode("utf-8-sig")


def watermark_rows(
    rows: Sequence[dict[str, Any]], *, secret: bytes, watermark_id: str,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows with canaries mixed in and an invisible mark in each; and the canaries' signatures."""
    canaries = canary_rows(secret, watermark_id, rows, canary_count(len(rows)))
    mixed = list(rows)
    for position, row, _sig in sorted(canaries, key=lambda c: c[0], reverse=True):
        mixed.insert(position, row)
    mark = invisible_mark(secret, watermark_id)
    return [mark_row(r, mark, i) for i, r in enumerate(mixed)], [sig for _p, _r, sig in canaries]


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

    The invisible marks are the proof (they carry a keyed tag); canary rows back
    them up when invisible characters were stripped; the visible notice line is
    reported but never trusted on its own, since anybody can type one.
    """
    text = read_text(source)
    lines = sum(1 for line in text.splitlines() if line.strip())
    marks = find_marks(text, secret)
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
        parts.append(f"invisible mark (keyed tag verified) in {marked} of {lines} lines")
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

