"""The trader's own norm: how a declaration compares with what its exporter has declared before
under the same HS6 code, read from the history store as of the end of the day before it.

An established front ships its cover good for years at its own weight per unit, and the load it
hides makes one consignment a little heavier than its own record, though still within what the
goods weigh across all exporters. A legitimate oddity is the opposite: an exporter of heavy
glass bottles ships them heavy every time, far from the goods' norm and close to its own. So for
each measure of :data:`~contraband.data.measures.OWN_BINS` (kg per unit, kg per package, gross
to net, USD per kg), from the exporter's earlier declarations of the code, counted by bin of the
measure in the store (``exporter_hs6_<measure>``):

- ``own_<measure>_z``: the distance from the exporter's own median in units of its own spread
  (the interquartile range of its bins, never under a bin's width), where it has declared the
  code at least ``min_declarations`` times before; NaN otherwise;
- ``own_<measure>_excess`` (weights and packing only): that distance above zero, held
  increasing, since concealed dense material makes a consignment heavier, never lighter;
- ``own_<measure>_share``: the share of its earlier declarations of the code within a bin of
  this one (0 without any), held decreasing: an oddity the exporter has always declared is not
  news, and neither is this consignment when it looks like the exporter's others;

and ``exporter_hs6_prior_declarations`` (logged); ``exporter_hs6_new`` and
``exporter_consignee_new``: an exporter with ``min_declarations`` earlier declarations that has
never declared this code, or never shipped to this consignee.

The store holds the counts; this family reads them with the same as-of rule as every history
feature (a declaration's own day and anything later never count) and keeps no history itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contraband.data.columns import Columns
from contraband.data.keys import SEP
from contraband.data.measures import OWN_BINS, bin_of
from contraband.features.base import Family, as_of_days, counts_before

#: measures whose own excess is a feature (the heavier, the riskier)
HEAVIER = ("kg_per_unit", "kg_per_package", "gross_to_net")


#: rows whose (row, bin) pairs are worked out at once: the pairs of a 200,000-row part held whole
#: took 500 MB (an exporter's code has tens of bins); a block of rows bounds them
PAIR_ROWS = 32_768


class OwnSeries:
    """The series of one kind keyed owner + SEP + bin, grouped by owner (``owners``: the owners
    rows name, by code): each owner's series in bin order, worked out once for every block of
    rows."""

    def __init__(self, table, owners: np.ndarray):
        self.table = table
        if not len(table):
            return
        owner_of, self.series_bin = _owner_and_bin(table.keys)
        series_owner = pd.Index(np.asarray(owners, dtype=object)).get_indexer(owner_of).astype(np.int64)
        mine = np.flatnonzero(series_owner >= 0)
        self.order = mine[np.lexsort((self.series_bin[mine], series_owner[mine]))]
        self.per_owner = np.bincount(series_owner[self.order], minlength=len(owners))
        self.start = np.zeros(len(owners) + 1, dtype=np.int64)
        np.cumsum(self.per_owner, out=self.start[1:])

    def counts(self, owner_codes: np.ndarray, days: np.ndarray) -> tuple[np.ndarray, ...]:
        """Per (row, bin of its owner) pair: the row, the bin and the declarations before its
        day (``owner_codes``: each row's owner, -1 for none). Pairs come sorted by row, then bin."""
        empty = np.zeros(0, dtype=np.int64)
        if not len(self.table):
            return empty, empty, empty
        rows = np.flatnonzero(owner_codes >= 0)
        n_pairs = self.per_owner[owner_codes[rows]]
        row = np.repeat(rows, n_pairs)
        first = np.repeat(self.start[owner_codes[rows]] - (np.cumsum(n_pairs) - n_pairs), n_pairs)
        series = self.order[first + np.arange(len(row))]
        counts = self.table.before(series, days[row], count=0)
        keep = counts > 0
        return row[keep], self.series_bin[series][keep], counts[keep]


def _owner_and_bin(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each key's owner (all before its last ``SEP``) and bin (the integer after it)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = pc.split_pattern(pa.array(keys, type=pa.string()), SEP, max_splits=1, reverse=True).flatten()
    owner = parts.take(pa.array(np.arange(0, len(parts), 2))).to_numpy(zero_copy_only=False)
    return owner.astype(object), pc.cast(parts.take(pa.array(np.arange(1, len(parts), 2))), pa.int64()).to_numpy()


def _quantile_bins(row: np.ndarray, bins: np.ndarray, counts: np.ndarray, n: int, q: float) -> np.ndarray:
    """Per row: the bin at which its cumulative count first reaches share ``q`` (NaN: no counts)."""
    out = np.full(n, np.nan)
    if not len(row):
        return out
    total = np.bincount(row, weights=counts, minlength=n)
    cum = np.cumsum(counts)
    before_row = np.zeros(n)
    starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
    before_row[row[starts]] = (cum - counts)[starts]
    within = cum - before_row[row]
    reached = within >= q * total[row]
    # the first reaching pair of each row: reached, and the previous pair (of the same row) had not
    prev_same = np.r_[False, row[1:] == row[:-1]]
    prev_reached = np.r_[False, reached[:-1]]
    first = np.flatnonzero(reached & ~(prev_same & prev_reached))
    out[row[first]] = bins[first]
    return out


class TraderNorms(Family):
    family = "trader"
    requires = ("declaration_date", "exporter_id", "hs_code")
    needs_history = True
    increasing = ("_excess", "exporter_hs6_new", "exporter_consignee_new")
    decreasing = ("_share",)

    def __init__(self, min_declarations: int = 5, max_z: float = 30.0):
        self.min_declarations = min_declarations
        self.max_z = max_z

    def _fit(self, frame: Columns):
        measures = frame.measures()
        self.measures_ = [m for m in OWN_BINS if np.isfinite(measures[m]).any()]

    def _names(self, frame: Columns) -> list[str]:
        names = ["exporter_hs6_prior_declarations", "exporter_hs6_new", "exporter_consignee_new"]
        for m in self.measures_:
            names += [f"own_{m}_z"] + ([f"own_{m}_excess"] if m in HEAVIER else []) + [f"own_{m}_share"]
        return names

    def _columns(self, frame: Columns, history=None):
        days, _ = as_of_days(frame, history, "trader")
        keys = frame.entity_keys()
        owner = keys["exporter_hs6"]
        exporter = keys["exporter"]
        tables = history.series_many({"exporter_hs6": owner.values, "exporter": exporter.values,
                                      "exporter_consignee": keys["exporter_consignee"].values}, frame)
        out = {}
        prior = counts_before(tables["exporter_hs6"], owner, days)
        exporter_prior = counts_before(tables["exporter"], exporter, days)
        out["exporter_hs6_prior_declarations"] = np.log1p(prior)
        out["exporter_hs6_new"] = ((exporter_prior >= self.min_declarations) & (prior == 0)).astype(float)
        out["exporter_hs6_new"][exporter.codes < 0] = np.nan
        pair = counts_before(tables["exporter_consignee"], keys["exporter_consignee"], days)
        established = exporter_prior >= self.min_declarations
        out["exporter_consignee_new"] = np.where(keys["exporter_consignee"].codes >= 0,
                                                 (established & (pair == 0)).astype(float), np.nan)
        measures = frame.measures()
        for m in self.measures_:
            out.update(self._measure(history, m, measures[m], owner, days))
        return out

    def _measure(self, history, m: str, values: np.ndarray, owner, days: np.ndarray) -> dict[str, np.ndarray]:
        n, width = len(values), OWN_BINS[m]
        series = OwnSeries(history.partners(f"exporter_hs6_{m}", owner.values), owner.values)
        total, share, median, spread = (np.zeros(n) for _ in range(4))
        for a in range(0, n, PAIR_ROWS):  # a block of rows at a time: their pairs, then per-row figures
            b = min(n, a + PAIR_ROWS)
            row, bins, counts = series.counts(owner.codes[a:b], days[a:b])
            counts = counts.astype(float)
            total[a:b] = np.bincount(row, weights=counts, minlength=b - a)
            here = bin_of(values[a:b], width)
            near = np.abs(bins - here[row]) <= 1 if len(row) else np.zeros(0, dtype=bool)
            share[a:b] = np.bincount(row, weights=counts * near, minlength=b - a) / np.maximum(total[a:b], 1.0)
            median[a:b] = _quantile_bins(row, bins, counts, b - a, 0.5)
            spread[a:b] = (_quantile_bins(row, bins, counts, b - a, 0.75)
                           - _quantile_bins(row, bins, counts, b - a, 0.25) + 1) * width / 1.349
        spread = np.maximum(spread, width)
        with np.errstate(invalid="ignore"):
            z = np.clip((values - (median + 0.5) * width) / spread, -self.max_z, self.max_z)
        z[(total < self.min_declarations) | ~np.isfinite(values)] = np.nan
        share[~np.isfinite(values) | (owner.codes < 0)] = np.nan
        out = {f"own_{m}_z": z, f"own_{m}_share": share}
        if m in HEAVIER:
            out[f"own_{m}_excess"] = np.where(np.isfinite(z), np.maximum(z, 0.0), np.nan)
        return out
