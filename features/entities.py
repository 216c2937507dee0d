"""Entity features: the history of the exporter, consignee, declarant, HS code and route.

Every statistic is computed strictly from declarations dated *before* the row's date (out of
time), so a row's features never change when later rows are added or their outcomes flip. The
history is the training window (kept in the fitted transformer) plus the earlier rows of the
frame being transformed; outcomes count only where known (``inspected``, ``contraband``).
Seizure rates are smoothed toward the training window's rate among inspections.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contraband.features.base import Family, days, hs, text
from contraband.features.route import route_key

SHIFT = np.int64(1) << np.int64(24)  # composite key = entity * SHIFT + day (days < 2^24)
ENTITIES = ("exporter", "consignee", "declarant", "hs6", "route")
_SOURCE = {"exporter": "exporter_id", "consignee": "consignee_id", "declarant": "declarant_id"}


def _keys(X: pd.DataFrame, entity: str) -> pd.Series:
    if entity == "hs6":
        return hs(X, 6)
    if entity == "route":
        return route_key(X)
    return text(X, _SOURCE[entity])


def _id_hash(X: pd.DataFrame) -> np.ndarray:
    if "declaration_id" not in X:
        return np.zeros(len(X), dtype=np.uint64)
    return pd.util.hash_array(text(X, "declaration_id").fillna("").to_numpy(dtype=object))


def _outcomes(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    inspected = pd.to_numeric(X["inspected"], errors="coerce").fillna(0).to_numpy() if "inspected" in X else np.zeros(len(X))
    seized = pd.to_numeric(X["contraband"], errors="coerce").fillna(0).to_numpy() if "contraband" in X else np.zeros(len(X))
    return (inspected == 1).astype(np.int8), ((seized == 1) & (inspected == 1)).astype(np.int8)


def count_before(event_key: np.ndarray, event_day: np.ndarray, weights: np.ndarray,
                 query_key: np.ndarray, query_day: np.ndarray) -> np.ndarray:
    """For each query (key, day): the sums of ``weights`` (n x w) over events of the same key
    dated strictly before the day. Keys are integer codes; a negative key gives NaN."""
    order = np.lexsort((event_day, event_key))
    comp = event_key[order].astype(np.int64) * SHIFT + event_day[order]
    cum = np.vstack([np.zeros((1, weights.shape[1])), np.cumsum(weights[order], axis=0)])
    q = query_key.astype(np.int64)
    hi = np.searchsorted(comp, q * SHIFT + query_day, side="left")
    lo = np.searchsorted(comp, q * SHIFT, side="left")
    out = cum[hi] - cum[lo]
    out[query_key < 0] = np.nan
    return out


class EntityHistory(Family):
    family = "entities"
    requires = ("declaration_date",)

    def __init__(self, smoothing: float = 20.0, recent_days: int = 30):
        self.smoothing = smoothing
        self.recent_days = recent_days

    def _fit(self, X):
        self.entities_ = [e for e in ENTITIES if _keys(X, e).notna().any()]
        inspected, seized = _outcomes(X)
        self.prior_rate_ = float((seized.sum() + 1.0) / (inspected.sum() + 2.0))
        self.history_ = self._events(X)

    def _events(self, X: pd.DataFrame) -> pd.DataFrame:
        inspected, seized = _outcomes(X)
        events = {"day": days(X).astype(np.int32), "inspected": inspected, "seized": seized, "id": _id_hash(X)}
        for e in self.entities_:
            events[e] = pd.Categorical(_keys(X, e))
        if "exporter" in self.entities_:
            events["hs4"] = pd.Categorical(hs(X, 4))
        return pd.DataFrame(events)

    def _transform(self, X):
        batch = self._events(X).reset_index(drop=True)
        history = self.history_[~self.history_["id"].isin(batch["id"])] if "declaration_id" in X else self.history_
        both = pd.concat([history, batch], ignore_index=True)
        n_hist = len(history)
        day = both["day"].to_numpy(np.int64)
        q_day = day[n_hist:]
        weights = np.column_stack([np.ones(len(both)), both["inspected"], both["seized"]]).astype(float)
        out = {}
        codes = {}
        for e in self.entities_:
            code, _ = pd.factorize(both[e].astype("object"))
            codes[e] = code
            counts = count_before(code, day, weights, code[n_hist:], q_day)
            out[f"{e}_prior_declarations"] = counts[:, 0]
            out[f"{e}_prior_inspections"] = counts[:, 1]
            out[f"{e}_prior_seizures"] = counts[:, 2]
            with np.errstate(invalid="ignore", divide="ignore"):
                out[f"{e}_seizure_rate"] = (counts[:, 2] + self.smoothing * self.prior_rate_) / (counts[:, 1] + self.smoothing)
            if e in ("exporter", "consignee"):
                first = np.full(code.max() + 2, np.iinfo(np.int64).max)
                np.minimum.at(first, code, day)
                f = first[code[n_hist:]]
                out[f"{e}_age_days"] = np.where((f < q_day) & (code[n_hist:] >= 0), q_day - f, 0).astype(float)
        if "exporter" in codes:
            ex = codes["exporter"]
            recent = count_before(ex, day, weights[:, :1], ex[n_hist:], q_day)[:, 0] - count_before(
                ex, day, weights[:, :1], ex[n_hist:], q_day - self.recent_days)[:, 0]
            out["exporter_declarations_30d"] = recent
            out["exporter_hs4_diversity"] = self._distinct_before(ex, both["hs4"], day, n_hist)
            if "route" in codes:
                pair, _ = pd.factorize(pd.Series(ex).astype(str) + "|" + pd.Series(codes["route"]).astype(str))
                pair = np.where((ex < 0) | (codes["route"] < 0), -1, pair)
                seen = count_before(pair, day, weights[:, :1], pair[n_hist:], q_day)[:, 0]
                out["exporter_route_new"] = np.where(np.isnan(seen), np.nan, (seen == 0).astype(float))
        if "consignee" in codes and "exporter" in codes:
            out["consignee_exporters"] = self._distinct_before(codes["consignee"], pd.Series(codes["exporter"]), day, n_hist)
        frame = pd.DataFrame(out, index=X.index)
        for c in [c for c in frame if c.endswith(("_prior_declarations", "_prior_inspections", "_prior_seizures"))]:
            frame[c] = np.log1p(frame[c])
        return frame

    @staticmethod
    def _distinct_before(key: np.ndarray, value: pd.Series, day: np.ndarray, n_hist: int) -> np.ndarray:
        """Distinct values seen with each key strictly before each query day."""
        v, _ = pd.factorize(value.astype("object"))
        first = pd.DataFrame({"k": key, "v": v, "d": day})
        first = first[(first["k"] >= 0) & (first["v"] >= 0)].groupby(["k", "v"], sort=False)["d"].min().reset_index()
        return count_before(first["k"].to_numpy(), first["d"].to_numpy(np.int64), np.ones((len(first), 1)),
                            key[n_hist:], day[n_hist:])[:, 0]
