"""The scoring contract: a declaration's risk score depends only on the declaration and on the
history recorded strictly before its day; never on the rest of the request, its order or its
chunking. Freshness: what is scored or recorded today counts from tomorrow. Blind evaluation.
The contract is checked with the history on SQLite and on a real PostgreSQL server."""

import numpy as np
import pandas as pd
import pytest

from contraband.data.contract import OUTCOME_FIELDS
from contraband.data.history import day_of, open_history
from contraband.models.scoring import score
from conftest import DATABASES
from history_helpers import clone

CUT = "2026-09-01"


@pytest.fixture(scope="module", params=[pytest.param(d, marks=pytest.mark.slow) if d == "postgresql" else d
                                        for d in DATABASES])
def base(request, world, tmp_path_factory):
    """The world's history before the cut (declarations and outcomes), on each database in turn
    (the PostgreSQL copy, two minutes of loading and scoring, in the slow suite: the store's own
    suite runs on both databases in every ``make test``)."""
    if request.param == "sqlite":
        store = open_history(tmp_path_factory.mktemp("contract") / "base.db")
    else:
        store = open_history(request.getfixturevalue("postgres").database("contract_base"))
    store.ingest(world[world["declaration_date"] < CUT], outcomes=True)
    yield store
    store.close()


@pytest.fixture(scope="module")
def manifest(world):
    """Twelve days of declarations after the cut, as an analyst receives them: no outcomes."""
    rows = world[(world["declaration_date"] >= CUT) & (world["declaration_date"] < "2026-09-13")]
    return rows.drop(columns=[c for c in OUTCOME_FIELDS if c in rows]).reset_index(drop=True)


def scores(detector, frame, store):
    out = score(detector, frame, store, budget=0.05, exploration=0.0, flag_by="budget")
    return pd.Series(out["risk_score"].to_numpy(), index=frame["declaration_id"].to_numpy()).sort_index()


def test_a_declarations_score_is_the_same_alone_inside_shuffled_and_in_chunks(trained, base, manifest, tmp_path):
    d = trained.detector
    assert manifest["declaration_date"].nunique() >= 10
    whole_store = clone(base, tmp_path / "whole.db")
    whole = scores(d, manifest, whole_store)
    shuffled = scores(d, manifest.sample(frac=1, random_state=3), clone(base, tmp_path / "shuffled.db"))
    np.testing.assert_allclose(shuffled.to_numpy(), whole.to_numpy(), rtol=0, atol=1e-9)
    chunk_store = clone(base, tmp_path / "chunks.db")
    days = np.sort(manifest["declaration_date"].unique())
    parts = [scores(d, manifest[manifest["declaration_date"].isin(block)], chunk_store)
             for block in np.array_split(days, 3)]
    np.testing.assert_allclose(pd.concat(parts).sort_index().to_numpy(), whole.to_numpy(), rtol=0, atol=1e-9)
    # a declaration sent alone, once its manifest's earlier days are history, scores as inside it
    for i in np.random.default_rng(0).choice(len(manifest), 25, replace=False):
        alone = scores(d, manifest.iloc[[i]], whole_store)
        assert alone.iloc[0] == pytest.approx(whole[manifest.loc[i, "declaration_id"]], abs=1e-9)
    # the file's earlier days really are history for its later days (not a vacuous equality)
    first_day = manifest["declaration_date"] == days[0]
    fresh = scores(d, manifest[~first_day], clone(base, tmp_path / "without-day-one.db"))
    assert (fresh - whole[fresh.index]).abs().max() > 1e-6
    # scoring the same input again changes nothing, in the store or in the scores
    before = whole_store.summary()
    np.testing.assert_allclose(scores(d, manifest, whole_store).to_numpy(), whole.to_numpy(), rtol=0, atol=1e-9)
    assert whole_store.summary() == before


def test_a_declaration_scored_today_is_history_tomorrow(trained, base, manifest, tmp_path):
    store = clone(base, tmp_path / "fresh.db")
    d = trained.detector
    new = manifest.iloc[[0]].assign(declaration_id="NEW-1", exporter_id="EX-NEW")
    day = new["declaration_date"].iloc[0]
    score(d, new, store)
    same_day = new.assign(declaration_id="NEW-2")
    next_day = new.assign(declaration_id="NEW-3", declaration_date=day + pd.Timedelta(days=1))
    f = d.features(pd.concat([same_day, next_day], ignore_index=True), store)
    assert np.expm1(f["exporter_prior_declarations"]).round().tolist() == [0, 1]
    assert f["exporter_age_days"].tolist() == [0, 1]


def test_an_outcome_counts_from_the_day_after_it_was_recorded(trained, base, manifest, tmp_path):
    store = clone(base, tmp_path / "outcome.db")
    d = trained.detector
    seized = manifest.iloc[[0]].assign(declaration_id="SEIZED-1", exporter_id="EX-SEIZED")
    score(d, seized, store)
    recorded = seized["declaration_date"].iloc[0] + pd.Timedelta(days=3)
    store.record_outcomes(pd.DataFrame({"declaration_id": ["SEIZED-1"], "inspected": [1], "contraband": [1],
                                        "recorded_at": [recorded]}))
    probes = pd.concat([seized.assign(declaration_id=f"P{k}", declaration_date=recorded + pd.Timedelta(days=k))
                        for k in (0, 1)], ignore_index=True)
    f = d.features(probes, store)
    assert np.expm1(f["exporter_prior_seizures"]).round().tolist() == [0, 1]
    risk = score(d, probes, store, record=False)["risk_score"].to_numpy()
    assert risk[1] > risk[0]  # the seizure recorded yesterday raises today's risk


@pytest.mark.slow
def test_blind_evaluation_is_the_store_as_it_stood_on_the_first_test_day(trained, world, history_location):
    """Scoring the test window blind equals scoring it against a store that never received an
    outcome recorded on or after the first test day; with the outcomes visible it differs."""
    test_from = trained.windows.test_from
    lag = pd.Timedelta(days=7)
    known = world[world["declaration_date"] + lag < test_from]
    unknown = world[world["declaration_date"] + lag >= test_from]
    then = open_history(history_location("then"))
    then.ingest(known, outcomes=True, lag_days=7)
    then.ingest(unknown, outcomes=False)
    full = open_history(history_location("full"))
    full.ingest(world, outcomes=True, lag_days=7)
    d, test = trained.detector, trained.windows.test
    blind = d.features(test, full.blind(day_of(test_from)))
    pd.testing.assert_frame_equal(blind, d.features(test, then))
    assert not blind.equals(d.features(test, full))  # the test window's own outcomes would leak
