"""Property-based tests of the selection module and of the lanes built on it, against brute force:
top-k by risk with ties by id, counts of a budget and of a share, an exact-size keyed draw, each
lane's capacity, the control's exact daily count, and that no rule or control draw ever sends a
declaration lower than the model alone would."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contraband.desk.lanes import assign, control_count
from contraband.desk.policy import Capacity, Policy
from contraband.models.selection import budget_count, by_risk, keyed_draws, share_count, smallest, top

LEVEL = {"green": 0, "yellow": 1, "red": 2}
shares = st.sampled_from([0.0, 0.001, 0.01, 0.03, 0.05, 0.07, 0.1, 0.25, 0.5, 1.0])


@given(n=st.integers(0, 5000), budget=st.sampled_from([0.001, 0.01, 0.05, 0.07, 0.1, 0.33, 1.0]))
def test_a_budget_takes_the_ceiling_and_a_share_rounds_half_up_exactly(n, budget):
    exact = Fraction(str(budget)) * n
    assert budget_count(n, budget) == min(n, -(-exact.numerator // exact.denominator))
    assert share_count(n, budget) == min(n, math.floor(exact + Fraction(1, 2)))


@settings(deadline=None)
@given(scores=st.lists(st.sampled_from([0.0, 0.1, 0.5, 0.9, float("nan")]), max_size=30), k=st.integers(0, 35),
       data=st.data())
def test_top_k_is_the_k_highest_with_ties_by_declaration_id(scores, k, data):
    ids = data.draw(st.permutations([f"D{i:02d}" for i in range(len(scores))]))
    brute = sorted(range(len(scores)), key=lambda i: (-(scores[i] if scores[i] == scores[i] else -np.inf), ids[i]))
    assert list(by_risk(scores, ids)) == brute
    assert set(np.flatnonzero(top(scores, k, ids))) == set(brute[:k])
    # the rows' order never matters
    perm = data.draw(st.permutations(range(len(scores))))
    moved = top([scores[i] for i in perm], k, [ids[i] for i in perm])
    assert {ids[perm[j]] for j in np.flatnonzero(moved)} == {ids[i] for i in brute[:k]}


@given(n=st.integers(0, 300), k=st.integers(0, 310), key=st.text(min_size=1, max_size=20))
def test_a_keyed_draw_takes_exactly_k_by_id_alone(n, k, key):
    ids = np.array([f"X{i}" for i in range(n)], dtype=object)
    draws = keyed_draws(ids, key)
    assert ((draws >= 0) & (draws < 1)).all()
    chosen = smallest(draws, k)
    assert len(chosen) == min(n, k) and len(set(chosen)) == len(chosen)
    assert set(chosen) == set(sorted(range(n), key=lambda i: (draws[i], i))[:k])
    # a draw is the id's own: the same in any company
    assert np.array_equal(keyed_draws(ids[::-1], key), draws[::-1])


@st.composite
def manifests(draw):
    n = draw(st.integers(1, 60))
    days = draw(st.lists(st.integers(100, 102), min_size=n, max_size=n))
    offices = draw(st.lists(st.sampled_from(["", "ICN", "PUS"]), min_size=n, max_size=n))
    risk = draw(st.lists(st.sampled_from([0.01, 0.2, 0.2, 0.5, 0.9]) | st.floats(0, 1), min_size=n, max_size=n))
    ids = [f"D{i:03d}" for i in draw(st.permutations(range(n)))]
    frame = pd.DataFrame({"declaration_id": ids, "day": days, "office": offices, "risk_score": risk})
    hit = draw(st.lists(st.sampled_from([None, None, "red", "yellow"]), min_size=n, max_size=n))
    rule_hits = pd.DataFrame([{"declaration_id": i, "rule_id": f"R-{1 if lane == 'red' else 2}", "lane": lane,
                               "reason": "x"} for i, lane in zip(ids, hit) if lane],
                             columns=["declaration_id", "rule_id", "lane", "reason"])
    red = draw(st.one_of(st.builds(Capacity, count=st.integers(0, 8)), st.builds(Capacity, share=shares)))
    yellow = draw(st.one_of(st.builds(Capacity, count=st.integers(0, 8)), st.builds(Capacity, share=shares)))
    policy = Policy(red=red, yellow=yellow, control_share=draw(shares), salt=draw(st.text(min_size=1, max_size=8)))
    return frame, rule_hits, policy


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=manifests())
def test_lanes_against_brute_force_capacity_exact_control_and_never_a_demotion(case):
    frame, rule_hits, policy = case
    lanes = assign(frame, policy, rule_hits=rule_hits)
    assert list(lanes["declaration_id"]) == list(frame["declaration_id"])
    rule_lane = dict(zip(rule_hits["declaration_id"], rule_hits["lane"]))
    draws = keyed_draws(frame["declaration_id"], policy.salt)
    for _, group in frame.groupby(["day", "office"]):
        rows = list(group.index)
        n = len(rows)
        # brute force: the model's own lane by rank, ties by id
        ordered = sorted(rows, key=lambda i: (-frame.at[i, "risk_score"], frame.at[i, "declaration_id"]))
        red = policy.red.of(n, 0)
        yellow = policy.yellow.of(n, 0)
        model = {i: "red" if r < red else "yellow" if r < red + yellow else "green" for r, i in enumerate(ordered)}
        drawn = set(sorted(rows, key=lambda i: (draws[i], rows.index(i)))[:control_count(n, policy)])
        assert len(drawn) == share_count(n, policy.control_share)  # exactly the expected count, rounded
        for i in rows:
            expected = max(LEVEL[model[i]], LEVEL.get(rule_lane.get(frame.at[i, "declaration_id"]), 0),
                           2 if i in drawn else 0)
            got = lanes.loc[i]
            assert LEVEL[got["lane"]] == expected
            assert LEVEL[got["lane"]] >= LEVEL[model[i]]  # never lower than the model's own lane
            assert got["model_lane"] == model[i] and got["model_rank"] == ordered.index(i) + 1
            assert (got["source"] == "control") == (i in drawn)
            assert got["why"]
        # the model's places are exactly each lane's capacity
        assert sum(lanes.loc[rows, "model_lane"] == "red") == min(n, red)
        assert sum(lanes.loc[rows, "model_lane"] == "yellow") == min(n - min(n, red), yellow)


def test_a_declaration_the_model_ranks_below_a_full_red_lane_says_so_in_words():
    frame = pd.DataFrame({"declaration_id": ["a", "b", "c", "d"], "day": 200, "office": "",
                          "risk_score": [0.9, 0.8, 0.001, 0.0005], "flagged": [True, True, False, False]})
    lanes = assign(frame, Policy(red=Capacity(count=1), yellow=Capacity(count=2), control_share=0.0)).set_index(
        "declaration_id")
    assert "among the red lane's 1 places" in lanes.at["a", "why"]
    assert "the red lane's 1 places went to higher risks" in lanes.at["b", "why"]
    assert "only to fill its capacity" in lanes.at["c", "why"]
    assert "below the 3 places" in lanes.at["d", "why"]
