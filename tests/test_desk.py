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
    per_day = pd.DataFrame({"day": scored["declaration_date"].to_numpy(), "lane": lanes["lane"].to_numpy(),
                            "model_lane": lanes["model_lane"].to_numpy(), "source": lanes["source"].to_numpy()})
    for _, day in per_day.groupby("day"):
        n = len(day)
        # the model's places are the capacity; the control (exactly its rounded count) comes beside them
        assert (day["model_lane"] == "red").sum() == min(n, int(np.floor(0.05 * n + 0.5)))
        assert (day["model_lane"] == "yellow").sum() == min(n - (day["model_lane"] == "red").sum(),
                                                            int(np.floor(0.10 * n + 0.5)))
        control = day["source"] == "control"
        assert control.sum() == int(np.floor(0.01 * n + 0.5))
        assert (day["lane"] == "red").sum() == ((day["model_lane"] == "red") | control).sum()
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
        desk.record_outcome(case_id, {"contraband_found": True, "concealment": "under the floor"}, actor="analyst-1")
    with pytest.raises(CaseError, match="contraband_found is false"):
        desk.record_outcome(case_id, {"contraband_found": False, "seized_value_usd": 100.0}, actor="analyst-1")
    done = desk.record_outcome(case_id, {"contraband_found": True, "material": "dysprosium oxide", "concealment": "false_description",
                                         "hs_code_found": "284690", "seized_quantity_kg": 120.5, "seized_value_usd": 48_000.0,
                                         "note": "declared as solder paste"}, actor="analyst-1")
    assert done["state"] == "inspected" and done["contraband_found"] == 1 and done["inspected_by"] == "analyst-1"
    recorded = desk.store.outcomes([case["declaration_id"]])
    assert recorded["contraband"].tolist() == [1] and recorded["seized_value_usd"].tolist() == [48_000.0]
    assert recorded["source"].tolist() == ["desk:analyst-1"]
    closed = desk.close(case_id, actor="sup", note="seizure report filed")
    assert closed["state"] == "closed" and "seizure report filed" in closed["note"]
    with pytest.raises(CaseError, match="closed"):
        desk.record_outcome(case_id, {"contraband_found": False}, actor="analyst-1")
    queue = desk.cases(state="open")
    assert case_id not in set(queue["case_id"]) and (queue["state"] == "open").all()
    assert [e["action"] for e in desk.audit(action="case.outcome")] == ["case.outcome"]


def test_a_recorded_result_is_corrected_only_by_a_supervisor_with_a_reason_and_amendments_are_audited(
        desk, declarations):
    """On SQLite and PostgreSQL: an outcome for a declaration with a case (by declaration id, as
    ``/v1/outcomes`` sends it) moves its case; an analyst's flip is refused and changes nothing; a
    supervisor's correction with a reason is recorded beside the first version and audited; an
    admin's amendment is an audit event in the transaction that writes it."""
    from contraband.desk import outcomes

    lanes = desk.select(_scored(declarations), actor="analyst-1", source="m.csv")
    red = lanes[lanes["lane"] == "red"].iloc[0]
    seized = {"inspected": 1, "contraband_found": 1, "seized_value_usd": 435_223.0, "material": "Dy2O3"}
    done = outcomes.record(desk, [(red["declaration_id"], seized)], "api:a1", declaration_ids=True, through_case=False)
    assert done.recorded == 1 and done.cases[0]["state"] == "inspected" and done.cases[0]["seized_value_usd"] == 435_223.0
    flip = {"inspected": 1, "contraband_found": 0}
    for role, reason in (("analyst", "a reason"), ("supervisor", None), ("supervisor", "   ")):
        refused = outcomes.record(desk, [(red["declaration_id"], flip)], "api:a1", role=role, reason=reason,
                                  declaration_ids=True, through_case=False)
        assert refused.recorded == 0 and refused.refused[0][1] == "forbidden"
    assert desk.store.outcomes([red["declaration_id"]], all_versions=True)["contraband"].tolist() == [1]
    fixed = outcomes.record(desk, [(red["declaration_id"], flip)], "api:s1", role="supervisor", reason="lab: ferrite",
                            declaration_ids=True, through_case=False)
    assert fixed.recorded == 1 and fixed.cases[0]["contraband_found"] == 0
    assert desk.store.outcomes([red["declaration_id"]], all_versions=True)["contraband"].tolist() == [1, 0]
    trail = [e for e in desk.audit() if e["target"] == f"case:{int(red['case_id'])}"]
    assert [e["action"] for e in trail] == ["case.outcome", "case.correct"]
    assert trail[1]["after"]["reason"] == "lab: ferrite" and trail[1]["before"]["contraband_found"] == 1
    # an amendment of two declarations: one event each, with the versions and the reason
    changed = declarations.head(2).assign(consignee_id="CON-FIXED")
    report = desk.amend(changed, by="admin-1", reason="consignee keyed wrongly")
    assert report.amended == 2
    amended = desk.audit(action="declaration.amend")
    assert sorted(e["target"] for e in amended) == sorted(f"declaration:{d}" for d in changed["declaration_id"])
    assert all(e["after"] == {"version": 2, "reason": "consignee keyed wrongly"} for e in amended)


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
    desk.record_outcome(inspected, {"contraband_found": False}, actor="analyst-1")
    with pytest.raises(CaseError, match="inspected"):
        desk.override(desk.case(inspected)["declaration_id"], "green", "no longer needed", actor="analyst-2")


def test_policies_are_versioned_and_checked(desk):
    assert desk.policy().version == 0  # the product's default until a supervisor sets one
    with pytest.raises(PolicyError, match="count or a share"):
        desk.set_policy({"red": {"count": 5, "share": 0.1}}, actor="sup")
    with pytest.raises(PolicyError, match="between 0 and 1"):
        desk.set_policy({"red": {"share": 0.01}, "control_share": 1.5}, actor="sup")
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
        first = conn.execute(text("SELECT event, at, action, target FROM desk_audit")).one()
        conn.rollback()
        overwrite = ("INSERT OR REPLACE INTO desk_audit (event, at, actor, action, target) "
                     "VALUES (:event, :at, 'someone else', :action, :target)" if conn.dialect.name == "sqlite" else
                     "INSERT INTO desk_audit (event, at, actor, action, target) "
                     "VALUES (:event, :at, 'someone else', :action, :target) "
                     "ON CONFLICT (event) DO UPDATE SET actor = excluded.actor")
        for statement in ("UPDATE desk_audit SET actor = 'someone else'", "DELETE FROM desk_audit", overwrite):
            with pytest.raises(Exception, match="append-only"):
                with conn.begin():
                    conn.execute(text(statement), first._asdict())
    assert [e["actor"] for e in desk.audit()] == ["sup"]


def _rule(**changes) -> dict:
    rule = {"name": "magnets via Thailand", "lane": "red", "rationale": "NdFeB magnets transshipped to hide origin",
            "instructions": "open two cartons; test with a gaussmeter", "conditions": {"hs_prefixes": ["8505"]}}
    return {**rule, **changes}


def test_each_condition_of_a_rule_selects_what_it_says():
    from contraband.desk.rules import Rule, RuleError

    frame = pd.DataFrame({
        "declaration_id": ["a", "b", "c", "d"],
        "declaration_date": pd.to_datetime(["2026-05-01", "2026-05-02", "2026-05-03", "2026-06-01"]),
        "hs_code": ["850511", "284690", "850519", "690890"],
        "goods_description": ["Solder paste, lead free", "rare earth oxide", "permanent magnets", "ceramic tiles"],
        "origin_country": ["CN", "cn", "TH", "MX"], "export_country": ["TH", "CN", "TH", "MX"],
        "destination_country": ["KR"] * 4, "transit_countries": ["TH;VN", None, "", "US"],
        "exporter_id": ["E1", "E2", "E3", "E1"], "consignee_id": ["C1", None, "C3", "C1"], "declarant_id": [None] * 4,
        "declared_value_usd": [1000.0, 50.0, 9000.0, 300.0], "net_weight_kg": [10.0, 100.0, 0.0, 30.0],
    })

    def hit(conditions, **kwargs):
        return "".join(frame["declaration_id"][Rule(**_rule(conditions=conditions, **kwargs)).matches(frame)])

    assert hit({"hs_prefixes": ["8505"]}) == "ac"
    assert hit({"origin_countries": ["CN"]}) == "ab"  # any case
    assert hit({"transit_countries": ["th"]}) == "a"
    assert hit({"exporters": ["E1"], "consignees": ["C1"]}) == "ad"
    assert hit({"description_words": ["solder paste", "tiles"]}) == "ad"
    assert hit({"description_words": ["magnet"]}) == ""  # whole words: "magnets" is not "magnet"
    assert hit({"value_usd": {"min": 300, "max": 1000}}) == "ad"
    assert hit({"usd_per_kg": {"max": 1}}) == "b"  # a zero weight has no price per kg
    assert hit({"hs_prefixes": ["8505", "6908"]}, valid_from="2026-05-02", valid_to="2026-06-01") == "cd"
    for bad, said in (({"hs_prefixes": ["85x"]}, "2 to 10 digits"), ({"weight": {"min": 1}}, "unknown"),
                      ({"value_usd": {"min": 5, "max": 1}}, "min above max"), ({}, "at least one condition")):
        with pytest.raises(RuleError, match=said):
            Rule(**_rule(conditions=bad))
    with pytest.raises(RuleError, match="red or yellow"):
        Rule(**_rule(lane="green"))


def test_rules_are_versioned_retired_never_deleted_and_their_hits_are_reasons(desk, declarations):
    desk.set_policy({"red": {"share": 0.05}, "yellow": {"share": 0.05}, "control_share": 0.0}, actor="sup")
    prefix = declarations["hs_code"].astype(str).str[:4].value_counts().index[-1]  # a rare HS heading
    first = desk.add_rule(_rule(conditions={"hs_prefixes": [prefix]}), actor="sup")
    assert first.rule_id == "R-1" and first.version == 1
    changed = desk.change_rule("R-1", _rule(conditions={"hs_prefixes": [prefix]}, lane="yellow"), actor="sup2",
                               note="documentary check is enough")
    assert changed.version == 2 and desk.rule("R-1").lane == "yellow"
    lanes = desk.select(_scored(declarations), actor="analyst-1", source="m.csv")
    hit = declarations["hs_code"].astype(str).str.startswith(prefix).to_numpy()
    assert (lanes["rule_id"].to_numpy()[hit] == "R-1").all() and lanes["rule_id"][~hit].isna().all()
    by_rule = lanes[lanes["source"] == "rule"]
    assert len(by_rule) and (by_rule["lane"] == "yellow").all()
    assert by_rule["why"].str.contains("rule R-1: magnets via Thailand: NdFeB magnets").all()
    case = desk.case(int(by_rule["case_id"].iloc[0]))
    assert case["instructions"] == "open two cartons; test with a gaussmeter"
    retired = desk.retire_rule("R-1", actor="sup", reason="the route closed")
    assert retired.retired and desk.rules() == [] and [r.version for r in desk.rule_versions("R-1")] == [1, 2, 3]
    with pytest.raises(CaseError, match="retired"):
        desk.change_rule("R-1", _rule(), actor="sup")
    assert [e["action"] for e in desk.audit() if e["action"].startswith("rule.")] == ["rule.add", "rule.change",
                                                                                    "rule.retire"]
    # a retired rule hits nothing more, and keeps its figures
    later = declarations.assign(declaration_id="L" + declarations["declaration_id"].astype(str))
    again = desk.select(_scored(later), actor="analyst-1", source="later.csv")
    assert again["rule_id"].isna().all()
    figures = {f["rule_id"]: f for f in desk.rule_figures()}
    assert figures["R-1"]["hits"] == int(hit.sum()) and figures["R-1"]["retired"]


def test_a_rules_seizure_rate_and_review_flag_come_from_the_recorded_outcomes(desk, declarations):
    from contraband.desk.desk import check_outcome
    from contraband.desk.figures import wilson

    desk.set_policy({"red": {"share": 1.0}, "yellow": {"share": 0.0}, "control_share": 0.0}, actor="sup")
    desk.add_rule(_rule(name="everything from the world", conditions={"hs_prefixes": [f"{i:02d}" for i in range(100)]}),
                  actor="sup")
    lanes = desk.select(_scored(declarations.head(40)), actor="a", source="m.csv")
    cases = [int(c) for c in lanes["case_id"]]
    found = [True] * 3 + [False] * 33
    done, refused = desk.record_outcomes([(c, check_outcome({"contraband_found": f})) for c, f in zip(cases, found)], actor="a")
    assert len(done) == 36 and not refused
    figures = desk.rule_figures(review_after=30)[0]
    assert (figures["hits"], figures["inspections"], figures["seizures"]) == (40, 36, 3)
    assert figures["seizure_rate"] == pytest.approx(3 / 36)
    assert (figures["rate_low"], figures["rate_high"]) == pytest.approx(wilson(3, 36)[1:])
    assert figures["review"]  # the last 30 inspections found nothing
    assert not desk.rule_figures(review_after=34)[0]["review"]


def test_the_wilson_interval_against_an_independent_implementation():
    from contraband.desk.figures import wilson

    for k, n in ((3, 36), (0, 10), (10, 10), (1, 1), (57, 1200)):
        p, low, high = wilson(k, n)
        reference = stats.binomtest(k, n).proportion_ci(method="wilson")
        assert p == k / n and (low, high) == pytest.approx((reference.low, reference.high), abs=1e-12)
    assert wilson(0, 0) == (None, None, None)


def test_live_performance_against_hand_counts(desk, declarations):
    from contraband.desk.desk import check_outcome
    from contraband.desk.figures import wilson

    desk.set_policy({"red": {"share": 0.2}, "yellow": {"share": 0.1}, "control_share": 0.05}, actor="sup")
    lanes = desk.select(_scored(declarations), actor="a", source="m.csv")
    cased = lanes[lanes["case_id"].notna()].reset_index(drop=True)
    rng = np.random.default_rng(4)
    found = rng.random(len(cased)) < np.where(cased["source"] == "control", 0.1, 0.3)
    inspected = rng.random(len(cased)) < 0.8  # some cases still open
    done, refused = desk.record_outcomes([(int(c), check_outcome({"contraband_found": bool(f)}))
                                          for c, f, i in zip(cased["case_id"], found, inspected) if i], actor="a")
    assert len(done) == inspected.sum() and not refused
    figures = desk.performance()

    # by hand: weeks of the declarations' days, named by their Monday
    dates = pd.to_datetime(declarations["declaration_date"]).reset_index(drop=True)
    by_id = pd.DataFrame({"declaration_id": lanes["declaration_id"], "lane": lanes["lane"], "source": lanes["source"],
                          "week": (dates - pd.to_timedelta(dates.dt.day_of_week, unit="D")).dt.strftime("%Y-%m-%d")})
    result = dict(zip(cased["declaration_id"][inspected], found[inspected]))
    by_id["inspected"] = by_id["declaration_id"].isin(result)
    by_id["contraband_found"] = by_id["declaration_id"].map(result).fillna(False).astype(bool)
    shown = {(w["week"], w["lane"], w["source"]): w for w in figures["weekly"]}
    assert len(shown) == by_id.groupby(["week", "lane", "source"]).ngroups
    for (week, lane, source), part in by_id.groupby(["week", "lane", "source"]):
        w = shown[(week, lane, source)]
        k, n = int(part["contraband_found"].sum()), int(part["inspected"].sum())
        assert (w["declarations"], w["inspections"], w["seizures"]) == (len(part), n, k)
        assert (w["hit_rate"]["rate"], w["hit_rate"]["low"], w["hit_rate"]["high"]) == wilson(k, n)
    control = by_id[(by_id["source"] == "control") & by_id["inspected"]]
    assert figures["control"]["inspections"] == len(control) > 0
    assert figures["control"]["prevalence"]["rate"] == control["contraband_found"].mean()
    # recall: of the control's seizures, those the model alone would have inspected by its rank
    picks = {}
    for _, part in pd.DataFrame({"date": dates, "risk": _scored(declarations)["risk_score"].to_numpy(),
                                 "id": lanes["declaration_id"]}).groupby("date"):
        n = len(part)
        room = int(np.floor(0.2 * n + 0.5)) + int(np.floor(0.1 * n + 0.5))
        top = part.sort_values(["risk", "id"], ascending=[False, True]).head(room)["id"]
        picks.update(dict.fromkeys(top, True))
    seized = control[control["contraband_found"]]
    expected = seized["declaration_id"].map(lambda i: picks.get(i, False)).sum()
    assert figures["control"]["seizures"] == len(seized)
    assert figures["control"]["model_recall"]["rate"] == (expected / len(seized) if len(seized) else None)
    model_weeks = {c["week"]: c["model"] for c in figures["model_against_rules"]}
    for week, part in by_id[(by_id["source"] == "model") & by_id["inspected"]].groupby("week"):
        assert model_weeks[week]["seizures"] == part["contraband_found"].sum()


@pytest.mark.slow  # a replay of 4 weeks with a retraining: about 40 s (CI runs it with make test-slow)
def test_the_backtest_replays_weeks_under_capacity_and_reveals_only_what_it_inspects(tmp_path, monkeypatch):
    from contraband.desk.backtest import STRATEGIES, backtest

    monkeypatch.chdir(tmp_path)
    world = generate(WorldConfig(rows=30_000, months=12, seed=7))
    result = backtest(world, tmp_path / "replay", weeks=8, retrain_every=4, log=lambda m: None)
    weeks = result.weeks
    assert set(weeks["strategy"]) == set(STRATEGIES) and (weeks.groupby("strategy").size() == 8).all()
    by = weeks.pivot(index="week", columns="strategy", values="inspections")
    # the baselines work at the loop's workload: random spends it all, rules alone at most it
    assert (by["random"] == by["loop"]).all() and (by["rules"] <= by["loop"]).all()
    # the loop's model fills the red lane's places (capacity less the control's share); the control
    # and the rules' raises come beside them
    assert (by["loop"] >= weeks[weeks["strategy"] == "loop"].set_index("week")["capacity"] * 0.8 - 7).all()
    totals = result.totals.set_index("strategy")
    assert totals.loc["loop", "seizures"] > totals.loc["random", "seizures"]
    assert result.contraband == weeks[weeks["strategy"] == "loop"]["contraband"].sum() > 0
    # the reasons' specificity: the weak-only share of the model's flagged, a share of them
    assert 0 < totals.loc["loop", "flagged"] and 0 <= totals.loc["loop", "flagged_weak_share"] <= 1
    assert totals.loc["rules", "flagged"] == 0
    # and each template's share of the declarations below the budget (the model strategies alone)
    shares = result.templates
    assert set(shares["strategy"]) == {"loop", "frozen"} and shares["share_below_budget"].between(0, 1).all()
    assert shares.groupby("strategy")["template"].nunique().eq(shares["template"].nunique()).all()
    assert shares["share_below_budget"].max() < 0.25 and shares["share_below_budget"].max() > 0
    # only what the loop inspected revealed an outcome in its history (beside the world's own past)
    loop = open_history(tmp_path / "replay" / "loop.db")
    desk = Desk(loop)
    outcomes = loop.outcomes()
    revealed = outcomes[outcomes["source"].str.startswith("desk:")]
    assert len(revealed) == totals.loc["loop", "inspections"]
    assert set(revealed["declaration_id"]) == set(desk.cases()["declaration_id"])
    assert int(revealed["contraband"].sum()) == totals.loc["loop", "seizures"]
    loop.close()
    # the replay wrote nowhere but its folder (its own MLflow store)
    assert not (tmp_path / "mlflow.db").exists() and (tmp_path / "replay" / "mlflow.db").exists()
    with pytest.raises(ValueError, match="not empty"):
        backtest(world, tmp_path / "replay", weeks=8, log=lambda m: None)


def test_the_supervisor_s_summary_sets_this_week_against_last_and_says_what_the_control_can_tell(desk, declarations):
    from contraband.desk.figures import wilson
    from contraband.desk.performance import RECALL_SEIZURES, control_sentence

    scored = _scored(declarations)
    lanes = desk.select(scored, actor="analyst-1", source="m.csv")
    day = pd.to_datetime(scored.set_index("declaration_id").loc[lanes["declaration_id"], "declaration_date"]).to_numpy()
    red = lanes[(lanes["lane"] == "red").to_numpy() & (day == day.max())]  # a case of the latest week
    desk.record_outcome(int(red["case_id"].iloc[0]), {"contraband_found": True, "seized_quantity_kg": 12.5,
                                                      "seized_value_usd": 9_000.0}, actor="analyst-1")
    figures = desk.performance()
    summary = figures["summary"]
    assert summary["week"] == max(w["week"] for w in figures["weekly"])
    weekly = pd.DataFrame(figures["weekly"])
    for row in summary["by_lane"]:
        mine = weekly[(weekly["week"] == summary["week"]) & (weekly["lane"] == row["lane"])]
        assert row["this_week"]["declarations"] == mine["declarations"].sum()
        assert row["this_week"]["inspections"] == mine["inspections"].sum()
    assert sum(r["this_week"]["seized_kg"] + r["last_week"]["seized_kg"] for r in summary["by_lane"]) == 12.5
    assert figures["by_source"][red["source"].iloc[0]]["seized_usd"] == 9_000.0
    # the control's sentence: nothing yet, nothing found (an upper bound, recall not readable), too few, enough
    assert "no inspection" in control_sentence(0, 0)
    nothing = control_sentence(81, 0)
    assert "81 inspections" in nothing and "cannot be read" in nothing
    assert f"{int(np.ceil(RECALL_SEIZURES / wilson(0, 81)[2])):,} control inspections" in nothing
    few = control_sentence(400, 5)
    assert "5 seizures in 400" in few and f"{int(np.ceil(RECALL_SEIZURES / (5 / 400))) - 400:,} more" in few
    assert "read from those 30 seizures" in control_sentence(900, 30)
