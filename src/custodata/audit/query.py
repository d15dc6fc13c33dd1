"""Reading the audit log: queries by person, customer, action, result and time, and exports for auditors.

Exports carry ``seq``, ``prev_hash`` and ``hash`` so an auditor can re-check
the chain from the file alone; they are streamed in pages by ``seq`` so a
year of events never sits in memory.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import sqlalchemy as sa

from custodata.audit import tables as t
from custodata.audit.events import AuditEvent
from custodata.errors import CustodataError

if TYPE_CHECKING:
    from custodata.ops.store import OpsStore

MAX_LIMIT = 10_000
EXPORT_FORMATS = ("jsonl", "csv")
_PAGE = 5_000
# the exported columns, in order (docs/audit-events.md documents each)
EXPORT_COLUMNS = (
    "seq", "at", "actor", "role", "branch", "action", "result", "customer_ids", "customer_count", "fields",
    "purpose", "source_address", "reason", "detail", "system", "prev_hash", "hash",
)
_FORMULA_START = ("=", "+", "-", "@")


class AuditQueryError(ValueError, CustodataError):
    """A query or export asked for something impossible (bad limit, unknown format, inverted time range)."""


@dataclass(frozen=True, kw_only=True)
class StoredEvent(AuditEvent):
    """An event as recorded: its place in the chain and its hash. ``at`` is timezone-aware UTC."""

    seq: int
    hash: str
    prev_hash: str


def _aware(at: dt.datetime) -> dt.datetime:
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at


def _stored(at: dt.datetime | None) -> dt.datetime | None:
    if at is None:
        return None
    return at.astimezone(dt.UTC).replace(tzinfo=None) if at.tzinfo is not None else at


def _conditions(actor: str | None = None, customer_id: str | None = None, action: str | None = None,
                result: str | None = None, since: dt.datetime | None = None,
                until: dt.datetime | None = None) -> list[sa.ColumnElement[bool]]:
    e = t.audit_event.c
    since_, until_ = _stored(since), _stored(until)
    if since_ is not None and until_ is not None and until_ <= since_:
        raise AuditQueryError(f"until ({until}) must be later than since ({since})")
    conds: list[sa.ColumnElement[bool]] = []
    if actor is not None:
        conds.append(e.actor == actor)
    if action is not None:
        conds.append(e.action == str(action))
    if result is not None:
        conds.append(e.result == str(result))
    if since_ is not None:
        conds.append(e.at >= since_)
    if until_ is not None:
        conds.append(e.at < until_)
    if customer_id is not None:
        c = t.audit_event_customer.c
        conds.append(e.seq.in_(sa.select(c.seq).where(c.customer_id == customer_id)))
    return conds


def _event(row: sa.Row[Any]) -> StoredEvent:
    return StoredEvent(
        seq=row.seq, at=_aware(row.at), actor=row.actor, role=row.role or None, branch=row.branch or None,
        action=row.action, result=row.result, customer_ids=tuple(json.loads(row.customer_ids)),
        customer_count=row.customer_count, fields=tuple(json.loads(row.fields)), purpose=row.purpose or None,
        source_address=row.source_address or None, reason=row.reason or None, detail=json.loads(row.detail),
        system=row.system, prev_hash=row.prev_hash, hash=row.hash,
    )


def query(store: OpsStore, *, actor: str | None = None, customer_id: str | None = None, action: str | None = None,
          result: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None,
          limit: int = 100, offset: int = 0, newest_first: bool = False,
          before_seq: int | None = None) -> list[StoredEvent]:
    """Matching events in chain order (``newest_first`` reverses it); ``since`` inclusive, ``until`` exclusive.

    ``before_seq`` pages by key (events with a lower ``seq`` only): the next page of a
    newest-first listing starts before the last ``seq`` shown, however many were written since.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise AuditQueryError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}; use export for more")
    if offset < 0:
        raise AuditQueryError(f"offset must not be negative, not {offset}")
    conds = _conditions(actor, customer_id, action, result, since, until)
    if before_seq is not None:
        conds.append(t.audit_event.c.seq < before_seq)
    order = t.audit_event.c.seq.desc() if newest_first else t.audit_event.c.seq
    stmt = sa.select(t.audit_event).where(*conds).order_by(order).limit(limit).offset(offset)
    with store.read() as con:
        return [_event(r) for r in con.execute(stmt)]


def count(store: OpsStore, *, actor: str | None = None, customer_id: str | None = None, action: str | None = None,
          result: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None) -> int:
    conds = _conditions(actor, customer_id, action, result, since, until)
    with store.read() as con:
        return int(con.execute(sa.select(sa.func.count()).select_from(t.audit_event).where(*conds)).scalar_one())


def count_by_action(store: OpsStore, **filters: Any) -> dict[str, int]:
    """How many matching events per action (one grouped query)."""
    conds = _conditions(**filters)
    e = t.audit_event.c
    stmt = sa.select(e.action, sa.func.count()).where(*conds).group_by(e.action)
    with store.read() as con:
        return {str(action): int(n) for action, n in con.execute(stmt)}


def times(store: OpsStore, **filters: Any) -> Iterator[dt.datetime]:
    """The time of every matching event (UTC, aware), read in pages by ``seq``: for per-day counts in any zone."""
    conds = _conditions(**filters)
    e = t.audit_event.c
    after = 0
    while True:
        stmt = sa.select(e.seq, e.at).where(e.seq > after, *conds).order_by(e.seq).limit(_PAGE * 4)
        with store.read() as con:
            rows = con.execute(stmt).all()
        for _seq, at in rows:
            yield _aware(at)
        if len(rows) < _PAGE * 4:
            return
        after = rows[-1][0]


def iter_events(store: OpsStore, *, after_seq: int = 0, until_seq: int | None = None,
                **filters: Any) -> Iterator[StoredEvent]:
    """Every matching event after ``after_seq`` (up to ``until_seq``) in chain order, read in pages
    (keyset on ``seq``); filters checked at once.  Readers that follow the log (the monitor) resume here."""
    conds = _conditions(**filters)
    if until_seq is not None:
        conds.append(t.audit_event.c.seq <= until_seq)
    return _pages(store, conds, after_seq)


def _pages(store: OpsStore, conds: list[sa.ColumnElement[bool]], after: int = 0) -> Iterator[StoredEvent]:
    while True:
        stmt = (sa.select(t.audit_event).where(t.audit_event.c.seq > after, *conds)
                .order_by(t.audit_event.c.seq).limit(_PAGE))
        with store.read() as con:
            page = [_event(r) for r in con.execute(stmt)]
        yield from page
        if len(page) < _PAGE:
            return
        after = page[-1].seq


def event_record(event: StoredEvent) -> dict[str, Any]:
    """The exported form of an event (JSON lines): times in ISO 8601 UTC with ``Z``."""
    data = asdict(event)
    at = event.at or dt.datetime.fromtimestamp(0, dt.UTC)  # always set on a stored event
    data["at"] = at.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    data["customer_ids"] = list(event.customer_ids)
    data["fields"] = list(event.fields)
    return {k: data[k] for k in EXPORT_COLUMNS}


def _csv_cell(value: Any) -> str:
    """A CSV cell; text a spreadsheet would run as a formula is prefixed with ``'`` (CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, list):
        text = ";".join(str(v) for v in value)
    elif isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _write(fh: IO[str], fmt: str, events: Iterator[StoredEvent]) -> int:
    n = 0
    if fmt == "jsonl":
        for event in events:
            fh.write(json.dumps(event_record(event), ensure_ascii=False) + "\n")
            n += 1
        return n
    writer = csv.writer(fh)
    writer.writerow(EXPORT_COLUMNS)
    for event in events:
        record = event_record(event)
        writer.writerow([_csv_cell(record[c]) for c in EXPORT_COLUMNS])
        n += 1
    return n


def export(store: OpsStore, path: Path, fmt: str = "jsonl", **filters: Any) -> int:
    """Write matching events to ``path`` (``jsonl`` or ``csv``, UTF-8); returns how many were written."""
    if fmt not in EXPORT_FORMATS:
        raise AuditQueryError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, not '{fmt}'")
    events = iter_events(store, **filters)  # validates the filters before the file is created
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        return _write(fh, fmt, events)


__all__ = ["EXPORT_COLUMNS", "EXPORT_FORMATS", "AuditQueryError", "StoredEvent", "count", "count_by_action",
           "event_record", "export", "iter_events", "query", "times"]
