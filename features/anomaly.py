"""Anomaly feature: an unsupervised IsolationForest score over the numeric features.

Fitted on every row of the training window, inspected or not (it needs no label), so it sees
the whole trade, not just what the rules chose to inspect. Higher means more unusual.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import IsolationForest
from sklearn.utils.validation import check_is_fitted

#: the families whose numeric outputs describe a declaration's own physical and commercial shape
INPUT_FAMILIES = ("value", "physical", "route", "text", "declared")


class AnomalyScore(TransformerMixin, BaseEstimator):
    """Appends ``anomaly_score`` to a feature frame (pandas in, pandas out)."""

    family = "anomaly"

    def __init__(self, n_estimators: int = 50, max_fit_rows: int = 200_000, random_state: int = 0, n_jobs: int = 1):
        self.n_estimators = n_estimators
        self.max_fit_rows = max_fit_rows
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X: pd.DataFrame, y=None, feature_family: dict[str, str] | None = None):
        feature_family = feature_family or {}
        self.inputs_ = [c for c in X.columns if pd.api.types.is_float_dtype(X[c])
                        and feature_family.get(c, "value") in INPUT_FAMILIES]
        self.active_ = bool(self.inputs_)
        if self.active_:
            data = X[self.inputs_]
            if len(data) > self.max_fit_rows:
                data = data.sample(self.max_fit_rows, random_state=self.random_state)
            self.fill_ = data.median().fillna(0.0)
            self.model_ = IsolationForest(n_estimators=self.n_estimators, random_state=self.random_state,
                                          n_jobs=self.n_jobs).fit(self._matrix(data))
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def _matrix(self, data: pd.DataFrame) -> np.ndarray:
        m = data.fillna(self.fill_).to_numpy(dtype=np.float32)
        return np.clip(np.nan_to_num(m, nan=0.0, posinf=1e12, neginf=-1e12), -1e12, 1e12)

    def score(self, X: pd.DataFrame) -> np.ndarray:
        """The anomaly score of each row (needs only the input columns)."""
        check_is_fitted(self, "active_")
        return -self.model_.score_samples(self._matrix(X[self.inputs_]))

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "active_")
        out = X.copy()
        if self.active_:
            out["anomaly_score"] = self.score(X)
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        names = list(self.feature_names_in_) + (["anomaly_score"] if self.active_ else [])
        return np.asarray(names, dtype=object)
