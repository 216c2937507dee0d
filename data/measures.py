"""A declaration's physical and value measures, in logs, and their bins for the trader's own norm.

- ``value``: USD per kg of net weight;
- ``unit_value``: USD per declared unit (piece, litre, m2; not per kg);
- ``kg_per_unit``: net kg per declared unit;
- ``kg_per_package``: gross kg per package;
- ``gross_to_net``: gross over net weight.

NaN where a figure is missing or the unit is kg. The HS norms (``features.deviation``) and the
exporter's own norm, counted in the history store per exporter, HS6 code and bin
(:data:`OWN_BINS`, ``data.keys``), read the same figures from here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


#: measures the history counts per exporter and HS6 code, and the width of a bin in log units
#: (0.05: a bin spans about 5 %, the spread of one exporter's own product)
OWN_BINS = {"kg_per_unit": 0.05, "kg_per_package": 0.1, "gross_to_net": 0.03, "value": 0.1}


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


def log_measures(number: Callable[[str], np.ndarray], unit) -> dict[str, np.ndarray]:
    """The log measures of each declaration, from a getter of numeric columns and the coded
    quantity unit (a ``Coded``)."""
    value, net = number("declared_value_usd"), number("net_weight_kg")
    per_unit = unit.map(lambda u: u != "KG", default=False, dtype=bool)
    quantity = np.where(per_unit, number("quantity"), np.nan)
    gross = number("gross_weight_kg")
    return {
        "value": safe_log(ratio(value, net)),
        "unit_value": safe_log(ratio(value, quantity)),
        "kg_per_unit": safe_log(ratio(net, quantity)),
        "kg_per_package": safe_log(ratio(gross, number("packages"))),
        "gross_to_net": safe_log(ratio(gross, net)),
    }


def bin_of(values: np.ndarray, width: float) -> np.ndarray:
    """The bin number of each log measure (int64; missing: a value no bin has)."""
    out = np.full(len(values), np.iinfo(np.int64).min, dtype=np.int64)
    ok = np.isfinite(values)
    out[ok] = np.floor(values[ok] / width).astype(np.int64)
    return out
