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
from typing import Any

import numpy as np
from sklearn.ensemble import IsolationForest

from custodata.monitoring.baseline import Stat
from custodata.monitoring.config import AnomalySettings
from custodata.monitoring.features import FEATURES

PeerStats = Callable[[str], Stat | None]
# one fitted isolation tree as plain lists: left child, right child (-1 at a leaf), feature, threshold, and at a
# leaf its depth plus the expected path length of the training samples left in it
FlatTree = tuple[list[int], list[int], list[int], list[float], list[float]]
_EULER_GAMMA = 0.5772156649015329


def _path_length(n: float) -> float:
    """Average path length of an unsuccessful search in a binary tree of ``n`` points (Liu et al. 2008, c(n))."""
    if n <= 1:
        return 0.0
    if n == 2:
        return 1.0
    return 2.0 * (math.log(n - 1.0) + _EULER_GAMMA) - 2.0 * (n - 1.0) / n


def _flat_tree(tree: Any) -> FlatTree:
    left, right = tree.children_left.tolist(), tree.children_right.tolist()
    samples = tree.n_node_samples.tolist()
    depth = [0] * len(left)
    for node in range(len(left)):  # children come after their parent in sklearn's node order
        if left[node] != -1:
            depth[left[node]] = depth[right[node]] = depth[node] + 1
    value = [float(depth[i]) + _path_length(samples[i]) if left[i] == -1 else 0.0 for i in range(len(left))]
    return left, right, tree.feature.tolist(), tree.threshold.tolist(), value


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
        self._pending: Sequence[list[float]] | None = None  # the rows of the next forest, grown when first used
        self._trees: list[FlatTree] = []
        self._norm = 0.0
        self.samples = 0
        self.cutoff = 1.0

    @property
    def fitted(self) -> bool:
        return self._forest is not None or self._pending is not None

    def fit(self, rows: Sequence[list[float]]) -> None:
        """Fit on the most recent rows; too few rows leave the model unfitted (rules alone decide).

        The forest is grown when it is first asked for a score: a day on which no rule
        asks costs nothing (a fifth to a third of the days; ~0.15 s each), and the forest
        is the same either way — the same rows, the same seed.
        """
        self._forest = None
        self._pending = None
        if not self.settings.enabled or len(rows) < self.settings.min_samples:
            self.samples = len(rows)
            return
        self._pending = rows[-self.settings.max_samples:]
        self.samples = len(self._pending)

    @property
    def forest(self) -> IsolationForest | None:
        """The fitted forest (grown now if it was not yet); None when there were too few rows."""
        if self._pending is not None:
            self._grow(self._pending)
            self._pending = None
        return self._forest

    def _grow(self, rows: Sequence[list[float]]) -> None:
        data = np.asarray(rows, dtype=float)
        forest = IsolationForest(n_estimators=self.settings.n_estimators, random_state=self.settings.seed,
                                 contamination="auto")
        forest.fit(data)
        self._forest = forest
        self._trees = [_flat_tree(tree.tree_) for tree in forest.estimators_]
        self._norm = len(forest.estimators_) * _path_length(forest.max_samples_)
        # the cut is learnt from the bank's own days: scores above all but the most unusual 1 % of them
        probe = data[np.linspace(0, len(data) - 1, min(len(data), 2000)).astype(int)]
        self.cutoff = float(np.quantile(-forest.score_samples(probe), self.settings.quantile))

    def score(self, row: list[float]) -> float | None:
        """Anomaly score in [0, 1] (IsolationForest's, about 0.5 for ordinary days); None when not fitted.

        The forest's own ``score_samples`` costs ~5 ms for one row (input checks and a
        joblib dispatch per tree), and the monitor scores one person-day at a time as
        alerts are raised; so the fitted trees are walked here, in plain Python (~0.1 ms):
        the same leaves, path lengths and normalisation, equal to ``-score_samples``
        (tested).  Values are rounded to float32 first, as the trees compare them.
        """
        if self.forest is None:
            return None
        x = np.asarray(row, dtype=np.float32).tolist()
        depth = 0.0
        for left, right, feature, threshold, value in self._trees:
            node = 0
            while left[node] != -1:
                node = left[node] if x[feature[node]] <= threshold[node] else right[node]
            depth += value[node]
        return float(2.0 ** (-depth / self._norm)) if self._norm else 1.0

    def anomalous(self, score: float | None) -> bool:
        """Whether a day scores above the learnt cut (the ``quantile`` of recent ordinary days' scores)."""
        return score is not None and score > self.cutoff
