"""Insider-leak detection (UEBA) over the audit log and other systems' access logs.

Public surface: events in (:class:`MonitorEvent`, :func:`read_events`), people
and customers as context (:class:`PersonInfo`, :class:`CustomerInfo`), the
:class:`Monitor` that turns them into :class:`Alert` objects, and its settings
(:class:`MonitorConfig`, :func:`load_config`).  See ``docs/monitoring.md``.
"""

from __future__ import annotations

from custodata.monitoring.alerts import SCENARIOS, SEVERITIES, Alert, alert_id, by_person_day, severity_rank
from custodata.monitoring.config import MonitorConfig, load_config
from custodata.monitoring.detectors import Monitor, detect
from custodata.monitoring.events import (
    EventFileError,
    MonitorEvent,
    Quarantine,
    from_stored,
    load_events,
    read_events,
    write_events,
)
from custodata.monitoring.people import (
    CustomerInfo,
    PeopleFileError,
    PersonInfo,
    ServedCustomers,
    StaticCustomers,
    people_from_directory,
    read_customers,
    read_people,
    write_people,
)

__all__ = [
    "SCENARIOS", "SEVERITIES", "Alert", "CustomerInfo", "EventFileError", "Monitor", "MonitorConfig",
    "MonitorEvent", "PeopleFileError", "PersonInfo", "Quarantine", "ServedCustomers", "StaticCustomers",
    "alert_id", "by_person_day", "detect", "from_stored", "load_config", "load_events", "people_from_directory",
    "read_customers", "read_events", "read_people", "severity_rank", "write_events", "write_people",
]
