"""The unattended retraining job: a cut-off, a challenger, the gate, a drift report.

``retrain(history, cut_off)`` takes the declarations of the history store dated before the
cut-off, each labelled by the latest outcome version recorded before it (what the store held
that day, whatever was recorded since), and splits them by time: the last ``window_days`` days
before the cut-off are the newest window (the test window, scored blind: no outcome recorded
from its first day on counts), the ``window_days`` before them the validation window, the rest
the training window. The challenger is fitted as ``contraband train`` fits a model; the gate
compares it with the champion on the same inspected rows of the newest window (rows dated after
everything the champion was fitted on), both scoring blind. The drift report compares the
training window (a sample of up to ``DRIFT_ROWS`` rows) with the newest window (see
:mod:`contraband.models.drift`).

Status, for a scheduler: ``promoted`` (exit 0), ``kept`` (exit 3: the champion stays), ``failed``
(exit 1). Every run is tagged ``retrain.cut_off`` and, last of all, ``retrain.status``.

Idempotent for a cut-off: a finished run with the same cut-off (same model name, same
experiment) is reported again and nothing is redone. Killed midway, it leaves nothing half-done:
the job reads the history store and never writes it; in the registry a challenger is registered
only once the gate has promoted it, and the aliases move last (``previous-champion`` first, then
``champion``), so ``champion`` always names one complete version. A re-run first tidies what an
interrupted attempt with the same cut-off left: its runs are marked killed, a version it
registered but did not make champion is deleted, and one it did make champion is reported as
promoted. Two jobs must not run at once for the same model (``flock -n`` in cron; see
docs/operations.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from contraband.data.history import day_of
from contraband.models.detector import labelled
from contraband.models.drift import DriftReport, drift_report
from contraband.models.training import champion_comparison, fit_and_evaluate

EXIT = {"promoted": 0, "kept": 3, "failed": 1}
DEFAULT_WINDOW_DAYS = 56
DRIFT_ROWS = 50_000
CUT_OFF_TAG = "retrain.cut_off"
STATUS_TAG = "retrain.status"
MODEL_TAG = "retrain.model_name"


class RetrainError(ValueError):
    """The job cannot run on this data (nothing before the cut-off, an empty window...)."""


@dataclass
class RetrainResult:
    status: str  # promoted | kept | failed
    cut_off: str
    reason: str
    run_id: str | None = None
    version: str | None = None
    repeated: bool = False  # a finished run with this cut-off already existed: nothing was redone
    drift: DriftReport | None = None
    results: dict = field(default_factory=dict)
    decision: object | None = None

    @property
    def exit_code(self) -> int:
        return EXIT[self.status]


def _runs(client, experiment_id: str, model_name: str, cut_off: str) -> list:
    found = client.search_runs([experiment_id], f"tags.`{CUT_OFF_TAG}` = '{cut_off}' and "
                                                f"tags.`{MODEL_TAG}` = '{model_name}'",
                               order_by=["attributes.start_time DESC"])
    return list(found)


def _versions(client, model_name: str, cut_off: str) -> list:
    from mlflow.exceptions import MlflowException

    try:
        return list(client.search_model_versions(f"name = '{model_name}' and tags.`{CUT_OFF_TAG}` = '{cut_off}'"))
    except MlflowException:  # no such registered model yet
        return []


def _earlier(client, experiment_id: str, model_name: str, cut_off: str, log) -> RetrainResult | None:
    """The result of a finished run with this cut-off, or None after tidying an interrupted one."""
    runs = _runs(client, experiment_id, model_name, cut_off)
    for run in runs:
        status = run.data.tags.get(STATUS_TAG)
        if status in ("promoted", "kept"):
            version = run.data.tags.get("retrain.version") or None
            return RetrainResult(status, cut_off, run.data.tags.get("gate.reason", ""), run.info.run_id, version,
                                 repeated=True)
    for version in _versions(client, model_name, cut_off):
        if version.aliases:
            # promoted (it holds or held the champion alias), then stopped before the run was
            # marked: finish it
            run_id = version.run_id
            client.set_tag(run_id, "retrain.version", str(version.version))
            client.set_tag(run_id, STATUS_TAG, "promoted")
            log(f"an earlier run with cut-off {cut_off} promoted version {version.version} and stopped before "
                f"it finished: marked promoted")
            return RetrainResult("promoted", cut_off, version.tags.get("gate.reason", ""), run_id,
                                 str(version.version), repeated=True)
        client.delete_model_version(model_name, str(version.version))
        log(f"deleted version {version.version}, registered by an interrupted run with cut-off {cut_off} "
            f"and never made champion")
    for run in runs:
        if run.data.tags.get(STATUS_TAG) not in ("failed", "interrupted"):
            client.set_tag(run.info.run_id, STATUS_TAG, "interrupted")
            if run.info.status == "RUNNING":
                client.set_terminated(run.info.run_id, "KILLED")
            log(f"run {run.info.run_id} with cut-off {cut_off} was interrupted: marked so, starting again")
    return None


def _drift(outcome, history, budget: float) -> DriftReport:
    """The training window (sampled) against the newest window, as serving would see both."""
    detector, w = outcome.detector, outcome.windows
    seen = pd.concat([w.train, w.valid])
    if len(seen) > DRIFT_ROWS:
        keep = np.sort(np.random.default_rng(0).choice(len(seen), DRIFT_ROWS, replace=False))
        seen = seen.iloc[keep]
    expected = detector.features(seen, history)
    actual = detector.features(w.test, history)
    pipeline = detector.features_
    return drift_report(expected, actual, detector.margin(expected), detector.margin(actual), budget,
                        categorical=pipeline.categorical_features_, families=pipeline.feature_family_)


def _log_drift(client, run_id: str, report: DriftReport) -> None:
    import re

    from mlflow.entities import Metric

    from contraband.models import plots

    metrics = {"drift/psi_score": report.score_psi, "drift/psi_flag_rate": report.flag_rate_psi,
               "drift/flag_rate": report.flag_rate, "drift/features_shifted": float(len(report.shifted)),
               "drift/features_moderate": float(len(report.moderate))}
    metrics.update({f"drift/psi/{re.sub(r'[^A-Za-z0-9_./ -]', '_', f)}": v
                    for f, v in zip(report.features["feature"], report.features["psi"])})
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(name, float(value), now, 0) for name, value in metrics.items()
                                      if np.isfinite(value)])
    client.log_dict(run_id, report.as_dict(), "drift.json")
    client.set_tag(run_id, "drift.shifted", ",".join(report.shifted)[:5000] or "none")
    fig = report.figure()
    client.log_figure(run_id, fig, "plots/drift.png")
    plots.close(fig)


def retrain(history, cut_off, *, window_days: int = DEFAULT_WINDOW_DAYS, experiment: str | None = None,
            model_name: str | None = None, force: bool = False, budget: float = 0.05, baselines: bool = True,
            log=print, engine=None) -> RetrainResult:
    """Train a challenger on the history before ``cut_off``, compare it blind with the champion,
    promote it if the gate says so, log everything (with the drift report) to MLflow.
    ``engine``: where the challenger is fitted (:mod:`contraband.engines`; default: this process)."""
    import mlflow

    from contraband.models import tracking

    cut = pd.Timestamp(cut_off).normalize()
    key = f"{cut:%Y-%m-%d}"
    model_name = model_name or tracking.DEFAULT_MODEL_NAME
    experiment = experiment or tracking.DEFAULT_EXPERIMENT
    client = tracking.setup(experiment)
    experiment_id = mlflow.get_experiment_by_name(experiment).experiment_id
    earlier = _earlier(client, experiment_id, model_name, key, log)
    if earlier is not None:
        log(f"cut-off {key}: already done by run {earlier.run_id} ({earlier.status}); nothing redone")
        return earlier

    try:
        return _run(client, history, cut, window_days, model_name, force, budget, baselines, log, engine)
    except Exception as exc:
        if not getattr(exc, "retrain_run_id", None):
            _record_failure(client, experiment_id, key, model_name, exc)
        raise


def _record_failure(client, experiment_id: str, cut_off: str, model_name: str, exc: Exception) -> None:
    """A failed attempt is a run too (tagged failed, with the error), unless the failure is the
    tracking store itself."""
    try:
        run = client.create_run(experiment_id, tags={CUT_OFF_TAG: cut_off, MODEL_TAG: model_name,
                                                     STATUS_TAG: "failed", "mlflow.runName": f"retrain {cut_off}",
                                                     "retrain.error": f"{type(exc).__name__}: {exc}"[:5000]})
        client.set_terminated(run.info.run_id, "FAILED")
    except Exception:  # noqa: BLE001 - the tracking store is what failed: the exit status says it
        pass


def _run(client, history, cut: pd.Timestamp, window_days: int, model_name: str, force: bool, budget: float,
         baselines: bool, log, engine=None) -> RetrainResult:
    from contraband.models import tracking

    key = f"{cut:%Y-%m-%d}"
    cut_day = day_of(cut)
    t0 = time.perf_counter()
    frame = history.labelled_declarations(before_day=cut_day)
    if not len(frame):
        raise RetrainError(f"the history store {history.url} holds no declaration dated before {key}")
    test_from = cut - pd.Timedelta(days=window_days)
    valid_from = test_from - pd.Timedelta(days=window_days)
    log(f"cut-off {key}: {len(frame):,} declarations before it, {int(labelled(frame).sum()):,} with a result "
        f"recorded before it ({time.perf_counter() - t0:.1f} s)")
    try:
        outcome = fit_and_evaluate(frame, history, valid_from, test_from, baselines=baselines, log=log,
                                   before_day=cut_day, engine=engine)
    except ValueError as exc:
        raise RetrainError(str(exc)) from exc
    t1 = time.perf_counter()
    report = _drift(outcome, history, budget)
    log(f"drift report ({time.perf_counter() - t1:.1f} s)")

    tags = {CUT_OFF_TAG: key, MODEL_TAG: model_name, STATUS_TAG: "running", "mlflow.runName": f"retrain {key}"}
    params = {"cut_off": key, "window_days": window_days, "valid_from": f"{outcome.windows.valid_from:%Y-%m-%d}",
              "test_from": f"{outcome.windows.test_from:%Y-%m-%d}", "model_name": model_name,
              "history_store": history.url, "data": f"history:{history.url}", "job": "retrain",
              "engine": getattr(engine, "name", "pandas")}
    run_id, model_uri = tracking.log_training(outcome.detector, outcome.windows.as_dict(), outcome.results,
                                              outcome.curves, params, tags=tags)
    try:
        _log_drift(client, run_id, report)
        log(f"logged run {run_id}")
        decision = tracking.decide(client, model_name, None, outcome.results["model"][tracking.GATE_METRIC],
                                   champion_comparison(outcome, history), force=force)
        version = None
        if decision.promoted:
            version = tracking.register(model_uri, model_name, tags={CUT_OFF_TAG: key, **tracking.decision_tags(decision)},
                                        detector=outcome.detector, run_id=run_id)
            log(f"registered {model_name} version {version}")
            client.set_tag(run_id, "retrain.version", version)
        tracking.apply(client, run_id, model_name, version, decision, tag_version=False)
        status = "promoted" if decision.promoted else "kept"
        client.set_tag(run_id, STATUS_TAG, status)
        from contraband.desk.retrains import record

        record(history, run_id=run_id, cut_off=key, status=status, reason=decision.reason, version=version,
               drift=report)  # the desk's performance view shows the latest run's verdict and drift
    except Exception as exc:
        client.set_tag(run_id, STATUS_TAG, "failed")
        client.set_tag(run_id, "retrain.error", f"{type(exc).__name__}: {exc}"[:5000])
        exc.retrain_run_id = run_id  # the failure is recorded on this run
        raise
    return RetrainResult(status, key, decision.reason, run_id, version, drift=report, results=outcome.results,
                         decision=decision)


__all__ = ["retrain", "RetrainResult", "RetrainError", "EXIT", "DEFAULT_WINDOW_DAYS"]
