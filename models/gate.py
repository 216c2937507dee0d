"""The champion/challenger decision: the same rows, a minimum improvement, a paired bootstrap.

Both models score the same inspected rows (blind to their outcomes). The challenger wins only if
its precision at the gate's budget beats the champion's by at least ``min_improvement`` *and* the
improvement holds up under resampling: over ``resamples`` paired bootstrap draws of those rows
(both models judged on each draw), the share of draws in which the challenger does not beat the
champion is at most ``alpha``. Two noisy figures compared with a strict ``>`` would move the
champion on luck.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from contraband.models.selection import budget_count, by_risk

GATE_BUDGET = 0.05
GATE_METRIC = "precision_at_5pct"
MIN_IMPROVEMENT = 0.005
ALPHA = 0.05
RESAMPLES = 1000


@dataclass
class Comparison:
    challenger: np.ndarray  # scores (higher = inspect first) on the compared rows
    champion: np.ndarray
    y: np.ndarray  # outcomes of those rows


@dataclass
class Verdict:
    challenger_score: float
    champion_score: float
    improvement: float
    p_not_better: float  # share of bootstrap draws where the challenger is not better
    rows: int
    better: bool


def precision_at(score: np.ndarray, y: np.ndarray, budget: float = GATE_BUDGET, weights: np.ndarray | None = None) -> np.ndarray:
    """Precision within the top ``budget`` of rows; with ``weights`` (draws x rows of bootstrap
    counts) one figure per draw, each row counted as many times as it was drawn."""
    order = by_risk(score)
    y = np.asarray(y)[order]
    if weights is None:
        k = max(1, budget_count(len(y), budget))
        return np.asarray(y[:k].sum() / k)
    w = weights[:, order]
    k = max(1, budget_count(w.shape[1], budget))
    before = np.cumsum(w, axis=1) - w
    taken = np.clip(k - before, 0, w)  # copies of each row inside the top k of the draw
    return (taken * y[None, :]).sum(axis=1) / k


def judge(comparison: Comparison, min_improvement: float = MIN_IMPROVEMENT, alpha: float = ALPHA,
          resamples: int = RESAMPLES, seed: int = 0) -> Verdict:
    y = np.asarray(comparison.y, dtype=np.int64)
    n = len(y)
    ours = float(precision_at(comparison.challenger, y))
    theirs = float(precision_at(comparison.champion, y))
    rng = np.random.default_rng(seed)
    not_better = 0
    for start in range(0, resamples, 100):
        draws = min(100, resamples - start)
        w = rng.multinomial(n, np.full(n, 1.0 / n), size=draws).astype(np.int32)
        diff = precision_at(comparison.challenger, y, weights=w) - precision_at(comparison.champion, y, weights=w)
        not_better += int((diff <= 0).sum())
    p = not_better / resamples
    improvement = ours - theirs
    return Verdict(ours, theirs, improvement, p, n, improvement >= min_improvement and p <= alpha)
