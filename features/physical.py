"""Physical features: can the declared goods weigh what the declaration says?

Kg per declared unit (piece, litre, m2) against the HS code's expectation (the median learned
from the training window, shrunk toward the reference table's range), kg per package, and the
gross-to-net ratio.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contraband.data import reference as ref
from contraband.features.base import Family, cat, combine, hs, number, ratio, safe_log, values_of


class PhysicalFeatures(Family):
    family = "physical"
    requires = ("hs_code", "net_weight_kg")

    def __init__(self, shrinkage: float = 20.0):
        self.shrinkage = shrinkage

    def _key(self, X) -> pd.Series:
        return combine(hs(X, 6), cat(X, "quantity_unit"), sep="|", missing="")

    def _fit(self, X):
        goods = ref.goods()
        per_unit = goods["unit"] != "KG"
        prior = np.log(np.sqrt(goods["kg_per_unit_low"] * goods["kg_per_unit_high"]))[per_unit]
        self.reference_prior_ = {f"{c}|{u}": v for c, u, v in zip(prior.index, goods.loc[per_unit, "unit"], prior)}
        self.reference_high_ = {f"{c}|{u}": h for c, u, h in zip(
            goods.index[per_unit], goods.loc[per_unit, "unit"], goods.loc[per_unit, "kg_per_unit_high"])}
        log_kpu = safe_log(ratio(number(X, "net_weight_kg"), number(X, "quantity")))
        frame = pd.DataFrame({"k": self._key(X).to_numpy(), "v": log_kpu}).dropna()
        stats = frame.groupby("k", observed=True)["v"].agg(["median", "size"])
        self.kg_per_unit_ = {}
        for key, med, n in zip(stats.index, stats["median"], stats["size"]):
            prior = self.reference_prior_.get(key, med)
            self.kg_per_unit_[key] = (n * med + self.shrinkage * prior) / (n + self.shrinkage)
        log_kpp = safe_log(ratio(number(X, "gross_weight_kg"), number(X, "packages")))
        frame = pd.DataFrame({"k": hs(X, 6).to_numpy(), "v": log_kpp}).dropna()
        self.kg_per_package_ = frame.groupby("k", observed=True)["v"].median().to_dict()

    def _transform(self, X):
        net = number(X, "net_weight_kg")
        key = self._key(X)
        expected = values_of(key, lambda k: self.kg_per_unit_.get(k, self.reference_prior_.get(k)))
        log_kpu = safe_log(ratio(net, number(X, "quantity")))
        out = pd.DataFrame(index=X.index)
        out["log_net_weight_kg"] = safe_log(net)
        out["kg_per_unit"] = np.exp(log_kpu)
        out["kg_per_unit_vs_hs6"] = log_kpu - expected
        high = values_of(key, self.reference_high_)
        out["kg_per_unit_over_reference"] = ratio(np.exp(log_kpu), high)
        log_kpp = safe_log(ratio(number(X, "gross_weight_kg"), number(X, "packages")))
        out["kg_per_package"] = np.exp(log_kpp)
        out["kg_per_package_vs_hs6"] = log_kpp - values_of(hs(X, 6), self.kg_per_package_)
        out["gross_to_net"] = ratio(number(X, "gross_weight_kg"), net)
        return out
