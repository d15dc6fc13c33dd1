"""The simulator's calendar: Chinese public holidays, make-up workdays (调休) and local work hours.

Bank staff in mainland China work on China Standard Time (UTC+8) and follow the
State Council's holiday schedule, which moves weekends around holidays: some
Saturdays and Sundays are workdays, some weekdays are not.  A simulator that
only knew Monday–Friday would make every holiday look like a quiet weekday and
every make-up Saturday look like off-hours work, so the schedule is data here.
Events are written in UTC, as the audit log stores them.
"""

from __future__ import annotations

import datetime as dt

LOCAL_OFFSET = dt.timedelta(hours=8)  # China Standard Time; no daylight saving

# 2026 schedule as published by the State Council General Office (国务院办公厅) in 2025:
# 元旦, 春节, 清明节, 劳动节, 端午节, 中秋节, 国庆节.
_HOLIDAY_RANGES_2026: tuple[tuple[dt.date, dt.date, str], ...] = (
    (dt.date(2026, 1, 1), dt.date(2026, 1, 3), "元旦 New Year"),
    (dt.date(2026, 2, 15), dt.date(2026, 2, 23), "春节 Spring Festival"),
    (dt.date(2026, 4, 4), dt.date(2026, 4, 6), "清明节 Qingming"),
    (dt.date(2026, 5, 1), dt.date(2026, 5, 5), "劳动节 Labour Day"),
    (dt.date(2026, 6, 19), dt.date(2026, 6, 21), "端午节 Dragon Boat"),
    (dt.date(2026, 9, 25), dt.date(2026, 9, 27), "中秋节 Mid-Autumn"),
    (dt.date(2026, 10, 1), dt.date(2026, 10, 7), "国庆节 National Day"),
)
# weekend days that are workdays to make up for a holiday (调休上班)
MAKEUP_WORKDAYS_2026: frozenset[dt.date] = frozenset({
    dt.date(2026, 1, 4), dt.date(2026, 2, 14), dt.date(2026, 2, 28), dt.date(2026, 5, 9),
    dt.date(2026, 9, 20), dt.date(2026, 10, 10),
})


def _expand(ranges: tuple[tuple[dt.date, dt.date, str], ...]) -> dict[dt.date, str]:
    days: dict[dt.date, str] = {}
    for first, last, name in ranges:
        day = first
        while day <= last:
            days[day] = name
            day += dt.timedelta(days=1)
    return days


HOLIDAYS_2026: dict[dt.date, str] = _expand(_HOLIDAY_RANGES_2026)


def holiday_name(day: dt.date) -> str | None:
    """The public holiday ``day`` falls in, if any (2026 table; other years have only weekends)."""
    return HOLIDAYS_2026.get(day)


def is_workday(day: dt.date) -> bool:
    """A working day for branch staff: weekdays that are no holiday, plus make-up weekend days."""
    if day in MAKEUP_WORKDAYS_2026:
        return True
    if day in HOLIDAYS_2026:
        return False
    return day.weekday() < 5


def local_midnight_utc(day: dt.date) -> dt.datetime:
    """Naive UTC time of 00:00 China Standard Time on ``day``."""
    return dt.datetime(day.year, day.month, day.day) - LOCAL_OFFSET


def local_hour(at_utc: dt.datetime) -> float:
    """Hour of day (0–24, fractional) in China Standard Time of a naive UTC time."""
    local = at_utc + LOCAL_OFFSET
    return local.hour + local.minute / 60 + local.second / 3600


def local_date(at_utc: dt.datetime) -> dt.date:
    return (at_utc + LOCAL_OFFSET).date()


__all__ = ["HOLIDAYS_2026", "LOCAL_OFFSET", "MAKEUP_WORKDAYS_2026", "holiday_name", "is_workday", "local_date",
           "local_hour", "local_midnight_utc"]
