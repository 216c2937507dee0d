"""Days of the world: trade seasonality and the smuggling pressure the control timeline creates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from contraband.data import reference as ref
from contraband.data.world.config import WorldConfig

#: relative smuggling demand per controlled material (heavy rare earths dominate the scenario)
MATERIAL_DEMAND = {
    "Dy2O3": 10, "Tb4O7": 8, "Y2O3": 5, "Gd2O3": 3, "Sm2O3": 2, "Lu2O3": 1, "Sc2O3": 2,
    "Dy-metal": 3, "Tb-metal": 3, "NdFeB-magnet": 8, "SmCo-magnet": 2, "DyFe-alloy": 2,
    "NdFeB-powder": 4, "Ho2O3": 2, "Er2O3": 1, "Eu2O3": 1, "Yb2O3": 1,
    "gallium": 5, "germanium": 3, "GeO2": 1, "Sb2O3": 5, "antimony": 2,
    "tungsten-powder": 1.5, "tungsten-concentrate": 1, "spherical-graphite": 1,
    "artificial-graphite": 1, "li-ion-pack": 1,
}
#: days for smuggling to build up after a control takes effect (licences take about 45 days)
RAMP_DAYS = 45.0
#: extra pressure in the first months after a control, when licences are scarcest
SURGE = 1.5
SURGE_DAYS = 120.0


def days(config: WorldConfig) -> pd.DatetimeIndex:
    return pd.date_range(config.start_date, config.end_date - pd.Timedelta(days=1), freq="D")


def trade_seasonality(day_index: pd.DatetimeIndex) -> np.ndarray:
    """Relative volume of declarations per day: weekly cycle, Chinese New Year dip, peak season."""
    weekday = np.where(day_index.day_of_week >= 5, 0.25, 1.0)
    doy = day_index.day_of_year.to_numpy()
    # Chinese New Year falls between 21 Jan and 20 Feb: factories close for about three weeks
    cny = 1.0 - 0.55 * np.exp(-0.5 * ((doy - 40) / 9.0) ** 2)
    peak = 1.0 + 0.2 * np.exp(-0.5 * ((doy - 255) / 35.0) ** 2)  # Aug-Oct peak shipping season
    trend = 1.0 + 0.04 * (np.arange(len(day_index)) / 365.0)
    return weekday * cny * peak * trend


def smuggling_pressure(day_index: pd.DatetimeIndex) -> tuple[np.ndarray, list[str]]:
    """Day x material matrix of relative smuggling intensity, and the material names.

    Zero before a material's control date and while its measure is suspended; it builds up over
    the licence delay after the control date, surges for a few months, then settles.
    """
    materials = [m for m in ref.controlled_materials().index if m in MATERIAL_DEMAND]
    out = np.zeros((len(day_index), len(materials)))
    for j, m in enumerate(materials):
        since = (day_index - ref.control_date(m)).days.to_numpy().astype(float)
        in_force = ref.material_controlled(m, day_index)
        ramp = np.clip(1.0 - np.exp(-np.maximum(since, 0) / RAMP_DAYS * 2.0), 0, 1)
        surge = 1.0 + (SURGE - 1.0) * np.exp(-np.maximum(since, 0) / SURGE_DAYS)
        out[:, j] = MATERIAL_DEMAND[m] * in_force * ramp * surge
    return out, materials
