"""Feature pipeline: point-in-time histories read from the store, families that switch off,
scikit-learn conventions, and the packed anomaly forest."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.ensemble import IsolationForest

from contraband.data.history import day_of, open_history
from contraband.data.load import load_declarations
from contraband.data.mapping import bundled_mapping, load_mapping
from contraband.features import DeclarationFeatures
from contraband.features.anomaly import PackedForest
from contraband.features.entities import EntityHistory
from history_helpers import clone as clone_store, declarations


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
    out["seized_value_usd"] = np.nan
    return out


def store_of(tmp_path, name, *frames, lag=7):
    store = open_history(tmp_path / f"{name}.db")
    for f in frames:
        store.ingest(f, outcomes=True, lag_days=lag)
    return store


def test_features_of_a_row_ignore_later_rows_and_their_labels(fitted, windows, tmp_path):
    train, batch, later = windows
    upto = store_of(tmp_path, "upto", train, batch)
    grown = clone_store(upto, tmp_path / "grown.db")  # the same history, then later rows with flipped labels
    grown.ingest(flip_outcomes(later), outcomes=True, lag_days=7)
    pd.testing.assert_frame_equal(fitted.transform(batch, upto), fitted.transform(batch, grown))


def test_a_rows_own_outcome_never_reaches_its_features(fitted, windows, tmp_path):
    train, batch, _ = windows
    as_is = store_of(tmp_path, "as-is", train, batch)
    flipped = store_of(tmp_path, "flipped", train, flip_outcomes(batch))
    # outcomes count from their record day (declaration day + 7): the first week of the batch
    # sees none of the batch's outcomes, flipped or not; later rows see the flipped ones
    first_week = (batch["declaration_date"] < batch["declaration_date"].min() + pd.Timedelta(days=8)).to_numpy()
    a, b = fitted.transform(batch, as_is), fitted.transform(batch, flipped)
    pd.testing.assert_frame_equal(a[first_week], b[first_week])
    assert not a[~first_week].equals(b[~first_week])


def test_entity_history_counts_only_strictly_earlier_declarations_and_recorded_outcomes(tmp_path):
    frame = declarations([
        {"declaration_id": "a", "declaration_date": "2025-01-01", "consignee_id": "C1", "inspected": 1, "contraband": 1},
        {"declaration_id": "b", "declaration_date": "2025-01-01", "consignee_id": "C2", "inspected": 1, "contraband": 0},
        {"declaration_id": "c", "declaration_date": "2025-01-05", "consignee_id": "C1", "inspected": 0},
        {"declaration_id": "d", "declaration_date": "2025-02-01", "consignee_id": "C3", "inspected": 1, "contraband": 0},
        {"declaration_id": "e", "declaration_date": "2025-02-01", "consignee_id": "C3", "inspected": 1},  # pending
    ])
    store = open_history(tmp_path / "h.db")
    store.ingest(frame, outcomes=True, lag_days=0)
    family = EntityHistory(smoothing=0.0).fit(frame)
    f = family.transform(frame, store)
    assert np.expm1(f["exporter_prior_declarations"]).round().tolist() == [0, 0, 2, 3, 3]
    assert np.expm1(f["exporter_prior_inspections"]).round().tolist() == [0, 0, 2, 2, 2]
    assert np.expm1(f["exporter_prior_seizures"]).round().tolist() == [0, 0, 1, 1, 1]
    assert f["exporter_age_days"].tolist() == [0, 0, 4, 31, 31]
    assert f["consignee_exporters"].tolist() == [0, 0, 1, 0, 0]
    assert f["exporter_route_new"].tolist() == [1, 1, 0, 0, 0]
    assert f.loc[3, "exporter_seizure_rate"] == pytest.approx(1 / 2)
    # the pending inspection (e) is recorded but never counts as clean: a later declaration sees
    # three inspections with a result (a, b, d) and one seizure
    later = declarations([{"declaration_id": "z", "declaration_date": "2025-03-01"}])
    g = family.transform(later, store)
    assert np.expm1(g["exporter_prior_inspections"]).round().tolist() == [3]
    assert g.loc[0, "exporter_seizure_rate"] == pytest.approx(1 / 3)
    # blind from 1 February: d's result (recorded that day) no longer counts
    h = family.transform(later, store.blind(day_of("2025-02-01")))
    assert np.expm1(h["exporter_prior_inspections"]).round().tolist() == [2]
    assert np.expm1(h["exporter_prior_declarations"]).round().tolist() == [5]  # declarations still count


def test_families_switch_off_cleanly_on_kcs(kcs_path, tmp_path):
    kcs = load_declarations(kcs_path("valid"), load_mapping(bundled_mapping("kcs"))).declarations
    features = DeclarationFeatures().fit(kcs)
    assert "text" not in features.active_families_  # KCS has no goods description
    assert {"value", "entities", "route", "declared", "anomaly"} <= set(features.active_families_)
    frame = features.transform(kcs.head(500), store_of(tmp_path, "kcs", kcs.head(500)))
    assert not [c for c in frame if c.startswith("description")]
    assert "x_office_id" in features.categorical_features_ and frame["x_tax_rate_pct"].dtype == "float64"
    assert set(features.feature_family_.values()) == set(features.active_families_)


def test_truth_columns_never_reach_a_feature(fitted, windows, world_history):
    _, batch, _ = windows
    scrambled = batch.copy()
    scrambled["truth_contraband"] = 1 - scrambled["truth_contraband"]
    scrambled["truth_value_usd"] = 0.0
    pd.testing.assert_frame_equal(fitted.transform(batch, world_history), fitted.transform(scrambled, world_history))
    assert not [c for c in fitted.feature_names_out_ if "truth" in c]


def test_follows_scikit_learn_conventions(fitted, windows, world_history):
    params = fitted.get_params()
    assert params["families"] and clone(fitted).get_params() == params
    assert list(fitted.get_feature_names_out()) == list(fitted.transform(windows[1].head(50), world_history).columns)
    with pytest.raises(ValueError, match="unknown feature families"):
        DeclarationFeatures(families=("value", "astrology")).fit(windows[0])
    with pytest.raises(ValueError, match="read from the history store"):
        fitted.transform(windows[1].head(5))


def test_value_and_physical_features_see_the_fingerprints(fitted, windows, world_history):
    _, batch, _ = windows
    f = fitted.transform(batch, world_history)
    truth = batch["truth_contraband"].to_numpy() == 1
    assert f.loc[truth, "value_vs_hs6"].abs().mean() > 2 * f.loc[~truth, "value_vs_hs6"].abs().mean()
    assert f.loc[truth, "anomaly_score"].mean() > f.loc[~truth, "anomaly_score"].mean()


def test_packed_forest_scores_exactly_as_scikit_learn():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(5000, 7)).astype(np.float32)
    X[:50] *= 8  # some outliers
    forest = IsolationForest(n_estimators=40, random_state=1).fit(X)
    probe = np.vstack([X[:300], rng.normal(scale=5, size=(300, 7)).astype(np.float32)])
    for fitted in (forest, IsolationForest(n_estimators=20, max_features=0.5, random_state=2).fit(X)):
        packed = PackedForest(fitted, 7)
        assert len(probe) >= packed.compiled_rows  # a manifest: leaves from scikit-learn's apply
        many = packed.score(probe)
        np.testing.assert_allclose(many, -fitted.score_samples(probe), rtol=1e-12)
        # one declaration at a time takes the packed walk, and gets the bit-identical score
        alone = np.concatenate([packed.score(probe[i:i + 1]) for i in range(0, len(probe), 7)])
        np.testing.assert_array_equal(alone, many[::7])


def test_features_of_the_loaders_columns_equal_those_of_a_frame(fitted, windows, world_history):
    """A request is featurised from the contract loader's arrays, a batch from a frame: the same
    numbers either way, one declaration at a time or many."""
    _, batch, _ = windows
    rows = batch.head(40)
    loaded = load_declarations(rows.drop(columns=[c for c in rows if c.startswith("truth_")]))
    from_frame = fitted.transform(rows, world_history).to_numpy()
    from_columns = fitted.matrix(loaded.columns, world_history)
    np.testing.assert_allclose(from_columns, from_frame, rtol=1e-12, equal_nan=True)
    for i in (0, 13, 39):
        alone = load_declarations(rows.iloc[[i]].drop(columns=[c for c in rows if c.startswith("truth_")]))
        np.testing.assert_allclose(fitted.matrix(alone.columns, world_history)[0], from_frame[i], rtol=1e-12,
                                   equal_nan=True)


def test_description_weights_and_similarities_are_the_fitted_vectorizers_own(fitted):
    """A description is weighted with the vectorizer's own parts, fast for one declaration: the
    same vector as scikit-learn's transform, and the same similarities."""
    text = fitted.families_["text"]
    docs = ["lead-free solder paste sac305", "CERAMIC floor tile 60x60", "nickel powder 99.9%", "zz", "mannequin"]
    expected = text.vectorizer_.transform(docs).toarray()
    for i, doc in enumerate(docs):
        got = np.zeros(expected.shape[1])
        for j, w in text.weights(doc).items():
            got[j] = w
        np.testing.assert_allclose(got, expected[i], rtol=1e-5, atol=1e-6)
    codes = ["381010", "690721", "750400", "999999", "961800"]
    sims = text._similarities(list(zip(docs, codes)))
    hs_at = {c: i for i, c in enumerate(text.hs_codes_)}
    for doc, code, row in zip(docs, codes, expected):
        if code in hs_at:
            library = float(text.hs_matrix_[hs_at[code]].toarray().ravel() @ row)
            assert sims[(doc, code)][0] == pytest.approx(library, rel=1e-5, abs=1e-6)
        else:
            assert np.isnan(sims[(doc, code)][0])


def test_a_neighbour_of_a_controlled_code_is_exposed_to_its_controls():
    """Cerium compounds (2846.10) and other magnets (8505.19) share their heading with controlled
    rare-earth compounds and NdFeB magnets: the time since the April 2025 control counts for
    them, as for the controlled codes and the named covers; an unrelated good has none."""
    from contraband.data.columns import Columns
    from contraband.features.policy import PolicyFeatures

    rows = pd.DataFrame({"hs_code": ["284610", "850519", "284690", "690721", "847130", "284610"],
                         "declaration_date": pd.to_datetime(["2025-06-01"] * 5 + ["2025-01-02"])})
    policy = PolicyFeatures().fit(rows)
    out = policy._columns(Columns(rows))
    since, in_force = out["days_since_control"], out["control_in_force"]
    assert since[0] == since[1] == since[2] and np.isfinite(since[0]) and 40 <= since[0] <= 60
    assert np.isfinite(since[3]) and np.isnan(since[4]) and in_force[4] == 0
    assert in_force[:4].tolist() == [1, 1, 1, 1] and in_force[5] == 0  # before the control took effect
    # a neighbour is not called controlled, nor a named cover
    assert out["controlled_hs"].tolist() == [0, 0, 1, 0, 0, 0] and out["cover_hs"][:2].tolist() == [0, 0]


def test_only_a_heavier_weight_per_unit_counts_as_excess():
    """A dense material hidden in a cover makes it heavier per m2 than its goods; lighter tiles
    are no evidence of that: the excess is the z-score above the norm, zero below it, missing
    where kilograms are declared; the pipeline holds the classifier increasing in it."""
    from contraband.data.columns import Columns
    from contraband.features.deviation import DeviationFeatures

    rng = np.random.default_rng(0)
    n = 200
    usual = pd.DataFrame({"hs_code": "690721", "quantity_unit": "M2", "quantity": 1000.0,
                          "net_weight_kg": 1000 * 22 * np.exp(rng.normal(0, 0.03, n)),
                          "declared_value_usd": 9000.0, "gross_weight_kg": 23_500.0, "packages": 25.0,
                          "transport_mode": "sea", "declaration_date": pd.Timestamp("2025-03-01")})
    deviation = DeviationFeatures().fit(usual)
    probe = usual.head(4).assign(net_weight_kg=[22_000.0 * 1.25, 22_000.0 / 1.25, 22_000.0, 26_000.0],
                                 quantity_unit=["M2", "M2", "M2", "KG"])
    out = deviation._columns(Columns(probe))
    excess, z = out["kg_per_unit_excess"], out["kg_per_unit_z"]
    assert excess[0] == z[0] > 3 and excess[1] == 0 and z[1] < -3 and abs(excess[2]) < 1
    assert np.isnan(excess[3])  # no weight per unit where kilograms are declared
    assert deviation.monotone()["kg_per_unit_excess"] == 1


@pytest.mark.parametrize("budget", [1 << 40, 300_000])
def test_a_batch_s_kept_series_give_the_store_s_features(fitted, windows, world_history, budget):
    """Issue 40: a large batch scores through every kind read whole once and kept (within a
    memory budget; the others read by keys at each request): the same features as the store's
    own reads, block after block, whatever the budget keeps."""
    from contraband.data.history.kept import KeptSeries

    _, batch, _ = windows
    kept = KeptSeries(world_history, budget=budget)
    for block in (batch.iloc[:1500], batch.iloc[1500:1530], batch.iloc[1530:]):
        np.testing.assert_array_equal(fitted.matrix(block, kept), fitted.matrix(block, world_history))
    assert kept.held <= budget and kept.kept  # some kinds kept, never more than the budget
    assert bool(kept.too_large) == (budget < 1 << 40)  # a small budget leaves some kinds to the store
