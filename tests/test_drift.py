"""Population stability (PSI) on known shifts: the figures the drift report flags."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from contraband.models.drift import MODERATE, SIGNIFICANT, drift_report, level, psi, psi_shares


def _normal(n: int, mean: float = 0.0, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, 1.0, n)


def test_the_same_distribution_is_stable_and_a_shifted_one_is_flagged_at_the_usual_thresholds():
    base = _normal(200_000)
    assert psi(base, _normal(200_000, seed=1)) < 0.005
    # a mean shift of d standard deviations gives a PSI close to d^2 (deciles of the training window)
    small, half, whole = (psi(base, _normal(200_000, mean=d, seed=2)) for d in (0.1, 0.5, 1.0))
    assert small < MODERATE and level(small) == "stable"
    assert SIGNIFICANT <= half < 0.35 and level(half) == "shift"
    assert 0.8 < whole < 1.3
    assert small < half < whole
    # a shift up or down is a shift all the same
    assert psi(base, _normal(200_000, mean=-0.5, seed=3)) == pytest.approx(half, rel=0.15)


def test_categories_are_compared_share_by_share_and_a_new_category_and_missing_values_count():
    expected = np.array([1.0] * 500 + [2.0] * 500)
    actual = np.array([1.0] * 700 + [2.0] * 300)
    by_hand = 0.2 * np.log(0.7 / 0.5) + (-0.2) * np.log(0.3 / 0.5)
    assert psi(expected, actual, categorical=True) == pytest.approx(by_hand)
    assert level(by_hand) == "moderate"
    # a tenth of the newest rows carry a code the training window never had: its own bin
    unseen = np.array([1.0] * 450 + [2.0] * 450 + [3.0] * 100)
    assert psi(expected, unseen, categorical=True) == pytest.approx(
        psi_shares([0.5, 0.5, 0.0, 0.0], [0.45, 0.45, 0.1, 0.0]))
    # a column that goes missing for a fifth of the rows has moved, even with the same values
    missing = np.array([1.0] * 400 + [2.0] * 400 + [np.nan] * 200)
    assert psi(expected, missing, categorical=True) == pytest.approx(
        psi_shares([0.5, 0.5, 0.0, 0.0], [0.4, 0.4, 0.0, 0.2]))


def test_the_report_ranks_features_and_measures_the_flag_rate_against_the_budget():
    n = 50_000
    rng = np.random.default_rng(0)
    expected = pd.DataFrame({"steady": rng.normal(size=n), "moved": rng.normal(size=n),
                             "route": rng.integers(0, 4, n).astype(float)})
    actual = pd.DataFrame({"steady": rng.normal(size=n), "moved": rng.normal(1.0, 1.0, n),
                           "route": rng.integers(0, 4, n).astype(float)})
    margin_train = rng.normal(size=n)
    margin_new = rng.normal(size=n) + 0.8  # more of the newest window crosses the training cut
    report = drift_report(expected, actual, margin_train, margin_new, budget=0.05, categorical=["route"],
                          families={"moved": "value"})
    assert report.features["feature"].iloc[0] == "moved" and report.shifted == ["moved"]
    assert report.features.set_index("feature").loc["steady", "level"] == "stable"
    threshold = np.quantile(margin_train, 0.95)
    rate = float(np.mean(margin_new >= threshold))
    assert report.flag_rate == pytest.approx(rate) and rate > 0.15
    assert report.flag_rate_psi == pytest.approx(psi_shares([0.05, 0.95], [rate, 1 - rate]))
    assert level(report.score_psi) == "shift"
    printed = "\n".join(report.lines())
    assert "moved" in printed and "shift" in printed and "steady" not in printed  # stable features stay quiet
    assert report.as_dict()["features"][0]["feature"] == "moved"
