"""Extra columns a mapping passes through (``x_*``, e.g. the KCS customs office or tax rate),
plus the HS chapter and heading and the Incoterm as categories. Categories are learned on the
training window (the most frequent ``MAX_CATEGORIES``); an unseen value becomes missing."""

from __future__ import annotations

import pandas as pd

from contraband.data.contract import EXTRA_PREFIX
from contraband.data.columns import Columns
from contraband.features.base import Family, encode, vocabulary

MAX_CATEGORIES = 500


class ExtraColumns(Family):
    family = "declared"
    requires = ("hs_code",)

    @staticmethod
    def _categorical_columns(frame: Columns, extras) -> dict:
        return {"hs2": frame.hs(2), "hs4": frame.hs(4), "incoterm": frame.coded("incoterm"),
                **{c: frame.coded(c) for c in extras}}

    def _fit(self, frame: Columns):
        X = frame.X
        self.numeric_ = [c for c in X if c.startswith(EXTRA_PREFIX) and pd.api.types.is_numeric_dtype(X[c])]
        extras = [c for c in X if c.startswith(EXTRA_PREFIX) and c not in self.numeric_]
        self.categories_ = {}
        for name, values in self._categorical_columns(frame, extras).items():
            vocab = vocabulary(values, MAX_CATEGORIES)
            if vocab:
                self.categories_[name] = vocab
        self.categorical_ = list(self.categories_)

    def _columns(self, frame: Columns):
        extras = [c for c in self.categories_ if c.startswith(EXTRA_PREFIX)]
        columns = self._categorical_columns(frame, extras)
        out = {name: encode(columns[name], vocab) for name, vocab in self.categories_.items()}
        for c in self.numeric_:
            out[c] = frame.number(c)
        return out
