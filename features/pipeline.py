"""The feature pipeline: canonical declarations in, one feature frame out.

``DeclarationFeatures`` composes the families (each fitted on the training window only), then
appends the anomaly score fitted on their numeric output. It records which families were active
(a family switches off when its columns are missing) and which family each feature belongs to.
``truth_*`` columns are dropped on the way in: no feature can ever read them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from contraband.data.contract import FIELDS, is_extra_column, is_truth_column
from contraband.features.anomaly import AnomalyScore
from contraband.features.base import prepare
from contraband.features.entities import EntityHistory
from contraband.features.extras import ExtraColumns
from contraband.features.physical import PhysicalFeatures
from contraband.features.policy import PolicyFeatures
from contraband.features.route import RouteFeatures
from contraband.features.text import TextFeatures
from contraband.features.value import ValueFeatures

FAMILIES = {
    "value": ValueFeatures(),
    "physical": PhysicalFeatures(),
    "route": RouteFeatures(),
    "entities": EntityHistory(),
    "text": TextFeatures(),
    "policy": PolicyFeatures(),
    "declared": ExtraColumns(),
}
ALL_FAMILIES = tuple(FAMILIES) + ("anomaly",)


def without_truth(X: pd.DataFrame) -> pd.DataFrame:
    """The declarations as features may see them: no ``truth_*`` column, text as categoricals."""
    X = X[[c for c in X.columns if not is_truth_column(c)]]
    text_columns = [f.name for f in FIELDS if f.kind not in ("number", "flag", "date") and f.name != "declaration_id"]
    return prepare(X, text_columns + [c for c in X.columns if is_extra_column(c)])


class DeclarationFeatures(TransformerMixin, BaseEstimator):
    """All feature families plus the anomaly score, as one scikit-learn transformer."""

    def __init__(self, families: tuple[str, ...] = tuple(FAMILIES), anomaly: bool = True, n_jobs: int = 1):
        self.families = families
        self.anomaly = anomaly
        self.n_jobs = n_jobs

    def fit(self, X: pd.DataFrame, y=None):
        self.fit_transform(X)
        return self

    def fit_transform(self, X: pd.DataFrame, y=None, **fit_params) -> pd.DataFrame:
        unknown = set(self.families) - set(FAMILIES)
        if unknown:
            raise ValueError(f"unknown feature families {sorted(unknown)}; known: {sorted(FAMILIES)}")
        X = without_truth(X)
        self.families_ = {name: clone(FAMILIES[name]).fit(X) for name in self.families}
        frame = self._union(X)
        self.feature_family_ = {c: name for name, fam in self.families_.items() for c in fam.feature_names_out_}
        self.anomaly_ = AnomalyScore(n_jobs=self.n_jobs).fit(frame, feature_family=self.feature_family_) if self.anomaly else None
        if self.anomaly_ is not None and self.anomaly_.active_:
            frame = self.anomaly_.transform(frame)
            self.feature_family_["anomaly_score"] = "anomaly"
        self.active_families_ = [n for n, f in self.families_.items() if f.active_]
        if self.anomaly_ is not None and self.anomaly_.active_:
            self.active_families_.append("anomaly")
        self.feature_names_out_ = list(frame.columns)
        return frame

    def _union(self, X: pd.DataFrame) -> pd.DataFrame:
        parts = [fam.transform(X) for fam in self.families_.values() if fam.active_]
        return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=X.index)

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "families_")
        X = without_truth(X)
        if self.anomaly_ is None or not self.anomaly_.active_:
            return self._union(X)[self.feature_names_out_]
        # the anomaly score needs only the declaration's own shape, not the entity histories:
        # score it in a second thread while the histories are counted (both release the GIL)
        own = [n for n, f in self.families_.items() if f.active_ and n != "entities"]
        parts = {n: self.families_[n].transform(X) for n in own}
        shape = pd.concat(parts.values(), axis=1)
        with ThreadPoolExecutor(max_workers=1) as pool:
            anomaly = pool.submit(self.anomaly_.score, shape)
            if "entities" in self.families_ and self.families_["entities"].active_:
                parts["entities"] = self.families_["entities"].transform(X)
            frame = pd.concat([parts[n] for n in self.families_ if n in parts], axis=1)
            frame["anomaly_score"] = anomaly.result()
        return frame[self.feature_names_out_]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "families_")
        return np.asarray(self.feature_names_out_, dtype=object)

    def set_output(self, *, transform=None):  # always pandas
        return self
