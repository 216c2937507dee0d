"""Detector, calibration, attribution, reasons, exploration and metrics on a generated world."""

import math
import re

import numpy as np
import pandas as pd
import pytest

from contraband.models import metrics as M
from contraband.models.detector import Calibrator, labelled, labels
from contraband.models.scoring import inspection_list, score_declarations
from contraband.models.training import fit_and_evaluate


@pytest.fixture(scope="module")
def outcome(world):
    return fit_and_evaluate(world, log=lambda m: None)


@pytest.fixture(scope="module")
def scored(outcome):
    test = outcome.windows.test
    return test, score_declarations(outcome.detector, test, budget=0.05, exploration=0.1, seed=3)


def test_model_beats_every_baseline_on_the_test_window(outcome):
    r = outcome.results
    for baseline in ("rules", "anomaly", "plain_lightgbm"):
        assert r["model_truth"]["pr_auc"] > r[f"{baseline}_truth"]["pr_auc"], baseline
        assert r["model_truth"]["recall_at_5pct"] >= r[f"{baseline}_truth"]["recall_at_5pct"], baseline
    assert r["model"]["roc_auc"] > 0.9
    typologies = [k for k in r["model_truth"] if k.startswith("recall_at_5pct_")]
    assert len(typologies) >= 5


def test_windows_are_split_by_time_only(outcome):
    w = outcome.windows
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


def test_risk_scores_read_as_probabilities(outcome):
    test = outcome.windows.test
    lab = labelled(test)
    p = outcome.detector.predict_proba(test)[lab, 1]
    y = labels(test)[lab]
    assert 0.4 < p.sum() / max(y.sum(), 1) < 2.5  # expected and observed counts agree
    brier, prior_brier = np.mean((p - y) ** 2), np.mean((y.mean() - y) ** 2)
    assert brier < prior_brier


def test_path_attribution_adds_up_to_the_raw_score(outcome):
    d = outcome.detector
    f = d.features(outcome.windows.test)
    top = f.iloc[np.argsort(-d.margin(None, f))[:100]]  # the rows an analyst reads reasons for
    contrib = d.contributions(top)
    np.testing.assert_allclose(contrib.sum(axis=1) + d.attribution_.expected_value, d.margin(None, top), atol=1e-6)
    exact = d.model_.booster_.predict(top, pred_contrib=True, num_iteration=d.best_iteration_)[:, :-1]
    families = pd.Series([d.features_.feature_family_[n] for n in d.attribution_.feature_names])
    by_family = lambda c: pd.DataFrame(c, columns=families).T.groupby(level=0).sum().T  # noqa: E731
    agree = (by_family(contrib).idxmax(axis=1) == by_family(exact).idxmax(axis=1)).mean()
    assert agree > 0.6  # the cheap attribution usually names the same strongest family as exact SHAP


def test_exploration_share_is_reserved_and_marked():
    margin = np.random.default_rng(1).normal(size=10_000)
    listing = inspection_list(margin, budget=0.05, exploration=0.1, seed=7)
    assert listing["flagged"].sum() == 500 and listing["exploration"].sum() == 50
    model_picks = listing["flagged"] & ~listing["exploration"]
    assert listing.loc[model_picks, "rank"].max() == 450  # the model keeps its top 450
    assert (listing.loc[listing["exploration"], "rank"] > 450).all()
    assert listing.equals(inspection_list(margin, budget=0.05, exploration=0.1, seed=7))
    assert not listing.equals(inspection_list(margin, budget=0.05, exploration=0.1, seed=8))
    greedy = inspection_list(margin, budget=0.05, exploration=0.0)
    assert greedy["exploration"].sum() == 0 and greedy.loc[greedy["flagged"], "rank"].max() == 500
    uncertain = inspection_list(margin - 6, budget=0.05, exploration=0.5, mode="uncertainty", seed=1)
    assert uncertain.loc[uncertain["exploration"], "rank"].median() < 5000  # closer to the boundary
    with pytest.raises(ValueError):
        inspection_list(margin, budget=0)


def test_every_flagged_row_has_reasons_naming_its_evidence(scored):
    test, out = scored
    flagged = out[out["flagged"]]
    assert (flagged["reason_1"] != "").all()
    assert (out.loc[~out["flagged"], "reason_1"] == "").all()
    assert flagged.loc[flagged["exploration"], "reason_1"].str.startswith("exploration pick").all()
    checked = 0
    for idx, row in flagged.iterrows():
        record = test.loc[idx]
        for reason in row[["reason_1", "reason_2", "reason_3"]]:
            m = re.search(r"declared ([\d,.]+) USD/kg", reason)
            if m:
                usd_kg = record["declared_value_usd"] / record["net_weight_kg"]
                assert float(m.group(1).replace(",", "")) == pytest.approx(usd_kg, rel=0.01, abs=0.01)
                assert f"HS {str(record['hs_code'])[:4]}.{str(record['hs_code'])[4:6]}" in reason
                checked += 1
            m = re.search(r"routed ([A-Z]{2}(?: -> [A-Z]{2})+)", reason)
            if m:
                route = m.group(1).split(" -> ")
                assert route[0] == record["origin_country"] and route[-1] == record["destination_country"]
                checked += 1
            m = re.search(r"(\d[\d.,]*) kg per (m2|litre|piece)", reason)
            if m:
                assert float(m.group(1).replace(",", "")) == pytest.approx(
                    record["net_weight_kg"] / record["quantity"], rel=0.01, abs=0.01)
                checked += 1
    assert checked >= 10


def test_scores_ranks_and_budget(scored):
    test, out = scored
    assert out["flagged"].sum() == math.ceil(0.05 * len(test))
    assert sorted(out["rank"]) == list(range(1, len(test) + 1))
    top = out.sort_values("rank")
    assert top["risk_score"].is_monotonic_decreasing
    assert out["risk_score"].between(0, 1).all()


def test_budget_metrics_by_hand():
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0] * 10)
    y = np.zeros(100, dtype=int)
    y[[0, 1, 2, 50]] = 1
    value = np.ones(100)
    value[50] = 97.0
    m = M.budget_metrics(score, y, value)
    assert m["positives"] == 4 and m["rows"] == 100
    assert m["precision_at_1pct"] == 1.0 and m["recall_at_1pct"] == 0.25
    assert m["value_recall_at_1pct"] == pytest.approx(1 / 100)
    # the top 10 % are the ten rows scoring 0.9: rows 0 and 50 among them carry contraband
    assert m["precision_at_10pct"] == pytest.approx(0.2) and m["recall_at_10pct"] == pytest.approx(0.5)
    assert m["value_recall_at_10pct"] == pytest.approx(98 / 100)


def test_a_manifest_with_only_the_required_fields_is_scored(outcome):
    from contraband.data.contract import REQUIRED_FIELDS

    manifest = outcome.windows.test[list(REQUIRED_FIELDS)].head(300)  # no ids, route or outcomes
    out = score_declarations(outcome.detector, manifest, budget=0.05)
    assert out["risk_score"].notna().all() and out["flagged"].sum() == 15
    assert (out.loc[out["flagged"], "reason_1"] != "").all()
    single = score_declarations(outcome.detector, manifest.head(1), budget=0.05)
    assert len(single) == 1 and single["flagged"].all()
