"""The monitor inside the service: scores the audit log as it grows and acts on what it finds.

Every ``interval`` seconds (30 by default, never more than 60, so a leak is
seen within a minute rather than the next night) the live monitor reads the
audit events appended since its cursor, feeds them to the detection core
(:class:`custodata.monitoring.detectors.Monitor`) and stores the alerts.  A
high or critical alert (``actions.freeze_at`` of the monitoring settings)
freezes the person through the identity directory, so their next request is
refused whatever tokens they hold, and the alert says so.

The cursor lives in the operational store.  After a restart the monitor first
replays the recent history (``history``) to rebuild the per-person baselines;
alert ids are deterministic, so alerts it raised before are recognised and not
acted on twice.  False positives and confirmed incidents triaged since the last
run — in this process or any other — are fed back to the detection core before
new events are scored (before the replay, after a restart).  Below
``freeze_at`` nothing is frozen automatically: the security officer confirms
the alert (``service.alerts.triage`` with ``escalated`` and ``freeze``).

Run one live monitor per deployment: the in-process thread of ``custodata
serve`` (one worker), or ``custodata alerts watch`` beside a multi-worker server.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING

from custodata.audit.query import iter_events
from custodata.errors import ConfigError
from custodata.identity.errors import PersonNotFoundError
from custodata.monitoring.alerts import Alert, severity_rank
from custodata.monitoring.events import MonitorEvent, from_stored
from custodata.monitoring.store import AlertStore

if TYPE_CHECKING:
    from custodata.monitoring.config import MonitorConfig
    from custodata.monitoring.detectors import Monitor
    from custodata.monitoring.people import PersonInfo
    from custodata.service.context import Services

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 30.0
MAX_INTERVAL = 60.0
DEFAULT_HISTORY = dt.timedelta(days=28)
MONITOR_ACTOR = "monitor"
_PAGE = 5_000
FROZEN_EN = "The account was frozen automatically."
FROZEN_ZH = "账户已自动冻结。"


@dataclass(frozen=True)
class RunReport:
    """What one pass did: events scored, alerts newly stored, people frozen, where the cursor stands."""

    scored: int
    new_alerts: list[str] = field(default_factory=list)
    frozen: list[str] = field(default_factory=list)
    last_seq: int = 0
    replayed: int = 0


class LiveMonitor:
    """The incremental monitor over one deployment's audit log."""

    def __init__(self, services: Services, *, config: MonitorConfig | None = None,
                 interval: float = DEFAULT_INTERVAL, history: dt.timedelta = DEFAULT_HISTORY,
                 name: str = "live", freeze: bool = True) -> None:
        if not 0 < interval <= MAX_INTERVAL:
            raise ConfigError(f"the live monitor's interval must be more than 0 and at most {MAX_INTERVAL:g} "
                              f"seconds (alerts within a minute), not {interval:g}")
        from custodata.monitoring.config import load_config

        self.svc = services
        self.store = AlertStore(services.ops, services.audit, clock=self._now)
        self.config = config or load_config()
        self.interval = interval
        self.history = history
        self.name = name
        self.freeze = freeze
        self._monitor: Monitor | None = None
        self._fed_false_positives: set[str] = set()
        self._fed_incidents: set[str] = set()
        self._fp_checked: dt.datetime | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _now(self) -> dt.datetime:
        now: dt.datetime = self.svc.clock()
        return now.astimezone(dt.UTC).replace(tzinfo=None) if now.tzinfo is not None else now

    # ---- one pass -----------------------------------------------------------------------------

    def run_once(self) -> RunReport:
        """Score every event appended since the cursor; store, and act on, what is new."""
        with self._lock:
            replayed = 0
            if self._monitor is None:
                self._monitor, replayed = self._start()  # reads the directory itself
            else:
                self._monitor.update_people(self._people_now())
            monitor = self._monitor
            self._feed_false_positives(monitor)
            after = self.store.cursor(self.name)
            scored, new_ids, frozen = 0, [], []
            for page in self._pages(after):
                alerts = monitor.feed(page)
                scored += len(page)
                ids, who = self._handle(alerts, act=True)
                new_ids += ids
                frozen += who
                after = page[-1].seq or after
                self.store.set_cursor(self.name, after)
            return RunReport(scored, new_ids, frozen, after, replayed)

    def _start(self) -> tuple[Monitor, int]:
        """A fresh detection core, warmed on the recent history up to the cursor (baselines, not actions)."""
        from custodata.monitoring.detectors import Monitor
        from custodata.monitoring.people import ServedCustomers

        monitor = Monitor(self.config, self._people_now(), ServedCustomers(self.svc.served))
        self._feed_false_positives(monitor)
        cursor = self.store.cursor(self.name)
        replayed = 0
        if cursor:
            since = self._now() - self.history
            for page in self._pages(0, until_seq=cursor, since=since):
                self._handle(monitor.feed(page), act=False)  # alerts seen before are known; new ones kept
                replayed += len(page)
        return monitor, replayed

    def _people_now(self) -> dict[str, PersonInfo]:
        """Statuses and portfolios as they are now (a leaving status must count from the day it is set)."""
        from custodata.monitoring.people import people_from_directory

        return people_from_directory(self.svc.directory)

    def _feed_false_positives(self, monitor: Monitor) -> None:
        """The security officer's decisions since the last pass, from any process: false positives raise the
        person's bar, confirmed incidents keep their day out of the person's baselines and learnt hours."""
        checked = self._now()
        since = self._fp_checked - dt.timedelta(seconds=1) if self._fp_checked is not None else None
        for stored in self.store.false_positives(triaged_since=since):
            if stored.alert_id not in self._fed_false_positives:
                monitor.mark_false_positive(stored.to_alert())
                self._fed_false_positives.add(stored.alert_id)
        for stored in self.store.incidents(triaged_since=since):
            if stored.alert_id not in self._fed_incidents:
                monitor.confirm(stored.to_alert())
                self._fed_incidents.add(stored.alert_id)
        self._fp_checked = checked

    def _handle(self, alerts: list[Alert], *, act: bool) -> tuple[list[str], list[str]]:
        if not alerts:
            return [], []
        new = set(self.store.save(alerts))
        new_ids, frozen = [], []
        for alert in alerts:
            if alert.alert_id not in new:
                continue
            new_ids.append(alert.alert_id)
            if act and self._freezes(alert) and self._freeze(alert):
                frozen.append(alert.actor)
        return new_ids, frozen

    def _freezes(self, alert: Alert) -> bool:
        threshold = self.config.actions.freeze_at
        return self.freeze and threshold is not None and severity_rank(alert.severity) >= severity_rank(threshold)

    def _freeze(self, alert: Alert) -> bool:
        """Freeze the person behind a high alert; False when there is no such person or they are already out."""
        directory = self.svc.directory
        try:
            person = directory.person(alert.actor)
        except (PersonNotFoundError, ValueError):
            return False  # an unknown login ("-") or another system's user: nothing to freeze here
        if person.status in ("frozen", "left"):
            return False
        directory.set_status(alert.actor, "frozen", by=MONITOR_ACTOR,
                             reason=f"alert {alert.alert_id}: {alert.summary}"[:1000])
        self.store.set_action(alert.alert_id, "frozen", summary=f"{alert.summary} {FROZEN_EN}",
                              summary_zh=f"{alert.summary_zh}{FROZEN_ZH}")
        log.warning("monitor froze %s after %s alert %s (%s)", alert.actor, alert.severity, alert.alert_id,
                    alert.scenario)
        return True

    def _pages(self, after: int, *, until_seq: int | None = None,
               since: dt.datetime | None = None) -> Iterator[list[MonitorEvent]]:
        """Audit events after ``after`` in chain order, ``_PAGE`` at a time (the log's own keyset reader)."""
        events = map(from_stored, iter_events(self.svc.ops, after_seq=after, until_seq=until_seq, since=since))
        while page := list(islice(events, _PAGE)):
            yield page

    # ---- in the background --------------------------------------------------------------------

    def start(self) -> None:
        """Run :meth:`run_once` every ``interval`` seconds in a daemon thread until :meth:`stop`."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"custodata-monitor-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                report = self.run_once()
                if report.new_alerts:
                    log.info("monitor: %d events scored, %d new alerts, %d people frozen", report.scored,
                             len(report.new_alerts), len(report.frozen))
            except Exception:  # a failed pass must not end monitoring; the next pass retries from the cursor
                log.exception("monitor pass failed; retrying in %.0f s", self.interval)
            self._stop.wait(self.interval)


__all__ = ["DEFAULT_INTERVAL", "MAX_INTERVAL", "LiveMonitor", "RunReport"]

