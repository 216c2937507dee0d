"""A policy applied to scored declarations: a lane for each, where it came from, and why.

Per day and office:

1. **the model's lanes**: by risk rank (ties by declaration id, never by row order), the red
   lane's places go to the riskiest, then the yellow lane's; the rest is released (green).
   These places are the lanes' capacities, less what earlier selections of that day took;
2. **the analysts' rules** may raise a declaration to their lane (a red rule over a model's
   yellow or green, a yellow rule over a green);
3. **the random control**: exactly its expected count of the day's declarations
   (``control_share`` x declarations, rounded half up), the ones with the smallest keyed draws
   of their ids (independent of the score and of the other rows' order), goes to red.

A rule or the control only ever raises a lane: no declaration is sent lower than the model
alone would send it. Both sit **beside** the lanes' capacities, not inside them: the red lane's
places are the model's, the control's draws are inspected on top of them (the red workload of a
day is its capacity plus the control's count plus what red rules raise), so the riskiest are
never pushed out to make room for a random draw or a rule. A declaration that the model ranks
just below a full red lane says so: the red lane's places went to higher risks.

Where the scored declarations carry the model's own budget flag (``flagged``), a model pick that
the model does not flag is in its lane only to fill the lane's capacity, and its reason says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contraband.data.keys import date_of
from contraband.desk.policy import Policy
from contraband.models.selection import by_risk, keyed_draws, share_count, smallest

#: lanes from the lowest to the highest
_LEVEL = {"green": 0, "yellow": 1, "red": 2}
_LANE = np.array(["green", "yellow", "red"], dtype=object)
COLUMNS = ["declaration_id", "lane", "source", "rule_id", "rules_hit", "model_rank", "model_lane", "model_pick",
           "why"]


def control_draws(declaration_ids, policy: Policy) -> np.ndarray:
    """One uniform draw in [0, 1) per declaration, from a keyed hash of its id alone."""
    return keyed_draws(declaration_ids, policy.salt)


def control_count(declarations: int, policy: Policy) -> int:
    """The random control's draws among ``declarations`` of one day and office: its expected
    count, rounded half up."""
    return share_count(declarations, policy.control_share)


def assign(frame: pd.DataFrame, policy: Policy, taken: dict | None = None, rule_hits: pd.DataFrame | None = None,
           fill: bool = True) -> pd.DataFrame:
    """Lanes for ``frame`` (``declaration_id``, ``day``, ``office``, ``risk_score``, optionally
    ``flagged``), one row each in the frame's order: ``lane``, ``source`` (model, rule or
    control), ``rule_id`` (the strongest rule that hit), ``rules_hit`` (every rule that hit,
    ``;``-separated), ``model_rank``, ``model_lane`` (the model's own lane), ``model_pick`` (the
    model alone would inspect it), ``why``.

    ``taken`` counts the model's places earlier selections took per (day, office, lane), for
    capacities counted per day; ``rule_hits`` (:func:`~contraband.desk.rules.hits`) the rules
    that hit. Without ``fill`` the model sends nothing (the control and the rules alone: the
    backtest's baselines)."""
    taken = taken or {}
    n = len(frame)
    ids = np.asarray(frame["declaration_id"], dtype=object).astype(str).astype(object)
    risk = pd.to_numeric(pd.Series(np.asarray(frame["risk_score"], dtype=object)), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan)
    days = np.asarray(frame["day"], dtype=np.int64)
    offices = np.asarray(frame["office"], dtype=object)
    flagged = np.asarray(frame["flagged"], dtype=bool) if "flagged" in frame else None
    draws = control_draws(ids, policy)
    model_level = np.zeros(n, dtype=np.int64)
    rule_level = np.zeros(n, dtype=np.int64)
    control = np.zeros(n, dtype=bool)
    rank = np.zeros(n, dtype=np.int64)
    model_pick = np.zeros(n, dtype=bool)
    rule_id = np.full(n, None, dtype=object)
    rules_hit = np.full(n, None, dtype=object)
    rule_reason = np.full(n, "", dtype=object)
    if rule_hits is not None and len(rule_hits):
        at = pd.Index(ids).get_indexer(rule_hits["declaration_id"].astype(str).to_numpy(dtype=object))
        ok = at >= 0
        rule_level[at[ok]] = [_LEVEL[x] for x in rule_hits["lane"].to_numpy(dtype=object)[ok]]
        rule_id[at[ok]] = rule_hits["rule_id"].to_numpy(dtype=object)[ok]
        rule_reason[at[ok]] = rule_hits["reason"].to_numpy(dtype=object)[ok]
        if "rules_hit" in rule_hits:
            rules_hit[at[ok]] = rule_hits["rules_hit"].to_numpy(dtype=object)[ok]
        else:
            rules_hit[at[ok]] = rule_id[at[ok]]
    why = np.full(n, "", dtype=object)

    groups = pd.DataFrame({"day": days, "office": offices}).groupby(["day", "office"], sort=True).indices
    for (day, office), members in groups.items():
        members = members[by_risk(risk[members], ids[members])]  # riskiest first
        count = len(members)
        rank[members] = np.arange(1, count + 1)
        room = {name: getattr(policy, name).of(count, taken.get((int(day), office, name), 0))
                for name in ("red", "yellow")}
        model_pick[members[:room["red"] + room["yellow"]]] = True
        if fill:
            model_level[members[:room["red"]]] = 2
            model_level[members[room["red"]:room["red"] + room["yellow"]]] = 1
        drawn = members[smallest(draws[members], control_count(count, policy))]
        control[drawn] = True
        where = f"{date_of(int(day)):%Y-%m-%d}" + (f", office {office}" if office else "")
        for i in members:
            why[i] = _why(int(rank[i]), count, where, room, int(model_level[i]), int(rule_level[i]), bool(control[i]),
                          rule_id[i], rule_reason[i], None if flagged is None else bool(flagged[i]), policy, fill)

    level = np.maximum(np.maximum(model_level, rule_level), np.where(control, 2, 0))
    source = np.where(control, "control", np.where(rule_level > model_level, "rule", "model")).astype(object)
    return pd.DataFrame({"declaration_id": ids, "lane": _LANE[level], "source": source, "rule_id": rule_id,
                         "rules_hit": rules_hit, "model_rank": rank, "model_lane": _LANE[model_level],
                         "model_pick": model_pick, "why": why})[COLUMNS]


def _why(rank: int, count: int, where: str, room: dict, model: int, rule: int, control: bool, rule_id, rule_reason: str,
         flagged: bool | None, policy: Policy, fill: bool) -> str:
    """Why a declaration is in its lane, in words: what decided it first, then what else holds."""
    ranked = f"risk rank {rank:,} of {count:,} declarations on {where}"
    red, yellow = room["red"], room["yellow"]
    if not fill:
        own = ""
    elif model == 2:
        own = f"{ranked}: among the red lane's {red:,} places for the day"
    elif model == 1:
        own = (f"{ranked}: the red lane's {red:,} places went to higher risks; within the yellow lane's "
               f"{yellow:,} places")
    else:
        own = f"{ranked}: below the {red + yellow:,} places of the red and yellow lanes"
    if model and flagged is False:
        own += "; in this lane only to fill its capacity: the model does not single it out"
    ruled = f"rule {rule_id}: {rule_reason}" if rule else ""
    if control:
        drawn = (f"random control: drawn at random whatever its risk ({policy.control_share:.1%} of declarations, "
                 "inspected beside the red lane's places)")
        return "; ".join(x for x in (drawn, ruled, own) if x)
    if rule > model:
        lower = ("the model alone would release it" if model == 0 else "the model alone would send it to yellow")
        return f"{ruled} ({lower})"
    if rule:
        return f"{own}; also hit by rule {rule_id}" if own else ruled
    return own
