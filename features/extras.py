"""Extra columns a mapping passes through (``x_*``, e.g. the KCS customs office or tax rate),
plus the HS chapter and heading as categories. Categories are learned on the training window;
an unseen value becomes missing."""

from __future__ import annotations

import pandas as pd

from contraband.data.contract import EXTRA_PREFIX
from contraband.features.base import Family, cat, categorical, hs, number

MAX_CATEGORIES = 500


class ExtraColumns(Family):
    family = "declared"
    requires = ("hs_code",)

    def _columns(self, X, extras) -> dict[str, pd.Series]:
        return {"hs2": hs(X, 2), "hs4": hs(X, 4), "incoterm": cat(X, "incoterm"), **{c: cat(X, c) for c in extras}}

    def _fit(self, X):
        self.numeric_ = [c for c in X if c.startswith(EXTRA_PREFIX) and pd.api.types.is_numeric_dtype(X[c])]
        extras = [c for c in X if c.startswith(EXTRA_PREFIX) and c not in self.numeric_]
        self.categories_ = {}
        for name, values in self._columns(X, extras).items():
            counts = values.value_counts()
            counts = counts[counts > 0]
            if len(counts):
                self.categories_[name] = sorted(counts.index[:MAX_CATEGORIES])

    def _transform(self, X):
        out = pd.DataFrame(index=X.index)
        columns = self._columns(X, [c for c in self.categories_ if c.startswith(EXTRA_PREFIX)])
        for name, cats in self.categories_.items():
            out[name] = categorical(columns[name], cats)
        for c in self.numeric_:
            out[c] = number(X, c)
        return out
