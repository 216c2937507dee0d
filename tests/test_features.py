"""Feature pipeline: leakage-free histories, families that switch off, scikit-learn conventions."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from contraband.data.load import load_declarations
from contraband.data.mapping import bundled_mapping, load_mapping
from contraband.features import DeclarationFeatures
from contraband.features.entities import EntityHistory


@pytest.fixture(scope="module")
def windows(world):
    dates = world["declaration_date"]
    train = world[dates < "2025-11-01"]
    batch = world[(dates >= "2026-01-01") & (dates < "2026-02-01")]
    later = world[dates >= "2026-02-01"]
    return train, batch, later


@pytest.fixture(scope="module")
def fitted(windows):
    return DeclarationFeatures().fit(windows[0])


def flip_outcomes(frame):
    out = frame.copy()
    out["inspected"] = 1
    out["contraband"] = (1 - out["contraband"].fillna(0)).astype("Int8")
    return out


def test_features_of_a_row_ignore_later_rows_and_their_labels(fitted, windows):
    _, batch, later = windows
    alone = fitted.transform(batch)
    with_future = fitted.transform(pd.concat([batch, flip_outcomes(later)]))
    pd.testing.assert_frame_equal(alone, with_future.loc[batch.index])


def test_a_rows_own_outcome_never_reaches_its_features(fitted, windows):
    _, batch, _ = windows
    # flipping every outcome of the batch changes nothing for rows on the batch's first day
    first_day = batch["declaration_date"] == batch["declaration_date"].min()
    a = fitted.transform(batch)[first_day.to_numpy()]
    b = fitted.transform(flip_outcomes(batch))[first_day.to_numpy()]
    pd.testing.assert_frame_equal(a, b)


def test_entity_history_when_fitted_is_out_of_time(windows):
    train, _, later = windows
    early = EntityHistory().fit(train).transform(train)
    grown = EntityHistory().fit(pd.concat([train, flip_outcomes(later)]))
    # the prior rate is learned from the (larger) window; the counts for early rows are not
    counts = [c for c in early.columns if not c.endswith("seizure_rate")]
    pd.testing.assert_frame_equal(early[counts], grown.transform(train)[counts])


def test_entity_history_counts_only_strictly_earlier_rows():
    frame = pd.DataFrame({
        "declaration_id": ["a", "b", "c", "d"],
        "declaration_date": pd.to_datetime(["2025-01-01", "2025-01-01", "2025-01-05", "2025-02-01"]),
        "hs_code": ["381010"] * 4, "exporter_id": ["E1", "E1", "E1", "E1"], "consignee_id": ["C1", "C2", "C1", "C3"],
        "inspected": [1, 1, 0, 1], "contraband": [1, 0, None, 0],
    })
    f = EntityHistory(smoothing=0.0).fit(frame).transform(frame)
    assert np.expm1(f["exporter_prior_declarations"]).round().tolist() == [0, 0, 2, 3]
    assert np.expm1(f["exporter_prior_seizures"]).round().tolist() == [0, 0, 1, 1]
    assert f["exporter_age_days"].tolist() == [0, 0, 4, 31]
    assert f["consignee_exporters"].tolist() == [0, 0, 1, 0]
    assert f.loc[3, "exporter_seizure_rate"] == pytest.approx(1 / 2)


def test_families_switch_off_cleanly_on_kcs(kcs_path):
    kcs = load_declarations(kcs_path("valid"), load_mapping(bundled_mapping("kcs"))).declarations
    features = DeclarationFeatures().fit(kcs)
    assert "text" not in features.active_families_  # KCS has no goods description
    assert {"value", "entities", "route", "declared", "anomaly"} <= set(features.active_families_)
    frame = features.transform(kcs)
    assert not [c for c in frame if c.startswith("description")]
    assert "x_office_id" in frame and frame["x_tax_rate_pct"].dtype == "float64"
    assert set(features.feature_family_.values()) == set(features.active_families_)


def test_truth_columns_never_reach_a_feature(fitted, windows):
    _, batch, _ = windows
    scrambled = batch.copy()
    scrambled["truth_contraband"] = 1 - scrambled["truth_contraband"]
    scrambled["truth_value_usd"] = 0.0
    pd.testing.assert_frame_equal(fitted.transform(batch), fitted.transform(scrambled))
    assert not [c for c in fitted.feature_names_out_ if "truth" in c]


def test_follows_scikit_learn_conventions(fitted, windows):
    params = fitted.get_params()
    assert params["families"] and clone(fitted).get_params() == params
    assert list(fitted.get_feature_names_out()) == list(fitted.transform(windows[1].head(50)).columns)
    with pytest.raises(ValueError, match="unknown feature families"):
        DeclarationFeatures(families=("value", "astrology")).fit(windows[0])


def test_value_and_physical_features_see_the_fingerprints(fitted, windows):
    _, batch, _ = windows
    f = fitted.transform(batch)
    truth = batch["truth_contraband"].to_numpy() == 1
    assert f.loc[truth, "value_vs_hs6"].abs().mean() > 2 * f.loc[~truth, "value_vs_hs6"].abs().mean()
    assert f.loc[truth, "anomaly_score"].mean() > f.loc[~truth, "anomaly_score"].mean()
