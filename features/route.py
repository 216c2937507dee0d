"""Route features: does the way the goods travelled fit the goods?

Origin differing from the export country (a hub origin on goods shipped from China), export
from or transit through a transshipment hub, how rare the route is for this HS4 in the training
window, and the countries and transport mode themselves as categories. How rare a route is
(overall and for the HS heading) is counted out of time by the entity histories.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contraband.data import reference as ref
from contraband.features.base import Family, cat, categorical, combine, values_of

CATEGORIES = ("origin_country", "export_country", "destination_country", "transport_mode")


def route_key(X: pd.DataFrame) -> pd.Series:
    """origin>export>transit>destination, the route as an analyst reads it (categorical)."""
    return combine(cat(X, "origin_country"), cat(X, "export_country"), cat(X, "transit_countries"),
                   cat(X, "destination_country"), sep=">", missing="")


def _same(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Row-wise equality of two categoricals; missing on either side counts as different."""
    union = a.cat.categories.union(b.cat.categories)
    ca = a.cat.set_categories(union).cat.codes.to_numpy()
    cb = b.cat.set_categories(union).cat.codes.to_numpy()
    return (ca == cb) & (ca >= 0)


class RouteFeatures(Family):
    family = "route"
    requires = ("origin_country", "export_country")

    def _fit(self, X):
        self.hubs_ = sorted(ref.hub_countries())
        self.categories_ = {c: sorted(cat(X, c).dropna().unique()) for c in CATEGORIES if c in X}

    def _transform(self, X):
        origin, export = cat(X, "origin_country"), cat(X, "export_country")
        transit = cat(X, "transit_countries")
        out = pd.DataFrame(index=X.index)
        out["origin_not_export"] = (~_same(origin, export)).astype("float64")
        out["export_from_hub"] = export.isin(self.hubs_).to_numpy().astype("float64")
        out["hub_origin_shipped_from_china"] = (origin.isin(self.hubs_).to_numpy()
                                                & (export == "CN").to_numpy()).astype("float64")
        out["transit_hubs"] = values_of(transit, lambda t: sum(h in t.split(";") for h in self.hubs_), default=0.0)
        out["transit_countries_count"] = values_of(transit, lambda t: len(t.split(";")), default=0.0)
        for c, cats in self.categories_.items():
            out[c] = categorical(cat(X, c), cats)
        return out
