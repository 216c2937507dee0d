"""Entity features: the history of the exporter, consignee, declarant, HS code and route, read
from the history store as of the end of the day before each declaration.

For each entity: earlier declarations, inspections with a known result and seizures (logged),
and the seizure rate smoothed toward the training window's rate among inspections; the age of
the exporter and consignee; the exporter's declarations in the last 30 days, the HS headings it
has traded, whether this route is new for it; the exporters a consignee has received from.

The store holds the counts; this family only reads them (:meth:`SeriesTable.before`) and holds
no history itself. An outcome counts from the day after it was recorded, a pending inspection
counts as neither clean nor seized, and a declaration's own day (and anything later) never
counts. With a blind view of the store (``history.outcomes_until``), outcomes recorded from that
day on do not count either. One declaration or a million go through the same code: the series
of the keys they name are fetched (or all series of a kind, for a large batch) and searched.
"""

from __future__ import annotations

import numpy as np

from contraband.data.keys import KINDS
from contraband.data.history.series import NEVER
from contraband.data.columns import Columns
from contraband.features.base import Family, as_of_days

ENTITIES = ("exporter", "consignee", "declarant", "hs6", "route", "hs4_route")
_KEY_PART = {"exporter": "exporter", "consignee": "consignee"}


def _series_keys(frame: Columns, entities: list[str]) -> dict[str, object]:
    """The coded key of every series kind the features read."""
    keys = frame.entity_keys()
    out = {e: keys[e] for e in entities}
    if "exporter" in entities:
        out["exporter_route"] = keys["exporter_route"]
        out["exporter_hs4s"] = keys["exporter"]
    if "consignee" in entities and "exporter" in entities:
        out["consignee_exporters"] = keys["consignee"]
    return out


class EntityHistory(Family):
    family = "entities"
    requires = ("declaration_date",)
    needs_history = True
    increasing = ("_prior_seizures", "_seizure_rate", "exporter_route_new")
    decreasing = ("consignee_prior_declarations",)

    def __init__(self, smoothing: float = 20.0, recent_days: int = 30):
        self.smoothing = smoothing
        self.recent_days = recent_days

    def _fit(self, frame: Columns):
        keys = frame.entity_keys()
        self.entities_ = [e for e in ENTITIES if (keys[e].codes >= 0).any()]
        inspected = frame.number("inspected") == 1
        result = frame.number("contraband")
        known = inspected & np.isfinite(result)
        seized = known & (result == 1)
        # the seizure rate every entity starts from, learned from the training window's results
        self.prior_rate_ = float((seized.sum() + 1.0) / (known.sum() + 2.0))

    def _names(self, frame: Columns) -> list[str]:
        names = []
        for e in self.entities_:
            names += [f"{e}_prior_declarations", f"{e}_prior_inspections", f"{e}_prior_seizures", f"{e}_seizure_rate"]
            if e in _KEY_PART:
                names.append(f"{e}_age_days")
            if e == "exporter":
                names.append("exporter_declarations_30d")
        if "exporter" in self.entities_:
            names += ["exporter_hs4_diversity", "exporter_route_new"]
        if "consignee" in self.entities_ and "exporter" in self.entities_:
            names.append("consignee_exporters")
        return names

    def _columns(self, frame: Columns, history=None):
        days, outcome_days = as_of_days(frame, history, "entity")
        until = getattr(history, "outcomes_until", None)
        keys = _series_keys(frame, self.entities_)
        tables = history.series_many({kind: coded.values for kind, coded in keys.items()}, frame)
        out = {}

        def lookup(kind: str):
            coded, table = keys[kind], tables[kind]
            code = np.append(table.codes(coded.values), -1)[np.where(coded.codes < 0, len(coded.values), coded.codes)]
            missing = coded.codes < 0
            counts = table.before(code, days).astype("float64")
            if until is not None and KINDS.get(kind) is not None and KINDS[kind].outcomes:
                counts[:, 1:] = table.before(code, outcome_days)[:, 1:]
            counts[missing] = np.nan
            return code, counts, table, missing

        for e in self.entities_:
            code, counts, table, missing = lookup(e)
            out[f"{e}_prior_declarations"] = np.log1p(counts[:, 0])
            out[f"{e}_prior_inspections"] = np.log1p(counts[:, 1])
            out[f"{e}_prior_seizures"] = np.log1p(counts[:, 2])
            with np.errstate(invalid="ignore", divide="ignore"):
                out[f"{e}_seizure_rate"] = (counts[:, 2] + self.smoothing * self.prior_rate_) / (counts[:, 1] + self.smoothing)
            if e in _KEY_PART:
                first = np.append(table.first_days(), NEVER)[np.where(code < 0, len(table), code)]
                age = np.where(first < days, days - np.minimum(first, days), 0).astype("float64")
                age[missing] = np.nan
                out[f"{e}_age_days"] = age
            if e == "exporter":
                recent = table.before(code, days - self.recent_days, count=0)
                out["exporter_declarations_30d"] = counts[:, 0] - recent
        if "exporter" in self.entities_:
            out["exporter_hs4_diversity"] = lookup("exporter_hs4s")[1][:, 0]
            seen = lookup("exporter_route")[1][:, 0]
            out["exporter_route_new"] = np.where(np.isnan(seen), np.nan, (seen == 0).astype("float64"))
        if "consignee_exporters" in keys:
            out["consignee_exporters"] = lookup("consignee_exporters")[1][:, 0]
        return out
