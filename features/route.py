"""Route features: does the way the goods travelled fit the goods?

Origin differing from the export country (a hub origin on goods shipped from China), export
from or transit through a transshipment hub, how rare the route is for this HS4 in the training
window, and the countries and transport mode themselves as categories.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contraband.data import reference as ref
from contraband.features.base import Family, categorical, hs, safe_log, text

CATEGORIES = ("origin_country", "export_country", "destination_country", "transport_mode")


def route_key(X: pd.DataFrame) -> pd.Series:
    """origin>export>transit>destination, the route as an analyst reads it."""
    return (text(X, "origin_country").fillna("?") + ">" + text(X, "export_country").fillna("?") + ">"
            + text(X, "transit_countries").fillna("") + ">" + text(X, "destination_country").fillna("?"))


class RouteFeatures(Family):
    family = "route"
    requires = ("origin_country", "export_country")

    def __init__(self, min_count: int = 1):
        self.min_count = min_count

    def _fit(self, X):
        self.hubs_ = sorted(ref.hub_countries())
        key = hs(X, 4) + "|" + route_key(X)
        counts = key.value_counts()
        self.route_counts_ = counts[counts >= self.min_count].to_dict()
        self.hs4_counts_ = hs(X, 4).value_counts().to_dict()
        self.categories_ = {c: sorted(text(X, c).dropna().unique()) for c in CATEGORIES if c in X}

    def _transform(self, X):
        origin, export = text(X, "origin_country"), text(X, "export_country")
        transit = text(X, "transit_countries").fillna("")
        out = pd.DataFrame(index=X.index)
        out["origin_not_export"] = (origin != export).fillna(False).astype("float64")
        out["export_from_hub"] = export.isin(self.hubs_).astype("float64")
        out["hub_origin_shipped_from_china"] = (origin.isin(self.hubs_) & (export == "CN")).astype("float64")
        out["transit_hubs"] = sum(transit.str.contains(h, regex=False).astype("float64") for h in self.hubs_)
        out["transit_countries_count"] = transit.str.count(";").add(1).where(transit != "", 0).astype("float64")
        key = hs(X, 4) + "|" + route_key(X)
        seen = key.map(self.route_counts_).to_numpy(dtype="float64", na_value=0.0)
        total = hs(X, 4).map(self.hs4_counts_).to_numpy(dtype="float64", na_value=0.0)
        out["route_share_for_hs4"] = (seen + 1.0) / (total + 2.0)
        out["log_route_count"] = safe_log(seen + 1.0)
        for c, cats in self.categories_.items():
            out[c] = categorical(text(X, c), cats)
        return out
