import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from custodata.normalise.dates import DateStatus, parse_date

JAN2 = dt.date(2020, 1, 2)


@pytest.mark.parametrize(
    "raw",
    [
        "2020-01-02",
        "2020/1/2",
        "2020/01/02",
        "2020.01.02",
        "20200102",
        "2020年1月2日",
        "2020年01月02日",
        "2020-01-02 13:45:00",
        "2020-01-02T13:45:00",
        "2020-01-02T13:45:00.123+08:00",
        "2020-01-02 13:45",
        "2020年1月2日 13时45分",
        "20200102134500",
        "２０２０－０１－０２",
        "  2020-01-02  ",
        JAN2,
        dt.datetime(2020, 1, 2, 13, 45),
    ],
)
def test_accepted(raw: str | dt.date) -> None:
    assert parse_date(raw) == (JAN2, DateStatus.OK)


@pytest.mark.parametrize(
    "raw",
    [
        "2023-02-30",
        "2020-13-01",
        "2020-00-10",
        "2021-02-29",  # not a leap year
        "1899-12-31",
        "2101-01-01",
        "02/01/2020",  # day-first needs an explicit format
        "2020-01",
        "yesterday",
        "2020-01-02 99",
        "202001021",
    ],
)
def test_invalid(raw: str) -> None:
    assert parse_date(raw) == (None, DateStatus.INVALID)


@pytest.mark.parametrize("raw", [None, "", "  ", "无", "-", "null", "0000-00-00", "00000000"])
def test_empty(raw: str | None) -> None:
    assert parse_date(raw) == (None, DateStatus.EMPTY)


def test_leap_day() -> None:
    assert parse_date("2020-02-29") == (dt.date(2020, 2, 29), DateStatus.OK)


def test_explicit_formats_first() -> None:
    assert parse_date("02/01/2020", ["%d/%m/%Y"]) == (JAN2, DateStatus.OK)
    assert parse_date("01/02/2020", ("%m/%d/%Y",)) == (JAN2, DateStatus.OK)
    # Built-in forms still work when the explicit formats do not match.
    assert parse_date("2020-01-02", ["%d/%m/%Y"]) == (JAN2, DateStatus.OK)
    assert parse_date("02/01/1850", ["%d/%m/%Y"]) == (None, DateStatus.INVALID)


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_round_trip(day: dt.date) -> None:
    for text in (
        day.isoformat(),
        f"{day:%Y%m%d}",
        f"{day.year}年{day.month}月{day.day}日",
        f"{day.year}/{day.month}/{day.day}",
    ):
        assert parse_date(text) == (day, DateStatus.OK)
