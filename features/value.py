"""Value features: is the declared value per kg (or per unit) normal for the declared goods?

Medians of log USD/kg per HS6, HS4 and HS2 are learned from the training window. The HS6
median is shrunk toward a prior when the code is rare or unseen: the reference table's typical
range (geometric mean) where the code is known, else the HS4 median, else HS2, else global.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contraband.data import reference as ref
from contraband.features.base import Family, hs, number, ratio, safe_log, values_of


def _medians(keys: pd.Series, values: np.ndarray) -> tuple[dict, dict]:
    frame = pd.DataFrame({"k": keys.to_numpy(), "v": values}).dropna()
    grouped = frame.groupby("k", observed=True)["v"]
    return grouped.median().to_dict(), grouped.size().to_dict()


class ValueFeatures(Family):
    family = "value"
    requires = ("hs_code", "net_weight_kg", "declared_value_usd")

    def __init__(self, shrinkage: float = 20.0):
        self.shrinkage = shrinkage

    def _fit(self, X):
        log_usd_kg = safe_log(ratio(number(X, "declared_value_usd"), number(X, "net_weight_kg")))
        self.global_median_ = float(np.nanmedian(log_usd_kg))
        self.hs2_, n2 = _medians(hs(X, 2), log_usd_kg)
        self.hs4_, n4 = _medians(hs(X, 4), log_usd_kg)
        hs6_med, n6 = _medians(hs(X, 6), log_usd_kg)
        goods = ref.goods()
        self.reference_prior_ = (0.5 * (np.log(goods["usd_per_kg_low"]) + np.log(goods["usd_per_kg_high"]))).to_dict()
        # shrink HS6 medians toward the prior in proportion to how few rows back them
        self.hs6_ = {}
        for code, med in hs6_med.items():
            prior = self._prior(code)
            n = n6[code]
            self.hs6_[code] = (n * med + self.shrinkage * prior) / (n + self.shrinkage)
        log_unit = safe_log(ratio(number(X, "declared_value_usd"), number(X, "quantity")))
        self.unit_hs6_, _ = _medians(hs(X, 6), log_unit)

    def _prior(self, code6: str) -> float:
        if code6 in self.reference_prior_:
            return self.reference_prior_[code6]
        if code6[:4] in self.hs4_:
            return self.hs4_[code6[:4]]
        return self.hs2_.get(code6[:2], self.global_median_)

    def expected_log_usd_kg(self, codes6: pd.Series) -> np.ndarray:
        return values_of(codes6, lambda c: self.hs6_.get(c, self._prior(c)))

    def _transform(self, X):
        value = number(X, "declared_value_usd")
        log_usd_kg = safe_log(ratio(value, number(X, "net_weight_kg")))
        code6 = hs(X, 6)
        out = pd.DataFrame(index=X.index)
        out["usd_per_kg"] = np.exp(log_usd_kg)
        out["value_vs_hs6"] = log_usd_kg - self.expected_log_usd_kg(code6)
        out["value_vs_hs4"] = log_usd_kg - values_of(hs(X, 4), self.hs4_)
        out["value_vs_hs2"] = log_usd_kg - values_of(hs(X, 2), self.hs2_)
        log_unit = safe_log(ratio(value, number(X, "quantity")))
        out["usd_per_unit"] = np.exp(log_unit)
        out["unit_value_vs_hs6"] = log_unit - values_of(code6, self.unit_hs6_)
        with np.errstate(invalid="ignore"):
            out["round_value"] = ((value >= 100) & (np.mod(value, 100) == 0)).astype("float64")
        out["log_value_usd"] = safe_log(value)
        return out
