"""The served model: loaded from the registry, kept on local disk, swapped atomically.

At start the service resolves its model URI (``models:/contraband-detector@champion``) in the
registry, copies the version's files into the cache folder (once per version) and loads the
fitted detector from there. When the tracking server cannot be reached, or no longer knows the
model, the last version cached is served instead and :attr:`Served.note` says so.

A load builds a complete :class:`Served` (detector, budget reference refreshed from the store,
description) before one assignment makes it current: a request holds the object it started
with, so a reload never changes a model under a request in flight. With several workers, a
reload bumps a counter in the store; each worker sees it within ``follow_seconds`` and reloads
in the background.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import joblib

from contraband.api import counters

# a service must not hang on an unreachable tracking server: fail fast, serve the cache
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

RELOADS = "service.model_reloads"  # the counter every worker follows (api.counters)
WINDOWS = ("train", "valid", "test")


class NoModel(RuntimeError):
    """Neither the registry nor the cache has a model to serve."""


@dataclass
class Served:
    detector: object
    name: str
    version: str
    alias: str | None
    uri: str
    source: str  # "registry" or "cache"
    note: str = ""
    run_id: str | None = None
    windows: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    loaded_at: str = ""
    trees: str = ""  # how the booster is evaluated: compiled (cached or not), or LightGBM and why

    def describe(self, budget: float = 0.05) -> dict:
        """What ``GET /v1/model`` says: identity, where it came from, windows, metrics, and the
        risk score from which a lone declaration is flagged at ``budget``."""
        import numpy as np

        try:
            margin = self.detector.budget_threshold(budget)
            threshold = {"budget": budget, "risk_score": float(self.detector.calibrate(np.array([margin]))[0])}
        except ValueError:  # no budget reference (an empty store): whole manifests only
            threshold = None
        return {"name": self.name, "version": self.version, "alias": self.alias, "uri": self.uri,
                "source": self.source, "note": self.note, "run_id": self.run_id, "loaded_at": self.loaded_at,
                "windows": self.windows, "metrics": self.metrics, "budget_threshold": threshold,
                "trees": getattr(self.detector, "trees_", self.trees)}  # as now: a library picked up since


def parse_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``models:/name@alias`` or ``models:/name/version`` as (name, alias, version)."""
    if not uri.startswith("models:/"):
        raise ValueError(f"{uri}: serve a registered model, models:/NAME@ALIAS or models:/NAME/VERSION")
    rest = uri[len("models:/"):]
    if "@" in rest:
        name, alias = rest.split("@", 1)
        return name, alias, None
    name, _, version = rest.partition("/")
    return name, None, version or None


def _describe_run(client, run_id: str | None) -> tuple[dict, dict]:
    if not run_id:
        return {}, {}
    run = client.get_run(run_id)
    params, metrics = run.data.params, run.data.metrics
    windows = {w: {k: params.get(f"{w}_{k}") for k in ("from", "to", "rows")} for w in WINDOWS
               if f"{w}_from" in params}
    headline = {k.split("/", 1)[1]: v for k, v in metrics.items() if k.startswith("model/")}
    return windows, headline


def _write_json(path: Path, doc: dict) -> None:
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, path)


class Champion:
    """The model one worker serves."""

    def __init__(self, uri: str, cache: str | os.PathLike, store, follow_seconds: float = 2.0):
        self.uri = uri
        self.name, self.alias, self.version = parse_uri(uri)
        self.cache = Path(cache) / self.name
        self.store = store
        self.follow_seconds = follow_seconds
        self.current: Served | None = None
        self._lock = threading.Lock()
        self._reloads_seen = 0
        self._checked = time.monotonic()
        self._following = False

    # --- loading ---------------------------------------------------------------------------
    def load(self, cache: bool = True) -> Served:
        """Load from the registry (else, with ``cache``, the cached copy), then swap in one
        assignment. Raises :class:`NoModel`; the current model then stays."""
        with self._lock:
            seen = counters.read(self.store, RELOADS)
            served = self.open(cache)
            from contraband.models.scoring import refresh_budget_reference

            refresh_budget_reference(served.detector, self.store)
            served.loaded_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.current = served  # the swap: requests in flight keep the object they hold
            self._reloads_seen = seen
            # the model's millions of objects live until the next reload: keep them out of the
            # garbage collector's full passes (tens of milliseconds each, in the middle of requests);
            # unfrozen first, so that a replaced model's cycles are collected rather than kept
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            return served

    def open(self, cache: bool = True) -> Served:
        """The model from the registry, copied into the cache folder once per version (else, with
        ``cache``, the cached copy, saying why), its trees compiled; nothing is swapped in. The
        service and the command line (``contraband score``, ``evaluate``) load models this way."""
        try:
            return self._from_registry()
        except Exception as exc:  # unreachable server, unknown alias, missing artifact: try the cache
            problem = f"tracking store unreachable or without {self.uri} ({type(exc).__name__}: {str(exc)[:300]})"
            if not cache:
                raise NoModel(problem) from None
            return self._from_cache(f"{problem}; serving the cached copy")

    def reload(self) -> Served:
        """Load from the registry again and tell the other workers to follow."""
        served = self.load(cache=False)
        self._reloads_seen = counters.bump(self.store, RELOADS)
        return served

    def _from_registry(self) -> Served:
        """The registry's version, from its cached copy when there is one. On the embedded
        SQLite store the version is read without importing MLflow
        (:func:`~contraband.models.registry.registered_version`): a small command starts in
        well under a second."""
        from contraband.models.registry import registered_version

        version = registered_version(self.name, self.alias, self.version)
        if version is not None and (self.cache / version / "served.json").exists():
            info = json.loads((self.cache / version / "served.json").read_text())
            windows, metrics = info.get("windows", {}), info.get("metrics", {})
        else:
            version, windows, metrics = self._copy_from_mlflow()
        served = self._open(self.cache / version, source="registry")
        served.windows, served.metrics = windows, metrics
        _write_json(self.cache / "last.json", {"version": version, "alias": self.alias})
        return served

    def _copy_from_mlflow(self) -> tuple[str, dict, dict]:
        """The version MLflow's registry names, with its run's windows and metrics, copied into
        the cache folder unless it is there already."""
        from mlflow.artifacts import download_artifacts
        from mlflow.tracking import MlflowClient

        from contraband.models.registry import tracking_uri

        client = MlflowClient(tracking_uri())
        mv = client.get_model_version_by_alias(self.name, self.alias) if self.alias \
            else client.get_model_version(self.name, self.version)
        version = str(mv.version)
        windows, metrics = _describe_run(client, mv.run_id)
        folder = self.cache / version
        if not (folder / "served.json").exists():
            self.cache.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=self.cache, prefix=f".{version}-"))
            try:
                download_artifacts(artifact_uri=f"models:/{self.name}/{version}", dst_path=str(tmp / "model"),
                                   tracking_uri=tracking_uri())
                _write_json(tmp / "served.json", {"name": self.name, "version": version, "run_id": mv.run_id,
                                                  "windows": windows, "metrics": metrics})
                try:
                    os.rename(tmp, folder)  # another worker may have cached it meanwhile: keep theirs
                except OSError:
                    pass
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return version, windows, metrics

    def _from_cache(self, note: str) -> Served:
        last = self.cache / "last.json"
        version = self.version or (json.loads(last.read_text())["version"] if last.exists() else None)
        if version is None or not (self.cache / version / "served.json").exists():
            raise NoModel(f"{note.removesuffix('; serving the cached copy')}; and no cached copy in {self.cache}")
        return self._open(self.cache / version, source="cache", note=note)

    def _open(self, folder: Path, source: str, note: str = "") -> Served:
        info = json.loads((folder / "served.json").read_text())
        detector = joblib.load(folder / "model" / "artifacts" / "detector.joblib")
        trees = detector.compile_trees(self.cache.parent / "compiled", wait=False)  # never a request's wait
        return Served(detector, self.name, info["version"], self.alias, self.uri, source, note, info.get("run_id"),
                      info.get("windows", {}), info.get("metrics", {}), trees=trees)

    # --- following other workers' reloads --------------------------------------------------
    def follow(self) -> None:
        """Reload in the background when another worker has reloaded since (checked at most
        every ``follow_seconds``, in a thread of its own: never a request's wait, never the
        event loop's, whatever a batch is writing)."""
        now = time.monotonic()
        if self._following or now - self._checked < self.follow_seconds:
            return
        self._checked, self._following = now, True

        def run():
            try:
                if counters.read(self.store, RELOADS) > self._reloads_seen:
                    self.load(cache=False)
            except Exception:  # keep serving the current model; the next check tries again
                pass
            finally:
                self._following = False

        threading.Thread(target=run, daemon=True, name="follow-reload").start()
