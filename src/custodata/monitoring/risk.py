"""Risk weighting: what was touched matters as much as how much.

A generic UEBA product counts look-ups; custodata knows that a look at a
high-net-worth or corporate customer, or at an ID number or bank card, is
worth more to a thief than a look at a mobile prefix of an individual.  The
alert's score is how far the behaviour is past its threshold, multiplied by
the value of the customers touched, the level of the fields touched, the
person's kind (outsourced and partner staff weigh more) and the anomaly
model's opinion; the severity bands turn the score into low … critical.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from custodata.monitoring.config import MonitorConfig, Severity


@dataclass(frozen=True, slots=True)
class Risk:
    score: float
    severity: Severity
    factors: dict[str, float]


def value_factor(config: MonitorConfig, value_counts: Mapping[str, int]) -> float:
    """Average value weight of the customers touched (1 when none is known)."""
    total = sum(value_counts.values())
    if not total:
        return 1.0
    w = config.weights
    return sum(n * w.value.get(v, w.unknown_value) for v, n in value_counts.items()) / total


def level_factor(config: MonitorConfig, max_level: int) -> float:
    if max_level <= 0:
        return 1.0
    levels = config.weights.level
    return levels.get(max_level, max(levels.values()) if max_level > max(levels) else 1.0)


def assess(config: MonitorConfig, *, excess: float, kind: str, value_counts: Mapping[str, int] | None = None,
           max_level: int = 0, anomaly: float | None = None) -> Risk:
    """Score and severity of a finding ``excess`` times past its threshold."""
    vf = value_factor(config, value_counts or {})
    lf = level_factor(config, max_level)
    kf = config.weights.kind.get(kind, 1.0)
    af = 1.0 + config.anomaly.boost * max(0.0, (anomaly or 0.0) - 0.5) * 4 if anomaly is not None else 1.0
    score = excess * vf * lf * kf * af
    factors = {"excess": round(excess, 3), "value": round(vf, 3), "level": round(lf, 3), "kind": round(kf, 3),
               "anomaly": round(af, 3)}
    return Risk(score=score, severity=config.severity.of(score), factors=factors)
