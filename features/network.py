"""Network features: risk carried over the trade graph of exporters, consignees, declarants and
routes, read from the history store as of the end of the day before each declaration.

In the spirit of GraphFC (CIKM 2023), which passes seizures along the graph of traders, but as
out-of-time statistics a customs analyst can check, one hop along the graph:

- ``consignee_network_seizures``: seizures of the *other* exporters this consignee had received
  goods from (a consignee shared with a seized exporter);
- ``exporter_network_seizures``: seizures of the other consignees this exporter had shipped to;
- ``declarant_new_exporters_90d`` and ``declarant_new_exporter_share``: exporters a declarant
  first filed for in the last 90 days, alone and per declaration it lodged in them (a
  forwarder filing for a stream of new companies);
- ``route_new_exporters_90d`` and ``route_new_exporter_share``: the same for a route (a route
  whose traders churn).

A link counts from the day after the pair first traded, a seizure from the day after it was
recorded (with a blind view of the store, not from ``history.outcomes_until`` on); the
declaration's own exporter (or consignee) is left out of its network, whose own record the
``entities`` family already reads. The store holds the pairs and counts; this family holds no
history.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contraband.data.columns import Columns
from contraband.data.keys import Coded, first_part, second_part
from contraband.features.base import Family, as_of_days

#: (feature, owner part, pair kind, partner part, partner kind)
NETWORKS = (
    ("consignee_network_seizures", "consignee", "consignee_exporter", "exporter", "exporter"),
    ("exporter_network_seizures", "exporter", "exporter_consignee", "consignee", "consignee"),
)
#: (owner part, distinct-partner kind): new exporters per declarant and per route
CHURN = (("declarant", "declarant_exporters"), ("route", "route_exporters"))
#: owners up to this many (a request's few) are looked up in a dict, more through a pandas index
DICT_LOOKUP = 64


def _index(haystack: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """The position of each needle among the distinct values ``haystack`` (-1: absent)."""
    if len(haystack) <= DICT_LOOKUP and len(needles) <= 4096:  # a request's few keys: a dict beats an index
        at = {v: i for i, v in enumerate(haystack)}
        return np.fromiter((at.get(v, -1) for v in needles), dtype=np.int64, count=len(needles))
    return pd.Index(np.asarray(haystack, dtype=object)).get_indexer(np.asarray(needles, dtype=object)).astype(np.int64)


def network_seizures(history, owner: Coded, partner: Coded, days: np.ndarray, outcome_days: np.ndarray,
                     pair: str, partner_kind: str) -> np.ndarray:
    """Per row: seizures recorded before its outcome day of the partners its owner had traded
    with before its day, its own partner left out (NaN where the row has no owner)."""
    out = np.zeros(len(days), dtype="float64")
    out[owner.codes < 0] = np.nan
    pairs = history.partners(pair, owner.values)
    if not len(pairs):
        return out
    pair_owner = _index(owner.values, first_part(pairs.keys))
    mine = np.flatnonzero(pair_owner >= 0)  # a large batch reads every pair: keep its owners'
    if not len(mine):
        return out
    partner_keys = second_part(pairs.keys[mine])
    table = history.series_many({partner_kind: partner_keys})[partner_kind]
    partner_series = table.codes(partner_keys)
    # only partners seized at some time (a correction may have cleared it since) can add anything
    peak = np.zeros(len(table), dtype=np.int64)
    np.maximum.at(peak, table.series_of_row, table.cum[:, 2])
    seized = np.flatnonzero((partner_series >= 0) & (peak[np.maximum(partner_series, 0)] > 0))
    if not len(seized):
        return out
    links = mine[seized]
    link_owner = pair_owner[links]
    link_series = partner_series[seized]
    link_partner = _index(partner.values, partner_keys[seized])  # -1: not a partner in this batch
    link_first = pairs.first_days()[links]
    # every row against every seized link of its owner
    order = np.argsort(link_owner, kind="stable")
    per_owner = np.bincount(link_owner, minlength=len(owner.values))
    start = np.r_[0, np.cumsum(per_owner)[:-1]]
    rows = np.flatnonzero(owner.codes >= 0)
    rows = rows[per_owner[owner.codes[rows]] > 0]
    if not len(rows):
        return out
    n = per_owner[owner.codes[rows]]
    row = np.repeat(rows, n)
    offset = np.arange(len(row)) - np.repeat(np.cumsum(n) - n, n)
    link = order[start[owner.codes[row]] + offset]
    counts = table.before(link_series[link], outcome_days[row], count=2)
    linked_before = link_first[link] < days[row]
    other = (link_partner[link] < 0) | (link_partner[link] != partner.codes[row])
    out += np.bincount(row, weights=counts * (linked_before & other), minlength=len(days))
    return out


class NetworkHistory(Family):
    family = "network"
    requires = ("declaration_date", "exporter_id")
    needs_history = True
    increasing = ("_network_seizures",)

    def __init__(self, window_days: int = 90):
        self.window_days = window_days

    def _fit(self, frame: Columns):
        parts = frame.entity_parts()
        present = {name for name, coded in parts.items() if (coded.codes >= 0).any()}
        self.networks_ = [n for n in NETWORKS if {n[1], n[3]} <= present]
        self.churn_ = [c for c in CHURN if {c[0], "exporter"} <= present]

    def _names(self, frame: Columns) -> list[str]:
        names = [n[0] for n in self.networks_]
        for owner, _ in self.churn_:
            names += [f"{owner}_new_exporters_{self.window_days}d", f"{owner}_new_exporter_share"]
        return names

    def _columns(self, frame: Columns, history=None):
        days, outcome_days = as_of_days(frame, history, "network")
        parts = frame.entity_parts()
        out = {}
        for name, owner, pair, partner, partner_kind in self.networks_:
            out[name] = np.log1p(network_seizures(history, parts[owner], parts[partner], days, outcome_days,
                                                  pair, partner_kind))
        if self.churn_:
            keys = frame.entity_keys()
            wanted = {}
            for owner, distinct in self.churn_:
                wanted[owner] = keys[owner].values
                wanted[distinct] = keys[owner].values
            tables = history.series_many(wanted, frame)
            for owner, distinct in self.churn_:
                coded = keys[owner]
                recent = {}
                for kind in (owner, distinct):
                    table = tables[kind]
                    code = np.append(table.codes(coded.values), -1)[np.where(coded.codes < 0, len(coded.values),
                                                                             coded.codes)]
                    counts = table.before(code, days, count=0) - table.before(code, days - self.window_days, count=0)
                    recent[kind] = np.where(coded.codes < 0, np.nan, counts.astype("float64"))
                new, lodged = recent[distinct], recent[owner]
                out[f"{owner}_new_exporters_{self.window_days}d"] = new
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[f"{owner}_new_exporter_share"] = np.where(lodged > 0, new / lodged, np.nan)
        return out
