"""Person-day features: what one person did on one local day, accumulated event by event.

Detection must work while the day is still running (alerts within a minute),
so features are running totals, updated per event in constant time, that a
rule can read at any moment; at the end of the day they become one row of
the person's history (the baseline) and one sample for the anomaly model.
Days are local days in the institution's time zone, and each event is judged
against the configured work hours, workdays and holidays.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from custodata.monitoring.calendar import WorkCalendar
from custodata.monitoring.config import MonitorConfig

if TYPE_CHECKING:
    from custodata.monitoring.baseline import Basis
    from custodata.monitoring.events import MonitorEvent

# actions that touch customer data (and so count towards customers seen, scope, value and level)
DATA_ACTIONS = frozenset({"read", "search", "unmask", "export", "download", "edit", "change_request",
                          "export_request"})
BULK_ACTIONS = frozenset({"export", "download"})
# one export is its request, export and download: they share ``detail.request_id`` and are judged once
EXPORT_ACTIONS = BULK_ACTIONS | {"export_request"}
# search criteria that name one person exactly (custodata's own and other systems' names for them)
IDENTIFIER_KINDS = frozenset({"id_number", "mobile", "card_no", "account_no", "bank_card", "account_number",
                              "passport", "permit"})
# the person-day features kept in history, fed to baselines and to the anomaly model
FEATURES: tuple[str, ...] = (
    "events", "customers", "weighted_customers", "off_hours_customers", "exports", "unmasks", "denials",
    "failed_logins", "addresses", "out_of_scope", "shared", "max_level",
)
# kept in history for the person's own baseline but not given to the anomaly model (nor peer baselines): a
# feature that is zero on nearly every day only adds noise to the forest's splits
HISTORY_ONLY: tuple[str, ...] = ("identifier_probes", "unmask_peak")
# of those, the ones the peer group's baseline knows too (a new person's busiest hour is judged by their peers')
PEER_EXTRA: tuple[str, ...] = ("unmask_peak",)
MAX_REFS = 50
_HOUR = dt.timedelta(hours=1)


class LocalClock:
    """Local day and work-hours judgement of UTC times, cached per UTC hour (the zone's offset is per hour)."""

    def __init__(self, config: MonitorConfig, calendar: WorkCalendar | None = None) -> None:
        self._zone = config.zone
        wh = config.work_hours
        self._start = wh.start.hour * 60 + wh.start.minute
        self._end = wh.end.hour * 60 + wh.end.minute
        self.calendar = calendar if calendar is not None else WorkCalendar.from_config(config)
        self._offsets: dict[dt.datetime, dt.timedelta] = {}
        self._hour_start = self._hour_end = dt.datetime.min  # the UTC hour looked up last, and its offset
        self._hour_offset = dt.timedelta(0)

    def offset(self, at: dt.datetime) -> dt.timedelta:
        if self._hour_start <= at < self._hour_end:  # events come in time order: mostly the same UTC hour
            return self._hour_offset
        hour = at.replace(minute=0, second=0, microsecond=0)
        off = self._offset_of(hour)
        self._hour_start, self._hour_end, self._hour_offset = hour, hour + _HOUR, off
        return off

    def _offset_of(self, hour: dt.datetime) -> dt.timedelta:
        off = self._offsets.get(hour)
        if off is None:
            off = hour.replace(tzinfo=dt.UTC).astimezone(self._zone).utcoffset() or dt.timedelta(0)
            if len(self._offsets) > 100_000:
                self._offsets.clear()
            self._offsets[hour] = off
        return off

    def local(self, at: dt.datetime) -> dt.datetime:
        """Naive local time of a naive UTC time."""
        return at + self.offset(at)

    def workday(self, day: dt.date) -> bool:
        return self.calendar.workday(day)

    def judge(self, at: dt.datetime) -> tuple[dt.date, bool]:
        """(local day, off the institution's hours?) of a naive UTC time."""
        day, _, _, off = self.place(at)
        return day, off

    def place(self, at: dt.datetime) -> tuple[dt.date, int, bool, bool]:
        """(local day, local minute of the day, working day?, off the institution's hours?) of a naive UTC time."""
        local = at + (self._hour_offset if self._hour_start <= at < self._hour_end else self.offset(at))
        day = local.date()
        minute = local.hour * 60 + local.minute
        workday = self.calendar.workday(day)
        return day, minute, workday, not (workday and self._start <= minute < self._end)

    def day_start_utc(self, day: dt.date) -> dt.datetime:
        """The naive UTC time at which a local day begins."""
        local = dt.datetime.combine(day, dt.time(0), tzinfo=self._zone)
        return local.astimezone(dt.UTC).replace(tzinfo=None)


@dataclass(slots=True)
class DayState:
    """One person's running features on one local day, with the event references behind them."""

    actor: str
    day: dt.date
    first_at: dt.datetime
    last_at: dt.datetime
    events: int = 0
    customers: set[str] = field(default_factory=set)
    bulk_unlisted: int = 0                     # customers exported in bulk without ids listed
    value_counts: dict[str, int] = field(default_factory=dict)  # distinct customers by value class
    weighted: float = 0.0
    off_hours_customers: set[str] = field(default_factory=set)
    off_hours_bulk: int = 0
    exports: int = 0
    exported: int = 0
    largest_export: int = 0
    unmasks: int = 0
    unmask_peak: int = 0                       # most unmasks in one sliding window (``repeated_unmask``) today
    denials: int = 0
    failed_logins: int = 0
    addresses: set[str] = field(default_factory=set)
    out_of_scope: set[str] = field(default_factory=set)
    out_of_scope_value: float = 0.0            # their value weights (the out_of_scope rule's count)
    scope_values: dict[str, int] = field(default_factory=dict)  # out-of-scope customers by value class
    scope_soft: dict[str, float] = field(default_factory=dict)   # own-branch valuable ones, not in the portfolio
    shared: set[str] = field(default_factory=set)       # customers that enough other accounts also looked at
    shared_group: int = 0                      # ... of them shared with the same accounts again and again
    shared_checked: int = 0                    # size of ``shared`` when the group was last counted
    shared_accounts: frozenset[str] = frozenset()  # the accounts of that count (the customers grow between counts)
    identifier_probes: int = 0                 # exact-identifier searches that missed or were refused
    identifier_counts: dict[str, list[int]] = field(default_factory=dict)  # kind -> [searches, misses, refused]
    level_counts: dict[int, int] = field(default_factory=dict)
    max_level: int = 0
    fields: set[str] = field(default_factory=set)
    refs: list[int] = field(default_factory=list)        # customer-touching events, first MAX_REFS
    off_refs: list[int] = field(default_factory=list)
    scope_refs: list[int] = field(default_factory=list)
    export_refs: list[int] = field(default_factory=list)
    first_data_at: dt.datetime | None = None
    first_off_at: dt.datetime | None = None
    last_data_at: dt.datetime | None = None              # the previous customer-touching event
    in_shift: bool = False                               # that event was in work hours or ran on from them
    first_scope_at: dt.datetime | None = None
    alerted: set[str] = field(default_factory=set)       # scenarios already alerted on this day
    bases: dict[str, Basis] = field(default_factory=dict)  # thresholds of the day, by scenario
    soft_next: dict[str, float] = field(default_factory=dict)  # next count at which to ask the anomaly model
    fired: dict[str, tuple[str, float, str, dt.datetime]] = field(default_factory=dict)  # id, count, severity, at
    confirmed: bool = False                              # a confirmed incident: kept out of history
    late: bool = False                                   # opened after its day was closed: kept out of history
    workday: bool = True                                 # a working day of the institution's calendar
    hours: int = 0                                       # bit h: customer work seen in local hour h
    worst: str = ""                                      # highest severity alerted on this day
    own_worst: str = ""                                  # ... of alerts judged against the person's own baseline
    # slow hoarding's bar for the day (the basis it came from, the past days' counts, the sum's and today's bars):
    # the past days do not change within the day, so it is worked out once, not at every event
    rolling: tuple[Basis, tuple[float, ...], float, float] | None = None
    team_next: dict[str, float] = field(default_factory=dict)  # count (by feature) at which to look at the team again
    handed: set[str] = field(default_factory=set)  # clients handed over today (their departing manager and a colleague)
    back_after: int | None = None   # days away before today when a return (-1 first day seen, 0 none; None unknown)

    def customer_total(self) -> int:
        return len(self.customers) + self.bulk_unlisted

    def off_hours_total(self) -> int:
        return len(self.off_hours_customers) + self.off_hours_bulk

    def vector(self) -> dict[str, float]:
        """The day's features by name (see :data:`FEATURES` and :data:`HISTORY_ONLY`)."""
        return {
            "events": float(self.events), "customers": float(self.customer_total()),
            "weighted_customers": self.weighted, "off_hours_customers": float(self.off_hours_total()),
            "exports": float(self.exports), "unmasks": float(self.unmasks), "denials": float(self.denials),
            "failed_logins": float(self.failed_logins), "addresses": float(len(self.addresses)),
            "out_of_scope": self.out_of_scope_value, "shared": float(self.shared_group),
            "max_level": float(self.max_level), "identifier_probes": float(self.identifier_probes),
            "unmask_peak": float(self.unmask_peak),
            # and by kind of identifier (history only): a call agent's usual mobile misses say nothing of ID tries
            **{f"identifier_probes:{kind}": float(c[1] + c[2]) for kind, c in self.identifier_counts.items()},
        }


def identifier_search(event: MonitorEvent) -> tuple[tuple[str, ...], str] | None:
    """The identifier kinds and outcome (hit, miss, refused) of an exact-identifier search; None otherwise.

    custodata's own events say both (``detail.identifiers``, ``detail.outcome``);
    for other systems' logs and older events the kinds come from
    ``detail.criteria`` and the outcome from the result and the hits.
    """
    if event.action != "search" or event.result == "failed":
        return None
    detail: Mapping[str, Any] = event.detail if isinstance(event.detail, Mapping) else {}
    named = detail.get("identifiers")
    if not isinstance(named, list | tuple):
        named = detail.get("criteria")
    if not isinstance(named, list | tuple):
        return None
    kinds = tuple(str(k) for k in named if k in IDENTIFIER_KINDS)
    if not kinds:
        return None
    outcome = detail.get("outcome")
    if outcome not in ("hit", "miss", "refused"):
        if event.result == "denied":
            outcome = "refused"
        else:
            hits = detail.get("hits")
            found = hits > 0 if isinstance(hits, int) and not isinstance(hits, bool) else bool(event.customer_ids)
            outcome = "hit" if found else "miss"
    return kinds, str(outcome)


def add_ref(refs: list[int], ref: int) -> None:
    if len(refs) < MAX_REFS:
        refs.append(ref)
