"""Baselines trained and scored on the same windows as the detector.

- ``rules``: what a targeting unit does without a model: cover or controlled HS code plus a hub
  route (ties broken by how far the unit value is from the HS norm in the reference table);
- ``anomaly``: the detector's own IsolationForest score alone (no labels);
- ``plain_lightgbm``: LightGBM on the raw columns, label-encoded, no feature engineering, with
  the parameters the KCS dataset's authors report for a tuned plain LightGBM (500 trees, 63
  leaves, learning rate 0.05). The declaration date is left out: as a raw number it only
  extrapolates out of time (on KCS it costs the baseline 9 points of precision at 5 %).
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from contraband.data import reference as ref
from contraband.data.contract import EXTRA_PREFIX, FEATURE_FIELDS
from contraband.data.columns import Columns
from contraband.features.base import ratio

PLAIN_PARAMS = {"n_estimators": 500, "num_leaves": 63, "learning_rate": 0.05, "verbose": -1}


def rules_score(X: pd.DataFrame) -> np.ndarray:
    frame = Columns(X)
    goods = ref.goods()
    code6 = frame.hs(6)
    cover = code6.isin(set(ref.cover_goods()["hs_code"]) | set(goods.index[goods["role"] == "controlled"]))
    hubs = set(ref.hub_countries())
    hub = frame.coded("export_country").isin(hubs) | frame.coded("transit_countries").map(
        lambda t: any(c in hubs for c in t.split(";")), default=False, dtype=bool)
    usd_kg = ratio(frame.number("declared_value_usd"), frame.number("net_weight_kg"))
    prior = np.sqrt(goods["usd_per_kg_low"] * goods["usd_per_kg_high"]).to_dict()
    oddness = np.nan_to_num(np.abs(np.log(ratio(usd_kg, code6.map(prior)))), nan=0.0)
    return cover * 2.0 + hub * 1.0 + np.tanh(oddness / 5)


def _raw_columns(X: pd.DataFrame) -> list[str]:
    skip = ("declaration_id", "declaration_date")
    cols = [c for c in FEATURE_FIELDS if c in X and c not in skip and X[c].notna().any()]
    return cols + [c for c in X if c.startswith(EXTRA_PREFIX)]


class PlainLightGBM:
    """LightGBM on raw columns label-encoded by the training window (unseen -> -1)."""

    def __init__(self, params: dict | None = None, n_jobs: int = 2, random_state: int = 0):
        self.params = {**PLAIN_PARAMS, **(params or {})}
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _encode(self, X: pd.DataFrame) -> pd.DataFrame:
        frame = Columns(X)
        out = {}
        for c in self.columns_:
            if c in self.codes_:
                out[c] = frame.coded(c).map(self.codes_[c], default=-1.0) if c in X else np.full(len(X), -1.0)
            else:
                out[c] = frame.number(c)
        return pd.DataFrame(out, index=X.index)

    def fit(self, X: pd.DataFrame, y: np.ndarray):
        self.columns_ = _raw_columns(X)
        frame = Columns(X)
        self.codes_ = {}
        for c in self.columns_:
            if not pd.api.types.is_numeric_dtype(X[c]):
                values = sorted(frame.coded(c).values[np.unique(frame.coded(c).codes[frame.coded(c).codes >= 0])])
                self.codes_[c] = {v: float(i) for i, v in enumerate(values)}
        self.model_ = lgb.LGBMClassifier(random_state=self.random_state, n_jobs=self.n_jobs, **self.params)
        self.model_.fit(self._encode(X), y)
        return self

    def score(self, X: pd.DataFrame) -> np.ndarray:
        return self.model_.predict(self._encode(X), raw_score=True)
