"""Detector, calibration, attribution, reasons, the inspection list and metrics on a generated world."""

import re
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from contraband.data.history import day_of
from contraband.models import metrics as M
from contraband.models import detector as detector_module
from contraband.models.detector import Calibrator, Detector, LocalTrainer, labelled, labels
from contraband.models.scoring import (
    EXPLORATION_PREFIX,
    exploration_count,
    flag_count,
    inspection_list,
    score,
)


@pytest.fixture(scope="module")
def scored(trained, world_history):
    test = trained.windows.test
    blind = world_history.blind(day_of(trained.windows.test_from))
    return test, score(trained.detector, test, blind, budget=0.05, exploration=0.1, seed=3, flag_by="budget",
                       record=False)


def test_model_beats_every_baseline_on_the_test_window(trained):
    r = trained.results
    for baseline in ("rules", "anomaly", "plain_lightgbm"):
        assert r["model_truth"]["pr_auc"] > r[f"{baseline}_truth"]["pr_auc"], baseline
        assert r["model_truth"]["recall_at_5pct"] >= r[f"{baseline}_truth"]["recall_at_5pct"], baseline
    assert r["model"]["roc_auc"] > 0.9
    typologies = [k for k in r["model_truth"] if k.startswith("recall_at_5pct_")]
    assert len(typologies) >= 5


def test_windows_are_split_by_time_only(trained):
    w = trained.windows
    assert w.train["declaration_date"].max() < w.valid_from <= w.valid["declaration_date"].min()
    assert w.valid["declaration_date"].max() < w.test_from <= w.test["declaration_date"].min()


def test_calibrator_recovers_known_probabilities():
    rng = np.random.default_rng(0)
    margin = rng.normal(-4, 2, 200_000)
    p = 1 / (1 + np.exp(-(0.7 * margin + 0.5)))
    y = (rng.random(len(p)) < p).astype(int)
    for method in ("isotonic", "sigmoid"):
        est = Calibrator(method).fit(margin, y).predict(margin)
        bins = np.quantile(est, np.linspace(0, 1, 11))
        idx = np.clip(np.searchsorted(bins, est, side="right") - 1, 0, 9)
        ece = sum(abs(est[idx == b].mean() - y[idx == b].mean()) * (idx == b).mean() for b in range(10))
        assert ece < 0.01, method
    assert Calibrator("auto").fit(margin[:500], y[:500]).method_ == "sigmoid"  # few positives
    iso = Calibrator("isotonic").fit(margin, y)  # its fast interpolation is scikit-learn's own map
    probe = np.concatenate([margin[:1000], [-50.0, 50.0]])
    np.testing.assert_allclose(iso.predict(probe), iso.model_.predict(probe), rtol=0, atol=1e-12)


def test_the_final_model_is_calibrated_on_rows_it_did_not_see(trained, world_history):
    """The calibrator belongs to the refitted model: on the held-out test window (scored blind)
    its probabilities add up to the seizures found, and beat the base rate on Brier score."""
    test = trained.windows.test
    lab = labelled(test)
    blind = world_history.blind(day_of(trained.windows.test_from))
    p = trained.detector.predict_proba(test, blind)[lab, 1]
    y = labels(test)[lab]
    assert 0.5 < p.sum() / max(y.sum(), 1) < 2.0  # expected and observed counts agree
    assert np.mean((p - y) ** 2) < np.mean((y.mean() - y) ** 2)
    assert trained.detector.model_.n_estimators == trained.detector.best_iteration_  # the refitted model


def test_path_attribution_adds_up_to_the_raw_score(trained, world_history):
    d = trained.detector
    f = d.features(trained.windows.test, world_history)
    top = f.iloc[np.argsort(-d.margin(f))[:100]]  # the rows an analyst reads reasons for
    contrib = d.contributions(top)
    np.testing.assert_allclose(contrib.sum(axis=1) + d.expected_value_, d.margin(top), atol=1e-6)
    np.testing.assert_allclose(d.contributions(top.iloc[:5]), contrib[:5], atol=1e-12)  # a request's few rows
    exact = d.contributions(top, exact=True)
    families = pd.Series([d.features_.feature_family_[n] for n in d.attribution_.feature_names])
    by_family = lambda c: pd.DataFrame(c, columns=families).T.groupby(level=0).sum().T  # noqa: E731
    # reasons come from the (up to three) families pushing the risk up most: the family the
    # cheap attribution puts first is nearly always among exact SHAP's first three
    exact_top3 = by_family(exact).apply(lambda r: set(r.nlargest(3).index), axis=1)
    first = by_family(contrib).idxmax(axis=1)
    assert np.mean([f in top3 for f, top3 in zip(first, exact_top3)]) > 0.85


def test_the_evidence_model_keeps_the_known_directions():
    """Twenty seizures that happen to sit on *cleaner* paperwork cannot teach the evidence model
    that a contradiction lowers the risk: a directed weight is never negative, a missing value
    counts as a typical one, and one extreme figure is clipped."""
    from contraband.models.evidence import EvidenceModel

    rng = np.random.default_rng(0)
    n = 2000
    y = np.zeros(n, dtype=int)
    y[:20] = 1
    x = pd.DataFrame({
        "deviation": rng.normal(0, 1, n) + 3.0 * y,  # higher is riskier, and it shows
        "share_of_line": rng.uniform(0, 1, n) - 0.6 * y,  # lower is riskier (direction -1), and it shows
        "contradiction": (rng.random(n) < 0.2).astype(float) * (1 - y),  # riskier, but no seizure has one
        "undirected": rng.normal(0, 1, n),
    })
    directions = {"deviation": 1, "share_of_line": -1, "contradiction": 1}
    model = EvidenceModel().fit(x, y, directions, reference=x)
    coef = dict(zip(model.features_, model.coef_))
    assert "undirected" not in coef and (model.coef_ >= 0).all()
    assert coef["deviation"] > 0 and coef["share_of_line"] > 0 and coef["contradiction"] == 0
    values = x.to_numpy()
    np.testing.assert_allclose(model.contributions(values).sum(axis=1) + model.intercept_, model.margin(values))
    probe = np.array([[np.nan, 0.5, 0.0, 0.0], [1e9, 0.5, 0.0, 0.0], [model.clip * x["deviation"].std() * 2, 0.5, 0.0, 0.0]])
    typical = model.center_[0] * model.sign_[0]
    m = model.margin(probe)
    assert m[0] == pytest.approx(model.margin(np.array([[typical, 0.5, 0.0, 0.0]]))[0])
    assert m[1] == pytest.approx(m[2])  # clipped at the same number of spreads


def test_the_evidence_model_weighs_most_when_seizures_are_few(trained):
    from contraband.models.evidence import evidence_weight

    assert evidence_weight(20) == evidence_weight(50) == 0.5
    assert evidence_weight(75) == pytest.approx(0.25) and evidence_weight(100) == evidence_weight(5000) == 0.0
    d = trained.detector
    positives = d.train_summary_["train_positives"] + d.train_summary_["valid_positives"]
    assert d.evidence_weight_ == evidence_weight(positives)
    assert (d.blend_ is not None) == (positives < 100)


def test_budget_counts_are_exact():
    assert flag_count(100, 0.07) == 7  # not ceil(7.000000000000001) = 8
    assert flag_count(1000, 0.001) == 1 and flag_count(3, 0.5) == 2 and flag_count(10, 1.0) == 10
    assert exploration_count(5, 0.1) == 1  # half rounds up, not to even
    assert exploration_count(15, 0.1) == 2 and exploration_count(14, 0.1) == 1 and exploration_count(10, 0.0) == 0
    listing = inspection_list(np.linspace(0, 1, 100), np.arange(100), budget=0.07, exploration=0.0)
    assert listing["flagged"].sum() == 7


def test_exploration_share_is_reserved_marked_and_independent_of_row_order():
    rng = np.random.default_rng(1)
    margin, ids = rng.normal(size=10_000), np.array([f"D{i}" for i in range(10_000)], dtype=object)
    listing = inspection_list(margin, ids, budget=0.05, exploration=0.1, seed=7)
    assert listing["flagged"].sum() == 500 and listing["exploration"].sum() == 50
    model_picks = listing["flagged"] & ~listing["exploration"]
    assert listing.loc[model_picks, "rank"].max() == 450  # the model keeps its top 450
    assert (listing.loc[listing["exploration"], "rank"] > 450).all()
    order = rng.permutation(len(margin))
    shuffled = inspection_list(margin[order], ids[order], budget=0.05, exploration=0.1, seed=7)
    assert set(ids[order][shuffled["exploration"].to_numpy()]) == set(ids[listing["exploration"].to_numpy()])
    assert not listing.equals(inspection_list(margin, ids, budget=0.05, exploration=0.1, seed=8))
    greedy = inspection_list(margin, ids, budget=0.05, exploration=0.0)
    assert greedy["exploration"].sum() == 0 and greedy.loc[greedy["flagged"], "rank"].max() == 500
    uncertain = inspection_list(margin - 6, ids, budget=0.05, exploration=0.5, mode="uncertainty", seed=1)
    assert uncertain.loc[uncertain["exploration"], "rank"].median() < 5000  # closer to the boundary
    with pytest.raises(ValueError):
        inspection_list(margin, ids, budget=0)


def test_small_requests_are_flagged_by_the_models_budget_threshold():
    margin = np.array([3.0, 0.5, -2.0])
    threshold = lambda share: 1.0  # noqa: E731 - margins at or above 1.0 are in the budget
    listing = inspection_list(margin, np.array(["a", "b", "c"], dtype=object), budget=0.05, exploration=0.0,
                              rule="threshold", threshold=threshold)
    assert listing["flagged"].tolist() == [True, False, False]
    alone = inspection_list(margin[1:2], np.array(["b"], dtype=object), budget=0.05, exploration=0.0,
                            rule="threshold", threshold=threshold)
    assert not alone["flagged"].any()  # a declaration sent alone is no longer always flagged
    # exploration below the threshold: about budget x exploration / (1 - model share) of the rest
    many = inspection_list(np.full(20_000, -5.0), np.arange(20_000), budget=0.05, exploration=0.2, seed=3,
                           rule="threshold", threshold=threshold)
    assert many["flagged"].mean() == pytest.approx(0.05 * 0.2 / (1 - 0.05 * 0.8), rel=0.15)


def test_every_flagged_row_has_reasons_naming_its_evidence(scored):
    """Every number a reason quotes is the declaration's own (value per kg, weights per unit and
    per package, beside the goods' HS code)."""
    test, out = scored
    flagged = out[out["flagged"]]
    assert (flagged["reason_1"] != "").all()
    assert (out.loc[~out["flagged"], "reason_1"] == "").all()
    assert flagged.loc[flagged["exploration"], "reason_1"].str.startswith(EXPLORATION_PREFIX).all()
    checked = 0
    for idx, row in flagged.iterrows():
        record = test.loc[idx]
        hs = f"HS {str(record['hs_code'])[:4]}.{str(record['hs_code'])[4:6]}"
        for reason in row[["reason_1", "reason_2", "reason_3"]]:
            m = re.search(r"declared ([\d,.]+) USD/kg, ([\d./]+x|1/[\d.]+ of) the usual ([\d,.]+)", reason)
            if m:
                usd_kg = record["declared_value_usd"] / record["net_weight_kg"]
                assert float(m.group(1).replace(",", "")) == pytest.approx(usd_kg, rel=0.01, abs=0.01)
                assert hs in reason
                checked += 1
            m = re.search(r"^([\d,.]+) kg per (m2|litre|piece|pair|set|unit), .* the usual [\d,.]+ for ", reason)
            if m:
                assert float(m.group(1).replace(",", "")) == pytest.approx(
                    record["net_weight_kg"] / record["quantity"], rel=0.01, abs=0.01)
                assert hs in reason
                checked += 1
            m = re.search(r"^([\d,.]+) kg gross per package", reason)
            if m:
                assert float(m.group(1).replace(",", "")) == pytest.approx(
                    record["gross_weight_kg"] / record["packages"], rel=0.01, abs=0.01)
                checked += 1
            assert not re.search(r"days after the export control|carries risk|^routed ", reason), reason
    assert checked >= 5


def test_reasons_are_specific_on_a_generated_day(trained, world_history):
    """On the test window's busiest day, every reason template's evidence holds for under 10 %
    of the declarations the model did not flag (a reason true of a whole trade says nothing),
    and every flagged row's reasons come from templates whose evidence holds for it."""
    from contraband.data.columns import Columns
    from contraband.models.reasons import NO_EVIDENCE, TEMPLATES

    test = trained.windows.test
    days = test["declaration_date"].dt.normalize()
    day = test[days == days.value_counts().index[0]]
    blind = world_history.blind(day_of(trained.windows.test_from))
    detector = trained.detector
    out = score(detector, day, blind, budget=0.05, flag_by="budget", record=False)
    holds = detector.evidence_holding(day, detector.features_.matrix(Columns(day), blind))
    unflagged = ~out["flagged"].to_numpy()
    assert len(day) >= 200 and unflagged.sum() >= 190
    share = {t.name: float(holds[t.name][unflagged].mean()) for t in TEMPLATES}
    assert max(share.values()) < 0.10, share
    flagged = out[out["flagged"] & ~out["exploration"]]
    given = [r for r in flagged[["reason_1", "reason_2", "reason_3"]].to_numpy().ravel() if r and not r.startswith(NO_EVIDENCE)]
    assert given  # the model's top rows carry checkable evidence
    holding = sum(bool(holds[t.name][out["flagged"].to_numpy()].any()) for t in TEMPLATES)
    assert holding >= 3  # several kinds of evidence among the flagged rows, not one template


def test_a_reason_quotes_the_evidence_and_its_comparison():
    """The sentence an analyst checks: the declared figure, how far off, the usual figure, the goods."""
    from contraband.models.reasons import NO_EVIDENCE, TEMPLATES, evidence_holds, reasons

    names = ["kg_per_unit", "kg_per_unit_vs_hs6", "kg_per_unit_z", "days_since_control", "exporter_age_days",
             "exporter_prior_declarations"]
    family = {"kg_per_unit": "physical", "kg_per_unit_vs_hs6": "physical", "kg_per_unit_z": "deviation",
              "days_since_control": "policy", "exporter_age_days": "entities", "exporter_prior_declarations": "entities"}
    nan = float("nan")
    features = {"kg_per_unit": np.array([2.9, 0.9]), "kg_per_unit_vs_hs6": np.log([3.4, 1.05]),
                "kg_per_unit_z": np.array([6.0, 0.4]), "days_since_control": np.array([582.0, 582.0]),
                "exporter_age_days": np.array([nan, 400.0]), "exporter_prior_declarations": np.log1p([0.0, 50.0])}
    records = {"hs_code": np.array(["961800", "961800"], dtype=object),
               "quantity_unit": np.array(["PCS", "PCS"], dtype=object)}
    # the model leans on the time since the control first, then the weight, then the trader
    contributions = np.array([[0.5, 0.4, 0.3, 2.0, 0.1, 0.1], [0.5, 0.4, 0.3, 2.0, 0.1, 0.1]])
    out = reasons(contributions, names, family, features, records)
    assert out[0][0] == "2.90 kg per piece, 3.4x the usual 0.85 for HS 9618.00 (plastic mannequin)"
    assert out[0][1] == "exporter never seen before"
    # with how common a first-time exporter is (the training window's sample), it says so
    novelty = {"exporter": {"all": 0.04, "rows": 500, "chapters": {"96": 0.02}}}
    compared = reasons(contributions, names, family, features, records, context={"novelty": novelty})
    assert compared[0][1] == "exporter never seen before; 2% of HS chapter 96 declarations come from first-time exporters"
    assert not any("control" in r for r in out[0])  # context, never a reason
    # an ordinary weight and an established exporter: nothing to say
    holds = evidence_holds(features, records, 2)
    assert not holds["kg_per_unit"][1] and not holds["exporter_new"][1]
    # no checkable evidence: the weak signals that pushed it, in words, with how far each is from
    # usual (the time since the control is context, never named)
    assert out[1] == [f"{NO_EVIDENCE}: weight per unit: 0.90; weight per unit against this HS code's usual: 1.05x "
                      "the usual; weight per unit: +0.4 spreads from usual"]
    assert {t.name for t in TEMPLATES} >= {"kg_per_unit", "consignee_network", "incoterm_mode_misfit"}


def test_checkable_evidence_leads_and_novelty_follows():
    """A first-time exporter that pushed the risk most is said after the value off its goods'
    usual; with more families pushing than reasons shown, novelty is what gives way."""
    from contraband.models.reasons import reasons

    names = ["exporter_age_days", "exporter_prior_declarations", "value_vs_hs6", "value_z", "vague_description",
             "consignee_age_days", "consignee_prior_declarations"]
    family = {"exporter_age_days": "entities", "exporter_prior_declarations": "entities", "value_vs_hs6": "value",
              "value_z": "value", "vague_description": "text", "consignee_age_days": "consignees",
              "consignee_prior_declarations": "consignees"}
    nan = float("nan")
    features = {"exporter_age_days": np.array([nan, nan]), "exporter_prior_declarations": np.array([0.0, 0.0]),
                "value_vs_hs6": np.log([0.1, 1.0]), "value_z": np.array([-5.0, 0.1]), "usd_per_kg": np.array([5.0, 50.0]),
                "vague_description": np.array([1.0, 0.0]),
                "consignee_age_days": np.array([nan, nan]), "consignee_prior_declarations": np.array([0.0, 0.0])}
    records = {"hs_code": np.array(["284690", "284690"], dtype=object),
               "goods_description": np.array(["goods", "cerium oxide"], dtype=object),
               "declared_value_usd": np.array([500.0, 5000.0]), "net_weight_kg": np.array([100.0, 100.0])}
    # the exporter's novelty pushes most, then the consignee's, then the value, then the text
    contributions = np.array([[3.0, 0.0, 1.0, 0.0, 0.5, 2.0, 0.0]] * 2)
    out = reasons(contributions, names, family, features, records)
    assert out[0][0].startswith("declared 5.00 USD/kg, 1/10.0 of the usual 50.0 for HS 2846.90")
    assert out[0][1] == "vague description 'goods'"
    assert out[0][2] == "exporter never seen before"  # the consignee's novelty gave way
    # nothing checkable on the second row: its novelty reasons, strongest first
    assert out[1] == ["exporter never seen before", "consignee never seen before"]


def test_a_falsified_net_weight_is_seen_through_the_gross_weight():
    """Tiles declared at the normal 22 kg per m2 whose gross weight is a third over the net: the
    weight per unit says nothing, the gross weight does (and its reason quotes both weights);
    an ordinary consignment's packaging says nothing."""
    from contraband.data.columns import Columns
    from contraband.features.deviation import DeviationFeatures
    from contraband.models.reasons import GROSS_Z, evidence_holds, reasons

    rng = np.random.default_rng(1)
    n = 300
    net = 22_000 * np.exp(rng.normal(0, 0.03, n))
    usual = pd.DataFrame({"hs_code": "690721", "quantity_unit": "M2", "quantity": 1000.0, "net_weight_kg": net,
                          "gross_weight_kg": net * (1 + 0.06 * np.exp(rng.normal(0, 0.3, n))),
                          "declared_value_usd": 9000.0, "packages": 25.0, "transport_mode": "sea"})
    deviation = DeviationFeatures().fit(usual)
    probe = usual.head(2).assign(net_weight_kg=22_000.0, gross_weight_kg=[22_000.0 * 1.06 * 1.3, 22_000.0 * 1.06])
    out = deviation._columns(Columns(probe))
    assert abs(out["kg_per_unit_z"][0]) < 2 and out["gross_to_net_z"][0] > GROSS_Z and abs(out["gross_to_net_z"][1]) < 2
    features = {"gross_to_net": (probe["gross_weight_kg"] / probe["net_weight_kg"]).to_numpy(),
                "gross_to_net_z": out["gross_to_net_z"]}
    records = {c: probe[c].to_numpy(dtype=object) for c in ("hs_code", "gross_weight_kg", "net_weight_kg")}
    assert evidence_holds(features, records, 2)["gross_to_net"].tolist() == [True, False]
    said = reasons(np.array([[1.0, 1.0], [1.0, 1.0]]), ["gross_to_net", "gross_to_net_z"],
                   {"gross_to_net": "physical", "gross_to_net_z": "deviation"}, features, records)
    assert said[0][0].startswith("gross weight 30,316 kg, 1.38x the 22,000 kg net declared (")
    assert "spreads above the usual for HS 6907.21" in said[0][0] and not said[1][0].startswith("gross")


def test_per_unit_evidence_only_where_the_quantity_counts_pieces():
    """In kilograms a 'per unit' figure is the value or weight per kg again: not a second reason."""
    from contraband.models.reasons import evidence_holds

    features = {"unit_value_vs_hs6": np.log([9.3, 9.3]), "unit_value_z": np.array([5.0, 5.0]),
                "kg_per_unit_vs_hs6": np.log([3.4, 3.4]), "kg_per_unit_z": np.array([6.0, 6.0])}
    records = {"quantity_unit": np.array(["PCS", "KG"], dtype=object)}
    holds = evidence_holds(features, records, 2)
    assert holds["unit_value"].tolist() == [True, False]
    assert holds["kg_per_unit"].tolist() == [True, False]


def test_scores_ranks_and_budget(scored):
    test, out = scored
    assert out["flagged"].sum() == flag_count(len(test), 0.05)
    assert sorted(out["rank"]) == list(range(1, len(test) + 1))
    top = out.sort_values("rank")
    assert top["risk_score"].is_monotonic_decreasing
    assert out["risk_score"].between(0, 1).all()


def test_a_manifest_with_only_the_required_fields_is_scored(trained, world_history):
    from contraband.data.contract import REQUIRED_FIELDS

    manifest = trained.windows.test[list(REQUIRED_FIELDS)].head(300)  # no traders, route or outcomes
    out = score(trained.detector, manifest, world_history, budget=0.05, flag_by="budget", record=False)
    assert out["risk_score"].notna().all() and out["flagged"].sum() == 15
    assert (out.loc[out["flagged"], "reason_1"] != "").all()


def test_budget_metrics_by_hand():
    score_ = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0] * 10)
    y = np.zeros(100, dtype=int)
    y[[0, 1, 2, 50]] = 1
    value = np.ones(100)
    value[50] = 97.0
    m = M.budget_metrics(score_, y, value)
    assert m["positives"] == 4 and m["rows"] == 100
    assert m["precision_at_1pct"] == 1.0 and m["recall_at_1pct"] == 0.25
    assert m["value_recall_at_1pct"] == pytest.approx(1 / 100)
    # the top 10 % are the ten rows scoring 0.9: rows 0 and 50 among them carry contraband
    assert m["precision_at_10pct"] == pytest.approx(0.2) and m["recall_at_10pct"] == pytest.approx(0.5)
    assert m["value_recall_at_10pct"] == pytest.approx(98 / 100)


def test_trader_reasons_never_show_a_missing_number():
    from contraband.models.reasons import evidence_holds, reasons

    nan = float("nan")
    names = ["consignee_age_days", "consignee_prior_declarations"]
    features = {"consignee_age_days": np.array([nan, 2.0, nan]),
                "consignee_prior_declarations": np.array([nan, np.log1p(1.0), 0.0])}
    holds = evidence_holds(features, {}, 3)
    assert holds["consignee_new"].tolist() == [False, True, True]  # no consignee declared: no evidence
    out = reasons(np.ones((3, 2)), names, dict.fromkeys(names, "entities"), features, {})
    assert out[1] == ["consignee first seen 2 days ago (1 earlier declaration)"]
    assert out[2] == ["consignee never seen before"]
    assert "nan" not in " ".join(out[0])


def test_few_seizures_get_small_regularised_trees_many_get_the_defaults():
    from contraband.models.detector import FEW_LABELS, regularisation

    few, many = regularisation(20), regularisation(FEW_LABELS)
    assert few["num_leaves"] < 31 and few["reg_lambda"] > 1 and few["colsample_bytree"] < 0.8
    assert many == {}


def test_detector_is_monotone_where_the_direction_of_the_evidence_is_known(trained):
    detector = trained.detector
    features = trained.test_features.iloc[:2000]
    constraints = dict(zip(detector.features_.feature_names_out_, detector.features_.monotone_constraints()))
    for name in ("deviation_score", "incoterm_mode_misfit", "loading_port_not_export", "exporter_prior_seizures",
                 "anomaly_score", "description_vs_typical"):
        assert constraints[name] == (-1 if name == "description_vs_typical" else 1), name
    assert constraints["usd_per_kg"] == 0 and constraints["exporter_age_days"] == 0
    base = detector.margin(features)
    for name, sign in constraints.items():
        if not sign:
            continue
        column = features[name].to_numpy()
        high = np.nanmax(column) if np.isfinite(column).any() else 1.0
        raised = features.copy()
        raised[name] = np.where(np.isnan(column), np.nan, np.maximum(column, high))
        change = (detector.margin(raised) - base) * sign
        assert (change >= -1e-9).all(), name


class _CountingTrainer(LocalTrainer):
    """The local trainer, counting what it is asked to fit."""

    def __init__(self):
        self.sizes, self.fits = [], 0

    def fit_stopping_early(self, detector, params, *args):
        self.sizes.append(params["num_leaves"])
        return super().fit_stopping_early(detector, params, *args)

    def fit(self, *args):
        self.fits += 1
        return super().fit(*args)


def test_with_many_seizures_the_tree_size_is_searched_and_the_calibration_costs_no_fit(trained, world_history,
                                                                                       monkeypatch):
    """Tree sizes are tried from the largest down while the validation window's average precision
    improves; with enough seizures in the validation window the calibration is fitted on the
    early-stopped model's margins there, so the refit is the only fit after the search, and the
    calibrated risk still beats the base rate on the blind test window."""
    monkeypatch.setattr(detector_module, "FEW_LABELS", 1)  # the small world's seizures count as many
    monkeypatch.setattr(detector_module, "VALIDATION_CALIBRATION_POSITIVES", 1)
    w, said, trainer = trained.windows, [], _CountingTrainer()
    d = Detector(evidence=False, log=said.append).fit(w.train, w.valid, world_history, trainer=trainer)
    scores = [float(m.group(1)) for m in map(re.compile(r"leaves: \d+ trees, validation average precision (\S+)").search,
                                              said) if m]
    assert trainer.sizes == list(detector_module.LEAVES[:len(trainer.sizes)]) and len(scores) == len(trainer.sizes)
    assert all(later > earlier for earlier, later in pairwise(scores[:-1]))  # each smaller size tried improved
    if len(scores) < len(detector_module.LEAVES):
        assert scores[-1] <= max(scores[:-1])  # and the search stopped where it did not
    assert d.model_.get_params()["num_leaves"] == trainer.sizes[int(np.argmax(scores))]
    assert trainer.fits == 1 and any("early-stopped model's margins on the validation window" in m for m in said)
    lab = labelled(w.test)
    p = d.predict_proba(w.test, world_history.blind(day_of(w.test_from)))[lab, 1]
    y = labels(w.test)[lab]
    assert np.mean((p - y) ** 2) < np.mean((y.mean() - y) ** 2)
    with pytest.raises(ValueError, match="calibrate_on"):
        Detector(calibrate_on="sometimes")._calibrate_on_validation(y)


def test_the_detector_learns_how_common_a_first_time_trader_is(trained, world):
    """The comparison of a novelty reason: from the training window's sample of all declarations."""
    novelty = trained.detector.novelty_
    for entity in ("exporter", "consignee"):
        rates = novelty[entity]
        assert 0 < rates["all"] < 1 and rates["rows"] > 100
        assert all(0 <= share <= 1 for share in rates["chapters"].values()) and rates["chapters"]


def test_a_validation_window_without_a_seizure_moves_back_to_the_last_seizure_and_stays_out_of_time(
        world, world_history):
    """An administration whose recent inspections found nothing still gets a model: validation
    starts on the day of the last seizure, after every training row; with seizures on one day
    only there is nothing to validate on, and training says so."""
    from contraband.models.detector import labelled, labels, seizure_in_validation
    from contraband.models.training import split_by_time

    w = split_by_time(world)
    clean = w.valid.assign(contraband=np.where(labelled(w.valid), 0.0, np.nan))  # every inspection clean
    train, valid, first = seizure_in_validation(w.train, clean)
    seized_days = pd.to_datetime(w.train.loc[labelled(w.train) & (labels(w.train) == 1), "declaration_date"])
    assert first == seized_days.max().normalize() and len(train) + len(valid) == len(w.train) + len(w.valid)
    assert pd.to_datetime(train["declaration_date"]).max() < first <= pd.to_datetime(valid["declaration_date"]).min()
    assert (labels(valid)[labelled(valid)] == 1).any() and (labels(train)[labelled(train)] == 1).any()
    said = []
    detector = Detector(log=said.append).fit(w.train, clean, world_history)
    assert any(f"starts on {first:%Y-%m-%d} instead" in m for m in said)
    assert detector.train_summary_["valid_positives"] >= 1
    # every seizure on one day: no window can hold one on each side
    one_day = w.train.assign(contraband=np.where(labelled(w.train), 0.0, np.nan))
    day = w.train.index[labelled(w.train)][:2]
    one_day.loc[day, "contraband"] = 1.0
    one_day.loc[day, "declaration_date"] = one_day.loc[day[0], "declaration_date"]
    assert seizure_in_validation(one_day, clean) is None
    with pytest.raises(ValueError, match="validation window needs inspected rows with and without contraband"):
        Detector().fit(one_day, clean, world_history)


def test_the_moved_validation_window_keeps_every_row_out_of_time_with_a_seizure_on_each_side():
    """Generated label layouts: the window moves only when validation holds no seizure and the
    training window has seizures on two days or more; then no row is lost, every validation row
    comes after every training row, and each window holds a seizure."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from contraband.models.detector import seizure_in_validation

    outcome = st.sampled_from([None, 0.0, 1.0])  # not inspected, clean, seized

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.tuples(st.integers(0, 30), outcome), min_size=1, max_size=40),
           st.lists(st.tuples(st.integers(31, 45), outcome), min_size=1, max_size=20))
    def check(train_rows, valid_rows):
        def frame(rows):
            return pd.DataFrame({"declaration_date": [pd.Timestamp("2026-01-01") + pd.Timedelta(days=d) for d, _ in rows],
                                 "inspected": [0 if o is None else 1 for _, o in rows],
                                 "contraband": [np.nan if o is None else o for _, o in rows]})

        train, valid = frame(train_rows), frame(valid_rows)
        moved = seizure_in_validation(train, valid)
        seized_days = {d for d, o in train_rows if o == 1.0}
        if any(o == 1.0 for _, o in valid_rows) or len(seized_days) < 2:
            assert moved is None
            return
        new_train, new_valid, first = moved
        assert len(new_train) + len(new_valid) == len(train) + len(valid)
        assert first == pd.Timestamp("2026-01-01") + pd.Timedelta(days=max(seized_days))
        assert (new_train["declaration_date"] < first).all() and (new_valid["declaration_date"] >= first).all()
        assert (new_train["contraband"] == 1).any() and (new_valid["contraband"] == 1).any()

    check()
