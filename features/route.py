"""Route features: does the way the goods travelled fit the goods?

Origin differing from the export country (a hub origin on goods shipped from China), export
from or transit through a transshipment hub, and the countries and transport mode themselves
as categories. How rare a route is (overall and for the HS heading) is counted point in time
by the entity histories.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contraband.data import reference as ref
from contraband.data.columns import Columns
from contraband.features.base import Family, encode, vocabulary

CATEGORIES = ("origin_country", "export_country", "destination_country", "transport_mode")


def same(a, b) -> np.ndarray:
    """Row-wise equality of two coded columns; missing on either side counts as different."""
    if len(a.values) <= 64:
        where = {v: i for i, v in enumerate(a.values)}
        position = np.array([where.get(v, -1) for v in b.values], dtype=np.int64)
    else:
        position = pd.Index(a.values, dtype=object).get_indexer(pd.Index(b.values, dtype=object))
    b_in_a = np.append(position, -1)[np.where(b.codes < 0, len(b.values), b.codes)]
    return (a.codes == b_in_a) & (a.codes >= 0)


class RouteFeatures(Family):
    family = "route"
    requires = ("origin_country", "export_country")
    increasing = ("origin_not_export", "export_from_hub", "hub_origin_shipped_from_china", "transit_hubs")

    def _fit(self, frame: Columns):
        self.hubs_ = sorted(ref.hub_countries())
        self.categories_ = {c: vocabulary(frame.coded(c)) for c in CATEGORIES if c in frame.X}
        self.categorical_ = list(self.categories_)

    def _columns(self, frame: Columns):
        origin, export = frame.coded("origin_country"), frame.coded("export_country")
        transit = frame.coded("transit_countries")
        hubs = set(self.hubs_)
        out = {
            "origin_not_export": (~same(origin, export)).astype("float64"),
            "export_from_hub": export.isin(hubs).astype("float64"),
            "hub_origin_shipped_from_china": (origin.isin(hubs) & export.isin({"CN"})).astype("float64"),
            "transit_hubs": transit.map(lambda t: float(sum(h in hubs for h in t.split(";"))), default=0.0),
            "transit_countries_count": transit.map(lambda t: float(len(t.split(";"))), default=0.0),
        }
        for c, vocab in self.categories_.items():
            out[c] = encode(frame.coded(c), vocab)
        return out
