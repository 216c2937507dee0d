"""The feature-family contract every transformer follows, and the columns they read.

A family is a scikit-learn transformer (``__init__`` stores parameters, ``fit`` learns state in
``*_`` attributes from the training window only and returns ``self``, ``transform`` returns a
pandas frame of float columns, ``get_feature_names_out``). It switches itself off when the
declarations lack its columns: ``active_`` is False, and it then outputs no column. Categorical
features (countries, HS headings, extras) are integer codes into a vocabulary learned at fit
(missing or unseen: NaN); ``categorical_`` names them. Where the direction of the evidence is
known (a contradiction, a seizure, a deviation never lowers the risk), ``increasing`` and
``decreasing`` name the features; the classifier is held monotone in them.

Families read declarations through :class:`~contraband.data.columns.Columns`, which converts
each column once per transform (text to integer codes over its distinct values) and is shared by
every family, so that one declaration costs microseconds per family and a million cost a few
string operations per distinct value, not per row.
"""

from __future__ import annotations

import bisect

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from contraband.data.columns import Columns, as_columns
from contraband.data.keys import Coded
from contraband.data.measures import ratio, safe_log  # noqa: F401  (the families' helpers)


def vocabulary(values: Coded, max_size: int | None = None) -> list[str]:
    """The distinct values seen (most frequent first when capped), sorted."""
    counts = np.bincount(values.codes[values.codes >= 0], minlength=len(values.values))
    present = np.flatnonzero(counts)
    if max_size is not None and len(present) > max_size:
        present = present[np.argsort(-counts[present], kind="stable")[:max_size]]
    return sorted(str(values.values[i]) for i in present)


def positions(vocab: list[str], values) -> np.ndarray:
    """Position of each value in a sorted vocabulary (-1: not in it)."""
    if len(values) <= 64:  # a request's few distinct values: binary search beats an index
        out = []
        for v in values:
            i = bisect.bisect_left(vocab, v)
            out.append(i if i < len(vocab) and vocab[i] == v else -1)
        return np.array(out, dtype=np.int64)
    return pd.Index(vocab, dtype=object).get_indexer(pd.Index(np.asarray(values, dtype=object), dtype=object))


def encode(values: Coded, vocab: list[str]) -> np.ndarray:
    """Codes of ``values`` in a fitted (sorted) vocabulary, as float (missing or unseen: NaN)."""
    position = positions(vocab, values.values) if len(vocab) else np.full(len(values.values), -1)
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


def counts_before(table, coded: Coded, days: np.ndarray) -> np.ndarray:
    """Declarations of each row's key in ``table`` (a :class:`SeriesTable`; ``coded``: the rows'
    keys) strictly before the row's day, as float (0 without a key or a series)."""
    code = np.append(table.codes(coded.values), -1)[np.where(coded.codes < 0, len(coded.values), coded.codes)]
    return table.before(code, days, count=0).astype(float)


def as_of_days(frame: Columns, history, family: str) -> tuple[np.ndarray, np.ndarray]:
    """The day of each declaration, and the day outcomes count until for it (with a blind view
    of the store, not past ``history.outcomes_until``)."""
    if history is None:
        raise ValueError(f"{family} features are read from the history store: pass history=")
    days = frame.days()
    until = getattr(history, "outcomes_until", None)
    return days, days if until is None else np.minimum(days, until)


class Family(TransformerMixin, BaseEstimator):
    """Base of the feature families. Subclasses set ``family`` and ``requires`` and implement
    ``_fit`` and ``_columns`` (a dict of float arrays)."""

    family: str = ""
    requires: tuple[str, ...] = ()
    #: needs the history store at transform time
    needs_history: bool = False
    #: features whose risk can only rise with their value (the model is constrained to it); a
    #: name starting with "_" stands for every feature ending in it ("_prior_seizures")
    increasing: tuple[str, ...] = ()
    #: features whose risk can only fall as their value rises
    decreasing: tuple[str, ...] = ()

    def monotone(self) -> dict[str, int]:
        """The direction of each constrained feature this family outputs (+1 or -1)."""
        out = {}
        for names, sign in ((self.increasing, 1), (self.decreasing, -1)):
            for name in self.feature_names_out_:
                if name in names or any(name.endswith(n) for n in names if n.startswith("_")):
                    out[name] = sign
        return out

    def _active(self, frame: Columns) -> bool:
        return all(frame.has(c) for c in self.requires)

    def fit(self, X, y=None):
        frame = as_columns(X)
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
        frame = as_columns(X)
        out = self._columns(frame, history) if self.needs_history else self._columns(frame)
        return {name: out[name] for name in self.feature_names_out_}

    def transform(self, X, history=None) -> pd.DataFrame:
        cols = self.columns(X, history)
        index = X.index
        return pd.DataFrame(cols, index=index, columns=self.feature_names_out_)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "active_")
        return np.asarray(self.feature_names_out_, dtype=object)

    def set_output(self, *, transform=None):  # always pandas
        return self

    def _names(self, frame: Columns) -> list[str]:
        """The names of the features (by default: those the family computes on two rows)."""
        return list(self._columns(Columns(frame.X.iloc[:2])))

    def _fit(self, frame: Columns) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _columns(self, frame: Columns, *args) -> dict[str, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError
