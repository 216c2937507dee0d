"""A training run: time windows, the detector and its baselines, metrics, MLflow, the gate.

Windows are split by ``declaration_date`` only (train < valid_from <= valid < test_from <= test);
every encoding and statistic is learned from the training window. By default the last 20 % of
the days are the test window and the 20 % before them the validation window.

The training data is first recorded in the history store, declarations and outcomes (an
outcome with no record date counts from its declaration's day plus the outcome lag). Entity
features of every row are then read from the store as of the day before the row, as in serving.
The test window is scored blind: a view of the store in which no outcome recorded on or after
the first test day counts, so its outcomes are labels for the metrics and never inputs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from contraband.data.history import DEFAULT_OUTCOME_LAG_DAYS, day_of
from contraband.models import metrics as M
from contraband.models.baselines import PlainLightGBM, rules_score
from contraband.models.detector import Detector, labelled, labels
from contraband.models.gate import Comparison
from contraband.models.scoring import margins, refresh_budget_reference


@dataclass
class Windows:
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    valid_from: pd.Timestamp
    test_from: pd.Timestamp

    def as_dict(self) -> dict[str, pd.DataFrame]:
        return {"train": self.train, "valid": self.valid, "test": self.test}


def split_by_time(frame: pd.DataFrame, valid_from=None, test_from=None) -> Windows:
    dates = pd.to_datetime(frame["declaration_date"])
    start, end = dates.min(), dates.max()
    span = end - start
    test_from = pd.Timestamp(test_from) if test_from else (start + span * 0.8).normalize()
    valid_from = pd.Timestamp(valid_from) if valid_from else (start + span * 0.6).normalize()
    if not valid_from < test_from:
        raise ValueError(f"valid-from {valid_from:%Y-%m-%d} must come before test-from {test_from:%Y-%m-%d}")
    windows = Windows(frame[dates < valid_from], frame[(dates >= valid_from) & (dates < test_from)],
                      frame[dates >= test_from], valid_from, test_from)
    for name, part in windows.as_dict().items():
        if not len(part):
            raise ValueError(f"the {name} window is empty (data from {start:%Y-%m-%d} to {end:%Y-%m-%d}, "
                             f"valid from {valid_from:%Y-%m-%d}, test from {test_from:%Y-%m-%d})")
    return windows


def has_truth(frame: pd.DataFrame) -> bool:
    return "truth_contraband" in frame


def evaluate_scores(scores: dict[str, np.ndarray], frame: pd.DataFrame, truth: bool = True) -> dict[str, dict]:
    """Each ranking against the inspected labels, and (on generated data) against the truth."""
    results = {}
    lab = labelled(frame)
    y, value = labels(frame)[lab], M.outcome_value(frame)[lab]
    for name, s in scores.items():
        results[name] = M.budget_metrics(s[lab], y, value)
    if truth and has_truth(frame):
        y_all = frame["truth_contraband"].to_numpy().astype(int)
        v_all = M.truth_value(frame)
        for name, s in scores.items():
            results[f"{name}_truth"] = M.budget_metrics(s, y_all, v_all)
            results[f"{name}_truth"].update({f"recall_at_5pct_{t}": r for t, r in M.typology_recall(s, frame).items()})
    return results


@dataclass
class TrainOutcome:
    detector: Detector
    windows: Windows
    results: dict[str, dict[str, float]]
    timings: dict[str, float] = field(default_factory=dict)
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    run_id: str | None = None
    version: str | None = None
    decision: object | None = None
    test_features: pd.DataFrame | None = None  # the test window's features, read blind


def fit_and_evaluate(frame: pd.DataFrame, history, valid_from=None, test_from=None, baselines: bool = True,
                     plain_params: dict | None = None, log=print, n_jobs: int = 2,
                     before_day: int | None = None, engine=None, detector_params: dict | None = None) -> TrainOutcome:
    """Fit on the training and validation windows, score the test window blind, beside the
    baselines. ``frame`` must already be recorded in ``history`` (see :func:`record`). With
    ``before_day`` the budget reference comes from the days before it (a retraining cut-off).
    ``engine``: where the detector is fitted (:mod:`contraband.engines`; default: this process);
    ``detector_params``: the detector's own (its feature families, say), for a comparison."""
    t0 = time.perf_counter()
    w = split_by_time(frame, valid_from, test_from)
    log(f"windows: train {len(w.train):,} rows < {w.valid_from:%Y-%m-%d} <= valid {len(w.valid):,} rows "
        f"< {w.test_from:%Y-%m-%d} <= test {len(w.test):,} rows")
    detector = Detector(log=log, n_jobs=n_jobs, **(detector_params or {}))
    detector = engine.fit(detector, w.train, w.valid, history) if engine else detector.fit(w.train, w.valid, history)
    detector.log = None  # the fitted object is logged and served: keep no reference to a printer
    used = refresh_budget_reference(detector, history, before_day=before_day)
    log(f"budget reference: margins of {used:,} recent declarations in the history")
    t1 = time.perf_counter()
    features = detector.features(w.test, history.blind(day_of(w.test_from)))
    scores = {"model": detector.margin(features)}
    t2 = time.perf_counter()
    if baselines:
        scores["rules"] = rules_score(w.test)
        if "anomaly_score" in features:
            scores["anomaly"] = features["anomaly_score"].to_numpy()
        # the baseline sees the same rows the detector's final refit sees: training + validation
        seen = pd.concat([w.train, w.valid])
        lab = labelled(seen)
        plain = PlainLightGBM(plain_params, n_jobs=n_jobs).fit(seen[lab], labels(seen)[lab])
        scores["plain_lightgbm"] = plain.score(w.test)
    log(f"baselines scored ({time.perf_counter() - t2:.1f} s)")
    results = evaluate_scores(scores, w.test)
    lab = labelled(w.test)
    curves = {name: (s[lab], labels(w.test)[lab]) for name, s in scores.items()}
    curves["model_probability"] = (detector.calibrate(scores["model"][lab]), labels(w.test)[lab])
    return TrainOutcome(detector, w, results, {"fit_s": t1 - t0, "score_test_s": t2 - t1}, curves,
                        test_features=features)


def champion_comparison(outcome: TrainOutcome, history):
    """The gate's ``compare``: the challenger and the champion on the same inspected test rows,
    dated after every row the champion saw, each scoring the whole test window blind."""
    from contraband.models import tracking

    test = outcome.windows.test
    blind = history.blind(day_of(outcome.windows.test_from))
    challenger_margin = outcome.detector.margin(outcome.test_features) if outcome.test_features is not None \
        else margins(outcome.detector, test, blind)[1]

    def compare(champion_uri: str, champion_data_to: str | None) -> Comparison | None:
        champion = tracking.load_detector(champion_uri)
        rows = labelled(test)
        if champion_data_to:
            rows &= (pd.to_datetime(test["declaration_date"]) > pd.Timestamp(champion_data_to)).to_numpy()
        if not rows.any():
            return None
        theirs = margins(champion, test, blind)[1]
        return Comparison(challenger_margin[rows], theirs[rows], labels(test)[rows])

    return compare


def record(frame: pd.DataFrame, history, lag_days: int = DEFAULT_OUTCOME_LAG_DAYS, source: str = "train", log=print):
    """Record training data (declarations and outcomes) in the history store."""
    report = history.ingest(frame, outcomes=True, lag_days=lag_days, source=source)
    log(report.summary())
    return report


def train(frame: pd.DataFrame, history, valid_from=None, test_from=None, experiment: str | None = None,
          model_name: str | None = None, promote: bool = True, force: bool = False, params: dict | None = None,
          lag_days: int = DEFAULT_OUTCOME_LAG_DAYS, log=print, record_data: bool = True, engine=None) -> TrainOutcome:
    """Record the data (unless it comes from the store: ``record_data=False``), fit, evaluate
    beside the baselines, log to MLflow, register, run the gate."""
    from contraband.models import tracking

    if record_data:
        report = record(frame, history, lag_days, source=str((params or {}).get("data") or "train"), log=log)
        if len(report.refused):  # differing from their recorded, inspected versions: not trained on
            frame = frame[~frame["declaration_id"].isin(report.refused["declaration_id"])]
            log(f"{len(report.refused):,} declarations left out of training: the store refused them (see above)")
    outcome = fit_and_evaluate(frame, history, valid_from, test_from, log=log, engine=engine)
    model_name = model_name or tracking.DEFAULT_MODEL_NAME
    client = tracking.setup(experiment or tracking.DEFAULT_EXPERIMENT)
    t0 = time.perf_counter()
    run_params = {"valid_from": f"{outcome.windows.valid_from:%Y-%m-%d}", "test_from": f"{outcome.windows.test_from:%Y-%m-%d}",
                  "model_name": model_name, "outcome_lag_days": lag_days, "history_store": history.url, **(params or {})}
    outcome.run_id, model_uri = tracking.log_training(outcome.detector, outcome.windows.as_dict(), outcome.results,
                                                      outcome.curves, run_params)
    outcome.version = tracking.register(model_uri, model_name, detector=outcome.detector, run_id=outcome.run_id)
    log(f"logged run {outcome.run_id}, registered {model_name} version {outcome.version} "
        f"({time.perf_counter() - t0:.1f} s)")
    compare = champion_comparison(outcome, history)
    outcome.decision = tracking.gate(client, outcome.run_id, model_name, outcome.version,
                                     outcome.results["model"][tracking.GATE_METRIC], compare,
                                     force=force, promote=promote)
    return outcome
