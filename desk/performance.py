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
        rows = conn.execute(select(d.c.day, d.c.lane, d.c.source, d.c.model_pick, c.c.contraband_found).select_from(
            d.outerjoin(c, c.c.declaration_id == d.c.declaration_id))).all()
    frame = pd.DataFrame(rows, columns=["day", "lane", "source", "model_pick", "contraband_found"])
    dates = DAY0 + pd.to_timedelta(frame["day"].astype(np.int64), unit="D")
    frame["week"] = (dates - pd.to_timedelta(dates.dt.day_of_week, unit="D")).dt.strftime("%Y-%m-%d")
    found = pd.to_numeric(frame["contraband_found"], errors="coerce")
    frame["inspected"] = found.notna()
    frame["contraband_found"] = found.fillna(0).astype(np.int64)
    frame["model_pick"] = frame["model_pick"].astype(bool)
    return frame


def _rate(k: int, n: int) -> dict:
    rate, low, high = wilson(k, n)
    return {"rate": rate, "low": low, "high": high}


def _counts(part: pd.DataFrame) -> dict:
    inspected = int(part["inspected"].sum())
    seizures = int(part.loc[part["inspected"], "contraband_found"].sum())
    return {"declarations": len(part), "inspections": inspected, "seizures": seizures,
            "hit_rate": _rate(seizures, inspected)}


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
        "weekly": weekly,
        "by_source": by_source,
        "by_lane": by_lane,
        "control": {"inspections": len(control), "seizures": len(found),
                    "prevalence": _rate(len(found), len(control)),
                    "model_recall": _rate(int(found["model_pick"].sum()), len(found))},
        "model_against_rules": comparison,
        "latest_retrain": latest(engine),
    }
