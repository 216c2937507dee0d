"""The desk's words: lanes, where a decision came from, case states and the outcome fields, each
with the label an analyst reads (the page, the CSV exports and the API's descriptions use these)."""

from __future__ import annotations

from contraband.models.vocabulary import labels

#: inspection lanes: physical examination, documentary check, release
LANES = {"red": "red: physical examination", "yellow": "yellow: documentary check", "green": "green: release"}
#: the lanes a case is opened for (green is released without one)
INSPECTED_LANES = ("red", "yellow")

#: where a lane decision came from
SOURCES = {
    "model": "the model's risk rank",
    "rule": "an analyst's rule",
    "control": "the random control",
    "override": "an analyst's override",
}

#: a case's life: opened by a selection, inspected when its outcome is recorded, then closed
STATES = {"open": "open: waiting for inspection", "inspected": "inspected: outcome recorded",
          "closed": "closed"}

#: how contraband was hidden, when it was found
CONCEALMENTS = {
    "in_goods": "in the goods (mixed in, inside articles)",
    "in_packaging": "in the packaging",
    "false_description": "false description of the goods",
    "false_origin": "false origin",
}

#: an inspection outcome recorded from the queue: field -> label (the one vocabulary table's)
OUTCOME_FIELDS = labels(("contraband_found", "material", "concealment", "hs_code_found", "seized_quantity_kg",
                         "seized_value_usd", "note"))
