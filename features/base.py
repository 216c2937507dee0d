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


def cat(X: pd.DataFrame, name: str) -> pd.Series:
    """A text column as a categorical with string categories (missing stays missing).

    Families work on categories, not on rows: a million rows with a few thousand distinct values
    cost a few thousand string operations. ``prepare`` converts the columns once per transform.
    """
    if name not in X:
        return pd.Series(pd.Categorical([None] * len(X), categories=[]), index=X.index)
    col = X[name]
    if isinstance(col.dtype, pd.CategoricalDtype):
        if len(col.cat.categories) and not isinstance(col.cat.categories[0], str):
            col = col.cat.rename_categories([str(c) for c in col.cat.categories])
        return col
    return col.astype("object").where(col.notna()).astype("category").pipe(
        lambda c: c.cat.rename_categories([str(v) for v in c.cat.categories]))


def derive(c: pd.Series, fn) -> pd.Series:
    """Apply ``fn`` (str -> str or None) to each category, keeping the result categorical."""
    new = [fn(v) for v in c.cat.categories]
    codes, uniques = pd.factorize(pd.Series(new, dtype="object"))
    table = np.append(codes, -1)
    return pd.Series(pd.Categorical.from_codes(table[c.cat.codes.to_numpy()],
                                               categories=pd.Index(uniques, dtype="object").astype("str")),
                     index=c.index)


def values_of(c: pd.Series, table, default=np.nan, dtype="float64") -> np.ndarray:
    """Per-row values looked up by category (a dict or a function of the category)."""
    get = table.get if isinstance(table, dict) else table
    per_category = np.array([get(v) if get(v) is not None else default for v in c.cat.categories] + [default],
                            dtype=dtype)
    return per_category[c.cat.codes.to_numpy()]


def combine(*columns: pd.Series, sep: str = "|", missing: str = "") -> pd.Series:
    """Categorical of the joined values of several categoricals (computed on distinct combinations)."""
    codes = np.zeros(len(columns[0]), dtype=np.int64)
    for c in columns:
        codes = codes * (len(c.cat.categories) + 1) + (c.cat.codes.to_numpy().astype(np.int64) + 1)
    combo, uniques = pd.factorize(codes)
    parts = []
    for c in reversed(columns):
        base = len(c.cat.categories) + 1
        idx = uniques % base - 1
        uniques = uniques // base
        labels = np.append(np.asarray(c.cat.categories, dtype=object), missing)
        parts.append(labels[idx])
    joined = [sep.join(p) for p in zip(*reversed(parts))]
    return pd.Series(pd.Categorical.from_codes(combo, categories=pd.Index(joined, dtype="object").astype("str"))
                     if len(set(joined)) == len(joined) else pd.Categorical(np.asarray(joined, dtype=object)[combo]),
                     index=columns[0].index)


def number(X: pd.DataFrame, name: str) -> np.ndarray:
    if name not in X:
        return np.full(len(X), np.nan)
    return pd.to_numeric(X[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def days(X: pd.DataFrame) -> np.ndarray:
    """Declaration dates as whole days since 2000-01-01."""
    d = pd.to_datetime(X["declaration_date"])
    return ((d - DAY0) // pd.Timedelta(days=1)).to_numpy(dtype="int64")


def hs(X: pd.DataFrame, digits: int) -> pd.Series:
    """The HS code's first ``digits`` digits, as a categorical."""
    return derive(cat(X, "hs_code"), lambda v: v[:digits])


def text(X: pd.DataFrame, name: str) -> pd.Series:
    """A column as strings with missing kept missing (for the few places that need real text)."""
    c = cat(X, name)
    return c.astype("object").astype("str").where(c.notna())


def prepare(X: pd.DataFrame, columns) -> pd.DataFrame:
    """Convert the text columns a transform reads to categoricals, once."""
    out = X.copy(deep=False)
    for c in columns:
        if c in out and not isinstance(out[c].dtype, pd.CategoricalDtype) and not (
                pd.api.types.is_numeric_dtype(out[c]) or pd.api.types.is_datetime64_any_dtype(out[c])):
            out[c] = cat(out, c)
    return out


def categorical(values: pd.Series, categories: list[str]) -> pd.Categorical:
    """Values as a categorical over categories learned at fit; unseen values become missing."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.set_categories(categories).array
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
