"""Physical features: can the declared goods weigh what the declaration says?

Kg per declared unit (piece, litre, m2) against the HS code's expectation (the median learned
from the training window, shrunk toward the reference table's range), kg per package, and the
gross-to-net ratio.
"""

from __future__ import annotations

import numpy as np

from contraband.data import reference as ref
from contraband.data.columns import Columns
from contraband.features.base import Family, group_medians, ratio, safe_log


class PhysicalFeatures(Family):
    family = "physical"
    requires = ("hs_code", "net_weight_kg")
    increasing = ("kg_per_unit_over_reference",)

    def __init__(self, shrinkage: float = 20.0):
        self.shrinkage = shrinkage

    @staticmethod
    def _key(frame: Columns):
        return frame.combined("hs6", "quantity_unit", sep="|")

    def _fit(self, frame: Columns):
        goods = ref.goods()
        per_unit = goods["unit"] != "KG"
        prior = np.log(np.sqrt(goods["kg_per_unit_low"] * goods["kg_per_unit_high"]))[per_unit]
        self.reference_prior_ = {f"{c}|{u}": v for c, u, v in zip(prior.index, goods.loc[per_unit, "unit"], prior)}
        self.reference_high_ = {f"{c}|{u}": h for c, u, h in zip(
            goods.index[per_unit], goods.loc[per_unit, "unit"], goods.loc[per_unit, "kg_per_unit_high"])}
        log_kpu = safe_log(ratio(frame.number("net_weight_kg"), frame.number("quantity")))
        medians, sizes = group_medians(self._key(frame), log_kpu)
        self.kg_per_unit_ = {}
        for key, med in medians.items():
            prior = self.reference_prior_.get(key, med)
            self.kg_per_unit_[key] = (sizes[key] * med + self.shrinkage * prior) / (sizes[key] + self.shrinkage)
        log_kpp = safe_log(ratio(frame.number("gross_weight_kg"), frame.number("packages")))
        self.kg_per_package_, _ = group_medians(frame.hs(6), log_kpp)

    def _columns(self, frame: Columns):
        net = frame.number("net_weight_kg")
        key = self._key(frame)
        expected = key.map(lambda k: self.kg_per_unit_.get(k, self.reference_prior_.get(k)))
        log_kpu = safe_log(ratio(net, frame.number("quantity")))
        log_kpp = safe_log(ratio(frame.number("gross_weight_kg"), frame.number("packages")))
        return {
            "log_net_weight_kg": safe_log(net),
            "kg_per_unit": np.exp(log_kpu),
            "kg_per_unit_vs_hs6": log_kpu - expected,
            "kg_per_unit_over_reference": ratio(np.exp(log_kpu), key.map(self.reference_high_)),
            "kg_per_package": np.exp(log_kpp),
            "kg_per_package_vs_hs6": log_kpp - frame.hs(6).map(self.kg_per_package_),
            "gross_to_net": ratio(frame.number("gross_weight_kg"), net),
        }
