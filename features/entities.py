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

from contraband.features.base import Family, cat, combine, days, hs
from contraband.features.route import route_key

SHIFT = np.int64(1) << np.int64(24)  # composite key = entity * SHIFT + day (days < 2^24)
ENTITIES = ("exporter", "consignee", "declarant", "hs6", "route", "hs4_route")
_SOURCE = {"exporter": "exporter_id", "consignee": "consignee_id", "declarant": "declarant_id"}


def _keys(X: pd.DataFrame, entity: str) -> pd.Series:
    if entity == "hs6":
        return hs(X, 6)
    if entity == "route":
        return route_key(X)
    if entity == "hs4_route":  # how usual this route is for this kind of goods
        return combine(hs(X, 4), route_key(X), sep="|")
    return cat(X, _SOURCE[entity])


def _id_hash(X: pd.DataFrame) -> np.ndarray:
    if "declaration_id" not in X:
        return np.zeros(len(X), dtype=np.uint64)
    return pd.util.hash_pandas_object(X["declaration_id"], index=False).to_numpy()


def _outcomes(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    inspected = pd.to_numeric(X["inspected"], errors="coerce").fillna(0).to_numpy() if "inspected" in X else np.zeros(len(X))
    seized = pd.to_numeric(X["contraband"], errors="coerce").fillna(0).to_numpy() if "contraband" in X else np.zeros(len(X))
    return (inspected == 1).astype(np.int8), ((seized == 1) & (inspected == 1)).astype(np.int8)


def _joint_codes(history: pd.Series, batch: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes shared by the history's and the batch's categoricals (missing: -1)."""
    known = history.cat.categories
    idx = pd.Index(known).get_indexer(batch.cat.categories)
    unseen = idx < 0
    idx[unseen] = len(known) + np.arange(unseen.sum())
    b = batch.cat.codes.to_numpy()
    idx = np.append(idx, -1)  # code -1 (missing) stays -1, even when the batch has no category at all
    return history.cat.codes.to_numpy().astype(np.int64), idx[b].astype(np.int64)


class Counter:
    """Events of one kind of entity, sorted by (key, day) once, for many "before" queries.

    ``before(keys, days)`` sums the event weights of the same key dated strictly before each
    day. Sorted queries make the binary searches walk memory in order."""

    def __init__(self, key: np.ndarray, day: np.ndarray, weights: np.ndarray):
        comp = key.astype(np.int64) * SHIFT + day
        order = np.argsort(comp)  # ties (same key and day) need no order: searches stop before them
        self.key, self.order, self.comp = key, order, comp[order]
        self.cum = np.vstack([np.zeros((1, weights.shape[1])), np.cumsum(weights[order], axis=0)])

    def own(self, start: int) -> np.ndarray:
        """``before`` for the events themselves from position ``start`` on, read off the sort:
        an event's count is the cumulative sum up to the first event of its (key, day) group,
        minus the sum up to the first event of its key."""
        n = len(self.comp)
        position = np.arange(n)
        new_day = np.r_[True, self.comp[1:] != self.comp[:-1]]
        sorted_key = self.comp // SHIFT
        new_key = np.r_[True, sorted_key[1:] != sorted_key[:-1]]
        day_start = np.maximum.accumulate(np.where(new_day, position, 0))
        key_start = np.maximum.accumulate(np.where(new_key, position, 0))
        out_sorted = self.cum[day_start] - self.cum[key_start]
        rank = np.empty(n, dtype=np.int64)
        rank[self.order] = position
        out = out_sorted[rank[start:]]
        out[self.key[start:] < 0] = np.nan
        return out

    def before(self, key: np.ndarray, day: np.ndarray) -> np.ndarray:
        q = key.astype(np.int64) * SHIFT + day
        q_order = np.argsort(q)
        hi = np.empty(len(q), dtype=np.int64)
        lo = np.empty(len(q), dtype=np.int64)
        hi[q_order] = np.searchsorted(self.comp, q[q_order], side="left")
        lo[q_order] = np.searchsorted(self.comp, key[q_order].astype(np.int64) * SHIFT, side="left")
        out = self.cum[hi] - self.cum[lo]
        out[key < 0] = np.nan
        return out


def count_before(event_key: np.ndarray, event_day: np.ndarray, weights: np.ndarray,
                 query_key: np.ndarray, query_day: np.ndarray) -> np.ndarray:
    """For each query (key, day): the sums of ``weights`` (n x w) over events of the same key
    dated strictly before the day. Keys are integer codes; a negative key gives NaN."""
    return Counter(event_key, event_day, weights).before(query_key, query_day)


def _pair(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Codes of (a, b) pairs; -1 where either is missing."""
    codes, _ = pd.factorize(a.astype(np.int64) * (int(b.max(initial=0)) + 2) + b)
    return np.where((a < 0) | (b < 0), -1, codes)


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

    def _may_overlap(self, X: pd.DataFrame) -> bool:
        """Can the frame re-state history rows? Only if it has ids and reaches into the history's dates."""
        return "declaration_id" in X and len(X) > 0 and int(days(X).min()) <= int(self.history_["day"].max(initial=-1))

    def _events(self, X: pd.DataFrame, with_ids: bool = True) -> dict[str, np.ndarray | pd.Categorical | None]:
        inspected, seized = _outcomes(X)
        events = {"day": days(X).astype(np.int32), "inspected": inspected, "seized": seized,
                  "id": _id_hash(X) if with_ids else None}
        for e in self.entities_:
            events[e] = _keys(X, e).array
        if "exporter" in self.entities_:
            events["hs4"] = hs(X, 4).array
        return events

    def _transform(self, X):
        batch = self._events(X, with_ids=self._may_overlap(X))
        history = self.history_
        if batch["id"] is not None:
            overlap = np.isin(history["id"], batch["id"])
            if overlap.any():  # the batch re-states rows of the history: the batch wins
                history = {k: v[~overlap] for k, v in history.items()}
        n_hist = len(history["day"])
        day = np.concatenate([history["day"], batch["day"]]).astype(np.int64)
        q_day = day[n_hist:]
        weights = np.column_stack([np.ones(len(day)), np.concatenate([history["inspected"], batch["inspected"]]),
                                   np.concatenate([history["seized"], batch["seized"]])]).astype(float)
        out = {}
        codes = {}
        for e in self.entities_ + (["hs4"] if "exporter" in self.entities_ else []):
            h, b = _joint_codes(pd.Series(history[e]), pd.Series(batch[e]))
            codes[e] = np.concatenate([h, b])
        ones = weights[:, :1]
        for e in self.entities_:
            code = codes[e]
            counter = Counter(code, day, weights)
            counts = counter.own(n_hist)
            out[f"{e}_prior_declarations"] = np.log1p(counts[:, 0])
            out[f"{e}_prior_inspections"] = np.log1p(counts[:, 1])
            out[f"{e}_prior_seizures"] = np.log1p(counts[:, 2])
            with np.errstate(invalid="ignore", divide="ignore"):
                out[f"{e}_seizure_rate"] = (counts[:, 2] + self.smoothing * self.prior_rate_) / (counts[:, 1] + self.smoothing)
            if e in ("exporter", "consignee"):
                first = np.full(code.max(initial=0) + 2, np.iinfo(np.int64).max)
                np.minimum.at(first, code, day)
                f = first[code[n_hist:]]
                out[f"{e}_age_days"] = np.where((f < q_day) & (code[n_hist:] >= 0), q_day - f, 0).astype(float)
            if e == "exporter":
                recent = counter.before(code[n_hist:], q_day - self.recent_days)[:, 0]
                out["exporter_declarations_30d"] = counts[:, 0] - recent
        if "exporter" in codes:
            ex = codes["exporter"]
            out["exporter_hs4_diversity"] = self._distinct_before(ex, codes["hs4"], day, n_hist)
            if "route" in codes:
                pair = _pair(ex, codes["route"])
                seen = Counter(pair, day, ones).own(n_hist)[:, 0]
                out["exporter_route_new"] = np.where(np.isnan(seen), np.nan, (seen == 0).astype(float))
        if "consignee" in codes and "exporter" in codes:
            out["consignee_exporters"] = self._distinct_before(codes["consignee"], codes["exporter"], day, n_hist)
        return pd.DataFrame(out, index=X.index)

    @staticmethod
    def _distinct_before(key: np.ndarray, value: np.ndarray, day: np.ndarray, n_hist: int) -> np.ndarray:
        """Distinct values seen with each key strictly before each query day."""
        pair = _pair(key, value)
        ok = pair >= 0
        first = np.full(pair.max(initial=0) + 1, np.iinfo(np.int64).max)
        np.minimum.at(first, pair[ok], day[ok])
        pair_key = np.full(len(first), -1)
        pair_key[pair[ok]] = key[ok]
        seen = first < np.iinfo(np.int64).max
        return count_before(pair_key[seen], first[seen], np.ones((seen.sum(), 1)), key[n_hist:], day[n_hist:])[:, 0]
