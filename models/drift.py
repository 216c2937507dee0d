"""Drift between the training window and the newest window: population stability (PSI).

PSI compares the share of rows in each bin of a distribution, ``sum((a - e) * ln(a / e))`` over
the bins, ``e`` the shares in the training window (expected) and ``a`` in the newest window
(actual). The usual reading: under 0.1 stable, 0.1 to 0.2 a moderate shift worth watching, 0.2
and over a significant shift. Bins are fixed on the training window: deciles of a numeric
feature (missing values a bin of their own, values beyond the training range in the end bins),
each value its own bin for a categorical feature (its codes) or one with at most ten distinct
values (values the training window never had share one extra bin). A share of zero counts as
``FLOOR`` so that a bin empty on one side gives a large but finite figure.

The report covers every feature of the model, the risk score (the model's margin, binned the
same way) and the flag rate: the share of the newest window above the margin that flagged the
top ``budget`` of the training window, against ``budget`` itself (two bins: flagged or not).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MODERATE, SIGNIFICANT = 0.1, 0.2
FLOOR = 1e-4
BINS = 10
_FEW_VALUES = 10


def level(psi: float) -> str:
    if not np.isfinite(psi):
        return "n/a"
    return "shift" if psi >= SIGNIFICANT else "moderate" if psi >= MODERATE else "stable"


def psi_shares(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI of two share vectors over the same bins (each summing to 1)."""
    e = np.maximum(np.asarray(expected, dtype="float64"), FLOOR)
    a = np.maximum(np.asarray(actual, dtype="float64"), FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def _shares(codes: np.ndarray, bins: int) -> np.ndarray:
    return np.bincount(codes, minlength=bins)[:bins] / max(len(codes), 1)


def psi(expected, actual, bins: int = BINS, categorical: bool = False) -> float:
    """PSI of one variable: ``expected`` (training window) against ``actual`` (newest window).
    NaN when either side has no rows."""
    e = np.asarray(expected, dtype="float64")
    a = np.asarray(actual, dtype="float64")
    if not len(e) or not len(a):
        return float("nan")
    e_missing, a_missing = np.isnan(e), np.isnan(a)
    values = np.unique(e[~e_missing])
    if categorical or len(values) <= _FEW_VALUES:
        # one bin per training value, one for values never seen in training, one for missing
        known = len(values)
        codes_e = np.searchsorted(values, e[~e_missing])
        pos = np.searchsorted(values, a[~a_missing])
        seen = (pos < known) & (values[np.minimum(pos, max(known - 1, 0))] == a[~a_missing]) if known \
            else np.zeros(len(pos), dtype=bool)
        codes_a = np.where(seen, pos, known)
        n_bins = known + 1
    else:
        inner = np.unique(np.quantile(e[~e_missing], np.linspace(0, 1, bins + 1)[1:-1]))
        codes_e = np.searchsorted(inner, e[~e_missing], side="right")
        codes_a = np.searchsorted(inner, a[~a_missing], side="right")
        n_bins = len(inner) + 1
    share_e = np.append(_shares(codes_e, n_bins) * (1 - e_missing.mean()), e_missing.mean())
    share_a = np.append(_shares(codes_a, n_bins) * (1 - a_missing.mean()), a_missing.mean())
    return psi_shares(share_e, share_a)


@dataclass
class DriftReport:
    features: pd.DataFrame  # feature, family, psi, level; highest PSI first
    score_psi: float
    flag_rate: float  # share of the newest window above the training window's budget margin
    flag_rate_psi: float
    budget: float
    expected_rows: int
    actual_rows: int

    @property
    def shifted(self) -> list[str]:
        return self.features.loc[self.features["psi"] >= SIGNIFICANT, "feature"].tolist()

    @property
    def moderate(self) -> list[str]:
        return self.features.loc[(self.features["psi"] >= MODERATE) & (self.features["psi"] < SIGNIFICANT),
                                 "feature"].tolist()

    def lines(self, top: int = 10) -> list[str]:
        """The report as printed: score and flag rate, then the features with the largest PSI."""
        out = [f"drift: training window {self.expected_rows:,} rows vs newest window {self.actual_rows:,} rows "
               f"(PSI: < {MODERATE} stable, {MODERATE}-{SIGNIFICANT} moderate, >= {SIGNIFICANT} shift)",
               f"  risk score   PSI {self.score_psi:6.3f}  {level(self.score_psi)}",
               f"  flag rate    PSI {self.flag_rate_psi:6.3f}  {level(self.flag_rate_psi)}  "
               f"({self.flag_rate:.1%} of the newest window above the training window's top-{self.budget:.0%} "
               f"margin)",
               f"  features: {len(self.shifted)} shifted, {len(self.moderate)} moderate, "
               f"{len(self.features) - len(self.shifted) - len(self.moderate)} stable"]
        for _, r in self.features.head(top).iterrows():
            if r["psi"] >= MODERATE:
                out.append(f"  {r['feature']:<40.40} PSI {r['psi']:6.3f}  {r['level']}  ({r['family']})")
        return out

    def as_dict(self) -> dict:
        return {"score_psi": self.score_psi, "flag_rate": self.flag_rate, "flag_rate_psi": self.flag_rate_psi,
                "budget": self.budget, "expected_rows": self.expected_rows, "actual_rows": self.actual_rows,
                "thresholds": {"moderate": MODERATE, "significant": SIGNIFICANT},
                "features": self.features.to_dict(orient="records")}

    def figure(self, top: int = 25):
        """Horizontal bars: the score, the flag rate and the ``top`` features by PSI, with the
        two thresholds."""
        from contraband.models import plots

        return plots.drift_bars(self, top)


def drift_report(expected: pd.DataFrame, actual: pd.DataFrame, expected_margin: np.ndarray,
                 actual_margin: np.ndarray, budget: float = 0.05, categorical=(), families: dict | None = None
                 ) -> DriftReport:
    """PSI of every feature column of ``expected`` (training window rows) against ``actual``
    (newest window rows), of the margins, and of the flag rate at ``budget``."""
    categorical = set(categorical)
    rows = [(name, (families or {}).get(name, ""),
             psi(expected[name].to_numpy(), actual[name].to_numpy(), categorical=name in categorical))
            for name in expected.columns]
    table = pd.DataFrame(rows, columns=["feature", "family", "psi"])
    table["level"] = table["psi"].map(level)
    table = table.sort_values("psi", ascending=False, na_position="last", kind="stable").reset_index(drop=True)
    threshold = np.quantile(np.asarray(expected_margin, dtype="float64"), 1 - budget) if len(expected_margin) \
        else np.inf
    rate = float(np.mean(np.asarray(actual_margin) >= threshold)) if len(actual_margin) else float("nan")
    return DriftReport(table, psi(expected_margin, actual_margin), rate,
                       psi_shares([budget, 1 - budget], [rate, 1 - rate]) if np.isfinite(rate) else float("nan"),
                       budget, len(expected), len(actual))


__all__ = ["DriftReport", "drift_report", "psi", "psi_shares", "level", "MODERATE", "SIGNIFICANT"]
