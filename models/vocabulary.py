"""The analyst's words for every field a person is shown, in one table beside the reason templates
(:mod:`~contraband.models.reasons` names its weak signals with it).

The page, the evidence and the exports show these labels; the machine names stay in the data
(CSV headers, JSON keys) so that other systems keep reading them. A name not in the table is
read by its parts (an entity and a statistic: ``hs4_route_seizure_rate`` is "seizure rate of
this HS heading on this route"), and failing that shown with its underscores as spaces.
"""

from __future__ import annotations

#: declaration fields (the contract's), scores, lanes and outcomes
FIELDS = {
    "declaration_id": "declaration", "declaration_date": "date lodged", "hs_code": "HS code",
    "goods_description": "goods as declared", "origin_country": "origin", "export_country": "shipped from",
    "destination_country": "destination", "net_weight_kg": "net weight (kg)",
    "declared_value_usd": "declared value (USD)", "gross_weight_kg": "gross weight (kg)", "quantity": "quantity",
    "quantity_unit": "unit of quantity", "packages": "packages", "transit_countries": "transit through",
    "port_of_loading": "port of loading", "port_of_discharge": "port of discharge",
    "transport_mode": "mode of transport", "exporter_id": "exporter", "consignee_id": "consignee",
    "declarant_id": "declarant (broker)", "incoterm": "Incoterm",
    "risk_score": "risk score", "rank": "risk rank", "flagged": "flagged for inspection",
    "exploration": "exploration pick", "lane": "lane", "lane_source": "selected by", "lane_reason": "why this lane",
    "model_lane": "the model's own lane", "case_id": "case",
    "inspected": "inspected", "contraband_found": "contraband found", "material": "material found",
    "concealment": "how it was hidden", "hs_code_found": "HS code of what was found",
    "seized_quantity_kg": "quantity seized (kg)", "seized_value_usd": "value seized (USD)", "note": "note",
    "recorded_by": "recorded by", "recorded_at": "recorded at",
}

#: the evidence's measures against the HS norm
MEASURES = {"usd_per_kg": "declared value per kg", "usd_per_unit": "declared value per unit",
            "kg_per_unit": "weight per unit", "kg_per_package": "weight per package"}

#: the measures compared with the exporter's own earlier declarations of the code (features.trader)
OWN_MEASURES = {"kg_per_unit": "weight per unit", "kg_per_package": "gross weight per package",
                "gross_to_net": "gross-to-net weight ratio", "value": "declared value per kg"}

#: the features weak signals name most, beyond the entities' figures
FEATURES = {
    "value_vs_hs6": "declared value per kg against this HS code's usual",
    "value_vs_hs4": "declared value per kg against this HS heading's usual",
    "value_vs_hs2": "declared value per kg against this HS chapter's usual",
    "unit_value_vs_hs6": "value per unit against this HS code's usual",
    "kg_per_unit_vs_hs6": "weight per unit against this HS code's usual",
    "kg_per_package_vs_hs6": "weight per package against this HS code's usual",
    "kg_per_unit_over_reference": "weight per unit against the reference table",
    "value_z": "declared value per kg", "unit_value_z": "value per unit", "kg_per_unit_z": "weight per unit",
    "kg_per_package_z": "weight per package", "log_value_usd": "declared value",
    "kg_per_unit_excess": "weight per unit above its goods' usual",
    "description_vs_typical": "description against those usual for its HS code",
    "description_vs_hs_text": "description against the HS code's own text",
    "origin_not_export": "origin other than the country shipped from",
    "exporter_route_new": "a route new for this exporter",
    "exporter_hs6_new": "an HS code new for this exporter",
    "exporter_consignee_new": "a consignee new for this exporter",
    "exporter_hs6_prior_declarations": "earlier declarations of this HS code by this exporter",
    **{f"own_{m}_z": f"{words} against this exporter's own" for m, words in OWN_MEASURES.items()},
    **{f"own_{m}_excess": f"{words} above this exporter's own" for m, words in OWN_MEASURES.items()},
    **{f"own_{m}_share": f"share of this exporter's declarations of the code with a {words} near this one"
       for m, words in OWN_MEASURES.items()},
}

#: the entities whose history the features count, as an analyst names them
ENTITIES = {"exporter": "this exporter", "consignee": "this consignee", "declarant": "this declarant",
            "hs6": "this HS code", "route": "this route", "hs4_route": "this HS heading on this route"}
#: what is counted of each
STATISTICS = {"prior_declarations": "earlier declarations of", "prior_inspections": "earlier inspections of",
              "prior_seizures": "earlier seizures of", "seizure_rate": "seizure rate of",
              "age_days": "days since the first declaration of"}


def label(name: str) -> str:
    """The analyst's words for ``name`` (a field, a measure or a history feature)."""
    if name in FIELDS:
        return FIELDS[name]
    if name in MEASURES:
        return MEASURES[name]
    if name in FEATURES:
        return FEATURES[name]
    for statistic, words in STATISTICS.items():
        if name.endswith("_" + statistic) and name[: -len(statistic) - 1] in ENTITIES:
            return f"{words} {ENTITIES[name[: -len(statistic) - 1]]}"
    if name.startswith("x_"):
        return name[2:].replace("_", " ")
    return name.replace("_", " ")


def labels(names) -> dict[str, str]:
    return {n: label(n) for n in names}
