"""Activity simulator [行为模拟]: realistic audit events of a bank's staff, with labelled insiders.

The monitoring's detectors, its tests, its benchmark and the demo all need
months of activity of hundreds of people in which a few known insiders act
out known scenarios.  :func:`simulate` builds the world (customers, people,
portfolios) and the injection plan from one seed; :meth:`Simulation.days`
then produces the events a local day at a time in time order, so millions of
events stream to a file without being held in memory, and the same seed gives
the same bytes.

Events go either straight to an ``events.jsonl`` in the exact layout of
``custodata audit export`` (seq, prev_hash and hash computed as the log
computes them, so the file is a verifiable chain), or through the real audit
path (:meth:`AuditLog.append_many` into an operational store) for small runs.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from custodata.audit.canonical import GENESIS, US, entry_hash
from custodata.demo.monitoring_world_a_calendar import is_workday, local_midnight_utc
from custodata.demo.monitoring_world_a_habits import SimEvent, normal_day
from custodata.demo.monitoring_world_a_inject import SCENARIOS, STRENGTHS, Case, act, plan_cases
from custodata.demo.monitoring_world_a_world import (
    BRANCHES,
    Customers,
    SimPerson,
    SimulationError,
    make_customers,
    make_people,
    read_customers,
    write_customers,
    write_people,
)

if TYPE_CHECKING:
    from custodata.audit.events import AuditEvent
    from custodata.audit.log import AuditLog

DEFAULT_START = dt.date(2026, 3, 2)  # a Monday; 60 days reach over Qingming into Labour Day
EVENTS_FILE = "events.jsonl"
PEOPLE_FILE = "people.csv"
CUSTOMERS_FILE = "customers.csv"
LABELS_FILE = "labels.json"
_STATUS_CONTROLS = 0.03  # share of uninjected people who are leaving/transferred and behave normally


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate.  ``customers`` is the universe size (default 100 per person, at least 2,000)."""

    people: int = 50
    days: int = 30
    start: dt.date = DEFAULT_START
    inject: tuple[str, ...] = ()
    cases_per_scenario: int = 3
    seed: int = 7
    customers: int | None = None
    customers_file: Path | None = None

    def __post_init__(self) -> None:
        if self.people < 1:
            raise SimulationError(f"people must be at least 1, not {self.people}")
        if self.days < 1:
            raise SimulationError(f"days must be at least 1, not {self.days}")
        if self.cases_per_scenario < 1:
            raise SimulationError(f"cases per scenario must be at least 1, not {self.cases_per_scenario}")
        if self.customers is not None and self.customers < 1:
            raise SimulationError(f"customers must be at least 1, not {self.customers}")


@dataclass
class Simulation:
    """The simulated world and its injection plan; :meth:`days` makes the events (same seed, same events)."""

    config: SimulationConfig
    customers: Customers
    people: list[SimPerson]
    cases: list[Case]
    dates: list[dt.date] = field(default_factory=list)

    def days(self) -> Iterator[list[SimEvent]]:
        """Each local day's events in time order; a night session past midnight is carried into the next day."""
        rng = np.random.default_rng([self.config.seed, 1])  # the events' own stream: replayable
        for case in self.cases:  # a replay starts the cases afresh, so it draws exactly what the first run drew
            case.first_bad_event_at, case.events = None, 0
            case.params.pop("targets", None)
        by_person: dict[str, list[Case]] = {}
        for case in self.cases:
            for p in case.people:
                by_person.setdefault(p.actor, []).append(case)
        carry: list[SimEvent] = []
        for i, day in enumerate(self.dates):
            workday = is_workday(day)
            events = carry
            for person in self.people:
                if person.status == "left" and person.status_date is not None and day >= person.status_date:
                    continue
                events.extend(normal_day(person, day, workday, self.customers, rng))
                for case in by_person.get(person.actor, ()):
                    events.extend(act(case, person, day, self.customers, rng))
            events.sort(key=_at)
            if i + 1 < len(self.dates):
                cut = local_midnight_utc(self.dates[i + 1])
                split = _first_at_or_after(events, cut)
                events, carry = events[:split], events[split:]
            yield events

    def events(self) -> Iterator[SimEvent]:
        for day in self.days():
            yield from day

    def labels(self) -> list[dict[str, Any]]:
        """Labels of the injected cases; first-event times are known once :meth:`days` has run."""
        return [c.label() for c in self.cases]

    @property
    def start(self) -> dt.datetime:
        return local_midnight_utc(self.dates[0])

    @property
    def end(self) -> dt.datetime:
        return local_midnight_utc(self.dates[-1]) + dt.timedelta(days=1)


def _at(event: SimEvent) -> dt.datetime:
    return event.at


def _first_at_or_after(events: list[SimEvent], cut: dt.datetime) -> int:
    lo, hi = 0, len(events)
    while lo < hi:
        mid = (lo + hi) // 2
        if events[mid].at < cut:
            lo = mid + 1
        else:
            hi = mid
    return lo


def parse_scenarios(values: Iterable[str]) -> tuple[str, ...]:
    """Scenario ids from repeated and/or comma-separated values; ``all`` means every scenario."""
    chosen: list[str] = []
    for value in values:
        for part in value.split(","):
            name = part.strip()
            if not name:
                continue
            for s in SCENARIOS if name == "all" else (name,):
                if s not in SCENARIOS:
                    raise SimulationError(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)} or all")
                if s not in chosen:
                    chosen.append(s)
    return tuple(chosen)


def simulate(config: SimulationConfig) -> Simulation:
    """Build the world and plan the injections (no event is made yet)."""
    rng = np.random.default_rng([config.seed, 0])
    if config.customers_file is not None:
        customers = read_customers(config.customers_file)
        branches = customers.branch_names()
    else:
        n_branches = min(len(BRANCHES), max(2, config.people // 40))
        branches = list(BRANCHES[:n_branches])
        customers = make_customers(config.customers or max(2000, 100 * config.people), branches, rng)
    people = make_people(config.people, customers, branches, rng)
    dates = [config.start + dt.timedelta(days=d) for d in range(config.days)]
    cases = plan_cases(config.inject, config.cases_per_scenario, people, dates, rng) if config.inject else []
    _status_controls(people, dates, rng)
    return Simulation(config, customers, people, cases, dates)


def _status_controls(people: list[SimPerson], dates: list[dt.date], rng: np.random.Generator) -> None:
    """Some uninjected people are leaving or transferred and go on working normally: the detectors' controls."""
    for p in people:
        if p.injected or p.role in ("auditor", "security_officer", "administrator"):
            continue
        r = rng.random()
        if r < _STATUS_CONTROLS:
            p.status = "leaving"
            p.status_date = dates[-1] + dt.timedelta(days=int(rng.integers(5, 30)))
        elif r < 2 * _STATUS_CONTROLS:
            p.status = "transferred"
            p.status_date = dates[int(rng.integers(0, len(dates)))]


# --- the events file ---------------------------------------------------------------------------------

_JSON_CACHE: dict[str | None, str] = {None: "null"}


def _j(value: str | None) -> str:
    """A JSON string (``null`` for None), cached: actors, roles, branches and purposes repeat endlessly."""
    text = _JSON_CACHE.get(value)
    if text is None:
        text = json.dumps(value, ensure_ascii=False)
        if len(_JSON_CACHE) < 100_000:
            _JSON_CACHE[value] = text
    return text


_PAIR_CACHE: dict[tuple[str, ...], tuple[str, str]] = {}
_DETAIL_CACHE: dict[int, tuple[Any, tuple[str, str]]] = {}


def _list_pair(values: Sequence[str], cache: bool = False) -> tuple[str, str]:
    """A list as the export writes it and as the canonical form hashes it (compact)."""
    if not values:
        return "[]", "[]"
    if len(values) == 1:
        one = "[" + _j(values[0]) + "]"
        return one, one
    if cache:
        key = tuple(values)
        hit = _PAIR_CACHE.get(key)
        if hit is not None:
            return hit
    quoted = [_j(v) for v in values]
    pair = "[" + ", ".join(quoted) + "]", "[" + ",".join(quoted) + "]"
    if cache and len(_PAIR_CACHE) < 10_000:
        _PAIR_CACHE[tuple(values)] = pair
    return pair


def _detail_pair(detail: Any) -> tuple[str, str]:
    """Detail as exported and as hashed; the simulator's constant details are rendered once."""
    if not detail:
        return "{}", "{}"
    hit = _DETAIL_CACHE.get(id(detail))
    if hit is not None and hit[0] is detail:  # the cache holds the object, so its id cannot be reused
        return hit[1]
    pair = (json.dumps(detail, ensure_ascii=False, sort_keys=True),
            json.dumps(detail, ensure_ascii=False, sort_keys=True, separators=(",", ":")))
    if len(_DETAIL_CACHE) < 10_000:
        _DETAIL_CACHE[id(detail)] = (detail, pair)
    return pair


class ChainWriter:
    """Writes events as ``custodata audit export`` does (JSON lines or CSV), chaining them as the log does."""

    def __init__(self, fh: IO[str], fmt: str = "jsonl", *, seq: int = 0, prev_hash: str = GENESIS) -> None:
        if fmt not in ("jsonl", "csv"):
            raise SimulationError(f"events format must be jsonl or csv, not {fmt!r}")
        self.fh, self.fmt, self.seq, self.prev_hash = fh, fmt, seq, prev_hash
        self.csv: Any = None
        if fmt == "csv":
            import csv

            from custodata.audit.query import EXPORT_COLUMNS

            self.csv = csv.writer(fh)
            self.csv.writerow(EXPORT_COLUMNS)

    def write(self, events: Iterable[SimEvent]) -> int:
        n = 0
        lines: list[str] = []
        who_cache: dict[tuple[str, str | None, str | None], tuple[str, str]] = {}
        how_cache: dict[tuple[str | None, str | None, str | None, str], tuple[str, str]] = {}
        for e in events:
            self.seq += 1
            ids_json, ids_c = _list_pair(e.customer_ids)
            fields_json, fields_c = _list_pair(e.fields, cache=True)
            detail_json, detail_c = _detail_pair(e.detail)
            who = who_cache.get((e.actor, e.role, e.branch))
            if who is None:
                who = who_cache[(e.actor, e.role, e.branch)] = (
                    f'"actor": {_j(e.actor)}, "role": {_j(e.role or None)}, "branch": {_j(e.branch or None)}',
                    US.join((e.actor, e.role or "", e.branch or "")))
            how = how_cache.get((e.purpose, e.source_address, e.reason, e.system))
            if how is None:
                how = how_cache[(e.purpose, e.source_address, e.reason, e.system)] = (
                    f'"purpose": {_j(e.purpose or None)}, "source_address": {_j(e.source_address or None)}, '
                    f'"reason": {_j(e.reason or None)}',
                    US.join((e.purpose or "", e.source_address or "", e.reason or "")))
            at_text = e.at.isoformat(sep=" ", timespec="microseconds")
            canonical = US.join((
                self.prev_hash, str(self.seq), at_text, who[1], e.action, e.result, ids_c, str(e.customer_count),
                fields_c, how[1], detail_c, e.system))
            digest = entry_hash(canonical)
            at = f"{at_text[:10]}T{at_text[11:]}Z"
            if self.csv is not None:
                self._csv_row(e, at, detail_c, digest)
            else:
                lines.append(
                    f'{{"seq": {self.seq}, "at": "{at}", {who[0]}, "action": {_j(e.action)}, '
                    f'"result": {_j(e.result)}, "customer_ids": {ids_json}, "customer_count": {e.customer_count}, '
                    f'"fields": {fields_json}, {how[0]}, "detail": {detail_json}, "system": {_j(e.system)}, '
                    f'"prev_hash": "{self.prev_hash}", "hash": "{digest}"}}\n')
            self.prev_hash = digest
            n += 1
        if lines:
            self.fh.write("".join(lines))
        return n

    def _csv_row(self, e: SimEvent, at: str, detail: str, digest: str) -> None:
        cells: list[Any] = [self.seq, at, e.actor, e.role, e.branch, e.action, e.result, list(e.customer_ids),
                            e.customer_count, list(e.fields), e.purpose, e.source_address, e.reason, None,
                            e.system, self.prev_hash, digest]
        row = [_csv_cell(c) for c in cells]
        row[13] = _csv_cell(detail)
        self.csv.writerow(row)


def _csv_cell(value: Any) -> str:
    """A cell as the audit export writes it: lists ';'-joined, formula-like text behind a ``'``."""
    if value is None:
        return ""
    text = ";".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return "'" + text if text.startswith(("=", "+", "-", "@")) else text


def audit_event(event: SimEvent) -> AuditEvent:
    """The :class:`AuditEvent` the real audit path is given for a simulated event."""
    from custodata.audit.events import AuditEvent

    return AuditEvent(actor=event.actor, action=event.action, result=event.result, role=event.role,
                      branch=event.branch, customer_ids=event.customer_ids, customer_count=event.customer_count,
                      fields=event.fields, purpose=event.purpose, source_address=event.source_address,
                      reason=event.reason, detail=dict(event.detail), at=event.at, system=event.system)


@dataclass(frozen=True)
class SimulationResult:
    """What a run wrote, for the CLI's summary and the benchmark."""

    out: Path
    events: int
    people: int
    customers: int
    cases: int
    person_days: int
    seconds: float
    through_service: bool = False


def write_outputs(sim: Simulation, out: Path, *, fmt: str = "jsonl", log: AuditLog | None = None,
                  batch: int = 1_000) -> SimulationResult:
    """Write ``events.jsonl`` (or ``.csv``), ``people.csv``, ``customers.csv`` and ``labels.json`` to ``out``.

    With ``log`` the events are appended through the real audit path first and
    the events file is then exported from the store, so it carries the store's
    own ``seq`` and hashes.
    """
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    events_path = out / (EVENTS_FILE if fmt == "jsonl" else "events.csv")
    if log is None:
        with events_path.open("w", encoding="utf-8", newline="") as fh:
            writer = ChainWriter(fh, fmt)
            n = sum(writer.write(day) for day in sim.days())
    else:
        n = _through_log(sim, log, events_path, fmt, batch)
    write_people(sim.people, sim.customers, out / PEOPLE_FILE)
    write_customers(sim.customers, out / CUSTOMERS_FILE)
    (out / LABELS_FILE).write_text(json.dumps(sim.labels(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return SimulationResult(out, n, len(sim.people), len(sim.customers), len(sim.cases),
                            len(sim.people) * len(sim.dates), time.perf_counter() - started, log is not None)


def _through_log(sim: Simulation, log: AuditLog, path: Path, fmt: str, batch: int) -> int:
    from custodata.audit.log import AuditLog as _Log

    with log.store.begin() as con:
        before, _ = _Log.lock_head(con)
    n = 0
    pending: list[AuditEvent] = []
    for day in sim.days():
        for event in day:
            pending.append(audit_event(event))
            if len(pending) >= batch:
                log.append_many(pending)
                n += len(pending)
                pending = []
    if pending:
        log.append_many(pending)
        n += len(pending)
    _export_range(log, path, fmt, before, sim.start)
    return n


def _export_range(log: AuditLog, path: Path, fmt: str, after_seq: int, since: dt.datetime) -> None:
    """Export the entries this run appended (``seq`` after ``after_seq``) in the audit export layout."""
    from custodata.audit.query import EXPORT_COLUMNS, event_record, iter_events

    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = None
        if fmt == "csv":
            import csv

            writer = csv.writer(fh)
            writer.writerow(EXPORT_COLUMNS)
        for stored in iter_events(log.store, since=since.replace(tzinfo=dt.UTC)):
            if stored.seq <= after_seq:
                continue
            record = event_record(stored)
            if writer is None:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            else:
                writer.writerow([_csv_cell(json.dumps(record[c], ensure_ascii=False, sort_keys=True,
                                                      separators=(",", ":")) if c == "detail" else record[c])
                                 for c in EXPORT_COLUMNS])


__all__ = ["CUSTOMERS_FILE", "DEFAULT_START", "EVENTS_FILE", "LABELS_FILE", "PEOPLE_FILE", "SCENARIOS", "STRENGTHS",
           "ChainWriter", "SimEvent", "Simulation", "SimulationConfig", "SimulationError", "SimulationResult",
           "audit_event", "parse_scenarios", "simulate", "write_outputs"]
