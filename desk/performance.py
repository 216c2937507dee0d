"""Live performance: what each lane and each source of decisions selected, inspected and found,
week by week, with the figures only the random control can give.

- per week, lane and source (model, rule, random control, override): declarations decided,
  inspections with a result, seizures, the hit rate (seizures per inspection) with its 95 %
  interval (Wilson);
- the prevalence: the share of the control's inspections that found contraband. The control is
  drawn blind to the score, so this estimates the share of all declarations that carry it;
- the model's recall: of the contraband the control found, the share the model alone would have
  sent to red or yellow by its rank (``model_pick``), an unbiased estimate of the share of all
  contraband the model's selection catches;
- the model against the rules on the same weeks: each one's hit rate;
- a supervisor's summary: the latest week against the one before, by lane and by source
  (inspections, seizures, seized kg and value, hit rate), and a sentence on what the control can
  and cannot tell yet;
- the latest retraining run: its cut-off, verdict and drift (:mod:`~contraband.desk.retrains`).

Weeks are ISO weeks of the declarations' days, named by their Monday.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import select

from contraband.data.keys import DAY0
from contraband.desk import schema as S
from contraband.desk.figures import wilson


def decided(engine) -> pd.DataFrame:
    """Every decision with its case's result: ``week``, ``lane``, ``source``, ``model_pick``,
    ``inspected`` (a result is recorded) and ``found``."""
    d, c = S.decisions, S.cases
    with engine.connect() as conn:
        rows = conn.execute(select(d.c.day, d.c.lane, d.c.source, d.c.model_pick, c.c.contraband_found,
                                   c.c.seized_quantity_kg, c.c.seized_value_usd).select_from(
            d.outerjoin(c, c.c.declaration_id == d.c.declaration_id))).all()
    frame = pd.DataFrame(rows, columns=["day", "lane", "source", "model_pick", "contraband_found", "seized_quantity_kg",
                                        "seized_value_usd"])
    dates = DAY0 + pd.to_timedelta(frame["day"].astype(np.int64), unit="D")
    frame["week"] = (dates - pd.to_timedelta(dates.dt.day_of_week, unit="D")).dt.strftime("%Y-%m-%d")
    found = pd.to_numeric(frame["contraband_found"], errors="coerce")
    frame["inspected"] = found.notna()
    frame["contraband_found"] = found.fillna(0).astype(np.int64)
    frame["model_pick"] = frame["model_pick"].astype(bool)
    for name in ("seized_quantity_kg", "seized_value_usd"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").fillna(0.0).where(frame["contraband_found"] == 1, 0.0)
    return frame


def _rate(k: int, n: int) -> dict:
    rate, low, high = wilson(k, n)
    return {"rate": rate, "low": low, "high": high}


def _counts(part: pd.DataFrame) -> dict:
    inspected = int(part["inspected"].sum())
    seizures = int(part.loc[part["inspected"], "contraband_found"].sum())
    return {"declarations": len(part), "inspections": inspected, "seizures": seizures,
            "hit_rate": _rate(seizures, inspected), "seized_kg": float(part["seized_quantity_kg"].sum()),
            "seized_usd": float(part["seized_value_usd"].sum())}


def _week_against_last(frame: pd.DataFrame) -> dict:
    """The latest week with decisions against the week before, by lane and by source."""
    weeks = sorted(frame["week"].unique())
    if not weeks:
        return {"week": None, "last_week": None, "by_lane": [], "by_source": []}
    this = weeks[-1]
    last = f"{pd.Timestamp(this) - pd.Timedelta(days=7):%Y-%m-%d}"
    out = {"week": this, "last_week": last}
    for key, values in (("lane", ("red", "yellow", "green")), ("source", ("model", "rule", "control", "override"))):
        rows = []
        for value in values:
            mine = frame[frame[key] == value]
            rows.append({key: value, "this_week": _counts(mine[mine["week"] == this]),
                         "last_week": _counts(mine[mine["week"] == last])})
        out[f"by_{key}"] = rows
    return out


#: control seizures wanted before the model's recall is read (about +-20 points at 95 %)
RECALL_SEIZURES = 20


def control_sentence(inspections: int, seizures: int, recall_seizures: int = RECALL_SEIZURES) -> str:
    """What the random control can and cannot tell yet, in one sentence."""
    if inspections == 0:
        return ("The random control has no inspection with a result yet: it cannot tell the prevalence or the "
                "model's recall.")
    rate, low, high = wilson(seizures, inspections)
    if seizures == 0:
        need = int(np.ceil(recall_seizures / high))
        return (f"The random control found nothing in {inspections:,} inspections: contraband is rarer than "
                f"{high:.1%} of declarations (95 %), and the model's recall cannot be read until the control has "
                f"seized some; at that rate about {need:,} control inspections would find {recall_seizures}, "
                "more at a lower one.")
    prevalence = f"{rate:.1%} of declarations (95 % interval {low:.1%} to {high:.1%})"
    if seizures < recall_seizures:
        need = int(np.ceil(recall_seizures / rate)) - inspections
        return (f"The random control found {seizures:,} seizures in {inspections:,} inspections: contraband is in "
                f"about {prevalence}. The model's recall rests on {seizures:,} seizures only; about {need:,} more "
                f"control inspections would give {recall_seizures}.")
    return (f"The random control found {seizures:,} seizures in {inspections:,} inspections: contraband is in about "
            f"{prevalence}, and the model's recall below is read from those {seizures:,} seizures.")


def performance(engine) -> dict:
    """The figures above, from what the store holds now, with the latest retraining run's
    verdict and drift figures."""
    from contraband.desk.retrains import latest

    frame = decided(engine)
    weekly = [{"week": week, "lane": lane, "source": source, **_counts(part)}
              for (week, lane, source), part in frame.groupby(["week", "lane", "source"], sort=True)]
    by_source = {source: _counts(part) for source, part in frame.groupby("source", sort=True)}
    by_lane = {lane: _counts(part) for lane, part in frame.groupby("lane", sort=True)}
    control = frame[(frame["source"] == "control") & frame["inspected"]]
    found = control[control["contraband_found"] == 1]
    comparison = []
    for week, part in frame.groupby("week", sort=True):
        shown = {"week": week}
        for source in ("model", "rule"):
            mine = part[(part["source"] == source) & part["inspected"]]
            shown[source] = {"inspections": len(mine), "seizures": int(mine["contraband_found"].sum()),
                             **_rate(int(mine["contraband_found"].sum()), len(mine))}
        comparison.append(shown)
    return {
        "declarations": len(frame),
        "summary": _week_against_last(frame),
        "weekly": weekly,
        "by_source": by_source,
        "by_lane": by_lane,
        "control": {"inspections": len(control), "seizures": len(found),
                    "in_words": control_sentence(len(control), len(found)),
                    "prevalence": _rate(len(found), len(control)),
                    "model_recall": _rate(int(found["model_pick"].sum()), len(found))},
        "model_against_rules": comparison,
        "latest_retrain": latest(engine),
    }
