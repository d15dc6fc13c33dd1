"""Events as the monitor sees them: custodata's audit log and other systems' access logs on one schema.

The monitor reads files exported by ``custodata audit export`` and access logs
of other systems mapped onto the same layout (``docs/audit-events.md``), and
inside the service the stored events themselves.  A bad line in a file must
never stop detection on the good ones, and must never vanish silently either:
it is quarantined with its line number and reason, and the counts reconcile
(read = accepted + rejected) so an operator can see nothing was lost.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from custodata.audit.events import Action, Result
from custodata.errors import SourceError

if TYPE_CHECKING:
    from custodata.audit.query import StoredEvent

ACTIONS = frozenset(a.value for a in Action)
RESULTS = frozenset(r.value for r in Result)
MAX_QUARANTINE_KEPT = 1_000  # rejected lines listed in full; beyond that only counted
_FORMULA_START = ("=", "+", "-", "@")
_fromisoformat = dt.datetime.fromisoformat  # Python 3.11 reads a trailing ``Z`` too


class EventFileError(SourceError):
    """The event file cannot be read at all (missing, not UTF-8, CSV without a header)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitorEvent:
    """One access as the detectors use it; ``at`` is naive UTC, ``customer_count`` at least the ids listed."""

    seq: int | None = None
    at: dt.datetime
    actor: str
    role: str | None = None
    branch: str | None = None
    action: str
    result: str = "ok"
    customer_ids: tuple[str, ...] = ()
    customer_count: int = 0
    fields: tuple[str, ...] = ()
    purpose: str | None = None
    source_address: str | None = None
    system: str = "custodata"
    detail: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.at.tzinfo is not None:
            object.__setattr__(self, "at", self.at.astimezone(dt.UTC).replace(tzinfo=None))
        if self.customer_count < len(self.customer_ids):
            object.__setattr__(self, "customer_count", len(self.customer_ids))


def from_stored(event: StoredEvent) -> MonitorEvent:
    """A stored audit event (timezone-aware) as a monitor event."""
    at = event.at if event.at is not None else dt.datetime.now(dt.UTC)
    return MonitorEvent(
        seq=event.seq, at=at, actor=event.actor, role=event.role, branch=event.branch, action=str(event.action),
        result=str(event.result), customer_ids=tuple(event.customer_ids), customer_count=event.count(),
        fields=tuple(event.fields), purpose=event.purpose, source_address=event.source_address, system=event.system,
        detail=dict(event.detail), reason=event.reason,
    )


@dataclass
class Quarantine:
    """What a file read rejected and why; ``read == accepted + rejected`` always holds."""

    source: str = ""
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    lines: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason), first MAX kept

    def reject(self, line: int, reason: str) -> None:
        self.rejected += 1
        if len(self.lines) < MAX_QUARANTINE_KEPT:
            self.lines.append((line, reason))

    @property
    def reconciles(self) -> bool:
        return self.read == self.accepted + self.rejected

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "read": self.read, "accepted": self.accepted, "rejected": self.rejected,
                "lines": [{"line": n, "reason": r} for n, r in self.lines]}


class BadEvent(ValueError):
    """One line is not a valid event (internal: turned into a quarantine entry, never raised to callers)."""


def parse_time(value: Any) -> dt.datetime:
    """ISO 8601 with ``Z`` or an offset (converted to UTC) or naive (taken as UTC already)."""
    if type(value) is str:  # the usual case, as the export writes it (UTC with ``Z``): one C call
        try:
            if value[-1:] == "Z":
                at = _fromisoformat(value[:-1])
                if at.tzinfo is None:
                    return at
            else:
                at = _fromisoformat(value)
                offset = at.utcoffset()
                return at if offset is None else at.replace(tzinfo=None) - offset
        except (ValueError, OverflowError):
            pass  # reported by the checks below
    if isinstance(value, dt.datetime):
        at = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            at = dt.datetime.fromisoformat(text)
        except ValueError:
            raise BadEvent(f"at: '{value[:40]}' is not an ISO 8601 time") from None
    else:
        raise BadEvent("at: missing")
    try:
        return at.astimezone(dt.UTC).replace(tzinfo=None) if at.tzinfo is not None else at
    except OverflowError:
        raise BadEvent(f"at: '{str(value)[:40]}' is out of range in UTC") from None


def _text(record: Mapping[str, Any], key: str, limit: int, *, required: bool = False) -> str | None:
    value = record.get(key)
    if value is None or value == "":
        if required:
            raise BadEvent(f"{key}: missing")
        return None
    if not isinstance(value, str):
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        else:
            raise BadEvent(f"{key}: expected text, got {type(value).__name__}")
    return value[:limit]


def _str_list(record: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = record.get(key)
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(v for v in (p.strip() for p in value.split(";")) if v)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise BadEvent(f"{key}: expected a list of text")


def _int(record: Mapping[str, Any], key: str) -> int | None:
    value = record.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadEvent(f"{key}: expected an integer")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadEvent(f"{key}: '{str(value)[:20]}' is not an integer") from None
    if number < 0:
        raise BadEvent(f"{key}: must not be negative")
    return number


def _plain_text(value: Any, limit: int) -> bool:
    """None, or text within its limit: what the fast path takes as it is."""
    return value is None or (type(value) is str and len(value) <= limit)


def _plain_list(value: Any) -> bool:
    """None, or a JSON list of text."""
    return value is None or (type(value) is list and all(type(v) is str for v in value))


def _plain_int(value: Any) -> bool:
    return value is None or (type(value) is int and value >= 0)


def _fast_event(record: Mapping[str, Any]) -> MonitorEvent | None:
    """The event of a record that is already in the export's exact shape (types, lower case, limits); None when
    anything needs the checks and conversions of :func:`event_from_record` — which then gives the same event or
    the same error.  A whole-file read spends most of its time here, so the common case costs a few type tests.
    """
    get = record.get
    action, result, actor, ids, count = get("action"), get("result"), get("actor"), get("customer_ids"), \
        get("customer_count")
    role, branch, purpose, address, system, reason = get("role"), get("branch"), get("purpose"), \
        get("source_address"), get("system"), get("reason")
    seq, fields, detail = get("seq"), get("fields"), get("detail")
    if not (type(action) is str and action in ACTIONS and (result is None or (type(result) is str and result in
            RESULTS)) and type(actor) is str and actor
            and len(actor) <= 255 and _plain_text(role, 128) and _plain_text(branch, 128)
            and _plain_text(purpose, 1000) and _plain_text(address, 64) and _plain_text(system, 64)
            and _plain_text(reason, 1000) and _plain_list(ids) and _plain_list(fields) and _plain_int(count)
            and _plain_int(seq) and (detail is None or type(detail) is dict) and type(get("at")) is str):
        return None
    at = parse_time(record["at"])
    ids_ = tuple(ids) if ids else ()
    return MonitorEvent(
        seq=seq, at=at, actor=actor, role=role or None, branch=branch or None, action=action,
        result=result or "ok", customer_ids=ids_, customer_count=count if count is not None else len(ids_),
        fields=tuple(fields) if fields else (), purpose=purpose or None, source_address=address or None,
        system=system or "custodata", detail=detail if detail is not None else {}, reason=reason or None,
    )


def event_from_record(record: Mapping[str, Any]) -> MonitorEvent:
    """A monitor event from one exported record (JSON object or CSV row); raises :class:`BadEvent`."""
    action = (_text(record, "action", 64, required=True) or "").lower()
    if action not in ACTIONS:
        raise BadEvent(f"action: '{action[:30]}' is not one of the documented actions")
    result = (_text(record, "result", 16) or "ok").lower()
    if result not in RESULTS:
        raise BadEvent(f"result: '{result[:20]}' is not one of {', '.join(sorted(RESULTS))}")
    detail = record.get("detail")
    if isinstance(detail, str):
        try:
            detail = json.loads(detail) if detail.strip() else {}
        except json.JSONDecodeError:
            raise BadEvent("detail: not valid JSON") from None
    if detail is None:
        detail = {}
    if not isinstance(detail, dict):
        raise BadEvent("detail: expected a JSON object")
    ids = _str_list(record, "customer_ids")
    count = _int(record, "customer_count")
    return MonitorEvent(
        seq=_int(record, "seq"), at=parse_time(record.get("at")),
        actor=_text(record, "actor", 255, required=True) or "-",
        role=_text(record, "role", 128), branch=_text(record, "branch", 128), action=action, result=result,
        customer_ids=ids, customer_count=count if count is not None else len(ids),
        fields=_str_list(record, "fields"), purpose=_text(record, "purpose", 1000),
        source_address=_text(record, "source_address", 64), system=_text(record, "system", 64) or "custodata",
        detail=detail, reason=_text(record, "reason", 1000),
    )


def _uncell(value: str | None) -> str | None:
    """Undo the export's formula guard (a leading ``'`` before ``= + - @``)."""
    if value and value[0] == "'" and len(value) > 1 and value[1] in _FORMULA_START:
        return value[1:]
    return value


def _sniff_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip():
                return "jsonl" if line.lstrip().startswith("{") else "csv"
    return "jsonl"


def _jsonl(path: Path, quarantine: Quarantine) -> Iterator[MonitorEvent]:
    loads, fast = json.loads, _fast_event
    with path.open(encoding="utf-8", errors="strict", buffering=1 << 20) as fh:
        number = 0
        while True:
            number += 1
            try:
                line = fh.readline()
            except UnicodeDecodeError:
                quarantine.read += 1
                quarantine.reject(number, "not UTF-8")
                # the rest of a file that is not UTF-8 cannot be framed reliably
                return
            if not line:
                return
            if not line.strip():
                continue
            quarantine.read += 1
            try:
                record = loads(line)
                if type(record) is not dict:
                    raise BadEvent("not a JSON object")
                event = fast(record) or event_from_record(record)
            except (BadEvent, json.JSONDecodeError) as exc:
                quarantine.reject(number, exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc))
                continue
            quarantine.accepted += 1
            yield event


def _csv(path: Path, quarantine: Quarantine) -> Iterator[MonitorEvent]:
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            return
        for required in ("at", "actor", "action"):
            if required not in header:
                raise EventFileError(f"{path}: CSV header has no '{required}' column (see docs/audit-events.md)")
        width = len(header)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                quarantine.read += 1
                quarantine.reject(reader.line_num, f"CSV: {exc}")
                continue
            if not row or all(not c.strip() for c in row):
                continue
            quarantine.read += 1
            if len(row) != width:
                quarantine.reject(reader.line_num, f"{len(row)} columns, the header has {width}")
                continue
            if any("\ufffd" in c for c in row):
                quarantine.reject(reader.line_num, "not UTF-8")
                continue
            try:
                event = event_from_record({k: _uncell(v) for k, v in zip(header, row, strict=True)})
            except BadEvent as exc:
                quarantine.reject(reader.line_num, str(exc))
                continue
            quarantine.accepted += 1
            yield event


def read_events(path: Path | str, quarantine: Quarantine | None = None, *, fmt: str | None = None
                ) -> Iterator[MonitorEvent]:
    """Stream events from a JSON-lines or CSV file; bad lines go to ``quarantine`` with their line number."""
    path = Path(path)
    if not path.is_file():
        raise EventFileError(f"{path}: event file not found")
    q = quarantine if quarantine is not None else Quarantine()
    q.source = str(path)
    kind = fmt or _sniff_format(path)
    if kind not in ("jsonl", "csv"):
        raise EventFileError(f"{path}: unknown format '{kind}'; use jsonl or csv")
    return _jsonl(path, q) if kind == "jsonl" else _csv(path, q)


def load_events(path: Path | str, *, fmt: str | None = None) -> tuple[list[MonitorEvent], Quarantine]:
    """All good events of a file, in time order, and the quarantine report."""
    quarantine = Quarantine()
    events = sorted(read_events(path, quarantine, fmt=fmt), key=lambda e: e.at)
    return events, quarantine


def event_record(event: MonitorEvent) -> dict[str, Any]:
    """A monitor event in the export's JSON-lines layout (for writing simulated or mapped logs)."""
    return {
        "seq": event.seq, "at": event.at.isoformat(timespec="microseconds") + "Z", "actor": event.actor,
        "role": event.role, "branch": event.branch, "action": event.action, "result": event.result,
        "customer_ids": list(event.customer_ids), "customer_count": event.customer_count,
        "fields": list(event.fields), "purpose": event.purpose, "source_address": event.source_address,
        "reason": event.reason, "detail": dict(event.detail), "system": event.system,
    }


def write_events(path: Path | str, events: Iterable[MonitorEvent]) -> int:
    """Write events as JSON lines (the layout :func:`read_events` reads); returns how many."""
    n = 0
    with Path(path).open("w", encoding="utf-8") as fh:
        for event in events:
            fh.write(json.dumps(event_record(event), ensure_ascii=False) + "\n")
            n += 1
    return n
