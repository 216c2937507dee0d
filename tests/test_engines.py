"""Engines: Dask scoring on a real LocalCluster (2 worker processes on 127.0.0.1) writes the
pandas engine's list; Dask training produces a model within tolerance of the single-machine
one; the default path never imports Dask."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from contraband.engines import EngineUnavailable, open_engine
from contraband.models.batch import score_batch
from history_helpers import clone
from test_batch import manifest_csv  # noqa: F401  (a fixture: new declarations, a broken row, a repeat)

pytest.importorskip("distributed", reason="the scale extra (Dask) is not installed")


@pytest.fixture(scope="module")
def dask_engine():
    """One LocalCluster for the module: 2 worker processes on 127.0.0.1."""
    with open_engine("dask", workers=2) as engine:
        yield engine


def _read(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"declaration_id": str}, keep_default_na=False, na_values=[""])


@pytest.mark.slow
def test_dask_scoring_writes_the_pandas_list(dask_engine, trained, world_history, manifest_csv, tmp_path):  # noqa: F811
    assert dask_engine.workers == 2
    assert all(w["host"] == "127.0.0.1" for w in dask_engine.client.scheduler_info(n_workers=-1)["workers"].values())
    options = {"budget": 0.05, "exploration": 0.1, "chunk_bytes": 60_000, "top": 5}
    pandas_store = clone(world_history, tmp_path / "pandas.db")
    expected = score_batch(trained.detector, [manifest_csv], pandas_store, tmp_path / "pandas.csv", **options)
    dask_store = clone(world_history, tmp_path / "dask.db")
    report = dask_engine.score(trained.detector, [manifest_csv], dask_store, tmp_path / "dask.csv", **options)
    assert report.chunks > 10  # partitions
    for name in ("rows_read", "scored", "rejected", "flagged", "exploration", "recorded_new", "chunks"):
        assert getattr(report, name) == getattr(expected, name), name
    assert report.rejected_reasons.to_dict() == expected.rejected_reasons.to_dict()
    theirs, ours = _read(tmp_path / "pandas.csv"), _read(tmp_path / "dask.csv")
    assert list(ours.columns) == list(theirs.columns) and len(ours) == len(theirs) == 4000
    scored = ours["rank"].notna()
    np.testing.assert_allclose(ours.loc[scored, "risk_score"], theirs.loc[scored, "risk_score"], rtol=0, atol=1e-12)
    # the same list row for row: ids, ranks, flags, exploration picks, reasons; rejected rows last
    for column in ("declaration_id", "line", "rank", "flagged", "exploration", "reason_1", "reason_2", "reason_3",
                   "rejected_because", "file"):
        assert ours[column].astype(str).tolist() == theirs[column].astype(str).tolist(), column
    assert ours["rejected_because"].iloc[-2:].str.len().gt(0).all()
    assert sorted(ours["line"].iloc[-2:]) == [12, 3902]
    # the workers recorded the same history as the pandas engine did
    assert dask_store.summary()["declarations"] == pandas_store.summary()["declarations"]
    assert report.top["declaration_id"].tolist() == expected.top["declaration_id"].tolist()


@pytest.mark.slow
def test_dask_training_gives_a_model_within_tolerance_of_the_single_machine_one(dask_engine, world, world_history,
                                                                                trained):
    from contraband.data.history import day_of
    from contraband.models.training import fit_and_evaluate

    outcome = fit_and_evaluate(world, world_history, baselines=False, log=lambda m: None, engine=dask_engine)
    detector = outcome.detector
    # a plain LightGBM model, as the single-machine detector holds: serving and reasons unchanged
    assert type(detector.model_).__name__ == "LGBMClassifier"
    assert detector.model_.booster_.num_trees() == detector.best_iteration_
    # against the truth of every test row: the inspected test rows hold a handful of seizures, on
    # which one swapped rank moves the average precision by 0.1
    ours, theirs = outcome.results["model_truth"], trained.results["model_truth"]
    # The test window, scored blind, within stated tolerances of the single-machine model.
    # LightGBM's data-parallel learner bins each feature from one worker's rows and bags each
    # worker's rows by itself: with the few thousand inspected rows of this world on each
    # worker the trees differ (measured: average precision 0.52-0.53 against 0.57, the same
    # precision at 5 %, rank correlation 0.78, 58-60 % of the top 5 % in common).
    assert abs(ours["precision_at_5pct"] - theirs["precision_at_5pct"]) <= 0.05, (ours, theirs)
    assert abs(ours["pr_auc"] - theirs["pr_auc"]) <= 0.08, (ours, theirs)
    test = outcome.windows.test
    blind = world_history.blind(day_of(outcome.windows.test_from))
    margin = detector.margin(detector.features(test, blind))
    single = trained.detector.margin(trained.detector.features(test, blind))
    assert spearmanr(margin, single).statistic > 0.7
    top = int(0.05 * len(test))
    assert len(np.intersect1d(np.argsort(-margin)[:top], np.argsort(-single)[:top])) >= 0.5 * top
    # the calibrated scores mean the same: mean risk within a point
    assert abs(detector.calibrate(margin).mean() - trained.detector.calibrate(single).mean()) < 0.01
    assert detector.reasons(test.head(3), detector.features(test.head(3), blind))[0]


def test_the_default_path_never_imports_dask_matplotlib_or_pandera(registry, world_history, manifest_csv,  # noqa: F811
                                                                    tmp_path):
    store = clone(world_history, tmp_path / "h.db")
    store.close()
    script = ("import sys\nfrom click.testing import CliRunner\nfrom contraband.cli import main\n"
              f"r = CliRunner().invoke(main, ['score', {str(manifest_csv)!r}, '-o', {str(tmp_path / 'out.csv')!r}, "
              f"'--history', {str(tmp_path / 'h.db')!r}, '--progress', 'none'])\n"
              "assert r.exit_code == 0, r.output\n"
              "print(sorted({m.split('.')[0] for m in sys.modules} & {'dask', 'distributed', 'matplotlib', 'pandera'}))\n")
    run = subprocess.run([sys.executable, "-c", script], check=False, env={**os.environ, "MLFLOW_TRACKING_URI": registry.uri},
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().splitlines()[-1] == "[]"


def test_without_the_scale_extra_the_dask_engine_says_how_to_install_it():
    script = ("import sys\nsys.modules['distributed'] = None  # as if the scale extra were not installed\n"
              "from contraband.engines import open_engine\n"
              "with open_engine('dask'):\n    pass\n")
    run = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True)
    assert run.returncode == 1 and "pip install 'contraband[scale]'" in run.stderr
    assert EngineUnavailable.__name__ in run.stderr
    with pytest.raises(ValueError, match="unknown engine"), open_engine("spark"):
        pass


def test_the_trees_kept_follow_lightgbms_early_stopping_rule(trained, world_history):
    from contraband.engines.dask_training import margins_by_trees, trees_by_early_stopping

    detector = trained.detector
    x = detector.features(trained.windows.valid.head(500), world_history)
    by_trees = margins_by_trees(detector.model_.booster_, x.to_numpy())
    assert by_trees.shape == (500, detector.model_.booster_.num_trees())
    booster = detector.model_.booster_
    np.testing.assert_allclose(by_trees[:, -1], booster.predict(x.to_numpy(), raw_score=True), rtol=0, atol=1e-9)
    np.testing.assert_allclose(by_trees[:, 9], booster.predict(x.to_numpy(), raw_score=True, num_iteration=10),
                               atol=1e-9)

    scores = np.array([0.1, 0.3, 0.3, 0.2, 0.25, 0.29, 0.31, 0.2])
    assert trees_by_early_stopping(scores, rounds=3) == 2  # 0.3 at tree 2, nothing better within 3 trees
    assert trees_by_early_stopping(scores, rounds=5) == 7  # 0.31 at tree 7 comes within 5
    assert trees_by_early_stopping(scores, rounds=0) == 7  # no early stopping: the best of all


@pytest.mark.slow
def test_the_score_command_on_a_local_cluster(registry, world_history, manifest_csv, tmp_path, monkeypatch):  # noqa: F811
    from click.testing import CliRunner

    from contraband.cli import main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.uri)
    store = clone(world_history, tmp_path / "h.db")
    store.close()
    result = CliRunner().invoke(main, ["score", str(manifest_csv), "-o", str(tmp_path / "out.csv"), "--history",
                                       str(tmp_path / "h.db"), "--progress", "none", "--chunk-mb", "0.1",
                                       "--engine", "dask", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "engine: dask (1 worker(s)" in result.stderr and "scheduler tcp://127.0.0.1:" in result.stderr
    assert "3,998 valid, 2 rejected" in result.stdout and "flagged for inspection at a 5% budget" in result.stdout
    assert _read(tmp_path / "out.csv")["rank"].iloc[:3998].tolist() == list(range(1, 3999))
    wrong = CliRunner().invoke(main, ["score", str(manifest_csv), "-o", str(tmp_path / "x.csv"), "--history",
                                      str(tmp_path / "h.db"), "--workers", "2"])
    assert wrong.exit_code == 1 and "apply to --engine dask only" in wrong.stderr
