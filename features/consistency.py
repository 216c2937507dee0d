"""Consistency features: does the declaration contradict itself?

- the port of loading's country (the first two letters of its UN/LOCODE) against the declared
  export country, and against every country the declaration names (origin, export, transit): goods
  "exported from Thailand" but loaded at Shanghai;
- the port of loading inside a declared transit country (loaded at the hub the goods only passed);
- the port of discharge's country against the destination;
- the Incoterm against the transport mode (FAS, FOB, CFR and CIF are for sea and inland waterway
  transport only: Incoterms 2020);
- the quantity unit against the unit the HS code is declared in (tiles in kilograms instead of
  square metres hide an impossible weight per m2); the usual unit of each HS6 code is learned
  from the training window, else taken from the reference table.

Packages against weight are in the ``deviation`` family (kg per package for the HS code and
transport mode), the description against the HS code in ``text``. A check whose fields are
missing gives NaN, not a contradiction.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from contraband.data import reference as ref
from contraband.data.columns import Columns
from contraband.data.contract import SEA_ONLY_INCOTERMS
from contraband.data.keys import combine
from contraband.features.base import Family
from contraband.features.route import same

#: each check and the fields it needs
CHECKS = (
    ("ports", ("port_of_loading", "export_country")),
    ("discharge", ("port_of_discharge", "destination_country")),
    ("incoterm", ("incoterm", "transport_mode")),
    ("unit", ("quantity_unit",)),
)
_LOCODE = re.compile(r"^([A-Z]{2})\s?[A-Z2-9]{3}$")


def locode_country(port: str) -> str | None:
    """The country of a UN/LOCODE ('CNSHA' -> 'CN'); None for anything that is not one."""
    match = _LOCODE.match(port.strip().upper())
    return match.group(1) if match else None


class ConsistencyFeatures(Family):
    family = "consistency"
    requires = ("hs_code",)
    increasing = ("loading_port_not_export", "loading_port_unstated", "loading_port_in_transit",
                  "discharge_port_not_destination", "incoterm_mode_misfit", "unit_misfit")

    def __init__(self, min_rows: int = 20):
        self.min_rows = min_rows

    @staticmethod
    def _checks(frame: Columns) -> list[str]:
        """The checks whose fields the declarations carry."""
        return [name for name, needs in CHECKS if all(frame.has(c) for c in needs)]

    def _active(self, frame: Columns) -> bool:
        return super()._active(frame) and bool(self._checks(frame))

    def _fit(self, frame: Columns):
        self.checks_ = self._checks(frame)
        self.usual_unit_ = {}
        if "unit" in self.checks_:
            goods = ref.goods()
            self.usual_unit_ = dict(zip(goods.index, goods["unit"]))
            pairs = pd.DataFrame({"hs6": frame.hs(6).rows(), "unit": frame.coded("quantity_unit").rows()}).dropna()
            counts = pairs.value_counts().reset_index(name="n")
            counts = counts[counts["n"] > 0]
            totals = counts.groupby("hs6")["n"].sum()
            top = counts.sort_values("n", ascending=False, kind="stable").drop_duplicates("hs6")
            for code, unit, n in zip(top["hs6"], top["unit"], top["n"]):
                if totals[code] >= self.min_rows and n >= 0.5 * totals[code]:
                    self.usual_unit_[str(code)] = str(unit)

    def _names(self, frame: Columns) -> list[str]:
        names = []
        if "ports" in self.checks_:
            names += ["loading_port_not_export", "loading_port_unstated", "loading_port_in_transit"]
        if "discharge" in self.checks_:
            names.append("discharge_port_not_destination")
        if "incoterm" in self.checks_:
            names.append("incoterm_mode_misfit")
        if "unit" in self.checks_:
            names.append("unit_misfit")
        return names

    def _columns(self, frame: Columns):
        out = {}
        if "ports" in self.checks_:
            loading = frame.coded("port_of_loading").derive(locode_country)
            known = loading.codes >= 0
            export = frame.coded("export_country")
            stated = same(loading, export) | same(loading, frame.coded("origin_country"))
            transit = frame.coded("transit_countries")
            in_transit = self._in_list(loading, transit)
            out["loading_port_not_export"] = np.where(known & (export.codes >= 0), (~same(loading, export)).astype(float), np.nan)
            out["loading_port_unstated"] = np.where(known, (~(stated | in_transit)).astype(float), np.nan)
            out["loading_port_in_transit"] = np.where(known, in_transit.astype(float), np.nan)
        if "discharge" in self.checks_:
            discharge = frame.coded("port_of_discharge").derive(locode_country)
            destination = frame.coded("destination_country")
            known = (discharge.codes >= 0) & (destination.codes >= 0)
            out["discharge_port_not_destination"] = np.where(known, (~same(discharge, destination)).astype(float), np.nan)
        if "incoterm" in self.checks_:
            incoterm, mode = frame.coded("incoterm"), frame.coded("transport_mode")
            sea_only = incoterm.map(lambda v: v.upper() in SEA_ONLY_INCOTERMS, default=False, dtype=bool)
            not_sea = mode.map(lambda v: v != "sea", default=False, dtype=bool)
            known = (incoterm.codes >= 0) & (mode.codes >= 0)
            out["incoterm_mode_misfit"] = np.where(known, (sea_only & not_sea).astype(float), np.nan)
        if "unit" in self.checks_:
            unit = frame.combined("hs6", "quantity_unit", sep="|")
            usual = self.usual_unit_

            def misfit(key: str) -> float:
                code, _, declared = key.partition("|")
                expected = usual.get(code)
                return np.nan if expected is None or not declared else float(declared != expected)

            out["unit_misfit"] = unit.map(misfit)
        return out

    @staticmethod
    def _in_list(country, listed) -> np.ndarray:
        """Row-wise: ``country`` is one of the ';'-separated countries of ``listed``."""
        pairs = combine(country, listed, sep="|", require_all=True)
        return pairs.map(lambda p: p.split("|")[0] in p.split("|")[1].split(";"), default=False, dtype=bool)
