"""How the field measures a ranking: at an inspection budget, not a threshold.

For budgets of 1, 2, 5 and 10 % of the ranked rows: precision (share of the inspected that
carry contraband), recall (share of all contraband caught) and value recall (share of the value
of the contraband caught: ``seized_value_usd`` where known, else the declared value). Plus
ROC-AUC and PR-AUC. On generated data, per-typology recall at 5 %.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from contraband.models import selection
from contraband.models.selection import budget_count, by_risk

BUDGETS = (0.01, 0.02, 0.05, 0.10)


def _pct(b: float) -> str:
    return f"{b * 100:g}pct"


def budget_metrics(score: np.ndarray, y: np.ndarray, value: np.ndarray | None = None,
                   budgets=BUDGETS) -> dict[str, float]:
    """Metrics of one ranking (higher score = inspect first) against labels ``y``."""
    score = np.asarray(score, dtype=float)
    y = np.asarray(y, dtype=int)
    value = np.ones(len(y)) if value is None else np.nan_to_num(np.asarray(value, dtype=float))
    n, pos = len(y), int(y.sum())
    out = {"rows": n, "positives": pos}
    both = 0 < pos < n
    out["roc_auc"] = float(roc_auc_score(y, score)) if both else float("nan")
    out["pr_auc"] = float(average_precision_score(y, score)) if both else float("nan")
    order = by_risk(score)
    total_value = float((value * y).sum())
    for b in budgets:
        k = max(1, budget_count(n, b))
        top = order[:k]
        caught = y[top].sum()
        out[f"precision_at_{_pct(b)}"] = float(caught / k)
        out[f"recall_at_{_pct(b)}"] = float(caught / pos) if pos else float("nan")
        out[f"value_recall_at_{_pct(b)}"] = float((value[top] * y[top]).sum() / total_value) if total_value else float("nan")
    return out


def outcome_value(frame: pd.DataFrame) -> np.ndarray:
    """Value at stake of each row: the seized value where known, else the declared value."""
    declared = pd.to_numeric(frame["declared_value_usd"], errors="coerce").to_numpy(dtype=float)
    if "seized_value_usd" in frame:
        seized = pd.to_numeric(frame["seized_value_usd"], errors="coerce").to_numpy(dtype=float)
        return np.where(np.isfinite(seized) & (seized > 0), seized, declared)
    return declared


def truth_value(frame: pd.DataFrame) -> np.ndarray:
    """On generated data: the hidden value of the contraband, else the declared value."""
    if "truth_value_usd" in frame:
        v = pd.to_numeric(frame["truth_value_usd"], errors="coerce").to_numpy(dtype=float)
        return np.where(v > 0, v, outcome_value(frame))
    return outcome_value(frame)


def typology_recall(score: np.ndarray, frame: pd.DataFrame, budget: float = 0.05) -> dict[str, float]:
    """Share of each typology's contraband (hidden truth) inside the top ``budget`` of all rows."""
    n = len(frame)
    top = selection.top(score, max(1, budget_count(n, budget)))
    truth = frame["truth_contraband"].to_numpy() == 1
    typ = frame["truth_typology"].astype("str").to_numpy()
    return {t: float(top[truth & (typ == t)].mean()) for t in sorted(set(typ[truth]))}


def table(results: dict[str, dict[str, float]], keys: tuple[str, ...] | None = None) -> str:
    """Model beside baselines, one column each."""
    keys = keys or ("roc_auc", "pr_auc") + tuple(
        f"{m}_at_{_pct(b)}" for m in ("precision", "recall", "value_recall") for b in BUDGETS)
    names = list(results)
    width = max(12, *(len(n) for n in names))
    lines = [f"{'metric':<26}" + "".join(f"{n:>{width + 2}}" for n in names)]
    for k in keys:
        cells = []
        for n in names:
            v = results[n].get(k, float("nan"))
            cells.append(f"{v:>{width + 2}.3f}" if isinstance(v, float) else f"{v:>{width + 2}}")
        lines.append(f"{k:<26}" + "".join(cells))
    return "\n".join(lines)
