"""Per-person allowances [用量限制]: daily unmask limits and identifier-search rates, taken atomically.

Counting today's unmaskings in the audit log and then unmasking lets every
request that counted before any of them was logged through: sixty parallel
requests against a limit of twenty passed two dozen.  Here an allowance is
taken by one conditional ``UPDATE … SET used = used + n WHERE used + n <= limit``
on a counter row per person, period and counter, inside one transaction with
the other allowances of the same request: all are taken or none.  The row lock
(PostgreSQL) or the write lock of ``BEGIN IMMEDIATE`` (SQLite) orders
concurrent requests, so the limit holds across threads and processes.

Periods are the institution's days (and minutes), not UTC ones, so a day's
allowance resets at local midnight rather than at 08:00 in Shanghai.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from custodata.access.tables import usage_counter
from custodata.ops.store import OpsStore


@dataclass(frozen=True)
class Allowance:
    """``amount`` more uses of ``counter`` in ``period``, at most ``limit`` in all; ``refusal`` says why not."""

    counter: str
    period: str
    limit: int
    refusal: str
    amount: int = 1


def local_day(at: dt.datetime, timezone: str) -> str:
    """The institution's date of ``at`` (naive datetimes are UTC, as the store keeps them)."""
    return _local(at, timezone).date().isoformat()


def local_minute(at: dt.datetime, timezone: str) -> str:
    return _local(at, timezone).strftime("%Y-%m-%dT%H:%M")


def _local(at: dt.datetime, timezone: str) -> dt.datetime:
    aware = at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at
    return aware.astimezone(zoneinfo.ZoneInfo(timezone))


class _Refused(Exception):  # noqa: N818 — internal control flow, never leaves this module
    def __init__(self, allowance: Allowance) -> None:
        super().__init__(allowance.refusal)
        self.allowance = allowance


def take(store: OpsStore, person_id: str, allowances: Sequence[Allowance], *, at: dt.datetime) -> Allowance | None:
    """Take every allowance or none; the one that did not fit is returned (None: all taken).

    Counter rows are touched in a fixed order so two requests of one person
    never wait on each other's rows in opposite orders (no deadlock).
    """
    if not allowances:
        return None
    now = at.replace(tzinfo=None) if at.tzinfo is None else at.astimezone(dt.UTC).replace(tzinfo=None)
    merged: dict[tuple[str, str], Allowance] = {}
    for a in allowances:
        key = (a.period, a.counter)
        before = merged.get(key)
        merged[key] = a if before is None else Allowance(a.counter, a.period, min(a.limit, before.limit),
                                                         before.refusal, before.amount + a.amount)
    c = usage_counter.c
    try:
        with store.begin() as con:
            for (period, counter), a in sorted(merged.items()):
                con.execute(_insert_absent(store.dialect), {
                    "person_id": person_id, "period": period, "counter": counter, "used": 0, "updated_at": now})
                taken = con.execute(
                    usage_counter.update()
                    .where(c.person_id == person_id, c.period == period, c.counter == counter,
                           c.used + a.amount <= a.limit)
                    .values(used=c.used + a.amount, updated_at=now)
                )
                if taken.rowcount != 1:
                    raise _Refused(a)
    except _Refused as refused:
        return refused.allowance
    return None


def give_back(store: OpsStore, person_id: str, counter: str, period: str, *, at: dt.datetime,
              amount: int = 1) -> None:
    """Return uses taken in advance that turned out not to count (an identifier search that hit is no miss).

    Taking first and giving back after, rather than counting after, is what keeps
    parallel requests within the limit: each holds its use while it runs.
    """
    now = at.replace(tzinfo=None) if at.tzinfo is None else at.astimezone(dt.UTC).replace(tzinfo=None)
    c = usage_counter.c
    with store.begin() as con:
        con.execute(usage_counter.update()
                    .where(c.person_id == person_id, c.period == period, c.counter == counter, c.used >= amount)
                    .values(used=c.used - amount, updated_at=now))


def used(store: OpsStore, person_id: str, period: str, counter: str) -> int:
    """How much of a counter is used (0 when untouched)."""
    c = usage_counter.c
    with store.read() as con:
        value = con.execute(sa.select(c.used).where(c.person_id == person_id, c.period == period,
                                                    c.counter == counter)).scalar_one_or_none()
    return int(value or 0)


def _insert_absent(dialect: str) -> sa.Executable:
    from custodata.ops import dialect as ops_dialect

    return ops_dialect.insert(dialect, usage_counter).on_conflict_do_nothing()  # type: ignore[no-any-return]


__all__ = ["Allowance", "give_back", "local_day", "local_minute", "take", "used"]
