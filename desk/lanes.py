"""A policy applied to scored declarations: a lane for each, where it came from, and why.

Per day and office, in this order, each step within what is left of a lane's capacity:

1. the random control (a keyed draw from the declaration id: independent of the risk score)
   goes to red;
2. the analysts' rules' hits go to their lane, highest risk first;
3. the model fills what is left of red, then of yellow, by risk rank;
4. the rest is released (green).

A lane never takes more than its capacity. A rule hit or a control draw that finds its lane
full is released, and its reason says so. Ties in risk are broken by declaration id, so that
the lanes do not depend on the order of the rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contraband.data.keys import date_of
from contraband.desk.policy import Policy

_DRAW = float(1 << 53)


def control_draws(declaration_ids, policy: Policy) -> np.ndarray:
    """One uniform draw in [0, 1) per declaration, from a keyed hash of its id alone."""
    ids = np.asarray(declaration_ids, dtype=object)
    hashed = pd.util.hash_array(ids, hash_key=(policy.salt + "0" * 16)[:16], categorize=False)
    return (hashed >> np.uint64(11)).astype(np.float64) / _DRAW


def assign(frame: pd.DataFrame, policy: Policy, taken: dict | None = None, rule_hits: pd.DataFrame | None = None,
           fill: bool = True) -> pd.DataFrame:
    """Lanes for ``frame`` (``declaration_id``, ``day``, ``office``, ``risk_score``), one row each
    in the frame's order: ``lane``, ``source``, ``rule_id``, ``model_rank``, ``model_pick`` (whether
    the model alone, by its rank, would have sent it to red or yellow), ``why``.

    ``taken`` counts what earlier selections took per (day, office, lane), for capacities
    counted per day; ``rule_hits`` (``declaration_id``, ``rule_id``, ``lane``, ``reason``) the
    analysts' rules that hit, one row per declaration (the strongest rule). Without ``fill`` the
    model takes nothing (the control and the rules alone: the backtest's baselines)."""
    taken = taken or {}
    n = len(frame)
    ids = frame["declaration_id"].to_numpy(dtype=object)
    risk = frame["risk_score"].to_numpy(dtype=np.float64)
    days = frame["day"].to_numpy(dtype=np.int64)
    offices = frame["office"].to_numpy(dtype=object)
    draws = control_draws(ids, policy)
    lane = np.full(n, "green", dtype=object)
    source = np.full(n, "model", dtype=object)
    rule_id = np.full(n, None, dtype=object)
    rank = np.zeros(n, dtype=np.int64)
    model_pick = np.zeros(n, dtype=bool)
    why = np.full(n, "", dtype=object)
    hit_lane = np.full(n, None, dtype=object)
    hit_reason = np.full(n, "", dtype=object)
    if rule_hits is not None and len(rule_hits):
        at = pd.Index(ids).get_indexer(rule_hits["declaration_id"].to_numpy(dtype=object))
        ok = at >= 0
        hit_lane[at[ok]] = rule_hits["lane"].to_numpy(dtype=object)[ok]
        rule_id[at[ok]] = rule_hits["rule_id"].to_numpy(dtype=object)[ok]
        hit_reason[at[ok]] = rule_hits["reason"].to_numpy(dtype=object)[ok]

    groups = pd.DataFrame({"day": days, "office": offices}).groupby(["day", "office"], sort=True).indices
    for (day, office), members in groups.items():
        # risk rank 1 = riskiest; ties by declaration id (not by row order)
        members = members[np.lexsort((ids[members].astype(str), -np.nan_to_num(risk[members], nan=-1.0)))]
        rank[members] = np.arange(1, len(members) + 1)
        where = f"{date_of(int(day)):%Y-%m-%d}" + (f", office {office}" if office else "")
        count = len(members)
        room = {name: getattr(policy, name).of(count, taken.get((int(day), office, name), 0))
                for name in ("red", "yellow")}
        # what the model alone would have sent to red or yellow (the control's recall estimate)
        model_pick[members[:room["red"] + room["yellow"]]] = True
        capacity = {name: f"{name} lane: {getattr(policy, name).describe()}, {room[name]} for these {count:,}"
                    for name in ("red", "yellow")}
        free = np.ones(len(members), dtype=bool)

        def take(positions: np.ndarray, to: str) -> np.ndarray:
            """Send as many of ``positions`` (indexes into members, in priority order) as fit."""
            chosen = positions[:room[to]]
            room[to] -= len(chosen)
            lane[members[chosen]] = to
            free[chosen] = False
            return positions[len(chosen):]

        control = np.flatnonzero(draws[members] < policy.control_share)
        control = control[np.argsort(draws[members][control], kind="stable")]
        left = take(control, "red")
        source[members[control]] = "control"
        why[members[control]] = (f"random control: {policy.control_share:.1%} of declarations are drawn at random, "
                                 "whatever their risk")
        why[members[left]] = why[members[left]] + f" (not inspected: the {capacity['red']} was full)"
        for to in ("red", "yellow"):
            hits = np.flatnonzero(free & (hit_lane[members] == to))
            left = take(hits, to)
            source[members[hits]] = "rule"
            why[members[hits]] = [f"rule {r}: {reason}" for r, reason in zip(rule_id[members[hits]],
                                                                               hit_reason[members[hits]])]
            why[members[left]] = why[members[left]] + f" (released: the {capacity[to]} was full)"
        for to in ("red", "yellow") if fill else ():  # what rules and the control left, by risk rank
            chosen = np.flatnonzero(free)[:room[to]]
            take(chosen, to)
            source[members[chosen]] = "model"
            why[members[chosen]] = [f"risk rank {r:,} of {count:,} declarations on {where}: within the {capacity[to]}"
                                    for r in rank[members[chosen]]]
        rest = free & (source[members] == "model")
        why[members[rest]] = [f"risk rank {r:,} of {count:,} declarations on {where}: below the red and yellow "
                              "lanes' capacity" for r in rank[members[rest]]]
    return pd.DataFrame({"declaration_id": ids, "lane": lane, "source": source, "rule_id": rule_id,
                         "model_rank": rank, "model_pick": model_pick, "why": why})
