"""The detector: one fitted object from canonical declarations (and the history) to risk scores.

``Detector.fit(train, valid, history)`` fits the feature pipeline on every row of the training
window (inspected or not), then a LightGBM classifier on its inspected rows (class imbalance
handled with ``scale_pos_weight``), stopping early on the validation window's average
precision alone; with many seizures the same window chooses the tree size (127 leaves, then 63,
then 31, going smaller only while the validation window's average precision improves). Its
regularisation follows the number of labelled seizures: with fewer than
``FEW_LABELS`` (an administration's tens of seizures) trees are small, learning slow, L2 strong
and each tree sees half the features. It is held monotone where the features say the direction
of the evidence is known (a contradiction, an earlier seizure, a deviation from the goods' norm
never lowers the risk), so that a handful of seizures cannot teach it the reverse. Beside it,
with fewer than 100 seizures, stands the evidence model (:mod:`contraband.models.evidence`): a
logistic regression with non-negative weights on those directed features, weighed in the
margin up to half as the seizures get fewer. With
``refit`` (the default) the features and classifier are refitted on the
training + validation windows with the number of trees early stopping chose, so that the most
recent weeks count. The calibration (margin -> probability) is fitted on margins of the same
configuration on rows it did not see: with at least ``VALIDATION_CALIBRATION_POSITIVES`` seizures
in the validation window, the early-stopped model's margins there (no further fit); with fewer,
out-of-fold margins over the training + validation windows (``calibration_folds`` fits of small
models). Without refit it is fitted on the validation window's margins of the model itself.

The fitted object holds parameters only: family statistics, vocabularies, the booster, the
evidence model and its blend, the calibrator and the budget reference (margin quantiles over
recent declarations, for flagging a request smaller than a day's manifest). Entity histories are read from the history store at
scoring time. Rows are ranked by the raw margin (the calibration is monotone, so the order is
the same, but ties in the calibrated score do not blur the ranking).
"""

from __future__ import annotations

import logging
import threading
import time

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import average_precision_score
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted

from contraband.data.columns import as_columns
from contraband.features import DeclarationFeatures
from contraband.models.attribution import PathAttribution
from contraband.models.compiled import PENDING
from contraband.models.evidence import Blend, EvidenceModel, evidence_weight, reference_rows
from contraband.models.reasons import MAX_REASONS, evidence_holds, novelty_rates, reasons, record_columns

#: the validation metric early stopping watches (and the only one)
EVAL_METRIC = "average_precision"

DEFAULT_LGBM = {
    "n_estimators": 1000,
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_child_samples": 20,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "verbose": -1,
}
#: few seizures to learn from: small trees, slower learning, stronger L2, half the features per tree
FEW_LABELS_LGBM = {"num_leaves": 7, "min_child_samples": 10, "learning_rate": 0.05, "reg_lambda": 5.0,
                   "colsample_bytree": 0.5}
#: below this many labelled seizures (training + validation windows) the few-labels settings apply
FEW_LABELS = 200
#: with at least FEW_LABELS seizures, the tree sizes tried, largest first, while the validation
#: window's average precision improves (the validation window chooses)
LEAVES = (127, 63, 31)
#: with at least this many seizures in the validation window the calibration is fitted on the
#: early-stopped model's margins there (no extra fits); with fewer, on out-of-fold margins
VALIDATION_CALIBRATION_POSITIVES = 100


def regularisation(positives: int) -> dict:
    """LightGBM settings chosen by the number of seizures the model learns from."""
    return dict(FEW_LABELS_LGBM) if positives < FEW_LABELS else {}


#: requests of fewer rows than this are predicted on one thread (OpenMP start-up costs more)
_ONE_THREAD_ROWS = 1000
_COMPILING = threading.Lock()
#: the budget reference: margin quantiles at these levels (fine at the top, where budgets are)
BUDGET_LEVELS = np.unique(np.concatenate([np.linspace(0.0, 0.9, 91), 1 - np.geomspace(0.1, 1e-4, 400), [1.0]]))


class Calibrator(BaseEstimator):
    """Margin -> probability. Isotonic where there are enough positives to support it, else
    Platt's sigmoid (a strictly monotone map: no ties in the ranking)."""

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
        margin = np.asarray(margin, dtype=float)
        if self.method_ == "isotonic":
            # the fitted step function, interpolated as scikit-learn does (without its per-call
            # input checks, which cost more than the interpolation for one declaration)
            iso = self.model_
            if len(iso.y_thresholds_) == 1:
                return np.full(len(margin), float(iso.y_thresholds_[0]))
            return np.interp(np.clip(margin, iso.X_min_, iso.X_max_), iso.X_thresholds_, iso.y_thresholds_)
        a, b = self.model_
        return expit(a * margin + b)


def _platt(margin: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt's sigmoid with his smoothed targets ((n+ + 1)/(n+ + 2) and 1/(n- + 2)), which keeps
    a handful of positives from producing near-0 or near-1 certainties."""
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
    """Rows with a known outcome: inspected, with ``contraband`` recorded (pending: not labelled)."""
    if "contraband" not in frame:
        return np.zeros(len(frame), dtype=bool)
    inspected = pd.to_numeric(frame["inspected"], errors="coerce").fillna(0).to_numpy() == 1 if "inspected" in frame \
        else np.ones(len(frame), dtype=bool)
    return inspected & frame["contraband"].notna().to_numpy()


def labels(frame: pd.DataFrame) -> np.ndarray:
    return pd.to_numeric(frame["contraband"], errors="coerce").fillna(0).to_numpy().astype(int)


def seizure_in_validation(train: pd.DataFrame, valid: pd.DataFrame):
    """``(train, valid, first day)`` with the validation window moved back in time to start on
    the day of the last seizure of the training window, when the validation window holds none
    and the training window holds seizures on at least two days (so that both keep one); None
    otherwise. Every validation row still comes after every training row: early stopping and
    calibration stay out of time, on the most recent period that holds a seizure."""
    if (labelled(valid) & (labels(valid) == 1)).any():
        return None
    lab = labelled(train)
    seized = lab & (labels(train) == 1)
    dates = pd.to_datetime(train["declaration_date"]).dt.normalize()
    seizure_days = np.unique(dates[seized].to_numpy())
    if len(seizure_days) < 2:
        return None
    first = pd.Timestamp(seizure_days[-1])
    before = (dates < first).to_numpy()
    return train[before], pd.concat([train[~before], valid]), first


def daily_volume(frame: pd.DataFrame) -> float:
    """Median declarations per day (days with at least one declaration)."""
    counts = pd.to_datetime(frame["declaration_date"]).value_counts()
    return float(counts.median()) if len(counts) else 0.0


class LocalTrainer:
    """The detector's features and classifier fits in this process (the pandas engine)."""

    @staticmethod
    def features(pipeline, frame: pd.DataFrame, rows: np.ndarray, history) -> pd.DataFrame:
        """Feature rows of the labelled declarations ``frame[rows]``, point in time."""
        return pipeline.transform(frame, history)[rows]

    @staticmethod
    def fit_stopping_early(detector, params: dict, x_t, y_t, x_v, y_v, categorical) -> tuple[lgb.LGBMClassifier, int]:
        """A classifier stopped early on the validation rows' average precision, and its trees."""
        model = detector._classifier(params)
        rounds = detector.early_stopping_rounds
        callbacks = [lgb.early_stopping(rounds, first_metric_only=True, verbose=False)] if rounds else []
        model.fit(x_t, y_t, eval_X=(x_v,), eval_y=(y_v,), categorical_feature=categorical, callbacks=callbacks)
        return model, int(model.best_iteration_ or model.n_estimators)

    @staticmethod
    def fit(detector, params: dict, x, y, categorical) -> lgb.LGBMClassifier:
        return detector._classifier(params).fit(x, y, categorical_feature=categorical)


class Detector(ClassifierMixin, BaseEstimator):
    def __init__(self, families: tuple[str, ...] | None = None, lgbm_params: dict | None = None,
                 early_stopping_rounds: int = 50, refit: bool = True, calibration: str = "auto",
                 calibration_folds: int = 3, calibrate_on: str = "auto", monotone: bool = True,
                 evidence: bool = True, n_jobs: int = 2, random_state: int = 0, log=None):
        self.families = families
        self.monotone = monotone
        self.evidence = evidence
        self.lgbm_params = lgbm_params
        self.early_stopping_rounds = early_stopping_rounds
        self.refit = refit
        self.calibration = calibration
        self.calibration_folds = calibration_folds
        self.calibrate_on = calibrate_on
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.log = log

    def _say(self, message: str) -> None:
        if self.log:
            self.log(message)

    def _pipeline(self) -> DeclarationFeatures:
        kwargs = {"families": self.families} if self.families else {}
        return DeclarationFeatures(n_jobs=self.n_jobs, **kwargs)

    def _classifier(self, params: dict) -> lgb.LGBMClassifier:
        return lgb.LGBMClassifier(random_state=self.random_state, n_jobs=self.n_jobs, **params)

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame, history, trainer=None):
        """``trainer``: where features of the labelled rows are computed and classifiers fitted
        (:class:`LocalTrainer`, this process, by default; the Dask engine has its own)."""
        if "contraband" not in train or "contraband" not in valid:
            raise ValueError("training needs inspection outcomes: a 'contraband' column (and 'inspected')")
        trainer = trainer or LocalTrainer()
        moved = seizure_in_validation(train, valid)
        if moved is not None:  # no seizure to stop early or calibrate on: the window moves back to one
            train, valid, first = moved
            self._say(f"the validation window held no seizure: it starts on {first:%Y-%m-%d} instead, the "
                      "day of the last seizure before it")
        lab_t, lab_v = labelled(train), labelled(valid)
        y_t, y_v = labels(train)[lab_t], labels(valid)[lab_v]
        for name, y in (("training", y_t), ("validation", y_v)):
            if y.sum() == 0 or y.sum() == len(y):
                raise ValueError(f"the {name} window needs inspected rows with and without contraband "
                                 f"({len(y)} labelled, {int(y.sum())} positive)")
        positives = int(y_t.sum() + y_v.sum())
        self.evidence_weight_ = evidence_weight(positives) if self.evidence else 0.0
        t0 = time.perf_counter()
        self.features_ = self._pipeline().fit(train)
        x_t, ref_t = self._labelled_and_reference(trainer, train, lab_t, history)
        x_v = trainer.features(self.features_, valid, lab_v, history)
        self._say(f"features: {x_t.shape[1]} from families {', '.join(self.features_.active_families_)} "
                  f"({time.perf_counter() - t0:.1f} s)")
        params = {**DEFAULT_LGBM, **regularisation(positives), **(self.lgbm_params or {}), "metric": EVAL_METRIC}
        params.setdefault("scale_pos_weight", float(np.sqrt((len(y_t) - y_t.sum()) / y_t.sum())))
        params = self._constrained(params, self.features_)
        categorical = self.features_.categorical_features_
        t1 = time.perf_counter()
        model, params, self.best_iteration_ = self._stop_early(trainer, params, positives, x_t, y_t, x_v, y_v,
                                                                categorical)
        self._say(f"classifier: {self.best_iteration_} trees of {params['num_leaves']} leaves on {len(y_t):,} "
                  f"inspected rows ({int(y_t.sum()):,} with contraband) ({time.perf_counter() - t1:.1f} s)")
        final_params = {**params, "n_estimators": self.best_iteration_}
        if self.refit:
            # the most recent weeks matter most under drift: refit features and classifier on
            # training + validation windows with the number of trees early stopping chose
            t2 = time.perf_counter()
            on_validation = self._calibrate_on_validation(y_v)
            if on_validation:  # the early-stopped model's margins: the same configuration, unseen rows
                evidence, blend = self._evidence(model, x_t, y_t, ref_t)
                values = x_v.to_numpy(dtype="float64")
                early = model.booster_.predict(values, raw_score=True, num_iteration=self.best_iteration_)
                margins, y_cal = (early if blend is None else blend.margin(early, evidence.margin(values))), y_v
                where = f"the early-stopped model's margins on the validation window's {len(y_v):,} rows"
            both = pd.concat([train, valid])
            self.features_ = self._pipeline().fit(both)
            final_params = self._constrained(final_params, self.features_)
            lab_b = labelled(both)
            (x_b, ref_b), y_b = self._labelled_and_reference(trainer, both, lab_b, history), labels(both)[lab_b]
            self.model_ = trainer.fit(self, final_params, x_b, y_b, categorical)
            self.evidence_, self.blend_ = self._evidence(self.model_, x_b, y_b, ref_b)
            self.novelty_ = self._novelty(both, ref_b)
            if not on_validation:
                margins, y_cal = self._out_of_fold(trainer, final_params, x_b, y_b, categorical, ref_b), y_b
                where = f"out-of-fold margins of the final configuration on {len(y_b):,} rows"
            self._say(f"refit on training + validation windows: {len(y_b):,} inspected rows "
                      f"({time.perf_counter() - t2:.1f} s)")
        else:
            self.model_ = model
            self.evidence_, self.blend_ = self._evidence(model, x_t, y_t, ref_t)
            self.novelty_ = self._novelty(train, ref_t)
            margins, y_cal = self.margin(x_v), y_v
            where = f"the validation window's {len(y_v):,} rows"
        if self.blend_ is not None:
            self._say(f"evidence model: weight {self.blend_.weight:.2f} beside the booster ({positives} seizures), "
                      f"{int((self.evidence_.coef_ > 0).sum())} of {len(self.evidence_.features_)} directed "
                      "features used")
        self.calibrator_ = Calibrator(self.calibration).fit(margins, y_cal)
        self._say(f"calibration: {self.calibrator_.method_} on {where} ({int(y_cal.sum())} positive)")
        self.attribution_ = PathAttribution.from_booster(self.model_.booster_, self.best_iteration_)
        self.classes_ = np.array([0, 1])
        self.daily_volume_ = daily_volume(pd.concat([train, valid]))
        self.budget_quantiles_ = None
        self.train_summary_ = {"train_rows": len(train), "train_labelled": int(lab_t.sum()),
                               "train_positives": int(y_t.sum()), "valid_rows": len(valid),
                               "valid_labelled": int(lab_v.sum()), "valid_positives": int(y_v.sum())}
        return self

    def _constrained(self, params: dict, pipeline: DeclarationFeatures) -> dict:
        """``params`` with the pipeline's monotone constraints (unless ``monotone`` is off or the
        caller's ``lgbm_params`` bring their own)."""
        params = dict(params)
        if not self.monotone or "monotone_constraints" in (self.lgbm_params or {}):
            return params
        params.pop("monotone_constraints", None)  # the constraints of an earlier pipeline
        constraints = pipeline.monotone_constraints()
        if any(constraints):
            params["monotone_constraints"] = constraints
            # "intermediate": a third less time per tree than "advanced" on KCS, no worse there
            # (docs/benchmarks.md, "Training cost")
            params.setdefault("monotone_constraints_method", "intermediate")
        return params

    def _stop_early(self, trainer, params: dict, positives: int, x_t, y_t, x_v, y_v, categorical):
        """The classifier stopped early on the validation window, its settings and trees. With
        many seizures the tree size is chosen there too, among ``LEAVES``, by the validation
        window's average precision (unless the caller set it)."""
        if positives < FEW_LABELS or "num_leaves" in (self.lgbm_params or {}):
            model, trees = trainer.fit_stopping_early(self, params, x_t, y_t, x_v, y_v, categorical)
            return model, params, trees
        best = None
        for leaves in LEAVES:
            settings = {**params, "num_leaves": leaves}
            model, trees = trainer.fit_stopping_early(self, settings, x_t, y_t, x_v, y_v, categorical)
            score = average_precision_score(y_v, model.booster_.predict(x_v.to_numpy(dtype="float64"),
                                                                         raw_score=True, num_iteration=trees))
            self._say(f"  {leaves} leaves: {trees} trees, validation average precision {score:.4f}")
            if best is not None and score <= best[0]:
                break  # smaller trees did not help: the next, smaller still, is not tried
            best = (score, model, settings, trees)
        return best[1:]

    def _calibrate_on_validation(self, y_v: np.ndarray) -> bool:
        """Whether the calibration is fitted on the early-stopped model's validation margins
        (``calibrate_on``: ``"validation"``, ``"folds"`` or ``"auto"``, by the seizures there)."""
        if self.calibrate_on not in ("auto", "validation", "folds"):
            raise ValueError(f"calibrate_on must be auto, validation or folds, not {self.calibrate_on!r}")
        if self.calibrate_on == "auto":
            return int(y_v.sum()) >= VALIDATION_CALIBRATION_POSITIVES
        return self.calibrate_on == "validation"

    def _labelled_and_reference(self, trainer, frame: pd.DataFrame, lab: np.ndarray, history):
        """Feature rows of the labelled declarations of ``frame`` and, when the evidence model
        is used, of a random sample of all its declarations (its reference), in one pass."""
        if not self.evidence_weight_:
            return trainer.features(self.features_, frame, lab, history), None
        ref = reference_rows(len(frame), self.random_state)
        need = lab | ref
        x = trainer.features(self.features_, frame, need, history)
        return x[lab[need]], x[ref[need]]

    def _novelty(self, frame: pd.DataFrame, reference: pd.DataFrame | None) -> dict:
        """How common a first-time trader is, from the reference sample of all the window's
        declarations: per entity, the share overall and per HS chapter (the comparison a novelty
        reason gives). Empty without a reference sample."""
        if reference is None:
            return {}
        chapters = frame["hs_code"].astype(str).str[:2].to_numpy(dtype=object)[
            reference_rows(len(frame), self.random_state)]
        return novelty_rates(reference, chapters)

    def _evidence(self, model, x: pd.DataFrame, y: np.ndarray, reference: pd.DataFrame | None):
        """The evidence model beside ``model`` and their blend (both None when it has no weight)."""
        if not self.evidence_weight_:
            return None, None
        evidence = EvidenceModel().fit(x, y, self.features_.monotone_, reference)
        values = reference.to_numpy(dtype="float64")
        booster = model.booster_.predict(values, raw_score=True)
        return evidence, Blend.fit(self.evidence_weight_, booster, evidence.margin(values))

    def _out_of_fold(self, trainer, params: dict, x: pd.DataFrame, y: np.ndarray, categorical,
                     reference: pd.DataFrame | None = None) -> np.ndarray:
        """Margins of each row from a model of the same configuration that did not see it."""
        folds = int(min(self.calibration_folds, y.sum(), len(y) - y.sum()))
        if folds < 2:
            raise ValueError("calibration needs at least two labelled rows of each class")
        out = np.zeros(len(y))
        split = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
        for fit_rows, held in split.split(np.zeros(len(y)), y):
            fold = trainer.fit(self, params, x.iloc[fit_rows], y[fit_rows], categorical)
            values = x.iloc[held].to_numpy(dtype="float64")
            out[held] = fold.booster_.predict(values, raw_score=True)
            evidence, blend = self._evidence(fold, x.iloc[fit_rows], y[fit_rows], reference)
            if blend is not None:
                out[held] = blend.margin(out[held], evidence.margin(values))
        return out

    # --- scoring ---------------------------------------------------------------------------
    def features(self, X: pd.DataFrame, history) -> pd.DataFrame:
        check_is_fitted(self, "model_")
        return self.features_.transform(X, history)

    def margin(self, features) -> np.ndarray:
        """The raw model score of feature rows, what rankings use: the booster's log-odds, or
        their blend with the evidence model's (on the blend's scale)."""
        values = features.to_numpy(dtype="float64") if isinstance(features, pd.DataFrame) else features
        threads = 1 if len(values) < _ONE_THREAD_ROWS else self.n_jobs
        booster = self._raw_margin(values, threads)
        blend = getattr(self, "blend_", None)
        return booster if blend is None else blend.margin(booster, self.evidence_.margin(values))

    def compile_trees(self, folder=None, wait: bool = True) -> str:
        """From now on evaluate the booster through compiled code (:mod:`~contraband.models.compiled`),
        here and wherever this detector is unpickled (a Dask worker compiles, or loads the cache,
        on first use); LightGBM's own trees when the compiler is unavailable. Without ``wait`` a
        library not in the cache yet is compiled in another process while LightGBM scores, and
        picked up when it is ready. Returns what was done."""
        from contraband.models.compiled import Compiling, compile_booster

        check_is_fitted(self, "model_")
        found, self.trees_ = compile_booster(self.model_.booster_, folder, wait=wait)
        self._trees_folder, self._trees_wanted = folder, True
        self._compiled = None if isinstance(found, Compiling) else found
        if isinstance(found, Compiling):
            threading.Thread(target=self._pick_up, args=(found,), daemon=True, name="contraband-trees").start()
        return self.trees_

    def _pick_up(self, job) -> None:
        """Wait for another process's compile, then score with its library (one assignment: a
        request in flight keeps the trees it started with)."""
        found, said = job.wait(poll=0.5)
        if found is not None:
            self._compiled = found
        self.trees_ = said
        logging.getLogger("contraband.models").warning("scoring with %s from now on", said)

    def _raw_margin(self, values: np.ndarray, threads: int) -> np.ndarray:
        if self._compile_pending():
            with _COMPILING:  # unpickled where it was asked for: compile (or load) once per process
                if self._compile_pending():  # never waited for here: LightGBM scores meanwhile
                    self.compile_trees(self._trees_folder, wait=False)
        compiled = getattr(self, "_compiled", None)
        if compiled is not None:
            return compiled.raw(values, threads)
        return self.model_.booster_.predict(values, raw_score=True, num_threads=threads)

    def _compile_pending(self) -> bool:
        """Compiled trees were asked for, and this process has neither them nor a failed try."""
        return (getattr(self, "_trees_wanted", False) and getattr(self, "_compiled", None) is None
                and not getattr(self, "trees_", "").startswith("LightGBM"))

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: object.__getstate__ is the live __dict__
        state.pop("_compiled", None)  # native code is not pickled; compiled again where it is used
        if state.get("trees_", "").startswith(("compiled", PENDING)):
            state.pop("trees_")
        return state

    def calibrate(self, margin: np.ndarray) -> np.ndarray:
        return self.calibrator_.predict(margin)

    def predict_proba(self, X: pd.DataFrame, history) -> np.ndarray:
        p = self.calibrate(self.margin(self.features(X, history)))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame, history) -> np.ndarray:
        return (self.predict_proba(X, history)[:, 1] >= 0.5).astype(int)

    def contributions(self, features, exact: bool = False) -> np.ndarray:
        """Per-feature contributions to the margin of the given feature rows. The booster's part
        by path attribution (Saabas: the contributions add up to ``margin - expected_value_``), or
        with ``exact`` by TreeSHAP (four times slower, against a base value of its own); the
        evidence model's part is exact."""
        values = features.to_numpy(dtype="float64") if isinstance(features, pd.DataFrame) else features
        threads = 1 if len(values) < _ONE_THREAD_ROWS else self.n_jobs
        booster = self.model_.booster_
        if exact:
            out = booster.predict(values, pred_contrib=True, num_iteration=self.best_iteration_,
                                  num_threads=threads)[:, :-1]
        else:
            leaves = booster.predict(values, pred_leaf=True, num_iteration=self.best_iteration_, num_threads=threads)
            out = self.attribution_.contributions(np.asarray(leaves).reshape(len(values), -1))
        blend = getattr(self, "blend_", None)
        if blend is None:
            return out
        out = out * blend.booster_factor
        out[:, self.evidence_.index_] += blend.evidence_factor * self.evidence_.contributions(values)
        return out

    @property
    def expected_value_(self) -> float:
        """The margin of a row with no contribution (see :meth:`contributions`)."""
        blend = getattr(self, "blend_", None)
        if blend is None:
            return self.attribution_.expected_value
        return (blend.booster_factor * (self.attribution_.expected_value - blend.booster_mean)
                + blend.evidence_factor * (self.evidence_.intercept_ - blend.evidence_mean))

    def reasons(self, X, features, max_reasons: int = MAX_REASONS, rows=None) -> list[list[str]]:
        """Reasons for the declarations ``X`` (a frame or :class:`Columns`), from their feature rows;
        with ``rows``, for those row positions only."""
        values, named, records, context = self._reason_inputs(X, features, rows)
        return reasons(self.contributions(values), self.attribution_.feature_names, self.features_.feature_family_,
                       named, records, max_reasons, context)

    def evidence_holding(self, X, features, rows=None) -> dict[str, np.ndarray]:
        """For every reason template, the declarations of ``X`` (or its ``rows``) whose evidence
        holds, whatever their risk: how specific each reason is (the share of unflagged
        declarations it would also be true of)."""
        values, named, records, context = self._reason_inputs(X, features, rows)
        return evidence_holds(named, records, len(values), context)

    def _reason_inputs(self, X, features, rows):
        """What reasons are read from: the feature rows (at ``rows``), the same by feature name,
        the declaration fields they quote, and the comparisons' context."""
        values = features.to_numpy(dtype="float64") if isinstance(features, pd.DataFrame) else features
        columns = as_columns(X)
        if rows is None:
            rows = np.arange(len(values))
        values = values[rows]
        records = {c: columns.cells(c)[rows] for c in record_columns(columns)}
        entities = self.features_.families_.get("entities")
        context = {"seizure_rate": entities.prior_rate_} if entities is not None and entities.active_ else {}
        context["novelty"] = getattr(self, "novelty_", {})  # (models trained before it have none)
        return values, dict(zip(self.features_.feature_names_out_, values.T)), records, context

    # --- the budget reference --------------------------------------------------------------
    def set_budget_reference(self, margins: np.ndarray) -> None:
        """Remember the distribution of margins over recent declarations (quantiles only)."""
        margins = np.asarray(margins, dtype="float64")
        self.budget_quantiles_ = np.quantile(margins, BUDGET_LEVELS) if len(margins) else None
        self.budget_reference_rows_ = int(len(margins))

    def budget_threshold(self, budget: float) -> float:
        """The margin at the budget's quantile over recent declarations: a declaration at or
        above it is in the top ``budget`` share."""
        if getattr(self, "budget_quantiles_", None) is None:
            raise ValueError("this model has no budget reference; score a whole manifest or refresh it "
                             "from the history")
        return float(np.interp(1.0 - budget, BUDGET_LEVELS, self.budget_quantiles_))

    @property
    def active_families_(self) -> list[str]:
        return self.features_.active_families_
