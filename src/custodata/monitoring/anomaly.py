"""The anomaly model: an IsolationForest over peer-normalised person-day features.

Rules see one count at a time; the model sees the day as a whole (many
customers *and* off hours *and* unmasks *and* a new address) and so
corroborates a rule that is near its threshold, and raises the score of one
that fired.  Features are divided by the peer group's median before fitting,
so one global model compares a call-centre agent with call-centre agents and
a relationship manager with relationship managers, and a small peer group
still gets a well-fitted model.  The model is refitted once a local day on
completed days only, with a fixed seed, so batch and incremental runs agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from sklearn.ensemble import IsolationForest

from custodata.monitoring.baseline import Stat
from custodata.monitoring.config import AnomalySettings
from custodata.monitoring.features import FEATURES

PeerStats = Callable[[str], Stat | None]


def normalise(features: dict[str, float], peer: PeerStats) -> list[float]:
    """log1p of each feature over (its peer median + 1): 0 is a typical peer day."""
    out = []
    for name in FEATURES:
        stat = peer(name)
        base = stat.median if stat is not None else 0.0
        out.append(math.log1p(features[name]) - math.log1p(base))
    return out


class AnomalyModel:
    """IsolationForest fitted on recent person-days; ``score`` is 0 (normal) … 1 (isolated at once)."""

    def __init__(self, settings: AnomalySettings) -> None:
        self.settings = settings
        self._forest: IsolationForest | None = None
        self.samples = 0
        self.cutoff = 1.0

    @property
    def fitted(self) -> bool:
        return self._forest is not None

    def fit(self, rows: Sequence[list[float]]) -> None:
        """Fit on the most recent rows; too few rows leave the model unfitted (rules alone decide)."""
        if not self.settings.enabled or len(rows) < self.settings.min_samples:
            self._forest = None
            self.samples = len(rows)
            return
        data = np.asarray(rows[-self.settings.max_samples:], dtype=float)
        forest = IsolationForest(n_estimators=self.settings.n_estimators, random_state=self.settings.seed,
                                 contamination="auto")
        forest.fit(data)
        self._forest = forest
        self.samples = len(data)
        # the cut is learnt from the bank's own days: scores above all but the most unusual 1 % of them
        probe = data[np.linspace(0, len(data) - 1, min(len(data), 2000)).astype(int)]
        self.cutoff = float(np.quantile(-forest.score_samples(probe), self.settings.quantile))

    def score(self, row: list[float]) -> float | None:
        """Anomaly score in [0, 1] (IsolationForest's, about 0.5 for ordinary days); None when not fitted."""
        if self._forest is None:
            return None
        return float(-self._forest.score_samples(np.asarray([row], dtype=float))[0])

    def anomalous(self, score: float | None) -> bool:
        """Whether a day scores above the learnt cut (the ``quantile`` of recent ordinary days' scores)."""
        return score is not None and score > self.cutoff
