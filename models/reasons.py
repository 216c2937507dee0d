"""Reasons in the analyst's words, from the model's own per-feature contributions.

For a scored row, contributions are grouped by feature family; the (up to) three families that
pushed the risk up the most each give one reason, worded from the family's strongest feature and
the row's own evidence: "declared 212 USD/kg is 40x the median for HS 3810.10 (soldering ...)",
"routed CN -> TH -> US", "exporter first seen 12 days ago".
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pandas as pd

from contraband.data import reference as ref

MAX_REASONS = 3
#: the declaration fields reasons quote
RECORD_COLUMNS = ("hs_code", "goods_description", "origin_country", "export_country", "transit_countries",
                  "destination_country", "transport_mode", "quantity_unit", "declared_value_usd", "net_weight_kg",
                  "incoterm")
#: for a row inside the budget whose risk is no higher than the average declaration's
NO_EVIDENCE = "no single strong signal: inside the budget on the sum of weak ones"


def _hs(code: str) -> str:
    code = str(code)
    return f"{code[:4]}.{code[4:6]}" if len(code) >= 6 else code


@lru_cache(maxsize=4096)
def _hs_label(code: str) -> str:
    """'HS 3810.10 (solder paste SAC305)': the goods as traders name them where the reference
    table knows the code, else the start of the HS 2022 description."""
    goods = ref.goods()
    code6 = str(code)[:6]
    if code6 in goods.index:
        short = goods.at[code6, "goods_descriptions"].split("|")[0]
    else:
        short = (ref.hs_description(code6) or "").split(";")[0].split(",")[0].strip().lower()
    return f"HS {_hs(code)}" + (f" ({short[:40]})" if short else "")


def _num(x: float) -> str:
    if x is None or not math.isfinite(x):
        return "?"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _times(log_ratio: float) -> str:
    r = math.exp(log_ratio)
    return f"{r:.0f}x" if r >= 10 else f"{r:.1f}x" if r >= 1 else f"1/{1 / r:.0f}" if r <= 0.1 else f"{r:.2f}x"


def _route(row: pd.Series) -> str:
    parts = [row.get("origin_country"), row.get("export_country")]
    transit = row.get("transit_countries")
    if isinstance(transit, str) and transit:
        parts += transit.split(";")
    parts.append(row.get("destination_country"))
    out = []
    for p in parts:
        if isinstance(p, str) and p and (not out or out[-1] != p):
            out.append(p)
    return " -> ".join(out)


def _unit(row) -> str:
    return {"M2": "m2", "L": "litre", "PCS": "piece", "PR": "pair", "SET": "set", "KG": "kg"}.get(
        str(row.get("quantity_unit")), "unit")


def describe(feature: str, f, row) -> str:
    """One reason for one row, from its strongest feature in a family."""
    code = row.get("hs_code", "")
    if feature in ("value_vs_hs6", "value_vs_hs4", "value_vs_hs2", "usd_per_kg", "log_value_usd"):
        lr = f.get("value_vs_hs6", np.nan)
        if math.isfinite(lr):
            side = "above" if lr > 0 else "below"
            return f"declared {_num(f['usd_per_kg'])} USD/kg is {_times(abs(lr))} {side} the median for {_hs_label(code)}"
        return f"declared {_num(f.get('usd_per_kg', np.nan))} USD/kg for {_hs_label(code)}"
    if feature in ("unit_value_vs_hs6", "usd_per_unit"):
        return f"declared {_num(f.get('usd_per_unit', np.nan))} USD per {_unit(row)} is {_times(abs(f.get('unit_value_vs_hs6', 0.0)))} the usual for {_hs_label(code)}"
    if feature == "round_value":
        return f"round declared value of {_num(row.get('declared_value_usd', np.nan))} USD"
    if feature in ("kg_per_unit", "kg_per_unit_vs_hs6", "kg_per_unit_over_reference"):
        lr = f.get("kg_per_unit_vs_hs6", np.nan)
        usual = f.get("kg_per_unit", np.nan) / math.exp(lr) if math.isfinite(lr) else np.nan
        return f"{_num(f.get('kg_per_unit', np.nan))} kg per {_unit(row)} where {_hs_label(code)} usually weighs {_num(usual)}"
    if feature in ("kg_per_package", "kg_per_package_vs_hs6"):
        return f"{_num(f.get('kg_per_package', np.nan))} kg per package, unusual for {_hs_label(code)}"
    if feature == "gross_to_net":
        return f"gross weight {_num(f.get('gross_to_net', np.nan))}x the net weight"
    if feature == "log_net_weight_kg":
        return f"net weight {_num(row.get('net_weight_kg', np.nan))} kg is unusual for {_hs_label(code)}"
    if feature in ("origin_not_export", "hub_origin_shipped_from_china"):
        return f"declared origin {row.get('origin_country')} but shipped from {row.get('export_country')}"
    if feature in ("export_from_hub", "transit_hubs", "transit_countries_count", "origin_country",
                   "export_country", "destination_country"):
        return f"routed {_route(row)}"
    if feature == "transport_mode":
        return f"sent by {row.get('transport_mode')}"
    if feature in ("exporter_age_days", "exporter_prior_declarations", "exporter_declarations_30d"):
        age = f.get("exporter_age_days", np.nan)
        if not np.isfinite(age) and not np.isfinite(f.get("exporter_prior_declarations", np.nan)):
            return "no exporter declared"
        if f.get("exporter_prior_declarations", 1) == 0 or not np.isfinite(age):
            return "exporter never seen before"
        if feature != "exporter_declarations_30d" or age < 90:
            return f"exporter first seen {age:.0f} days ago"
        return f"exporter lodged {f[feature]:.0f} declarations in the last 30 days"
    if feature in ("consignee_age_days", "consignee_prior_declarations"):
        age = f.get("consignee_age_days", np.nan)
        if not np.isfinite(age) and not np.isfinite(f.get("consignee_prior_declarations", np.nan)):
            return "no consignee declared"
        if f.get("consignee_prior_declarations", 1) == 0 or not np.isfinite(age):
            return "consignee never seen before"
        return f"consignee first seen {age:,.0f} days ago"
    if feature == "exporter_route_new":
        return f"route {_route(row)} is new for this exporter"
    if feature == "exporter_hs4_diversity":
        return f"exporter has traded {f[feature]:.0f} different HS headings"
    if feature == "consignee_exporters":
        return f"consignee received goods from {f[feature]:.0f} different exporters"
    for entity in ("exporter", "consignee", "declarant", "hs6", "route", "hs4_route"):
        if feature.startswith(entity + "_"):
            seizures = math.expm1(f.get(f"{entity}_prior_seizures", 0.0))
            inspections = math.expm1(f.get(f"{entity}_prior_inspections", 0.0))
            name = {"hs6": f"HS {_hs(code)}", "route": f"route {_route(row)}",
                    "hs4_route": f"route {_route(row)} for HS heading {str(code)[:4]}"}.get(entity, entity)
            if seizures >= 0.5:
                return f"{name} linked to {seizures:.0f} earlier seizures in {inspections:.0f} inspections"
            return f"{name} has {math.expm1(f.get(f'{entity}_prior_declarations', 0.0)):.0f} earlier declarations, {inspections:.0f} inspected"
    if feature in ("description_vs_hs_text", "description_vs_typical", "description_words"):
        return f"description '{row.get('goods_description')}' does not fit {_hs_label(code)}"
    if feature == "vague_description":
        return f"vague description '{row.get('goods_description')}'"
    if feature in ("controlled_hs", "control_in_force"):
        return f"{_hs_label(code)} is a controlled-material code"
    if feature == "cover_hs":
        return f"{_hs_label(code)} is a cover good named in rare-earth smuggling reports"
    if feature == "days_since_control":
        return f"declared {f[feature]:.0f} days after the export control on this material took effect"
    if feature == "anomaly_score":
        return "unusual combination of weight, value and route for this trade"
    if feature in ("hs2", "hs4"):
        return f"{_hs_label(code)} carries risk"
    if feature.startswith("x_") or feature == "incoterm":
        return f"{feature.removeprefix('x_').replace('_', ' ')} = {row.get(feature)}"
    return f"{feature.replace('_', ' ')} = {f.get(feature)}"


def record_columns(records) -> list[str]:
    """The declaration fields reasons quote that ``records`` (a frame or Columns) has."""
    names = records.names if hasattr(records, "names") else records.columns
    return [c for c in RECORD_COLUMNS if c in names] + [c for c in names if c.startswith("x_")]


def reasons(contributions: np.ndarray, feature_names: list[str], feature_family: dict[str, str],
            features: dict[str, np.ndarray], records: dict[str, np.ndarray], max_reasons: int = MAX_REASONS) -> list[list[str]]:
    """Up to ``max_reasons`` reasons per row, strongest family first (positive pushes only).

    ``features`` holds the rows' feature values by name, ``records`` the same rows' declaration
    fields by name (object arrays)."""
    families = sorted(set(feature_family.get(n, "other") for n in feature_names))
    fam_index = np.array([families.index(feature_family.get(n, "other")) for n in feature_names])
    indicator = np.zeros((len(feature_names), len(families)))
    indicator[np.arange(len(feature_names)), fam_index] = 1.0
    by_family = contributions @ indicator
    # each family's strongest feature, for every row at once
    best = np.zeros_like(by_family, dtype=np.int64)
    for fam in range(len(families)):
        members = np.flatnonzero(fam_index == fam)
        best[:, fam] = members[np.argmax(contributions[:, members], axis=1)]
    strongest = np.argsort(-by_family, axis=1)[:, :max_reasons]
    rows = np.arange(len(by_family))[:, None]
    chosen = best[rows, strongest]
    positive = by_family[rows, strongest] > 0
    feats = _Columns(features)
    recs = _Columns(records)
    out = []
    for i in range(len(by_family)):
        f, r = feats.row(i), recs.row(i)
        texts = [describe(feature_names[j], f, r) for j, ok in zip(chosen[i], positive[i]) if ok]
        out.append(texts or [NO_EVIDENCE])
    return out


class _Columns:
    """Column arrays read one row at a time without building a pandas row (or a dict) per row."""

    def __init__(self, columns: dict[str, np.ndarray]):
        self.columns = columns

    def row(self, i: int) -> "_Row":
        return _Row(self.columns, i)


class _Row:
    __slots__ = ("columns", "i")

    def __init__(self, columns, i):
        self.columns, self.i = columns, i

    def get(self, name, default=None):
        col = self.columns.get(name)
        return default if col is None else col[self.i]

    def __getitem__(self, name):
        return self.columns[name][self.i]
