"""The targeting desk on a real store (SQLite and PostgreSQL): lanes within capacity, a random
control independent of the score, the case queue's life, overrides and the append-only audit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sqlalchemy import text

from contraband.data.history import open_history
from contraband.data.world import WorldConfig, generate
from contraband.desk import Capacity, CaseError, Desk, Policy, PolicyError
from contraband.desk.lanes import assign, control_draws


@pytest.fixture(scope="module")
def declarations():
    world = generate(WorldConfig(rows=3_000, months=2, seed=11))
    return world.drop(columns=[c for c in world.columns if c in ("inspected", "contraband", "seized_value_usd",
                                                                 "outcome_date")])


@pytest.fixture
def desk(history_location, declarations):
    store = open_history(history_location("desk"))
    store.ingest(declarations, source="test")
    yield Desk(store)
    store.close()


def _scored(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return frame.assign(risk_score=rng.random(len(frame)))


def _one_day(declarations: pd.DataFrame) -> pd.DataFrame:
    day = declarations["declaration_date"].value_counts().idxmax()
    return declarations[declarations["declaration_date"] == day]


def test_each_lane_takes_exactly_its_capacity_per_day_and_office(desk, declarations):
    desk.set_policy({"red": {"share": 0.05}, "yellow": {"share": 0.10}, "control_share": 0.01}, actor="sup")
    scored = _scored(declarations)
    lanes = desk.select(scored, actor="analyst-1", source="m1.csv")
    assert len(lanes) == len(scored) and list(lanes["declaration_id"]) == list(scored["declaration_id"].astype(str))
    per_day = pd.DataFrame({"day": scored["declaration_date"].to_numpy(), "lane": lanes["lane"].to_numpy()})
    for _, day in per_day.groupby("day"):
        n = len(day)
        assert (day["lane"] == "red").sum() == min(n, int(np.floor(0.05 * n + 0.5)))
        assert (day["lane"] == "yellow").sum() == min(n - (day["lane"] == "red").sum(), int(np.floor(0.10 * n + 0.5)))
    # the model's red picks are the riskiest of their day that the control did not take
    red_model = lanes["lane"].eq("red") & lanes["source"].eq("model")
    green = lanes["lane"].eq("green")
    for day in per_day["day"].unique():
        on = (per_day["day"] == day).to_numpy()
        if (red_model & on).any() and (green & on).any():
            assert scored["risk_score"][(red_model & on).to_numpy()].min() > scored["risk_score"][(green & on).to_numpy()].max()
    # a case for every red and yellow declaration, none for green
    assert lanes["case_id"].notna().sum() == lanes["lane"].isin(["red", "yellow"]).sum()
    assert lanes.loc[green, "case_id"].isna().all()


def test_a_count_capacity_is_shared_by_the_days_selections_and_split_by_office(desk, declarations):
    desk.set_policy({"red": {"count": 7}, "yellow": {"count": 0}, "control_share": 0.0}, actor="sup")
    day = _one_day(declarations)
    offices = np.where(np.arange(len(day)) % 2 == 0, "ICN", "PUS")
    day = day.assign(x_office_id=offices)
    first = desk.select(_scored(day.iloc[: len(day) // 2]), actor="a", source="morning")
    second = desk.select(_scored(day.iloc[len(day) // 2:], seed=1), actor="a", source="afternoon")
    both = pd.concat([first, second]).assign(office=np.concatenate([offices[: len(day) // 2], offices[len(day) // 2:]]))
    for office in ("ICN", "PUS"):
        assert (both.loc[both["office"] == office, "lane"] == "red").sum() == 7
    assert (both["lane"] == "yellow").sum() == 0
    # scored again, a declaration keeps its decision and takes nothing more
    again = desk.select(_scored(day, seed=2), actor="a", source="again")
    assert again["kept"].all()
    assert list(again["lane"]) == list(both.set_index("declaration_id").loc[again["declaration_id"], "lane"])


def test_the_random_control_is_independent_of_the_risk_score():
    n = 40_000
    ids = np.array([f"D{i:07d}" for i in range(n)], dtype=object)
    risk = np.random.default_rng(3).beta(0.5, 8, n)  # skewed, as risk scores are
    policy = Policy(red=Capacity(share=0.2), control_share=0.05, salt="k" * 32)
    frame = pd.DataFrame({"declaration_id": ids, "day": 100, "office": "", "risk_score": risk})
    lanes = assign(frame, policy)
    control = (lanes["source"] == "control").to_numpy()
    # its share is the policy's, within binomial noise
    assert abs(control.mean() - 0.05) < 4 * np.sqrt(0.05 * 0.95 / n)
    # the control's risk scores are distributed as everyone's: no test tells them apart
    assert stats.mannwhitneyu(risk[control], risk[~control]).pvalue > 0.001
    assert stats.ks_2samp(risk[control], risk[~control]).pvalue > 0.001
    # a declaration's draw depends on its id and the policy's key alone: not on the other rows
    shuffled = frame.sample(frac=0.3, random_state=5)
    assert np.array_equal(control_draws(shuffled["declaration_id"], policy),
                          control_draws(ids, policy)[shuffled.index.to_numpy()])
    # another key draws other declarations
    other = control_draws(ids, Policy(salt="z" * 32)) < 0.05
    assert (other & control).sum() < 0.2 * control.sum()


def test_a_case_goes_from_open_to_inspected_to_closed_and_feeds_the_history(desk, declarations):
    lanes = desk.select(_scored(declarations), actor="analyst-1", source="m.csv")
    case_id = int(lanes.loc[lanes["lane"] == "red", "case_id"].iloc[0])
    case = desk.case(case_id)
    assert case["state"] == "open" and case["lane"] == "red" and case["why"]
    with pytest.raises(CaseError, match="outcome is recorded"):
        desk.close(case_id, actor="analyst-1")
    with pytest.raises(CaseError, match="concealment"):
        desk.record_outcome(case_id, {"found": True, "concealment": "under the floor"}, actor="analyst-1")
    with pytest.raises(CaseError, match="found is false"):
        desk.record_outcome(case_id, {"found": False, "value_usd": 100.0}, actor="analyst-1")
    done = desk.record_outcome(case_id, {"found": True, "material": "dysprosium oxide", "concealment": "false_description",
                                         "hs_code_found": "284690", "quantity_kg": 120.5, "value_usd": 48_000.0,
                                         "note": "declared as solder paste"}, actor="analyst-1")
    assert done["state"] == "inspected" and done["found"] == 1 and done["inspected_by"] == "analyst-1"
    recorded = desk.store.outcomes([case["declaration_id"]])
    assert recorded["contraband"].tolist() == [1] and recorded["seized_value_usd"].tolist() == [48_000.0]
    assert recorded["source"].tolist() == ["desk:analyst-1"]
    closed = desk.close(case_id, actor="sup", note="seizure report filed")
    assert closed["state"] == "closed" and "seizure report filed" in closed["note"]
    with pytest.raises(CaseError, match="closed"):
        desk.record_outcome(case_id, {"found": False}, actor="analyst-1")
    queue = desk.cases(state="open")
    assert case_id not in set(queue["case_id"]) and (queue["state"] == "open").all()
    assert [e["action"] for e in desk.audit(action="case.outcome")] == ["case.outcome"]


def test_an_override_needs_a_reason_and_is_audited(desk, declarations):
    lanes = desk.select(_scored(declarations), actor="analyst-1", source="m.csv")
    green = lanes.loc[lanes["lane"] == "green", "declaration_id"].iloc[0]
    with pytest.raises(CaseError, match="reason"):
        desk.override(green, "red", "  ", actor="analyst-2")
    after = desk.override(green, "red", "tip-off from the port", actor="analyst-2")
    assert after["lane"] == "red" and after["source"] == "override" and "tip-off" in after["why"]
    opened = desk.cases(state="open")
    assert green in set(opened["declaration_id"])
    red = lanes.loc[(lanes["lane"] == "red") & (lanes["source"] == "model"), "declaration_id"].iloc[0]
    desk.override(red, "green", "known regular shipper, checked last week", actor="analyst-2")
    assert desk.case(int(lanes.loc[lanes["declaration_id"] == red, "case_id"].iloc[0]))["state"] == "closed"
    events = desk.audit(action="override")
    assert [(e["actor"], e["before"]["lane"], e["after"]["lane"]) for e in events] == [
        ("analyst-2", "green", "red"), ("analyst-2", "red", "green")]
    assert set(desk.overrides()["declaration_id"]) == {green, red}
    inspected = int(lanes.loc[(lanes["lane"] == "yellow"), "case_id"].iloc[0])
    desk.record_outcome(inspected, {"found": False}, actor="analyst-1")
    with pytest.raises(CaseError, match="inspected"):
        desk.override(desk.case(inspected)["declaration_id"], "green", "no longer needed", actor="analyst-2")


def test_policies_are_versioned_and_checked(desk):
    assert desk.policy().version == 0  # the product's default until a supervisor sets one
    with pytest.raises(PolicyError, match="count or a share"):
        desk.set_policy({"red": {"count": 5, "share": 0.1}}, actor="sup")
    with pytest.raises(PolicyError, match="cannot exceed"):
        desk.set_policy({"red": {"share": 0.01}, "control_share": 0.02}, actor="sup")
    first = desk.set_policy({"red": {"count": 10}}, actor="sup", note="ten a day")
    second = desk.set_policy({"red": {"count": 12}, "yellow": {"share": 0.02}}, actor="sup2")
    assert (first.version, second.version) == (1, 2) and desk.policy().red.count == 12
    assert [v["version"] for v in desk.policy_versions()] == [1, 2]
    assert first.salt != second.salt  # each version draws its control anew
    events = desk.audit(action="policy.set")
    assert [(e["actor"], e["before"]["version"], e["after"]["version"]) for e in events] == [("sup", 0, 1),
                                                                                            ("sup2", 1, 2)]
    assert "salt" not in events[0]["after"]


def test_the_audit_trail_is_append_only(desk):
    desk.set_policy({"red": {"count": 3}}, actor="sup")
    with desk.store.engine.connect() as conn:
        for statement in ("UPDATE desk_audit SET actor = 'someone else'", "DELETE FROM desk_audit"):
            with pytest.raises(Exception, match="append-only"):
                with conn.begin():
                    conn.execute(text(statement))
    assert [e["actor"] for e in desk.audit()] == ["sup"]
