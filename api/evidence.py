"""One declaration's evidence, as an analyst checks it before an inspection.

Read from the fitted pipeline's own features for the stored declaration, as of the day before
it (the same point-in-time view scoring used): declared value and weight ratios beside the
medians learned for its HS code in training, the reference table's row for the code, the
traders' and route's history (counts of declarations, inspections and seizures, seizure rates, ages), and the inspection outcomes recorded for it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contraband.data import reference as ref
from contraband.data.keys import day_numbers
from contraband.models.vocabulary import ENTITIES, label, labels

#: (feature, its log-ratio to the HS norm, unit): the norm is the feature / exp(log-ratio)
NORMS = (("usd_per_kg", "value_vs_hs6", "USD/kg"), ("usd_per_unit", "unit_value_vs_hs6", "USD/unit"),
         ("kg_per_unit", "kg_per_unit_vs_hs6", "kg/unit"), ("kg_per_package", "kg_per_package_vs_hs6", "kg/package"))
HISTORY_FAMILY = "entities"
#: history features the pipeline keeps as log(1 + count): shown as counts
LOG_COUNTS = ("_prior_declarations", "_prior_inspections", "_prior_seizures")
#: history features that are smoothed estimates, not facts: never shown as figures (their counts are)
SMOOTHED = ("_seizure_rate",)


def _number(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _jsonable(record: dict) -> dict:
    out = {}
    for k, v in record.items():
        if isinstance(v, pd.Timestamp):
            out[k] = f"{v:%Y-%m-%d}"
        elif v is None or (isinstance(v, float) and not np.isfinite(v)) or (not isinstance(v, str) and pd.isna(v)):
            out[k] = None
        elif isinstance(v, (np.integer, np.floating, np.bool_)):
            out[k] = v.item()
        else:
            out[k] = v
    return out


def evidence(detector, store, declaration_id: str) -> dict | None:
    frame = store.declarations(ids=[declaration_id])
    if not len(frame):
        return None
    frame = frame.reset_index(drop=True)
    features = detector.features_.columns(frame, store)
    norms = []
    for name, vs, unit in NORMS:
        if name not in features or vs not in features:
            continue
        declared, log_ratio = _number(features[name][0]), _number(features[vs][0])
        norm = None if declared is None or log_ratio is None else declared / float(np.exp(log_ratio))
        norms.append({"measure": name, "unit": unit, "declared": declared, "hs_norm": norm,
                      "ratio": None if log_ratio is None else float(np.exp(log_ratio))})
    family = detector.features_.families_.get(HISTORY_FAMILY)
    history = {c: _number(features[c][0]) for c in (family.feature_names_out_ if family is not None else [])
               if c in features}
    history = {c: (round(float(np.expm1(v))) if v is not None and c.endswith(LOG_COUNTS) else v)
               for c, v in history.items() if not c.endswith(SMOOTHED)}
    goods = ref.goods()
    code6 = str(frame.at[0, "hs_code"])[:6]
    reference = _jsonable(goods.loc[code6].to_dict()) if code6 in goods.index else None
    from contraband.api.outcomes import shaped, with_current

    outcomes = with_current(store.outcomes(ids=[declaration_id], all_versions=True))
    declaration = _jsonable(frame.iloc[0].to_dict())
    shown = [*declaration, *history, *(n["measure"] for n in norms)]
    seized = store.seizures_linked({k: frame.at[0, k] for k in ("exporter_id", "consignee_id", "declarant_id")},
                                   before_day=int(day_numbers(frame["declaration_date"])[0]))
    return {"declaration_id": declaration_id, "declaration": declaration,
            "norms": [{**n, "label": label(n["measure"])} for n in norms], "reference": reference,
            "history": history, "outcomes": shaped(outcomes), "labels": labels(shown),
            "history_in_words": in_words(history),
            "earlier_seizures": [_jsonable(r) for r in seized.to_dict("records")]}


def in_words(history: dict) -> list[str]:
    """The history's figures as an analyst reads them, one sentence per entity: "this exporter:
    14 earlier declarations, 2 seizures in 3 earlier inspections, first seen 200 days before"."""
    out = []
    for entity, words in ENTITIES.items():
        declarations, inspections, seizures = (history.get(f"{entity}_prior_{s}")
                                               for s in ("declarations", "inspections", "seizures"))
        if declarations is None and inspections is None:
            continue
        parts = []
        if declarations is not None:
            parts.append("no earlier declaration" if not declarations else
                         f"{declarations:,} earlier declaration{'s' if declarations != 1 else ''}")
        if inspections is not None:
            parts.append("never inspected" if not inspections else
                         f"{seizures or 0:,} seizure{'s' if seizures != 1 else ''} in {inspections:,} "
                         f"earlier inspection{'s' if inspections != 1 else ''}")
        age = history.get(f"{entity}_age_days")
        if age is not None and declarations:
            parts.append(f"first seen {age:,.0f} days before")
        out.append(f"{words}: {', '.join(parts)}")
    return out
