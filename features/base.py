"""The feature-family contract every transformer follows, and column helpers.

A family is a scikit-learn transformer (``__init__`` stores parameters, ``fit`` learns state in
``*_`` attributes from the training window only and returns ``self``, ``transform`` returns a
pandas frame, ``get_feature_names_out``). It switches itself off when the declarations lack its
columns: ``active_`` is False, and it then outputs no column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

DAY0 = pd.Timestamp("2000-01-01")


def text(X: pd.DataFrame, name: str) -> pd.Series:
    """A column as strings with missing kept missing (categorical or str input alike)."""
    if name not in X:
        return pd.Series(pd.NA, index=X.index, dtype="str")
    col = X[name]
    if isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype("object")
    return col.astype("str").where(col.notna())


def number(X: pd.DataFrame, name: str) -> np.ndarray:
    if name not in X:
        return np.full(len(X), np.nan)
    return pd.to_numeric(X[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def days(X: pd.DataFrame) -> np.ndarray:
    """Declaration dates as whole days since 2000-01-01."""
    d = pd.to_datetime(X["declaration_date"])
    return ((d - DAY0) // pd.Timedelta(days=1)).to_numpy(dtype="int64")


def hs(X: pd.DataFrame, digits: int) -> pd.Series:
    return text(X, "hs_code").str[:digits]


def categorical(values: pd.Series, categories: list[str]) -> pd.Categorical:
    """Values as a categorical over categories learned at fit; unseen values become missing."""
    return pd.Categorical(values.where(values.isin(categories)), categories=categories)


def present(X: pd.DataFrame, name: str) -> bool:
    """The column exists and holds at least one value."""
    return name in X and bool(X[name].notna().any())


def safe_log(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(values)
    out[~np.isfinite(out)] = np.nan
    return out


def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = a / b
    out[~np.isfinite(out)] = np.nan
    return out


class Family(TransformerMixin, BaseEstimator):
    """Base of the feature families. Subclasses set ``family`` and ``requires`` and implement
    ``_fit`` and ``_transform``."""

    family: str = ""
    requires: tuple[str, ...] = ()

    def _active(self, X: pd.DataFrame) -> bool:
        return all(present(X, c) for c in self.requires)

    def fit(self, X: pd.DataFrame, y=None):
        self.active_ = self._active(X)
        self.feature_names_out_ = []
        if self.active_:
            self._fit(X)
            self.feature_names_out_ = list(self._transform(X.iloc[:2]).columns)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "active_")
        if not self.active_:
            return pd.DataFrame(index=X.index)
        return self._transform(X)[self.feature_names_out_]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "active_")
        return np.asarray(self.feature_names_out_, dtype=object)

    def set_output(self, *, transform=None):  # always pandas
        return self

    def _fit(self, X: pd.DataFrame) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError
