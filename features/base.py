"""The feature-family contract every transformer follows, and the columns they read.

A family is a scikit-learn transformer (``__init__`` stores parameters, ``fit`` learns state in
``*_`` attributes from the training window only and returns ``self``, ``transform`` returns a
pandas frame of float columns, ``get_feature_names_out``). It switches itself off when the
declarations lack its columns: ``active_`` is False, and it then outputs no column. Categorical
features (countries, HS headings, extras) are integer codes into a vocabulary learned at fit
(missing or unseen: NaN); ``categorical_`` names them.

Families read declarations through a :class:`Frame`, which converts each column once per
transform (text to integer codes over its distinct values) and is shared by every family, so
that one declaration costs microseconds per family and a million cost a few string operations
per distinct value, not per row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from contraband.data.history.keys import Coded, column, combine, day_numbers, entity_keys, entity_parts, hs_prefix


class Frame:
    """Canonical declarations as the families read them, each conversion done once."""

    def __init__(self, X: pd.DataFrame):
        self.X = X
        self.n = len(X)
        self._cache: dict = {}

    def cached(self, key, make):
        """``make()``, computed once per frame under ``key``."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def coded(self, name: str) -> Coded:
        return self.cached(("coded", name), lambda: column(self.X, name))

    def has(self, name: str) -> bool:
        """The column exists and holds at least one value."""
        return name in self.X and bool(self.X[name].notna().any())

    def number(self, name: str) -> np.ndarray:
        def make():
            if name not in self.X:
                return np.full(self.n, np.nan)
            return pd.to_numeric(self.X[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        return self.cached(("number", name), make)

    def days(self) -> np.ndarray:
        """Declaration dates as day numbers."""
        return self.cached("days", lambda: day_numbers(self.X["declaration_date"]))

    def hs(self, digits: int) -> Coded:
        return self.cached(("hs", digits), lambda: hs_prefix(self.coded("hs_code"), digits))

    def combined(self, *names: str, sep: str = "|") -> Coded:
        return self.cached(("combined", names, sep), lambda: combine(*(self.part(n) for n in names), sep=sep))

    def part(self, name: str) -> Coded:
        """A column, an HS prefix (``hs2``, ``hs4``, ``hs6``) or an entity part (``route``)."""
        if name in ("hs2", "hs4", "hs6"):
            return self.hs(int(name[2:]))
        if name in ("route", "exporter", "consignee", "declarant"):
            return self.entity_parts()[name]
        return self.coded(name)

    def entity_parts(self) -> dict[str, Coded]:
        return self.cached("entity_parts", lambda: entity_parts(self.coded))

    def entity_keys(self) -> dict[str, Coded]:
        return self.cached("entity_keys", lambda: entity_keys(self.coded, parts=self.entity_parts()))


def as_frame(X) -> Frame:
    return X if isinstance(X, Frame) else Frame(X)


def vocabulary(values: Coded, max_size: int | None = None) -> list[str]:
    """The distinct values seen (most frequent first when capped), sorted."""
    counts = np.bincount(values.codes[values.codes >= 0], minlength=len(values.values))
    present = np.flatnonzero(counts)
    if max_size is not None and len(present) > max_size:
        present = present[np.argsort(-counts[present], kind="stable")[:max_size]]
    return sorted(str(values.values[i]) for i in present)


def encode(values: Coded, vocab: list[str]) -> np.ndarray:
    """Codes of ``values`` in a fitted vocabulary, as float (missing or unseen: NaN)."""
    position = pd.Index(vocab, dtype=object).get_indexer(pd.Index(values.values, dtype=object)) if len(vocab) else \
        np.full(len(values.values), -1)
    table = np.append(np.where(position >= 0, position, np.nan).astype("float64"), np.nan)
    return table[np.where(values.codes < 0, len(values.values), values.codes)]


def group_medians(keys: Coded, values: np.ndarray) -> tuple[dict[str, float], dict[str, int]]:
    """Median and count of ``values`` per distinct key (missing keys and values ignored)."""
    ok = (keys.codes >= 0) & np.isfinite(values)
    if not ok.any():
        return {}, {}
    grouped = pd.Series(values[ok]).groupby(keys.codes[ok])
    med, size = grouped.median(), grouped.size()
    return ({str(keys.values[c]): float(v) for c, v in med.items()},
            {str(keys.values[c]): int(v) for c, v in size.items()})


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
    ``_fit`` and ``_columns`` (a dict of float arrays)."""

    family: str = ""
    requires: tuple[str, ...] = ()
    #: needs the history store at transform time
    needs_history: bool = False

    def _active(self, frame: Frame) -> bool:
        return all(frame.has(c) for c in self.requires)

    def fit(self, X, y=None):
        frame = as_frame(X)
        self.active_ = self._active(frame)
        self.feature_names_out_ = []
        self.categorical_ = []
        if self.active_:
            self._fit(frame)
            self.feature_names_out_ = list(self._names(frame))
        return self

    def columns(self, X, history=None) -> dict[str, np.ndarray]:
        """The family's features as float arrays, by name."""
        check_is_fitted(self, "active_")
        if not self.active_:
            return {}
        frame = as_frame(X)
        out = self._columns(frame, history) if self.needs_history else self._columns(frame)
        return {name: out[name] for name in self.feature_names_out_}

    def transform(self, X, history=None) -> pd.DataFrame:
        cols = self.columns(X, history)
        index = X.X.index if isinstance(X, Frame) else X.index
        return pd.DataFrame(cols, index=index, columns=self.feature_names_out_)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "active_")
        return np.asarray(self.feature_names_out_, dtype=object)

    def set_output(self, *, transform=None):  # always pandas
        return self

    def _names(self, frame: Frame) -> list[str]:
        """The names of the features (by default: those the family computes on two rows)."""
        return list(self._columns(Frame(frame.X.iloc[:2])))

    def _fit(self, frame: Frame) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _columns(self, frame: Frame, *args) -> dict[str, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError
