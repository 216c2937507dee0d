"""The detector: one fitted object from canonical declarations to risk scores with reasons.

``Detector.fit(train, valid)`` fits the feature pipeline on every row of the training window
(inspected or not), a LightGBM classifier on its inspected rows (class imbalance handled with
``scale_pos_weight``, early stopping on the validation window's inspected rows), and a calibration
on the validation window (isotonic, or Platt's sigmoid when positives are few) so that a risk
score reads as a probability. With
``refit`` (the default) the features and classifier are then refitted on training + validation
windows with the number of trees early stopping chose, so that the most recent weeks count; the
calibration learned on the validation window is kept (the refitted model has the same number of
trees and a comparable score scale). Rows are
ranked by the model's raw margin (the calibration is monotone, so the order is the same, but
ties in the calibrated score do not blur the ranking). This object is what is logged, loaded
and served.
"""

from __future__ import annotations

import time

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.utils.validation import check_is_fitted

from contraband.features import DeclarationFeatures
from contraband.models.attribution import PathAttribution
from contraband.models.reasons import MAX_REASONS, reasons

#: the validation metric early stopping watches
EVAL_METRIC = "average_precision"

DEFAULT_LGBM = {
    "n_estimators": 1000,
    "learning_rate": 0.1,
    "num_leaves": 31,
    "min_child_samples": 20,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "verbose": -1,
}


class Calibrator(BaseEstimator):
    """Margin -> probability. Isotonic where the validation window has enough positives to
    support it, else Platt's sigmoid (a strictly monotone map: no ties in the ranking)."""

    def __init__(self, method: str = "auto", min_isotonic_positives: int = 100):
        self.method = method
        self.min_isotonic_positives = min_isotonic_positives

    def fit(self, margin: np.ndarray, y: np.ndarray):
        method = self.method
        if method == "auto":
            method = "isotonic" if y.sum() >= self.min_isotonic_positives else "sigmoid"
        if method == "isotonic":
            self.model_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(margin, y)
        elif method == "sigmoid":
            self.model_ = _platt(margin, y)
        else:
            raise ValueError(f"calibration must be auto, isotonic or sigmoid, not {self.method!r}")
        self.method_ = method
        return self

    def predict(self, margin: np.ndarray) -> np.ndarray:
        if self.method_ == "isotonic":
            return self.model_.predict(margin)
        a, b = self.model_
        return expit(a * np.asarray(margin, dtype=float) + b)


def _platt(margin: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt's sigmoid with his smoothed targets ((n+ + 1)/(n+ + 2) and 1/(n- + 2)), which keeps
    a handful of validation positives from producing near-0 or near-1 certainties."""
    m = np.asarray(margin, dtype=float)
    pos = y.sum()
    target = np.where(y == 1, (pos + 1.0) / (pos + 2.0), 1.0 / (len(y) - pos + 2.0))

    def loss(ab):
        z = ab[0] * m + ab[1]
        p = expit(z)
        eps = 1e-15
        value = -np.sum(target * np.log(p + eps) + (1 - target) * np.log(1 - p + eps))
        grad_z = p - target
        return value, np.array([np.sum(grad_z * m), np.sum(grad_z)])

    result = minimize(loss, x0=np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    return float(result.x[0]), float(result.x[1])


def labelled(frame: pd.DataFrame) -> np.ndarray:
    """Rows with a known outcome: inspected, with ``contraband`` recorded."""
    if "contraband" not in frame:
        return np.zeros(len(frame), dtype=bool)
    inspected = pd.to_numeric(frame["inspected"], errors="coerce").fillna(0).to_numpy() == 1 if "inspected" in frame \
        else np.ones(len(frame), dtype=bool)
    return inspected & frame["contraband"].notna().to_numpy()


def labels(frame: pd.DataFrame) -> np.ndarray:
    return pd.to_numeric(frame["contraband"], errors="coerce").fillna(0).to_numpy().astype(int)


class Detector(ClassifierMixin, BaseEstimator):
    def __init__(self, families: tuple[str, ...] | None = None, lgbm_params: dict | None = None,
                 early_stopping_rounds: int = 50, refit: bool = True, calibration: str = "auto", n_jobs: int = 2,
                 random_state: int = 0, log=None):
        self.families = families
        self.lgbm_params = lgbm_params
        self.early_stopping_rounds = early_stopping_rounds
        self.refit = refit
        self.calibration = calibration
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.log = log

    def _say(self, message: str) -> None:
        if self.log:
            self.log(message)

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame):
        t0 = time.perf_counter()
        kwargs = {"families": self.families} if self.families else {}
        self.features_ = DeclarationFeatures(n_jobs=self.n_jobs, **kwargs)
        f_train = self.features_.fit_transform(train)
        f_valid = self.features_.transform(valid)
        self._say(f"features: {f_train.shape[1]} from families {', '.join(self.features_.active_families_)} "
                  f"({time.perf_counter() - t0:.1f} s)")
        if "contraband" not in train or "contraband" not in valid:
            raise ValueError("training needs inspection outcomes: a 'contraband' column (and 'inspected')")
        lab_t, lab_v = labelled(train), labelled(valid)
        y_t, y_v = labels(train)[lab_t], labels(valid)[lab_v]
        for name, y in (("training", y_t), ("validation", y_v)):
            if y.sum() == 0 or y.sum() == len(y):
                raise ValueError(f"the {name} window needs inspected rows with and without contraband "
                                 f"({len(y)} labelled, {int(y.sum())} positive)")
        params = {**DEFAULT_LGBM, **(self.lgbm_params or {})}
        params.setdefault("scale_pos_weight", float(np.sqrt((len(y_t) - y_t.sum()) / y_t.sum())))
        t1 = time.perf_counter()
        self.model_ = lgb.LGBMClassifier(random_state=self.random_state, n_jobs=self.n_jobs, **params)
        callbacks = [lgb.early_stopping(self.early_stopping_rounds, verbose=False)] if self.early_stopping_rounds else []
        self.model_.fit(f_train[lab_t], y_t, eval_X=(f_valid[lab_v],), eval_y=(y_v,), eval_metric=EVAL_METRIC,
                        callbacks=callbacks)
        self.best_iteration_ = int(self.model_.best_iteration_ or self.model_.n_estimators)
        self._say(f"classifier: {self.best_iteration_} trees on {len(y_t):,} inspected rows "
                  f"({int(y_t.sum()):,} with contraband) ({time.perf_counter() - t1:.1f} s)")
        raw_v = self.model_.predict(f_valid[lab_v], raw_score=True)
        self.calibrator_ = Calibrator(self.calibration).fit(raw_v, y_v)
        self._say(f"calibration: {self.calibrator_.method_} on {len(y_v):,} validation rows ({int(y_v.sum())} positive)")
        if self.refit:
            # the most recent weeks matter most under drift: refit features and classifier on
            # training + validation windows with the number of trees early stopping chose
            t2 = time.perf_counter()
            both = pd.concat([train, valid])
            self.features_ = DeclarationFeatures(n_jobs=self.n_jobs, **kwargs)
            f_both = self.features_.fit_transform(both)
            lab_b = labelled(both)
            y_b = labels(both)[lab_b]
            refit_params = {**params, "n_estimators": self.best_iteration_}
            self.model_ = lgb.LGBMClassifier(random_state=self.random_state, n_jobs=self.n_jobs, **refit_params)
            self.model_.fit(f_both[lab_b], y_b)
            self._say(f"refit on training + validation windows: {len(y_b):,} inspected rows "
                      f"({time.perf_counter() - t2:.1f} s)")
        self.attribution_ = PathAttribution.from_booster(self.model_.booster_, self.best_iteration_)
        self.classes_ = np.array([0, 1])
        self.train_summary_ = {"train_rows": len(train), "train_labelled": int(lab_t.sum()),
                               "train_positives": int(y_t.sum()), "valid_rows": len(valid),
                               "valid_labelled": int(lab_v.sum()), "valid_positives": int(y_v.sum())}
        return self

    # --- scoring ---------------------------------------------------------------------------
    def features(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "model_")
        return self.features_.transform(X)

    def margin(self, X: pd.DataFrame, features: pd.DataFrame | None = None) -> np.ndarray:
        """The raw model score (log-odds): what rankings use."""
        f = self.features(X) if features is None else features
        return self.model_.predict(f, raw_score=True)

    def calibrate(self, margin: np.ndarray) -> np.ndarray:
        return self.calibrator_.predict(margin)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self.calibrate(self.margin(X))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def contributions(self, features: pd.DataFrame) -> np.ndarray:
        """Per-feature contributions (path attribution) for the given feature rows."""
        leaves = self.model_.booster_.predict(features, pred_leaf=True, num_iteration=self.best_iteration_)
        return self.attribution_.contributions(np.asarray(leaves).reshape(len(features), -1))

    def reasons(self, X: pd.DataFrame, features: pd.DataFrame | None = None,
                max_reasons: int = MAX_REASONS) -> list[list[str]]:
        f = self.features(X) if features is None else features
        contrib = self.contributions(f)
        return reasons(contrib, self.attribution_.feature_names, self.features_.feature_family_, f, X, max_reasons)

    @property
    def active_families_(self) -> list[str]:
        return self.features_.active_families_
