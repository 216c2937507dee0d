"""The feature pipeline: canonical declarations (plus the history store) in, one feature frame out.

``DeclarationFeatures`` composes the families (each fitted on the training window only), then
appends the anomaly score fitted on their numeric output. Fitting needs no history: the entity
family learns only its prior rate; its counts are read from the store at transform time, as of
the day before each declaration, in training as in serving. The output is one block of float
columns (categorical features as integer codes, listed in ``categorical_features_``). It
records which families were active (a family switches off when its columns are missing) and
which family each feature belongs to. ``truth_*`` columns are dropped on the way in: no feature
can ever read them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from contraband.data.contract import is_truth_column
from contraband.features.anomaly import AnomalyScore
from contraband.data.columns import Columns
from contraband.features.consistency import ConsistencyFeatures
from contraband.features.deviation import DeviationFeatures
from contraband.features.entities import EntityHistory
from contraband.features.extras import ExtraColumns
from contraband.features.network import NetworkHistory
from contraband.features.physical import PhysicalFeatures
from contraband.features.policy import PolicyFeatures
from contraband.features.route import RouteFeatures
from contraband.features.text import TextFeatures
from contraband.features.trader import TraderNorms
from contraband.features.value import ValueFeatures

FAMILIES = {
    "value": ValueFeatures(),
    "physical": PhysicalFeatures(),
    "deviation": DeviationFeatures(),
    "consistency": ConsistencyFeatures(),
    "route": RouteFeatures(),
    "entities": EntityHistory(),
    "network": NetworkHistory(),
    "trader": TraderNorms(),
    "text": TextFeatures(),
    "policy": PolicyFeatures(),
    "declared": ExtraColumns(),
}
ALL_FAMILIES = tuple(FAMILIES) + ("anomaly",)
_PARALLEL_ROWS = 20_000  # from this many rows, the anomaly score runs beside the history lookups


def truth_columns(names) -> list[str]:
    return [c for c in names if is_truth_column(c)]


def without_truth(X: pd.DataFrame) -> pd.DataFrame:
    """The declarations as features may see them: no ``truth_*`` column."""
    truth = truth_columns(X.columns)
    return X.drop(columns=truth) if truth else X


class DeclarationFeatures(TransformerMixin, BaseEstimator):
    """All feature families plus the anomaly score, as one scikit-learn transformer."""

    def __init__(self, families: tuple[str, ...] = tuple(FAMILIES), anomaly: bool = True, n_jobs: int = 1):
        self.families = families
        self.anomaly = anomaly
        self.n_jobs = n_jobs

    def fit(self, X: pd.DataFrame, y=None):
        unknown = set(self.families) - set(FAMILIES)
        if unknown:
            raise ValueError(f"unknown feature families {sorted(unknown)}; known: {sorted(FAMILIES)}")
        frame = Columns(without_truth(X))
        self.families_ = {name: clone(FAMILIES[name]).fit(frame) for name in self.families}
        self.feature_family_ = {c: name for name, fam in self.families_.items() for c in fam.feature_names_out_}
        self.categorical_features_ = [c for fam in self.families_.values() for c in fam.categorical_]
        self.anomaly_ = None
        if self.anomaly:
            shape = self._own_shape(frame)
            self.anomaly_ = AnomalyScore(n_jobs=self.n_jobs).fit(
                pd.DataFrame(shape, index=frame.X.index), feature_family=self.feature_family_,
                categorical=self.categorical_features_)
            if self.anomaly_.active_:
                self.feature_family_["anomaly_score"] = "anomaly"
            else:
                self.anomaly_ = None
        self.active_families_ = [n for n, f in self.families_.items() if f.active_]
        if self.anomaly_ is not None:
            self.active_families_.append("anomaly")
        self.feature_names_out_ = [c for fam in self.families_.values() for c in fam.feature_names_out_]
        self.monotone_ = {c: s for fam in self.families_.values() for c, s in fam.monotone().items()}
        if self.anomaly_ is not None:
            self.feature_names_out_.append("anomaly_score")
            self.monotone_["anomaly_score"] = 1
        return self

    def monotone_constraints(self) -> list[int]:
        """LightGBM's ``monotone_constraints``, in ``feature_names_out_`` order."""
        check_is_fitted(self, "families_")
        monotone = getattr(self, "monotone_", {})
        return [monotone.get(c, 0) for c in self.feature_names_out_]

    def fit_transform(self, X: pd.DataFrame, y=None, history=None, **fit_params) -> pd.DataFrame:
        return self.fit(X).transform(X, history)

    def _own_shape(self, frame: Columns) -> dict[str, np.ndarray]:
        """The features of the families that need no history (the anomaly score's inputs)."""
        out = {}
        for fam in self.families_.values():
            if fam.active_ and not fam.needs_history:
                out.update(fam.columns(frame))
        return out

    def columns(self, X: pd.DataFrame, history=None) -> dict[str, np.ndarray]:
        """Every feature as a float array, by name."""
        check_is_fitted(self, "families_")
        frame = X.without(truth_columns(X.names)) if isinstance(X, Columns) else Columns(without_truth(X))
        out = self._own_shape(frame)
        needs = [f for f in self.families_.values() if f.active_ and f.needs_history]
        if self.anomaly_ is not None and needs and frame.n >= _PARALLEL_ROWS:
            # the anomaly score needs only the declaration's own shape: score it in a second thread
            # while the histories are read (both release the GIL in their heavy parts)
            with ThreadPoolExecutor(max_workers=1) as pool:
                anomaly = pool.submit(self.anomaly_.score, out)
                for fam in needs:
                    out.update(fam.columns(frame, history))
                out["anomaly_score"] = anomaly.result()
        else:
            for fam in needs:
                out.update(fam.columns(frame, history))
            if self.anomaly_ is not None:
                out["anomaly_score"] = self.anomaly_.score(out)
        return out

    def matrix(self, X: pd.DataFrame, history=None) -> np.ndarray:
        """The features as one float matrix, columns in ``feature_names_out_`` order."""
        cols = self.columns(X, history)
        n = X.n if isinstance(X, Columns) else len(X)
        if not self.feature_names_out_:
            return np.zeros((n, 0))
        return np.column_stack([np.asarray(cols[c], dtype="float64") for c in self.feature_names_out_])

    def transform(self, X: pd.DataFrame, history=None) -> pd.DataFrame:
        index = X.index
        return pd.DataFrame(self.matrix(X, history), index=index, columns=self.feature_names_out_)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "families_")
        return np.asarray(self.feature_names_out_, dtype=object)

    def set_output(self, *, transform=None):  # always pandas
        return self
