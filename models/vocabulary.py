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
    "model_lane": "the model's own lane", "case_id": "case", "reasons": "reasons",
    "route": "route", "state": "state", "day": "date lodged",
    "why": "why this lane", "source": "selected by",
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
    "round_value": "a declared value in round hundreds",
    "log_net_weight_kg": "net weight", "gross_to_net": "gross-to-net weight ratio",
    "gross_to_net_z": "gross-to-net weight ratio against this HS code's usual",
    "deviation_score": "value and weights together against this HS code's usual",
    "loading_port_not_export": "a port of loading outside the country shipped from",
    "loading_port_unstated": "no port of loading stated",
    "loading_port_in_transit": "a port of loading in a transit country",
    "discharge_port_not_destination": "a port of discharge outside the destination country",
    "incoterm_mode_misfit": "an Incoterm that does not fit the mode of transport",
    "unit_misfit": "a quantity unit other than the one its HS code is counted in",
    "export_from_hub": "shipped from a transshipment hub",
    "hub_origin_shipped_from_china": "an origin in a transshipment hub, shipped from China",
    "transit_hubs": "transshipment hubs on the route", "transit_countries_count": "transit countries on the route",
    "exporter_declarations_30d": "declarations of this exporter in the last 30 days",
    "exporter_hs4_diversity": "HS headings this exporter has declared",
    "consignee_exporters": "exporters this consignee has received from",
    "consignee_network_seizures": "seizures of the exporters this consignee received from",
    "exporter_network_seizures": "seizures of the consignees this exporter shipped to",
    "declarant_new_exporters_90d": "exporters new to this declarant in the last 90 days",
    "declarant_new_exporter_share": "share of this declarant's declarations from exporters new to it",
    "route_new_exporters_90d": "exporters new to this route in the last 90 days",
    "route_new_exporter_share": "share of this route's declarations from exporters new to it",
    "vague_description": "a vague goods description", "description_words": "words in the goods description",
    "anomaly_score": "an unusual combination of value, weights, route and description",
}

#: features that are yes or no: named only when yes, in their own words, with no figure
FLAGS = frozenset({"round_value", "loading_port_not_export", "loading_port_unstated", "loading_port_in_transit",
                   "discharge_port_not_destination", "incoterm_mode_misfit", "unit_misfit", "export_from_hub",
                   "hub_origin_shipped_from_china", "vague_description", "origin_not_export", "exporter_route_new",
                   "exporter_hs6_new", "exporter_consignee_new"})
#: features named without a figure (a model's own summary, not a measure an analyst can check)
NO_FIGURE = frozenset({"anomaly_score"})

#: the entities whose history the features count, as an analyst names them
ENTITIES = {"exporter": "this exporter", "consignee": "this consignee", "declarant": "this declarant",
            "hs6": "this HS code", "route": "this route", "hs4_route": "this HS heading on this route"}
#: what is counted of each
STATISTICS = {"prior_declarations": "earlier declarations of", "prior_inspections": "earlier inspections of",
              "prior_seizures": "earlier seizures of", "seizure_rate": "seizure rate of",
              "age_days": "days since the first declaration of"}


def described(name: str) -> bool:
    """Whether ``name`` has words of its own (a field, a measure or a feature the table names), not
    a guess from its parts."""
    return name in FIELDS or name in MEASURES or name in FEATURES or any(
        name.endswith("_" + statistic) and name[: -len(statistic) - 1] in ENTITIES for statistic in STATISTICS)


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
