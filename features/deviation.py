"""Deviation features: how far a declaration's value, weight per unit and packing sit from what is
normal for its goods, in units of the goods' own spread. Evidence that needs no label.

The norms are fitted on every declaration of the training window, inspected or not: the median
and the spread (1.4826 x the median absolute deviation, floored at ``min_spread``) of

- log USD per kg, per HS6 code (backing off to the HS heading, chapter, then all goods);
- log USD per declared unit and log kg per declared unit (piece, litre, m2), per HS6 code and unit;
- log kg per package, per HS6 code and transport mode (pallets by sea, cartons by air);
- log gross-to-net weight, per HS6 code;

a key counts once it has ``min_rows`` declarations, else the next coarser key stands in. Each
measure gives a robust z-score (``*_z``: 1.6 kg per litre is ordinary for paint and impossible
for water), and ``deviation_score`` sums the squared excess of every |z| beyond ``normal_z``:
zero for a declaration that is ordinary in every respect.

The weight per unit only ever points one way, and says so (``kg_per_unit_excess``: its z-score
above zero, held increasing): a concealed dense material makes a consignment heavier per piece,
litre or m2 than its goods are, never lighter. (The gross-to-net weight's excess was measured
and left out: docs/benchmarks.md, issue #25.)
"""

from __future__ import annotations

import numpy as np

from contraband.data.columns import Columns
from contraband.features.base import Family, group_medians

#: measure -> the keys its norm is looked up under, finest first ("" = all declarations)
LEVELS = {
    "value": (("hs6",), ("hs4",), ("hs2",), ()),
    "unit_value": (("hs6", "quantity_unit"), ("hs4", "quantity_unit"), ("quantity_unit",)),
    "kg_per_unit": (("hs6", "quantity_unit"), ("hs4", "quantity_unit"), ("quantity_unit",)),
    "kg_per_package": (("hs6", "transport_mode"), ("hs4", "transport_mode"), ("transport_mode",), ()),
    "gross_to_net": (("hs6",), ("hs4",), ()),
}
#: measures whose excess above the norm is a feature of its own (see the module)
ONE_SIDED = ("kg_per_unit",)
#: 1.4826 x MAD estimates the standard deviation of a normal distribution
MAD_SCALE = 1.4826


def measures(frame: Columns) -> dict[str, np.ndarray]:
    """The log measures of each declaration (NaN where a figure is missing or not per unit)."""
    return frame.measures()


class DeviationFeatures(Family):
    family = "deviation"
    requires = ("hs_code", "net_weight_kg")
    increasing = ("deviation_score", "kg_per_unit_excess")

    def __init__(self, min_rows: int = 30, min_spread: float = 0.05, normal_z: float = 3.0, max_z: float = 30.0):
        self.min_rows = min_rows
        self.min_spread = min_spread
        self.normal_z = normal_z
        self.max_z = max_z

    def _fit(self, frame: Columns):
        self.norms_ = {}
        for name, values in measures(frame).items():
            self.norms_[name] = [(parts, self._norms(frame.combined(*parts) if parts else None, values))
                                 for parts in LEVELS[name]
                                 if all(p in ("hs2", "hs4", "hs6") or frame.has(p) for p in parts)]

    def _norms(self, keys, values: np.ndarray) -> dict[str, tuple[float, float]]:
        """Median and spread per key with at least ``min_rows`` values (key "" for no key)."""
        if keys is None:
            ok = np.isfinite(values)
            if ok.sum() < self.min_rows:
                return {}
            median = float(np.median(values[ok]))
            return {"": (median, self._spread(np.median(np.abs(values[ok] - median))))}
        median, size = group_medians(keys, values)
        mad, _ = group_medians(keys, np.abs(values - keys.map(median)))
        return {k: (median[k], self._spread(mad[k])) for k, n in size.items() if n >= self.min_rows}

    def _spread(self, mad: float) -> float:
        return max(MAD_SCALE * float(mad), self.min_spread)

    def _names(self, frame: Columns) -> list[str]:
        fitted = [name for name, levels in self.norms_.items() if levels]
        return ([f"{name}_z" for name in fitted] + [f"{name}_excess" for name in ONE_SIDED if name in fitted]
                + ["deviation_score"])

    def _columns(self, frame: Columns):
        out = {}
        excess = np.zeros(frame.n)
        for name, values in measures(frame).items():
            levels = self.norms_.get(name, [])
            if not levels:
                continue
            median = np.full(frame.n, np.nan)
            spread = np.full(frame.n, np.nan)
            for parts, norms in levels:
                todo = np.isnan(median)
                if not todo.any():
                    break
                if not parts:
                    if "" in norms:
                        median[todo], spread[todo] = norms[""]
                    continue
                keys = frame.combined(*parts)
                median = np.where(todo, keys.map(lambda k: norms.get(k, (np.nan, np.nan))[0]), median)
                spread = np.where(todo, keys.map(lambda k: norms.get(k, (np.nan, np.nan))[1]), spread)
            z = np.clip((values - median) / spread, -self.max_z, self.max_z)
            out[f"{name}_z"] = z
            excess += np.nan_to_num(np.maximum(np.abs(z) - self.normal_z, 0.0)) ** 2
        for name in ONE_SIDED:
            if f"{name}_z" in out:
                out[f"{name}_excess"] = np.maximum(out[f"{name}_z"], 0.0)
        out["deviation_score"] = np.sqrt(excess)
        return out
