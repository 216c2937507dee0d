"""Training on a Dask cluster: the detector's features and classifiers, each step mapped onto Dask.

:meth:`Detector.fit <contraband.models.detector.Detector.fit>` takes a trainer; this one runs
its steps on the cluster:

- **features**: the feature pipeline is fitted on the client (statistics, vocabularies, the
  anomaly forest: parameters only), then the labelled declarations are a Dask DataFrame and
  each partition's point-in-time features are computed on a worker (``map_partitions``; the
  entity histories read from the store as of the day before each declaration, as in scoring).
- **classifier**: ``lightgbm.DaskLGBMClassifier`` on the client's cluster (LightGBM's
  data-parallel learner across the workers), converted with ``to_local()`` to a plain
  ``LGBMClassifier``, which the detector keeps: serving, MLflow and reasons do not change.
- **early stopping**: a Dask fit evaluates an ``eval_set`` on each worker's own share of the
  validation rows only, so the number of trees is chosen on the client instead: one Dask fit
  of ``n_estimators`` trees, then the validation window's average precision after every tree
  (from the trees' leaf values, summed tree after tree), and the rule of
  ``lightgbm.early_stopping``: the first best, stopping ``early_stopping_rounds`` trees after
  it stops improving.
- **refit** on training + validation windows with that many trees: one Dask fit.
- **calibration**: the early-stopped model's validation margins (no fit) when the validation
  window holds enough seizures, else out-of-fold margins, one Dask fit per fold, of the same
  configuration.

The labelled rows' features (inspected declarations: a few per cent of them) come back to the
client between the steps; the declarations themselves are already there (the training frame).
"""

from __future__ import annotations

import warnings
from itertools import pairwise

import dask.dataframe as dd
import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from contraband.engines.dask_cluster import store_address, worker_store

#: labelled rows per partition of a feature computation (at least one partition per worker)
_ROWS_PER_PARTITION = 50_000


def _features(part: pd.DataFrame, pipeline, address: dict, outcomes_until: int | None) -> pd.DataFrame:
    return pipeline.transform(part, worker_store(address, outcomes_until))


def trees_by_early_stopping(scores: np.ndarray, rounds: int) -> int:
    """How many trees ``lightgbm.early_stopping`` keeps, given the validation score after each
    tree (higher is better): the first best, if no better one comes within ``rounds`` trees."""
    best, best_at = -np.inf, 0
    for i, score in enumerate(scores):
        if score > best:
            best, best_at = score, i
        elif rounds and i - best_at >= rounds:
            break
    return best_at + 1


def margins_by_trees(booster: lgb.Booster, x: np.ndarray) -> np.ndarray:
    """Raw margins of rows after each tree of a binary model: rows x trees."""
    leaves = np.asarray(booster.predict(x, pred_leaf=True)).reshape(len(x), -1)
    trees = booster.trees_to_dataframe()
    trees = trees[trees["left_child"].isna()]  # the leaves
    index = trees["node_index"].str.split("-L", expand=True)
    values = np.zeros((leaves.shape[1], int(index[1].astype(int).max()) + 1))
    values[trees["tree_index"].to_numpy(), index[1].astype(int).to_numpy()] = trees["value"].to_numpy()
    return np.cumsum(values[np.arange(leaves.shape[1]), leaves], axis=1)


class DaskTrainer:
    """The steps of :meth:`Detector.fit` on a Dask cluster (see the module's docstring)."""

    def __init__(self, client, workers: int, threads: int):
        self.client, self.workers, self.threads = client, workers, threads

    def _partitions(self, rows: int) -> int:
        return max(self.workers, -(-rows // _ROWS_PER_PARTITION))

    def _frame(self, frame: pd.DataFrame | pd.Series, n: int):
        """``frame`` as a Dask collection of ``n`` partitions of consecutive rows, sent to the
        workers under keys of their own (a key derived from the data, as ``from_pandas`` gives,
        can be released by one computation while the next one of the same rows needs it)."""
        cuts = np.linspace(0, len(frame), n + 1).astype(int)
        parts = self.client.scatter([frame.iloc[a:b] for a, b in pairwise(cuts)], hash=False)
        return dd.from_delayed(parts, meta=frame.iloc[:0], verify_meta=False)

    def features(self, pipeline, frame: pd.DataFrame, rows: np.ndarray, history) -> pd.DataFrame:
        chosen = frame[rows]
        address, until = store_address(history)
        [shared] = self.client.scatter([pipeline], broadcast=True, hash=False)  # a key of its own (see _frame)
        meta = pd.DataFrame({c: pd.Series(dtype="float64") for c in pipeline.feature_names_out_})
        parts = self._frame(chosen, self._partitions(len(chosen)))
        return parts.map_partitions(_features, shared, address, until, meta=meta).compute()

    def _fit(self, detector, params: dict, x: pd.DataFrame, y: np.ndarray, categorical) -> lgb.LGBMClassifier:
        x = x.reset_index(drop=True)
        n = min(self.workers, max(1, len(x) // 1000))  # a share of at least 1,000 rows per worker
        model = lgb.DaskLGBMClassifier(client=self.client, random_state=detector.random_state, **params)
        with warnings.catch_warnings():  # each worker's threads are its own: LightGBM says so for n_jobs
            warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
            model.fit(self._frame(x, n), self._frame(pd.Series(y, name="contraband"), n),
                      categorical_feature=categorical)
        return model.to_local().set_params(n_jobs=detector.n_jobs)  # threads of each worker while on the cluster

    def fit_stopping_early(self, detector, params: dict, x_t, y_t, x_v, y_v, categorical):
        model = self._fit(detector, params, x_t, y_t, categorical)
        if not detector.early_stopping_rounds:
            return model, int(model.n_estimators)
        margins = margins_by_trees(model.booster_, x_v.to_numpy(dtype="float64"))
        scores = np.array([average_precision_score(y_v, margins[:, k]) for k in range(margins.shape[1])])
        trees = trees_by_early_stopping(scores, detector.early_stopping_rounds)
        model.booster_.best_iteration = trees  # a model served without refit predicts with these trees
        return model, trees

    def fit(self, detector, params: dict, x, y, categorical) -> lgb.LGBMClassifier:
        return self._fit(detector, params, x, y, categorical)
