"""Value features: is the declared value per kg (or per unit) normal for the declared goods?

Medians of log USD/kg per HS6, HS4 and HS2 are learned from the training window. The HS6
median is shrunk toward a prior when the code is rare or unseen: the reference table's typical
range (geometric mean) where the code is known, else the HS4 median, else HS2, else global.
"""

from __future__ import annotations

import numpy as np

from contraband.data import reference as ref
from contraband.data.columns import Columns
from contraband.features.base import Family, group_medians, ratio, safe_log


class ValueFeatures(Family):
    family = "value"
    requires = ("hs_code", "net_weight_kg", "declared_value_usd")

    def __init__(self, shrinkage: float = 20.0):
        self.shrinkage = shrinkage

    def _fit(self, frame: Columns):
        log_usd_kg = safe_log(ratio(frame.number("declared_value_usd"), frame.number("net_weight_kg")))
        self.global_median_ = float(np.nanmedian(log_usd_kg)) if np.isfinite(log_usd_kg).any() else 0.0
        self.hs2_, _ = group_medians(frame.hs(2), log_usd_kg)
        self.hs4_, _ = group_medians(frame.hs(4), log_usd_kg)
        hs6_med, n6 = group_medians(frame.hs(6), log_usd_kg)
        goods = ref.goods()
        self.reference_prior_ = (0.5 * (np.log(goods["usd_per_kg_low"]) + np.log(goods["usd_per_kg_high"]))).to_dict()
        # shrink HS6 medians toward the prior in proportion to how few rows back them
        self.hs6_ = {code: (n6[code] * med + self.shrinkage * self._prior(code)) / (n6[code] + self.shrinkage)
                     for code, med in hs6_med.items()}
        log_unit = safe_log(ratio(frame.number("declared_value_usd"), frame.number("quantity")))
        self.unit_hs6_, _ = group_medians(frame.hs(6), log_unit)

    def _prior(self, code6: str) -> float:
        if code6 in self.reference_prior_:
            return self.reference_prior_[code6]
        if code6[:4] in self.hs4_:
            return self.hs4_[code6[:4]]
        return self.hs2_.get(code6[:2], self.global_median_)

    def expected_log_usd_kg(self, code6) -> np.ndarray:
        return code6.map(lambda c: self.hs6_.get(c, self._prior(c)))

    def _columns(self, frame: Columns):
        value = frame.number("declared_value_usd")
        log_usd_kg = safe_log(ratio(value, frame.number("net_weight_kg")))
        code6 = frame.hs(6)
        log_unit = safe_log(ratio(value, frame.number("quantity")))
        with np.errstate(invalid="ignore"):
            round_value = ((value >= 100) & (np.mod(value, 100) == 0)).astype("float64")
        return {
            "usd_per_kg": np.exp(log_usd_kg),
            "value_vs_hs6": log_usd_kg - self.expected_log_usd_kg(code6),
            "value_vs_hs4": log_usd_kg - frame.hs(4).map(self.hs4_),
            "value_vs_hs2": log_usd_kg - frame.hs(2).map(self.hs2_),
            "usd_per_unit": np.exp(log_unit),
            "unit_value_vs_hs6": log_unit - code6.map(self.unit_hs6_),
            "round_value": round_value,
            "log_value_usd": safe_log(value),
        }
