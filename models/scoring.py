"""From risk scores to an inspection list: rank, budget, exploration share, reasons.

An analyst inspects a budget (a share of the declarations), not a probability threshold. Most
of the budget goes to the highest risk scores; an exploration share (default 10 %) goes to
picks outside the model's top list, marked as such, so that labels keep coming from outside the
model's comfort zone (pure exploitation starves the model under drift). Reasons are computed
only for the flagged rows, where an analyst reads them.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from contraband.models.reasons import MAX_REASONS

EXPLORATION_MODES = ("random", "uncertainty")


def inspection_list(margin: np.ndarray, budget: float = 0.05, exploration: float = 0.1, seed: int = 0,
                    mode: str = "random") -> pd.DataFrame:
    """Rank (1 = highest risk), flagged (inside the budget) and exploration (picked to explore).

    ``mode="random"`` explores uniformly among the rows below the model's picks;
    ``"uncertainty"`` explores in proportion to p(1-p) of the model's probability.
    """
    if not 0 < budget <= 1:
        raise ValueError("budget must be in (0, 1]")
    if not 0 <= exploration < 1:
        raise ValueError("exploration must be in [0, 1)")
    if mode not in EXPLORATION_MODES:
        raise ValueError(f"mode must be one of {EXPLORATION_MODES}")
    n = len(margin)
    order = np.argsort(-margin, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(1, n + 1)
    n_flag = min(n, math.ceil(budget * n))
    n_explore = int(round(exploration * n_flag))
    n_model = n_flag - n_explore
    flagged = np.zeros(n, dtype=bool)
    flagged[order[:n_model]] = True
    explored = np.zeros(n, dtype=bool)
    rest = order[n_model:]
    if n_explore and len(rest):
        rng = np.random.default_rng(seed)
        if mode == "random":
            weights = np.ones(len(rest))
        else:
            p = 1.0 / (1.0 + np.exp(-margin[rest]))
            weights = p * (1 - p) + 1e-12
        picks = rng.choice(rest, size=min(n_explore, len(rest)), replace=False, p=weights / weights.sum())
        flagged[picks] = True
        explored[picks] = True
    return pd.DataFrame({"rank": rank, "flagged": flagged, "exploration": explored})


def score_declarations(detector, records: pd.DataFrame, budget: float = 0.05, exploration: float = 0.1,
                       seed: int = 0, mode: str = "random", max_reasons: int = MAX_REASONS) -> pd.DataFrame:
    """Risk score, rank, flag, exploration mark and reasons for every declaration."""
    features = detector.features(records)
    margin = detector.margin(records, features)
    out = inspection_list(margin, budget, exploration, seed, mode)
    out.insert(0, "risk_score", detector.calibrate(margin))
    out.index = records.index
    for k in range(1, max_reasons + 1):
        out[f"reason_{k}"] = ""
    flagged = np.flatnonzero(out["flagged"].to_numpy())
    if len(flagged):
        texts = detector.reasons(records.iloc[flagged], features.iloc[flagged], max_reasons)
        for k in range(max_reasons):
            out.iloc[flagged, out.columns.get_loc(f"reason_{k + 1}")] = [t[k] if len(t) > k else "" for t in texts]
    explored = out["exploration"].to_numpy()
    if explored.any():
        col = out.columns.get_loc("reason_1")
        first = out.iloc[np.flatnonzero(explored), col]
        out.iloc[np.flatnonzero(explored), col] = ["exploration pick (outside the model's top list); " + r for r in first]
    return out
