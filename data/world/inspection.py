"""Selective labels: which declarations get inspected, and what the inspection finds.

A customs unit inspects a few percent of declarations: a small random share, plus picks by the
risk rules it already has (cover-good HS codes, hub routes, unit values far from the norm, new
exporters, express consignments). Another unit may rely on declared value and weight alone, or
inspect at random only (``WorldConfig.inspection_policy``). Rules see only declared fields.
Only inspected rows carry an outcome; an inspection of a contraband shipment finds it with
probability ``detection_rate``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contraband.data import reference as ref


#: the cover goods became known to targeting units with the MSS report of 18 July 2025
COVER_GOODS_KNOWN = pd.Timestamp("2025-07-18")


def _value_against_reference(frame: pd.DataFrame):
    """HS6 codes, declared USD/kg and the reference range's low and high USD/kg of each row."""
    goods = ref.goods()
    hs6 = frame["hs_code"].astype("str").str[:6]
    low = hs6.map(goods["usd_per_kg_low"]).to_numpy(float)
    high = hs6.map(goods["usd_per_kg_high"]).to_numpy(float)
    usd_kg = frame["declared_value_usd"].to_numpy(float) / np.maximum(frame["net_weight_kg"].to_numpy(float), 1e-3)
    return hs6, usd_kg, low, high


def rule_score(frame: pd.DataFrame, exporter_age_days: np.ndarray) -> np.ndarray:
    """The legacy rule score a targeting unit would use (declared fields only)."""
    goods = ref.goods()
    controlled_codes = set(goods.index[goods["role"] == "controlled"])
    cover_codes = set(ref.cover_goods()["hs_code"])
    hubs = ref.hub_countries()
    hs6, usd_kg, low, high = _value_against_reference(frame)
    known = (frame["declaration_date"] >= COVER_GOODS_KNOWN).to_numpy()
    cover = hs6.isin(controlled_codes).to_numpy() | (hs6.isin(cover_codes).to_numpy() & known)
    via_hub = frame["transit_countries"].astype("str").str.contains("|".join(hubs)).fillna(False).astype(bool)
    hub = (frame["export_country"].isin(hubs) | via_hub).to_numpy()
    value_odd = (usd_kg < low / 3) | (usd_kg > high * 3)
    new = exporter_age_days < 90
    express = frame["transport_mode"].isin(["courier", "post"]).to_numpy()
    return 1.4 * cover + 0.7 * hub + 0.8 * value_odd + 0.6 * new + 0.4 * express


def value_rule_score(frame: pd.DataFrame) -> np.ndarray:
    """Another unit's rules: declared value and weight per unit against the reference norms only."""
    hs6, usd_kg, low, high = _value_against_reference(frame)
    value_odd = np.log(np.maximum(low / usd_kg, usd_kg / high))
    kg_unit = frame["net_weight_kg"].to_numpy(float) / np.maximum(frame["quantity"].to_numpy(float), 1e-3)
    per_unit = frame["quantity_unit"].astype("str").to_numpy() != "KG"
    heavy = per_unit & (kg_unit > 1.3 * hs6.map(ref.goods()["kg_per_unit_high"]).to_numpy(float))
    return 1.2 * np.clip(np.nan_to_num(value_odd, nan=0.0), 0, 3) + 1.5 * heavy


def _scale_to(target: float, weight: np.ndarray) -> np.ndarray:
    """Probabilities min(1, c * weight) summing to ``target`` (bisection on c)."""
    lo, hi = 0.0, target / weight.sum() * 1e6
    for _ in range(60):
        c = 0.5 * (lo + hi)
        if np.minimum(1.0, c * weight).sum() > target:
            hi = c
        else:
            lo = c
    return np.minimum(1.0, lo * weight)


def inspect(rng: np.random.Generator, frame: pd.DataFrame, exporter_age_days: np.ndarray,
            truth: np.ndarray, truth_value: np.ndarray, rate: float, random_share: float,
            detection_rate: float, policy: str = "rules") -> dict[str, pd.Series]:
    """``policy``: "rules" (the legacy rule score), "value" (declared value and weight only) or
    "random" (every inspection at random)."""
    n = len(frame)
    if policy == "random":
        random_share = 1.0
    random_pick = rng.random(n) < rate * random_share
    score = value_rule_score(frame) if policy == "value" else rule_score(frame, exporter_age_days)
    weight = np.exp(1.2 * score)
    targeted = rng.random(n) < _scale_to(rate * (1 - random_share) * n, weight)
    inspected = random_pick | targeted
    found = inspected & truth.astype(bool) & (rng.random(n) < detection_rate)
    contraband = pd.array(np.where(inspected, found.astype(np.int8), 0), dtype="Int8")
    contraband[~inspected] = pd.NA
    seized = pd.array(np.where(found, truth_value, 0.0), dtype="Float64")
    seized[~inspected] = pd.NA
    return {
        "inspected": pd.Series(pd.array(inspected.astype(np.int8), dtype="Int8"), index=frame.index),
        "contraband": pd.Series(contraband, index=frame.index),
        "seized_value_usd": pd.Series(seized, index=frame.index),
    }
