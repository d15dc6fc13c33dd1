"""Work calendars: the institution's working days and each person's own working hours.

"Off hours" only means something against when the person is meant to work.
Three layers decide it, each overriding the one before:

1. **The official calendar.** Mainland China's public holidays and the weekend
   days worked to make up for them (调休, e.g. Saturday 14 February 2026) come
   from the maintained ``chinesecalendar`` package (the State Council's yearly
   schedule), not from a table each bank types in.  A year the package does not
   know yet falls back to Monday–Friday (and :meth:`WorkCalendar.known` says so).
2. **The institution's overrides** in ``monitoring.yaml``: its own holidays and
   its own worked days (a branch open on a holiday Saturday, a bank's anniversary).
3. **The person's own calendar**: a roster (``shift`` column of the people
   file naming shifts of ``monitoring.yaml``: a call centre's night shift
   22:00–06:00, a weekend rota, a vendor's alternate Saturdays), and the hours
   the person has been seen working on enough past days (:class:`LearntHours`),
   so rota staff nobody put on a roster are not "off hours" either.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from custodata.monitoring.config import MonitorConfig, ShiftPattern


def _official_cn() -> tuple[frozenset[dt.date], frozenset[dt.date], tuple[int, int]]:
    """Holidays and make-up workdays of the State Council schedule, and the years it covers."""
    from chinese_calendar import constants  # type: ignore[import-untyped]  # the official schedule (chinesecalendar)

    holidays = frozenset(constants.holidays)
    workdays = frozenset(constants.workdays)
    # the package lists ordinary weekends as holidays too: keep only the days that move the week
    public = frozenset(d for d in holidays if d.weekday() < 5)
    makeup = frozenset(d for d in workdays if d.weekday() >= 5)
    years = (min(d.year for d in holidays), max(d.year for d in holidays))
    return public, makeup, years


class WorkCalendar:
    """Which local days are working days for the institution (official schedule plus its overrides)."""

    def __init__(self, *, official: str = "cn", workdays: Iterable[int] = (0, 1, 2, 3, 4),
                 holidays: Iterable[dt.date] = (), extra_workdays: Iterable[dt.date] = ()) -> None:
        self.official = official
        self._weekdays = frozenset(workdays)
        self._own_holidays = frozenset(holidays)
        self._own_workdays = frozenset(extra_workdays)
        if official == "cn":
            self._public, self._makeup, self._years = _official_cn()
        else:
            self._public, self._makeup, self._years = frozenset(), frozenset(), (0, 0)
        self._cache: dict[dt.date, bool] = {}

    @classmethod
    def from_config(cls, config: MonitorConfig) -> WorkCalendar:
        wh = config.work_hours
        return cls(official=wh.official_calendar, workdays=wh.workdays, holidays=wh.holidays,
                   extra_workdays=wh.extra_workdays)

    def known(self, day: dt.date) -> bool:
        """Whether the official schedule covers ``day``'s year (else only weekdays and overrides apply)."""
        return self._years[0] <= day.year <= self._years[1]

    def holiday(self, day: dt.date) -> bool:
        """A public holiday on a weekday, or one of the institution's own (not counting ordinary weekends)."""
        if day in self._own_workdays:
            return False
        return day in self._own_holidays or day in self._public

    def workday(self, day: dt.date) -> bool:
        got = self._cache.get(day)
        if got is None:
            if day in self._own_workdays:
                got = True
            elif day in self._own_holidays or day in self._public:
                got = False
            else:
                got = day in self._makeup or day.weekday() in self._weekdays
            self._cache[day] = got
        return got


def _minute(t: dt.time) -> int:
    return t.hour * 60 + t.minute


class Shift:
    """One roster pattern: hours on its days; an overnight shift (end ≤ start) runs into the next morning."""

    def __init__(self, name: str, pattern: ShiftPattern, calendar: WorkCalendar) -> None:
        self.name = name
        self.start = _minute(pattern.start)
        self.end = _minute(pattern.end)
        self.days = pattern.days
        self.weekdays = frozenset(pattern.weekdays)
        self.alternate = pattern.alternate
        self.calendar = calendar

    def on(self, day: dt.date) -> bool:
        """Whether the shift is worked on ``day`` (the day it starts)."""
        if self.days == "every_day":
            base = True
        elif self.days == "rest_days":
            base = not self.calendar.workday(day)
        elif self.days == "workdays":
            base = self.calendar.workday(day)
        else:  # "none": only the listed weekdays or alternate days
            base = False
        if base or day.weekday() in self.weekdays:
            return True
        alt = self.alternate
        if alt is not None and day.weekday() == alt.weekday and day >= alt.starting:
            return ((day - alt.starting).days // 7) % 2 == 0
        return False

    def covers(self, day: dt.date, minute: int) -> bool:
        """Whether local ``minute`` of ``day`` is inside this shift (its own day or last night's tail)."""
        if self.end > self.start:
            return self.start <= minute < self.end and self.on(day)
        if minute >= self.start:
            return self.on(day)
        return minute < self.end and self.on(day - dt.timedelta(days=1))


class LearntHours:
    """The local hours a person has worked on enough past days, by kind of day (working or rest day).

    A slot (working day or not × hour) is the person's own once customer work was
    seen in it on ``min_days`` of their last ``days`` active days, so a night
    agent's 23:00 or a weekend rota's Saturday 10:00 is their working time; an hour
    usual on working days needs one rest day fewer to be usual on rest days (a
    service account's nightly job keeps the same hours every day).
    Days that raised an off-hours alert do not teach (so one night of hoarding
    never makes the next one usual).
    """

    __slots__ = ("_days", "_history", "_min_days", "_usual")

    def __init__(self, *, days: int, min_days: int) -> None:
        self._history: deque[tuple[bool, int]] = deque(maxlen=days)
        self._min_days = min_days
        self._usual = 0  # bit (rest * 24 + hour)
        self._days = days

    def add_day(self, workday: bool, hours: int) -> None:
        """A finished day: bit h of ``hours`` set when customer work was seen in local hour h."""
        self._history.append((workday, hours))
        counts = [0] * 48
        for wd, mask in self._history:
            offset = 0 if wd else 24
            h = 0
            while mask:
                if mask & 1:
                    counts[offset + h] += 1
                mask >>= 1
                h += 1
        usual = 0
        for slot, n in enumerate(counts):
            if n >= self._min_days:
                usual |= 1 << slot
        # the same hours every day, working day or not (a service account's nightly job, a 24×7 rota): an hour
        # usual on working days is usual on rest days too once it was worked on min_days - 1 of them
        rest_min = max(1, self._min_days - 1)
        for hour in range(24):
            if counts[hour] >= self._min_days and counts[24 + hour] >= rest_min:
                usual |= 1 << (24 + hour)
        self._usual = usual

    def usual(self, workday: bool, hour: int) -> bool:
        return bool(self._usual >> ((0 if workday else 24) + hour) & 1)

    @property
    def mask(self) -> int:
        return self._usual


__all__ = ["LearntHours", "Shift", "WorkCalendar"]
