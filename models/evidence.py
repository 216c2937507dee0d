"""The evidence model: a linear score on the features whose direction is known, for few seizures.

Tens of seizures cannot teach a booster which of eighty features matter, or how they combine:
its first splits explain the handful of seizures it has, and contraband that looks like none
of them is missed. They can fit a few weights whose sign is already known. :class:`EvidenceModel`
takes the features the pipeline gives a direction (a contradiction, an earlier seizure, a
deviation from the goods' norm never lowers the risk), standardises each by its median and
spread over a sample of the training window's declarations (inspected or not), turns it so that
higher means riskier, clips it at ``clip`` spreads (no single figure outweighs the rest) and
fits a logistic regression whose weights may not be negative (L2, seizures and clean inspections
weighted equally). A row's contributions are exact: weight x standardised value.

:class:`Blend` puts the two margins on one scale (each standardised over the same reference
sample) and weighs them; the detector chooses the weight by the number of seizures
(:func:`evidence_weight`): half with up to ``EVIDENCE_FULL`` seizures, none from
``EVIDENCE_NONE`` on, where the booster has learned the interactions a linear score cannot hold.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

#: the evidence model's weight is EVIDENCE_MAX up to EVIDENCE_FULL labelled seizures, falling
#: linearly to none at EVIDENCE_NONE (measured: docs/benchmarks.md, issue #10)
EVIDENCE_MAX, EVIDENCE_FULL, EVIDENCE_NONE = 0.5, 50, 100
#: training-window declarations (a random sample) the standardisation is learned from
REFERENCE_ROWS = 20_000


def evidence_weight(positives: int) -> float:
    """The evidence model's share of the risk margin, by the labelled seizures trained on."""
    share = (EVIDENCE_NONE - positives) / (EVIDENCE_NONE - EVIDENCE_FULL)
    return float(EVIDENCE_MAX * np.clip(share, 0.0, 1.0))


def reference_rows(n: int, seed: int) -> np.ndarray:
    """A boolean mask of up to ``REFERENCE_ROWS`` of ``n`` rows, drawn at random."""
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n)[:REFERENCE_ROWS]] = True
    return mask


class EvidenceModel(BaseEstimator):
    """Non-negative logistic regression on the directed features (see the module's docstring)."""

    def __init__(self, C: float = 0.3, clip: float = 5.0):
        self.C = C
        self.clip = clip

    def fit(self, x: pd.DataFrame, y: np.ndarray, directions: dict[str, int], reference: pd.DataFrame):
        """``x``: labelled feature rows; ``directions``: +1 or -1 by feature name (others are
        left out); ``reference``: feature rows of the training window's declarations."""
        columns = list(x.columns)
        self.features_ = [c for c in columns if directions.get(c)]
        if not self.features_:
            raise ValueError("the evidence model needs features with a known direction")
        self.index_ = np.array([columns.index(c) for c in self.features_])
        self.sign_ = np.array([float(directions[c]) for c in self.features_])
        ref = reference[self.features_].to_numpy(dtype="float64") * self.sign_
        with warnings.catch_warnings():  # a feature missing on every reference row: centre 0, scale 1
            warnings.simplefilter("ignore", RuntimeWarning)
            self.center_ = np.nan_to_num(np.nanmedian(ref, axis=0))
            scale = np.nanstd(ref, axis=0)
        self.scale_ = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        z, y = self._standardised(x.to_numpy(dtype="float64")), np.asarray(y, dtype="float64")
        positives = y.sum()
        if positives == 0 or positives == len(y):
            raise ValueError("the evidence model needs labelled rows with and without contraband")
        weight = np.where(y == 1, (len(y) - positives) / positives, 1.0)
        weight /= weight.sum()
        l2 = 1.0 / (self.C * len(y))

        def loss(params):
            w, b = params[:-1], params[-1]
            margin = z @ w + b
            nll = y * np.logaddexp(0, -margin) + (1 - y) * np.logaddexp(0, margin)
            grad = weight * (0.5 * (1 + np.tanh(0.5 * margin)) - y)
            return weight @ nll + 0.5 * l2 * w @ w, np.append(z.T @ grad + l2 * w, grad.sum())

        bounds = [(0.0, None)] * z.shape[1] + [(None, None)]
        result = minimize(loss, np.zeros(z.shape[1] + 1), jac=True, method="L-BFGS-B", bounds=bounds)
        self.coef_, self.intercept_ = result.x[:-1], float(result.x[-1])
        return self

    def _standardised(self, values: np.ndarray) -> np.ndarray:
        """The directed features of full feature rows, centred, scaled, clipped (missing: 0)."""
        oriented = values[:, self.index_] * self.sign_
        z = (oriented - self.center_) / self.scale_
        return np.clip(np.nan_to_num(z, nan=0.0), -self.clip, self.clip)

    def margin(self, values: np.ndarray) -> np.ndarray:
        """Log-odds of full feature rows (columns in the pipeline's order)."""
        check_is_fitted(self, "coef_")
        z = self._standardised(values)
        margin = np.full(len(z), self.intercept_)
        for j, w in enumerate(self.coef_):  # column by column, not a matrix product: a row's
            margin += z[:, j] * w  # margin is the same to the last bit in any batch or chunk
        return margin

    def contributions(self, values: np.ndarray) -> np.ndarray:
        """Each directed feature's share of the margin above ``intercept_`` (rows x ``features_``)."""
        check_is_fitted(self, "coef_")
        return self._standardised(values) * self.coef_


@dataclass(frozen=True)
class Blend:
    """Booster and evidence margins on one scale: each minus its mean over the reference sample,
    over its spread there, weighed ``1 - weight`` and ``weight``."""

    weight: float
    booster_mean: float
    booster_scale: float
    evidence_mean: float
    evidence_scale: float

    @classmethod
    def fit(cls, weight: float, booster: np.ndarray, evidence: np.ndarray) -> "Blend":
        def spread(m):
            s = float(np.std(m))
            return s if s > 0 else 1.0
        return cls(weight, float(np.mean(booster)), spread(booster), float(np.mean(evidence)), spread(evidence))

    @property
    def booster_factor(self) -> float:
        return (1.0 - self.weight) / self.booster_scale

    @property
    def evidence_factor(self) -> float:
        return self.weight / self.evidence_scale

    def margin(self, booster: np.ndarray, evidence: np.ndarray) -> np.ndarray:
        return (self.booster_factor * (booster - self.booster_mean)
                + self.evidence_factor * (evidence - self.evidence_mean))
