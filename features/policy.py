"""Policy features: does the HS code concern controlled materials or known cover goods, and how
long has the relevant export control been in force on the declaration date?

The controls a code is exposed to are those of the materials declared or hidden under it (the
controlled codes and the covers named in reporting) and, for any other code, those of the
controlled codes of its HS heading: the neighbouring subheading is the classic misdeclaration
(cerium compounds 2846.10 beside the rare-earth compounds of 2846.90, other magnets 8505.19 beside
NdFeB 8505.11), and a cover nobody has reported yet is often one. ``cover_hs`` stays the list
named in reporting; a neighbour is marked by its exposure alone (the time since the control)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from contraband.data import reference as ref
from contraband.data.keys import DAY0
from contraband.data.columns import Columns
from contraband.features.base import Family


def _relevant_measures() -> dict[str, list[str]]:
    """HS6 -> control measures of the materials declared under it or hidden under it."""
    mats = ref.controlled_materials()
    out: dict[str, set[str]] = {}
    for code, measure in zip(mats["hs_code"], mats["measure_id"]):
        out.setdefault(code, set()).add(measure)
    for _, row in ref.cover_goods().iterrows():
        for m in row["materials"].split(";"):
            out.setdefault(row["hs_code"], set()).add(mats.loc[m, "measure_id"])
    return {k: sorted(v) for k, v in out.items()}


class PolicyFeatures(Family):
    family = "policy"
    requires = ("hs_code", "declaration_date")
    increasing = ("controlled_hs", "cover_hs", "control_in_force")

    def _fit(self, frame: Columns):
        goods = ref.goods()
        self.controlled_codes_ = sorted(goods.index[goods["role"] == "controlled"])
        self.cover_codes_ = sorted(set(ref.cover_goods()["hs_code"]))
        self.measures_ = _relevant_measures()
        by_heading: dict[str, set[str]] = {}
        for code in self.controlled_codes_:
            by_heading.setdefault(code[:4], set()).update(self.measures_.get(code, ()))
        self.heading_measures_ = {h: sorted(m) for h, m in by_heading.items()}
        timeline = ref.control_timeline()
        self.timeline_ = {
            m: tuple(((timeline.loc[m, c] - DAY0).days if pd.notna(timeline.loc[m, c]) else None)
                     for c in ("effective_date", "suspended_from", "suspended_until"))
            for m in timeline.index
        }

    def _columns(self, frame: Columns):
        code6 = frame.hs(6)
        d = frame.days()
        since = np.full(frame.n, np.nan)
        in_force = np.zeros(frame.n)
        headings = getattr(self, "heading_measures_", {})  # (pipelines fitted before it have none)

        def measures(code: str):
            """The controls a code is exposed to: its own, or its heading's controlled codes'."""
            own = self.measures_.get(code)
            return own if own is not None else headings.get(str(code)[:4], ())

        for m, (start, s_from, s_until) in self.timeline_.items():
            rows = np.flatnonzero(code6.map(lambda c: m in measures(c), default=False, dtype=bool))
            if not len(rows):
                continue
            active = d[rows] >= start
            if s_from is not None:
                active &= ~((d[rows] >= s_from) & (d[rows] < s_until))
            since[rows] = np.fmin(since[rows], np.where(active, d[rows] - start, np.nan))  # most recent control
            in_force[rows] = np.maximum(in_force[rows], active)
        return {
            "controlled_hs": code6.isin(set(self.controlled_codes_)).astype("float64"),
            "cover_hs": code6.isin(set(self.cover_codes_)).astype("float64"),
            "days_since_control": since,
            "control_in_force": in_force,
        }
