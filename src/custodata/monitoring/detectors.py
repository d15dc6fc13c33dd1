"""The monitor: every event updates person-day features, and rules judge them against baselines at once.

Detection is incremental so an alert comes within a minute of the events
behind it, not at night: each event updates its person's running day in
constant time and the rules that the event can affect are checked right then
(sliding windows for bursts, the day so far for volumes).  Thresholds come
from the person's own robust baseline (their peer group's before they have
one) and never fall below each scenario's configured floor; the anomaly model
corroborates near-misses and weighs in on the score.  Because every decision
depends only on the events in order, feeding a file in one batch or in many
small ones gives the same alerts.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from custodata.classification.grading import load_grading
from custodata.errors import ConfigError
from custodata.monitoring.alerts import Alert, alert_id, severity_rank, summarise
from custodata.monitoring.anomaly import AnomalyModel, normalise
from custodata.monitoring.baseline import Baselines, Basis, Stat
from custodata.monitoring.calendar import LearntHours, Shift, WorkCalendar
from custodata.monitoring.config import MonitorConfig, Rule, ShiftPattern
from custodata.monitoring.events import MonitorEvent
from custodata.monitoring.features import (
    BULK_ACTIONS,
    DATA_ACTIONS,
    EXPORT_ACTIONS,
    DayState,
    LocalClock,
    add_ref,
    identifier_search,
)
from custodata.monitoring.people import CustomerInfo, PersonInfo
from custodata.monitoring.risk import assess

Group = tuple[str, str]
# the person-day feature each volume scenario is judged on (a false positive raises that person's bar on it)
SCENARIO_FEATURE = {
    "hoarding": "customers", "off_hours_bulk": "off_hours_customers", "out_of_scope": "out_of_scope",
    "departing_exfiltration": "customers", "shared_customers": "shared", "multi_address": "addresses",
    "identifier_enumeration": "identifier_probes",
}
# the count rules whose day is compared with the peer group's day (what the team does, or rises to, is the day's
# work): hoarding's customers, out-of-scope look-ups (walk-ins of other branches rise with a busy counter day)
TEAM_FEATURES = {"hoarding": "customers", "out_of_scope": "out_of_scope"}
PROBES = ("miss", "refused")  # outcomes of an identifier search that confirmed nothing


@dataclass
class MonitorStats:
    """Running counts, for the CLI summary and the benchmark."""

    events: int = 0
    alerts: int = 0
    days_closed: int = 0
    model_samples: int = 0


class Monitor:
    """Incremental detection: feed events in time order as they arrive, get back only the new alerts."""

    def __init__(self, config: MonitorConfig, people: Mapping[str, PersonInfo], customers: CustomerInfo) -> None:
        self.config = config
        self.customers = customers
        self.calendar = WorkCalendar.from_config(config)
        self.clock = LocalClock(config, self.calendar)
        self._shifts = {name: Shift(name, pattern, self.calendar) for name, pattern in config.shifts.items()}
        self._person_shifts: dict[str, tuple[Shift, ...]] = {}
        self._hours: dict[str, LearntHours] = {}
        self._slot_actors: dict[tuple[str, dt.date, int], set[str]] = {}  # (role, local day, hour) -> at work
        self._serving_branches: frozenset[str] | None = _serving_branches(customers)
        self.baselines = Baselines(config)
        self.model = AnomalyModel(config.anomaly)
        self.stats = MonitorStats()
        self._grading = load_grading(config.grading_file)
        self._levels: dict[str, int] = {}
        self._people: Mapping[str, PersonInfo] = people
        self._person_cache: dict[str, PersonInfo] = {}
        self._today: dt.date | None = None
        self._states: dict[tuple[str, dt.date], DayState] = {}
        self._groups: dict[str, Group] = {}
        self._customer_actors: dict[dt.date, dict[str, set[str]]] = {}
        self._windows: dict[tuple[str, str], deque[tuple[dt.datetime, int]]] = {}
        self._suppress: dict[tuple[str, str], dt.datetime] = {}
        self._alert_ids: set[str] = set()
        self._samples: deque[list[float]] = deque(maxlen=config.anomaly.max_samples)
        self._n = 0
        self._days_seen = 0
        self._excluded: dict[tuple[str, dt.date], dict[str, float]] = {}  # alerted days kept out of baselines
        self._confirmed: set[tuple[str, dt.date]] = set()  # (person, local day) of confirmed incidents
        self._team_counts: dict[tuple[Group, dt.date], dict[str, float]] = {}  # customers today by peer group
        # exact-identifier searches today by peer group and kind: [searches, misses + refusals]
        self._team_ids: dict[tuple[Group, dt.date], dict[str, list[int]]] = {}
        self._export_sizes: dict[str, deque[float]] = {}       # rows of each past export, per person
        self._peer_export_sizes: dict[Group, deque[float]] = {}
        self._requests: dict[tuple[str, str], None] = {}        # export requests already judged (insertion-ordered)
        self._recent: dict[str, deque[tuple[dt.date, float]]] = {}  # customers of each closed day, alerted or not
        # exact-identifier searches per (person, kind): time, event, outcome, locked by the miss cap
        self._id_searches: dict[tuple[str, str], deque[tuple[dt.datetime, int, str, bool]]] = {}
        # (branch, customer) -> last day two or more of the branch's staff opened it together (its key accounts)
        self._reviewed: dict[tuple[str, str], dt.date] = {}
        self._owners: dict[str, tuple[str, ...]] | None = None  # customer -> people whose portfolio holds it
        # customers each scope-checked person opened, and the last local day they did (within 2 × baseline.days)
        self._worked_with: dict[str, dict[str, dt.date]] = {}

    # --- inputs ------------------------------------------------------------------------------------

    def update_people(self, people: Mapping[str, PersonInfo]) -> None:
        """New people facts (a status changed, a portfolio moved); they apply from the next event."""
        self._people = people
        self._person_cache.clear()
        self._owners = None
        self._person_shifts.clear()

    def confirm(self, alert: Alert) -> None:
        """A confirmed incident: the day of the alert is kept out of the person's baselines and learnt hours.

        Remembered by (person, day), so a day not seen yet — a restarted service replaying
        its history after the officer's decision — is kept out when it closes too.
        """
        day = self.clock.judge(alert.window_end - dt.timedelta(microseconds=1))[0]
        self._confirmed.add((alert.actor, day))
        st = self._states.get((alert.actor, day))
        if st is not None:
            st.confirmed = True
        else:
            self.baselines.drop_day(alert.actor, day)

    def feed(self, events: Iterable[MonitorEvent]) -> list[Alert]:
        """Process events (in time order, as the log appends them); returns the alerts they raised."""
        out: list[Alert] = []
        for event in events:
            self._n += 1
            self._observe(event, event.seq if event.seq is not None else self._n, out)
        self.stats.events = self._n
        self.stats.alerts += len(out)
        return out

    def mark_false_positive(self, alert: Alert) -> None:
        """Learn from a false positive: the same person needs clearly more than this to be alerted again."""
        count = alert.evidence.get("count")
        until = alert.window_end.date() + dt.timedelta(days=self.config.baseline.days)
        if isinstance(count, int | float):
            value = float(count)
            feature = SCENARIO_FEATURE.get(alert.scenario)
            if feature is not None:  # the whole day counts, not only the part seen when the alert was raised
                day = self.clock.judge(alert.window_end)[0]
                st = self._states.get((alert.actor, day))
                whole = st.vector() if st is not None else self._excluded.get((alert.actor, day), {})
                value = max(value, whole.get(feature, 0.0))
            self.baselines.allow(alert.actor, alert.scenario, value * 1.25 + 1.0, until)
        if alert.scenario == "new_data_kind":
            self.baselines.fields_seen[alert.actor].update(str(f) for f in alert.evidence.get("fields", ()))
        for (actor, _), st in self._states.items():
            if actor == alert.actor:
                for name in [n for n in st.bases if n.split(":", 1)[0] == alert.scenario]:
                    del st.bases[name]  # including a scenario's sub-thresholds (e.g. repeated_unmask:day)
                st.alerted.discard(alert.scenario)
        self._alert_ids.add(alert.alert_id)

    # --- per event ---------------------------------------------------------------------------------

    def _person(self, event: MonitorEvent) -> PersonInfo:
        person = self._person_cache.get(event.actor)
        if person is None:
            person = self._people.get(event.actor) or PersonInfo(
                actor=event.actor, role=event.role or "", branch=event.branch or "")
            self._person_cache[event.actor] = person
        return person

    def _shifts_of(self, person: PersonInfo) -> tuple[Shift, ...]:
        got = self._person_shifts.get(person.actor)
        if got is None:
            shifts = []
            for name in person.shift:
                shift = self._shifts.get(name)
                if shift is None:
                    shift = _inline_shift(name, self.calendar)
                if shift is None:
                    raise ConfigError(f"{person.actor}: shift '{name[:40]}' is neither a pattern of monitoring.yaml "
                                      f"(shifts: {', '.join(sorted(self._shifts)) or 'none'}) nor HH:MM-HH:MM")
                shifts.append(shift)
            got = self._person_shifts[person.actor] = tuple(shifts)
        return got

    def _off_for(self, person: PersonInfo, key: str, day: dt.date, minute: int, workday: bool) -> bool:
        """Off hours for this person: outside the institution's hours, their roster, their own usual hours and
        the hours their role is at work right now (a rota nobody put on the roster, on its first weekend)."""
        for shift in self._shifts_of(person):
            if shift.covers(day, minute):
                return False
        hour = minute // 60
        learnt = self._hours.get(key)
        if learnt is not None and learnt.usual(workday, hour):
            return False
        rule = self.config.learnt_hours
        if rule.role_at_work and person.role:
            now = self._slot_actors.get((person.role, day, hour), set())
            before = self._slot_actors.get((person.role, day, hour - 1), set()) if hour else set()
            others = len(now | before) - (key in now or key in before)
            if others >= rule.role_at_work:
                return False
        return True

    def _level(self, field_name: str) -> int:
        level = self._levels.get(field_name)
        if level is None:
            level = self._levels[field_name] = self._grading.field_level(field_name)
        return level

    def _observe(self, e: MonitorEvent, ref: int, out: list[Alert]) -> None:
        day, minute, workday, off = self.clock.place(e.at)
        if self._today is None or day > self._today:
            self._roll(day)
        person = self._person(e)
        key = e.actor if e.actor != "-" else f"-@{e.source_address or 'unknown'}"
        st = self._states.get((key, day))
        if st is None:
            st = self._states[(key, day)] = DayState(actor=key, day=day, first_at=e.at, last_at=e.at,
                                                     late=self._today is not None and day < self._today,
                                                     workday=workday)
            self._groups[key] = self._peer_group(person)
        if off:
            off = self._off_for(person, key, day, minute, workday)
        st.events += 1
        st.last_at = e.at
        if e.source_address and e.source_address not in st.addresses:
            st.addresses.add(e.source_address)
            r = self.config.scenarios.multi_address
            if r.enabled:
                self._count_rule("multi_address", person, st, float(len(st.addresses)), "addresses", r, ref, e.at,
                                 out, refs=(ref,), first_at=st.first_at, extra={"addresses": sorted(st.addresses)})
        if e.action == "search":
            searched = identifier_search(e)
            if searched is not None:
                self._identifier(e, searched[0], searched[1], person, key, st, ref, out)
        if e.result != "ok":
            self._failure(e, person, key, st, ref, out)
            return
        if e.action not in DATA_ACTIONS:
            return
        st.hours |= 1 << (minute // 60)
        if person.role:
            slot = (person.role, day, minute // 60)
            actors = self._slot_actors.get(slot)
            if actors is None:
                actors = self._slot_actors[slot] = set()
            actors.add(key)
        self._data(e, person, key, st, ref, off, out)

    def _peer_group(self, person: PersonInfo) -> Group:
        """Role × scope: branch staff with their branch's, head-office staff (no branch of customers) together."""
        return (person.role, "*" if self._institution_wide(person) else person.branch)

    def _institution_wide(self, person: PersonInfo) -> bool:
        """Head office: said so, or no portfolio and a branch that serves no customer (e.g. 总行)."""
        if person.scope == "institution":
            return True
        if person.scope in ("portfolio", "branch") or person.portfolio:
            return False
        known = self._serving_branches
        return known is not None and bool(known) and person.branch not in known

    def _failure(self, e: MonitorEvent, person: PersonInfo, key: str, st: DayState, ref: int,
                 out: list[Alert]) -> None:
        rule = self.config.scenarios.failed_login_burst
        if e.action == "login" and e.result == "failed":
            st.failed_logins += 1
            kind, feature, floor = "failed", "failed_logins", rule.min_failed
        elif e.result == "denied":
            st.denials += 1
            kind, feature, floor = "denied", "denials", rule.min_denied
        else:
            return
        if not rule.enabled:
            return
        window = self._window(f"failed_login_burst:{kind}", key, e.at, ref, rule.window_minutes)
        if self._suppressed("failed_login_burst", key, e.at):
            return
        # k 1: a burst is judged against the few typos a person usually makes, not four MADs above them
        basis = self._basis(st, f"failed_login_burst:{kind}", person, feature, float(floor), 3.0, 1.0)
        # the first day back after a holiday or leave (or a person's first day at all) is when passwords are
        # forgotten: failed logins need ``break_factor`` times the bar then; denials are not forgotten
        away = self._away(key, st) if kind == "failed" else 0
        factor = rule.break_factor if away else 1.0
        threshold = basis.threshold * factor
        x = float(len(window))
        if x >= threshold:
            self._suppress[("failed_login_burst", key)] = e.at + dt.timedelta(minutes=rule.window_minutes)
            extra: dict[str, Any] = {"kind": kind, "window_minutes": rule.window_minutes}
            if away:
                extra.update({"back_after_days": away if away > 0 else None, "threshold_factor": factor})
            self._fire("failed_login_burst", person, key, st, window[0][0], e.at, x, basis, x / threshold,
                       [r for _, r in window], window[0][0], e.at, out, extra=extra, with_context=False,
                       threshold=threshold)

    def _away(self, key: str, st: DayState) -> int:
        """Days the person was away before today when that is a return (more than ``break_days``), else 0.

        -1 for a person's first day seen once the monitor has been watching a while (a new joiner's first
        login, a return from a leave longer than the history); 0 for an account without a person.
        """
        if st.back_after is None:
            rule = self.config.scenarios.failed_login_burst
            recent = self._recent.get(key)
            away = 0
            if rule.break_days <= 0 or key.startswith("-@"):
                away = 0
            elif recent:
                gap = (st.day - recent[-1][0]).days - 1
                away = gap if gap >= rule.break_days else 0
            elif self._days_seen > self.config.baseline.warmup_days:
                away = -1
            st.back_after = away
        return st.back_after

    def _data(self, e: MonitorEvent, person: PersonInfo, key: str, st: DayState, ref: int, off: bool,
              out: list[Alert]) -> None:
        sc = self.config.scenarios
        if st.first_data_at is None:
            st.first_data_at = e.at
        add_ref(st.refs, ref)
        new = [c for c in e.customer_ids if c not in st.customers]
        scope_checked = (bool(person.portfolio or person.branch) and person.role not in sc.out_of_scope.exempt_roles
                         and not self._institution_wide(person))
        w = self.config.weights
        new_scope = False
        worked = self._worked_with.get(key) if scope_checked else None
        if scope_checked and worked is None:
            worked = self._worked_with[key] = {}
        for c in new:
            st.customers.add(c)
            value = self.customers.value_of(c) or "unknown"
            st.value_counts[value] = st.value_counts.get(value, 0) + 1
            weight = w.value.get(value, w.unknown_value)
            st.weighted += weight
            if worked is not None:
                # a client the person worked with on an earlier day is theirs (last month's assignment list,
                # a case still open): scope judges what is new to them
                last = worked.get(c)
                worked[c] = st.day
                if last is not None and last < st.day:
                    continue
                outside, soft = self._outside_weight(person, c, value, weight, st.day)
                if outside:
                    st.out_of_scope.add(c)
                    st.out_of_scope_value += outside
                    st.scope_values[value] = st.scope_values.get(value, 0) + 1
                    new_scope = True
                    if soft:
                        st.scope_soft[c] = outside
        # overtime and late shifts run on from the working day; an off-hours session starts on its own
        cont = sc.off_hours_bulk.continuation_minutes
        prev = st.last_data_at
        running_on = (off and cont > 0 and st.in_shift and prev is not None
                      and e.at - prev <= dt.timedelta(minutes=cont))
        st.in_shift = not off or running_on
        st.last_data_at = e.at
        if off and not running_on:
            before = len(st.off_hours_customers)
            hits = sc.off_hours_bulk.search_hits
            if e.action == "search" and hits and len(e.customer_ids) > hits:
                st.off_hours_customers.update(e.customer_ids[:hits])  # a result list is not records opened
            else:
                st.off_hours_customers.update(e.customer_ids)
            if len(st.off_hours_customers) > before or (e.action in BULK_ACTIONS and not e.customer_ids):
                add_ref(st.off_refs, ref)
                if st.first_off_at is None:
                    st.first_off_at = e.at
        if e.action in EXPORT_ACTIONS:
            rid = e.detail.get("request_id") if isinstance(e.detail, dict) else None
            approved = isinstance(rid, str) and bool(rid)
            if e.action in BULK_ACTIONS and not approved:  # an export outside the approval flow is bulk viewing
                unlisted = e.customer_count - len(e.customer_ids)
                if unlisted > 0:
                    st.bulk_unlisted += unlisted
                    if off:
                        st.off_hours_bulk += unlisted
            if not approved or self._first_request(e.actor, str(rid)):
                self._export(e, person, st, ref, out)
        if new_scope:
            add_ref(st.scope_refs, ref)
            if st.first_scope_at is None:
                st.first_scope_at = e.at
        new_fields = []
        for f in e.fields:
            level = self._level(f)
            st.level_counts[level] = st.level_counts.get(level, 0) + 1
            if level > st.max_level:
                st.max_level = level
            if f not in st.fields:
                st.fields.add(f)
                new_fields.append(f)
        if e.action == "unmask":
            st.unmasks += 1
            self._unmask(person, key, st, ref, e.at, out)
        if new:
            self._shared(new, person, key, st, ref, e.at, out)
        if new or (e.action in BULK_ACTIONS and st.bulk_unlisted):
            x = float(st.customer_total())
            hr = sc.hoarding
            group_day = (self._groups[key], st.day)
            team = self._team_counts.get(group_day)
            if team is None:
                team = self._team_counts[group_day] = {}
            team[key] = x
            factor = hr.kind_factor.get(person.kind, 1.0)
            if hr.enabled:
                # clients handed over by their leaving manager (both of them open each) are not collected alone
                self._count_rule("hoarding", person, st, x - len(st.handed), "customers", hr, ref, e.at, out,
                                 refs=st.refs, first_at=st.first_data_at, factor=factor)
            if hr.enabled and hr.rolling_days > 1 and "hoarding" not in st.alerted:
                self._rolling(person, st, x - len(st.handed), ref, e.at, factor, out)
            self._departing(person, st, ref, e.at, out)
        if off and not running_on and sc.off_hours_bulk.enabled and st.first_off_at is not None:
            self._count_rule("off_hours_bulk", person, st, float(st.off_hours_total()), "off_hours_customers",
                             sc.off_hours_bulk, ref, e.at, out, refs=st.off_refs, first_at=st.first_off_at)
        if new_scope and sc.out_of_scope.enabled:
            self._count_rule("out_of_scope", person, st, st.out_of_scope_value, "out_of_scope",
                             sc.out_of_scope, ref, e.at, out, refs=st.scope_refs, first_at=st.first_scope_at,
                             extra={"portfolio_size": len(person.portfolio), "branch": person.branch,
                                    "customers_outside": len(st.out_of_scope),
                                    "outside_by_value": dict(st.scope_values)})
        if new_fields:
            self._new_kind(person, key, st, new_fields, ref, e.at, out)

    def _outside_weight(self, person: PersonInfo, customer_id: str, value: str, weight: float, day: dt.date
                        ) -> tuple[float, bool]:
        """How much a look at this customer weighs outside the person's scope (0: inside it).

        Outside the branch and portfolio: the customer's value weight.  A portfolio
        holder's look at a high-value customer of their own branch who is not in their
        portfolio weighs too (curiosity about the branch's wealthy clients), an ordinary
        walk-in of the branch does not (and that look stops counting — ``soft`` — once colleagues
        of the branch open the same customer today: a joint key-account review).  It does not
        weigh at all when the branch reviewed that customer together on an earlier day (within
        ``baseline.days``: its key accounts, reviewed every week), nor when the customer is in the
        portfolio of a colleague of the branch who is away (covering their clients).
        Unknown branches count only for portfolio holders.
        """
        if customer_id in person.portfolio:
            return 0.0, False
        branches = self.customers.branches_of(customer_id)
        if branches:
            if person.branch not in branches:
                return weight, False
            classes = self.config.scenarios.out_of_scope.portfolio_classes
            if not (person.portfolio and value in classes):
                return 0.0, False
            reviewed = self._reviewed.get((person.branch, customer_id))
            if reviewed is not None and reviewed < day and (day - reviewed).days <= self.config.baseline.days:
                return 0.0, False
            if self._covering(person, customer_id, day):
                return 0.0, False
            return weight, True
        return (weight if person.portfolio else 0.0), False

    def _covering(self, person: PersonInfo, customer_id: str, day: dt.date) -> bool:
        """Whether the customer is in the portfolio of a colleague of the person's branch who is away.

        Away: not at work today so far, nor on the institution's previous working day (a
        leave, a training week).  Someone covers their clients meanwhile; a look at a
        colleague's client while the colleague is at work is still curiosity.
        """
        if self._owners is None:
            owners: dict[str, list[str]] = {}
            for actor, p in self._people.items():
                for c in p.portfolio:
                    owners.setdefault(c, []).append(actor)
            self._owners = {c: tuple(a) for c, a in owners.items()}
        previous = day - dt.timedelta(days=1)
        for _ in range(14):
            if self.calendar.workday(previous):
                break
            previous -= dt.timedelta(days=1)
        for owner in self._owners.get(customer_id, ()):
            if owner == person.actor:
                continue
            other = self._people.get(owner)
            if other is None or other.branch != person.branch or (owner, day) in self._states:
                continue
            recent = self._recent.get(owner)
            if recent and recent[-1][0] >= previous:
                continue
            return True
        return False

    def _departing(self, person: PersonInfo, st: DayState, ref: int, at: dt.datetime, out: list[Alert]) -> None:
        """A leaving or transferred person doing what is unusual *for them*: more customers, or more outside scope.

        Their own habit is the yardstick, highs included: the bar is above the busiest
        day of their recent history (× ``peak_margin``), so their ordinary Monday
        review or month-end is not a departure; without a history of their own, the
        peers' bar is as strict as for hoarding (and for out of scope).  Two things are
        their last duties, not a departure: clients of their own portfolio that a colleague
        of their branch opens the same day (the hand-over walks the receiver through the
        portfolio) do not count, and a day on which the peer group does as much or rises as
        far (the team's day, as for hoarding) is not unusual for them either.
        """
        if not self._is_departing(person, st) or "departing_exfiltration" in st.alerted:
            return
        dep = self.config.scenarios.departing_exfiltration
        own = self.baselines.person_days(st.actor) >= self.config.baseline.min_person_days
        customers = float(st.customer_total() - len(st.handed))
        for feature, x, floor_rule in (("customers", customers, self.config.scenarios.hoarding),
                                       ("out_of_scope", st.out_of_scope_value, self.config.scenarios.out_of_scope)):
            name = f"departing_exfiltration:{feature}"
            basis = st.bases.get(name)
            if basis is None:
                rule: Rule = dep if own else floor_rule
                min_count = dep.min_count if feature == "customers" or not own else dep.min_outside
                basis = self.baselines.threshold(st.actor, self._groups.get(st.actor) or self._peer_group(person),
                                                 feature, "departing_exfiltration", min_count=min_count,
                                                 ratio=rule.ratio, k=rule.k)
                if own:
                    peak = self.baselines.person_max(st.actor, feature) * dep.peak_margin
                    basis = Basis(source=basis.source, stat=basis.stat, threshold=max(basis.threshold, peak),
                                  peer=basis.peer)
                st.bases[name] = basis
            if basis.source == "floor" and self._days_seen <= self.config.baseline.warmup_days:
                continue
            if x >= basis.threshold and not self._team_day(st, x, feature):
                refs = st.refs if feature == "customers" else st.scope_refs
                first = st.first_data_at if feature == "customers" else st.first_scope_at
                self._fire("departing_exfiltration", person, st.actor, st, self.clock.day_start_utc(st.day), at, x,
                           basis, x / basis.threshold, refs, first, at, out,
                           extra={**self._departing_facts(person, st), "trigger": feature})
                return

    def _is_departing(self, person: PersonInfo, st: DayState) -> bool:
        """Within ``lookback_days`` before the status date, through that date (the last day in the post)."""
        return self._departing_on(person, st.day)

    def _departing_on(self, person: PersonInfo, day: dt.date) -> bool:
        rule = self.config.scenarios.departing_exfiltration
        if not rule.enabled or person.status not in rule.statuses:
            return False
        if person.status_date is None:
            return True
        return (person.status_date - dt.timedelta(days=rule.lookback_days) <= day
                <= person.status_date + dt.timedelta(days=rule.after_days))

    @staticmethod
    def _departing_facts(person: PersonInfo, st: DayState) -> dict[str, Any]:
        return {"status": person.status,
                "status_date": person.status_date.isoformat() if person.status_date else None,
                "exports": st.exports, "exported_customers": st.exported}

    def _first_request(self, actor: str, rid: str) -> bool:
        """Whether this export request is new (its export and download follow it and are not judged again)."""
        key = (actor, rid)
        if key in self._requests:
            return False
        self._requests[key] = None
        if len(self._requests) > 200_000:
            for old in list(self._requests)[:100_000]:
                del self._requests[old]
        return True

    def _export(self, e: MonitorEvent, person: PersonInfo, st: DayState, ref: int, out: list[Alert]) -> None:
        """One export (request, export or download of one request) judged by its size against the person's habit.

        Approved exports are routine for marketers and analysts, so their rows do not count as customers
        viewed; instead each export's size is compared with the person's own past exports (the peer group's
        before they have enough), and a leaving or transferred person's export fires when it is larger than
        their habit — or when they never exported before.
        """
        rows = float(max(e.customer_count, len(e.customer_ids)))
        rid = e.detail.get("request_id") if isinstance(e.detail, dict) else None
        approved = isinstance(rid, str) and bool(rid)
        st.exports += 1
        st.exported += int(rows)
        st.largest_export = max(st.largest_export, int(rows))
        add_ref(st.export_refs, ref)
        if st.first_data_at is None:
            st.first_data_at = e.at
        hr = self.config.scenarios.hoarding
        own_sizes = self._export_sizes.get(st.actor)
        group: Group = (person.role, "")  # exports are a role's habit (campaign lists, reports), not a branch's
        peer_sizes = self._peer_export_sizes.get(group)
        own = _median(own_sizes) if own_sizes is not None and len(own_sizes) >= hr.export_min_history else None
        peer = _median(peer_sizes) if peer_sizes is not None and len(peer_sizes) >= hr.export_min_history else None
        fired = False
        if self._is_departing(person, st) and "departing_exfiltration" not in st.alerted:
            dep = self.config.scenarios.departing_exfiltration
            habit = own if own is not None else peer  # the peers' habit before the person has their own
            sizes = own_sizes if own is not None else peer_sizes
            # larger than their usual size and than anything of the habit's recent exports
            limit = max(habit * dep.export_ratio, max(sizes or (0.0,))) if habit is not None else 0.0
            if rows > limit:
                stat = Stat(median=habit, scale=0.0, n=len(own_sizes or ())) if habit is not None else None
                source = "person" if own is not None else "peer" if habit is not None else "floor"
                basis = Basis(source=source, stat=stat, threshold=limit)
                excess = rows / limit if limit else 2.0
                self._fire("departing_exfiltration", person, st.actor, st, self.clock.day_start_utc(st.day), e.at,
                           rows, basis, max(excess, 2.0), st.export_refs, st.first_data_at, e.at, out,
                           extra={**self._departing_facts(person, st), "trigger": "export", "export_rows": rows,
                                  "usual_export_rows": habit})
                fired = True
        if hr.enabled and "hoarding" not in st.alerted and not st.late:
            base, source = (own, "person") if own is not None else (peer, "peer") if peer is not None else (
                None, "floor")
            if base is not None or self._days_seen > self.config.baseline.warmup_days:
                limit = max(hr.export_min_rows, (base or 0.0) * hr.export_ratio)
                if rows >= limit:
                    stat = Stat(median=base, scale=0.0, n=len(own_sizes or ())) if base is not None else None
                    # through the approval flow with no habit to judge it by (a DBA's first regulatory extract,
                    # a role that never exported): a checker approves it, so the officer confirms; no freeze
                    first_approved = approved and base is None
                    self._fire("hoarding", person, st.actor, st, self.clock.day_start_utc(st.day), e.at, rows,
                               Basis(source=source, stat=stat, threshold=limit), rows / limit, st.export_refs,
                               st.first_data_at, e.at, out,
                               extra={"trigger": "export", "export_rows": rows, "usual_export_rows": base,
                                      "approval_flow": approved},
                               cap=hr.first_approved_export_severity if first_approved else None)
                    fired = True
        if not fired:
            if own_sizes is None:
                own_sizes = self._export_sizes[st.actor] = deque(maxlen=50)
            own_sizes.append(rows)
            if peer_sizes is None:
                peer_sizes = self._peer_export_sizes[group] = deque(maxlen=500)
            peer_sizes.append(rows)

    def _rolling(self, person: PersonInfo, st: DayState, x: float, ref: int, at: dt.datetime, factor: float,
                 out: list[Alert]) -> None:
        """Slow hoarding: the last few days together well above the same number of usual days."""
        hr = self.config.scenarios.hoarding
        recent = self._recent.get(st.actor)
        if recent is None or self._days_seen <= self.config.baseline.warmup_days:
            return
        basis = self._basis(st, "hoarding", person, "customers", hr.min_count, hr.ratio, hr.k)
        bar = st.rolling
        if bar is None or bar[0] is not basis:  # once a day (again if the day's basis was reset by a false positive)
            bar = st.rolling = self._rolling_bar(st, basis, recent)
        _, past, limit, today_bar = bar
        total = x + sum(past)
        if total < limit or x < today_bar:
            return
        if x < self.baselines.allowance(st.actor, "hoarding"):
            return  # a day like one already marked a false positive
        if self._team_day(st, x):
            return  # today is the team's work; it does not make the last days a sustained rise either
        self._fire("hoarding", person, st.actor, st, self.clock.day_start_utc(st.day), at, total, basis,
                   total / limit, st.refs, st.first_data_at, at, out,
                   extra={"trigger": "rolling", "days": hr.rolling_days, "daily_counts": [*past, x],
                          "rolling_threshold": round(limit, 1)}, threshold=limit)

    def _rolling_bar(self, st: DayState, basis: Basis, recent: deque[tuple[dt.date, float]]
                     ) -> tuple[Basis, tuple[float, ...], float, float]:
        """(basis, the past days' counts, their sum's bar with today, today's bar); infinite when it cannot apply."""
        hr = self.config.scenarios.hoarding
        never = (basis, (), float("inf"), float("inf"))
        since = st.day - dt.timedelta(days=hr.rolling_days * 2)
        past = [v for d, v in list(recent)[-(hr.rolling_days - 1):] if d >= since]
        stat = basis.stat
        if len(past) < hr.rolling_days - 1 or stat is None:
            return never
        if min(past, default=0.0) < stat.median * hr.rolling_each_ratio:
            return never  # the person's own rhythm: one busy day among ordinary ones is not a sustained rise
        n = float(hr.rolling_days)
        # the kind factor (outsourced watched closer) is for the day's count; a sum of days at 1.35× the median
        # is an ordinary busy spell for a call agent whose days vary twofold
        limit = max(n * stat.median * hr.rolling_ratio,
                    n * stat.median + self.config.baseline.k * max(stat.scale, self.config.baseline.min_scale)
                    * n ** 0.5, hr.min_count)
        return basis, tuple(past), limit, stat.median * hr.rolling_ratio

    def _unmask(self, person: PersonInfo, key: str, st: DayState, ref: int, at: dt.datetime,
                out: list[Alert]) -> None:
        rule = self.config.scenarios.repeated_unmask
        if not rule.enabled:
            return
        window = self._window("repeated_unmask", key, at, ref, rule.window_minutes)
        st.unmask_peak = max(st.unmask_peak, len(window))
        if self._suppressed("repeated_unmask", key, at):
            return
        # an hour is judged against the person's usual busiest hour (their peers' before they have one), not
        # against their whole day: 15 unmasks in half an hour from someone who does 10 a day, spread, is a burst
        basis = self._basis(st, "repeated_unmask", person, "unmask_peak", rule.min_count, rule.ratio, rule.k)
        if basis.source == "floor" and self._days_seen <= self.config.baseline.warmup_days:
            return
        x = float(len(window))
        if x >= basis.threshold:
            self._suppress[("repeated_unmask", key)] = at + dt.timedelta(minutes=rule.window_minutes)
            self._fire("repeated_unmask", person, key, st, window[0][0], at, x, basis, x / basis.threshold,
                       [r for _, r in window], window[0][0], at, out,
                       extra={"window_minutes": rule.window_minutes, "unmasks_today": st.unmasks})
            return
        if "repeated_unmask" in st.alerted:
            return
        # unmasks spread over the day: the day's count against the person's usual day
        day_basis = self._basis(st, "repeated_unmask:day", person, "unmasks", rule.day_min_count, rule.day_ratio,
                                rule.k)
        if day_basis.source == "floor" and self._days_seen <= self.config.baseline.warmup_days:
            return
        total = float(st.unmasks)
        # a day on which others of the peer group unmask as much, or rise as far, is the day's work (a busy
        # day after a holiday at the counter), judged like hoarding's team day
        if total >= day_basis.threshold and not self._team_day(st, total, "unmasks"):
            self._fire("repeated_unmask", person, key, st, self.clock.day_start_utc(st.day), at, total, day_basis,
                       total / day_basis.threshold, [r for _, r in window], st.first_data_at, at, out,
                       extra={"trigger": "day", "unmasks_today": st.unmasks})

    def _identifier(self, e: MonitorEvent, kinds: tuple[str, ...], outcome: str, person: PersonInfo, key: str,
                    st: DayState, ref: int, out: list[Alert]) -> None:
        """Candidates tried one after another: exact-identifier searches of one kind, mostly misses or refused.

        Honest search-before-create mostly hits (the customer stands at the desk);
        trying the dates a masked ID leaves, or the numbers a masked mobile
        leaves, mostly misses and then runs into the service's daily miss cap.
        Judged per kind of identifier, so a clerk's many mobile hits do not
        hide an ID enumeration.
        """
        rule = self.config.scenarios.identifier_enumeration
        probe = outcome in PROBES
        locked = outcome == "refused" and isinstance(e.detail, Mapping) and e.detail.get("limit") == "identifier-miss"
        if probe:
            st.identifier_probes += 1
        group_day = (self._groups.get(key, ("", "")), st.day)
        team = self._team_ids.get(group_day)
        if team is None:
            team = self._team_ids[group_day] = {}
        for kind in kinds:
            counts = st.identifier_counts.setdefault(kind, [0, 0, 0])
            counts[0] += 1
            counts[1] += int(outcome == "miss")
            counts[2] += int(outcome == "refused")
            pooled = team.setdefault(kind, [0, 0])
            pooled[0] += 1
            pooled[1] += int(probe)
        if not rule.enabled:
            return
        cutoff = e.at - dt.timedelta(minutes=rule.window_minutes)
        best: tuple[float, str, list[tuple[dt.datetime, int, str, bool]]] | None = None
        for kind in kinds:
            window = self._id_searches.get((key, kind))
            if window is None:
                window = self._id_searches[(key, kind)] = deque()
            window.append((e.at, ref, outcome, locked))
            while window[0][0] < cutoff or len(window) > 10_000:
                window.popleft()
            probes = [w for w in window if w[2] in PROBES]
            if probe and len(probes) / len(window) >= rule.min_miss_share and (
                    best is None or len(probes) > best[0]):
                best = (float(len(probes)), kind, probes)
        if not probe:
            return
        # judged against the person's own usual misses of that kind of identifier (floor before they have a history)
        judged = best[1] if best is not None else kinds[0]
        basis = self._basis(st, f"identifier_enumeration:{judged}", person, f"identifier_probes:{judged}",
                            rule.min_count, rule.ratio, rule.k)
        if self._suppressed("identifier_enumeration", key, e.at):
            if best is not None:  # it goes on after the alert (past the day's lock): each doubling may escalate
                self._enumeration_goes_on(person, key, st, best, basis, e.at, out)
            return
        if best is not None and best[0] >= basis.threshold and self._beyond_chance(
                key, st, best[1], best[2], len(self._id_searches[(key, best[1])])):
            x, kind, probes = best
            self._suppress[("identifier_enumeration", key)] = e.at + dt.timedelta(minutes=rule.window_minutes)
            window = self._id_searches[(key, kind)]
            self._fire("identifier_enumeration", person, key, st, probes[0][0], e.at, x, basis,
                       rule.weight * x / basis.threshold, [r for _, r, _, _ in probes], probes[0][0], e.at, out,
                       extra=self._enumeration_evidence(st, kind, probes, len(window), rule.window_minutes),
                       max_level=self._level(kind))
            return
        if "identifier_enumeration" in st.alerted:
            return
        # a few a day, each day, against the service's miss cap: the day's count (tries after the lock included)
        for kind in kinds:
            day_basis = self._basis(st, f"identifier_enumeration:day:{kind}", person, f"identifier_probes:{kind}",
                                    rule.day_min_count, rule.ratio, rule.k)
            searches, misses, refused = st.identifier_counts[kind]
            tried = misses + refused
            probes = [w for w in self._id_searches[(key, kind)] if w[2] in PROBES]
            if tried >= day_basis.threshold and tried / searches >= rule.min_miss_share and self._beyond_chance(
                    key, st, kind, probes, searches, day=(misses, refused)):
                self._fire("identifier_enumeration", person, key, st, self.clock.day_start_utc(st.day), e.at,
                           float(tried), day_basis, rule.weight * tried / day_basis.threshold,
                           [r for _, r, _, _ in probes], st.first_at, e.at, out,
                           extra={"trigger": "day", "window_minutes": None, "identifier": kind, "searches": searches,
                                  "misses": misses, "refused": refused, "locked": locked or any(p[3] for p in probes),
                                  "probes_today": st.identifier_probes},
                           max_level=self._level(kind))
                return

    def _beyond_chance(self, key: str, st: DayState, kind: str, probes: list[tuple[dt.datetime, int, str, bool]],
                       searches: int, day: tuple[int, int] | None = None) -> bool:
        """Whether these misses are more than the day's share of misses makes likely (or tried past the lock).

        A desk's misses are callers who are no customer, wrong numbers, prospects: a share
        of its searches that the whole team shares, and that rises for the whole team on
        the day an SMS campaign goes out.  Candidates tried one after another miss far
        beyond that share.  The share is the peer group's today (its other members'
        searches of this kind, ``chance_min_searches`` or more), never below
        ``chance_share``; the misses must be less likely than ``chance_alpha`` under it
        (binomial tail of the window's misses, or the run of misses without a hit between,
        share ** run).  A try refused by the day's miss cap — going on past the lock —
        is deliberate and needs no such test.
        """
        rule = self.config.scenarios.identifier_enumeration
        if rule.chance_alpha <= 0:
            return True
        misses, refused = day if day is not None else (sum(1 for p in probes if p[2] == "miss"),
                                                       sum(1 for p in probes if p[2] == "refused"))
        if refused:
            return True
        pooled = self._team_ids.get((self._groups.get(key, ("", "")), st.day), {}).get(kind, [0, 0])
        own = st.identifier_counts.get(kind, [0, 0, 0])
        others_searches, others_probes = pooled[0] - own[0], pooled[1] - own[1] - own[2]
        share = rule.chance_share
        if others_searches >= rule.chance_min_searches:
            share = max(share, others_probes / others_searches)
        if _binomial_tail(misses, searches, share) < rule.chance_alpha:
            return True
        # or one miss after another with no hit between: independent misses line up like that with share ** run
        run = 0
        for _, _, outcome, _ in reversed(self._id_searches.get((key, kind), ())):
            if outcome not in PROBES:
                break
            run += 1
        return run >= rule.min_count and share ** run < rule.chance_alpha

    def _enumeration_goes_on(self, person: PersonInfo, key: str, st: DayState,
                             best: tuple[float, str, list[tuple[dt.datetime, int, str, bool]]], basis: Basis,
                             at: dt.datetime, out: list[Alert]) -> None:
        rule = self.config.scenarios.identifier_enumeration
        fired = st.fired.get("identifier_enumeration")
        x, kind, probes = best
        if fired is None or x < fired[1] * 2:
            return
        previous_id, _, previous_severity, previous_at = fired
        excess = rule.weight * x / basis.threshold
        risk = assess(self.config, excess=excess, kind=person.kind, max_level=self._level(kind))
        st.fired["identifier_enumeration"] = (previous_id, x, previous_severity, previous_at)
        if severity_rank(risk.severity) <= severity_rank(previous_severity):
            return
        evidence = self._enumeration_evidence(st, kind, probes, len(self._id_searches[(key, kind)]),
                                              rule.window_minutes)
        self._fire("identifier_enumeration", person, key, st, previous_at, at, x, basis, excess,
                   [r for _, r, _, _ in probes], probes[0][0], at, out, extra={**evidence, "escalates": previous_id},
                   max_level=self._level(kind), id_part=f"{x:g}")  # the tries may all fall in one second

    @staticmethod
    def _enumeration_evidence(st: DayState, kind: str, probes: list[tuple[dt.datetime, int, str, bool]],
                              searches: int, minutes: int) -> dict[str, Any]:
        return {"trigger": "window", "window_minutes": minutes, "identifier": kind, "searches": searches,
                "misses": sum(1 for p in probes if p[2] == "miss"),
                "refused": sum(1 for p in probes if p[2] == "refused"),
                "locked": any(p[3] for p in probes), "probes_today": st.identifier_probes}

    def _shared(self, new: list[str], person: PersonInfo, key: str, st: DayState, ref: int, at: dt.datetime,
                out: list[Alert]) -> None:
        """Customers that ``min_accounts`` *other* accounts also looked at today: shared credentials, collusion.

        A co-viewer does not count when they are of the person's own branch and the
        customer is the branch's (or in the person's portfolio): a branch's managers
        and marketers reviewing the same key accounts together is their work.
        """
        rule = self.config.scenarios.shared_customers
        if not rule.enabled:
            return
        actors_of = self._customer_actors.setdefault(st.day, {})
        affected: set[str] = set()
        need = rule.min_accounts
        grown: set[str] = set()
        for c in new:
            actors = actors_of.get(c)
            if actors is None:
                actors_of[c] = {key}
                continue
            actors.add(key)
            self._joint_review(c, actors, st.day)
            if len(actors) <= need:
                continue
            for a in actors:
                other = self._states.get((a, st.day))
                if other is None:
                    continue
                if c not in other.shared and self._co_viewers(a, c, actors) >= need:
                    other.shared.add(c)
                    affected.add(a)
                # one of the accounts already found together with ``a`` (or ``a``) opened one more of a's shared
                # customers: counted at once, not at the next tenth
                if other.shared_accounts and c in other.shared and (key == a or key in other.shared_accounts):
                    grown.add(a)
                    affected.add(a)
        for a in sorted(affected):
            other = self._states.get((a, st.day))
            if other is None or "shared_customers" in other.alerted:
                continue
            who = self._person_cache.get(a) or PersonInfo(actor=a, role=self._groups.get(a, ("", ""))[0],
                                                          branch=self._groups.get(a, ("", ""))[1])
            basis = self._basis(other, "shared_customers", who, "shared", float(rule.min_customers), 3.0, None)
            size = len(other.shared)
            # the group count is at most the shared count; a heavy reader's is recounted as it grows by a tenth
            recount = size >= basis.threshold and size >= other.shared_checked + max(1, other.shared_checked // 10)
            if not recount and a not in grown:
                continue
            if recount:
                other.shared_checked = size
            group, together = self._group_shared(a, other, actors_of)
            other.shared_accounts = frozenset(group) if len(group) >= need else frozenset()
            other.shared_group = len(together)
            if basis.source == "floor" and self._days_seen <= self.config.baseline.warmup_days:
                continue
            x = float(len(together))
            if x >= basis.threshold:
                accounts = sorted(group)
                self._fire("shared_customers", who, a, other, self.clock.day_start_utc(st.day), at, x, basis,
                           x / basis.threshold, other.refs, other.first_data_at, at, out,
                           extra={"accounts": accounts[:50], "min_accounts": rule.min_accounts,
                                  "shared_customers": sorted(together)[:50]})

    def _group_shared(self, actor: str, st: DayState, actors_of: Mapping[str, set[str]]) -> tuple[set[str], list[str]]:
        """The accounts that looked at ``min_customers`` or more of the same customers as this one today, and
        the customers that ``min_accounts`` of them shared with it.

        A heavy reader meets other readers by chance on many customers, but a different
        one each time (and two heavy readers meet by chance about n·m/U times: the bar
        is three times that); accounts used together (or one person's borrowed logins)
        meet on the same customers again and again.
        """
        rule = self.config.scenarios.shared_customers
        seen: dict[str, int] = {}
        me = self._person_cache.get(actor)
        office = me is not None and me.scope == "institution"
        for c in st.shared:
            for b in actors_of.get(c, ()):
                if b != actor:
                    seen[b] = seen.get(b, 0) + 1
        if office and me is not None:  # colleagues of an institution-wide office work its lists together
            for b in list(seen):
                other = self._person_cache.get(b)
                if other is not None and other.scope == "institution" and other.role == me.role:
                    del seen[b]
        # beyond chance: two accounts reading n and m of the day's U customers meet on about n·m/U of them
        universe = max(1, len(actors_of))
        mine = len(st.customers)
        group = set()
        for b, n in seen.items():
            theirs = self._states.get((b, st.day))
            chance = mine * (len(theirs.customers) if theirs is not None else 0) / universe
            if n >= max(rule.min_customers, 3 * chance + 2):
                group.add(b)
        if len(group) < rule.min_accounts:
            return group, []
        together = [c for c in st.shared if len(actors_of.get(c, set()) & group) >= rule.min_accounts]
        return group, together

    def _joint_review(self, customer_id: str, actors: set[str], day: dt.date) -> None:
        """Colleagues of one branch opening the same branch customer: not out of scope for any of them (and one
        of the branch's key accounts from the next day on)."""
        branches: dict[str, int] = {}
        for a in actors:
            p = self._person_cache.get(a)
            if p is not None and p.branch:
                branches[p.branch] = branches.get(p.branch, 0) + 1
        served = self.customers.branches_of(customer_id)
        for branch, n in branches.items():
            if n >= 2 and branch in served:
                self._reviewed[(branch, customer_id)] = day
        # branches where the client's own manager, who is leaving or transferred (it is in their portfolio),
        # opened it today with a colleague of the branch: the hand-over
        owned = {p.branch for a in actors if (p := self._person_cache.get(a)) is not None and p.branch
                 and branches.get(p.branch, 0) >= 2 and customer_id in p.portfolio and self._departing_on(p, day)}
        for a in actors:
            p = self._person_cache.get(a)
            if p is None or branches.get(p.branch, 0) < 2:
                continue
            other = self._states.get((a, day))
            if other is not None and p.branch in owned:
                other.handed.add(customer_id)  # handed over: the leaving manager and the receiver
            if other is not None and customer_id in other.scope_soft:
                other.out_of_scope_value -= other.scope_soft.pop(customer_id)
                other.out_of_scope.discard(customer_id)

    def _co_viewers(self, actor: str, customer_id: str, actors: set[str]) -> int:
        """Other accounts that looked at the customer today, less those with business of their own with it.

        When it is the person's own customer: colleagues of its branches and head office
        (a joint review).  For a person whose duties are declared institution-wide
        (``scope=institution`` in the people file: compliance, internal audit): colleagues
        of the same office (role) with the same declaration — an office works lists
        together (the quarter's high-risk KYC list read by every officer, an audit sample
        read by half the audit team), which is its duty, not shared credentials — and the
        customer's own branch staff, who review their key accounts while head office does.
        """
        me = self._person_cache.get(actor)
        if me is None:
            return len(actors) - 1
        office = me.scope == "institution"
        branches = self.customers.branches_of(customer_id) if me.branch or office else frozenset()
        own = bool(me.branch) and (customer_id in me.portfolio or me.branch in branches)
        if not own and not office:
            return len(actors) - 1
        n = 0
        for b in actors:
            if b == actor:
                continue
            other = self._person_cache.get(b)
            if other is None:
                n += 1
            elif office and ((other.scope == "institution" and other.role == me.role)
                             or other.branch in branches or customer_id in other.portfolio):
                continue  # the office's own list, or the customer's own branch at work on it (its review)
            # the customer's own branches (a joint review, one customer of two branches) and head office
            # (which reads every branch's customers by office) have business with it too
            elif not (own and (other.branch in branches or self._institution_wide(other))):
                n += 1
        return n

    def _new_kind(self, person: PersonInfo, key: str, st: DayState, fields: list[str], ref: int, at: dt.datetime,
                  out: list[Alert]) -> None:
        rule = self.config.scenarios.new_data_kind
        if not rule.enabled or "new_data_kind" in st.alerted:
            return
        days = self.baselines.person_days(key)
        if days < rule.min_history_days:
            return
        seen = self.baselines.fields_seen.get(key, set())
        group = self._groups.get(key) or self._peer_group(person)
        fresh = [f for f in fields if self._level(f) >= rule.min_level and f not in seen
                 and self.baselines.peer_field_share(group, f) < rule.peer_share]
        if not fresh:
            return
        level = max(self._level(f) for f in fresh)
        basis = Basis(source="person", stat=None, threshold=1.0)
        self._fire("new_data_kind", person, key, st, self.clock.day_start_utc(st.day), at, float(len(fresh)), basis,
                   1.0 + 0.5 * (level - rule.min_level), [ref], at, at, out,
                   extra={"fields": sorted(fresh), "field_levels": {f: self._level(f) for f in sorted(fresh)},
                          "history_days": days, "fields_used_before": len(seen),
                          "peer_share": {f: round(self.baselines.peer_field_share(group, f), 3) for f in fresh}},
                   max_level=level)

    # --- rules, windows, thresholds ------------------------------------------------------------------

    def _window(self, name: str, key: str, at: dt.datetime, ref: int, minutes: int
                ) -> deque[tuple[dt.datetime, int]]:
        window = self._windows.get((name, key))
        if window is None:
            window = self._windows[(name, key)] = deque()
        window.append((at, ref))
        cutoff = at - dt.timedelta(minutes=minutes)
        while window[0][0] < cutoff:
            window.popleft()
        while len(window) > 10_000:
            window.popleft()
        return window

    def _suppressed(self, scenario: str, key: str, at: dt.datetime) -> bool:
        until = self._suppress.get((scenario, key))
        return until is not None and at < until

    def _basis(self, st: DayState, name: str, person: PersonInfo, feature: str, min_count: float, ratio: float,
               k: float | None) -> Basis:
        basis = st.bases.get(name)
        if basis is None:
            scenario = name.split(":", 1)[0]
            group = self._groups.get(st.actor) or self._peer_group(person)
            basis = st.bases[name] = self.baselines.threshold(st.actor, group, feature, scenario,
                                                              min_count=min_count, ratio=ratio, k=k)
        return basis

    def _count_rule(self, scenario: str, person: PersonInfo, st: DayState, x: float, feature: str, rule: Rule,
                    ref: int, at: dt.datetime, out: list[Alert], *, refs: Iterable[int],
                    first_at: dt.datetime | None, factor: float = 1.0, extra: dict[str, Any] | None = None) -> None:
        if scenario in st.alerted:
            self._escalate(scenario, person, st, x, at, out, refs=refs, first_at=first_at, factor=factor, extra=extra)
            return
        basis = self._basis(st, scenario, person, feature, rule.min_count, rule.ratio, rule.k)
        if basis.source == "floor" and self._days_seen <= self.config.baseline.warmup_days:
            return  # nobody's normal is known yet: a floor alone would flag every heavy user on day one
        threshold = basis.threshold * factor
        anomaly: float | None = None
        if x < threshold:
            soft = threshold * self.config.anomaly.soft_factor
            if not self.model.fitted or x < soft or x < st.soft_next.get(scenario, 0.0) or x < rule.min_count:
                return
            st.soft_next[scenario] = x * 1.2
            if scenario in TEAM_FEATURES and self._team_day(st, x, TEAM_FEATURES[scenario]):
                return
            anomaly = self._anomaly(st)
            if not self.model.anomalous(anomaly):
                return
        elif scenario in TEAM_FEATURES and self._team_day(st, x, TEAM_FEATURES[scenario]):
            return
        self._fire(scenario, person, st.actor, st, self.clock.day_start_utc(st.day), at, x, basis,
                   x / threshold, refs, first_at, at, out, extra={**(extra or {}), "threshold_factor": factor}
                   if factor != 1.0 else extra, anomaly=anomaly, threshold=threshold)

    def _team_day(self, st: DayState, x: float, feature: str = "customers") -> bool:
        """Whether ``team_others`` others of the person's peer group do as much today, or rise as far.

        Month-end reports, a campaign's call list, a review the whole team does: what
        several of the same role and scope do on the same day is the day's work, and a
        hoarder acts alone (accounts acting together are ``shared_customers``' to find).
        "As much" is ``team_ratio`` × x of the same count; "as far" is ``team_ratio`` ×
        the person's rise over their own usual day (today / median), each judged against
        their own median: a quarter-end review of 20 % of each portfolio doubles every
        relationship manager's day, whatever the size of their portfolio, and a compliance
        officer's KYC day is five times the usual for every officer.  A team-wide rise is
        the season, not one person's anomaly.  Judged again at each tenth more, so an
        attacker's run past the team is caught.
        """
        hr = self.config.scenarios.hoarding
        if hr.team_others <= 0:
            return False
        nexts = st.team_next
        if x < nexts.get(feature, 0.0):
            return True  # a team's day a moment ago, and not a tenth more since
        team = self._team_counts.get((self._groups.get(st.actor, ("", "")), st.day), {})
        bar = x * hr.team_ratio
        rise_bar = self._rise(st.actor, feature, x) * hr.team_ratio
        others = 0
        for actor in team:
            if actor == st.actor:
                continue
            other = self._states.get((actor, st.day))
            if other is None:
                continue
            n = _feature_now(other, feature)
            # rising as far counts only for a rise (above their usual day), never for an ordinary day
            if n >= bar or (rise_bar > 1.0 and self._rise(actor, feature, n) >= rise_bar):
                others += 1
                if others >= hr.team_others:
                    nexts[feature] = x * 1.1
                    return True
        return False

    def _rise(self, actor: str, feature: str, x: float) -> float:
        """Today's count over the person's own usual day (their peer group's before they have one)."""
        stat = self.baselines.person(actor, feature)
        if stat is None:
            stat = self.baselines.peer(self._groups.get(actor, ("", "")), feature)
        return x / max(stat.median if stat is not None else 0.0, 1.0)

    def _escalate(self, scenario: str, person: PersonInfo, st: DayState, x: float, at: dt.datetime,
                  out: list[Alert], *, refs: Iterable[int], first_at: dt.datetime | None, factor: float,
                  extra: dict[str, Any] | None) -> None:
        """The behaviour goes on after its alert: each doubling that raises the severity is a new alert."""
        fired = st.fired.get(scenario)
        basis = st.bases.get(scenario)
        if fired is None or basis is None or x < fired[1] * 2:
            return
        previous_id, _, previous_severity, previous_at = fired
        threshold = basis.threshold * factor
        anomaly = self._anomaly(st)
        risk = assess(self.config, excess=x / threshold, kind=person.kind, value_counts=st.value_counts,
                      max_level=st.max_level, anomaly=anomaly)
        st.fired[scenario] = (previous_id, x, previous_severity, previous_at)
        if severity_rank(risk.severity) <= severity_rank(previous_severity):
            return
        self._fire(scenario, person, st.actor, st, previous_at, at, x, basis, x / threshold, refs, first_at, at, out,
                   extra={**(extra or {}), "escalates": previous_id}, anomaly=anomaly, threshold=threshold)

    def _normalised(self, actor: str, group: Group, features: dict[str, float]) -> list[float]:
        """A day's features against the person's own medians (their peer group's before they have them)."""
        baselines = self.baselines
        own = baselines.person_days(actor) >= self.config.baseline.min_person_days

        def base(name: str) -> Stat | None:
            return baselines.person(actor, name) if own else baselines.peer(group, name)

        return normalise(features, base)

    def _anomaly(self, st: DayState) -> float | None:
        if not self.model.fitted:
            return None
        group = self._groups.get(st.actor, ("", ""))
        return self.model.score(self._normalised(st.actor, group, st.vector()))

    def _fire(self, scenario: str, person: PersonInfo, actor: str, st: DayState, window_start: dt.datetime,
              window_end: dt.datetime, x: float, basis: Basis, excess: float, refs: Iterable[int],
              first_at: dt.datetime | None, at: dt.datetime, out: list[Alert], *, extra: dict[str, Any] | None = None,
              anomaly: float | None = None, threshold: float | None = None, with_context: bool = True,
              max_level: int | None = None, id_part: str = "", cap: str | None = None) -> None:
        aid = alert_id(scenario, actor, window_start, id_part)
        st.alerted.add(scenario)
        if aid in self._alert_ids:
            return
        self._alert_ids.add(aid)
        if anomaly is None:
            anomaly = self._anomaly(st)
        values = dict(st.value_counts) if with_context else {}
        level = (max_level if max_level is not None else st.max_level) if with_context else 0
        risk = assess(self.config, excess=excess, kind=person.kind, value_counts=values, max_level=level,
                      anomaly=anomaly)
        severity: str = risk.severity
        if cap is not None and severity_rank(severity) > severity_rank(cap):
            severity = cap  # the officer confirms (see the caller: a first export through the approval flow)
        thr = threshold if threshold is not None else basis.threshold
        stat = basis.stat
        evidence: dict[str, Any] = {
            "events": list(refs)[:50], "count": x, "threshold": round(thr, 3),
            "baseline": {"source": basis.source, "median": None if stat is None else round(stat.median, 3),
                         "scale": None if stat is None else round(stat.scale, 3), "days": 0 if stat is None else stat.n,
                         "peer_median": None if basis.peer is None else round(basis.peer.median, 3)},
            "z": None if stat is None else round(stat.z(x, self.config.baseline.min_scale), 2),
            "ratio": None if stat is None else round(x / max(stat.median, 1.0), 2),
            "customers_by_value": values,
            "fields_by_level": {str(k): v for k, v in sorted(st.level_counts.items())} if with_context else {},
            "anomaly_score": None if anomaly is None else round(anomaly, 3),
            "risk_factors": risk.factors,
            "person": {"kind": person.kind, "role": person.role, "branch": person.branch, "status": person.status},
        }
        if extra:
            evidence.update(extra)
        en, zh = summarise(scenario, actor, person, x, evidence)
        if not st.worst or severity_rank(severity) > severity_rank(st.worst):
            st.worst = severity
        if basis.source == "person" and (not st.own_worst
                                         or severity_rank(severity) > severity_rank(st.own_worst)):
            st.own_worst = severity
        out.append(Alert(alert_id=aid, scenario=scenario, severity=severity, actor=actor,
                         window_start=window_start, window_end=window_end, score=round(risk.score, 3), summary=en,
                         summary_zh=zh, evidence=evidence, first_event_at=first_at, detected_at=at))
        st.fired[scenario] = (aid, x, severity, at)

    # --- day boundaries ----------------------------------------------------------------------------

    def _roll(self, today: dt.date) -> None:
        """A new local day: close finished days into history, refresh baselines, refit the model."""
        exclude = self.config.baseline.exclude_severity
        exclude_rank = severity_rank(exclude) if exclude is not None else 99
        hours = self.config.learnt_hours
        for key in [k for k in self._states if k[1] < today]:
            st = self._states.pop(key)
            if key in self._confirmed:
                st.confirmed = True
            # every day joins the history (capped, so one day cannot move it far) but a confirmed incident and
            # a day that reached the exclusion severity against the person's own normal
            own_worst = severity_rank(st.own_worst) if st.own_worst else -1
            include = not st.late and not st.confirmed and own_worst < exclude_rank
            features = st.vector()
            group = self._groups.get(st.actor, ("", ""))
            if not st.late:
                recent = self._recent.get(st.actor)
                if recent is None:
                    recent = self._recent[st.actor] = deque(maxlen=8)
                recent.append((st.day, features["customers"] - len(st.handed)))  # what slow hoarding sums
                # hours are learnt from every day but a confirmed incident: an alerted night that was real is
                # confirmed (or its account frozen); one that was not is the person's work
                if hours.enabled and st.hours and not st.confirmed:
                    learnt = self._hours.get(st.actor)
                    if learnt is None:
                        learnt = self._hours[st.actor] = LearntHours(days=hours.days, min_days=hours.min_days)
                    learnt.add_day(st.workday, st.hours)
            if include:
                # the model learns how far a day is from the person's own normal (from their peers' before)
                self._samples.append(self._normalised(st.actor, group, features))
            self.baselines.close_day(st.actor, group, st.day, features, st.fields, include=include)
            if not include and not st.late:
                self._excluded[key] = features
            self.stats.days_closed += 1
        horizon = today - dt.timedelta(days=self.config.baseline.days)
        for old in [k for k in self._excluded if k[1] < horizon]:
            del self._excluded[old]
        kept = today - dt.timedelta(days=3 * self.config.baseline.days)  # 28 active days span ~40 calendar days
        self._confirmed = {k for k in self._confirmed if k[1] >= kept}
        for day in [d for d in self._customer_actors if d < today]:
            del self._customer_actors[day]
        for slot in [k for k in self._slot_actors if k[1] < today]:
            del self._slot_actors[slot]
        for group_day in [k for k in self._team_counts if k[1] < today]:
            del self._team_counts[group_day]
        for group_day in [k for k in self._team_ids if k[1] < today]:
            del self._team_ids[group_day]
        if self._worked_with and self._days_seen % 7 == 0:  # weekly: what the person worked with long ago is new again
            forgotten = today - dt.timedelta(days=2 * self.config.baseline.days)
            for worked in self._worked_with.values():
                for c in [c for c, d in worked.items() if d < forgotten]:
                    del worked[c]
        if self._reviewed:
            stale = today - dt.timedelta(days=self.config.baseline.days)
            for reviewed in [k for k, d in self._reviewed.items() if d < stale]:
                del self._reviewed[reviewed]
        self.baselines.roll(today)
        if self.config.anomaly.enabled and self._samples:
            self.model.fit(list(self._samples))
            self.stats.model_samples = self.model.samples
        self._today = today
        self._days_seen += 1


def _binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), in log space (no overflow for a desk's hundreds of searches)."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    lp, lq = math.log(p), math.log1p(-p)
    total = 0.0
    for i in range(k, n + 1):
        total += math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq)
    return min(1.0, total)


def _feature_now(st: DayState, feature: str) -> float:
    """The running day's count of a feature the team comparison knows (customers, unmasks, out of scope)."""
    if feature == "unmasks":
        return float(st.unmasks)
    if feature == "out_of_scope":
        return st.out_of_scope_value
    return float(st.customer_total())


def _serving_branches(customers: CustomerInfo) -> frozenset[str] | None:
    """The branches that serve any customer, when the customer facts can tell (None: unknown)."""
    serving = getattr(customers, "serving_branches", None)
    return serving() if callable(serving) else None


def _inline_shift(text: str, calendar: WorkCalendar) -> Shift | None:
    """A shift written in the people file as ``HH:MM-HH:MM``: those hours, every day."""
    start, sep, end = text.partition("-")
    if not sep:
        return None
    try:
        pattern = ShiftPattern(start=dt.time.fromisoformat(start.strip()), end=dt.time.fromisoformat(end.strip()),
                               days="every_day")
    except ValueError:
        return None
    return Shift(text, pattern, calendar)


def _median(values: Iterable[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def detect(events: Iterable[MonitorEvent], people: Mapping[str, PersonInfo], customers: CustomerInfo,
           config: MonitorConfig | None = None) -> list[Alert]:
    """Batch detection over events in time order (the same alerts as feeding them incrementally)."""
    monitor = Monitor(config or MonitorConfig(), people, customers)
    return monitor.feed(events)
