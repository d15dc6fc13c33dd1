"""Per-person and peer-group baselines: robust (median/MAD) statistics of past person-days.

Medians and MADs, not means and standard deviations, so that one wild day
(a month-end report, an earlier attack) does not make everything afterwards
look normal.  A person is judged against their own history once they have
enough of it — a batch-reporting analyst who pulls thousands of customers
every day for weeks is normal *for them* — and against their peer group
(role × branch) before that, so a new call-centre agent is compared with
call-centre agents, not with the whole bank.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from custodata.monitoring.config import MonitorConfig
from custodata.monitoring.features import FEATURES, PEER_EXTRA

MAD_TO_SIGMA = 1.4826  # makes the MAD comparable to a standard deviation for normal data


@dataclass(frozen=True, slots=True)
class Stat:
    """Median, scale (MAD × 1.4826) and how many days they come from."""

    median: float
    scale: float
    n: int
    high: float = 0.0      # the 95th percentile: a mixed group's busy members (heavy analysts among light ones)

    def z(self, value: float, min_scale: float) -> float:
        return (value - self.median) / max(self.scale, min_scale)


def robust(values: Sequence[float]) -> Stat:
    ordered = sorted(values)
    med = statistics.median(ordered)
    mad = statistics.median([abs(v - med) for v in ordered])
    high = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return Stat(median=med, scale=mad * MAD_TO_SIGMA, n=len(values), high=high)


@dataclass(frozen=True, slots=True)
class Basis:
    """The baseline a threshold was derived from, for the alert's evidence."""

    source: str            # person, peer, or floor (no baseline yet: the configured minimum)
    stat: Stat | None
    threshold: float
    peer: Stat | None = None


class Baselines:
    """Rolling history of completed person-days and the statistics derived from it."""

    def __init__(self, config: MonitorConfig) -> None:
        self.config = config
        self.days = config.baseline.days
        self.history: dict[str, deque[tuple[dt.date, dict[str, float]]]] = {}
        self.fields_seen: dict[str, set[str]] = defaultdict(set)
        self.group_of: dict[str, tuple[str, str]] = {}
        self._person_stats: dict[tuple[str, str], Stat | None] = {}
        self._peer_stats: dict[tuple[tuple[str, str], str], Stat | None] = {}
        self._peer_fields: dict[tuple[str, str], dict[str, int]] = {}
        self._peer_people: dict[tuple[str, str], int] = {}
        self.allowances: dict[tuple[str, str], tuple[float, dt.date]] = {}

    def close_day(self, actor: str, group: tuple[str, str], day: dt.date, features: dict[str, float],
                  fields: Iterable[str], *, include: bool) -> None:
        """Add a finished day (``include`` False keeps it out of the statistics, e.g. a day with an alert)."""
        self.group_of[actor] = group
        self.fields_seen[actor].update(fields)
        if include:
            hist = self.history.get(actor)
            if hist is None:
                hist = self.history[actor] = deque(maxlen=self.days)
            if len(hist) >= self.config.baseline.min_person_days:
                features = self.capped(actor, features)
            hist.append((day, features))

    def capped(self, actor: str, features: dict[str, float]) -> dict[str, float]:
        """A day's features capped at the person's own bar (median × ``day_cap_ratio`` or median + k MADs).

        Every day joins the history, alerted or not, so a heavy analyst flagged on
        their first day acquires a normal; the cap keeps one day — an attack, a
        month-end — from moving that normal more than one ordinary high day would.
        """
        b = self.config.baseline
        out: dict[str, float] = {}
        for name, value in features.items():
            stat = self.person(actor, name)
            if stat is not None:
                value = min(value, max(stat.median * b.day_cap_ratio, stat.median + b.k * max(stat.scale, b.min_scale)))
            out[name] = value
        return out

    def drop_day(self, actor: str, day: dt.date) -> None:
        """Take a closed day out of the person's history (a confirmed incident)."""
        hist = self.history.get(actor)
        if hist is not None:
            kept = [(d, f) for d, f in hist if d != day]
            if len(kept) != len(hist):
                self.history[actor] = deque(kept, maxlen=self.days)
                self._person_stats = {k: v for k, v in self._person_stats.items() if k[0] != actor}

    def roll(self, today: dt.date) -> None:
        """Recompute peer statistics for a new day; people's own statistics are recomputed lazily."""
        horizon = today - dt.timedelta(days=self.days * 2)
        self._person_stats.clear()
        self._peer_stats.clear()
        by_group: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
        fields: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        people: dict[tuple[str, str], int] = defaultdict(int)
        for actor, hist in self.history.items():
            group = self.group_of.get(actor, ("", ""))
            recent = [f for d, f in hist if d >= horizon]
            by_group[group].extend(recent)
            people[group] += 1
            for name in self.fields_seen.get(actor, ()):
                fields[group][name] += 1
        for group, rows in by_group.items():
            enough = len(rows) >= self.config.baseline.min_peer_days
            for feature in FEATURES:
                self._peer_stats[(group, feature)] = robust([r[feature] for r in rows]) if enough else None
            for feature in PEER_EXTRA:
                self._peer_stats[(group, feature)] = robust([r.get(feature, 0.0) for r in rows]) if enough else None
        self._peer_fields = {g: dict(v) for g, v in fields.items()}
        self._peer_people = dict(people)
        self.allowances = {k: v for k, v in self.allowances.items() if v[1] >= today}

    def person(self, actor: str, feature: str) -> Stat | None:
        key = (actor, feature)
        if key in self._person_stats:
            return self._person_stats[key]
        hist = self.history.get(actor)
        stat = None
        if hist is not None and len(hist) >= self.config.baseline.min_person_days:
            stat = robust([f.get(feature, 0.0) for _, f in hist])  # a feature by kind is 0 on a day without it
        self._person_stats[key] = stat
        return stat

    def person_max(self, actor: str, feature: str) -> float:
        """The person's highest (capped) day in their history, 0 without one."""
        hist = self.history.get(actor)
        return max((f.get(feature, 0.0) for _, f in hist), default=0.0) if hist else 0.0

    def person_days(self, actor: str) -> int:
        hist = self.history.get(actor)
        return len(hist) if hist is not None else 0

    def peer(self, group: tuple[str, str], feature: str) -> Stat | None:
        return self._peer_stats.get((group, feature))

    def peer_field_share(self, group: tuple[str, str], field_name: str) -> float:
        """Share of the peer group's people who have used a field."""
        people = self._peer_people.get(group, 0)
        return self._peer_fields.get(group, {}).get(field_name, 0) / people if people else 0.0

    def allow(self, actor: str, scenario: str, value: float, until: dt.date) -> None:
        """A false positive: do not alert this person for this scenario again below ``value`` until ``until``."""
        old = self.allowances.get((actor, scenario))
        self.allowances[(actor, scenario)] = (max(value, old[0] if old else 0.0), until)

    def allowance(self, actor: str, scenario: str) -> float:
        got = self.allowances.get((actor, scenario))
        return got[0] if got else 0.0

    def threshold(self, actor: str, group: tuple[str, str], feature: str, scenario: str, *, min_count: float,
                  ratio: float, k: float | None) -> Basis:
        """Count at which a scenario fires: above the own (or else the peer) baseline, never below the floor."""
        k_ = k if k is not None else self.config.baseline.k
        min_scale = self.config.baseline.min_scale
        own = self.person(actor, feature)
        peer = self.peer(group, feature)
        stat, source = (own, "person") if own is not None else (peer, "peer") if peer is not None else (None, "floor")
        thr = min_count
        if stat is not None:
            thr = max(thr, stat.median + k_ * max(stat.scale, min_scale), stat.median * ratio)
        if source == "peer" and peer is not None:
            # before a person has a normal of their own, their peers' busy days are within reason: a peer group
            # by title mixes heavy and light workers (the median is the light ones')
            thr = max(thr, peer.high * self.config.baseline.peer_high_margin)
        if own is not None and peer is not None:
            thr = max(thr, peer.median)  # never below a typical peer's day
        thr = max(thr, self.allowance(actor, scenario))
        return Basis(source=source, stat=stat, threshold=thr, peer=peer)
