"""The monitor: person-day features, baselines, rules and the anomaly model behind every alert."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from custodata.monitoring.alerts import Alert
from custodata.monitoring.config import MonitorConfig
from custodata.monitoring.events import MonitorEvent
from custodata.monitoring.people import CustomerInfo, PersonInfo


class Monitor:
    """Incremental detection: feed events as they arrive, get back only the new alerts."""

    def __init__(self, config: MonitorConfig, people: Mapping[str, PersonInfo], customers: CustomerInfo) -> None:
        self.config = config
        self.people = people
        self.customers = customers

    def feed(self, events: Iterable[MonitorEvent]) -> list[Alert]:
        raise NotImplementedError

    def mark_false_positive(self, alert: Alert) -> None:
        raise NotImplementedError


def detect(events: Iterable[MonitorEvent], people: Mapping[str, PersonInfo], customers: CustomerInfo,
           config: MonitorConfig | None = None) -> list[Alert]:
    """Batch detection over events in time order (the same alerts as feeding them incrementally)."""
    monitor = Monitor(config or MonitorConfig(), people, customers)
    return monitor.feed(events)
