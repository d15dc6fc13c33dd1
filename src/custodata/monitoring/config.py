"""Monitoring settings: work hours, baselines, weights, severities and every detector's thresholds.

Each bank tunes these to its own staff (a call centre works shifts, a private
bank's relationship managers see few but valuable customers), so they live in
``monitoring.yaml`` validated by pydantic: a wrong key or value is refused
with the file and the key named, never silently ignored.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from custodata.yamlconfig import read_yaml, validate

DEFAULT_PATH = Path(__file__).with_name("monitoring.yaml")
Severity = Literal["low", "medium", "high", "critical"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkHours(_Strict):
    start: dt.time = dt.time(8, 0)
    end: dt.time = dt.time(19, 0)
    workdays: tuple[int, ...] = Field(default=(0, 1, 2, 3, 4), description="Monday = 0 … Sunday = 6")
    official_calendar: Literal["cn", "none"] = Field(
        default="cn", description="cn: mainland China's public holidays and make-up workdays (调休) from the "
                                  "chinesecalendar package; none: only workdays and the lists below")
    holidays: tuple[dt.date, ...] = Field(default=(), description="the institution's own days off, on top")
    extra_workdays: tuple[dt.date, ...] = Field(default=(), description="days the institution works whatever "
                                                                          "the official calendar says")

    @model_validator(mode="after")
    def _order(self) -> WorkHours:
        if self.end <= self.start:
            raise ValueError(f"end {self.end} must be later than start {self.start}")
        if any(d < 0 or d > 6 for d in self.workdays):
            raise ValueError("workdays are 0 (Monday) … 6 (Sunday)")
        return self


class Alternate(_Strict):
    weekday: int = Field(ge=0, le=6, description="Monday = 0 … Sunday = 6")
    starting: dt.date = Field(description="the first such day worked; then every other week")

    @model_validator(mode="after")
    def _same_day(self) -> Alternate:
        if self.starting.weekday() != self.weekday:
            raise ValueError(f"starting {self.starting} is not weekday {self.weekday}")
        return self


class ShiftPattern(_Strict):
    """A roster pattern people are put on (``shift`` column of the people file)."""

    start: dt.time
    end: dt.time = Field(description="at or before start: an overnight shift ending the next morning")
    days: Literal["workdays", "every_day", "rest_days", "none"] = Field(
        default="workdays", description="the institution's working days, every day, only rest days, or none "
                                        "(only the weekdays and alternate days below)")
    weekdays: tuple[int, ...] = Field(default=(), description="weekdays worked as well (5 = Saturday)")
    alternate: Alternate | None = Field(default=None, description="a weekday worked every other week")

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(d < 0 or d > 6 for d in v):
            raise ValueError("weekdays are 0 (Monday) … 6 (Sunday)")
        return v


class LearntHoursSettings(_Strict):
    enabled: bool = True
    days: int = Field(default=42, ge=7, le=365, description="the person's last active days the hours are learnt on")
    min_days: int = Field(default=3, ge=1, description="an hour is the person's own once worked on this many days")
    role_at_work: int = Field(default=3, ge=0, description="an hour is working time too while this many others of "
                                                           "the person's role are at work in it (0: off)")


class BaselineSettings(_Strict):
    days: int = Field(default=28, ge=3, le=365, description="rolling window of past active days")
    min_person_days: int = Field(default=5, ge=1, description="a person's own baseline is used from this many days")
    min_peer_days: int = Field(default=10, ge=1, description="a peer-group baseline needs this many person-days")
    k: float = Field(default=4.0, gt=0, description="robust z (MADs above the median) that counts as unusual")
    min_scale: float = Field(default=2.0, gt=0, description="MAD floor: a flat history is no hair-trigger")
    exclude_severity: Severity | None = Field(
        default="critical", description="a day with an alert this severe against the person's own baseline (and a "
                                    "confirmed incident) stays out of their history; null: every day joins")
    day_cap_ratio: float = Field(default=3.0, ge=1, description="a day joins the history capped at this many "
                                                                 "times the median (or median + k MADs)")
    peer_high_margin: float = Field(default=1.5, ge=0, description="judged against peers, a day passes up to "
                                                                    "this many times their 95th percentile")
    warmup_days: int = Field(default=5, ge=0, description="days watched before volume rules may fire on floors alone")


class Weights(_Strict):
    value: dict[str, float] = Field(default_factory=lambda: {
        "high_net_worth": 3.0, "corporate": 2.5, "sme": 1.5, "individual": 1.0})
    unknown_value: float = Field(default=1.0, gt=0)
    level: dict[int, float] = Field(default_factory=lambda: {1: 0.5, 2: 0.75, 3: 1.0, 4: 1.5, 5: 2.0})
    kind: dict[str, float] = Field(default_factory=lambda: {"employee": 1.0, "outsourced": 1.5, "partner": 1.3})

    @field_validator("value", "kind")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k, w in v.items() if w <= 0]
        if bad:
            raise ValueError(f"weights must be positive: {', '.join(bad)}")
        return v

    @field_validator("level")
    @classmethod
    def _levels(cls, v: dict[int, float]) -> dict[int, float]:
        if any(k < 1 or k > 5 for k in v) or any(w <= 0 for w in v.values()):
            raise ValueError("levels are 1 … 5 with positive weights")
        return v


class SeverityBands(_Strict):
    """Weighted score at which an alert becomes medium, high, critical (below medium it is low)."""

    medium: float = Field(default=2.0, gt=0)
    high: float = Field(default=4.0, gt=0)
    critical: float = Field(default=8.0, gt=0)

    @model_validator(mode="after")
    def _ascending(self) -> SeverityBands:
        if not self.medium < self.high < self.critical:
            raise ValueError("bands must ascend: medium < high < critical")
        return self

    def of(self, score: float) -> Severity:
        if score >= self.critical:
            return "critical"
        if score >= self.high:
            return "high"
        if score >= self.medium:
            return "medium"
        return "low"


class AnomalySettings(_Strict):
    enabled: bool = True
    min_samples: int = Field(default=100, ge=20, description="completed person-days needed before the model is fitted")
    max_samples: int = Field(default=20_000, ge=100, description="most recent person-days the model is fitted on")
    n_estimators: int = Field(default=100, ge=10, le=1000)
    boost: float = Field(default=0.5, ge=0, description="score multiplier per unit of anomaly (0: only reported)")
    soft_factor: float = Field(default=0.75, gt=0, le=1,
                               description="a rule at this fraction of its threshold fires if the model agrees")
    quantile: float = Field(default=0.995, gt=0.5, lt=1, description="anomalous: above this share of past days")
    seed: int = 7


class ActionSettings(_Strict):
    freeze_at: Severity | None = Field(default="high", description="freeze the account at this severity or above")


class Rule(_Strict):
    """A count rule against the person's own or the peer group's baseline."""

    enabled: bool = True
    min_count: float = Field(default=10, ge=0, description="never fire below this many, whatever the baseline")
    ratio: float = Field(default=3.0, ge=1, description="and at least this many times the baseline median")
    k: float | None = Field(default=None, gt=0, description="overrides baseline.k for this scenario")


class HoardingRule(Rule):
    min_count: float = 40
    kind_factor: dict[str, float] = Field(default_factory=lambda: {"outsourced": 0.75, "partner": 0.75},
                                          description="threshold multiplier by kind: outsourced staff watched closer")
    rolling_days: int = Field(default=3, ge=1, le=14,
                              description="also judge the sum of this many days (slow hoarding); 1 = off")
    rolling_ratio: float = Field(default=1.8, ge=1, description="that sum against this many times the usual sum")
    rolling_each_ratio: float = Field(
        default=1.5, ge=0, description="and each of those days at least this many times the usual day: a sustained "
                                       "rise, not one busy day (a Monday review, a month-end) among ordinary ones")
    team_others: int = Field(
        default=2, ge=0, description="a day's count that this many others of the peer group reach the same day "
                                     "(at team_ratio of it) is the team's work of the day, not hoarding; 0 = off")
    team_ratio: float = Field(default=0.75, gt=0, le=1, description="see team_others")
    export_ratio: float = Field(default=3.0, ge=1, description="an export this many times the person's usual size")
    export_min_rows: float = Field(default=1000, ge=0, description="never fire on an export smaller than this")
    export_min_history: int = Field(default=3, ge=1, description="own past exports needed to judge by one's habit")
    first_approved_export_severity: Severity | None = Field(
        default="medium", description="the highest severity of an export through the approval flow (it has a "
                                      "request id) that neither the person nor their role has a habit to judge by; "
                                      "null = no cap")


class OffHoursRule(Rule):
    min_count: float = 15
    continuation_minutes: int = Field(
        default=30, ge=0, le=24 * 60,
        description="work that runs on past closing (each step at most this many minutes after the last, starting "
                    "in work hours) is overtime or a late shift, not an off-hours session; 0 counts it all")
    search_hits: int = Field(default=5, ge=0,
                             description="an off-hours search counts at most this many of its hits (0: all)")


class OutOfScopeRule(Rule):
    min_count: float = Field(default=12, ge=0, description="value-weighted: 12 individuals, or 4 high-net-worth")
    exempt_roles: tuple[str, ...] = ()
    portfolio_classes: tuple[str, ...] = Field(
        default=("high_net_worth", "corporate"),
        description="a portfolio holder's look at a customer of these classes of their own branch but not in "
                    "their portfolio counts as out of scope")


class DepartingRule(Rule):
    min_count: float = 10
    ratio: float = 1.5
    k: float | None = 2.0
    statuses: tuple[str, ...] = ("leaving", "transferred")
    lookback_days: int = Field(default=90, ge=0, description="watch from this many days before the status date")
    after_days: int = Field(default=0, ge=0, description="and this many days after it (0: through the status "
                                                         "date, the last day in the post)")
    peak_margin: float = Field(default=1.2, ge=1, description="views must pass the person's busiest recent day "
                                                              "by this factor: unusual for them, not for anyone")
    min_outside: float = Field(default=8, ge=0, description="value-weighted out-of-scope look-ups never fire "
                                                            "below this")
    export_ratio: float = Field(default=1.5, ge=1,
                                description="an export this many times the person's usual size fires at once; "
                                            "with no export history, any export does")


class UnmaskRule(Rule):
    min_count: float = 10
    window_minutes: int = Field(default=60, ge=1, le=24 * 60)
    day_min_count: float = Field(default=10, ge=1, description="unmasks in a day never fire below this")
    day_ratio: float = Field(default=2.5, ge=1, description="a day's unmasks against this many times the usual day")


class EnumerationRule(Rule):
    """Searches by an exact identifier (ID, mobile …) that show no customer or are refused: trying candidates."""

    min_count: float = Field(default=5, ge=1, description="misses and refusals in the window never fire below this")
    ratio: float = 3.0
    k: float | None = 1.0
    window_minutes: int = Field(default=60, ge=1, le=24 * 60)
    min_miss_share: float = Field(default=0.5, ge=0, le=1,
                                  description="and at least this share of the window's searches by that kind of "
                                              "identifier missed or were refused (a busy desk's hits dilute it)")
    day_min_count: float = Field(default=6, ge=1,
                                 description="the day's misses and refusals never fire below this (one more "
                                             "than the service's daily miss cap: a try after the lock)")
    weight: float = Field(default=2.0, gt=0, description="score multiplier: trying candidates is deliberate, a "
                                                         "burst of look-ups may not be")
    chance_share: float = Field(default=0.05, ge=0, lt=1,
                                description="the share of searches that miss by chance, at least (a desk's "
                                            "callers who are no customer)")
    chance_min_searches: int = Field(default=20, ge=1,
                                     description="the peer group's searches of the kind today needed to use its "
                                                 "share of misses instead (an SMS campaign's day of wrong numbers)")
    chance_alpha: float = Field(default=1e-5, ge=0, lt=1,
                                description="misses must be less likely than this under that share (about one "
                                            "false alarm in 100,000 tests: a month of a few hundred desks); 0 = "
                                            "no test")


class FailedLoginRule(_Strict):
    enabled: bool = True
    window_minutes: int = Field(default=30, ge=1, le=24 * 60)
    min_failed: int = Field(default=5, ge=1)
    min_denied: int = Field(default=6, ge=1)
    break_days: int = Field(default=3, ge=0, description="days without any activity (longer than a weekend) after "
                                                         "which a person's first day back is a return: 0 = never")
    break_factor: float = Field(default=2.0, ge=1, description="failed-login bar multiplier on a return (a "
                                                               "password forgotten over a holiday or leave)")


class SharedCustomersRule(_Strict):
    enabled: bool = True
    min_accounts: int = Field(default=2, ge=1, description="other accounts (not counting the person) touching "
                                                            "one customer in a day")
    min_customers: int = Field(default=5, ge=1, description="such customers touched by one account")


class MultiAddressRule(Rule):
    min_count: float = 4
    ratio: float = 2.0
    k: float | None = 1.5


class NewDataKindRule(_Strict):
    enabled: bool = True
    min_history_days: int = Field(default=10, ge=1, description="a person needs this much history to have habits")
    min_level: int = Field(default=3, ge=1, le=5, description="first use of a field below this level is not reported")
    peer_share: float = Field(default=0.2, ge=0, le=1, description="not reported if this share of peers use the field")


class Scenarios(_Strict):
    hoarding: HoardingRule = HoardingRule()
    off_hours_bulk: OffHoursRule = OffHoursRule()
    out_of_scope: OutOfScopeRule = OutOfScopeRule()
    departing_exfiltration: DepartingRule = DepartingRule()
    repeated_unmask: UnmaskRule = UnmaskRule()
    failed_login_burst: FailedLoginRule = FailedLoginRule()
    shared_customers: SharedCustomersRule = SharedCustomersRule()
    multi_address: MultiAddressRule = MultiAddressRule()
    new_data_kind: NewDataKindRule = NewDataKindRule()
    identifier_enumeration: EnumerationRule = EnumerationRule()


class MonitorConfig(_Strict):
    """All monitoring settings; defaults are the shipped ``monitoring.yaml``."""

    timezone: str = "Asia/Shanghai"
    work_hours: WorkHours = WorkHours()
    shifts: dict[str, ShiftPattern] = Field(default_factory=dict, description="roster patterns by name")
    learnt_hours: LearntHoursSettings = LearntHoursSettings()
    baseline: BaselineSettings = BaselineSettings()
    weights: Weights = Weights()
    severity: SeverityBands = SeverityBands()
    anomaly: AnomalySettings = AnomalySettings()
    actions: ActionSettings = ActionSettings()
    scenarios: Scenarios = Scenarios()
    grading_file: Path | None = Field(default=None, description="field levels; the shipped grading.yaml when absent")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{v}' is not an IANA time zone (e.g. Asia/Shanghai)") from None
        return v

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_config(path: Path | str | None = None) -> MonitorConfig:
    """Settings from ``path`` (the shipped ``monitoring.yaml`` when None); errors name the file and key."""
    p = Path(path) if path is not None else DEFAULT_PATH
    data = read_yaml(p, "monitoring configuration")
    if data is None:
        data = {}
    return validate(MonitorConfig, data, str(p))
