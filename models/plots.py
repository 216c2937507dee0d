"""Training plots logged as PNG artifacts: PR curve, precision by budget, importance by family,
calibration, and the retraining job's drift bars. Matplotlib runs headless (Agg)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import precision_recall_curve  # noqa: E402

from contraband.models.metrics import BUDGETS  # noqa: E402


def close(fig) -> None:
    plt.close(fig)


def pr_curves(curves: dict[str, tuple[np.ndarray, np.ndarray]]):
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, (score, y) in curves.items():
        if 0 < y.sum() < len(y):
            precision, recall, _ = precision_recall_curve(y, score)
            ax.plot(recall, precision, label=name)
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall on the test window (inspected rows)")
    ax.legend(fontsize=8)
    return fig


def precision_by_budget(results: dict[str, dict[str, float]]):
    fig, ax = plt.subplots(figsize=(6, 4.5))
    names = list(results)
    width = 0.8 / max(len(names), 1)
    x = np.arange(len(BUDGETS))
    for i, name in enumerate(names):
        ax.bar(x + i * width, [results[name].get(f"precision_at_{b * 100:g}pct", np.nan) for b in BUDGETS],
               width, label=name)
    ax.set_xticks(x + 0.4 - width / 2, [f"{b:.0%}" for b in BUDGETS])
    ax.set(xlabel="inspection budget", ylabel="precision", title="Precision by budget")
    ax.legend(fontsize=8)
    return fig


def importance_by_family(detector):
    gain = pd.Series(detector.model_.booster_.feature_importance("gain", iteration=detector.best_iteration_),
                     index=detector.model_.booster_.feature_name())
    family = gain.index.map(lambda f: detector.features_.feature_family_.get(f, "other"))
    by_family = gain.groupby(family).sum().sort_values()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.barh(by_family.index, by_family.to_numpy() / max(by_family.sum(), 1e-12))
    ax.set(xlabel="share of total gain", title="Feature importance by family")
    return fig


def calibration(score: np.ndarray, y: np.ndarray, bins: int = 10):
    fig, ax = plt.subplots(figsize=(5, 5))
    order = np.argsort(score)
    groups = np.array_split(order, bins)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.plot([score[g].mean() for g in groups if len(g)], [y[g].mean() for g in groups if len(g)], marker="o")
    ax.set(xlabel="mean predicted risk score", ylabel="observed contraband rate", title="Calibration (test, inspected)")
    return fig


def drift_bars(report, top: int = 25):
    """PSI of the risk score, the flag rate and the ``top`` features, with the 0.1 and 0.2 lines."""
    from contraband.models.drift import MODERATE, SIGNIFICANT

    table = report.features.head(top)
    names = ["risk score", "flag rate", *table["feature"].tolist()]
    values = np.nan_to_num(np.array([report.score_psi, report.flag_rate_psi, *table["psi"].to_numpy()], dtype=float))
    colors = ["tab:red" if v >= SIGNIFICANT else "tab:orange" if v >= MODERATE else "tab:green" for v in values]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(names) + 1.5))
    ax.barh(np.arange(len(names))[::-1], values, color=colors)
    ax.set_yticks(np.arange(len(names))[::-1], names, fontsize=7)
    for x, style in ((MODERATE, ":"), (SIGNIFICANT, "--")):
        ax.axvline(x, color="grey", linestyle=style, linewidth=1)
    ax.set(xlabel="population stability index (training window -> newest window)",
           title=f"Drift: {report.expected_rows:,} training rows vs {report.actual_rows:,} newest rows")
    fig.tight_layout()
    return fig


def training_figures(detector, results, curves) -> dict:
    figs = {"pr_curve": pr_curves({k: v for k, v in curves.items() if not k.endswith("_probability")}),
            "precision_by_budget": precision_by_budget({k: v for k, v in results.items() if "truth" not in k}),
            "importance_by_family": importance_by_family(detector)}
    if "model_probability" in curves:
        figs["calibration"] = calibration(*curves["model_probability"])
    return figs
